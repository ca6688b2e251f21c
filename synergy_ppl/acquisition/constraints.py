r"""Lab rules on a batch: which candidates may still join a batch, given those already in it.

A lab runs a round on plates: a few cell lines, drugs in stock, a cost per test. Candidates
whose drugs are out of stock are simply excluded (the ``exclude`` mask of a strategy); the
rules that depend on the batch so far are :class:`BatchConstraints`, over per-candidate
structure ``(N,)``:

.. math::
    |\{c_j : j \in B\}| \le K, \qquad
    |\{j \in B : d \in \{a_j, b_j\}\}| \le M \ \ \forall d, \qquad
    \sum_{j \in B} \mathrm{cost}_j \le \mathrm{budget}

with :math:`c_j` candidate :math:`j`'s cell line and :math:`a_j, b_j` its drugs. Every
strategy of :mod:`~synergy_ppl.acquisition.batch` builds its batch one candidate at a time
from an :class:`OpenSet`, the candidates that may still join, so each honours the rules: a
greedy choice among the feasible candidates.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import torch
from torch import Tensor

BUDGET_TOLERANCE = 1e-9
"""Relative slack when comparing a cost with the budget left (sums of decimal costs)."""


@dataclass(frozen=True)
class BatchConstraints:
    """Per-candidate structure and the limits a batch must respect (``None``: no limit).

    Attributes
    ----------
    line : LongTensor, shape ``(N,)``
        Each candidate's cell line (any integer code).
    drug_a, drug_b : LongTensor, shape ``(N,)``
        Each candidate's two drugs (integer codes shared by both columns).
    cost : Tensor, shape ``(N,)``, optional
        Each candidate's cost, finite and ``>= 0`` (default: 1 each).
    max_lines : int, optional
        Most distinct cell lines in one batch ``K``.
    max_drug_uses : int, optional
        Most candidates of one batch that contain a given drug ``M``.
    budget : float, optional
        Most total cost of one batch.
    """

    line: Tensor
    drug_a: Tensor
    drug_b: Tensor
    cost: Tensor | None = None
    max_lines: int | None = None
    max_drug_uses: int | None = None
    budget: float | None = None

    def __post_init__(self) -> None:
        n = self.line.shape[0]
        for name in ("line", "drug_a", "drug_b", "cost"):
            value = getattr(self, name)
            if value is not None and (value.dim() != 1 or value.shape[0] != n):
                raise ValueError(f"{name} must have shape ({n},), not {tuple(value.shape)}")
        if self.cost is not None and not (torch.isfinite(self.cost) & (self.cost >= 0)).all():
            raise ValueError("cost must be finite and >= 0")
        for name in ("max_lines", "max_drug_uses"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or value < 1):
                raise ValueError(f"{name} must be an integer >= 1, not {value!r}")
        if self.budget is not None and not self.budget >= 0:
            raise ValueError(f"budget must be >= 0, not {self.budget!r}")

    @property
    def n(self) -> int:
        """The number of candidates ``N``."""
        return self.line.shape[0]

    def costs(self) -> Tensor:
        """Each candidate's cost ``(N,)`` in float64 (ones without ``cost``)."""
        if self.cost is None:
            return torch.ones(self.n, dtype=torch.float64)
        return self.cost.to(torch.float64).cpu()


class OpenSet:
    """The candidates that may still join a batch being built, in tie-breaking order.

    Parameters
    ----------
    exclude : Tensor of bool, shape ``(N,)``
        Candidates that never may (tested, out of stock).
    constraints : BatchConstraints, optional
        The rules that depend on the batch so far.
    generator : torch.Generator, optional
        Orders the candidates at random (ties go to the earlier); index order without one.
    """

    def __init__(
        self,
        exclude: Tensor,
        constraints: BatchConstraints | None = None,
        generator: torch.Generator | None = None,
    ) -> None:
        n = exclude.shape[0]
        if constraints is not None and constraints.n != n:
            raise ValueError(f"constraints describe {constraints.n} candidates, not {n}")
        self.generator = generator
        self._order: Tensor | None = None
        self.open = ~exclude.cpu()
        self.rules = constraints
        self.lines: set[int] = set()
        self.uses: Counter[int] = Counter()
        self.spent = 0.0
        if constraints is not None:
            self.line, self.drug_a, self.drug_b = (
                t.cpu() for t in (constraints.line, constraints.drug_a, constraints.drug_b)
            )
            self.cost = constraints.costs()
            self._within_budget()

    @property
    def order(self) -> Tensor:
        """Every candidate ``(N,)`` in tie-breaking order, drawn when first needed (so that a
        strategy's own random scores come first from the generator)."""
        if self._order is None:
            n, generator = self.open.shape[0], self.generator
            random = generator is not None
            self._order = torch.randperm(n, generator=generator) if random else torch.arange(n)
        return self._order

    def candidates(self) -> Tensor:
        """The open candidates ``(N_open,)`` in tie-breaking order."""
        return self.order[self.open[self.order]]

    def is_open(self, j: int) -> bool:
        """Whether candidate ``j`` may still join."""
        return bool(self.open[j])

    def take(self, j: int) -> None:
        """Add candidate ``j`` to the batch and close what the rules now rule out."""
        self.open[j] = False
        rules = self.rules
        if rules is None:
            return
        if rules.max_lines is not None:
            self.lines.add(int(self.line[j]))
            if len(self.lines) >= rules.max_lines:
                self.open &= torch.isin(self.line, torch.tensor(sorted(self.lines)))
        if rules.max_drug_uses is not None:
            for drug in {int(self.drug_a[j]), int(self.drug_b[j])}:
                self.uses[drug] += 1
                if self.uses[drug] >= rules.max_drug_uses:
                    self.open &= (self.drug_a != drug) & (self.drug_b != drug)
        self.spent += float(self.cost[j])
        self._within_budget()

    def _within_budget(self) -> None:
        budget = self.rules.budget
        if budget is not None:
            self.open &= self.cost <= (budget - self.spent) + BUDGET_TOLERANCE * max(budget, 1.0)
