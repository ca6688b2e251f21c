"""Prediction speed: 100 posterior samples over 5,000 and 50,000 candidates.

A model with the package's default (RECOVER) layer sizes is fitted briefly on O'Neil (fold 0
training part; the weights need not be good) and saved. Candidates are random
(drug A != drug B, cell line) triples of O'Neil's 38 drugs and 39 cell lines. Two paths:

- ``project``: ``SynergyBNN.sample(pairs, num_samples, noise=False)``: the latent sites drawn
  once, the deterministic trunk run once per candidate chunk, the Bayesian head vectorised
  over the draws (``predictive.draw_posterior`` + ``network_samples``);
- ``naive``: ``pyro.infer.Predictive(model, guide=guide, num_samples=S)`` as a user would
  write it (sequential, ``parallel=False``): the whole model is rerun once per draw.

Both time the call from the candidate table (encoding included). Each measurement runs in a
fresh process (so that its memory is its own): the process loads the saved model, builds the
candidates, warms up on 10 candidates, resets the kernel's peak-RSS mark
(``/proc/self/clear_refs``, Linux), then records the wall-clock time of the call and its peak
memory: the peak resident set during the call (``VmHWM``) minus the resident set just before
it (RSS counts torch's allocations, which ``tracemalloc`` does not see). Measurements
alternate (project, naive, project, ...) and medians are reported. The naive path is linear
in the number of draws (each draw is an independent rerun), so above ``--naive-cap``
candidates it is run with ``--naive-samples`` draws and its time scaled to ``num_samples``;
the JSON marks such numbers ``estimated`` (its memory is that of the shorter run)::

    SYNERGY_PPL_DATA=../shared/data python benchmarks/prediction_speed.py
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from common import add_common_options, describe, machine, print_table, write_json
from pyro.infer import Predictive

from synergy_ppl.config import ModelConfig
from synergy_ppl.data import DataConfig
from synergy_ppl.data.features import encode_pairs
from synergy_ppl.estimator import SynergyBNN
from synergy_ppl.runs import load_state


def fit_briefly(data_dir: str | None, epochs: int, path: Path) -> dict:
    """Fit the default network on O'Neil fold 0 for a few epochs and save its state."""
    config = DataConfig(data="oneil", data_dir=data_dir, split="fold", test_fold=0)
    screen = config.load()
    bnn = SynergyBNN.from_config(
        ModelConfig(model="recover", epochs=epochs, batch_size=512, lr=1e-2)
    )
    bnn.fit(screen, config.split_of(screen), progress=False)
    torch.save(bnn.state(), path)
    cfg = bnn.config
    return {
        "epochs": epochs,
        "drug_layers": cfg.drug_layers,
        "merge_dim": cfg.merge_dim,
        "head_layers": cfg.head_layers,
        "bayesian": cfg.bayesian,
        "drugs": len(bnn.features.drugs),
        "cell_lines": len(bnn.features.cell_lines),
    }


def candidates(bnn: SynergyBNN, n: int, seed: int = 0) -> pd.DataFrame:
    """``n`` random (drug A, drug B, cell line) triples of the model's drugs, A != B."""
    rng = np.random.default_rng(seed)
    drugs, cells = np.array(bnn.features.drugs), np.array(bnn.features.cell_lines)
    a = rng.integers(len(drugs), size=n)
    b = (a + rng.integers(1, len(drugs), size=n)) % len(drugs)
    return pd.DataFrame(
        {
            "drug_a": drugs[a],
            "drug_b": drugs[b],
            "cell_line": cells[rng.integers(len(cells), size=n)],
        }
    )


def predict_project(bnn: SynergyBNN, pairs: pd.DataFrame, num_samples: int, seed: int):
    """The package's path: draws once, trunk once per chunk, head vectorised."""
    return bnn.sample(pairs, num_samples=num_samples, seed=seed, noise=False)


def predict_naive(bnn: SynergyBNN, pairs: pd.DataFrame, num_samples: int, seed: int):
    """What a user would write: sequential ``Predictive`` rerunning the model per draw."""
    torch.manual_seed(seed)
    triples = encode_pairs(bnn.features, pairs)
    return Predictive(bnn.model, guide=bnn.guide, num_samples=num_samples)(*triples)["obs"]


PATHS = {"project": predict_project, "naive": predict_naive}


