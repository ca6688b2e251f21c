"""``diagnose``: the diagnostics folder of a run, from its files to ``report.html``.

``diagnose`` writes ``<run>/diagnostics/`` with the InferenceData (NetCDF), one PNG per
plot, ``calibration.csv`` and ``report.html``. Its predictive draws reproduce
``metrics.json``'s (same number of samples, seed 0), so the calibration curve passes through
its 50% and 90% coverage; the report reads those numbers from ``metrics.json`` and says
whether they agree.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..data import DataError
from ..model.guides import SparseVariationalDropout
from ..options import check_range
from ..outputs import record, replacing_folder, write_output
from ..runs import check_run_dir, load_fit, read_run_json, read_screen
from .inference_data import predictive_arrays, to_inference_data
from .plots import (
    plot_calibration,
    plot_elbo,
    plot_error_vs_std,
    plot_log_alpha,
    plot_noise_scale,
    plot_output_weights,
    plot_ppc,
    plot_predicted_vs_measured,
)
from .report import SECTIONS, calibration_note, report_html
from .summaries import (
    calibration_agreement,
    calibration_curve,
    largest_weights,
    output_weight_var,
    switched_off,
)

FOREST_MAX_WEIGHTS = 32
"""At most this many output-layer weights in the forest plot (the largest by |mean|)."""
DPI = 110
DIAGNOSTICS_WRITES = (
    "inference_data.nc",
    "calibration.csv",
    "report.html",
    *(f"{name}.png" for name in SECTIONS),
)
"""Everything ``diagnose`` writes into its folder."""


def read_elbo(run_dir: Path) -> pd.DataFrame:
    """The run's ``elbo.csv`` (epoch, loss, and with validation rows val_rmse, val_nll)."""
    path = run_dir / "elbo.csv"
    if not path.is_file():
        raise DataError(f"{path}: missing; the run directory is incomplete, refit the run.")
    try:
        elbo = pd.read_csv(path)
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError) as err:
        raise DataError(f"{path}: unreadable ({err}); refit the run.") from err
    if "loss" not in elbo.columns:
        raise DataError(f"{path}: has no 'loss' column; the run is corrupt, refit it.")
    return elbo


def diagnose(
    run_dir: str | Path,
    out: str | Path | None = None,
    part: str = "test",
    num_samples: int | None = None,
    overwrite: bool = False,
) -> Path:
    """Write the diagnostics of a run and return the path of ``report.html``.

    Parameters
    ----------
    run_dir : path
        A run directory written by ``synergy-ppl fit``.
    out : path, optional
        Output folder (default ``<run_dir>/diagnostics``); an existing non-empty folder is
        refused unless ``overwrite``.
    part : {"test", "val", "train"}
        Which rows the predictive plots use.
    num_samples : int, optional
        Posterior draws (default: the run's, which reproduces metrics.json's coverage).
    """
    if num_samples is not None:
        check_range("num_samples", num_samples, 2)
    run_dir = check_run_dir(run_dir)
    out = Path(out or run_dir / "diagnostics")
    # checked and locked now; the folder is swapped in only once written whole
    with replacing_folder(out, overwrite, DIAGNOSTICS_WRITES) as folder:
        metrics = read_run_json(run_dir, "metrics.json")
        if part not in metrics:
            raise DataError(
                f"{run_dir}: the run has no {part} rows; choose part among "
                f"{[p for p in ('test', 'val', 'train') if p in metrics]}.",
                parameter="part",
            )
        _write(folder, run_dir, metrics, part, num_samples)
    return out / "report.html"


def _write(folder: Path, run_dir: Path, metrics: dict, part: str, num_samples: int | None) -> None:
    """Write every file of the diagnostics into ``folder``."""
    elbo = read_elbo(run_dir)
    bnn, config = load_fit(run_dir)
    idata = to_inference_data(bnn, read_screen(run_dir), part, num_samples)
    record(folder, *DIAGNOSTICS_WRITES)
    write_output(folder / "inference_data.nc", lambda tmp: idata.to_netcdf(str(tmp)))

    samples, y = predictive_arrays(idata)
    curve = calibration_curve(samples, y)
    write_output(folder / "calibration.csv", lambda tmp: curve.to_csv(tmp, index=False))
    agreement = calibration_agreement(curve, metrics[part])
    weight_var = output_weight_var(bnn.config.head_layers)
    figures = {
        "elbo": plot_elbo(elbo, bnn.scaling.sd, metrics["best_epoch"]),
        "ppc": plot_ppc(idata),
        "predicted_vs_measured": plot_predicted_vs_measured(samples, y),
        "calibration": plot_calibration(curve, agreement),
        "error_vs_std": plot_error_vs_std(samples, y),
        "noise_scale": plot_noise_scale(idata),
    }
    if weight_var is not None and weight_var in idata.posterior:
        chosen = largest_weights(idata, weight_var, FOREST_MAX_WEIGHTS)
        figures["output_weights"] = plot_output_weights(idata, weight_var, chosen)
    off = None
    log_alpha = bnn.guide.log_alpha() if isinstance(bnn.guide, SparseVariationalDropout) else {}
    if log_alpha:
        off = switched_off(log_alpha)
        figures["log_alpha"] = plot_log_alpha(log_alpha, off)
    for name, fig in figures.items():
        write_output(folder / f"{name}.png", lambda tmp, fig=fig: fig.savefig(tmp, dpi=DPI))

    refitted_on = part == "val" and metrics.get("refit_epochs", 0) > 0
    note = calibration_note(
        agreement, idata.posterior.sizes["draw"], bnn.config.num_samples, refitted_on
    )
    html = report_html(run_dir, metrics, config, idata, list(figures), note, off)
    write_output(folder / "report.html", lambda tmp: tmp.write_text(html))
