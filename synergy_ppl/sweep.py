"""Sweeps: run ``fit`` or ``simulate`` over a search space, on Ray Tune or one after another.

A sweep config (YAML) names the base command, its fixed options and a search space over
others; option names are the command's long options (``head_layers`` or ``head-layers``)::

    command: fit              # or simulate
    metric: test.pearson      # fit: dotted path in metrics.json; simulate: in results.json
    mode: max                 # max or min
    num_samples: 4            # draws of the sampled options (choice / uniform / loguniform)
    seed: 0                   # seed of those draws: the trial list is reproducible
    report: [test.rmse]       # optional: more metrics to put in the table
    fixed:                    # options every trial shares
      data: demo
      epochs: 3
    search:                   # options that vary
      prior: {grid: [normal, laplace]}           # every value (cartesian product)
      lr: {loguniform: [1.0e-4, 1.0e-2]}         # sampled num_samples times
      head_layers: {choice: [[64], [128, 32]]}
      prior_scale: {uniform: [0.5, 2.0]}

Trials are the grid's cartesian product times ``num_samples`` draws of the sampled options
(one draw if there are none). Each trial has a stable id (a hash of the command and all its
options) and a folder ``<out>/trials/<id>/`` holding ``trial.json`` (status, metrics, error,
seconds), ``trial.log`` (its output and, if it failed, the traceback) and ``run/``, the
ordinary run directory of ``fit`` or ``simulate``. The sweep writes ``summary.csv``,
``summary.json`` (one row per trial and the best trial) and ``sweep.png`` into ``<out>``.

Resuming: trials whose ``trial.json`` says ``finished`` are skipped; failed and unfinished
trials run again (a ``simulate`` trial continues from its last finished round).
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import math
import os
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .data import DataError

COMMANDS = ("fit", "simulate")
SAMPLERS = ("choice", "uniform", "loguniform")
"""Search kinds drawn ``num_samples`` times; ``grid`` takes every value."""
CONFIG_KEYS = {"command", "metric", "mode", "num_samples", "seed", "report", "fixed", "search"}
RESERVED = {"out", "overwrite", "quiet", "func", "command"}
"""Options the sweep sets itself (each trial writes into its own folder, quietly)."""
FINISHED, FAILED, PENDING = "finished", "failed", "pending"


# ------------------------------------------------------------------------- the config


@dataclass
class SweepConfig:
    """A validated sweep config: the base command, fixed options and the search space."""

    command: str
    metric: str
    mode: str = "max"
    fixed: dict = field(default_factory=dict)
    search: dict = field(default_factory=dict)
    num_samples: int = 1
    seed: int = 0
    report: tuple[str, ...] = ()
    source: str = "sweep config"

    @classmethod
    def from_dict(cls, values: dict, source: str = "sweep config") -> SweepConfig:
        """Validate ``values`` (errors name ``source`` and the key at fault)."""
        if not isinstance(values, dict):
            raise DataError(
                f"{source}: a sweep config is a mapping with keys {sorted(CONFIG_KEYS)}."
            )
        unknown = sorted(set(values) - CONFIG_KEYS)
        if unknown:
            raise DataError(f"{source}: unknown key(s) {unknown}; known: {sorted(CONFIG_KEYS)}.")
        for key in ("command", "metric"):
            if key not in values:
                raise DataError(f"{source}: '{key}:' is missing.")
        command = values["command"]
        if command not in COMMANDS:
            raise DataError(f"{source}: command: '{command}' is not one of {list(COMMANDS)}.")
        mode = values.get("mode", "max")
        if mode not in ("max", "min"):
            raise DataError(f"{source}: mode: '{mode}' must be max or min.")
        num_samples = values.get("num_samples", 1)
        if not isinstance(num_samples, int) or num_samples < 1:
            raise DataError(f"{source}: num_samples: must be an integer >= 1, not {num_samples!r}.")
        report = values.get("report") or []
        if isinstance(report, str):
            report = [report]
        fixed = _normalise_keys(values.get("fixed") or {}, "fixed", source)
        search = _normalise_keys(values.get("search") or {}, "search", source)
        both = sorted(set(fixed) & set(search))
        if both:
            raise DataError(f"{source}: option(s) {both} are both in 'fixed:' and 'search:'.")
        actions = option_actions(command)
        for section, names in (("fixed", fixed), ("search", search)):
            for name in names:
                if name in RESERVED or name not in actions:
                    known = sorted(set(actions) - RESERVED)
                    raise DataError(
                        f"{source}: {section}.{name}: not an option of '{command}' "
                        f"(the sweep sets out/overwrite/quiet itself); options: {known}."
                    )
        for name, spec in search.items():
            _check_search_spec(name, spec, source)
        return cls(
            command=command,
            metric=str(values["metric"]),
            mode=mode,
            fixed=fixed,
            search=search,
            num_samples=num_samples,
            seed=int(values.get("seed", 0)),
            report=tuple(str(r) for r in report),
            source=source,
        )

    @property
    def metrics(self) -> tuple[str, ...]:
        """The metric the best trial is chosen by, then the reported ones."""
        return (self.metric, *[r for r in self.report if r != self.metric])


def load_sweep_config(path: str | Path) -> SweepConfig:
    """Read and validate a sweep config file (YAML or JSON)."""
    import yaml

    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: sweep config not found.")
    try:
        values = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise DataError(f"{path}: not valid YAML ({err}).") from err
    return SweepConfig.from_dict(values, str(path))


def _normalise_keys(section: dict, name: str, source: str) -> dict:
    if not isinstance(section, dict):
        raise DataError(f"{source}: '{name}:' must be a mapping of option: value.")
    return {str(k).replace("-", "_"): v for k, v in section.items()}


def _check_search_spec(name: str, spec, source: str) -> None:
    where = f"{source}: search.{name}"
    if not isinstance(spec, dict) or len(spec) != 1:
        raise DataError(
            f"{where}: give one of {{grid: [..]}}, {{choice: [..]}}, {{uniform: [low, high]}} "
            f"or {{loguniform: [low, high]}}, not {spec!r}."
        )
    kind, arg = next(iter(spec.items()))
    if kind not in ("grid", *SAMPLERS):
        raise DataError(f"{where}: unknown kind '{kind}'; use grid, {', '.join(SAMPLERS)}.")
    if not isinstance(arg, list) or not arg:
        raise DataError(f"{where}.{kind}: needs a non-empty list, not {arg!r}.")
    if kind in ("uniform", "loguniform"):
        if len(arg) != 2 or not all(isinstance(_number(v), float) for v in arg):
            raise DataError(f"{where}.{kind}: needs [low, high] numbers, not {arg!r}.")
        low, high = (_number(v) for v in arg)
        if not low < high or (kind == "loguniform" and low <= 0):
            raise DataError(f"{where}.{kind}: needs 0 < low < high (log) or low < high.")


def _number(value) -> float | None:
    """``value`` as a float (YAML reads ``1e-3`` as a string), or None."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def option_actions(command: str) -> dict:
    """``option name -> argparse action`` of a command of the ``synergy-ppl`` CLI."""
    import argparse

    from .cli import build_parser

    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    parser = sub.choices[command]
    return {
        s[2:].replace("-", "_"): action
        for action in parser._actions
        for s in action.option_strings
        if s.startswith("--")
    }


