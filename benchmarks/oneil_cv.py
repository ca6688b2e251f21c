"""Accuracy on O'Neil, DeepSynergy protocol: 5-fold CV over the published folds.

For each fold k of ``oneil/labels.csv`` (leave-combination-out), every method is trained on
the other four folds (minus 10% of their pairs, held out for early stopping and for the point
estimates' interval width) and tested on fold k. Methods:

- ``FAMILY`` or ``FAMILY:PRIOR`` (a key of ``FAMILIES``, a key of ``PRIORS``; default prior
  normal): the package's own ``runs.fit_run`` with the library's defaults for that family
  (options given to this script override them for every family). Test metrics of the
  predictive (``num_samples`` draws, measurement noise included);
- ``onehot-mlp``: the one-hot MLP baseline (``onehot_mlp.py``: a plain torch network on the
  identities of drug A, drug B and line, both drug orders, 80 epochs), a point estimate;
- ``map``: the RECOVER network with every latent site a point estimate (``AutoDelta``, MAP).

The point estimates' intervals are a Gaussian around the prediction whose SD is the residual
SD on the validation part, so their NLL and coverage are analytic.

Metrics are on the original Loewe scale: Pearson, Spearman, RMSE, MSE, Gaussian NLL, 50% and
90% interval coverage, and fit seconds (training loop only, wall clock, machine shared). Each
(method, fold) result is cached as JSON, so the benchmark can be run in pieces
(``--folds 0,1`` now, ``--folds 2,3,4`` later) and resumed after an interruption; a final run
over all folds reuses the cache and writes the summary (mean, SD, min, max over folds)::

    SYNERGY_PPL_DATA=../shared/data python benchmarks/oneil_cv.py --folds 0,1,2,3,4

Published reference: DeepSynergy, Pearson 0.73 and MSE 255 on the same folds.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np
import torch
from common import add_common_options, describe, machine, print_table, spread, write_json
from onehot_mlp import fit_and_predict
from scipy import stats

from synergy_ppl.config import ModelConfig
from synergy_ppl.data import DataConfig
from synergy_ppl.errors import TrainingDiverged
from synergy_ppl.estimator import SynergyBNN
from synergy_ppl.inference.metrics import INTERVAL_LEVELS, gaussian_nll
from synergy_ppl.inference.svi import STOPPING_LOSSES
from synergy_ppl.model.families import FAMILIES, own_options
from synergy_ppl.model.priors import PRIORS
from synergy_ppl.runs import fit_run

POINT = "map"
BASELINE = "onehot-mlp"
DEFAULT_METHODS = (BASELINE, *FAMILIES)
METRICS = ("pearson", "spearman", "rmse", "mse", "nll", "coverage_50", "coverage_90")
SETTINGS = (
    "epochs",
    "patience",
    "stop_on",
    "refit",
    "batch_size",
    "lr",
    "guide_lr",
    "weight_decay",
    "dropout",
    "num_samples",
    "seed",
)
"""Options that change a fit's result (None: the library's default for the family); a cached
fit is reused only if they match."""
BASELINE_EPOCHS = 80
"""The one-hot MLP's epochs (its reference run: 0.715 after 40 epochs, 0.724 after 80)."""
REFERENCE = {"method": "DeepSynergy (published)", "pearson": 0.73, "mse": 255.0}
DIGITS = {
    **dict.fromkeys(METRICS, 3),
    "rmse": 1,
    "mse": 1,
    "fit_seconds": 0,
    "epochs_run": 0,
    "diverged": 0,
}
"""Printed columns and their decimals."""
HEADERS = {
    "coverage_50": "cov50",
    "coverage_90": "cov90",
    "fit_seconds": "fit s",
    "epochs_run": "epochs",
}


def point_metrics(mean: torch.Tensor, sd: float, y: torch.Tensor) -> dict[str, float]:
    """The keys of ``metrics.regression_metrics`` for a Gaussian predictive N(mean, sd^2).

    Coverage counts ``|y - mean| <= z * sd`` with z the Normal quantile of each level.
    """
    error = mean - y
    mse = torch.mean(error**2).item()
    mean_np, y_np = mean.double().numpy(), y.double().numpy()
    out = {
        "n": int(len(y)),
        "rmse": math.sqrt(mse),
        "mse": mse,
        "r2": 1.0 - float(np.sum((y_np - mean_np) ** 2) / np.sum((y_np - y_np.mean()) ** 2)),
        "pearson": float(stats.pearsonr(mean_np, y_np)[0]),
        "spearman": float(stats.spearmanr(mean_np, y_np)[0]),
        "nll": gaussian_nll(mean, torch.full_like(mean, sd), y),
    }
    for level in INTERVAL_LEVELS:
        z = stats.norm.ppf(0.5 + level / 2.0)
        out[f"coverage_{int(level * 100)}"] = (error.abs() <= z * sd).double().mean().item()
    return out


