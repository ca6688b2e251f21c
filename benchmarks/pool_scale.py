"""Seconds and peak memory of ``recommend`` over growing pools: the package's path against the
one it replaced, in one run.

- ``now``: the pool streamed once in blocks (each line's pair grid as matrix products for
  the factorisation, every drug and line encoded once), the strategy choosing from a
  shortlist (``active.shortlist``);
- ``before``: the whole network run on every chunk of candidates and the joint draws of the
  whole pool ``(S, N)`` held at once (the code before; only up to ``--before-max-pool``).

A synthetic screen of ``D`` drugs x ``C`` lines (``make_demo_screen``), ``--measured`` of
its triples revealed at random, is fitted once (``fit``'s default family, ``--epochs``); then
``recommend`` ranks every untested pair in every line (``C * D(D-1)/2 - measured``
candidates) with ``--num-samples`` joint draws. Peak memory is the largest resident size
during the call above the size before it (sampled every 20 ms). The reference is the
floating-point work of the ideal matrix products for the factorisation, ``S * C * D^2 * R``
multiply-adds, at the matmul rate measured here::

    python benchmarks/pool_scale.py --sizes 60x10,100x35,200x70
"""

from __future__ import annotations

import argparse
import os
import threading
import time

import numpy as np
import torch
from common import add_common_options, describe, machine, print_table, write_json
from pyro import poutine

import synergy_ppl as sp
import synergy_ppl.inference.posterior as posterior
from synergy_ppl.active.recommendation import untested_candidates
from synergy_ppl.active.shortlist import SHORTLIST
from synergy_ppl.data import DataConfig, make_demo_screen
from synergy_ppl.inference import predictive


def chunk_forward(model, draws, triples, chunk_size=None, progress=False) -> torch.Tensor:
    """``network_samples`` as it was: the whole conditioned network on every chunk."""
    num_samples = next(iter(draws.values())).shape[0]
    chunk_size = chunk_size or max(1, predictive.CHUNK_ELEMENTS // num_samples)
    weights = {k: v for k, v in draws.items() if k.startswith("net.")}
    samples = model.net.drug_matrix.new_empty(num_samples, len(triples[0]))
    with torch.no_grad():
        net = poutine.condition(model.net, data=weights)
        for start in range(0, len(triples[0]), chunk_size):
            chunk = tuple(t[start : start + chunk_size] for t in triples)
            samples[:, start : start + chunk_size] = net(*chunk)
    return samples


PATHS = {"now": predictive.network_samples, "before": chunk_forward}
"""How each path predicts a table (``SynergyBNN.sample``'s network pass)."""


class PeakMemory:
    """The largest resident set size (GB) above the start while the block runs, sampled."""

    def __enter__(self) -> PeakMemory:
        self.start = self.peak = _rss_gb()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()
        return self

    def _watch(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, _rss_gb())

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, _rss_gb())

    @property
    def above(self) -> float:
        return self.peak - self.start