def memory_mb() -> tuple[float, float]:
    """(current, peak) resident set size in MB, from /proc/self/status (Linux)."""
    fields = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines())
    return tuple(int(fields[key].split()[0]) / 1024 for key in ("VmRSS", "VmHWM"))


def measure_once(
    state_path: str, path: str, n: int, num_samples: int, seed: int, threads: int
) -> dict:
    """In a fresh process: seconds and peak-memory rise (MB) of one prediction call."""
    torch.set_num_threads(threads)
    bnn = SynergyBNN.from_state(load_state(state_path))
    pairs = candidates(bnn, n)
    predict = PATHS[path]
    predict(bnn, pairs.head(10), 2, seed + 1)  # warm-up: lazy initialisation, first-call costs
    Path("/proc/self/clear_refs").write_text("5")  # resets the peak (VmHWM) to the current RSS
    before, _ = memory_mb()
    start = time.perf_counter()
    predict(bnn, pairs, num_samples, seed)
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "peak_mb": memory_mb()[1] - before}


def measure(state_path: Path, n: int, args: argparse.Namespace) -> dict:
    """Interleaved project / naive measurements at ``n`` candidates, medians of each."""
    naive_samples = args.num_samples if n <= args.naive_cap else args.naive_samples
    draws = {"project": args.num_samples, "naive": naive_samples}
    runs: dict[str, list[dict]] = {"project": [], "naive": []}
    context = get_context("spawn")
    for repeat in range(args.repeats):
        for path in ("project", "naive"):
            with ProcessPoolExecutor(1, mp_context=context) as pool:
                job = (str(state_path), path, n, draws[path], repeat, args.threads)
                runs[path].append(pool.submit(measure_once, *job).result())
    scale = args.num_samples / naive_samples
    project = statistics.median(r["seconds"] for r in runs["project"])
    naive = scale * statistics.median(r["seconds"] for r in runs["naive"])
    return {
        "candidates": n,
        "num_samples": args.num_samples,
        "project_seconds": project,
        "naive_seconds": naive,
        "naive_estimated": naive_samples != args.num_samples,
        "naive_samples_run": naive_samples,
        "speedup": naive / project,
        "project_peak_mb": statistics.median(r["peak_mb"] for r in runs["project"]),
        "naive_peak_mb": statistics.median(r["peak_mb"] for r in runs["naive"]),
        "runs": runs,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--candidates", default="5000,50000", help="comma-separated pool sizes")
    parser.add_argument("--num-samples", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3, help="measurements per path and size")
    parser.add_argument("--naive-cap", type=int, default=5000, help="largest full naive run")
    parser.add_argument("--naive-samples", type=int, default=10, help="naive draws above the cap")
    parser.add_argument("--fit-epochs", type=int, default=3)
    add_common_options(parser, "prediction_speed.json")
    args = parser.parse_args()
    if args.smoke:
        args.candidates, args.num_samples, args.repeats = "500", 10, 1
        args.naive_cap, args.naive_samples, args.fit_epochs = 200, 2, 1
    info = machine(args.threads)
    print(describe(info))
    with tempfile.TemporaryDirectory() as tmp:
        state_path = Path(tmp) / "model.pt"
        model = fit_briefly(args.data_dir, args.fit_epochs, state_path)
        results = [measure(state_path, int(n), args) for n in args.candidates.split(",")]
    print(
        f"\n{args.num_samples} posterior samples, median of {args.repeats} runs per path "
        "(fresh process each; memory = rise of peak RSS during the call)"
    )
    print_table(
        results,
        [
            ("candidates", lambda r: f"{r['candidates']:,}"),
            ("project s", lambda r: f"{r['project_seconds']:.2f}"),
            (
                "naive s",
                lambda r: f"{r['naive_seconds']:.1f}" + (" (est.)" if r["naive_estimated"] else ""),
            ),
            ("speed-up", lambda r: f"{r['speedup']:.0f}x"),
            ("project MB", lambda r: f"{r['project_peak_mb']:.0f}"),
            ("naive MB", lambda r: f"{r['naive_peak_mb']:.0f}"),
        ],
    )
    payload = {
        "benchmark": "prediction_speed",
        "machine": info,
        "smoke": args.smoke,
        "model": model,
        "memory": "peak RSS during the call (VmHWM after clear_refs) minus RSS before it",
        "goal_speedup_at_5000": 40,
        "results": results,
    }
    print(f"written to {write_json(args.out, payload)}")


if __name__ == "__main__":
    main()
