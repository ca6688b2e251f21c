r"""A batch that values information about the top set, in the spirit of BATCHIE's criterion.

BATCHIE (Tosh et al., Nat Commun 2025) chooses the batch whose results would most shrink the
spread of its posterior samples (probabilistic diameter-based active learning). Here the
spread that counts is the draws' disagreement about *which candidates are the best*: with
:math:`T_s` the ``k`` best open candidates of draw :math:`s` and

.. math:: D_{st} = 1 - |T_s \cap T_t| / k

the share of one draw's top set that another does not hold, measuring a batch :math:`B`
re-weights the draws by their likelihood. If draw :math:`u` were the truth, the measurements
:math:`y_j = f^{(u)}_j + \varepsilon_j`, :math:`\varepsilon_j \sim N(0, \sigma^2)`, give draw
:math:`s` the weight (the noise integrated into the likelihood)

.. math::
    w_s(u) \propto \prod_{j \in B} N\bigl(f^{(u)}_j \mid f^{(s)}_j,\ 2\sigma^2\bigr),

and the disagreement left after the batch is

.. math::
    R(B) = \frac{1}{U} \sum_{u} \sum_{s,t} w_s(u)\, w_t(u)\, D_{st}
         = 1 - \frac{1}{U k} \sum_u w(u)^\top G\, w(u), \qquad G_{st} = |T_s \cap T_t|,

over :math:`U` of the draws as stand-ins for the truth. The batch is built greedily, each
pick the candidate that lowers :math:`R` most among a shortlist of twice as many open
candidates as the batch, ranked by :math:`p_j - r_j / N`: the share of draws with :math:`j`
in their top set less its rank by the posterior mean (0 = best) as a share of the :math:`N`
candidates. So the
batch tests plausible hits and, among them, those that tell the draws apart; over every
candidate of some draw's top set (hundreds) the criterion prefers poor, uncertain ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import Tensor

from .batch import Strategy
from .checks import check_exclude
from .constraints import OpenSet
from .scores import greedy

CHUNK = 256
"""Candidates scored at once: ``(U, S, CHUNK)`` weights stay a few MB."""


@dataclass(frozen=True)
class TopSetInformation(Strategy):
    r"""The batch that most reduces the draws' disagreement :math:`R(B)` about the top set.

    Parameters
    ----------
    noise_sd : float
        :math:`\sigma`, the measurement noise's SD on the scale of the draws (> 0).
    top_k : int, optional
        :math:`k`, the size of the top set (default: the batch size).
    outer_draws : int
        :math:`U`, the draws that stand in for the truth (the first ``U`` rows).
    shortlist_factor : int
        The shortlist holds this many candidates per batch slot.
    """

    noise_sd: float
    top_k: int | None = None
    outer_draws: int = 32
    shortlist_factor: int = 2
    gain_text: ClassVar[str] = "cuts the draws' disagreement about the top set by {:.3g}"

    def __post_init__(self) -> None:
        if not self.noise_sd > 0:
            raise ValueError(f"top-set-info needs a noise SD > 0, not {self.noise_sd}")

    def choose(
        self, samples: Tensor, q: int, open_set: OpenSet, generator: torch.Generator | None
    ) -> Tensor:
        state = _Disagreement(samples, open_set.candidates(), self.top_k or q, self)
        # the shortlist's order: p_j - r_j / N (module docstring), scaled by N
        rank = torch.argsort(torch.argsort(samples.mean(0).cpu(), descending=True))
        order = torch.argsort(state.membership * len(rank) - rank, descending=True)
        chosen: list[int] = []
        while len(chosen) < q and len(remaining := open_set.candidates()):
            keep = torch.zeros(len(rank), dtype=torch.bool)
            keep[remaining] = True
            pool = order[keep[order]][: self.shortlist_factor * q]
            j = int(pool[int(state.after(pool).argmin())])
            chosen.append(j)
            open_set.take(j)
            state.observe(j)
        return torch.tensor(chosen, dtype=torch.long)

    def marginal(self, samples: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """The posterior mean ``(N,)``, reported next to the picks."""
        return greedy(samples)

    def gains(
        self,
        samples: Tensor,
        batch: Tensor,
        exclude: Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """How much each pick lowered :math:`R` ``(B,)``, in selection order."""
        candidates = torch.nonzero(~check_exclude(exclude, samples.shape[1])).squeeze(-1)
        state = _Disagreement(samples, candidates, self.top_k or max(len(batch), 1), self)
        gains, before = [], state.now()
        for j in batch.tolist():
            after = float(state.after(torch.tensor([j]))[0])
            gains.append(before - after)
            state.observe(j)
            before = after
        return torch.tensor(gains, dtype=torch.float64)


class _Disagreement:
    """:math:`R` of a growing batch: the top sets of the draws and the log-weights so far."""

    def __init__(self, samples: Tensor, candidates: Tensor, k: int, spec: TopSetInformation):
        self.draws = samples.detach().cpu().double()  # (S, N)
        n_draws, n = self.draws.shape
        self.k = max(1, min(k, len(candidates)))
        top = candidates[self.draws[:, candidates].topk(self.k, dim=1).indices]  # (S, k)
        members = torch.zeros(n_draws, n, dtype=torch.float64)
        members.scatter_(1, top, 1.0)
        self.overlap = members @ members.T  # G (S, S)
        self.membership = members.mean(dim=0)  # (N,): share of draws with j in their top set
        self.truths = self.draws[: min(spec.outer_draws, n_draws)]  # (U, N)
        self.log_w = torch.zeros(len(self.truths), n_draws, dtype=torch.float64)  # (U, S)
        self.scale = 4.0 * spec.noise_sd**2  # 2 * (2 sigma^2)

    def now(self) -> float:
        """:math:`R` of the batch so far."""
        return float(self._risk(torch.softmax(self.log_w, dim=1).unsqueeze(-1))[0])

    def after(self, pool: Tensor) -> Tensor:
        """:math:`R` of the batch so far plus each one candidate of ``pool`` ``(C,)``."""
        out = []
        for chunk in pool.split(CHUNK):
            gap = self.truths[:, chunk].unsqueeze(1) - self.draws[:, chunk].unsqueeze(0)
            log_w = self.log_w.unsqueeze(-1) - gap**2 / self.scale  # (U, S, C)
            out.append(self._risk(torch.softmax(log_w, dim=1)))
        return torch.cat(out)

    def observe(self, j: int) -> None:
        """Add candidate ``j`` to the batch."""
        gap = self.truths[:, j].unsqueeze(1) - self.draws[:, j].unsqueeze(0)  # (U, S)
        self.log_w = self.log_w - gap**2 / self.scale

    def _risk(self, weights: Tensor) -> Tensor:
        """:math:`1 - \\frac{1}{Uk}\\sum_u w^\\top G w` for weights ``(U, S, C)``: ``(C,)``."""
        shared = torch.einsum("usc,st,utc->c", weights, self.overlap, weights)
        return 1.0 - shared / (weights.shape[0] * self.k)
