"""Running a sweep into its folder: prepare (or resume) the folder, run the pending trials on
an engine, gather the summary."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterable
from pathlib import Path

from .. import outputs
from ..errors import OptionError, OutputError
from . import engines
from .config import SweepConfig, check_metrics
from .report import SweepResult, gather
from .trials import FINISHED, read_record, trial_specs

SWEEP_WRITES = ("sweep.json", "summary.csv", "summary.json", "sweep.png", "trials", "ray")
"""Everything a sweep writes into its folder."""


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
    progress: bool = True,
) -> SweepResult:
    """Run (or resume) a sweep into ``out`` and gather its summary.

    A folder holding the same sweep is resumed: trials already finished are skipped. One
    holding another sweep or other files is refused unless ``overwrite``, which removes what
    an earlier sweep wrote there (the user's own files stay) and starts afresh.

    Parameters
    ----------
    config : SweepConfig
    out : str or Path
        The sweep folder.
    use_ray : bool, optional
        None: Ray if installed, else sequential (said so); True: Ray (an error if it is
        missing); False: sequential.
    address, cpus_per_trial, gpus_per_trial, max_concurrent, num_cpus
        Ray's: see :func:`~.engines.run_ray`; ``cpus_per_trial`` also sets each trial's
        torch threads in both engines.
    limit : int, optional
        Run at most this many pending trials (to split a sweep, or in tests).
    overwrite : bool
        Start a folder holding something else afresh.
    progress : bool
        Print what runs where, and a line as each trial ends (sequential engine).

    Returns
    -------
    SweepResult

    Raises
    ------
    OptionError
        An engine option out of range, Ray asked for but missing, or a metric no trial
        reports; before anything is written.
    OutputError
        ``out`` holds something else (and not ``overwrite``), or cannot be written.
    """
    out = Path(out)
    _check_engine_options(cpus_per_trial, gpus_per_trial, max_concurrent, num_cpus, limit)
    if use_ray and not engines.ray_available():
        raise OptionError(
            "Ray is not installed: pip install 'synergy-ppl[ray]', or pass use_ray=False.",
            parameter="use_ray",
        )
    check_metrics(config)  # from_dict did, but a SweepConfig may be built directly
    specs = trial_specs(config, out, cpus_per_trial)
    prepare_sweep_folder(out, config, overwrite, [s["id"] for s in specs])
    outputs.write_json(out / "sweep.json", {"config": config.as_dict(), "trials": specs})
    done = {s["id"] for s in specs if (read_record(s) or {}).get("status") == FINISHED}
    pending = [s for s in specs if s["id"] not in done][:limit]
    say = print if progress else lambda _: None
    say(
        f"sweep of {len(specs)} trial(s) of '{config.command}': {len(done)} already finished, "
        f"{len(pending)} to run"
    )
    ray = use_ray or (use_ray is None and engines.ray_available())
    if not ray and use_ray is None:
        say(
            "Ray is not installed (pip install 'synergy-ppl[ray]'): running the trials one "
            "after another in this process."
        )
    start = time.perf_counter()
    if pending and ray:
        where = address or f"a local Ray ({num_cpus or os.cpu_count()} CPUs)"
        say(f"running on Ray Tune: {where}, {cpus_per_trial} CPU(s) per trial")
        engines.run_ray(
            pending, out, address, cpus_per_trial, gpus_per_trial, max_concurrent, num_cpus
        )
    elif pending:
        engines.run_sequential(pending, progress)
    seconds = time.perf_counter() - start
    table, best, counts = gather(config, specs, out)
    engine = "ray" if ray else "sequential"
    return SweepResult(out, table, best, counts, engine, len(pending), seconds)


def _check_engine_options(
    cpus_per_trial: int,
    gpus_per_trial: float,
    max_concurrent: int | None,
    num_cpus: int | None,
    limit: int | None,
) -> None:
    """Refuse engine options Ray or torch would reject mid-sweep."""
    for name, value, minimum in (
        ("cpus_per_trial", cpus_per_trial, 1),
        ("gpus_per_trial", gpus_per_trial, 0),
        ("max_concurrent", max_concurrent, 1),
        ("num_cpus", num_cpus, 1),
        ("limit", limit, 0),
    ):
        if value is not None and not (isinstance(value, int | float) and value >= minimum):
            raise OptionError(f"{name} must be >= {minimum}, not {value!r}.", parameter=name)


def prepare_sweep_folder(
    out: str | Path, config: SweepConfig, overwrite: bool = False, trial_ids: Iterable[str] = ()
) -> None:
    """Make ``out`` ready for ``config``'s sweep and list what it will write there.

    A missing or empty folder is created. A folder whose ``sweep.json`` holds the same config
    is resumed. Any other non-empty folder (another sweep's, or the user's) is refused unless
    ``overwrite``: then what synergy-ppl wrote there is removed, the user's own files stay.

    Parameters
    ----------
    out : str or Path
        The sweep folder.
    config : SweepConfig
    overwrite : bool
        Start a folder holding something else afresh.
    trial_ids : iterable of str
        The trial folders to list under ``trials/`` (before Ray's workers write there).

    Raises
    ------
    OutputError
        ``out`` holds something else (and not ``overwrite``), or cannot be written.
    """
    out = Path(out)
    saved = _saved_config(out)
    same = saved is not None and saved == json.loads(json.dumps(config.as_dict()))
    try:
        if overwrite or not same:
            if saved is not None and not overwrite:
                raise OutputError(
                    f"{out} holds another sweep (its sweep.json has a different config than "
                    f"{config.source}); choose another out or pass overwrite (which "
                    "replaces only what synergy-ppl wrote there).",
                    parameter=("out", "overwrite"),
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
