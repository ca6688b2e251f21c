r"""Batch selection: choose the next ``q`` candidates from joint draws ``(S, N)``.

Every strategy here has the same two methods:

``select(samples, q, exclude=None, generator=None)``
    A ``LongTensor`` of shape ``(<= q,)``: the chosen candidates in selection order, never an
    excluded one, never one twice; shorter than ``q`` only when fewer candidates remain.
``marginal(samples, generator=None)``
    A per-candidate score ``(N,)`` to report next to the choice (for a batch-aware strategy,
    the score of its batch of one).

:class:`TopQ` ranks a per-candidate score. The batch-aware strategies
(:class:`QExpectedImprovement`, :class:`QUpperConfidenceBound`, :class:`ThompsonBatch`) use
that the draws are *joint*: all of row ``s`` comes from one weight draw, so near-duplicates of
a chosen candidate, whose draws move with it, add little to the batch. Ties are broken at
random with ``generator``, in index order without one.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass

import torch
from torch import Tensor

from .checks import check_exclude, check_q, check_samples, check_scores
from .scores import Score, expected_improvement, greedy, improvement, ucb


def _candidate_order(exclude: Tensor, generator: torch.Generator | None) -> Tensor:
    """The non-excluded indices ``(N_remaining,)``, the order in which ties are broken: random
    with a ``generator``, index order without one."""
    if generator is None:
        return torch.nonzero(~exclude).flatten()
    perm = torch.randperm(exclude.shape[0], generator=generator)
    return perm[~exclude[perm]]


def top_q(
    scores: Tensor,
    q: int,
    exclude: Tensor | None = None,
    generator: torch.Generator | None = None,
) -> Tensor:
    r"""The ``q`` highest-scoring candidates that are not excluded.

    .. math:: B = \operatorname{arg\,top\text{-}q}_{j \notin E} \ \alpha(x_j)

    Parameters
    ----------
    scores : Tensor, shape ``(N,)``
        Per-candidate scores, higher is better.
    q : int
        Batch size, ``>= 1``.
    exclude : Tensor of bool, shape ``(N,)``, optional
        Candidates that must not be chosen (already tested).
    generator : torch.Generator, optional
        Breaks ties uniformly at random; without one they fall in index order.

    Returns
    -------
    LongTensor, shape ``(min(q, N_remaining),)``
        Indices, best first.
    """
    check_scores(scores)
    check_q(q)
    order = _candidate_order(check_exclude(exclude, scores.shape[0]), generator)
    return order[torch.sort(scores.cpu()[order], descending=True, stable=True).indices][:q]


def _greedy_max_batch(
    utility: Tensor, q: int, exclude: Tensor, generator: torch.Generator | None
) -> Tensor:
    r"""Sequential greedy maximisation of :math:`U(B) = \frac{1}{S}\sum_s \max_{j\in B} u_{sj}`.

    Keeps each draw's running maximum :math:`m_s` over the candidates chosen so far and adds the
    one maximising :math:`\frac{1}{S}\sum_s \max(m_s, u_{sj})`.

    Parameters
    ----------
    utility : Tensor, shape ``(S, N)``
        Per-draw utilities :math:`u_{sj}`.
    q : int
        Batch size.
    exclude : Tensor of bool, shape ``(N,)``
        Candidates that must not be chosen.
    generator : torch.Generator or None
        Breaks ties at random (None: in index order).

    Returns
    -------
    LongTensor, shape ``(min(q, N_remaining),)``
        Indices in selection order.
    """
    utility = utility.cpu()
    remaining = _candidate_order(exclude, generator)
    running = torch.full((utility.shape[0], 1), -math.inf, dtype=utility.dtype)
    chosen: list[int] = []
    for _ in range(min(q, remaining.shape[0])):
        value = torch.maximum(running, utility[:, remaining]).mean(dim=0)
        k = int(value.argmax())
        chosen.append(int(remaining[k]))
        running = torch.maximum(running, utility[:, remaining[k]].unsqueeze(-1))
        remaining = torch.cat([remaining[:k], remaining[k + 1 :]])
    return torch.tensor(chosen, dtype=torch.long)


class Strategy(ABC):
    """How the next batch is chosen from joint draws; subclasses hold only their own settings."""

    def select(
        self,
        samples: Tensor,
        q: int,
        exclude: Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """Choose the next ``q`` candidates.

        Parameters
        ----------
        samples : Tensor, shape ``(S, N)``
            Joint posterior draws.
        q : int
            Batch size, ``>= 1``.
        exclude : Tensor of bool, shape ``(N,)``, optional
            Candidates that must not be chosen (already tested).
        generator : torch.Generator, optional
            Source of randomness (random draws, tie-breaking).

        Returns
        -------
        LongTensor, shape ``(min(q, N_remaining),)``
            Distinct, non-excluded candidate indices in selection order.
        """
        check_samples(samples)
        check_q(q)
        return self.choose(samples, q, check_exclude(exclude, samples.shape[1]), generator)

    @abstractmethod
    def choose(
        self, samples: Tensor, q: int, exclude: Tensor, generator: torch.Generator | None
    ) -> Tensor:
        """:meth:`select` on checked arguments (``exclude`` a CPU bool mask ``(N,)``)."""

    @abstractmethod
    def marginal(self, samples: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """A per-candidate score ``(N,)`` to report next to the choice."""


@dataclass(frozen=True)
class TopQ(Strategy):
    r"""The ``q`` best candidates by one per-candidate score (:func:`top_q`).

    Parameters
    ----------
    score : Score
        ``(samples (S, N), generator) -> (N,)``, e.g. a value of
        :data:`~synergy_ppl.acquisition.scores.SCORES`.
    """

    score: Score

    def choose(
        self, samples: Tensor, q: int, exclude: Tensor, generator: torch.Generator | None
    ) -> Tensor:
        return top_q(self.score(samples, generator), q, exclude, generator)

    def marginal(self, samples: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """The score ``(N,)`` of every candidate."""
        return self.score(samples, generator)


@dataclass(frozen=True)
class QExpectedImprovement(Strategy):
    r"""Sequential greedy maximisation of Monte Carlo q-expected improvement.

    BoTorch's qEI of a batch :math:`B` over joint draws:

    .. math::
        \mathrm{qEI}(B) = \frac{1}{S} \sum_{s=1}^S
            \max\Bigl(0,\ \max_{j \in B} f^{(s)}_j - f^*\Bigr)

    Candidates are added one at a time, each maximising qEI of the batch so far plus itself.

    Parameters
    ----------
    best_f : float
        The incumbent :math:`f^*`, the best score measured so far.
    """

    best_f: float

    def choose(
        self, samples: Tensor, q: int, exclude: Tensor, generator: torch.Generator | None
    ) -> Tensor:
        return _greedy_max_batch(improvement(samples, self.best_f), q, exclude, generator)

    def marginal(self, samples: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """Expected improvement ``(N,)``: qEI of each candidate alone."""
        return expected_improvement(samples, self.best_f)


@dataclass(frozen=True)
class QUpperConfidenceBound(Strategy):
    r"""Sequential greedy maximisation of Monte Carlo q-upper confidence bound.

    BoTorch's qUCB of a batch :math:`B` over joint draws:

    .. math::
        \mathrm{qUCB}(B) = \frac{1}{S} \sum_{s=1}^S \max_{j \in B}
            \Bigl(\hat\mu_j + \sqrt{\beta\pi/2}\,\bigl|f^{(s)}_j - \hat\mu_j\bigr|\Bigr)

    with :math:`\hat\mu_j` the mean of the draws. For a Gaussian posterior
    :math:`\mathbb{E}|f_j - \mu_j| = \sigma_j\sqrt{2/\pi}`, so for one candidate it is
    :math:`\mu_j + \sqrt{\beta}\,\sigma_j`: :func:`~synergy_ppl.acquisition.scores.ucb` with
    :math:`\kappa = \sqrt{\beta}`. Candidates are added greedily as in
    :class:`QExpectedImprovement`.

    Parameters
    ----------
    kappa : float
        Exploration weight :math:`\kappa = \sqrt{\beta}`, as in ``ucb``.
    """

    kappa: float = 1.0

    def choose(
        self, samples: Tensor, q: int, exclude: Tensor, generator: torch.Generator | None
    ) -> Tensor:
        mean = samples.mean(dim=0)
        utility = mean + self.kappa * math.sqrt(math.pi / 2) * (samples - mean).abs()
        return _greedy_max_batch(utility, q, exclude, generator)

    def marginal(self, samples: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """The upper confidence bound ``(N,)`` of each candidate."""
        return ucb(samples, self.kappa)


@dataclass(frozen=True)
class ThompsonBatch(Strategy):
    r"""Batch Thompson sampling: one distinct posterior draw per batch slot.

    Draw rows :math:`r_1, \dots, r_q` without replacement and set

    .. math:: b_t = \operatorname{arg\,max}_{j \notin E \cup \{b_1, \dots, b_{t-1}\}} f^{(r_t)}_j

    It needs ``S >= min(q, N_remaining)`` draws.
    """

    def choose(
        self, samples: Tensor, q: int, exclude: Tensor, generator: torch.Generator | None
    ) -> Tensor:
        remaining = _candidate_order(exclude, generator)
        n_pick = min(q, remaining.shape[0])
        if n_pick > samples.shape[0]:
            raise ValueError(
                f"thompson-batch needs one distinct draw per slot: q={n_pick} but "
                f"S={samples.shape[0]}"
            )
        rows = torch.randperm(samples.shape[0], generator=generator)[:n_pick]
        draws = samples.cpu()
        chosen: list[int] = []
        for row in rows.tolist():
            k = int(draws[row, remaining].argmax())
            chosen.append(int(remaining[k]))
            remaining = torch.cat([remaining[:k], remaining[k + 1 :]])
        return torch.tensor(chosen, dtype=torch.long)

    def marginal(self, samples: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """The posterior mean ``(N,)``, reported next to the picks (they do not use it)."""
        return greedy(samples)