def _rss_gb() -> float:
    with open("/proc/self/statm") as stream:
        return int(stream.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e9


def matmul_rate() -> float:
    """Multiply-adds per second of a (512 x 512) @ (512 x 512) float32 product here."""
    a, b = torch.randn(512, 512), torch.randn(512, 512)
    a @ b
    start = time.perf_counter()
    for _ in range(20):
        a @ b
    return 20 * 512**3 / (time.perf_counter() - start)


def screen_of(size: str, measured: int, data_dir: str | None, seed: int = 0):
    """``DxC``: a synthetic screen of D drugs x C lines with ``measured`` triples revealed at
    random; ``almanac``: the whole NCI-ALMANAC screen, every measured triple revealed."""
    if size == "almanac":
        return DataConfig("almanac", data_dir=data_dir).load()
    drugs, lines = (int(v) for v in size.split("x"))
    full = make_demo_screen(n_drugs=drugs, n_cell_lines=lines, untested_fraction=0.0, seed=seed)
    keep = np.zeros(len(full.table), bool)
    chosen = min(measured, len(full.table) // 2)
    keep[np.random.default_rng(seed).choice(len(full.table), chosen, replace=False)] = True
    return full.subset(keep)


def timed(path: str, call, *args, **kwargs):
    """(result, seconds, peak GB above the start) of ``call(*args, **kwargs)`` on ``path``'s
    prediction."""
    original, posterior.network_samples = posterior.network_samples, PATHS[path]
    try:
        with PeakMemory() as memory:
            start = time.perf_counter()
            result = call(*args, **kwargs)
            seconds = time.perf_counter() - start
    finally:
        posterior.network_samples = original
    return result, seconds, memory.above


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--sizes",
        default="75x8,100x35,200x70,almanac",
        help="DRUGSxLINES (synthetic) or almanac (the whole NCI-ALMANAC), comma-separated",
    )
    parser.add_argument("--strategies", default="ucb,thompson-batch")
    parser.add_argument("--before-max-pool", type=int, default=200_000)
    parser.add_argument("--measured", type=int, default=10_000)
    parser.add_argument("--num-samples", type=int, default=200)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=30)
    parser.add_argument(
        "--predict-rows", type=int, default=300_000, help="predict this many rows (0: none)"
    )
    add_common_options(parser, "pool_scale.json")
    args = parser.parse_args()
    info = machine(args.threads)
    if args.smoke:
        args.sizes, args.measured, args.num_samples, args.epochs = "12x3", 99, 40, 1
        args.predict_rows = 50
    rate = matmul_rate()
    rows, predictions = [], []
    for size in args.sizes.split(","):
        screen = screen_of(size, args.measured, args.data_dir)
        bnn = sp.SynergyBNN.from_config(sp.ModelConfig(epochs=args.epochs)).fit(
            screen, progress=False
        )
        pool = len(untested_candidates(screen.table))
        drugs, lines = len(screen.drugs), len(screen.cell_lines)
        ideal = args.num_samples * lines * drugs**2 * bnn.config.rank / rate
        for path in ("now", "before"):
            if path == "before" and pool > args.before_max_pool:
                continue
            for strategy in args.strategies.split(","):
                batch, seconds, peak = timed(
                    path,
                    sp.recommend,
                    bnn,
                    screen.table,
                    strategy=strategy,
                    batch_size=args.batch_size,
                    num_samples=args.num_samples,
                    shortlist_size=pool + 1 if path == "before" else SHORTLIST,
                )
                rows.append(
                    {
                        "size": size,
                        "pool": pool,
                        "path": path,
                        "strategy": strategy,
                        "seconds": seconds,
                        "peak_gb_above": peak,
                        "ideal_seconds": ideal,
                        "x_ideal": seconds / ideal,
                        "batch": batch[["drug_a", "drug_b", "cell_line"]].values.tolist(),
                    }
                )
                print(f"{size} {path} {strategy}: {seconds:.1f} s", flush=True)
        if args.predict_rows and pool >= args.predict_rows:
            table = untested_candidates(screen.table).head(args.predict_rows)
            for path in ("now", "before"):
                _, seconds, peak = timed(path, bnn.predict, table, args.num_samples, progress=False)
                predictions.append(
                    {
                        "size": size,
                        "rows": len(table),
                        "path": path,
                        "seconds": seconds,
                        "peak_gb_above": peak,
                    }
                )
                print(f"{size} {path} predict {len(table)} rows: {seconds:.1f} s", flush=True)
    for row in rows:  # the same batch whichever path predicted it (None: one path ran)
        twins = [r for r in rows if (r["size"], r["strategy"]) == (row["size"], row["strategy"])]
        row["same_batch"] = (
            all(r["batch"] == row["batch"] for r in twins) if len(twins) > 1 else None
        )
    print(describe(info))
    print(f"matmul rate {rate / 1e9:.1f} G multiply-adds/s")
    print_table(
        rows,
        [
            ("size", lambda r: r["size"]),
            ("pool", lambda r: f"{r['pool']:,}"),
            ("path", lambda r: r["path"]),
            ("strategy", lambda r: r["strategy"]),
            ("seconds", lambda r: f"{r['seconds']:.1f}"),
            ("peak GB", lambda r: f"{r['peak_gb_above']:.2f}"),
            ("ideal s", lambda r: f"{r['ideal_seconds']:.2f}"),
            ("x ideal", lambda r: f"{r['x_ideal']:.0f}"),
            ("same batch", lambda r: "-" if r["same_batch"] is None else str(r["same_batch"])),
        ],
    )
    for size in args.sizes.split(","):
        for strategy in args.strategies.split(","):
            times = {
                r["path"]: r["seconds"]
                for r in rows
                if (r["size"], r["strategy"]) == (size, strategy)
            }
            if len(times) == 2:  # both paths ran at this size
                ratio = times["before"] / times["now"]
                print(f"{size} {strategy}: now {ratio:.1f}x faster than before")
    if predictions:
        print_table(
            predictions,
            [
                ("size", lambda r: r["size"]),
                ("rows", lambda r: f"{r['rows']:,}"),
                ("path", lambda r: r["path"]),
                ("predict s", lambda r: f"{r['seconds']:.1f}"),
                ("peak GB", lambda r: f"{r['peak_gb_above']:.2f}"),
            ],
        )
    payload = {"smoke": args.smoke, "machine": info, "rows": rows, "predict": predictions}
    out = write_json(args.out, payload)
    print(f"written to {out}")


if __name__ == "__main__":
    main()
