"""Numbers behind the plots and the report, computed from predictive draws and the posterior.

Calibration reuses ``metrics.interval_coverage``, the definition behind ``metrics.json``'s
``coverage_50`` / ``coverage_90``, so the report can check that the two agree.
"""

from __future__ import annotations

import arviz as az
import numpy as np
import pandas as pd
import torch

from ..inference.metrics import INTERVAL_LEVELS, interval_coverage
from ..model.guides import PRUNE_LOG_ALPHA
from .inference_data import site_to_var

CALIBRATION_LEVELS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


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
        for level in INTERVAL_LEVELS
    }


def binned_means(x: np.ndarray, y: np.ndarray, n_bins: int = 8) -> pd.DataFrame:
    """Mean of ``x`` and ``y`` ``(N,)`` within quantile bins of ``x`` (equal-count bins)."""
    bins = pd.qcut(x, q=min(n_bins, len(np.unique(x))), duplicates="drop")
    frame = pd.DataFrame({"x": x, "y": y, "bin": bins})
    return frame.groupby("bin", observed=True)[["x", "y"]].mean().reset_index(drop=True)


def output_weight_var(head_layers: tuple[int, ...] | None) -> str | None:
    """Posterior variable of the output layer's weights (the head MLP's last layer); None for
    a family without a head (``head_layers`` None)."""
    return None if head_layers is None else f"head_layers_{len(head_layers)}_weight"


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
