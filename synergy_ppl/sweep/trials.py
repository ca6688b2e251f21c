"""One trial of a sweep: what it needs to run anywhere (its spec), running it in this process
through the library, and its record ``trials/<id>/trial.json``."""

from __future__ import annotations

import contextlib
import json
import os
import time
import traceback
from pathlib import Path

import torch

from .. import outputs
from ..active import simulate
from ..runs import fit_run
from ..settings import resolve
from .config import SweepConfig, expand
from .metrics import lookup

FINISHED, FAILED, PENDING = "finished", "failed", "pending"
"""A trial's status: its run wrote its metrics; it raised; it has not run (to the end)."""
TRIAL_WRITES = ("trial.json", "trial.log", "run")
"""Everything a trial writes into ``trials/<id>/``."""


def trial_specs(config: SweepConfig, out: str | Path, cpus_per_trial: int = 1) -> list[dict]:
    """What :func:`run_trial` needs for each trial, as plain JSON (so Ray can ship it).

    Parameters
    ----------
    config : SweepConfig
    out : str or Path
        The sweep folder; trial ``<id>`` runs in ``<out>/trials/<id>/``.
    cpus_per_trial : int
        The torch threads of each trial.

    Returns
    -------
    list of dict
        Each trial of :func:`~synergy_ppl.sweep.config.expand` with its ``command``,
        ``metrics`` (to read), ``dir``, ``cwd`` (relative paths in options) and ``threads``.
    """
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


def trial_folder(spec: dict) -> Path:
    """Create a trial's folder and list what the trial writes there in its manifest (before
    writing it: ``overwrite`` removes only what manifests list)."""
    folder = Path(spec["dir"])
    folder.mkdir(parents=True, exist_ok=True)
    outputs.record(folder, *TRIAL_WRITES)
    return folder


def new_record(spec: dict, status: str, error: str | None = None) -> dict:
    """A trial's record without metrics yet: ``id, options, status, metrics, error, run_dir,
    log, seconds``."""
    folder = Path(spec["dir"])
    return {
        "id": spec["id"],
        "options": spec["options"],
        "status": status,
        "metrics": {},
        "error": error,
        "run_dir": str(folder / "run"),
        "log": str(folder / "trial.log"),
        "seconds": None,
    }


def run_trial(spec: dict) -> dict:
    """Run one trial in this process and write its ``trial.json``; never raises.

    The trial's output and, if it fails, the traceback go to its ``trial.log``.

    Parameters
    ----------
    spec : dict
        One entry of :func:`trial_specs`.

    Returns
    -------
    dict
        The trial's record: ``id, options, status (finished / failed), metrics, error,
        run_dir, log, seconds, host``.
    """
    folder = trial_folder(spec)
    record = {**new_record(spec, FAILED), "host": os.uname().nodename}
    threads = torch.get_num_threads()
    torch.set_num_threads(max(1, int(spec.get("threads", 1))))
    start = time.perf_counter()
    with Path(record["log"]).open("w") as stream, contextlib.redirect_stdout(stream):
        with contextlib.redirect_stderr(stream), _chdir(spec.get("cwd")):
            print(f"trial {spec['id']}: {spec['command']} {json.dumps(spec['all'])}", flush=True)
            try:
                record["metrics"] = _execute(spec, Path(record["run_dir"]))
                record["status"] = FINISHED
            except Exception as err:  # a failed trial is recorded, the sweep goes on
                traceback.print_exc()
                record["error"] = f"{type(err).__name__}: {err}"
            finally:
                torch.set_num_threads(threads)
    record["seconds"] = round(time.perf_counter() - start, 3)
    outputs.write_json(folder / "trial.json", record)
    return record


def _execute(spec: dict, run_dir: Path) -> dict:
    """Run one trial's command through the library; returns its metrics by name.

    Its options are resolved as the command line's are (defaults, then the options): a
    value the command would refuse fails the trial here.
    """
    settings = resolve(spec["command"], spec["all"])
    settings.model.check_device()
    if spec["command"] == "fit":
        _, metrics = fit_run(
            settings.data,
            settings.model,
            run_dir,
            overwrite=True,  # an interrupted trial starts again in its own folder
            progress=False,
            prior_from=settings.prior_from,
            transfer=settings.transfer,
        )
        payload, fallback = json.loads(json.dumps(metrics, default=float)), None
    else:
        # an interrupted trial continues from its last finished round
        payload = simulate(
            settings.data, settings.simulation, settings.model, run_dir, progress=False
        )
        # one strategy per trial: 'recall_mean' means that strategy's recall_mean
        fallback = next(iter(payload.values())) if len(payload) == 1 else None
    return {name: lookup(payload, name, fallback) for name in spec["metrics"]}


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
    """The saved record of a trial.

    Parameters
    ----------
    spec : dict
        One entry of :func:`trial_specs`.

    Returns
    -------
    dict or None
        The record, or None if the trial never finished writing a readable one (the trial
        then runs again).
    """
    path = Path(spec["dir"]) / "trial.json"
    try:
        payload = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    return payload if isinstance(payload, dict) and "status" in payload else None
