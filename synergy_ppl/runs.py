"""Run directories: where a fit writes its config, weights, metrics and predictions.

Layout of ``runs/<name>/``::

    config.json            the fully resolved options (data, split, model, training)
    model.pt               fitted parameters, feature matrices and score scaling
    metrics.json           train / val / test metrics, fit time, data summary
    predictions_test.csv   test rows with mean, std and quantiles of the predictive
    elbo.csv               epoch, loss (negative ELBO per row), validation RMSE
    screen.csv             the averaged screen with each row's split part
    monotherapy.csv        the single-agent responses the model holds (only when it has
                           them): drug, cell_line, value (higher = more active)

An existing, non-empty run directory is never overwritten unless asked, and then only the
files a fit wrote there (listed in its ``.synergy-ppl.json`` manifest) are replaced. A run is
written whole into a hidden sibling folder and swapped in (:func:`~.outputs.replacing_folder`),
so an interrupted fit leaves the old run whole, and two fits into one folder at once are
refused (a lock beside it).
"""

from __future__ import annotations

import json
import math
import pickle
import time
from dataclasses import asdict
from pathlib import Path

import pandas as pd
import torch

from .config import ModelConfig
from .data import DataConfig, DataError, SingleAgentTable, read_pairs
from .data.features import encode_pairs
from .errors import TrainingDiverged
from .estimator import SynergyBNN
from .options import check_range
from .outputs import check_file, prepare_file, record, replacing_folder, write_json, write_output
from .run_monotherapy import MONOTHERAPY_FILE, fitted_monotherapy, grown_model
from .transfer import Transfer

RUN_FILES = ("config.json", "model.pt", "metrics.json", "screen.csv")
"""What a run directory must hold to be read back."""
FIT_WRITES = (*RUN_FILES, "predictions_test.csv", "elbo.csv", MONOTHERAPY_FILE)
"""Everything ``fit`` writes into a run directory (the single-agent table only with one)."""
SCREEN_COLUMNS = ("drug_a", "drug_b", "cell_line", "score", "part")


def default_run_dir(prefix: str) -> Path:
    """``runs/<prefix>-<timestamp>``, with a numeric suffix if that exists already."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    out, suffix = Path("runs") / f"{prefix}-{stamp}", 1
    while out.exists():
        out, suffix = Path("runs") / f"{prefix}-{stamp}-{suffix}", suffix + 1
    return out


def save_state(state: dict, path: Path) -> None:
    """Write a model state (tensors, numbers, strings, lists and dicts only), atomically."""
    write_output(path, lambda tmp: torch.save(state, tmp))


def load_state(path: str | Path) -> dict:
    """Read a model state written by :func:`save_state`.

    ``weights_only=True``: the file may hold only tensors and plain values, so a model file
    someone sends you cannot run code when it is read (a pickle of anything else is refused).
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such model file.")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, EOFError, OSError, ValueError, pickle.UnpicklingError) as err:
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise DataError(
            f"{path}: not a model file synergy-ppl can read safely ({reason[:200]}). "
            "It is corrupt, from another version, or holds more than weights; refit it."
        ) from err
    if not isinstance(state, dict):
        raise DataError(f"{path}: not a synergy-ppl model state; refit it.")
    return state


def model_from_state(state: dict, source: str | Path) -> SynergyBNN:
    """The fitted model of a loaded state, with an error naming ``source`` if it is broken."""
    try:
        return SynergyBNN.from_state(state)
    except (KeyError, TypeError, ValueError, RuntimeError, AttributeError) as err:
        if isinstance(err, DataError):
            raise DataError(f"{source}: {err}", parameter=err.parameters) from err
        raise DataError(
            f"{source}: the model state is incomplete or from an incompatible version "
            f"({type(err).__name__}: {str(err)[:200]}); refit the run."
        ) from err