# ------------------------------------------------------------------------------ trials


def expand(config: SweepConfig) -> list[dict]:
    """The sweep's trials, in a fixed order: ``{"id", "options" (swept), "all" (every)}``.

    The grid is a cartesian product (keys sorted); sampled options are drawn
    ``num_samples`` times from ``numpy.random.default_rng(seed)`` (4 significant digits),
    so the same config always gives the same trials. Duplicates are dropped.
    """
    grid = {k: v["grid"] for k, v in sorted(config.search.items()) if "grid" in v}
    sampled = {k: v for k, v in sorted(config.search.items()) if "grid" not in v}
    rng = np.random.default_rng(config.seed)
    draws = [
        {name: _draw(spec, rng) for name, spec in sampled.items()}
        for _ in range(config.num_samples if sampled else 1)
    ]
    trials, seen = [], set()
    for draw in draws:
        for combo in itertools.product(*grid.values()):
            options = {**dict(zip(grid, combo, strict=True)), **draw}
            everything = {**config.fixed, **options}
            trial_id = trial_hash(config.command, everything)
            if trial_id not in seen:
                seen.add(trial_id)
                trials.append({"id": trial_id, "options": options, "all": everything})
    return trials


def _draw(spec: dict, rng: np.random.Generator):
    kind, arg = next(iter(spec.items()))
    if kind == "choice":
        return arg[int(rng.integers(len(arg)))]
    low, high = float(arg[0]), float(arg[1])
    value = (
        rng.uniform(low, high)
        if kind == "uniform"
        else math.exp(rng.uniform(math.log(low), math.log(high)))
    )
    return float(f"{value:.4g}")


