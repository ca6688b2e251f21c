"""A sweep's config: reading and checking it, and expanding its search space into trials.

Option names and values are checked against :mod:`synergy_ppl.settings`, where the command line
resolves its options too, so a sweep accepts exactly what ``fit`` or ``simulate`` would.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..active import SimulationConfig
from ..errors import OptionError
from ..options import read_yaml
from ..settings import COMMANDS, option_names, resolve
from .metrics import metric_problem

SAMPLERS = ("choice", "uniform", "loguniform")
"""Search kinds drawn ``num_samples`` times; ``grid`` takes every value."""
CONFIG_KEYS = {"command", "metric", "mode", "num_samples", "seed", "report", "fixed", "search"}
RESERVED = ("out", "overwrite", "quiet")
"""Options the sweep sets itself (each trial writes into its own folder, quietly)."""


@dataclass
class SweepConfig:
    """A validated sweep config: the base command, fixed options and the search space.

    Build one with :meth:`from_dict` or :func:`load_sweep_config`, which check it. Option
    names in ``fixed`` and ``search`` are written with underscores.
    """

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
        """Check a sweep config's mapping before any trial runs.

        Parameters
        ----------
        values : dict
            The config's keys (:data:`CONFIG_KEYS`), as read from YAML.
        source : str
            What errors name: the config file.

        Returns
        -------
        SweepConfig

        Raises
        ------
        OptionError
            Naming ``source`` and the key at fault: an unknown key or option, a value of the
            wrong type, a ``fixed:`` value no trial can run with, a bad search kind, or a
            metric no trial reports.
        """
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
        _check_option_names(command, {"fixed": fixed, "search": search}, source)
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
        _check_fixed_values(config)
        check_metrics(config)
        return config

    @property
    def metrics(self) -> tuple[str, ...]:
        """The metric the best trial is chosen by, then the reported ones."""
        return (self.metric, *[r for r in self.report if r != self.metric])

    def as_dict(self) -> dict:
        """The config as saved in ``sweep.json`` (a folder holding the same one is resumed)."""
        return {
            "command": self.command,
            "metric": self.metric,
            "mode": self.mode,
            "num_samples": self.num_samples,
            "seed": self.seed,
            "report": list(self.report),
            "fixed": self.fixed,
            "search": self.search,
        }


def load_sweep_config(path: str | Path) -> SweepConfig:
    """Read and check a sweep config file.

    Parameters
    ----------
    path : str or Path
        A YAML (or JSON) file.

    Returns
    -------
    SweepConfig

    Raises
    ------
    OptionError
        Naming the file (and line, for bad YAML) and the key at fault.
    """
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


def _check_option_names(command: str, sections: dict[str, dict], source: str) -> None:
    """Refuse a name that is not an option of ``command``, or one the sweep sets itself."""
    names = option_names(command)
    for section, options in sections.items():
        for name in options:
            if name in RESERVED or name not in names:
                raise OptionError(
                    f"{source}: {section}.{name}: not an option of '{command}' (the sweep sets "
                    f"{'/'.join(RESERVED)} itself); options: {sorted(set(names) - set(RESERVED))}."
                )


def _check_fixed_values(config: SweepConfig) -> None:
    """Refuse ``fixed:`` values no trial can run with (each trial would fail on them).

    The fixed options alone may miss a value that the search gives (``split: fold`` fixed,
    ``test_fold`` searched): they are refused only if no trial's options complete them.
    """
    where = f"{config.source}: fixed"
    try:
        resolve(config.command, config.fixed, source=where)
    except OptionError as err:
        if not any(_resolves(config.command, trial["all"]) for trial in expand(config)):
            message = str(err)
            if message.startswith(where):
                raise
            raise OptionError(f"{where}: {message}", parameter=err.parameters) from err


def _resolves(command: str, options: dict) -> bool:
    try:
        resolve(command, options)
    except OptionError:
        return False
    return True


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


def expand(config: SweepConfig) -> list[dict]:
    """The sweep's trials, in a fixed order.

    The grid is a cartesian product (keys sorted); sampled options are drawn
    ``num_samples`` times from ``numpy.random.default_rng(seed)`` (4 significant digits),
    so the same config always gives the same trials. Duplicates are dropped.

    Parameters
    ----------
    config : SweepConfig

    Returns
    -------
    list of dict
        ``{"id": trial_hash, "options": the swept options, "all": fixed and swept}``.
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
    """A stable 10-character id of a command and all its options.

    Parameters
    ----------
    command : str
    options : dict
        Option name -> value (plain JSON).

    Returns
    -------
    str
        The first 10 hex digits of the SHA-1 of both.
    """
    text = json.dumps({"command": command, "options": options}, sort_keys=True, default=str)
    return hashlib.sha1(text.encode()).hexdigest()[:10]


def trial_strategies(config: SweepConfig) -> list[tuple[str, ...]]:
    """The strategies each trial of a ``simulate`` sweep runs (its ``acquisition``).

    Parameters
    ----------
    config : SweepConfig

    Returns
    -------
    list of tuple of str
        One entry per trial of :func:`expand`; a trial without ``acquisition`` runs
        :class:`~synergy_ppl.active.SimulationConfig`'s default strategies.
    """
    default = SimulationConfig().strategies
    strategies = []
    for trial in expand(config):
        value = trial["all"].get("acquisition", default)
        text = ",".join(map(str, value)) if isinstance(value, list | tuple) else str(value)
        strategies.append(tuple(s.strip() for s in text.split(",") if s.strip()))
    return strategies


def check_metrics(config: SweepConfig) -> None:
    """Refuse a ``metric:`` or ``report:`` entry that no trial can report, before any runs
    (a typo would otherwise cost the whole sweep and give an empty column).

    Parameters
    ----------
    config : SweepConfig

    Raises
    ------
    OptionError
        Naming the config, the key and the metric, with the valid choices.
    """
    per_trial = trial_strategies(config) if config.command == "simulate" else []
    for key, names in (("metric", (config.metric,)), ("report", config.report)):
        for name in names:
            problem = metric_problem(config.command, name, per_trial)
            if problem:
                raise OptionError(f"{config.source}: {key}: '{name}' {problem}")
