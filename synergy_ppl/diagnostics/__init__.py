"""Posterior diagnostics of a fitted run: an ArviZ ``InferenceData`` and a readable report.

``to_inference_data`` turns a run (or a fitted ``SynergyBNN`` and its screen table) into an
``arviz.InferenceData`` with the groups

- ``posterior``: draws of the Bayesian weights and biases of the head (every Bayesian layer
  with ``all_weights=True``; dims named ``<layer>_out``, ``<layer>_in``), ``sigma`` (the
  noise site, standardised scale) and ``noise_scale`` (the same on the original score
  scale); one chain;
- ``posterior_predictive``: ``score`` draws of a new measurement, dim ``pair``;
- ``observed_data``: the measured ``score`` of those rows;
- ``constant_data``: ``drug_a``, ``drug_b`` and ``cell_line`` of each row.

The ``pair`` coordinate is the row number in the run's ``screen.csv``.

``diagnose`` writes ``<run>/diagnostics/`` with the InferenceData (NetCDF), one PNG per
plot, ``calibration.csv`` and ``report.html``. Figures are built as
``matplotlib.figure.Figure`` objects and saved with the Agg canvas, never through pyplot,
so nothing needs a display and a caller's interactive backend is left alone.

The predictive draws use the run's number of samples and seed 0 by default, exactly as
``metrics.json`` was computed, so the calibration curve passes through its 50% and 90%
coverage; the report reads those numbers from ``metrics.json`` and says whether they agree.
"""

from __future__ import annotations

import html
import math
from pathlib import Path

import arviz as az
import numpy as np
import pandas as pd
import torch
from matplotlib.figure import Figure

from ..data import DataError
from ..errors import OptionError
from ..estimator import SynergyBNN
from ..inference.metrics import interval_coverage
from ..model.guides import PRUNE_LOG_ALPHA
from ..outputs import check_folder, prepare_folder, record
from ..runs import check_run_dir, load_fit, read_run_json, read_screen

SCORE_LABEL = "synergy score (original units)"
PARTS = ("train", "val", "test")
CALIBRATION_LEVELS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
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
FOREST_MAX_WEIGHTS = 32
"""At most this many output-layer weights in the forest plot (the largest by |mean|)."""
DPI = 110

_DIM_ROLES = {
    ("weight", 2): ("out", "in"),
    ("weight", 3): ("out", "in_a", "in_b"),  # the symmetric bilinear merge
    ("bias", 1): ("out",),
}


# ------------------------------------------------------------------------ InferenceData


def site_to_var(site: str) -> str:
    """``net.head.layers.0.weight`` -> ``head_layers_0_weight`` (a valid NetCDF name)."""
    return site.removeprefix("net.").replace(".", "_")


def var_dims(var: str, ndim: int) -> list[str]:
    """Readable dim names of a posterior variable without its (chain, draw) axes.

    Weights get ``<layer>_out`` / ``<layer>_in``, biases share ``<layer>_out``, so a layer's
    weight and bias line up; anything else falls back to ``<var>_dim_<i>``.
    """
    layer, _, kind = var.rpartition("_")
    roles = _DIM_ROLES.get((kind, ndim))
    if roles is None:
        return [f"{var}_dim_{i}" for i in range(ndim)]
    return [f"{layer}_{role}" for role in roles]


def keep_site(site: str, all_weights: bool) -> bool:
    """Whether a latent site goes into the posterior group.

    With ``bayesian="all"`` the trunk holds ~99% of the weights (200 draws: ~240 MB of
    NetCDF), so by default only the head and the noise sites are kept.
    """
    return all_weights or not site.startswith("net.") or site.startswith("net.head.")


def part_rows(table: pd.DataFrame, part: str) -> pd.DataFrame:
    """The rows of a run's screen table in ``part``, index = row number in ``screen.csv``."""
    if part not in PARTS:
        raise DataError(f"unknown part '{part}'; choose one of {PARTS}")
    rows = table[table["part"] == part]
    if rows.empty:
        raise DataError(f"the run has no '{part}' rows to diagnose; choose another --part.")
    return rows