def trial_hash(command: str, options: dict) -> str:
    """A stable 10-character id of a command and its options."""
    text = json.dumps({"command": command, "options": options}, sort_keys=True, default=str)
    return hashlib.sha1(text.encode()).hexdigest()[:10]


def trial_specs(config: SweepConfig, out: Path, cpus_per_trial: int = 1) -> list[dict]:
    """What :func:`run_trial` needs for each trial (plain JSON, so Ray can ship it)."""
    out = Path(out).resolve()
    return [
        {
            **trial,
            "command": config.command,
            "metrics": list(config.metrics),
            "dir": str(out / "trials" / trial["id"]),
            "cwd": os.getcwd(),
            "threads": cpus_per_trial,
        }
        for trial in expand(config)
    ]


def trial_namespace(command: str, options: dict, run_dir: Path):
    """The parsed CLI options of one trial: the command's defaults, then ``options``."""
    from .cli import build_parser

    args = build_parser().parse_args([command])
    actions = option_actions(command)
    for name, value in options.items():
        action = actions[name]
        setattr(args, action.dest, _coerce(name, action, value))
    args.out, args.overwrite, args.quiet = str(run_dir), False, True
    return args


def _coerce(name: str, action, value):
    """``value`` as the CLI would parse it; raise naming the option if it is invalid."""
    if action.nargs == 0:  # store_true
        return bool(value)
    if action.type is None and isinstance(value, list | tuple):
        value = ",".join(str(v) for v in value)  # e.g. acquisition: [ucb, random]
    elif action.type is None and isinstance(value, int | float):
        value = str(value)
    try:
        if action.type is not None and not isinstance(value, dict):
            if isinstance(value, list | tuple):
                value = ",".join(str(v) for v in value)
            value = action.type(value) if isinstance(value, str) else action.type(str(value))
    except (TypeError, ValueError) as err:
        raise DataError(f"option {name}: cannot read {value!r} ({err}).") from err
    if action.choices is not None and value not in action.choices:
        raise DataError(f"option {name}: {value!r} is not one of {list(action.choices)}.")
    return value


def lookup(payload: dict, path: str, fallback: dict | None = None):
    """The value at dotted ``path`` in ``payload`` (or in ``fallback``), else None."""
    for source in (payload, fallback):
        value = source
        for part in path.split("."):
            if not isinstance(value, dict) or part not in value:
                value = None
                break
            value = value[part]
        if value is not None:
            return value
    return None


def _execute(spec: dict, run_dir: Path) -> dict:
    """Run one trial's command through the library; returns its metrics by name."""
    from .cli import _resolve_configs

    args = trial_namespace(spec["command"], spec["all"], run_dir)
    data_config, model_config = _resolve_configs(args)
    if spec["command"] == "fit":
        from .runs import fit_run

        _, metrics = fit_run(
            data_config,
            model_config,
            run_dir,
            overwrite=True,  # an interrupted trial starts again in its own folder
            progress=False,
            prior_from=args.prior_from,
            transfer=args.transfer,
            widen=args.widen,
        )
        payload, fallback = json.loads(json.dumps(metrics, default=float)), None
    else:
        from .active import simulate
        from .cli import simulation_config

        summary = simulate(
            data_config, simulation_config(args), model_config, run_dir, progress=False
        )
        payload = summary
        # one strategy per trial: 'recall_mean' means that strategy's recall_mean
        fallback = next(iter(summary.values())) if len(summary) == 1 else None
    return {name: lookup(payload, name, fallback) for name in spec["metrics"]}


