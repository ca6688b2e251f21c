"""Is the function's uncertainty honest? Function bands against a known truth, per family.

Acquisition ranks candidates by the posterior of the synergy *function* (noise excluded), so
that posterior's width is what decides what gets tested. On the built-in demo the noise-free
truth of every row is known (``true_score``). For each family and seed this fits the library's
defaults on the demo's split, draws the function at the test triples and reports:

- ``truth_coverage_50`` / ``truth_coverage_90``: how often the function's central 50% / 90%
  band holds the truth (calibrated: 0.5 / 0.9);
- ``z_sd``: the SD of ``(mean - truth) / sd`` over the test rows (calibrated: 1);
- ``function_sd`` (mean over rows) next to ``rmse_truth``, the error it should describe;
- ``coverage_90``: the predictive (noise-included) band's coverage of the measured scores,
  for contrast: a learned noise width can make that right while the function bands are not.

::

    python benchmarks/epistemic.py --seeds 3
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from common import add_common_options, describe, machine, print_table, spread, write_json

from synergy_ppl.config import ModelConfig
from synergy_ppl.data import DataConfig
from synergy_ppl.estimator import SynergyBNN
from synergy_ppl.inference.svi import STOPPING_LOSSES
from synergy_ppl.model.families import FAMILIES

KEYS = ("truth_coverage_50", "truth_coverage_90", "z_sd", "function_sd", "rmse_truth")


def function_calibration(family: str, seed: int, options: dict, num_samples: int) -> dict:
    """Fit ``family`` on the demo with ``seed`` (and ``options``, ModelConfig fields; the
    others the family's defaults) and compare its test-row function draws with the truth
    (the keys of :data:`KEYS` and ``coverage_90``, ``seconds``)."""
    data = DataConfig()
    screen = data.load()
    split = data.split_of(screen)
    start = time.perf_counter()
    bnn = SynergyBNN.from_config(ModelConfig(model=family, seed=seed, **options))
    bnn.fit(screen, split, progress=False)
    seconds = time.perf_counter() - start
    test = screen.table.iloc[split.test]
    draws = bnn.sample(test, num_samples, seed, noise=False).numpy()  # (S, N)
    truth = test["true_score"].to_numpy()
    mean, sd = draws.mean(0), draws.std(0)
    inside = {
        level: np.mean(
            (np.quantile(draws, (1 - level) / 2, axis=0) <= truth)
            & (truth <= np.quantile(draws, (1 + level) / 2, axis=0))
        )
        for level in (0.5, 0.9)
    }
    return {
        "truth_coverage_50": float(inside[0.5]),
        "truth_coverage_90": float(inside[0.9]),
        "z_sd": float(np.std((mean - truth) / sd)),
        "function_sd": float(sd.mean()),
        "rmse_truth": float(np.sqrt(np.mean((mean - truth) ** 2))),
        "coverage_90": float(bnn.evaluate(test)["coverage_90"]),
        "seconds": seconds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--families", default=",".join(FAMILIES), help="comma-separated")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--epochs", type=int, help="default: the family's")
    parser.add_argument("--patience", type=int, help="default: the family's")
    parser.add_argument("--stop-on", choices=list(STOPPING_LOSSES), help="default: the library's")
    parser.add_argument("--num-samples", type=int, default=200)
    add_common_options(parser, "epistemic.json")
    args = parser.parse_args()
    info = machine(args.threads)
    families = args.families.split(",")[:1] if args.smoke else args.families.split(",")
    seeds = 1 if args.smoke else args.seeds
    given = {"epochs": 3 if args.smoke else args.epochs}
    given |= {"patience": args.patience, "stop_on": args.stop_on}
    options = {name: value for name, value in given.items() if value is not None}
    print(describe(info))
    per_seed = {
        family: [
            function_calibration(family, seed, options, args.num_samples) for seed in range(seeds)
        ]
        for family in families
    }
    summary = {
        family: {key: spread([r[key] for r in runs]) for key in (*KEYS, "coverage_90", "seconds")}
        for family, runs in per_seed.items()
    }
    rows = [{"family": family, **entry} for family, entry in summary.items()]
    columns = [("family", lambda r: r["family"])]
    for key in (*KEYS, "coverage_90"):
        columns.append((key, lambda r, k=key: f"{r[k]['mean']:.3f} ± {r[k]['sd']:.3f}"))
    print(f"\ndemo test rows, {seeds} seed(s): the function's bands against the truth")
    print_table(rows, columns)
    payload = {
        "machine": info,
        "smoke": args.smoke,
        "options": options,
        "per_seed": per_seed,
        "summary": summary,
    }
    write_json(args.out, payload)
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
