"""The lab's rules on a round: drugs in stock, cell lines per batch, drug uses, costs, budget.

:class:`LabRules` holds them as a user gives them (numbers and file paths, alike in
``recommend``, ``simulate`` and a sweep) and, for a table of candidate triples, turns them into
the acquisition's :class:`~synergy_ppl.acquisition.BatchConstraints` plus the mask of
candidates with a drug out of stock (:meth:`LabRules.apply`). Every file is read and checked
there, before any model work.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from ..acquisition import BatchConstraints
from ..data.tables import clean_names, read_table
from ..errors import DataError, OptionError

TRIPLE_COSTS = ("drug_a", "drug_b", "cell_line", "cost")
"""Columns of a cost table priced per triple."""
LINE_COSTS = ("cell_line", "cost")
"""Columns of a cost table priced per test in a cell line."""


@dataclass(frozen=True)
class LabConstraints:
    """:meth:`LabRules.apply` for one table of ``N`` candidates.

    Attributes
    ----------
    constraints : BatchConstraints or None
        The rules that depend on the batch so far (None: no rule).
    out_of_stock : ndarray of bool ``(N,)``
        Candidates with a drug that is not available.
    cost : ndarray ``(N,)``
        Each candidate's cost (1 each without a cost table).
    """

    constraints: BatchConstraints | None
    out_of_stock: np.ndarray
    cost: np.ndarray

    @classmethod
    def none(cls, n: int) -> LabConstraints:
        """No rule on ``n`` candidates."""
        return cls(None, np.zeros(n, dtype=bool), np.ones(n))


@dataclass(frozen=True)
class LabRules:
    """What a lab can run in one round (``None``: no limit).

    Attributes
    ----------
    max_lines : int, optional
        Most cell lines in one batch (plates are seeded per line).
    max_drug_uses : int, optional
        Most triples of one batch that use a given drug.
    available_drugs : str, optional
        A table with a ``drug`` column: the drugs in stock; other drugs are never chosen.
    costs : str, optional
        A table of costs: ``cell_line,cost`` (per test in that line) or
        ``drug_a,drug_b,cell_line,cost`` (per triple, either drug order). Every candidate needs
        one.
    budget : float, optional
        Most total cost of one batch (without ``costs`` each test costs 1).
    """

    max_lines: int | None = None
    max_drug_uses: int | None = None
    available_drugs: str | None = None
    costs: str | None = None
    budget: float | None = None

    def check(self) -> None:
        """Raise :class:`~synergy_ppl.errors.OptionError` naming the first invalid rule."""
        for name, value in self.limits().items():
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise OptionError(f"{name} must be an integer >= 1, not {value!r}.", parameter=name)
        if self.budget is not None and not (
            isinstance(self.budget, int | float) and math.isfinite(self.budget) and self.budget > 0
        ):
            raise OptionError(
                f"budget must be a finite number > 0, not {self.budget!r}.", parameter="budget"
            )
        for name, path in (("available_drugs", self.available_drugs), ("costs", self.costs)):
            if path is not None and not isinstance(path, str | Path):
                raise TypeError(f"{name} must be the path of a table file, not {path!r}.")
            if path is not None and not Path(path).is_file():
                raise OptionError(
                    f"{name} {path}: no such file; give a table file.", parameter=name
                )

    @property
    def priced(self) -> bool:
        """Whether tests have a cost to report (a cost table or a budget)."""
        return self.costs is not None or self.budget is not None

    def limits(self) -> dict[str, int]:
        """The set limits on a batch's lines and drug uses, by field name."""
        limits = {"max_lines": self.max_lines, "max_drug_uses": self.max_drug_uses}
        return {name: value for name, value in limits.items() if value is not None}

    def short_batch(self, chosen: int, batch_size: int, size: str = "batch_size") -> OptionError:
        """Why a batch holds only ``chosen`` of ``batch_size`` triples, as the error that
        ``recommend`` raises and ``simulate`` raises or warns with: the same words for the same
        rules. ``size`` names the batch size's parameter (simulate's ``pairs_per_round``)."""
        limits = [f"{name} {value}" for name, value in self.limits().items()]
        if not limits:  # nothing limits the batch but the untested rows in stock
            return OptionError(
                f"only {chosen} of the {size} {batch_size} triples are left untested and "
                f"in stock; lower {size} or rounds.",
                parameter=(size, "rounds"),
            )
        return OptionError(
            f"{' and '.join(limits)} let only {chosen} of the {size} {batch_size} "
            f"triples into one batch; loosen them or lower {size}.",
            parameter=(*self.limits(), size),
        )

    def capacity(self, candidates: pd.DataFrame, out_of_stock: np.ndarray) -> int:
        """The most triples of ``candidates`` in stock that one batch may hold under the
        limits on lines and drug uses (the budget aside): an upper bound, so a batch size
        above it can never be filled, whatever the strategy."""
        rows = candidates[~np.asarray(out_of_stock)]
        uses, lines = self.max_drug_uses, self.max_lines

        def most(part: pd.DataFrame) -> int:
            if uses is None:
                return len(part)
            drugs = set(part["drug_a"].astype(str)) | set(part["drug_b"].astype(str))
            # a triple takes one use of each of its two drugs (one of a drug with itself)
            per_triple = 1 if (part["drug_a"] == part["drug_b"]).any() else 2
            return min(len(part), len(drugs) * uses // per_triple)

        per_line = sorted((most(part) for _, part in rows.groupby("cell_line")), reverse=True)
        return min(sum(per_line[:lines]), most(rows))

    def apply(self, candidates: pd.DataFrame) -> LabConstraints:
        """The rules for ``candidates`` (``drug_a, drug_b, cell_line``, ``N`` rows).

        Raises
        ------
        DataError
            A table that cannot be read, a listed drug in no candidate, a candidate without
            a cost, a conflicting or invalid cost.
        OptionError
            Rules that leave no candidate: nothing in stock, a budget below every cost.
        """
        self.check()
        a = candidates["drug_a"].astype(str).to_numpy()
        b = candidates["drug_b"].astype(str).to_numpy()
        lines = candidates["cell_line"].astype(str).to_numpy()
        unruled = LabConstraints.none(len(candidates))
        out_of_stock, cost = unruled.out_of_stock, unruled.cost
        if self.available_drugs is not None:
            stock = read_drug_list(self.available_drugs, set(a) | set(b))
            out_of_stock = ~(np.isin(a, list(stock)) & np.isin(b, list(stock)))
            if out_of_stock.all():
                raise OptionError(
                    f"available_drugs {self.available_drugs}: no candidate has both drugs in "
                    "stock; list more drugs.",
                    parameter="available_drugs",
                )
        if self.costs is not None:
            cost = read_costs(self.costs, a, b, lines)
        if self.budget is not None and not (cost[~out_of_stock] <= self.budget).any():
            cheapest = cost[~out_of_stock].min()
            raise OptionError(
                f"budget {self.budget} buys no candidate: the cheapest costs {cheapest:g}; "
                "raise it.",
                parameter="budget",
            )
        constraints = None
        if any(v is not None for v in (self.max_lines, self.max_drug_uses, self.budget)):
            drugs = pd.factorize(np.concatenate([a, b]))[0]
            constraints = BatchConstraints(
                torch.as_tensor(pd.factorize(lines)[0]),
                torch.as_tensor(drugs[: len(a)]),
                torch.as_tensor(drugs[len(a) :]),
                torch.as_tensor(cost, dtype=torch.float64),
                self.max_lines,
                self.max_drug_uses,
                self.budget,
            )
        return LabConstraints(constraints, out_of_stock, cost)


def read_drug_list(path: str | Path, known: set[str]) -> set[str]:
    """The drugs of ``path``'s ``drug`` column; each must be one of ``known`` (the
    candidates' drugs), so a misspelt name is an error rather than a drug silently left out."""
    table = read_table(path, text=True)
    if "drug" not in table.columns:
        raise DataError(f"{path}: needs a column 'drug'; it has {list(table.columns)[:10]}.")
    names = table["drug"].dropna().astype(str).str.strip()
    names = names[names != ""]
    if names.empty:
        raise DataError(f"{path}: lists no drug.")
    unknown = sorted(set(names) - known)
    if unknown:
        raise DataError(
            f"{path}: drug(s) {unknown[:5]} are in no candidate triple; check their spelling "
            "or drop them."
        )
    return set(names)


def read_costs(path: str | Path, a: np.ndarray, b: np.ndarray, lines: np.ndarray) -> np.ndarray:
    """Each candidate's cost ``(N,)`` from a cost table (:data:`TRIPLE_COSTS` or
    :data:`LINE_COSTS`); a missing, repeated-and-different, negative or non-numeric cost is an
    error naming the data row or the candidate."""
    table = read_table(path, text=True)
    table = table[~table.isna().all(axis=1)]
    per_triple = set(TRIPLE_COSTS) <= set(table.columns)
    if not per_triple and not set(LINE_COSTS) <= set(table.columns):
        raise DataError(
            f"{path}: a cost table has columns cell_line,cost (per test in a line) or "
            f"drug_a,drug_b,cell_line,cost (per triple); it has {list(table.columns)[:10]}."
        )
    values = pd.to_numeric(table["cost"].str.strip(), errors="coerce").to_numpy(dtype=float)
    bad = ~(np.isfinite(values) & (values >= 0))
    if bad.any():
        row = int(table.index[np.flatnonzero(bad)[0]]) + 1
        raise DataError(
            f"{path}: column 'cost' at data row {row} is {table['cost'].iloc[bad.argmax()]!r}; "
            "a cost is a number >= 0."
        )
    line = clean_names(table["cell_line"], path).to_numpy()
    if per_triple:
        x, y = (clean_names(table[c], path).to_numpy() for c in ("drug_a", "drug_b"))
        keys = list(zip(np.minimum(x, y), np.maximum(x, y), line, strict=True))
        wanted = list(zip(np.minimum(a, b), np.maximum(a, b), lines, strict=True))
    else:
        keys, wanted = list(line), list(lines)
    price: dict = {}
    for row, key, value in zip(table.index, keys, values, strict=True):
        if key in price and price[key] != value:
            raise DataError(
                f"{path}: {key} is priced twice ({price[key]:g} and {value:g}, data row "
                f"{row + 1}); keep one."
            )
        price[key] = value
    missing = next((key for key in wanted if key not in price), None)
    if missing is not None:
        raise DataError(f"{path}: candidate {missing} has no cost; add it or drop the candidate.")
    return np.array([price[key] for key in wanted], dtype=float)
