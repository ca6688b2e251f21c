r"""Per-candidate acquisition scores: joint draws ``(S, N)`` -> one value per candidate ``(N,)``.

Each score is one function of the draws :math:`f^{(s)}_j` (row ``s``: one posterior draw,
column ``j``: one candidate) and its own settings; higher is better. :data:`SCORES` registers
them under their command-line names, each bound to its settings as a :data:`Score`, the form
:class:`~synergy_ppl.acquisition.batch.TopQ` ranks.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from .checks import check_samples

Score = Callable[[Tensor, torch.Generator | None], Tensor]
"""A score with its settings bound: ``(samples (S, N), generator) -> (N,)``."""


def greedy(samples: Tensor) -> Tensor:
    r"""Posterior mean (pure exploitation).

    .. math:: \alpha(x_j) = \hat\mu_j = \frac{1}{S} \sum_{s=1}^S f^{(s)}_j

    Parameters
    ----------
    samples : Tensor, shape ``(S, N)``
        Joint posterior draws.

    Returns
    -------
    Tensor, shape ``(N,)``
        The mean of each candidate's draws.
    """
    check_samples(samples)
    return samples.mean(dim=0)


def ucb(samples: Tensor, kappa: float = 1.0) -> Tensor:
    r"""Upper confidence bound.

    .. math:: \alpha(x_j) = \hat\mu_j + \kappa \, \hat\sigma_j

    with :math:`\hat\mu_j` the mean and :math:`\hat\sigma_j` the (Bessel-corrected) standard
    deviation of candidate :math:`j`'s draws. ``kappa = 0`` is :func:`greedy`.

    Parameters
    ----------
    samples : Tensor, shape ``(S, N)``
        Joint posterior draws, ``S >= 2``.
    kappa : float
        Weight of the standard deviation (exploration).

    Returns
    -------
    Tensor, shape ``(N,)``
    """
    check_samples(samples)
    if samples.shape[0] < 2:
        raise ValueError(f"ucb needs at least 2 draws to estimate a std; got S={samples.shape[0]}")
    return samples.mean(dim=0) + kappa * samples.std(dim=0)


def improvement(samples: Tensor, best_f: float) -> Tensor:
    r"""Per-draw improvement over the incumbent.

    .. math:: I^{(s)}_j = \max\bigl(0,\ f^{(s)}_j - f^*\bigr)

    The incumbent :math:`f^*` is the best score measured so far. It must not be the
    candidates' own maximum :math:`\max_k f^{(s)}_k`: nothing could improve on it.

    Parameters
    ----------
    samples : Tensor, shape ``(S, N)``
        Joint posterior draws.
    best_f : float
        The incumbent :math:`f^*`.

    Returns
    -------
    Tensor, shape ``(S, N)``
        :math:`I^{(s)}_j \ge 0`.
    """
    check_samples(samples)
    best = torch.as_tensor(best_f, dtype=samples.dtype, device=samples.device)
    if best.dim() != 0 or not torch.isfinite(best):
        raise ValueError(f"best_f must be one finite number; got {best_f!r}")
    return (samples - best).clamp_min(0)


def expected_improvement(samples: Tensor, best_f: float) -> Tensor:
    r"""Monte Carlo expected improvement.

    .. math:: \alpha(x_j) = \frac{1}{S} \sum_{s=1}^S \max\bigl(0,\ f^{(s)}_j - f^*\bigr)

    Parameters
    ----------
    samples, best_f : Tensor ``(S, N)``, float
        Joint posterior draws and the incumbent :math:`f^*`, as in :func:`improvement`.

    Returns
    -------
    Tensor, shape ``(N,)``
        Expected improvement, ``>= 0``.
    """
    return improvement(samples, best_f).mean(dim=0)


def probability_of_improvement(samples: Tensor, best_f: float) -> Tensor:
    r"""Monte Carlo probability of improvement: the fraction of draws above the incumbent.

    .. math:: \alpha(x_j) = \frac{1}{S} \sum_{s=1}^S \mathbb{1}\bigl[f^{(s)}_j > f^*\bigr]

    Parameters
    ----------
    samples, best_f : Tensor ``(S, N)``, float
        Joint posterior draws and the incumbent :math:`f^*`, as in :func:`improvement`.

    Returns
    -------
    Tensor, shape ``(N,)``
        Probability of improvement, in ``[0, 1]``.
    """
    return (improvement(samples, best_f) > 0).to(samples.dtype).mean(dim=0)


def thompson(samples: Tensor, generator: torch.Generator | None = None) -> Tensor:
    r"""Thompson sampling: the values of one posterior draw chosen uniformly at random.

    .. math:: \alpha(x_j) = f^{(r)}_j, \qquad r \sim \mathcal{U}\{1, \dots, S\}

    Its argmax is a draw from the posterior of the maximiser. For batches,
    :class:`~synergy_ppl.acquisition.batch.ThompsonBatch` takes a different draw per slot.

    Parameters
    ----------
    samples : Tensor, shape ``(S, N)``
        Joint posterior draws.
    generator : torch.Generator, optional
        Source of the row index (torch's global generator when None).

    Returns
    -------
    Tensor, shape ``(N,)``
        The chosen draw's values.
    """
    check_samples(samples)
    row = int(torch.randint(samples.shape[0], (1,), generator=generator))
    return samples[row]


def random_scores(n: int, generator: torch.Generator | None = None) -> Tensor:
    r"""Uniform random scores, the model-free baseline.

    .. math:: \alpha(x_j) \sim \mathcal{U}(0, 1) \ \text{i.i.d.}

    Parameters
    ----------
    n : int
        Number of candidates ``N``.
    generator : torch.Generator, optional
        Source of randomness (torch's global generator when None).

    Returns
    -------
    Tensor, shape ``(N,)``
    """
    return torch.rand(n, generator=generator)


# ----------------------------------------------------------------------------------- registry


@dataclass(frozen=True)
class AcquisitionSettings:
    """The settings an acquisition may take; each reads only its own.

    Attributes
    ----------
    kappa : float
        Exploration weight of ``ucb`` and ``q-ucb``.
    best_f : float or None
        The incumbent :math:`f^*` (best score measured so far) of ``ei``, ``pi`` and ``q-ei``.
    noise_sd : float or None
        The measurement noise's SD on the score scale (``top-set-info``).
    """

    kappa: float = 1.0
    best_f: float | None = None
    noise_sd: float | None = None

    def incumbent(self, name: str) -> float:
        """``best_f``, raising ``ValueError`` naming acquisition ``name`` when it is missing."""
        if self.best_f is None:
            raise ValueError(f"acquisition {name!r} needs best_f (the incumbent); got None")
        return self.best_f

    def noise(self, name: str) -> float:
        """``noise_sd``, raising ``ValueError`` naming acquisition ``name`` when it is missing."""
        if self.noise_sd is None:
            raise ValueError(f"acquisition {name!r} needs noise_sd (the noise's SD); got None")
        return self.noise_sd


def fixed(score: Callable[..., Tensor], **settings: float) -> Score:
    """``score`` with ``settings`` bound, as a :data:`Score` that draws no random numbers; its
    ``columnwise`` is True: each candidate's score is a function of that candidate's draws."""

    def bound(samples: Tensor, generator: torch.Generator | None) -> Tensor:
        return score(samples, **settings)

    bound.columnwise = True
    return bound


def _random(samples: Tensor, generator: torch.Generator | None) -> Tensor:
    """:func:`random_scores` for the candidates of ``samples``, whose values are not read."""
    return random_scores(samples.shape[1], generator).to(samples)


SCORES: dict[str, Callable[[AcquisitionSettings], Score]] = {
    "greedy": lambda s: fixed(greedy),
    "ucb": lambda s: fixed(ucb, kappa=s.kappa),
    "ei": lambda s: fixed(expected_improvement, best_f=s.incumbent("ei")),
    "pi": lambda s: fixed(probability_of_improvement, best_f=s.incumbent("pi")),
    "thompson": lambda s: thompson,
    "random": lambda s: _random,
}
"""Command-line name -> the score with its settings bound."""
