"""Seconds per active-learning round on a whole screen: the BNN against the random forest.

One round of ``synergy-ppl simulate`` with ``--revealed`` pairs measured (random, fixed
seed) and the rest of the pool as candidates, timed from the revealed indices to the chosen
batch, for

- ``bnn``: the round's fit as ``benchmarks/active_learning.py`` runs it (same options), 100
  joint draws over the pool, UCB top-30 (``active.BNNProposer``);
- ``forest``: the benchmark's random-forest UCB (200 trees, scikit-learn), fit and the
  per-tree predictions over the pool.

The two are measured alternately (bnn, forest, bnn, ...) ``--repeats`` times on an otherwise
idle machine (the JSON records the load) and medians are reported::

    SYNERGY_PPL_DATA=../shared/data python benchmarks/round_time.py
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
from active_learning import add_round_model_options, forest_ucb, round_model
from common import add_common_options, describe, machine, print_table, write_json

from synergy_ppl.active import BatchChoice, BNNProposer, Pool
from synergy_ppl.data import DataConfig


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default="almanac")
    parser.add_argument("--revealed", type=int, default=300, help="pairs measured so far")
    parser.add_argument("--batch-size", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=3)
    add_round_model_options(parser)
    add_common_options(parser, "round_time.json")
    args = parser.parse_args()
    info = machine(args.threads)
    if args.smoke:
        args.data, args.revealed, args.repeats, args.epochs = "demo", 40, 1, 5

    screen = DataConfig(args.data, data_dir=args.data_dir).load()
    pool = Pool.of(screen.table)
    revealed = np.random.default_rng(0).permutation(len(pool.scores))[: args.revealed]
    model = round_model(args)
    proposers = {
        "bnn": BNNProposer(screen, pool, BatchChoice("ucb", args.batch_size), model, seed=0),
        "forest": forest_ucb(args.batch_size)(pool, screen, 0),
    }
    seconds: dict[str, list[float]] = {name: [] for name in proposers}
    for repeat in range(args.repeats):
        for name, propose in proposers.items():
            start = time.perf_counter()
            batch = propose(revealed, repeat + 1)
            seconds[name].append(time.perf_counter() - start)
            assert len(batch) == args.batch_size and not np.isin(batch, revealed).any()
    results = [
        {"method": name, "median_seconds": statistics.median(values), "seconds": values}
        for name, values in seconds.items()
    ]
    ratio = results[0]["median_seconds"] / results[1]["median_seconds"]
    print(describe(info))
    print(f"{args.data}: pool of {len(pool.scores)}, {args.revealed} revealed, one round")
    print_table(
        results,
        [
            ("method", lambda r: r["method"]),
            ("median s/round", lambda r: f"{r['median_seconds']:.1f}"),
            ("runs", lambda r: " ".join(f"{s:.1f}" for s in r["seconds"])),
        ],
    )
    print(f"bnn / forest: {ratio:.2f}")
    payload = {
        "machine": info,
        "smoke": args.smoke,
        "data": args.data,
        "pool": len(pool.scores),
        "revealed": args.revealed,
        "model": vars(model),
        "results": results,
        "bnn_over_forest": ratio,
    }
    print(f"written to {write_json(args.out, payload)}")


if __name__ == "__main__":
    main()
