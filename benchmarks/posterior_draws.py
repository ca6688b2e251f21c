"""Posterior draws from the guide alone against the model and guide together.

Every epoch of a fit with validation rows draws the posterior (``svi.validation_nll``: 32
joint draws of the members' mixture), and so does every prediction. The draws come from the
guide; ``inference.predictive.draw_posterior`` runs the guide alone, vectorised over the
draws, its sites read from the guide's prototype trace. Before, it traced the guide once to
list its sites and then ran ``Predictive(model, guide)``, which traces the network again
beside the guide; the values are the same. Both ways, in one run:

- ``draws``: milliseconds per call of each way on the fitted default (``--repeats`` calls of
  8 and of 200 draws, alternating), and a check that both return the same tensors;
- ``fit``: ``fit``'s default on ``--data`` (the built-in demo: its 4 lines get latent drug
  effects and run to about 290 epochs) with each way patched into the fit, fit seconds and
  the test metrics (the same for both).

``--smoke`` fits 3 epochs::

    python benchmarks/posterior_draws.py --threads 1
"""

from __future__ import annotations

import argparse
import statistics
import time
from unittest import mock

import torch
from common import add_common_options, describe, machine, print_table, write_json
from pyro import poutine
from pyro.infer import Predictive

from synergy_ppl.config import ModelConfig
from synergy_ppl.data import DataConfig
from synergy_ppl.estimator import SynergyBNN
from synergy_ppl.inference import predictive
from synergy_ppl.model.network import dummy_triples


def model_and_guide_draws(model, guide, num_samples: int, seed: int = 0) -> dict:
    """The previous ``draw_posterior``, as it was: the guide's sample sites from a trace of
    the guide, then ``Predictive(model, guide)``."""
    dummy = dummy_triples(model.net.drug_matrix.device)
    with torch.random.fork_rng(), torch.no_grad():
        sites = [
            name
            for name, site in poutine.trace(guide).get_trace(*dummy).nodes.items()
            if site["type"] == "sample"
        ]
        torch.manual_seed(seed)
        draws = Predictive(
            model, guide=guide, num_samples=num_samples, return_sites=sites, parallel=True
        )(*dummy)
    return {name: value.squeeze(1).detach() for name, value in draws.items()}


WAYS = {"guide alone": predictive.draw_posterior, "model and guide": model_and_guide_draws}


def fit(data: DataConfig, way, epochs: int | None) -> tuple[SynergyBNN, dict]:
    """``fit``'s default on ``data`` with ``way`` drawing the posterior; (model, result)."""
    screen = data.load()
    split = data.split_of(screen)
    config = ModelConfig(seed=0, **({"epochs": epochs} if epochs else {}))
    with mock.patch.object(predictive, "draw_posterior", way):
        start = time.perf_counter()
        bnn = SynergyBNN.from_config(config).fit(screen, split, progress=False)
        seconds = time.perf_counter() - start
        test = bnn.evaluate(screen.table.iloc[split.test])
    return bnn, {"seconds": seconds, "epochs": len(bnn.history.elbo), **test}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default="demo")
    parser.add_argument("--repeats", type=int, default=20)
    add_common_options(parser, "posterior_draws.json")
    args = parser.parse_args()
    info = machine(args.threads)
    data = DataConfig(args.data, data_dir=args.data_dir)
    epochs = 3 if args.smoke else None

    fit(data, predictive.draw_posterior, 1)  # warm-up: the first fit of a process pays imports
    fits = {name: fit(data, way, epochs) for name, way in WAYS.items()}
    bnn = fits["guide alone"][0]
    model, guide = bnn.posterior.model, bnn.posterior.guide
    rows = []
    for num_samples in (8, 200):
        times: dict[str, list[float]] = {name: [] for name in WAYS}
        for _ in range(1 if args.smoke else args.repeats):
            for name, way in WAYS.items():
                start = time.perf_counter()
                way(model, guide, num_samples, 0)
                times[name].append(1000 * (time.perf_counter() - start))
        alone, both = (way(model, guide, num_samples, 0) for way in WAYS.values())
        same = alone.keys() == both.keys() and all(torch.equal(alone[k], both[k]) for k in alone)
        ms = {name: statistics.median(values) for name, values in times.items()}
        rows.append({"draws": num_samples, "same": same, **ms})
    print(describe(info))
    print_table(
        rows,
        [
            ("draws", lambda r: str(r["draws"])),
            ("same values", lambda r: str(r["same"])),
            *((f"{name} ms", lambda r, n=name: f"{r[n]:.1f}") for name in WAYS),
            ("ratio", lambda r: f"{r['guide alone'] / r['model and guide']:.2f}"),
        ],
    )
    results = [{"way": name, **result} for name, (_, result) in fits.items()]
    print_table(
        results,
        [
            ("fit with", lambda r: r["way"]),
            ("seconds", lambda r: f"{r['seconds']:.1f}"),
            ("epochs", lambda r: str(r["epochs"])),
            ("test pearson", lambda r: f"{r['pearson']:.4f}"),
            ("test nll", lambda r: f"{r['nll']:.4f}"),
        ],
    )
    ratio = results[0]["seconds"] / results[1]["seconds"]
    print(f"fit seconds, guide alone / model and guide: {ratio:.2f}")
    path = write_json(
        args.out, {"machine": info, "smoke": args.smoke, "draws": rows, "fit": results}
    )
    print(f"written to {path}")


if __name__ == "__main__":
    main()
