"""The diagnostic figures, one function per plot.

Figures are built as ``matplotlib.figure.Figure`` objects and saved with the Agg canvas, never
through pyplot, so nothing needs a display and a caller's interactive backend is left alone.
Scores are on the original scale unless a label says otherwise.
"""

from __future__ import annotations

import math

import arviz as az
import numpy as np
import pandas as pd
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from ..model.guides import PRUNE_LOG_ALPHA
from .inference_data import site_to_var, var_dims
from .summaries import binned_means

SCORE_LABEL = "synergy score (original units)"

_PPC_LABELS = {
    "Observed": "measured scores",
    "Posterior predictive": "replicated scores (one line per draw)",
    "Posterior predictive mean": "mean of the replicates",
}


def _figure(width: float, height: float) -> tuple[Figure, Axes]:
    """A pyplot-free figure with one constrained-layout ``Axes``."""
    fig = Figure(figsize=(width, height), layout="constrained")
    return fig, fig.subplots()


def plot_elbo(elbo: pd.DataFrame, score_sd: float, best_epoch: int) -> Figure:
    """Loss (negative ELBO per row) and the validation losses per epoch: the RMSE in original
    units, the predictive NLL (runs saved before it was recorded have the RMSE only)."""
    panels = [name for name in ("val_rmse", "val_nll") if name in elbo.columns]
    fig = Figure(figsize=(7, 3.5 + 2 * len(panels)), layout="constrained")
    axes = fig.subplots(1 + len(panels), 1, sharex=True, squeeze=False)[:, 0]
    axes[0].plot(elbo["epoch"], elbo["loss"], color="C0")
    axes[0].set_ylabel("negative ELBO per training row\n(standardised scale; lower is better)")
    axes[0].set_title("Training: ELBO trace")
    labels = {
        "val_rmse": ("validation RMSE\n(original units)", score_sd),
        "val_nll": ("validation NLL per row\n(standardised scale)", 1.0),
    }
    for ax, name in zip(axes[1:], panels, strict=True):
        label, factor = labels[name]
        ax.plot(elbo["epoch"], elbo[name] * factor, color="C1")
        ax.set_ylabel(label)
    for ax in axes:
        ax.axvline(best_epoch, color="grey", ls="--", lw=1, label=f"kept epoch {best_epoch}")
        ax.grid(alpha=0.3)
    axes[0].legend(loc="upper right")
    axes[-1].set_xlabel("epoch")
    return fig


def plot_ppc(idata: az.InferenceData, num_pp_samples: int = 100) -> Figure:
    """``az.plot_ppc``: density of the measured scores against predictive replicates."""
    fig, ax = _figure(7, 4.5)
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
    fig, ax = _figure(6, 6)
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
    fig, ax = _figure(5.5, 5.5)
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
    fig, ax = _figure(6.5, 4.5)
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
    fig, ax = _figure(7, 1.5 + 0.2 * len(indices))
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
    fig, ax = _figure(6, 4)
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
    fig, ax = _figure(7, 4.5)
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
