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

The config is checked before any trial runs: its keys and their types, the options and the
``fixed:`` values (as the command line would read them), and that some trial can report the
``metric:`` and each ``report:`` entry (:func:`check_metrics`). Mistakes raise
:class:`~synergy_ppl.errors.OptionError` naming the file and the key.

Trials are the grid's cartesian product times ``num_samples`` draws of the sampled options
(one draw if there are none). Each trial has a stable id (a hash of the command and all its
options) and a folder ``<out>/trials/<id>/`` holding ``trial.json`` (status, metrics, error,
seconds), ``trial.log`` (its output and, if it failed, the traceback) and ``run/``, the
ordinary run directory of ``fit`` or ``simulate``. The sweep writes ``summary.csv``,
``summary.json`` (one row per trial and the best trial) and ``sweep.png`` into ``<out>``.
Everything it writes is listed in the folders' manifests (:mod:`synergy_ppl.outputs`).

Resuming: a folder whose ``sweep.json`` holds the same config is resumed: trials whose
``trial.json`` says ``finished`` are skipped; failed and unfinished trials run again (a
``simulate`` trial continues from its last finished round). A folder holding another sweep
(or anything else) is refused unless ``overwrite``, which removes only what a sweep wrote
there and starts afresh.
"""

from __future__ import annotations

import argparse
import contextlib
import difflib
import functools
import hashlib
import itertools
import json
import math
import os
import time
import traceback
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .. import outputs
from ..errors import OptionError, OutputError
from ..options import read_yaml

COMMANDS = ("fit", "simulate")
SAMPLERS = ("choice", "uniform", "loguniform")
"""Search kinds drawn ``num_samples`` times; ``grid`` takes every value."""
CONFIG_KEYS = {"command", "metric", "mode", "num_samples", "seed", "report", "fixed", "search"}
RESERVED = {"out", "overwrite", "quiet", "func", "command"}
"""Options the sweep sets itself (each trial writes into its own folder, quietly)."""
FINISHED, FAILED, PENDING = "finished", "failed", "pending"
SWEEP_WRITES = ("sweep.json", "summary.csv", "summary.json", "sweep.png", "trials", "ray")
"""Everything a sweep writes into its folder."""
TRIAL_WRITES = ("trial.json", "trial.log", "run")
"""Everything a trial writes into ``trials/<id>/``."""
FIT_PARTS = ("train", "val", "test")
"""The parts ``runs.fit_run`` evaluates: sections of metrics.json."""
FIT_EXTRAS = (
    "fit_seconds",
    "epochs_run",
    "best_epoch",
    "data.rows_read",
    "data.triples",
    "data.replicate_rows_averaged",
    "data.drugs",
    "data.cell_lines",
    "data.split_dropped_rows",
)
"""The other numbers ``runs.fit_run`` writes into metrics.json."""


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
            what = "empty" if values is None else f"a {type(values).__name__}"
            raise OptionError(
                f"{source}: a sweep config is a mapping with keys {sorted(CONFIG_KEYS)}; "
                f"this one is {what}."
            )
        unknown = sorted(str(k) for k in set(values) - CONFIG_KEYS)
        if unknown:
            raise OptionError(f"{source}: unknown key(s) {unknown}; known: {sorted(CONFIG_KEYS)}.")
        for key in ("command", "metric"):
            if values.get(key) is None:
                raise OptionError(f"{source}: '{key}:' is missing.")
        command = values["command"]
        if command not in COMMANDS:
            raise OptionError(f"{source}: command: '{command}' is not one of {list(COMMANDS)}.")
        mode = _given(values, "mode", "max")
        if mode not in ("max", "min"):
            raise OptionError(f"{source}: mode: '{mode}' must be max or min.")
        num_samples = _integer(values, "num_samples", 1, 1, source)
        seed = _integer(values, "seed", 0, 0, source)
        metric = _metric_name(values["metric"], "metric", source)
        report = _given(values, "report", [])
        if isinstance(report, str):
            report = [report]
        if not isinstance(report, list):
            raise OptionError(f"{source}: report: must be a list of metric names, not {report!r}.")
        report = [_metric_name(name, "report", source) for name in report]
        fixed = _normalise_keys(_given(values, "fixed", {}), "fixed", source)
        search = _normalise_keys(_given(values, "search", {}), "search", source)
        both = sorted(set(fixed) & set(search))
        if both:
            raise OptionError(f"{source}: option(s) {both} are both in 'fixed:' and 'search:'.")
        actions = option_actions(command)
        for section, names in (("fixed", fixed), ("search", search)):
            for name in names:
                if name in RESERVED or name not in actions:
                    known = sorted(set(actions) - RESERVED)
                    raise OptionError(
                        f"{source}: {section}.{name}: not an option of '{command}' "
                        f"(the sweep sets out/overwrite/quiet itself); options: {known}."
                    )
        # a fixed value the command line cannot read would fail every trial: refuse it now
        for name, value in fixed.items():
            _coerce(name, actions[name], value, f"{source}: fixed.{name}")
        for name, spec in search.items():
            _check_search_spec(name, spec, source)
        config = cls(
            command=command,
            metric=metric,
            mode=mode,
            fixed=fixed,
            search=search,
            num_samples=num_samples,
            seed=seed,
            report=tuple(report),
            source=source,
        )
        check_metrics(config)
        return config

    @property
    def metrics(self) -> tuple[str, ...]:
        """The metric the best trial is chosen by, then the reported ones."""
        return (self.metric, *[r for r in self.report if r != self.metric])


def load_sweep_config(path: str | Path) -> SweepConfig:
    """Read and validate a sweep config file (YAML or JSON)."""
    return SweepConfig.from_dict(read_yaml(path, "sweep config"), str(path))


def _given(values: dict, key: str, default):
    """``values[key]``; an absent or empty (``key:`` alone) key takes its default."""
    value = values.get(key)
    return default if value is None else value


def _integer(values: dict, key: str, default: int, minimum: int, source: str) -> int:
    value = _given(values, key, default)
    # bool is an int in Python, but 'num_samples: yes' is a mistake
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise OptionError(f"{source}: {key}: must be an integer >= {minimum}, not {value!r}.")
    return value


def _metric_name(value, key: str, source: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise OptionError(
            f"{source}: {key}: a metric is one dotted name such as test.pearson, not {value!r}."
        )
    return value.strip()


def _normalise_keys(section, name: str, source: str) -> dict:
    if not isinstance(section, dict):
        raise OptionError(f"{source}: '{name}:' must be a mapping of option: value.")
    normal = {}
    for key, value in section.items():
        option = str(key).replace("-", "_")
        if option in normal:
            raise OptionError(f"{source}: {name}.{option}: given twice ('-' and '_' spellings).")
        # plain JSON values (YAML dates become text, as on the command line): trials are
        # hashed, shipped to Ray and saved as JSON
        normal[option] = json.loads(json.dumps(value, default=str))
    return normal


def _check_search_spec(name: str, spec, source: str) -> None:
    where = f"{source}: search.{name}"
    if not isinstance(spec, dict) or len(spec) != 1:
        raise OptionError(
            f"{where}: give one of {{grid: [..]}}, {{choice: [..]}}, {{uniform: [low, high]}} "
            f"or {{loguniform: [low, high]}}, not {spec!r}."
        )
    kind, arg = next(iter(spec.items()))
    if kind not in ("grid", *SAMPLERS):
        raise OptionError(f"{where}: unknown kind '{kind}'; use grid, {', '.join(SAMPLERS)}.")
    if not isinstance(arg, list) or not arg:
        raise OptionError(f"{where}.{kind}: needs a non-empty list, not {arg!r}.")
    if kind in ("uniform", "loguniform"):
        bounds = [_number(v) for v in arg]
        if len(arg) != 2 or not all(b is not None and math.isfinite(b) for b in bounds):
            raise OptionError(f"{where}.{kind}: needs [low, high] numbers, not {arg!r}.")
        low, high = bounds
        if not low < high or (kind == "loguniform" and low <= 0):
            raise OptionError(f"{where}.{kind}: needs 0 < low < high (log) or low < high.")


def _number(value) -> float | None:
    """``value`` as a float (YAML reads ``1e-3`` as a string), or None."""
    if isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def option_actions(command: str) -> dict:
    """``option name -> argparse action`` of a command of the ``synergy-ppl`` CLI."""
    from ..cli import build_parser

    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    parser = sub.choices[command]
    return {
        s[2:].replace("-", "_"): action
        for action in parser._actions
        for s in action.option_strings
        if s.startswith("--")
    }


# ----------------------------------------------------------------------------- metrics


@functools.cache
def regression_metric_names() -> tuple[str, ...]:
    """The keys of :func:`metrics.regression_metrics`, read off a tiny call (so they follow
    that function): what fit reports for each part."""
    import torch

    from ..inference.metrics import regression_metrics

    return tuple(regression_metrics(torch.arange(6.0).reshape(2, 3), torch.arange(3.0)))


def fit_metric_names() -> tuple[str, ...]:
    """The dotted names of the numbers in fit's metrics.json: ``<part>.<metric>``, then
    :data:`FIT_EXTRAS`."""
    keys = regression_metric_names()
    return (*[f"{part}.{key}" for part in FIT_PARTS for key in keys], *FIT_EXTRAS)


@functools.cache
def simulate_metric_names() -> tuple[str, ...]:
    """The keys of each strategy's entry in simulate's results.json summary, read off
    :func:`active.summarise_runs` on a one-round table (so they follow that function)."""
    from ..active import summarise_runs

    row = {"strategy": "s", "seed": 0, "round": 0, "tested": 1, "found_top": 1, "recall": 1.0}
    row.update(random=0.5, oracle=1.0, best_found=1.0, regret=0.0, distinct_drugs=2, seconds=0.0)
    return tuple(summarise_runs(pd.DataFrame([row]))["s"])


def trial_strategies(config: SweepConfig) -> list[tuple[str, ...]]:
    """The strategies each trial of a ``simulate`` sweep runs (its ``acquisition``)."""
    default = option_actions("simulate")["acquisition"].default
    strategies = []
    for trial in expand(config):
        value = trial["all"].get("acquisition", default)
        text = ",".join(map(str, value)) if isinstance(value, list) else str(value)
        strategies.append(tuple(s.strip() for s in text.split(",") if s.strip()))
    return strategies


def check_metrics(config: SweepConfig) -> None:
    """Refuse a ``metric:`` or ``report:`` entry that no trial can report, before any runs
    (a typo would otherwise cost the whole sweep and give an empty column)."""
    per_trial = trial_strategies(config) if config.command == "simulate" else []
    for key, names in (("metric", (config.metric,)), ("report", config.report)):
        for name in names:
            problem = (
                _fit_metric_problem(name)
                if config.command == "fit"
                else _simulate_metric_problem(name, per_trial)
            )
            if problem:
                raise OptionError(f"{config.source}: {key}: '{name}' {problem}")


def _fit_metric_problem(name: str) -> str | None:
    valid = fit_metric_names()
    if name in valid:
        return None
    return (
        f"is not a metric fit reports{_did_you_mean(name, valid)}; use PART.NAME with PART one "
        f"of {', '.join(FIT_PARTS)} and NAME one of {', '.join(regression_metric_names())}, "
        f"or one of {', '.join(FIT_EXTRAS)}."
    )


def _simulate_metric_problem(name: str, per_trial: list[tuple[str, ...]]) -> str | None:
    from ..active import STRATEGIES

    keys = simulate_metric_names()
    run = list(dict.fromkeys(s for strategies in per_trial for s in strategies))
    strategy, _, key = name.rpartition(".")  # strategy names have no dots
    if key in keys and strategy in ("", *STRATEGIES):
        if not strategy and not any(len(s) == 1 for s in per_trial):
            return (
                f"names no strategy and every trial runs several ({', '.join(run)}); use "
                f"STRATEGY.{key} with STRATEGY one of {', '.join(run)}."
            )
        if strategy and strategy not in run:
            return (
                f"names strategy '{strategy}', which no trial runs; the trials run "
                f"{', '.join(run)}."
            )
        return None
    candidates = [*keys, *[f"{s}.{k}" for s in run for k in keys]]
    return (
        f"is not a metric simulate reports{_did_you_mean(name, candidates)}; use NAME (when a "
        f"trial runs one strategy) or STRATEGY.NAME, with STRATEGY one the trials run "
        f"({', '.join(run)}) and NAME one of {', '.join(keys)}."
    )


def _did_you_mean(name: str, valid) -> str:
    close = difflib.get_close_matches(name, list(valid), n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""


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
    from ..cli import build_parser

    args = build_parser().parse_args([command])
    actions = option_actions(command)
    for name, value in options.items():
        action = actions[name]
        setattr(args, action.dest, _coerce(name, action, value))
    args.out, args.overwrite, args.quiet = str(run_dir), False, True
    return args


def _coerce(name: str, action, value, where: str | None = None):
    """``value`` as the CLI would parse it; raise naming ``where`` (default: the option) if
    it is invalid."""
    where = where or f"option {name}"
    if action.nargs == 0:  # store_true: bool('false') would be True, so only true / false
        if not isinstance(value, bool):
            raise OptionError(f"{where}: is a switch; give true or false, not {value!r}.")
        return value
    if isinstance(value, dict):  # a mapping option (--columns) reads name=column pairs
        if action.type is None:
            raise OptionError(f"{where}: takes one value, not a mapping {value!r}.")
        value = ",".join(f"{k}={v}" for k, v in value.items())
    if isinstance(value, list | tuple):
        value = ",".join(str(v) for v in value)  # e.g. acquisition: [ucb, random]
    elif isinstance(value, int | float) and not isinstance(value, bool):
        value = str(value)
    try:
        if action.type is not None:
            value = action.type(value if isinstance(value, str) else str(value))
    except (TypeError, ValueError, argparse.ArgumentTypeError) as err:
        raise OptionError(f"{where}: cannot read {value!r} ({err}).") from err
    if action.choices is not None and value not in action.choices:
        raise OptionError(f"{where}: {value!r} is not one of {list(action.choices)}.")
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
    from ..cli import _resolve_configs

    args = trial_namespace(spec["command"], spec["all"], run_dir)
    data_config, model_config = _resolve_configs(args)
    if spec["command"] == "fit":
        from ..runs import fit_run

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
        from ..active import simulate
        from ..cli import simulation_config

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
    outputs.record(trial_dir, *TRIAL_WRITES)  # listed before written: --overwrite removes them
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
    outputs.write_json(trial_dir / "trial.json", record)
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
    """The saved record of a trial, or None if it never finished writing a readable one
    (the trial then runs again)."""
    path = Path(spec["dir"]) / "trial.json"
    try:
        payload = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    return payload if isinstance(payload, dict) and "status" in payload else None


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

    name = f"tune-{time.strftime('%Y%m%d-%H%M%S')}"
    ray_dir = Path(out) / "ray"
    ray_dir.mkdir(exist_ok=True)
    outputs.record(ray_dir, name)
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
                name=name,
                storage_path=str(ray_dir.resolve()),
                failure_config=tune.FailureConfig(max_failures=0),
                verbose=0,
            ),
        )
        grid = tuner.fit()
    finally:
        if started:
            ray.shutdown()
        _claim_tree(ray_dir / name)
    return [_ray_record(result, specs) for result in grid]


def _claim_tree(folder: Path) -> None:
    """List everything under ``folder`` in manifests, folder by folder: Ray writes no
    manifest, and ``--overwrite`` removes only what manifests list."""
    if not folder.is_dir() or folder.is_symlink():
        return
    entries = [p for p in folder.iterdir() if p.name != outputs.MANIFEST]
    outputs.record(folder, *(p.name for p in entries))
    for entry in entries:
        _claim_tree(entry)


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
        outputs.record(Path(spec["dir"]), *TRIAL_WRITES)
        outputs.write_json(Path(spec["dir"]) / "trial.json", record)
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
    overwrite: bool = False,
) -> SweepResult:
    """Run (or resume) a sweep into ``out`` and gather its summary.

    ``use_ray``: None = Ray if installed, else sequential (said so); True = Ray (error if it
    is missing); False = sequential. A folder holding the same sweep is resumed: trials
    already finished are skipped. One holding another sweep or other files is refused unless
    ``overwrite``, which removes what an earlier sweep wrote there (the user's own files stay)
    and starts afresh. ``limit`` runs at most that many pending trials (to split a sweep, or
    in tests).
    """
    out = Path(out)
    _check_engine_options(cpus_per_trial, gpus_per_trial, max_concurrent, num_cpus, limit)
    if use_ray and not ray_available():
        raise OptionError("Ray is not installed: pip install 'synergy-ppl[ray]', or pass --no-ray.")
    check_metrics(config)  # from_dict did, but a SweepConfig may be built directly
    specs = trial_specs(config, out, cpus_per_trial)
    prepare_sweep_folder(out, config, overwrite, [s["id"] for s in specs])
    outputs.write_json(out / "sweep.json", {"config": _config_dict(config), "trials": specs})
    done = {s["id"] for s in specs if (read_record(s) or {}).get("status") == FINISHED}
    pending = [s for s in specs if s["id"] not in done][:limit]
    print(
        f"sweep of {len(specs)} trial(s) of '{config.command}': {len(done)} already finished, "
        f"{len(pending)} to run"
    )
    engine = "ray" if use_ray or (use_ray is None and ray_available()) else "sequential"
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


def _check_engine_options(
    cpus_per_trial: int,
    gpus_per_trial: float,
    max_concurrent: int | None,
    num_cpus: int | None,
    limit: int | None,
) -> None:
    """Refuse engine options Ray or torch would reject mid-sweep (named as the CLI's)."""
    for flag, value, minimum in (
        ("--cpus-per-trial", cpus_per_trial, 1),
        ("--gpus-per-trial", gpus_per_trial, 0),
        ("--max-concurrent", max_concurrent, 1),
        ("--num-cpus", num_cpus, 1),
        ("limit", limit, 0),
    ):
        if value is not None and not (isinstance(value, int | float) and value >= minimum):
            raise OptionError(f"{flag} must be >= {minimum}, not {value!r}.")


def prepare_sweep_folder(
    out: Path, config: SweepConfig, overwrite: bool = False, trial_ids: Iterable[str] = ()
) -> None:
    """Make ``out`` ready for ``config``'s sweep and list what it will write there.

    A missing or empty folder is created. A folder whose ``sweep.json`` holds the same config
    is resumed. Any other non-empty folder (another sweep's, or the user's) is refused unless
    ``overwrite``: then what synergy-ppl wrote there is removed, the user's own files stay.
    """
    saved = _saved_config(out)
    same = saved is not None and saved == json.loads(json.dumps(_config_dict(config)))
    try:
        if overwrite or not same:
            if saved is not None and not overwrite:
                raise OutputError(
                    f"{out} holds another sweep (its sweep.json has a different config than "
                    f"{config.source}); choose another --out or pass --overwrite (which "
                    "replaces only what synergy-ppl wrote there)."
                )
            outputs.prepare_folder(out, overwrite, SWEEP_WRITES)
        outputs.record(out, *SWEEP_WRITES)
        # the trial folders are listed here, before Ray's workers write into them at once
        (out / "trials").mkdir(exist_ok=True)
        outputs.record(out / "trials", *trial_ids)
    except OSError as err:
        raise OutputError(f"{out}: cannot write the sweep there ({err}).") from err


def _saved_config(out: Path) -> dict | None:
    """The config in ``out/sweep.json``, or None if there is none or it is unreadable."""
    try:
        saved = json.loads((out / "sweep.json").read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    return saved.get("config") if isinstance(saved, dict) else None


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
    outputs.write_json(
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