def build_inference_data(
    draws: dict[str, torch.Tensor],
    samples: torch.Tensor,
    rows: pd.DataFrame,
    score_sd: float,
    attrs: dict,
) -> az.InferenceData:
    """Assemble the ``InferenceData`` with ``az.from_dict``.

    Parameters
    ----------
    draws : dict
        Site name -> ``(S, ...)`` posterior draws (``SynergyBNN.posterior_draws``).
    samples : Tensor
        ``(S, N)`` predictive draws of ``rows``' scores, original scale.
    rows : DataFrame
        ``N`` rows with ``drug_a, drug_b, cell_line, score``; the index becomes ``pair``.
    score_sd : float
        Training-score SD, converts ``sigma`` to the original scale.
    attrs : dict
        Attributes of the ``posterior`` group (prior, likelihood, ...).
    """
    posterior = {site_to_var(k): v.numpy()[None] for k, v in draws.items()}  # chain axis
    posterior["noise_scale"] = posterior["sigma"] * score_sd
    dims = {var: var_dims(var, value.ndim - 2) for var, value in posterior.items()}
    identifiers = {
        col: rows[col].astype(str).to_numpy() for col in ("drug_a", "drug_b", "cell_line")
    }
    dims.update({name: ["pair"] for name in ("score", *identifiers)})
    return az.from_dict(
        posterior=posterior,
        posterior_predictive={"score": samples.numpy()[None]},
        observed_data={"score": rows["score"].to_numpy()},
        constant_data=identifiers,
        coords={"pair": rows.index.to_numpy()},
        dims=dims,
        posterior_attrs=attrs,
    )


def to_inference_data(
    run: str | Path | SynergyBNN,
    table: pd.DataFrame | None = None,
    part: str = "test",
    num_samples: int | None = None,
    seed: int = 0,
    all_weights: bool = False,
) -> az.InferenceData:
    """The posterior and the predictive of one part of a run as ``arviz.InferenceData``.

    Parameters
    ----------
    run : path or SynergyBNN
        A run directory, or a fitted model (then ``table`` is required).
    table : DataFrame, optional
        The screen table with a ``part`` column (``runs.read_screen``); read from the run
        directory when ``run`` is a path.
    part : {"test", "val", "train"}
        Whose rows go into the predictive, observed and constant groups.
    num_samples : int, optional
        Posterior draws ``S`` (default: the run's, as ``metrics.json`` used).
    seed : int
        Seed of the draws (``metrics.json`` used 0).
    all_weights : bool
        Also keep the trunk's weights when it is Bayesian (``bayesian="all"``; large).
    """
    if isinstance(run, SynergyBNN):
        if table is None:
            raise TypeError("to_inference_data(bnn, ...) needs the screen table too.")
        bnn = run
    else:
        bnn, _ = load_fit(run)
        table = read_screen(run)
    rows = part_rows(table, part)
    num_samples = num_samples or bnn.config.num_samples
    attrs = {
        "prior": bnn.config.prior,
        "likelihood": bnn.config.likelihood,
        "bayesian": bnn.config.bayesian,
        "part": part,
        "seed": seed,
        "score_mean": bnn.scaling.mean,
        "score_sd": bnn.scaling.sd,
    }
    draws = bnn.posterior_draws(num_samples, seed)
    return build_inference_data(
        {k: v for k, v in draws.items() if keep_site(k, all_weights)},
        bnn.sample(rows, num_samples, seed),
        rows,
        bnn.scaling.sd,
        attrs,
    )


def predictive_arrays(idata: az.InferenceData) -> tuple[torch.Tensor, torch.Tensor]:
    """Predictive draws ``(S, N)`` and measured scores ``(N,)`` as ``metrics.py`` sees them.

    Same dtype (float32) as ``SynergyBNN.evaluate``, so coverage computed from them is
    identical to ``metrics.json``'s.
    """
    samples = torch.tensor(idata.posterior_predictive["score"].values[0])
    y = torch.tensor(idata.observed_data["score"].values, dtype=torch.float32)
    return samples, y


