r"""Batch selection: choose the next ``q`` candidates from joint draws ``(S, N)``.

Every strategy here has the same two methods:

``select(samples, q, exclude=None, generator=None, constraints=None)``
    A ``LongTensor`` of shape ``(<= q,)``: the chosen candidates in selection order, never an
    excluded one, never one twice, the batch within the lab's ``constraints``
    (:class:`~synergy_ppl.acquisition.constraints.BatchConstraints`); shorter than ``q`` only
    when no further candidate may join.
``marginal(samples, generator=None)``
    A per-candidate score ``(N,)`` to report next to the choice (for a batch-aware strategy,
    the score of its batch of one).
``gains(samples, batch, exclude=None, generator=None)``
    What chose each pick ``(B,)``, in the words of :attr:`Strategy.gain_text`: its score, what
    it added to the batch's objective, or how often it tops the draws.

Each strategy adds one candidate at a time, the best among those still open
(:class:`~synergy_ppl.acquisition.constraints.OpenSet`). :class:`TopQ` ranks a per-candidate
score. The batch-aware strategies (:class:`QExpectedImprovement`,
:class:`QUpperConfidenceBound`, :class:`ThompsonBatch`) use that the draws are *joint*: all of
row ``s`` comes from one weight draw, so near-duplicates of a chosen candidate, whose draws
move with it, add little to the batch. Ties are broken at random with ``generator``, in index
order without one.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import Tensor

from .checks import check_exclude, check_q, check_samples, check_scores
from .constraints import BatchConstraints, OpenSet
from .scores import Score, expected_improvement, greedy, improvement, ucb

TIE_TOLERANCE = 1e-6
"""Relative difference below which two batch values count as equal (float32 sums)."""


def top_q(
    scores: Tensor,
    q: int,
    exclude: Tensor | None = None,
    generator: torch.Generator | None = None,
    constraints: BatchConstraints | None = None,
) -> Tensor:
    r"""The ``q`` highest-scoring candidates that are not excluded.

    .. math:: B = \operatorname{arg\,top\text{-}q}_{j \notin E} \ \alpha(x_j)

    With ``constraints`` the batch is built greedily: each candidate in turn, best first,
    joins if the rules still let it.

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
    constraints : BatchConstraints, optional
        The lab's rules on a batch.

    Returns
    -------
    LongTensor, shape ``(<= q,)``
        Indices, best first.
    """
    check_scores(scores)
    check_q(q)
    exclude = check_exclude(exclude, scores.shape[0])
    return _top_q(scores, q, OpenSet(exclude, constraints, generator))


def _top_q(scores: Tensor, q: int, open_set: OpenSet) -> Tensor:
    """:func:`top_q` from the candidates of ``open_set``: walk them best first."""
    order = open_set.candidates()
    ranked = order[torch.sort(scores.cpu()[order], descending=True, stable=True).indices]
    if open_set.rules is None:
        return ranked[:q]
    chosen: list[int] = []
    for j in ranked.tolist():
        if len(chosen) == q:
            break
        if open_set.is_open(j):
            chosen.append(j)
            open_set.take(j)
    return torch.tensor(chosen, dtype=torch.long)


def _greedy_max_batch(utility: Tensor, q: int, open_set: OpenSet) -> Tensor:
    r"""Sequential greedy maximisation of :math:`U(B) = \frac{1}{S}\sum_s \max_{j\in B} u_{sj}`.

    Keeps each draw's running maximum :math:`m_s` over the candidates chosen so far and adds the
    open one maximising :math:`\frac{1}{S}\sum_s \max(m_s, u_{sj})`. Candidates that add the
    same (typically nothing, once one chosen candidate tops every draw) are told apart by
    their own value :math:`\frac{1}{S}\sum_s u_{sj}`, so the rest of such a batch is the best
    candidates alone rather than arbitrary ones.

    Parameters
    ----------
    utility : Tensor, shape ``(S, N)``
        Per-draw utilities :math:`u_{sj}`.
    q : int
        Batch size.
    open_set : OpenSet
        The candidates that may join, in tie-breaking order.

    Returns
    -------
    LongTensor, shape ``(<= q,)``
        Indices in selection order.
    """
    utility = utility.cpu()
    running = torch.full((utility.shape[0], 1), -math.inf, dtype=utility.dtype)
    chosen: list[int] = []
    own = utility.mean(dim=0)
    while len(chosen) < q and len(remaining := open_set.candidates()):
        value = torch.maximum(running, utility[:, remaining]).mean(dim=0)
        best = value.max()
        tied = value >= best - TIE_TOLERANCE * max(float(best.abs()), 1.0)
        j = int(remaining[tied][int(own[remaining[tied]].argmax())])
        chosen.append(j)
        open_set.take(j)
        running = torch.maximum(running, utility[:, j].unsqueeze(-1))
    return torch.tensor(chosen, dtype=torch.long)


def _greedy_gains(utility: Tensor, batch: Tensor) -> Tensor:
    r"""What each pick added to :math:`U(B)` of :func:`_greedy_max_batch`, in order.

    .. math:: g_t = U(\{b_1, \dots, b_t\}) - U(\{b_1, \dots, b_{t-1}\}), \quad U(\emptyset) = 0

    Parameters
    ----------
    utility : Tensor, shape ``(S, N)``
    batch : LongTensor, shape ``(B,)``

    Returns
    -------
    Tensor, shape ``(B,)``
    """
    picked = utility.cpu()[:, batch]
    values = torch.cummax(picked, dim=1).values.mean(dim=0)
    return torch.diff(values, prepend=values.new_zeros(1))


class Strategy(ABC):
    """How the next batch is chosen from joint draws; subclasses hold only their own settings."""

    gain_text: ClassVar[str] = "score {:.3g}"
    """How :meth:`gains`' value of a pick reads in a sentence."""
    columnwise: ClassVar[bool] = True
    """Whether :meth:`marginal` of a candidate is a function of that candidate's draws alone,
    so that it can be computed over a pool block by block (``active.shortlist``)."""
    picks_by_marginal: ClassVar[bool] = False
    """Whether the picks are the best open candidates by :meth:`marginal`, so that a shortlist
    of the best by it gives the whole pool's batch as long as no pick falls below it."""

    def per_draw_values(self, samples: Tensor) -> Tensor:
        """The values ``(S, N)`` by which a draw ranks the candidates, each draw's best being
        what a batch takes from that draw: here the draws themselves (Thompson sampling)."""
        return samples

    def select(
        self,
        samples: Tensor,
        q: int,
        exclude: Tensor | None = None,
        generator: torch.Generator | None = None,
        constraints: BatchConstraints | None = None,
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
        constraints : BatchConstraints, optional
            The lab's rules on a batch (cell lines, drug uses, budget).

        Returns
        -------
        LongTensor, shape ``(<= q,)``
            Distinct, non-excluded candidate indices in selection order; fewer than ``q``
            only when no further candidate may join.
        """
        check_samples(samples)
        check_q(q)
        exclude = check_exclude(exclude, samples.shape[1])
        return self.choose(samples, q, OpenSet(exclude, constraints, generator), generator)

    @abstractmethod
    def choose(
        self, samples: Tensor, q: int, open_set: OpenSet, generator: torch.Generator | None
    ) -> Tensor:
        """:meth:`select` on checked arguments, from the candidates of ``open_set``."""

    @abstractmethod
    def marginal(self, samples: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """A per-candidate score ``(N,)`` to report next to the choice."""

    def gains(
        self,
        samples: Tensor,
        batch: Tensor,
        exclude: Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """What chose each pick of ``batch`` ``(B,)``; by default its :meth:`marginal` score.

        Parameters
        ----------
        samples : Tensor, shape ``(S, N)``
            The draws the batch was chosen from.
        batch : LongTensor, shape ``(B,)``
            The picks in selection order.
        exclude : Tensor of bool, shape ``(N,)``, optional
            The candidates that could not be chosen.
        generator : torch.Generator, optional
            As given to :meth:`select` (random scores).
        """
        return self.marginal(samples, generator).cpu()[batch]


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
        self, samples: Tensor, q: int, open_set: OpenSet, generator: torch.Generator | None
    ) -> Tensor:
        return _top_q(self.score(samples, generator), q, open_set)

    def marginal(self, samples: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """The score ``(N,)`` of every candidate."""
        return self.score(samples, generator)

    @property
    def columnwise(self) -> bool:
        """Whether the score is a function of each candidate's draws alone (not Thompson's
        random row, not random scores)."""
        return getattr(self.score, "columnwise", False)

    @property
    def picks_by_marginal(self) -> bool:
        """The best open scores are the picks, where the score is each candidate's own."""
        return self.columnwise


