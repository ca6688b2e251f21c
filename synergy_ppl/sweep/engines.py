"""Engines that run a sweep's pending trials: one after another in this process, or on Ray
Tune (a local Ray or a cluster). Both run each trial with :func:`~.trials.run_trial`."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

from .. import outputs
from .trials import FAILED, new_record, read_record, run_trial, trial_folder


def run_sequential(specs: list[dict], progress: bool = True) -> list[dict]:
    """Run trials one after another in this process.

    Parameters
    ----------
    specs : list of dict
        Entries of :func:`~.trials.trial_specs`.
    progress : bool
        Print a line as each trial ends.

    Returns
    -------
    list of dict
        The trials' records.
    """
    records = []
    for number, spec in enumerate(specs, 1):
        record = run_trial(spec)
        if progress:
            print(
                f"  [{number}/{len(specs)}] {spec['id']} {record['status']} "
                f"({record['seconds']:.1f} s)"
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
    out: str | Path,
    address: str | None = None,
    cpus_per_trial: float = 1,
    gpus_per_trial: float = 0,
    max_concurrent: int | None = None,
    num_cpus: int | None = None,
) -> list[dict]:
    """Run trials on Ray Tune.

    Parameters
    ----------
    specs : list of dict
        Entries of :func:`~.trials.trial_specs`.
    out : str or Path
        The sweep folder; Ray's own results go to ``<out>/ray``.
    address : str, optional
        A Ray cluster ("auto", "ray://host:port"); default a local Ray started here.
    cpus_per_trial, gpus_per_trial : float
        Ray resources of each trial.
    max_concurrent : int, optional
        At most this many trials at once.
    num_cpus : int, optional
        CPUs of the local Ray (default all cores).

    Returns
    -------
    list of dict
        The trials' records (also written locally for trials that ran elsewhere).
    """
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
    return [_ray_record(result) for result in grid]


def _claim_tree(folder: Path) -> None:
    """List everything under ``folder`` in manifests, folder by folder: Ray writes no
    manifest, and ``--overwrite`` removes only what manifests list."""
    if not folder.is_dir() or folder.is_symlink():
        return
    entries = [p for p in folder.iterdir() if p.name != outputs.MANIFEST]
    outputs.record(folder, *(p.name for p in entries))
    for entry in entries:
        _claim_tree(entry)


def _ray_record(result) -> dict:
    """A trial's record from Ray's result; written locally when the trial ran elsewhere."""
    spec = result.config["trial"]
    if result.metrics and "record" in result.metrics:
        record = json.loads(result.metrics["record"])
    else:  # the worker died before reporting (e.g. out of memory)
        record = {**new_record(spec, FAILED, f"Ray: {result.error}"), "log": str(result.path)}
    if read_record(spec) is None:
        outputs.write_json(trial_folder(spec) / "trial.json", record)
    return record


def ray_available() -> bool:
    """Whether Ray Tune can be imported (the optional extra ``synergy-ppl[ray]``).

    Returns
    -------
    bool
    """
    try:
        import ray  # noqa: F401
        from ray import tune  # noqa: F401
    except ImportError:
        return False
    return True