# ------------------------------------------------------------------------ numbers


def calibration_curve(
    samples: torch.Tensor, y: torch.Tensor, levels: tuple[float, ...] = CALIBRATION_LEVELS
) -> pd.DataFrame:
    """Observed coverage of central predictive intervals, by nominal level.

    ``samples`` ``(S, N)``, ``y`` ``(N,)``; uses ``metrics.interval_coverage``, the
    definition behind ``metrics.json``'s ``coverage_50`` / ``coverage_90``.
    """
    coverage = [interval_coverage(samples, y, level) for level in levels]
    return pd.DataFrame({"level": levels, "coverage": coverage})


def calibration_agreement(curve: pd.DataFrame, part_metrics: dict) -> dict[float, tuple]:
    """``level -> (curve value, metrics.json value)`` at the levels metrics.json reports."""
    by_level = dict(zip(curve["level"], curve["coverage"], strict=True))
    return {
        level: (by_level[level], part_metrics[f"coverage_{int(level * 100)}"])
        for level in (0.5, 0.9)
    }


def binned_means(x: np.ndarray, y: np.ndarray, n_bins: int = 8) -> pd.DataFrame:
    """Mean of ``x`` and ``y`` ``(N,)`` within quantile bins of ``x`` (equal-count bins)."""
    bins = pd.qcut(x, q=min(n_bins, len(np.unique(x))), duplicates="drop")
    frame = pd.DataFrame({"x": x, "y": y, "bin": bins})
    return frame.groupby("bin", observed=True)[["x", "y"]].mean().reset_index(drop=True)


def output_weight_var(head_layers: tuple[int, ...]) -> str:
    """Posterior variable of the output layer's weights (the head MLP's last layer)."""
    return f"head_layers_{len(head_layers)}_weight"


def largest_weights(idata: az.InferenceData, var: str, k: int) -> list[int]:
    """Indices along ``<layer>_in`` of the ``k`` weights of ``var`` with the largest |mean|."""
    mean = idata.posterior[var].mean(("chain", "draw")).values[0]  # the single output
    return sorted(np.argsort(-np.abs(mean))[:k].tolist())


def switched_off(
    log_alpha: dict[str, torch.Tensor], threshold: float = PRUNE_LOG_ALPHA
) -> pd.DataFrame:
    """Per weight tensor: count, number and fraction with log-alpha above ``threshold``.

    Biases are left out; the last row (``all``) pools the weight tensors.
    """
    weights = {k: v.reshape(-1) for k, v in log_alpha.items() if k.endswith(".weight")}
    weights["all"] = torch.cat(list(weights.values()))
    rows = [
        {"layer": site_to_var(name), "weights": len(v), "off": int((v > threshold).sum())}
        for name, v in weights.items()
    ]
    frame = pd.DataFrame(rows)
    frame["fraction_off"] = frame["off"] / frame["weights"]
    return frame


# ------------------------------------------------------------------------ plots

_PPC_LABELS = {
    "Observed": "measured scores",
    "Posterior predictive": "replicated scores (one line per draw)",
    "Posterior predictive mean": "mean of the replicates",
}


def plot_elbo(elbo: pd.DataFrame, score_sd: float, best_epoch: int) -> Figure:
    """Loss (negative ELBO per row) and validation RMSE (original units) per epoch."""
    has_val = "val_rmse" in elbo.columns
    fig = Figure(figsize=(7, 5.5 if has_val else 3.5), layout="constrained")
    axes = fig.subplots(2 if has_val else 1, 1, sharex=True, squeeze=False)[:, 0]
    axes[0].plot(elbo["epoch"], elbo["loss"], color="C0")
    axes[0].set_ylabel("negative ELBO per training row\n(standardised scale; lower is better)")
    axes[0].set_title("Training: ELBO trace")
    if has_val:
        axes[1].plot(elbo["epoch"], elbo["val_rmse"] * score_sd, color="C1")
        axes[1].set_ylabel("validation RMSE\n(original units)")
    for ax in axes:
        ax.axvline(best_epoch, color="grey", ls="--", lw=1, label=f"kept epoch {best_epoch}")
        ax.grid(alpha=0.3)
    axes[0].legend(loc="upper right")
    axes[-1].set_xlabel("epoch")
    return fig