class GreedyBatch(Strategy):
    r"""A batch built by :func:`_greedy_max_batch` on per-draw utilities :meth:`utility`:
    the Monte Carlo objective :math:`U(B) = \frac{1}{S}\sum_s \max_{j \in B} u_{sj}`."""

    @abstractmethod
    def utility(self, samples: Tensor) -> Tensor:
        """Per-draw utilities ``(S, N)`` whose mean batch maximum is the objective."""

    def choose(
        self, samples: Tensor, q: int, open_set: OpenSet, generator: torch.Generator | None
    ) -> Tensor:
        return _greedy_max_batch(self.utility(samples), q, open_set)

    def per_draw_values(self, samples: Tensor) -> Tensor:
        """The per-draw utilities: a pick adds to the objective on the draws where it is
        among the best."""
        return self.utility(samples)

    def gains(
        self,
        samples: Tensor,
        batch: Tensor,
        exclude: Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """Each pick's increase of the objective ``(B,)`` (the first: its value alone)."""
        return _greedy_gains(self.utility(samples), batch)


@dataclass(frozen=True)
class QExpectedImprovement(GreedyBatch):
    r"""Sequential greedy maximisation of Monte Carlo q-expected improvement.

    BoTorch's qEI of a batch :math:`B` over joint draws:

    .. math::
        \mathrm{qEI}(B) = \frac{1}{S} \sum_{s=1}^S
            \max\Bigl(0,\ \max_{j \in B} f^{(s)}_j - f^*\Bigr)

    Candidates are added one at a time, each maximising qEI of the batch so far plus itself
    (:class:`GreedyBatch` on the improvements).

    Parameters
    ----------
    best_f : float
        The incumbent :math:`f^*`, the best score measured so far.
    """

    best_f: float
    gain_text: ClassVar[str] = "adds {:.3g} to the batch's q-EI"

    def utility(self, samples: Tensor) -> Tensor:
        """The improvement ``max(0, f - f*)`` of every draw ``(S, N)``."""
        return improvement(samples, self.best_f)

    def marginal(self, samples: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """Expected improvement ``(N,)``: qEI of each candidate alone."""
        return expected_improvement(samples, self.best_f)


@dataclass(frozen=True)
class QUpperConfidenceBound(GreedyBatch):
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
    gain_text: ClassVar[str] = "adds {:.3g} to the batch's q-UCB"

    def utility(self, samples: Tensor) -> Tensor:
        """Per-draw utilities ``(S, N)`` whose mean batch maximum is qUCB."""
        mean = samples.mean(dim=0)
        return mean + self.kappa * math.sqrt(math.pi / 2) * (samples - mean).abs()

    def marginal(self, samples: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """The upper confidence bound ``(N,)`` of each candidate."""
        return ucb(samples, self.kappa)


@dataclass(frozen=True)
class ThompsonBatch(Strategy):
    r"""Batch Thompson sampling: one distinct posterior draw per batch slot.

    Draw rows :math:`r_1, \dots, r_q` without replacement and set

    .. math:: b_t = \operatorname{arg\,max}_{j \notin E \cup \{b_1, \dots, b_{t-1}\}} f^{(r_t)}_j

    It needs ``S >= min(q, N_open)`` draws.
    """

    gain_text: ClassVar[str] = "tops the untested rest in {:.0%} of draws"

    def choose(
        self, samples: Tensor, q: int, open_set: OpenSet, generator: torch.Generator | None
    ) -> Tensor:
        # counted from the mask: the draws' order comes first from the generator, before the
        # tie-breaking order, so the same draws fill the slots whatever the pool's size
        n_pick = min(q, int(open_set.open.sum()))
        if n_pick > samples.shape[0]:
            raise ValueError(
                f"thompson-batch needs one distinct draw per slot: q={n_pick} but "
                f"S={samples.shape[0]}"
            )
        rows = torch.randperm(samples.shape[0], generator=generator)[:n_pick]
        draws = samples.cpu()
        chosen: list[int] = []
        for row in rows.tolist():
            remaining = open_set.candidates()
            if not len(remaining):
                break
            j = int(remaining[int(draws[row, remaining].argmax())])
            chosen.append(j)
            open_set.take(j)
        return torch.tensor(chosen, dtype=torch.long)

    def marginal(self, samples: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """The posterior mean ``(N,)``, reported next to the picks (they do not use it)."""
        return greedy(samples)

    def gains(
        self,
        samples: Tensor,
        batch: Tensor,
        exclude: Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        r"""For pick :math:`b_t`, the share of draws in which it is the best of the candidates
        left when it was picked ``(B,)``, the chance that a slot's draw chooses it."""
        draws = samples.cpu()
        left = ~check_exclude(exclude, draws.shape[1])
        shares = []
        for j in batch.tolist():
            shares.append((draws[:, j] >= draws[:, left].max(dim=1).values).double().mean())
            left[j] = False
        return torch.stack(shares) if shares else torch.zeros(0, dtype=torch.float64)
