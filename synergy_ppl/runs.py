"""Run directories: where a fit writes its config, weights, metrics and predictions.

Layout of ``runs/<name>/``::

    config.json            the fully resolved options (data, split, model, training)
    model.pt               fitted parameters, feature matrices and score scaling
    metrics.json           train / val / test metrics, fit time, data summary
    predictions_test.csv   test rows with mean, std and quantiles of the predictive
    elbo.csv               epoch, loss (negative ELBO per row), validation RMSE
    screen.csv             the averaged screen with each row's split part

An existing, non-empty run directory is never overwritten unless asked.
"""

from __future__ import annotations

import json
import pickle
import time
from dataclasses import asdict, replace
from pathlib import Path

import pandas as pd
import torch

from .data import DataConfig, DataError
from .estimator import ARCHITECTURE, ModelConfig, SynergyBNN

RUN_FILES = ("config.json", "model.pt", "metrics.json", "screen.csv")


def new_run_dir(out: str | Path | None, prefix: str, overwrite: bool = False) -> Path:
    """Create the run directory (``runs/<prefix>-<timestamp>`` by default).

    Raises if ``out`` exists and is not empty, unless ``overwrite``.
    """
    if out is None:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        out = Path("runs") / f"{prefix}-{stamp}"
        suffix = 1
        while out.exists():
            out = Path("runs") / f"{prefix}-{stamp}-{suffix}"
            suffix += 1
    out = Path(out)
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise FileExistsError(
            f"{out} already exists and is not empty; choose another --out or pass --overwrite."
        )
    out.mkdir(parents=True, exist_ok=True)
    return out


def write_json(path: Path, payload: dict) -> None:
    path.write_text(json.dumps(payload, indent=2, default=_json_default) + "\n")


def _json_default(value):
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, tuple | set):
        return list(value)
    raise TypeError(f"cannot write {type(value).__name__} to JSON")


def save_fit(
    run_dir: Path,
    bnn: SynergyBNN,
    config: dict,
    metrics: dict,
    screen_table: pd.DataFrame,
    test_predictions: pd.DataFrame,
) -> None:
    """Write a fitted model and its evidence into ``run_dir``."""
    torch.save(bnn.state(), run_dir / "model.pt")
    write_json(run_dir / "config.json", config)
    write_json(run_dir / "metrics.json", metrics)
    screen_table.to_csv(run_dir / "screen.csv", index=False)
    test_predictions.to_csv(run_dir / "predictions_test.csv", index=False)
    history = bnn.history
    elbo = pd.DataFrame({"epoch": range(1, len(history.elbo) + 1), "loss": history.elbo})
    if history.val_rmse:
        elbo["val_rmse"] = history.val_rmse
    elbo.to_csv(run_dir / "elbo.csv", index=False)


def check_run_dir(run_dir: str | Path) -> Path:
    """Raise a clear error if ``run_dir`` is not a complete run directory."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise DataError(f"{run_dir}: no such run directory.")
    missing = [name for name in RUN_FILES if not (run_dir / name).exists()]
    if missing:
        raise DataError(
            f"{run_dir}: not a complete run directory, missing {missing}. "
            "Was the fit interrupted? Rerun `synergy-ppl fit`."
        )
    return run_dir


def load_fit(run_dir: str | Path) -> tuple[SynergyBNN, dict]:
    """The fitted model and resolved config of a run directory."""
    run_dir = check_run_dir(run_dir)
    try:
        config = json.loads((run_dir / "config.json").read_text())
    except json.JSONDecodeError as err:
        raise DataError(f"{run_dir / 'config.json'}: corrupt JSON ({err}).") from err
    try:
        state = torch.load(run_dir / "model.pt", map_location="cpu", weights_only=False)
        bnn = SynergyBNN.from_state(state)
    except (RuntimeError, KeyError, EOFError, OSError, ValueError, pickle.UnpicklingError) as err:
        raise DataError(
            f"{run_dir / 'model.pt'}: cannot be loaded ({type(err).__name__}: {err}). "
            "The file is corrupt or from an incompatible version; refit the run."
        ) from err
    return bnn, config


def read_screen(run_dir: str | Path) -> pd.DataFrame:
    """The run's averaged screen with its ``part`` column (train / val / test / unused)."""
    names = {"drug_a": str, "drug_b": str, "cell_line": str}
    return pd.read_csv(check_run_dir(run_dir) / "screen.csv", dtype=names)


def fit_run(
    data_config: DataConfig,
    model_config: ModelConfig,
    out: str | Path | None = None,
    overwrite: bool = False,
    progress: bool = True,
    prior_from: str | Path | None = None,
    transfer: str = "prior",
    widen: float = 1.0,
) -> tuple[Path, dict]:
    """Load, split, fit, evaluate and write a run directory. Returns (run_dir, metrics).

    ``prior_from`` (a fitted run directory, e.g. pretrained on other cell lines) starts the
    fit from that run's parameters, features and score scaling, with its architecture
    (``estimator.ARCHITECTURE``; the training options are this call's). ``transfer="prior"``
    also makes its posterior, widened by ``widen``, the prior of the Bayesian weights;
    ``"warm-start"`` keeps the configured prior (plain fine-tuning).
    """
    if transfer not in ("prior", "warm-start"):
        raise DataError(f"unknown transfer '{transfer}'; choose prior or warm-start.")
    init, priors = None, None
    if prior_from is not None:
        init = load_fit(prior_from)[0]
        model_config = replace(model_config, **{n: getattr(init.config, n) for n in ARCHITECTURE})
        priors = init.posterior_priors(widen) if transfer == "prior" else None
    screen = data_config.load()
    split = data_config.split_of(screen)
    # create the directory before the (long) fit, so a clash is reported at once
    run_dir = new_run_dir(out, f"fit-{Path(data_config.data).stem}", overwrite)
    bnn = SynergyBNN(model_config).fit(screen, split, progress=progress, init=init, priors=priors)
    parts = {"train": split.train, "val": split.val, "test": split.test}
    metrics = {
        part: bnn.evaluate(screen.table.iloc[rows]) for part, rows in parts.items() if len(rows)
    }
    metrics["fit_seconds"] = bnn.history.seconds
    metrics["epochs_run"] = len(bnn.history.elbo)
    metrics["best_epoch"] = bnn.history.best_epoch + 1
    metrics["data"] = {
        "rows_read": screen.n_rows_read,
        "triples": len(screen.table),
        "replicate_rows_averaged": int(screen.n_rows_read - len(screen.table)),
        "drugs": len(screen.drugs),
        "cell_lines": len(screen.cell_lines),
        "split_dropped_rows": split.dropped,
    }
    table = screen.table.assign(part=split.labels(len(screen.table)))
    test_predictions = bnn.predict(screen.table.iloc[split.test])
    config = {"data": asdict(data_config), "model": asdict(model_config)}
    if prior_from is not None:
        config["transfer"] = {"from": str(prior_from), "mode": transfer, "widen": widen}
    save_fit(run_dir, bnn, config, metrics, table, test_predictions)
    return run_dir, metrics