def run_trial(spec: dict) -> dict:
    """Run one trial in this process and write ``<dir>/trial.json``; never raises.

    Returns the trial's record: ``id, status (finished / failed), metrics, error, seconds,
    run_dir, log``.
    """
    import torch

    trial_dir = Path(spec["dir"])
    trial_dir.mkdir(parents=True, exist_ok=True)
    run_dir, log = trial_dir / "run", trial_dir / "trial.log"
    record = {"id": spec["id"], "options": spec["options"], "run_dir": str(run_dir)}
    record.update(log=str(log), metrics={}, error=None, host=os.uname().nodename)
    threads = torch.get_num_threads()
    torch.set_num_threads(max(1, int(spec.get("threads", 1))))
    start = time.perf_counter()
    with log.open("w") as stream, contextlib.redirect_stdout(stream), _chdir(spec.get("cwd")):
        with contextlib.redirect_stderr(stream):
            print(f"trial {spec['id']}: {spec['command']} {json.dumps(spec['all'])}", flush=True)
            try:
                record["metrics"] = _execute(spec, run_dir)
                record["status"] = FINISHED
            except Exception as err:  # a failed trial is recorded, the sweep goes on
                traceback.print_exc()
                record["status"] = FAILED
                record["error"] = f"{type(err).__name__}: {err}"
            finally:
                torch.set_num_threads(threads)
    record["seconds"] = round(time.perf_counter() - start, 3)
    _write_json(trial_dir / "trial.json", record)
    return record


@contextlib.contextmanager
def _chdir(path: str | None):
    """Run in the sweep's working directory (Ray starts trials elsewhere)."""
    before = os.getcwd()
    if path and Path(path).is_dir():
        os.chdir(path)
    try:
        yield
    finally:
        os.chdir(before)


def read_record(spec: dict) -> dict | None:
    """The saved record of a trial, or None if it never finished writing one."""
    path = Path(spec["dir"]) / "trial.json"
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def _write_json(path: Path, payload) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(payload, indent=2, default=str) + "\n")
    tmp.replace(path)


# ----------------------------------------------------------------------------- engines


def run_sequential(specs: list[dict]) -> list[dict]:
    """Run trials one after another in this process."""
    records = []
    for number, spec in enumerate(specs, 1):
        record = run_trial(spec)
        print(
            f"  [{number}/{len(specs)}] {spec['id']} {record['status']} ({record['seconds']:.1f} s)"
        )
        records.append(record)
    return records


def _ray_trainable(config: dict) -> None:
    """Ray Tune function trainable: run the trial, report its record."""
    from ray import tune

    record = run_trial(config["trial"])
    metric = record["metrics"].get(config["trial"]["metrics"][0])
    tune.report(
        {
            "trial_id": record["id"],
            "status": record["status"],
            "metric": float(metric) if isinstance(metric, int | float) else math.nan,
            "record": json.dumps(record, default=str),
        }
    )


def run_ray(
    specs: list[dict],
    out: Path,
    address: str | None = None,
    cpus_per_trial: float = 1,
    gpus_per_trial: float = 0,
    max_concurrent: int | None = None,
    num_cpus: int | None = None,
) -> list[dict]:
    """Run trials on Ray Tune: a local Ray (``num_cpus``, default all cores) unless
    ``address`` names a cluster ("auto", "ray://host:port"). Ray's own results go to
    ``<out>/ray``."""
    import ray
    from ray import tune

    started = not ray.is_initialized()
    if started:
        if address:
            ray.init(address=address, log_to_driver=False)
        else:
            ray.init(num_cpus=num_cpus, include_dashboard=False, log_to_driver=False)
    try:
        tuner = tune.Tuner(
            tune.with_resources(_ray_trainable, {"cpu": cpus_per_trial, "gpu": gpus_per_trial}),
            param_space={"trial": tune.grid_search(specs)},
            # a worker process runs trial after trial, as the sequential engine does, instead
            # of importing torch, Pyro and RDKit afresh for every trial
            tune_config=tune.TuneConfig(max_concurrent_trials=max_concurrent, reuse_actors=True),
            run_config=tune.RunConfig(
                name=f"tune-{time.strftime('%Y%m%d-%H%M%S')}",
                storage_path=str((Path(out) / "ray").resolve()),
                failure_config=tune.FailureConfig(max_failures=0),
                verbose=0,
            ),
        )
        grid = tuner.fit()
    finally:
        if started:
            ray.shutdown()
    return [_ray_record(result, specs) for result in grid]


