"""Accuracy over screen shapes: ``fit``'s default against the simple baselines, on the same rows.

A default chosen on one screen is chosen for that screen. Each shape here is a kind of screen a
lab holds, with its own replicates (folds or split seeds):

- ``oneil``: O'Neil, the five published leave-combination-out folds (39 lines, 38 drugs);
- ``oneil-K``: the same folds on K of its lines (the first K by name; ``oneil-8`` in the
  tables);
- ``almanac-LINE``: one NCI-ALMANAC line (MCF7, SR, HT-29, A549, K-562), pair split, split
  seeds 0, 1, 2 (about 35 rows per drug);
- ``almanac``: the whole NCI-ALMANAC screen, pair split, seed 0;
- ``SHAPE+mono``: the same rows with the screen's single-agent responses as input
  (``oneil/monotherapy.csv``'s relative inhibition; ``almanac/monotherapy_gi50.csv``'s
  potency, 59 of 87 drugs).

Methods, each fitted on the training part (validation part for early stopping and the point
estimates' interval width; then, as ``fit`` does by default, refitted on both parts):

- ``default``: ``fit``'s defaults (``runs.fit_run`` with ``ModelConfig()``);
- ``factorization``: the factorisation on one-hot identities (``--model factorization``);
- ``hierarchical-single``: the default's family (``--model hierarchical``, the factorisation
  with chemistry-tied drug embeddings) without drug effects, fitted once (``--members 1
  --drug-effects 0``), ``hierarchical-2`` a mixture of two such fits (the default mixes four);
- ``drug-effects``, ``no-drug-effects``: the default with latent drug effects of prior SD 0.3
  on every screen (``--drug-effects 0.3``) and on none (``--drug-effects 0``); the default
  has them on a screen of at most 24 lines;
- ``tenth-validation``: the default with a tenth of the rest as validation on every screen
  (``--val-fraction 0.1``, the default before December 7 2026), where the default raises
  it towards 300 rows on a small screen;
- ``fp-factorization``: the factorisation with 1024-bit fingerprints beside the identities
  (``--n-bits 1024``), ``ard-factorization`` the same with the two blocks' prior scales learned
  (``--learned-scales``);
- ``recover-fp``: RECOVER on fingerprints and expression (``--model recover``), the first
  release's default;
- ``onehot-mlp``: the one-hot MLP of ``onehot_mlp.py`` (identities of A, B and the line; on a
  ``+mono`` shape with the pair's single-agent responses as further inputs);
- ``fp-mlp``: the same MLP with each drug's 1024-bit Morgan fingerprint beside its identity
  (DeepSynergy-style inputs);
- ``forest``: a random forest (200 trees) on the fingerprints' sum and absolute difference and
  the one-hot line, as in ``shared/notes``.

Point estimates get a Gaussian interval whose SD is their validation residual SD. Printed per
shape: Pearson, Spearman, MSE, NLL, 90% coverage and fit seconds, mean and standard error over
the replicates, and each candidate's paired difference to the best baseline (by Pearson).
Results are cached per (shape, replicate, method) under ``--cache``::

    SYNERGY_PPL_DATA=../shared/data python benchmarks/screens.py --shapes almanac-MCF7,almanac-SR
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from common import add_common_options, describe, machine, print_table, write_json
from onehot_mlp import fit_and_predict
from oneil_cv import point_result

from synergy_ppl.config import ModelConfig
from synergy_ppl.data import DataConfig
from synergy_ppl.data.features import build_features
from synergy_ppl.errors import TrainingDiverged
from synergy_ppl.runs import fit_run

ALMANAC_LINES = ("MCF7", "SR", "HT-29", "A549", "K-562")
METRICS = ("pearson", "spearman", "mse", "nll", "coverage_90", "fit_seconds")
BASELINE_EPOCHS = 80
"""Epochs of the MLP baselines (the one-hot MLP's reference run: 0.724 after 80)."""


MONOTHERAPY = {"oneil": "oneil/monotherapy.csv", "almanac": "almanac/monotherapy_gi50.csv"}
"""Each screen's single-agent table, under the data folder."""


def shape_replicates(shape: str, data_dir: str | None, smoke: bool) -> list[DataConfig]:
    """The data configs of ``shape``'s replicates (folds or split seeds); ``SHAPE+mono``
    gives them the screen's single-agent responses."""
    if shape.endswith("+mono"):
        base = shape_replicates(shape.removesuffix("+mono"), data_dir, smoke)
        root = Path(data_dir or os.environ.get("SYNERGY_PPL_DATA", "."))
        return [replace(d, monotherapy=str(root / MONOTHERAPY[d.data])) for d in base]
    if shape == "oneil" or shape.startswith("oneil-"):
        lines = None
        if shape != "oneil":
            count = shape.removeprefix("oneil-")
            if not count.isdigit() or int(count) < 1:
                raise SystemExit(f"unknown shape {shape!r}: oneil-K takes K >= 1 lines")
            table = DataConfig("oneil", data_dir=data_dir).load().table
            lines = ",".join(sorted(table["cell_line"].unique())[: int(count)])
        folds = (0,) if smoke else range(5)
        return [
            DataConfig("oneil", data_dir=data_dir, cell_line=lines, split="fold", test_fold=k)
            for k in folds
        ]
    if shape == "almanac":
        return [DataConfig("almanac", data_dir=data_dir, split="pair", split_seed=0)]
    if shape.startswith("almanac-"):
        line = shape.removeprefix("almanac-")
        seeds = (0,) if smoke else (0, 1, 2)
        return [
            DataConfig("almanac", data_dir=data_dir, cell_line=line, split="pair", split_seed=s)
            for s in seeds
        ]
    if shape == "demo":
        return [DataConfig("demo", split="pair", split_seed=s) for s in (0, 1)]
    raise SystemExit(f"unknown shape {shape!r}: oneil, oneil-K, almanac, almanac-LINE, demo")


def bayesian(model: dict, **data_options):
    """A method fitting ``ModelConfig(**model, seed=...)`` through ``fit_run``, on the shape's
    data with ``data_options`` replaced."""

    def fit(data: DataConfig, args: argparse.Namespace, run_dir: Path) -> dict:
        data = replace(data, **data_options)
        config = ModelConfig(**model, seed=args.seed, **({"epochs": 1} if args.smoke else {}))
        _, metrics = fit_run(data, config, out=run_dir, overwrite=True, progress=False)
        return {**metrics["test"], "fit_seconds": metrics["fit_seconds"]}

    return fit


def fingerprints(screen) -> pd.DataFrame:
    """The screen's drugs' 1024-bit Morgan fingerprints, one row per drug."""
    features = build_features(screen, n_bits=1024, one_hot_drugs=False, cell_components=0)
    return pd.DataFrame(features.drug_matrix.numpy(), index=features.drugs)


def single_agent_grid(screen) -> pd.DataFrame | None:
    """The screen's single-agent responses as drugs x lines, z-scored over the measured
    entries (NaN where missing); None without a table."""
    if screen.monotherapy is None:
        return None
    grid = screen.monotherapy.pivot_table(
        index="drug", columns="cell_line", values="value", aggfunc="median"
    )
    values = grid.to_numpy()
    return (grid - np.nanmean(values)) / np.nanstd(values)


def refitted_point(predict, screen, split) -> dict:
    """A point method's test metrics: ``predict(train_rows, {name: rows})`` fitted on the
    training part (validation residual SD), then on both parts for the test rows."""
    start = time.perf_counter()
    first = predict(split.train, {"val": split.val})
    both = np.concatenate([split.train, split.val])
    test = predict(both, {"test": split.test})
    scores = torch.tensor(screen.table["score"].to_numpy(), dtype=torch.float32)
    seconds = time.perf_counter() - start
    return point_result(
        test["test"], scores[split.test], first["val"], scores[split.val], seconds, 0, 0
    )


def mlp(with_fingerprints: bool):
    """The one-hot MLP, with fingerprints beside the identities if asked."""

    def fit(data: DataConfig, args: argparse.Namespace, run_dir: Path) -> dict:
        screen = data.load()
        split = data.split_of(screen)
        features = fingerprints(screen) if with_fingerprints else None
        single = single_agent_grid(screen)
        epochs = 1 if args.smoke else BASELINE_EPOCHS

        def predict(rows, wanted):
            out, _ = fit_and_predict(
                screen.table, rows, wanted, epochs, args.seed, features, single
            )
            return out

        return refitted_point(predict, screen, split)

    return fit


def forest(data: DataConfig, args: argparse.Namespace, run_dir: Path) -> dict:
    """A random forest on the pair's fingerprints and the one-hot line."""
    from sklearn.ensemble import RandomForestRegressor

    screen = data.load()
    split = data.split_of(screen)
    fp = fingerprints(screen)
    table = screen.table
    a, b = fp.loc[table["drug_a"]].to_numpy(), fp.loc[table["drug_b"]].to_numpy()
    lines = pd.get_dummies(table["cell_line"]).to_numpy(dtype=np.float32)
    x = np.hstack([a + b, np.abs(a - b), lines])
    y = table["score"].to_numpy()

    def predict(rows, wanted):
        model = RandomForestRegressor(
            n_estimators=20 if args.smoke else 200, random_state=args.seed, n_jobs=1
        ).fit(x[rows], y[rows])
        return {
            name: torch.tensor(model.predict(x[r]), dtype=torch.float32)
            for name, r in wanted.items()
        }

    return refitted_point(predict, screen, split)


BASELINES = {
    "recover-fp": bayesian({"model": "recover"}),
    "onehot-mlp": mlp(with_fingerprints=False),
    "fp-mlp": mlp(with_fingerprints=True),
    "forest": forest,
}
"""The simple baselines a default has to match: name -> ``fit(data, args, run_dir)``."""
CANDIDATES = {
    "default": bayesian({}),
    "factorization": bayesian({"model": "factorization"}),
    "hierarchical-single": bayesian({"model": "hierarchical", "members": 1, "drug_effects": 0.0}),
    "hierarchical-2": bayesian({"model": "hierarchical", "members": 2, "drug_effects": 0.0}),
    "drug-effects": bayesian({"drug_effects": 0.3}),
    "no-drug-effects": bayesian({"drug_effects": 0.0}),
    "tenth-validation": bayesian({}, val_fraction=0.1),
    "fp-factorization": bayesian({"model": "factorization", "n_bits": 1024}),
    "ard-factorization": bayesian(
        {"model": "factorization", "n_bits": 1024, "learned_scales": True}
    ),
}
"""``fit``'s default and the models that could replace it."""
METHODS = {**CANDIDATES, **BASELINES}


def cached(shape: str, k: int, method: str, data, args, cache: Path, info: dict) -> dict:
    """The test metrics of (shape, replicate k, method), fitted once and cached."""
    path = cache / shape / f"{method}-{k}-seed{args.seed}.json"
    if path.exists():
        return json.loads(path.read_text())["test"]
    try:
        result = METHODS[method](data, args, cache / "runs" / f"{shape}-{method}-{k}")
    except TrainingDiverged as err:
        result = {"diverged": str(err)}
    else:
        print(f"{shape} {k} {method}: pearson {result['pearson']:.3f}", flush=True)
    write_json(path, {"shape": shape, "replicate": k, "machine": info, "test": result})
    return result


def mean_se(values: list[float]) -> tuple[float, float]:
    """Mean and standard error (0 for one value)."""
    mean = float(np.mean(values))
    se = float(np.std(values, ddof=1) / math.sqrt(len(values))) if len(values) > 1 else 0.0
    return mean, se


def summarise(shape: str, results: dict[str, list[dict]]) -> list[dict]:
    """One row per method: each metric's mean and SE; each candidate's paired Pearson and MSE
    differences to the best baseline (by mean Pearson) over the replicates."""
    rows = []
    for method, per_replicate in results.items():
        finished = [r for r in per_replicate if "diverged" not in r]
        row = {"shape": shape, "method": method, "n": len(finished)}
        for metric in METRICS:
            row[metric] = mean_se([r[metric] for r in finished]) if finished else (math.nan, 0)
        rows.append(row)
    baselines = [r for r in rows if r["method"] in BASELINES and r["n"]]
    if not baselines:
        return rows
    best = max(baselines, key=lambda r: r["pearson"][0])
    for row in rows:
        if row["method"] not in CANDIDATES:
            continue
        for metric in ("pearson", "mse"):
            pairs = zip(results[row["method"]], results[best["method"]], strict=True)
            differences = [d[metric] - b[metric] for d, b in pairs if "diverged" not in d | b]
            row[f"vs_best_{metric}"] = (best["method"], *mean_se(differences))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    default_shapes = ",".join(["oneil", "oneil-8", *[f"almanac-{x}" for x in ALMANAC_LINES]])
    parser.add_argument("--shapes", default=default_shapes)
    parser.add_argument("--methods", default=",".join(METHODS), help=f"of {', '.join(METHODS)}")
    parser.add_argument("--seed", type=int, default=0, help="seed of every method's fit")
    parser.add_argument(
        "--replicates", type=int, help="only the first K folds or split seeds of each shape"
    )
    parser.add_argument("--cache", help="folder of cached results (default: beside --out)")
    add_common_options(parser, "screens.json")
    args = parser.parse_args()
    info = machine(args.threads)
    if args.smoke:
        args.shapes = "demo"
    cache = Path(args.cache) if args.cache else Path(args.out).with_suffix("")
    rows = []
    for shape in args.shapes.split(","):
        replicates = shape_replicates(shape, args.data_dir, args.smoke)[: args.replicates]
        results = {
            method: [
                cached(shape, k, method, data, args, cache, info)
                for k, data in enumerate(replicates)
            ]
            for method in args.methods.split(",")
        }
        rows += summarise(shape, results)
    print(describe(info))

    def cell(metric: str, digits: int):
        return lambda r: f"{r[metric][0]:.{digits}f} ± {r[metric][1]:.{digits}f}"

    print_table(
        rows,
        [
            ("shape", lambda r: r["shape"]),
            ("method", lambda r: r["method"]),
            ("n", lambda r: str(r["n"])),
            ("pearson", cell("pearson", 3)),
            ("spearman", cell("spearman", 3)),
            ("mse", cell("mse", 1)),
            ("nll", cell("nll", 3)),
            ("cov90", cell("coverage_90", 3)),
            ("fit s", cell("fit_seconds", 0)),
        ],
    )
    for row in rows:
        if "vs_best_pearson" in row:
            (best, p, p_se), (_, m, m_se) = row["vs_best_pearson"], row["vs_best_mse"]
            print(
                f"{row['shape']}: {row['method']} - {best} Pearson {p:+.3f} (SE {p_se:.3f}), "
                f"MSE {m:+.1f} (SE {m_se:.1f})"
            )
    out = write_json(args.out, {"smoke": args.smoke, "machine": info, "rows": rows})
    print(f"written to {out}")


if __name__ == "__main__":
    main()