def parse_method(method: str) -> tuple[str, str]:
    """``FAMILY`` or ``FAMILY:PRIOR`` -> (family, prior); raises ValueError if unknown."""
    family, _, prior = method.partition(":")
    prior = prior or "normal"
    if family not in FAMILIES or prior not in PRIORS:
        raise ValueError(method)
    return family, prior


def model_config(method: str, args: argparse.Namespace) -> ModelConfig:
    """The fit options of ``method``: the family's defaults, then the options given here."""
    family, prior = ("recover", "normal") if method == POINT else parse_method(method)
    # an option of other families only (--dropout for factorization) is not this family's
    given = own_options(family, {name: getattr(args, name) for name in SETTINGS})
    if method == POINT:  # its interval SD needs validation rows it has not trained on
        given["refit"] = False
    return ModelConfig(
        model=family,
        prior=prior,
        guide=POINT if method == POINT else None,
        **{k: v for k, v in given.items() if v is not None},
    )


def fit_bayesian(method: str, data: DataConfig, args: argparse.Namespace, run_dir: Path) -> dict:
    """Fit one BNN through ``runs.fit_run`` (run directory kept) and return its test metrics."""
    _, metrics = fit_run(
        data, model_config(method, args), out=run_dir, overwrite=True, progress=False
    )
    return {
        **metrics["test"],
        "fit_seconds": metrics["fit_seconds"],
        "epochs_run": metrics["epochs_run"],
        "best_epoch": metrics["best_epoch"],
    }


def point_result(prediction, y, val_prediction, y_val, seconds, epochs, best_epoch) -> dict:
    """Test metrics of a point estimate, its interval SD the validation residual SD."""
    residual_sd = (val_prediction - y_val).std().item()
    return {
        **point_metrics(prediction, residual_sd, y),
        "residual_sd": residual_sd,
        "fit_seconds": seconds,
        "epochs_run": epochs,
        "best_epoch": best_epoch,
    }