def _ray_record(result, specs: list[dict]) -> dict:
    """A trial's record from Ray's result; written locally when the trial ran elsewhere."""
    spec = result.config["trial"]
    if result.metrics and "record" in result.metrics:
        record = json.loads(result.metrics["record"])
    else:  # the worker died before reporting (e.g. out of memory)
        record = {
            "id": spec["id"],
            "options": spec["options"],
            "status": FAILED,
            "metrics": {},
            "error": f"Ray: {result.error}",
            "run_dir": str(Path(spec["dir"]) / "run"),
            "log": str(result.path),
            "seconds": None,
        }
    if read_record(spec) is None:
        Path(spec["dir"]).mkdir(parents=True, exist_ok=True)
        _write_json(Path(spec["dir"]) / "trial.json", record)
    return record


def ray_available() -> bool:
    """Whether Ray Tune can be imported (the optional extra ``synergy-ppl[ray]``)."""
    try:
        import ray  # noqa: F401
        from ray import tune  # noqa: F401
    except ImportError:
        return False
    return True


# ---------------------------------------------------------------------------- the sweep


@dataclass
class SweepResult:
    """What a sweep wrote: the table, the best trial and the counts."""

    out: Path
    table: pd.DataFrame
    best: dict | None
    counts: dict
    engine: str
    ran: int
    seconds: float


