"""Argument checks shared by the scores and the batch strategies.

Each function raises ``ValueError`` naming the argument and what was given; the ones that
also normalise return the checked value.
"""

from __future__ import annotations

import torch
from torch import Tensor


def check_samples(samples: Tensor) -> None:
    """Raise unless ``samples`` is a finite floating-point tensor of shape ``(S, N)``.

    Parameters
    ----------
    samples : Tensor
        Joint posterior draws, ``S >= 1`` rows (draws) by ``N >= 1`` columns (candidates).
    """
    if not isinstance(samples, Tensor) or samples.dim() != 2:
        shape = tuple(samples.shape) if isinstance(samples, Tensor) else type(samples).__name__
        raise ValueError(f"samples must be a 2-D tensor of shape (S, N); got {shape}")
    if not samples.is_floating_point():
        raise ValueError(f"samples must be a floating-point tensor; got dtype {samples.dtype}")
    if samples.shape[0] < 1 or samples.shape[1] < 1:
        raise ValueError(f"samples needs at least one draw and one candidate; got {samples.shape}")
    if not torch.isfinite(samples).all():
        raise ValueError("samples contains NaN or infinite values")


def check_scores(scores: Tensor) -> None:
    """Raise unless ``scores`` is a NaN-free floating-point tensor of shape ``(N,)``."""
    if not isinstance(scores, Tensor) or scores.dim() != 1 or not scores.is_floating_point():
        raise ValueError("scores must be a 1-D floating-point tensor of shape (N,)")
    if torch.isnan(scores).any():
        raise ValueError("scores contains NaN values")


def check_q(q: int) -> None:
    """Raise unless the batch size ``q`` is an integer ``>= 1``."""
    if isinstance(q, bool) or not isinstance(q, int) or q < 1:
        raise ValueError(f"batch size q must be an integer >= 1; got {q!r}")


def check_exclude(exclude: Tensor | None, n: int) -> Tensor:
    """``exclude`` as a CPU bool mask of shape ``(n,)``; ``None`` excludes nothing.

    Parameters
    ----------
    exclude : Tensor of bool, shape ``(N,)``, or None
        Candidates that must not be chosen (already tested).
    n : int
        Number of candidates ``N``.

    Returns
    -------
    Tensor of bool, shape ``(N,)``
    """
    if exclude is None:
        return torch.zeros(n, dtype=torch.bool)
    if exclude.dtype != torch.bool or tuple(exclude.shape) != (n,):
        raise ValueError(
            f"exclude must be a bool tensor of shape ({n},); "
            f"got dtype {exclude.dtype} and shape {tuple(exclude.shape)}"
        )
    return exclude.cpu()