def fit_point(data: DataConfig, args: argparse.Namespace) -> dict:
    """Fit the MAP network and return its test metrics with validation-residual intervals."""
    screen = data.load()
    split = data.split_of(screen)
    net = SynergyBNN.from_config(model_config(POINT, args)).fit(screen, split, progress=False)

    def scores_and_predictions(rows: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        table = screen.table.iloc[rows]
        prediction = net.sample(table, num_samples=1, noise=False)[0]
        return torch.tensor(table["score"].to_numpy(), dtype=torch.float32), prediction

    y_val, val_prediction = scores_and_predictions(split.val)
    y_test, test_prediction = scores_and_predictions(split.test)
    history = net.history
    return point_result(
        test_prediction,
        y_test,
        val_prediction,
        y_val,
        history.seconds,
        len(history.elbo),
        history.best_epoch + 1,
    )


def fit_baseline(data: DataConfig, args: argparse.Namespace) -> dict:
    """Fit the one-hot MLP on the training part and return its test metrics.

    Its interval SD is the residual SD on the validation part. With the library's ``refit``
    (the default), as the Bayesian fits do, its test predictions then come from a second fit
    on the training and validation parts together.
    """
    screen = data.load()
    split = data.split_of(screen)
    epochs = 1 if args.smoke else BASELINE_EPOCHS
    seed = args.seed or 0
    refit = ModelConfig().refit if args.refit is None else args.refit
    first = {"val": split.val} if refit else {"val": split.val, "test": split.test}
    predictions, seconds = fit_and_predict(screen.table, split.train, first, epochs, seed)
    if refit:  # the test predictions from a second fit on both parts
        every = np.concatenate([split.train, split.val])
        refitted, more = fit_and_predict(screen.table, every, {"test": split.test}, epochs, seed)
        predictions["test"], seconds = refitted["test"], seconds + more
    scores = torch.tensor(screen.table["score"].to_numpy(), dtype=torch.float32)
    return point_result(
        predictions["test"],
        scores[split.test],
        predictions["val"],
        scores[split.val],
        seconds,
        epochs,
        epochs,
    )


def cached_fit(method: str, fold: int, args: argparse.Namespace, cache: Path, info: dict) -> dict:
    """The test result of (method, fold): read from ``cache`` if there, else fitted and cached."""
    path = cache / f"{method}-fold{fold}.json"
    settings = {name: getattr(args, name) for name in SETTINGS}
    if path.exists():
        saved = json.loads(path.read_text())
        if saved["settings"] != settings:
            raise SystemExit(
                f"{path} was fitted with {saved['settings']}, not {settings}; "
                "pass another --cache or delete the file."
            )
        print(f"{method} fold {fold}: cached")
        return saved["test"]
    data = DataConfig(data="oneil", data_dir=args.data_dir, split="fold", test_fold=fold)
    try:
        if method == POINT:
            result = fit_point(data, args)
        elif method == BASELINE:
            result = fit_baseline(data, args)
        else:
            run_dir = cache.parent / "runs" / f"{method}-fold{fold}"
            result = fit_bayesian(method, data, args, run_dir)
    except TrainingDiverged as err:  # a result too: the method fails on this fold
        result = {"diverged": str(err)}
        print(f"{method} fold {fold}: {err}")
    else:
        print(
            f"{method} fold {fold}: pearson {result['pearson']:.3f}, mse {result['mse']:.1f}, "
            f"{result['fit_seconds']:.0f} s"
        )
    write_json(
        path,
        {"method": method, "fold": fold, "settings": settings, "machine": info, "test": result},
    )
    return result


def summarise(per_fold: dict[int, dict]) -> dict:
    """Mean, SD, min and max over the folds that finished of every metric and of the fit
    seconds, and the number of folds whose training diverged."""
    finished = [result for result in per_fold.values() if "diverged" not in result]
    keys = (*METRICS, "fit_seconds", "epochs_run") if finished else ()
    summary = {key: spread([result[key] for result in finished]) for key in keys}
    return {**summary, "diverged": len(per_fold) - len(finished)}


def print_summary(summary: dict[str, dict], n_folds: int) -> None:
    """One row per method: metric mean +- SD over folds, then the published reference."""

    def cell(key: str, digits: int):
        def fmt(row: dict) -> str:
            if key not in row:
                return "-"
            value = row[key]
            if isinstance(value, int | float):
                return f"{value:.{digits}f}"
            return f"{value['mean']:.{digits}f}±{value['sd']:.{digits}f}"

        return fmt

    rows = [{"method": method, **values} for method, values in summary.items()]
    rows.append(REFERENCE)
    columns = [("method", lambda row: row["method"])]
    columns += [(HEADERS.get(key, key), cell(key, digits)) for key, digits in DIGITS.items()]
    print(f"\nO'Neil, {n_folds} published fold(s), test metrics (mean±SD over folds)")
    print_table(rows, columns)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--methods",
        default=",".join(DEFAULT_METHODS),
        help=f"comma-separated: FAMILY[:PRIOR] ({', '.join(FAMILIES)}; priors "
        f"{', '.join(PRIORS)}), {BASELINE} or {POINT}",
    )
    parser.add_argument("--folds", default="0,1,2,3,4", help="test folds to run")
    for flag, kind in (
        ("--epochs", int),
        ("--patience", int),
        ("--batch-size", int),
        ("--lr", float),
        ("--guide-lr", float),
        ("--weight-decay", float),
        ("--dropout", float),
    ):
        parser.add_argument(flag, type=kind, help="default: the family's (the library's)")
    parser.add_argument(
        "--stop-on", choices=list(STOPPING_LOSSES), help="default: the library's (nll)"
    )
    parser.add_argument(
        "--refit",
        action=argparse.BooleanOptionalAction,
        help="refit on the training and validation parts after early stopping (default: the "
        "library's, on); the one-hot MLP follows it too",
    )
    parser.add_argument("--num-samples", type=int, default=200, help="predictive draws")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cache", help="per-fit JSON folder (default: <out without .json>/fits)")
    add_common_options(parser, "oneil_cv.json")
    args = parser.parse_args()
    if args.smoke:
        args.methods, args.folds = f"{BASELINE},factorization,{POINT}", "0"
        args.epochs, args.patience = 1, 1
        args.batch_size, args.num_samples = 1024, 20
    methods = args.methods.split(",")
    for method in methods:
        if method in (BASELINE, POINT):
            continue
        try:
            parse_method(method)
        except ValueError:
            parser.error(f"unknown method {method!r}; see --help")
    folds = [int(f) for f in args.folds.split(",")]
    info = machine(args.threads)
    print(describe(info))
    cache = Path(args.cache) if args.cache else Path(args.out).with_suffix("") / "fits"
    results: dict[str, dict[int, dict]] = {method: {} for method in methods}
    for fold in folds:  # fold-major, so that a partial run compares every method on each fold
        for method in methods:
            results[method][fold] = cached_fit(method, fold, args, cache, info)
    summary = {method: summarise(per_fold) for method, per_fold in results.items()}
    print_summary(summary, len(folds))
    payload = {
        "benchmark": "oneil_cv",
        "machine": info,
        "settings": {name: getattr(args, name) for name in SETTINGS},
        "smoke": args.smoke,
        "folds": folds,
        "point_estimate_intervals": "Gaussian, SD = residual SD on the validation part",
        "reference": REFERENCE,
        "summary": summary,
        "per_fold": results,
    }
    print(f"written to {write_json(args.out, payload)}")


if __name__ == "__main__":
    main()