def plot_ppc(idata: az.InferenceData, num_pp_samples: int = 100) -> Figure:
    """``az.plot_ppc``: density of the measured scores against predictive replicates."""
    fig = Figure(figsize=(7, 4.5), layout="constrained")
    ax = fig.subplots()
    draws = min(num_pp_samples, idata.posterior_predictive.sizes["draw"])
    az.plot_ppc(idata, num_pp_samples=draws, random_seed=0, textsize=10, ax=ax)
    handles, labels = ax.get_legend_handles_labels()
    ax.legend(handles, [_PPC_LABELS.get(label, label) for label in labels], fontsize=9)
    ax.set_xlabel(SCORE_LABEL)
    ax.set_ylabel("density")
    ax.set_title(f"Posterior predictive check ({idata.posterior.attrs['part']} rows)", fontsize=11)
    return fig


def plot_predicted_vs_measured(samples: torch.Tensor, y: torch.Tensor) -> Figure:
    """Predictive mean with its central 90% interval against the measured score.

    ``samples`` ``(S, N)``, ``y`` ``(N,)``.
    """
    mean = samples.mean(0).numpy()
    lo, hi = torch.quantile(samples, torch.tensor([0.05, 0.95]), dim=0).numpy()
    y = y.numpy()
    fig = Figure(figsize=(6, 6), layout="constrained")
    ax = fig.subplots()
    ax.errorbar(
        y,
        mean,
        yerr=[mean - lo, hi - mean],
        fmt="o",
        ms=3,
        lw=0.6,
        alpha=0.5,
        color="C0",
        ecolor="C0",
        label="mean and 90% interval",
    )
    limits = [min(y.min(), lo.min()), max(y.max(), hi.max())]
    ax.plot(limits, limits, color="k", lw=1, ls="--", label="predicted = measured")
    ax.set_xlabel(f"measured {SCORE_LABEL}")
    ax.set_ylabel(f"predicted {SCORE_LABEL}")
    ax.set_title("Predicted vs measured")
    ax.set_aspect("equal")
    ax.legend(loc="upper left")
    ax.grid(alpha=0.3)
    return fig


def plot_calibration(curve: pd.DataFrame, reported: dict[float, tuple]) -> Figure:
    """Observed vs nominal coverage of central intervals, with metrics.json's two points."""
    fig = Figure(figsize=(5.5, 5.5), layout="constrained")
    ax = fig.subplots()
    ax.plot([0, 1], [0, 1], color="k", lw=1, ls="--", label="perfect calibration")
    ax.plot(curve["level"], curve["coverage"], "o-", color="C0", label="this run")
    levels = list(reported)
    ax.plot(
        levels,
        [reported[lv][1] for lv in levels],
        "o",
        ms=12,
        mfc="none",
        color="C3",
        label="metrics.json (50%, 90%)",
    )
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_aspect("equal")
    ax.set_xlabel("nominal level of the central predictive interval")
    ax.set_ylabel("observed coverage\n(fraction of measured scores inside)")
    ax.set_title("Calibration of predictive intervals\nabove the diagonal: too wide", fontsize=11)
    ax.legend(loc="upper left")
    ax.grid(alpha=0.3)
    return fig


