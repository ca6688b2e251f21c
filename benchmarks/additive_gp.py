"""Reference arms for the active-learning benchmark: an additive random-effects GP with UCB.

Not part of the package: a model-agnostic yardstick for the whole-screen simulation, asking
whether a Bayesian model with the screen's own structure, updated exactly, finds more of the
top set than the BNN and the forest do, and what knowing each drug's and line's spread of
scores in advance would be worth.

The score of triple ``i = (a, b, c)``, scaled by a known spread ``r_i`` (1 without one), is

    (y_i - m) / (s r_i) = u_a + u_b + p_ab + l_c + w_ac + w_bc + e_i,

with independent Gaussian effects: drugs ``u ~ N(0, v_drug)``, pairs ``p ~ N(0, v_pair)``,
lines ``l ~ N(0, v_line)``, drug-in-line ``w ~ N(0, v_drug_line)`` and noise
``e ~ N(0, v_noise)``; ``m`` and ``s`` are the revealed scores' median and SD. As a Gaussian
process the covariance of two triples is

    k(i, j) = v_drug S_ij + v_pair [p_i = p_j] + v_line [c_i = c_j] + v_drug_line S_ij [c_i = c_j],

``S_ij`` the number of drug slots the two pairs share (0-4). The posterior is exact (a Cholesky
of the ``(n, n)`` revealed block); the batch is the top ``q`` of ``m + s r_i (mu_i + kappa
sd_i)`` among the open candidates (the lab's rules bind it as they bind every arm).

The default variance shares are the whole NCI-ALMANAC screen's own decomposition (pair means
hold a third of the variance, lines 2%, drugs about a quarter of the pair means'), so even
the plain arm starts with a little knowledge of the hidden screen. The ``known-spread`` arm
adds more, on purpose: ``r_i`` is the product of drug a's, drug b's and line c's score SD over
the whole hidden screen (each divided by its mean), which no lab has before it screens.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from synergy_ppl.acquisition import top_q
from synergy_ppl.active import Pool
from synergy_ppl.data import Screen

CHUNK = 8192  # candidates per block of the (N, n) cross-covariance


@dataclass(frozen=True)
class Components:
    """Prior variances of the standardised score's effects (see the module docstring)."""

    drug: float = 0.04
    pair: float = 0.26
    line: float = 0.025
    drug_line: float = 0.02
    noise: float = 0.6


class AdditiveGP:
    """The random-effects GP over one pool's triples.

    Parameters
    ----------
    pool : Pool
        The candidates; their drugs, pairs and lines index the effects.
    components : Components
    spread : ndarray ``(N,)``, optional
        A known positive scale per triple (default: 1 for all).
    """

    def __init__(self, pool: Pool, components: Components, spread: np.ndarray | None = None):
        table = pool.table
        drugs = pd.Index(sorted(set(table["drug_a"]) | set(table["drug_b"])))
        self.drug_a = drugs.get_indexer(table["drug_a"])
        self.drug_b = drugs.get_indexer(table["drug_b"])
        self.pair = self.drug_a * len(drugs) + self.drug_b
        self.line = pd.Index(sorted(set(table["cell_line"]))).get_indexer(table["cell_line"])
        self.v = components
        self.spread = np.ones(len(table)) if spread is None else np.asarray(spread, dtype=float)
        self.prior_variance = 2 * components.drug + components.pair + components.line
        self.prior_variance += 2 * components.drug_line

    def covariance(self, i: np.ndarray, j: np.ndarray) -> np.ndarray:
        """``(len(i), len(j))`` prior covariance of the standardised scores' means."""
        a1, b1, c1 = self.drug_a[i, None], self.drug_b[i, None], self.line[i, None]
        a2, b2, c2 = self.drug_a[None, j], self.drug_b[None, j], self.line[None, j]
        shared = (a1 == a2).astype(float) + (a1 == b2) + (b1 == a2) + (b1 == b2)
        same_line = c1 == c2
        v = self.v
        k = v.drug * shared + v.pair * (self.pair[i, None] == self.pair[None, j])
        return k + v.line * same_line + v.drug_line * shared * same_line

    def upper_bound(self, revealed: np.ndarray, scores: np.ndarray, kappa: float) -> np.ndarray:
        """``(N,)`` UCB on the score scale, ``m + s r (mu + kappa sd)``, given the revealed
        rows' ``scores`` ``(n,)``."""
        centre = np.median(scores)
        z = (scores - centre) / self.spread[revealed]
        scale = z.std() or 1.0
        z = z / scale
        chol = np.linalg.cholesky(
            self.covariance(revealed, revealed) + self.v.noise * np.eye(len(revealed))
        )
        alpha = np.linalg.solve(chol.T, np.linalg.solve(chol, z))
        n = len(self.spread)
        bound = np.empty(n)
        for start in range(0, n, CHUNK):
            rows = np.arange(start, min(n, start + CHUNK))
            cross = self.covariance(rows, revealed)
            explained = np.linalg.solve(chol, cross.T)
            sd = np.sqrt(np.maximum(self.prior_variance - (explained**2).sum(0), 0.0))
            bound[rows] = cross @ alpha + kappa * sd
        return centre + scale * self.spread * bound


def known_spread(pool: Pool) -> np.ndarray:
    """``(N,)`` oracle scale: drug a's x drug b's x line's score SD over the hidden pool,
    each relative to the mean of its kind."""
    table = pool.table.assign(score=pool.scores)
    by_line = table.groupby("cell_line")["score"].std()
    slots = pd.concat(
        [
            table[["drug_a", "score"]].set_axis(["drug", "score"], axis=1),
            table[["drug_b", "score"]].set_axis(["drug", "score"], axis=1),
        ]
    )
    by_drug = slots.groupby("drug")["score"].std()
    by_line, by_drug = by_line / by_line.mean(), by_drug / by_drug.mean()
    return (
        table["cell_line"].map(by_line).to_numpy()
        * table["drug_a"].map(by_drug).to_numpy()
        * table["drug_b"].map(by_drug).to_numpy()
    )


def gp_ucb(batch_size: int, kappa: float = 1.0, oracle_spread: bool = False) -> Callable:
    """Proposer factory (``factory(pool, screen, seed) -> propose(revealed, round)``) for
    :func:`synergy_ppl.active.simulate`'s ``extra_proposers``."""

    def factory(pool: Pool, screen: Screen, seed: int):
        gp = AdditiveGP(pool, Components(), known_spread(pool) if oracle_spread else None)

        def propose(revealed: np.ndarray, round_index: int) -> np.ndarray:
            bound = gp.upper_bound(revealed, pool.scores[revealed], kappa)
            closed = pool.closed(revealed)
            return top_q(
                torch.as_tensor(bound), batch_size, closed, constraints=pool.lab.constraints
            ).numpy()

        return propose

    return factory


REFERENCE_ARMS = {
    "gp-ucb": lambda q, kappa: gp_ucb(q, kappa),
    "gp-ucb-known-spread": lambda q, kappa: gp_ucb(q, kappa, oracle_spread=True),
}
"""The reference arms under their benchmark names: ``name -> (batch size, kappa) -> factory``."""
