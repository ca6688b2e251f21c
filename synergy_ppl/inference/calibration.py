"""Calibration of the measurement noise on held-out rows.

A mean-field posterior is narrower than the true one, and the noise scale is fitted to the
rows the model has already learned; on rows it has not seen, the predictive is then too
narrow (90% intervals that hold 80-85% of new measurements). The validation rows that early
stopping holds out say by how much: the noise is widened by the factor under which they are
most likely, and the same factor applies to the refitted model's predictions. It can also be
too wide: under a mean-field guide the fitted noise scale absorbs the spread of latent
effects whose variational widths are still large (the expected likelihood is best with
``sigma^2 = residual^2 + Var_q(f)``), so the predictive counts that spread twice; the factor
then narrows the noise.
"""

from __future__ import annotations

import torch

from .metrics import gaussian_nll

NOISE_FACTORS = torch.arange(0.1, 3.0001, 0.025)
"""Candidate factors: from a tenth to three times the fitted noise."""
MIN_ROWS = 20
"""Fewest validation rows worth calibrating on; with fewer the factor is 1."""


def noise_factor(function_draws: torch.Tensor, noise: torch.Tensor, y: torch.Tensor) -> float:
    """The factor c minimising the validation NLL of ``function_draws + c * noise``.

    ``function_draws`` ``(S, N)`` are draws of the synergy function (epistemic), ``noise``
    ``(S, N)`` the measurement noise drawn with them, ``y`` ``(N,)`` the measured scores:

        c* = argmin_c  NLL(y | mean_s(f_s + c e_s), sd_s(f_s + c e_s))

    over :data:`NOISE_FACTORS` (the moment-matched Gaussian NLL the benchmarks report). With
    fewer than :data:`MIN_ROWS` rows, 1.
    """
    if y.numel() < MIN_ROWS:
        return 1.0
    losses = []
    for factor in NOISE_FACTORS.tolist():
        draws = function_draws + factor * noise
        losses.append(gaussian_nll(draws.mean(0), draws.std(0), y))
    return float(NOISE_FACTORS[int(torch.tensor(losses).argmin())])


def widen_noise(function_draws: torch.Tensor, noisy: torch.Tensor, factor: float) -> torch.Tensor:
    """Draws of new measurements with the noise scaled by ``factor``: ``f + c (y - f)``,
    ``(S, N)`` each."""
    if factor == 1.0:
        return noisy
    return function_draws + factor * (noisy - function_draws)