def plot_error_vs_std(samples: torch.Tensor, y: torch.Tensor) -> Figure:
    """|predictive mean - measured| against the predictive std, with binned means.

    ``samples`` ``(S, N)``, ``y`` ``(N,)``. A calibrated Gaussian predictive has
    E|error| = sqrt(2 / pi) * std, drawn as the reference line.
    """
    std = samples.std(0).numpy()
    abs_error = (samples.mean(0) - y).abs().numpy()
    binned = binned_means(std, abs_error)
    fig = Figure(figsize=(6.5, 4.5), layout="constrained")
    ax = fig.subplots()
    ax.scatter(std, abs_error, s=8, alpha=0.35, color="C0", label="rows")
    ax.plot(binned["x"], binned["y"], "o-", color="C3", label="mean |error| per std bin")
    grid = np.linspace(std.min(), std.max(), 50)
    ax.plot(grid, math.sqrt(2 / math.pi) * grid, "k--", lw=1, label="expected if calibrated")
    ax.set_xlabel("predictive std (original units)")
    ax.set_ylabel("|predicted mean - measured|\n(original units)")
    ax.set_title("Does the predicted uncertainty track the error?", fontsize=11)
    ax.legend(loc="best")
    ax.grid(alpha=0.3)
    return fig


def plot_output_weights(idata: az.InferenceData, var: str, indices: list[int]) -> Figure:
    """``az.plot_forest`` of the output layer's weights at ``indices`` (90% HDI)."""
    out_dim, in_dim = var_dims(var, 2)
    total = idata.posterior.sizes[in_dim]
    fig = Figure(figsize=(7, 1.5 + 0.2 * len(indices)), layout="constrained")
    ax = fig.subplots()
    az.plot_forest(
        idata,
        var_names=[var],
        coords={out_dim: 0, in_dim: indices},
        combined=True,
        hdi_prob=0.9,
        labeller=az.labels.NoVarLabeller(),  # tick labels = hidden unit numbers
        textsize=9,
        ax=ax,
    )
    ax.axvline(0, color="grey", lw=1)
    ax.set_ylabel("hidden unit")
    ax.set_xlabel("weight (standardised score per unit of activation)")
    ax.set_title(
        f"Output-layer weights, {len(indices)} of {total} with the largest |mean|\n"
        "dot: mean, thick: 50% interval, thin: 90% HDI",
        fontsize=10,
    )
    return fig


def plot_noise_scale(idata: az.InferenceData) -> Figure:
    """``az.plot_posterior`` of the measurement noise scale on the original scale."""
    fig = Figure(figsize=(6, 4), layout="constrained")
    ax = fig.subplots()
    az.plot_posterior(
        idata,
        var_names=["noise_scale"],
        hdi_prob=0.9,
        point_estimate="mean",
        round_to=4,  # significant digits; fewer print both ends of a narrow HDI alike
        textsize=10,
        ax=ax,
    )
    ax.set_xlabel(f"noise scale sigma, {SCORE_LABEL}")
    ax.set_title("Measurement noise: posterior of sigma", fontsize=11)
    return fig


def plot_log_alpha(log_alpha: dict[str, torch.Tensor], off: pd.DataFrame) -> Figure:
    """Histogram of the weights' log-alpha with the pruning threshold (log-uniform prior)."""
    values = {site_to_var(k): v.reshape(-1).numpy() for k, v in log_alpha.items()}
    values = {k: v for k, v in values.items() if k.endswith("_weight")}
    total = off.iloc[-1]
    fig = Figure(figsize=(7, 4.5), layout="constrained")
    ax = fig.subplots()
    ax.hist(list(values.values()), bins=np.linspace(-10, 10, 61), stacked=True, label=list(values))
    ax.axvline(PRUNE_LOG_ALPHA, color="k", ls="--", lw=1.2, label=f"threshold {PRUNE_LOG_ALPHA:g}")
    ax.set_xlabel("log alpha = log(sigma^2 / theta^2) of each weight")
    ax.set_ylabel("number of weights")
    ax.set_title(
        f"Sparse variational dropout: {total['fraction_off']:.1%} of "
        f"{total['weights']} weights switched off (log alpha > {PRUNE_LOG_ALPHA:g})",
        fontsize=11,
    )
    ax.legend(loc="upper left")
    ax.grid(alpha=0.3)
    return fig


