"""Accuracy and calibration metrics of predictive samples, on the original score scale."""

from __future__ import annotations

import numpy as np
import torch
from scipy import stats

INTERVAL_LEVELS = (0.5, 0.9)
"""Central predictive intervals whose coverage is reported."""
MIN_SD = 1e-6
"""Floor of the predictive SD in :func:`gaussian_nll`: keeps the NLL finite when every draw
of a row is the same."""


def interval_coverage(samples: torch.Tensor, y: torch.Tensor, level: float) -> float:
    """Fraction of ``y`` ``(N,)`` inside the central ``level`` interval of ``samples (S, N)``."""
    tail = (1.0 - level) / 2.0
    lo = torch.quantile(samples, tail, dim=0)
    hi = torch.quantile(samples, 1.0 - tail, dim=0)
    return ((y >= lo) & (y <= hi)).double().mean().item()


def gaussian_nll(mean: torch.Tensor, std: torch.Tensor, y: torch.Tensor) -> float:
    """Mean negative log-density of ``y`` under N(mean, std^2) (the moment-matched predictive).

    NLL = mean_i [0.5 log(2 pi s_i^2) + (y_i - m_i)^2 / (2 s_i^2)],  s_i = max(std_i, MIN_SD).
    """
    var = std.clamp_min(MIN_SD) ** 2
    return (0.5 * torch.log(2 * torch.pi * var) + 0.5 * (y - mean) ** 2 / var).mean().item()


def regression_metrics(samples: torch.Tensor, y: torch.Tensor) -> dict[str, float]:
    """RMSE, MSE, R², Pearson, Spearman, Gaussian NLL and 50%/90% interval coverage.

    ``samples`` ``(S, N)`` are draws of new measurements (noise included); ``y`` ``(N,)``.
    """
    mean, std = samples.mean(0), samples.std(0)
    error = mean - y
    mse = torch.mean(error**2).item()
    y_np, mean_np = y.numpy().astype(float), mean.numpy().astype(float)
    ss_tot = float(np.sum((y_np - y_np.mean()) ** 2))
    out = {
        "n": int(len(y)),
        "rmse": mse**0.5,
        "mse": mse,
        "r2": 1.0 - float(np.sum((y_np - mean_np) ** 2)) / ss_tot if ss_tot > 0 else float("nan"),
        "pearson": float(stats.pearsonr(mean_np, y_np)[0]) if len(y) > 2 else float("nan"),
        "spearman": float(stats.spearmanr(mean_np, y_np)[0]) if len(y) > 2 else float("nan"),
        "nll": gaussian_nll(mean, std, y),
    }
    for level in INTERVAL_LEVELS:
        out[f"coverage_{int(level * 100)}"] = interval_coverage(samples, y, level)
    return out