def save_fit(
    run_dir: Path,
    bnn: SynergyBNN,
    config: dict,
    metrics: dict,
    screen_table: pd.DataFrame,
    test_predictions: pd.DataFrame,
    monotherapy: pd.DataFrame | None = None,
) -> None:
    """Write a fitted model and its evidence into ``run_dir`` (recorded as ours first), and
    its single-agent table ``monotherapy`` (tidy) if it has one."""
    skip = () if monotherapy is not None else (MONOTHERAPY_FILE,)
    record(run_dir, *(name for name in FIT_WRITES if name not in skip))
    if monotherapy is not None:
        path = run_dir / MONOTHERAPY_FILE
        write_output(path, lambda tmp: monotherapy.to_csv(tmp, index=False))
    save_state(bnn.state(), run_dir / "model.pt")
    write_json(run_dir / "config.json", config)
    write_json(run_dir / "metrics.json", metrics)
    write_output(run_dir / "screen.csv", lambda tmp: screen_table.to_csv(tmp, index=False))
    write_output(
        run_dir / "predictions_test.csv", lambda tmp: test_predictions.to_csv(tmp, index=False)
    )
    history = bnn.history
    elbo = pd.DataFrame({"epoch": range(1, len(history.elbo) + 1), "loss": history.elbo})
    for name, values in history.validation.items():
        elbo[f"val_{name}"] = values
    write_output(run_dir / "elbo.csv", lambda tmp: elbo.to_csv(tmp, index=False))


def check_run_dir(run_dir: str | Path) -> Path:
    """Raise a clear error if ``run_dir`` is not a complete run directory."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise DataError(f"{run_dir}: no such run directory.")
    missing = [name for name in RUN_FILES if not (run_dir / name).is_file()]
    if missing:
        raise DataError(
            f"{run_dir}: not a complete run directory, missing {missing}. "
            "Was the fit interrupted? Rerun `synergy-ppl fit`."
        )
    return run_dir


def read_run_json(run_dir: Path, name: str) -> dict:
    """A JSON object of the run (``config.json``, ``metrics.json``), or a clear error."""
    path = Path(run_dir) / name
    try:
        payload = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise DataError(f"{path}: corrupt JSON ({err}); refit the run.") from err
    if not isinstance(payload, dict) or not payload:
        raise DataError(f"{path}: empty or not a JSON object; the run is corrupt, refit it.")
    return payload


def load_fit(run_dir: str | Path) -> tuple[SynergyBNN, dict]:
    """The fitted model and resolved config of a run directory."""
    run_dir = check_run_dir(run_dir)
    config = read_run_json(run_dir, "config.json")
    if not isinstance(config.get("model"), dict) or not isinstance(config.get("data"), dict):
        raise DataError(
            f"{run_dir / 'config.json'}: has no 'data' and 'model' sections; the run is "
            "corrupt, refit it."
        )
    path = run_dir / "model.pt"
    return model_from_state(load_state(path), path), config


def read_screen(run_dir: str | Path) -> pd.DataFrame:
    """The run's averaged screen with its ``part`` column (train / val / test / unused)."""
    path = check_run_dir(run_dir) / "screen.csv"
    names = {"drug_a": str, "drug_b": str, "cell_line": str}
    try:
        table = pd.read_csv(path, dtype=names)
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError) as err:
        raise DataError(f"{path}: unreadable ({err}); the run is corrupt, refit it.") from err
    missing = [c for c in SCREEN_COLUMNS if c not in table.columns]
    if missing or table.empty:
        raise DataError(
            f"{path}: {'missing column(s) ' + str(missing) if missing else 'no rows'}; "
            "the run is corrupt, refit it."
        )
    return table


def check_finite_metrics(metrics: dict) -> None:
    """Raise :class:`TrainingDiverged` if a part's error or likelihood is NaN or infinite
    (correlations and R2 are undefined, NaN, for a part of one row or of equal scores)."""
    for part, values in metrics.items():
        bad = [k for k in ("rmse", "nll") if not math.isfinite(values[k])]
        if bad:
            raise TrainingDiverged(
                f"the fitted model's {part} metrics {bad} are not finite; the run was not "
                "written. Lower lr / guide_lr, or check the scores for extreme values."
            )