# ------------------------------------------------------------------------ report


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


def calibration_note(agreement: dict[float, tuple], num_samples: int, run_samples: int) -> str:
    """One sentence: does the recomputed curve reproduce metrics.json's coverage?"""
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
DIAGNOSTICS_WRITES = (
    "inference_data.nc",
    "calibration.csv",
    "report.html",
    *(f"{name}.png" for name in SECTIONS),
)
"""Everything ``diagnose`` writes into its folder."""


def report_html(
    run_dir: Path,
    metrics: dict,
    config: dict,
    idata: az.InferenceData,
    plots: list[str],
    note: str,
    off: pd.DataFrame | None,
) -> str:
    """The report page: run summary, metrics table, then every plot with a caption."""
    model = config["model"]
    part = idata.posterior.attrs["part"]
    num_samples = idata.posterior.sizes["draw"]
    summary = (
        f"data <b>{html.escape(str(config['data']['data']))}</b>, split "
        f"{html.escape(str(config['data']['split']))}; prior <b>{html.escape(model['prior'])}</b>"
        f", likelihood {html.escape(model['likelihood'])}, Bayesian layers: "
        f"{html.escape(model['bayesian'])}; {metrics['epochs_run']} epochs in "
        f"{metrics['fit_seconds']:.1f} s, kept epoch {metrics['best_epoch']}."
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
        parts += ["<h3>Weights switched off (log alpha &gt; 3)</h3>", table_html(off)]
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


# ------------------------------------------------------------------------ driver


def read_elbo(run_dir: Path) -> pd.DataFrame:
    """The run's ``elbo.csv`` (epoch, loss, val_rmse)."""
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
    if num_samples is not None and num_samples < 2:
        raise OptionError(f"--num-samples must be >= 2, not {num_samples}.")
    run_dir = check_run_dir(run_dir)
    out = Path(out or run_dir / "diagnostics")
    check_folder(out, overwrite, DIAGNOSTICS_WRITES)
    metrics = read_run_json(run_dir, "metrics.json")
    if part not in metrics:
        raise DataError(
            f"{run_dir}: the run has no {part} rows; choose --part among "
            f"{[p for p in ('test', 'val', 'train') if p in metrics]}."
        )
    elbo = read_elbo(run_dir)
    bnn, config = load_fit(run_dir)
    idata = to_inference_data(bnn, read_screen(run_dir), part, num_samples)
    prepare_folder(out, overwrite, DIAGNOSTICS_WRITES)
    record(out, *DIAGNOSTICS_WRITES)
    idata.to_netcdf(str(out / "inference_data.nc"))

    samples, y = predictive_arrays(idata)
    curve = calibration_curve(samples, y)
    curve.to_csv(out / "calibration.csv", index=False)
    agreement = calibration_agreement(curve, metrics[part])
    weight_var = output_weight_var(bnn.config.head_layers)
    figures = {
        "elbo": plot_elbo(elbo, bnn.scaling.sd, metrics["best_epoch"]),
        "ppc": plot_ppc(idata),
        "predicted_vs_measured": plot_predicted_vs_measured(samples, y),
        "calibration": plot_calibration(curve, agreement),
        "error_vs_std": plot_error_vs_std(samples, y),
        "output_weights": plot_output_weights(
            idata, weight_var, largest_weights(idata, weight_var, FOREST_MAX_WEIGHTS)
        ),
        "noise_scale": plot_noise_scale(idata),
    }
    off = None
    if bnn.config.prior == "log-uniform":
        log_alpha = bnn.guide.log_alpha()
        off = switched_off(log_alpha)
        figures["log_alpha"] = plot_log_alpha(log_alpha, off)
    for name, fig in figures.items():
        fig.savefig(out / f"{name}.png", dpi=DPI)

    note = calibration_note(agreement, idata.posterior.sizes["draw"], bnn.config.num_samples)
    report = out / "report.html"
    report.write_text(report_html(run_dir, metrics, config, idata, list(figures), note, off))
    return report
