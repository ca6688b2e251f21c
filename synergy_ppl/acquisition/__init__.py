r"""Acquisition: choose the next batch of candidates from joint posterior draws.

Everything here is a function of tensors; no model is involved. The common input is a sample
matrix ``samples`` of shape ``(S, N)``: ``S`` posterior draws (rows) for ``N`` candidate drug
pairs (columns), on the original synergy-score scale, where higher means more synergistic.
The draws are *joint*: all of row ``s`` comes from one weight draw, a coherent function draw
:math:`f^{(s)}`, which the batch-aware strategies rely on. Randomness comes from an explicit
``generator: torch.Generator | None``; without one, random draws (Thompson rows, random scores)
come from torch's global generator and ties between candidates fall in index order.

The modules, each importing only those before it:

``checks``
    Argument checks (shapes, masks, batch size).
``scores``
    Per-candidate scores ``(S, N) -> (N,)``, one function each, and :data:`SCORES`, the
    registry of the ranked ones under their command-line names.
``constraints``
    The lab's rules on a batch (:class:`BatchConstraints`: cell lines, drug uses, budget)
    and :class:`OpenSet`, the candidates that may still join a batch being built.
``batch``
    Batch selection: :class:`Strategy` (``select`` a batch, report a ``marginal`` score),
    one subclass per method with only its own parameters: :class:`TopQ` of a score,
    :class:`GreedyBatch` (a Monte Carlo batch objective from per-draw utilities),
    :class:`QExpectedImprovement`, :class:`QUpperConfidenceBound`, :class:`ThompsonBatch`.
``information``
    :class:`TopSetInformation`: the batch that most reduces the draws' disagreement about
    the top set (after BATCHIE's criterion).
``strategies``
    :data:`STRATEGIES`, every command-line name with its constructor, and
    :func:`make_strategy`.

Examples
--------
>>> import torch
>>> from synergy_ppl.acquisition import make_strategy
>>> samples = torch.randn(64, 10, generator=torch.Generator().manual_seed(0))
>>> strategy = make_strategy("q-ei", best_f=0.5)
>>> batch = strategy.select(samples, 3, generator=torch.Generator().manual_seed(0))
>>> batch.shape
torch.Size([3])
"""

from .batch import (
    GreedyBatch,
    QExpectedImprovement,
    QUpperConfidenceBound,
    Strategy,
    ThompsonBatch,
    TopQ,
    top_q,
)
from .constraints import BatchConstraints, OpenSet
from .information import TopSetInformation
from .scores import (
    SCORES,
    AcquisitionSettings,
    Score,
    expected_improvement,
    fixed,
    greedy,
    improvement,
    probability_of_improvement,
    random_scores,
    thompson,
    ucb,
)
from .strategies import STRATEGIES, make_strategy

__all__ = [
    "SCORES",
    "STRATEGIES",
    "AcquisitionSettings",
    "BatchConstraints",
    "GreedyBatch",
    "OpenSet",
    "QExpectedImprovement",
    "QUpperConfidenceBound",
    "Score",
    "Strategy",
    "ThompsonBatch",
    "TopQ",
    "TopSetInformation",
    "expected_improvement",
    "fixed",
    "greedy",
    "improvement",
    "make_strategy",
    "probability_of_improvement",
    "random_scores",
    "thompson",
    "top_q",
    "ucb",
]
