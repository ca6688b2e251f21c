"""The HTML report: run summary, metrics.json's table, and every plot with how to read it.

The page links the PNGs and data files by name, so it is read from the folder ``diagnose``
writes them into.
"""

from __future__ import annotations

import html
import math
from pathlib import Path

import arviz as az
import pandas as pd

from ..model.guides import PRUNE_LOG_ALPHA
from .inference_data import PARTS

REPORT_METRICS = {
    "n": "rows",
    "rmse": "RMSE",
    "r2": "R²",
    "pearson": "Pearson r",
    "spearman": "Spearman ρ",
    "nll": "NLL",
    "coverage_50": "50% interval coverage",
    "coverage_90": "90% interval coverage",
}
"""metrics.json key -> column heading of the report's table."""

SECTIONS = {
    "elbo": (
        "Training",
        "The loss should fall and flatten; the dashed line marks the epoch whose parameters "
        "were kept (best validation RMSE).",
    ),
    "ppc": (
        "Posterior predictive check",
        "Thin lines: scores the model would produce for these rows; black: the measured "
        "scores. Good agreement means the model reproduces the spread and shape of the data.",
    ),
    "predicted_vs_measured": (
        "Predicted vs measured",
        "Points on the dashed diagonal are perfect predictions; bars are 90% predictive "
        "intervals, which should cross the diagonal for about 90% of rows.",
    ),
    "calibration": (
        "Calibration",
        "For each nominal level, the fraction of measured scores inside the central "
        "predictive interval. Below the diagonal: intervals too narrow (over-confident).",
    ),
    "error_vs_std": (
        "Uncertainty vs error",
        "If the uncertainty is informative, rows with larger predicted std have larger "
        "errors, and the binned means follow the dashed line.",
    ),
    "output_weights": (
        "Output-layer weights",
        "Posterior of the weights from the last hidden layer to the score. Intervals that "
        "cover 0 belong to hidden units the output barely depends on.",
    ),
    "noise_scale": (
        "Measurement noise",
        "How much a repeated measurement of the same pair would scatter, in score units.",
    ),
    "log_alpha": (
        "Sparsity (log-uniform prior)",
        "Weights right of the dashed line have so much noise relative to their mean that "
        "they are effectively switched off.",
    ),
}
"""Plot name -> (heading, how to read it), in report order."""


def metrics_table_html(metrics: dict) -> str:
    """metrics.json's train / val / test numbers as an HTML table.

    Each cell carries the exact JSON value in ``data-value`` and an id ``<part>-<metric>``.
    """
    head = "".join(f"<th>{heading}</th>" for heading in REPORT_METRICS.values())
    body = []
    for part in (p for p in PARTS if p in metrics):
        cells = "".join(
            f'<td id="{part}-{m}" data-value="{metrics[part][m]!r}">{_fmt(metrics[part][m])}</td>'
            for m in REPORT_METRICS
        )
        body.append(f"<tr><th>{part}</th>{cells}</tr>")
    return f"<table><tr><th>part</th>{head}</tr>{''.join(body)}</table>"


def _fmt(value: float | int) -> str:
    return str(value) if isinstance(value, int) else f"{value:.3f}"


def calibration_note(
    agreement: dict[float, tuple], num_samples: int, run_samples: int, refitted_on: bool = False
) -> str:
    """One sentence: does the recomputed curve reproduce metrics.json's coverage? With
    ``refitted_on`` (the validation rows of a refitted run) it cannot: metrics.json holds the
    early-stopped fit's figures there, and the model kept has trained on those rows."""
    if refitted_on:
        return (
            "metrics.json's val row is the early-stopped fit's, on rows it had not seen; the "
            "curve below is the refitted model's, which trained on them, so it is in-sample "
            "and need not match."
        )
    if all(math.isclose(a, b, abs_tol=1e-12) for a, b in agreement.values()):
        return (
            "The calibration curve below passes exactly through metrics.json's 50% and 90% "
            "coverage (same definition, same draws)."
        )
    detail = ", ".join(f"{lv:.0%}: {a:.3f} vs {b:.3f}" for lv, (a, b) in agreement.items())
    return (
        f"<b>Note:</b> the curve below ({num_samples} draws) differs from metrics.json "
        f"({run_samples} draws) at {detail}."
    )


def table_html(frame: pd.DataFrame) -> str:
    """A small DataFrame as an HTML table (floats to 3 decimals)."""
    return frame.to_html(index=False, float_format=lambda v: f"{v:.3f}", border=0)


def report_html(
    run_dir: Path,
    metrics: dict,
    config: dict,
    idata: az.InferenceData,
    plots: list[str],
    note: str,
    off: pd.DataFrame | None,
) -> str:
    """The report page: run summary, metrics table, then every plot with a caption.

    Parameters
    ----------
    run_dir : Path
        The run directory; its name is the page's heading.
    metrics, config : dict
        The run's ``metrics.json`` and ``config.json``.
    idata : InferenceData
        What the plots were drawn from (``to_inference_data``).
    plots : list of str
        Names of the PNGs written, keys of ``SECTIONS``, in report order.
    note : str
        The calibration sentence (``calibration_note``).
    off : DataFrame, optional
        The switched-off weights table (``switched_off``), log-uniform prior only.
    """
    model = config["model"]
    part = idata.posterior.attrs["part"]
    num_samples = idata.posterior.sizes["draw"]
    layers = f", Bayesian layers: {html.escape(model['bayesian'])}" if model["bayesian"] else ""
    summary = (
        f"data <b>{html.escape(str(config['data']['data']))}</b>, split "
        f"{html.escape(str(config['data']['split']))}; model "
        f"<b>{html.escape(model.get('model', 'recover'))}</b>, prior "
        f"<b>{html.escape(model['prior'])}</b>, likelihood {html.escape(model['likelihood'])}"
        f"{layers}; {metrics['epochs_run']} epochs in {metrics['fit_seconds']:.1f} s, kept "
        f"epoch {metrics['best_epoch']}."
    )
    parts = [
        f"<h1>Diagnostics of {html.escape(run_dir.name)}</h1>",
        f"<p>{summary}</p>",
        "<h2>Metrics (from metrics.json, original score units)</h2>",
        metrics_table_html(metrics),
        f"<p>Plots below: the <b>{part}</b> part ({idata.observed_data.sizes['pair']} rows), "
        f"{num_samples} posterior draws. {note}</p>",
    ]
    if off is not None:
        parts += [
            f"<h3>Weights switched off (log alpha &gt; {PRUNE_LOG_ALPHA:g})</h3>",
            table_html(off),
        ]
    for name in plots:
        heading, caption = SECTIONS[name]
        parts.append(f'<h2>{heading}</h2><p>{caption}</p><img src="{name}.png" alt="{heading}">')
    parts.append(
        '<p>Data: <a href="inference_data.nc">inference_data.nc</a> (ArviZ, '
        '<code>az.from_netcdf</code>), <a href="calibration.csv">calibration.csv</a>, '
        "and the run's elbo.csv.</p>"
    )
    style = (
        "body{font-family:sans-serif;max-width:960px;margin:2em auto;line-height:1.4}"
        "table{border-collapse:collapse}td,th{padding:3px 10px;text-align:right;"
        "border-bottom:1px solid #ddd}img{max-width:100%;display:block;margin-bottom:1em}"
    )
    return (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>Diagnostics</title>"
        f"<style>{style}</style></head><body>{''.join(parts)}</body></html>\n"
    )
