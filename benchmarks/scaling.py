"""Scaling: fit seconds per epoch and prediction seconds as the training set grows.

Training sets are nested random subsets of NCI-ALMANAC's unordered (pair, cell line) triples
(74,139 after averaging replicates; the largest size asked for is capped at that). For each
size the package's default model is fitted through ``SynergyBNN.fit`` for ``--epochs``
epochs (no validation rows, so no early stopping; seconds per epoch = ``History.seconds`` /
epochs, the training loop only), then ``SynergyBNN.sample(pool, 100, noise=False)`` is timed
over a pool of the same size (the training rows themselves). Sizes are measured round-robin
(all sizes, then all again, ``--repeats`` times) so that changing machine load spreads over
all of them, and medians are reported. Growth is summarised as seconds per 1,000 rows and as
the exponent b of a least-squares fit of log(seconds) = a + b log(rows)::

    SYNERGY_PPL_DATA=../shared/data python benchmarks/scaling.py
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
from common import add_common_options, describe, machine, print_table, write_json

from synergy_ppl.config import ModelConfig
from synergy_ppl.data import DataConfig, Screen, Split
from synergy_ppl.estimator import SynergyBNN


def nested_subsets(n_rows: int, sizes: list[int], seed: int = 0) -> dict[int, np.ndarray]:
    """Row indices of each size, each subset containing the smaller ones (capped at ``n_rows``)."""
    order = np.random.default_rng(seed).permutation(n_rows)
    return {min(size, n_rows): np.sort(order[: min(size, n_rows)]) for size in sizes}


def measure_once(screen: Screen, rows: np.ndarray, args: argparse.Namespace) -> dict:
    """Fit on ``rows`` for ``args.epochs`` epochs, then sample over the same rows."""
    empty = np.array([], dtype=int)
    config = ModelConfig(model="recover", epochs=args.epochs, batch_size=args.batch_size)
    bnn = SynergyBNN.from_config(config).fit(
        screen, Split(rows, empty, empty, "random"), progress=False
    )
    pool = screen.table.iloc[rows]
    start = time.perf_counter()
    bnn.sample(pool, num_samples=args.num_samples, noise=False)
    return {
        "epoch_seconds": bnn.history.seconds / len(bnn.history.elbo),
        "predict_seconds": time.perf_counter() - start,
    }


def growth(sizes: list[int], seconds: list[float]) -> float:
    """Exponent b of log(seconds) = a + b log(rows), least squares (nan for one size)."""
    if len(sizes) < 2:
        return float("nan")
    return float(np.polyfit(np.log(sizes), np.log(seconds), 1)[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000,5000,20000,75000", help="training rows")
    parser.add_argument("--epochs", type=int, default=3, help="epochs per fit")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--num-samples", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    add_common_options(parser, "scaling.json")
    args = parser.parse_args()
    if args.smoke:
        args.sizes, args.epochs, args.num_samples, args.repeats = "300,1000", 1, 10, 1
    info = machine(args.threads)
    print(describe(info))
    screen = DataConfig(data="almanac", data_dir=args.data_dir).load()
    subsets = nested_subsets(len(screen.table), [int(s) for s in args.sizes.split(",")])
    runs: dict[int, list[dict]] = {size: [] for size in subsets}
    for _ in range(args.repeats):
        for size, rows in subsets.items():
            runs[size].append(measure_once(screen, rows, args))
    results = [
        {
            "rows": size,
            "epoch_seconds": statistics.median(r["epoch_seconds"] for r in runs[size]),
            "predict_seconds": statistics.median(r["predict_seconds"] for r in runs[size]),
            "runs": runs[size],
        }
        for size in subsets
    ]
    for result in results:
        result["epoch_seconds_per_1k_rows"] = 1000 * result["epoch_seconds"] / result["rows"]
        result["predict_seconds_per_1k_rows"] = 1000 * result["predict_seconds"] / result["rows"]
    sizes = [r["rows"] for r in results]
    exponents = {
        key: growth(sizes, [r[key] for r in results])
        for key in ("epoch_seconds", "predict_seconds")
    }
    print(
        f"\nNCI-ALMANAC random subsets, batch {args.batch_size}, median of {args.repeats}; "
        f"prediction = {args.num_samples} samples over a pool of the same size"
    )
    print_table(
        results,
        [
            ("rows", lambda r: f"{r['rows']:,}"),
            ("epoch s", lambda r: f"{r['epoch_seconds']:.2f}"),
            ("epoch s / 1k rows", lambda r: f"{r['epoch_seconds_per_1k_rows']:.3f}"),
            ("predict s", lambda r: f"{r['predict_seconds']:.2f}"),
            ("predict s / 1k rows", lambda r: f"{r['predict_seconds_per_1k_rows']:.3f}"),
        ],
    )
    print(
        f"growth exponent b (seconds ~ rows^b): epoch {exponents['epoch_seconds']:.2f}, "
        f"prediction {exponents['predict_seconds']:.2f}"
    )
    payload = {
        "benchmark": "scaling",
        "machine": info,
        "smoke": args.smoke,
        "data": f"almanac, {len(screen.table)} unordered triples",
        "settings": {
            "epochs": args.epochs,
            "batch_size": args.batch_size,
            "num_samples": args.num_samples,
            "repeats": args.repeats,
        },
        "growth_exponent": exponents,
        "results": results,
    }
    print(f"written to {write_json(args.out, payload)}")


if __name__ == "__main__":
    main()