def fit_run(
    data_config: DataConfig,
    model_config: ModelConfig,
    out: str | Path | None = None,
    *,
    overwrite: bool = False,
    progress: bool = True,
    prior_from: str | Path | None = None,
    transfer: Transfer | None = None,
) -> tuple[Path, dict]:
    """Load, split, fit, evaluate and write a run directory. Returns (run_dir, metrics).

    ``prior_from`` (a fitted run directory, e.g. pretrained on other cell lines) starts the
    fit from that run as ``transfer`` says (default :class:`~synergy_ppl.transfer.Transfer`:
    its posterior as prior).

    Nothing is written unless the fit succeeds: a clash with an existing ``out`` (or another
    fit writing there, or a read-only place) is reported before the fit, and an old run there
    (``overwrite``) is replaced only once the new one is written whole.
    """
    transfer = transfer or Transfer()
    run_dir = (
        Path(out) if out is not None else default_run_dir(f"fit-{Path(data_config.data).stem}")
    )
    # checked and locked before the fit; the new run is swapped in only once written whole
    with replacing_folder(run_dir, overwrite, FIT_WRITES) as new:
        init, priors = None, None
        if prior_from is not None:
            init = load_fit(prior_from)[0]
            model_config = transfer.model_config(model_config, init)
            priors = transfer.priors(init)
        screen = data_config.load()
        split = data_config.split_of(screen)
        bnn = SynergyBNN.from_config(model_config).fit(
            screen, split, progress=progress, init=init, priors=priors
        )
        monotherapy = fitted_monotherapy(screen, bnn, prior_from)
        parts = {"train": split.train, "val": split.val, "test": split.test}
        metrics = {}
        for part, rows in parts.items():
            if part == "val" and bnn.validation_metrics is not None:
                metrics[part] = bnn.validation_metrics  # the refitted model trained on these rows
            elif len(rows):
                metrics[part] = bnn.evaluate(screen.table.iloc[rows])
        check_finite_metrics(metrics)
        metrics["fit_seconds"] = bnn.history.seconds
        metrics["epochs_run"] = len(bnn.history.elbo)
        metrics["best_epoch"] = bnn.history.best_epoch + 1
        metrics["refit_epochs"] = bnn.history.refit_epochs
        metrics["members"] = len(bnn.posterior.guides)
        metrics["data"] = {
            "rows_read": screen.n_rows_read,
            "triples": len(screen.table),
            "replicate_rows_averaged": int(screen.n_rows_read - len(screen.table)),
            "drugs": len(screen.drugs),
            "cell_lines": len(screen.cell_lines),
            "split_dropped_rows": split.dropped,
            **screen.report,
        }
        table = screen.table.assign(part=split.labels(len(screen.table)))
        test_predictions = bnn.predict(screen.table.iloc[split.test], progress=progress)
        config = {"data": asdict(data_config), "model": asdict(model_config)}
        if prior_from is not None:
            config["transfer"] = {"from": str(prior_from), **asdict(transfer)}
        save_fit(new, bnn, config, metrics, table, test_predictions, monotherapy)
    return run_dir, metrics


def prediction_model(
    run_dir: str | Path,
    *,
    drugs: str | Path | None = None,
    monotherapy: str | Path | SingleAgentTable | None = None,
) -> SynergyBNN:
    """A run's fitted model, ready to predict (:func:`~.run_monotherapy.grown_model`): its
    drugs grown by ``drugs`` (drug,smiles of new drugs), its single-agent matrix filled from
    the run's saved table and ``monotherapy`` (a new table: a
    :class:`~.data.monotherapy.SingleAgentTable` or a path)."""
    return grown_model(load_fit(run_dir)[0], run_dir, drugs=drugs, monotherapy=monotherapy)


def predict_run(
    run_dir: str | Path,
    pairs: str | Path,
    *,
    drugs: str | Path | None = None,
    num_samples: int | None = None,
    out: str | Path | None = None,
    overwrite: bool = False,
    progress: bool = True,
    monotherapy: str | Path | SingleAgentTable | None = None,
) -> tuple[pd.DataFrame, Path]:
    """Predict a table of ``drug_a, drug_b, cell_line`` rows with a run's model and write
    ``out`` (default ``<run_dir>/predictions.csv``). Returns (predictions, out). ``progress``:
    a bar over a long table.

    ``drugs`` (a drug,smiles table) featurises drugs the run has not seen; ``monotherapy``
    (a :class:`~.data.monotherapy.SingleAgentTable` or a path) adds single-agent responses
    to those the run saved (:func:`prediction_model`). Every input is checked (options, the
    run, the tables, unknown drugs, the output path) before any work.
    """
    if num_samples is not None:
        check_range("num_samples", num_samples, 2)
    bnn = prediction_model(run_dir, drugs=drugs, monotherapy=monotherapy)
    table = read_pairs(pairs)
    encode_pairs(bnn.features, table, str(pairs))  # names unknown drugs before any work
    out = Path(out) if out is not None else Path(run_dir) / "predictions.csv"
    check_file(out, overwrite)
    predictions = bnn.predict(table, num_samples, progress=progress)
    write_output(prepare_file(out, overwrite), lambda tmp: predictions.to_csv(tmp, index=False))
    return predictions, out
