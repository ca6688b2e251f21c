"""Sweep wall time: the same sweep run one trial after another and on a local Ray Tune.

Runs a sweep config twice from empty folders, in-process (``--no-ray``) and on a local Ray
with ``--workers`` CPUs (one trial per CPU), and prints both wall times, their ratio and
whether the two summary tables agree. ``--set NAME=VALUE`` pins a searched option (it
leaves the search space), e.g. the issue's MCF7 grid of acquisition x seed with one prior::

    SYNERGY_PPL_DATA=../shared/data python benchmarks/sweep_speed.py --set prior=normal

The folders ``<out without .json>/sequential`` and ``.../ray`` are this benchmark's own and
are emptied before each run.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import yaml
from common import add_common_options, describe, machine, write_json

from synergy_ppl.sweep import SweepConfig, run_sweep

CONFIG = Path(__file__).resolve().parents[1] / "examples/sweeps/almanac_mcf7_acquisition.yaml"
SMOKE = {
    "command": "simulate",
    "metric": "recall_mean",
    "fixed": {"data": "demo", "rounds": 1, "epochs": 2, "seeds": 1, "num-samples": 10},
    "search": {"acquisition": {"grid": ["ucb", "random"]}, "first-seed": {"grid": [0, 1]}},
}


def pinned(values: dict, settings: list[str]) -> dict:
    """``values`` with each ``NAME=VALUE`` of ``settings`` moved from search to fixed."""
    values = {**values, "fixed": dict(values["fixed"]), "search": dict(values["search"])}
    for setting in settings:
        name, _, text = setting.partition("=")
        values["search"].pop(name, None)
        values["search"].pop(name.replace("-", "_"), None)
        values["fixed"][name] = yaml.safe_load(text)
    return values


def timed_sweep(config: SweepConfig, out: Path, **engine) -> tuple[float, object]:
    """Wall seconds of a sweep into a fresh ``out`` (an earlier sweep there is replaced), and
    its result."""
    start = time.perf_counter()
    result = run_sweep(config, out, overwrite=True, **engine)
    return time.perf_counter() - start, result


def _id(best: dict | None) -> str | None:
    return best["id"] if best else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default=str(CONFIG), help="sweep config (YAML)")
    parser.add_argument("--set", action="append", default=[], help="pin NAME=VALUE")
    parser.add_argument("--workers", type=int, default=2, help="CPUs of the local Ray")
    add_common_options(parser, "sweep_speed.json")
    args = parser.parse_args()
    info = machine(args.threads)
    print(describe(info))
    values = SMOKE if args.smoke else yaml.safe_load(Path(args.config).read_text())
    config = SweepConfig.from_dict(pinned(values, args.set), source=args.config)
    folder = Path(args.out).with_suffix("")

    seq_seconds, seq = timed_sweep(config, folder / "sequential", use_ray=False)
    ray_seconds, on_ray = timed_sweep(
        config, folder / "ray", use_ray=True, num_cpus=args.workers, cpus_per_trial=args.threads
    )
    metric = config.metric
    left, right = seq.table.set_index("id"), on_ray.table.set_index("id").loc[seq.table["id"]]
    same = bool(np.allclose(left[metric], right[metric], atol=1e-9, equal_nan=True))
    trials = len(seq.table)
    print(
        f"{trials} trials: sequential {seq_seconds:.0f} s, Ray with {args.workers} workers "
        f"{ray_seconds:.0f} s; sequential / Ray = {seq_seconds / ray_seconds:.2f}; "
        f"same {metric} in every trial: {same}"
    )
    payload = {
        "benchmark": "sweep_speed",
        "machine": info,
        "smoke": args.smoke,
        "config": args.config if not args.smoke else "smoke",
        "pinned": args.set,
        "trials": trials,
        "workers": args.workers,
        "sequential_seconds": seq_seconds,
        "ray_seconds": ray_seconds,
        "speedup": seq_seconds / ray_seconds,
        "same_metric": same,
        "failed": {"sequential": seq.counts["failed"], "ray": on_ray.counts["failed"]},
        "best_trial": {"sequential": _id(seq.best), "ray": _id(on_ray.best)},
    }
    print(f"written to {write_json(args.out, payload)}")


if __name__ == "__main__":
    main()
