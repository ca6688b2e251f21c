"""The pool a simulation hides, its first random draw, its budget, and one round's record."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from ..errors import OptionError
from .lab import LabConstraints, LabRules


@dataclass
class Pool:
    """The rows whose scores a simulation hides, and what its records need to know.

    Attributes
    ----------
    table : DataFrame
        The pool's rows (``drug_a <= drug_b``, replicates averaged), index ``0..N-1``.
    scores : ndarray ``(N,)``
        The hidden scores.
    top : ndarray of bool ``(N,)``
        The ``ceil(fraction * N)`` highest scores (ties broken by row order).
    lab : LabConstraints
        The lab's rules on each round's batch, the drugs out of stock, each row's cost.
    """

    table: pd.DataFrame
    scores: np.ndarray
    top: np.ndarray
    lab: LabConstraints

    @classmethod
    def of(
        cls, table: pd.DataFrame, top_fraction: float = 0.01, rules: LabRules | None = None
    ) -> Pool:
        """The pool of ``table``'s rows, its top set the ``top_fraction`` best scores.

        Parameters
        ----------
        table : DataFrame
            Rows with a ``score`` column.
        top_fraction : float
            In ``(0, 1)``.
        rules : LabRules, optional
            What a round's batch may hold (default: any rows).
        """
        if not 0 < top_fraction < 1:
            raise OptionError(f"top fraction must be in (0, 1), not {top_fraction}.")
        table = table.reset_index(drop=True)
        scores = table["score"].to_numpy(dtype=float)
        top = np.zeros(len(scores), dtype=bool)
        top[np.argsort(-scores, kind="stable")[: math.ceil(top_fraction * len(scores))]] = True
        lab = rules.apply(table) if rules is not None else LabConstraints.none(len(scores))
        return cls(table, scores, top, lab)

    def closed(self, revealed: np.ndarray) -> torch.Tensor:
        """Bool mask ``(N,)`` of the rows a batch may not hold: revealed or out of stock."""
        mask = torch.as_tensor(self.lab.out_of_stock).clone()
        mask[torch.as_tensor(revealed, dtype=torch.long)] = True
        return mask


def initial_draw(n_pool: int, n_initial: int, seed: int) -> np.ndarray:
    """The ``n_initial`` pool indices revealed before round 1; they depend on the seed only."""
    return np.random.default_rng([seed, 0]).permutation(n_pool)[:n_initial]


ROUND_SIZES = ("initial", "rounds", "pairs_per_round")
"""The :class:`~synergy_ppl.active.simulation.SimulationConfig` fields :func:`check_budget`
checks (its ``batch_size`` is ``pairs_per_round``)."""


def check_budget(
    n_pool: int,
    initial: int,
    rounds: int,
    batch_size: int,
    pretrained: bool = False,
    in_stock: int | None = None,
) -> None:
    """Raise unless ``initial + rounds * batch_size`` rows fit in the pool, and the rounds'
    ``rounds * batch_size`` in its ``in_stock`` rows (both drugs available; None: all).

    ``initial`` may be 0 only with a ``pretrained`` model, which then chooses the first batch.

    Raises
    ------
    OptionError
        Naming the options to change.
    """
    if initial < 0 or rounds < 0 or batch_size < 1:
        raise OptionError(
            f"need initial >= 0, rounds >= 0, pairs_per_round >= 1; got {initial}, "
            f"{rounds}, {batch_size}.",
            parameter=ROUND_SIZES,
        )
    if initial == 0 and not pretrained:
        raise OptionError(
            "initial 0 needs pretrain: without a pretrained model nothing can choose the "
            "first batch. Reveal some pairs at random first (initial 30).",
            parameter=("initial", "pretrain"),
        )
    needed = initial + rounds * batch_size
    if needed > n_pool:
        raise OptionError(
            f"initial {initial} + rounds {rounds} x pairs_per_round {batch_size} = {needed} "
            f"rows, but the pool has {n_pool}; lower them.",
            parameter=ROUND_SIZES,
        )
    if in_stock is not None and rounds * batch_size > in_stock:
        raise OptionError(
            f"rounds {rounds} x pairs_per_round {batch_size} rows, but only {in_stock} of the "
            "pool's have both drugs in available_drugs; lower them or list more drugs.",
            parameter=(*ROUND_SIZES, "available_drugs"),
        )


def round_record(
    pool: Pool, revealed: np.ndarray, batch: np.ndarray, round_index: int, seconds: float
) -> dict:
    """One round's evidence after ``batch`` joined ``revealed`` (which includes it).

    Parameters
    ----------
    pool : Pool
    revealed : ndarray of int
        Pool indices revealed so far, the batch included.
    batch : ndarray of int
        This round's pool indices.
    round_index : int
        0 for the initial draw.
    seconds : float
        Time the round took to choose its batch.

    Returns
    -------
    dict
        ``recall``: the fraction of the pool's top set found; ``random``: its expectation
        under random testing (tested / pool); ``oracle``: the best possible
        (min(tested, |top|) / |top|); ``regret``: best score in the pool - best found (NaN
        while nothing is tested); ``cost``: the total cost of the revealed rows (1 each
        without a cost table); ``distinct_drugs`` and ``distinct_lines`` of the batch; and
        ``round``, ``tested``, ``found_top``, ``best_found``, ``seconds``.
    """
    n_top = int(pool.top.sum())
    best = float(pool.scores[revealed].max()) if len(revealed) else math.nan
    batch_rows = pool.table.iloc[batch]
    return {
        "round": round_index,
        "tested": len(revealed),
        "found_top": int(pool.top[revealed].sum()),
        "recall": float(pool.top[revealed].sum() / n_top),
        "random": len(revealed) / len(pool.scores),
        "oracle": min(len(revealed), n_top) / n_top,
        "best_found": best,
        "regret": float(pool.scores.max() - best),
        "cost": float(pool.lab.cost[revealed].sum()),
        "distinct_drugs": len(set(batch_rows["drug_a"]) | set(batch_rows["drug_b"])),
        "distinct_lines": int(batch_rows["cell_line"].nunique()),
        "seconds": seconds,
    }