def run_sweep(
    config: SweepConfig,
    out: str | Path,
    *,
    use_ray: bool | None = None,
    address: str | None = None,
    cpus_per_trial: int = 1,
    gpus_per_trial: float = 0,
    max_concurrent: int | None = None,
    num_cpus: int | None = None,
    limit: int | None = None,
) -> SweepResult:
    """Run (or resume) a sweep into ``out`` and gather its summary.

    ``use_ray``: None = Ray if installed, else sequential (said so); True = Ray (error if it
    is missing); False = sequential. Trials already finished in ``out`` are skipped.
    ``limit`` runs at most that many pending trials (to split a sweep, or in tests).
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    specs = trial_specs(config, out, cpus_per_trial)
    _write_json(out / "sweep.json", {"config": _config_dict(config), "trials": specs})
    done = {s["id"] for s in specs if (read_record(s) or {}).get("status") == FINISHED}
    pending = [s for s in specs if s["id"] not in done][:limit]
    print(
        f"sweep of {len(specs)} trial(s) of '{config.command}': {len(done)} already finished, "
        f"{len(pending)} to run"
    )
    engine = "ray" if use_ray or (use_ray is None and ray_available()) else "sequential"
    if use_ray and not ray_available():
        raise DataError("Ray is not installed: pip install 'synergy-ppl[ray]', or pass --no-ray.")
    if engine == "sequential" and use_ray is None:
        print(
            "Ray is not installed (pip install 'synergy-ppl[ray]'): running the trials one "
            "after another in this process."
        )
    start = time.perf_counter()
    if pending:
        if engine == "ray":
            where = address or f"a local Ray ({num_cpus or os.cpu_count()} CPUs)"
            print(f"running on Ray Tune: {where}, {cpus_per_trial} CPU(s) per trial")
            run_ray(pending, out, address, cpus_per_trial, gpus_per_trial, max_concurrent, num_cpus)
        else:
            run_sequential(pending)
    seconds = time.perf_counter() - start
    table, best, counts = gather(config, specs, out)
    return SweepResult(out, table, best, counts, engine, len(pending), seconds)


def _config_dict(config: SweepConfig) -> dict:
    return {
        "command": config.command,
        "metric": config.metric,
        "mode": config.mode,
        "num_samples": config.num_samples,
        "seed": config.seed,
        "report": list(config.report),
        "fixed": config.fixed,
        "search": config.search,
    }


def gather(config: SweepConfig, specs: list[dict], out: Path) -> tuple[pd.DataFrame, dict, dict]:
    """Write ``summary.csv``, ``summary.json`` and ``sweep.png``; return (table, best,
    counts)."""
    rows = []
    for spec in specs:
        record = read_record(spec) or {"status": PENDING, "metrics": {}}
        row = {"id": spec["id"], "status": record["status"]}
        row.update({k: _cell(v) for k, v in spec["options"].items()})
        row.update({m: (record.get("metrics") or {}).get(m) for m in config.metrics})
        row["seconds"] = record.get("seconds")
        row["run_dir"] = str(Path(spec["dir"]) / "run")
        row["log"] = str(Path(spec["dir"]) / "trial.log")
        row["error"] = record.get("error")
        rows.append(row)
    table = pd.DataFrame(rows)
    scores = pd.to_numeric(table[config.metric], errors="coerce")
    usable = (table["status"] == FINISHED) & scores.notna()
    best = None
    if usable.any():
        index = scores[usable].idxmax() if config.mode == "max" else scores[usable].idxmin()
        best = {k: _plain(v) for k, v in table.loc[index].items()}
    counts = {s: int((table["status"] == s).sum()) for s in (FINISHED, FAILED, PENDING)}
    table.to_csv(out / "summary.csv", index=False)
    _write_json(
        out / "summary.json",
        {
            "command": config.command,
            "metric": config.metric,
            "mode": config.mode,
            "counts": counts,
            "best": best,
            "trials": [{k: _plain(v) for k, v in row.items()} for row in rows],
        },
    )
    plot_sweep(table, config, out / "sweep.png", best)
    return table, best, counts


def _cell(value):
    """A table cell for an option value (lists as ``128,32``)."""
    if isinstance(value, list | tuple):
        return ",".join(str(v) for v in value)
    return value


def _plain(value):
    if isinstance(value, float) and math.isnan(value):
        return None
    return value.item() if hasattr(value, "item") else value


def plot_sweep(table: pd.DataFrame, config: SweepConfig, path: Path, best: dict | None) -> None:
    """The metric against each swept option (finished trials; the best one ringed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(config.search) or ["id"]
    fig, axes = plt.subplots(1, len(names), figsize=(3.6 * len(names), 3.4), squeeze=False)
    done = table[table["status"] == FINISHED]
    y = pd.to_numeric(done[config.metric], errors="coerce")
    is_best = done["id"] == (best or {}).get("id")
    for ax, name in zip(axes[0], names, strict=True):
        spec = config.search.get(name, {})
        x = pd.to_numeric(done[name], errors="coerce")
        if "choice" in spec or name == "id" or not (len(done) and x.notna().all()):
            labels = list(dict.fromkeys(table[name].astype(str)))
            position = done[name].astype(str).map({v: i for i, v in enumerate(labels)})
            x = position + np.random.default_rng(0).uniform(-0.12, 0.12, len(done))
            means = y.groupby(position).mean()
            ax.scatter(means.index, means.values, marker="_", s=400, color="k", label="mean")
            ax.set_xticks(range(len(labels)), labels, rotation=30 if len(labels) > 3 else 0)
            ax.set_xlim(-0.5, len(labels) - 0.5)
        elif "loguniform" in spec or (x.min() > 0 and x.max() / x.min() >= 10):
            ax.set_xscale("log")
        ax.scatter(x, y, alpha=0.7, label="trial")
        ax.scatter(x[is_best], y[is_best], s=160, fc="none", ec="r", label="best")
        ax.set_xlabel(name)
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel(config.metric)
    axes[0][0].legend(fontsize=7, loc="best")
    counts = table["status"].value_counts().to_dict()
    fig.suptitle(
        f"{config.command} sweep: {config.metric} ({config.mode}); "
        + ", ".join(f"{n} {s}" for s, n in counts.items()),
        fontsize=9,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def print_summary(result: SweepResult, config: SweepConfig) -> None:
    """The table's head, the best trial and where the failed trials' logs are."""
    table, counts = result.table, result.counts
    shown = ["id", "status", *config.search, config.metric, "seconds"]
    print(table[shown].to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    print(
        f"{counts[FINISHED]} finished, {counts[FAILED]} failed, {counts[PENDING]} pending "
        f"({result.ran} run now, {result.engine}, {result.seconds:.1f} s)"
    )
    if result.best:
        options = ", ".join(f"{k}={result.best[k]}" for k in config.search)
        print(
            f"best by {config.metric} ({config.mode}): {result.best['id']} "
            f"{config.metric}={result.best[config.metric]:.4g} ({options})"
        )
        print(f"  its run directory: {result.best['run_dir']}")
    for _, row in table[table["status"] == FAILED].iterrows():
        print(f"  failed {row['id']}: {row['error']}\n    log: {row['log']}")
    out = result.out
    print(f"summary written to {out / 'summary.csv'}, {out / 'summary.json'}, {out / 'sweep.png'}")
