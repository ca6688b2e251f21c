"""The shortlist of a large pool: the candidates a strategy can choose, found in one streamed
pass, so that the joint draws ``(S, N)`` of the whole pool are never held at once.

Over the pool's blocks of draws (``inference.predictive.network_blocks``) one pass keeps

- the strategy's per-candidate score (``Strategy.marginal``, when it is a function of each
  candidate's own draws: UCB, EI, PI, the mean; ``Strategy.columnwise``), ``(N,)``;
- each draw's ``per_draw`` best open candidates by the strategy's per-draw values
  (``Strategy.per_draw_values``: the draws, a greedy batch's utilities), ``(S, per_draw)``:
  where Thompson sampling's picks come from, and where a joint criterion's gains lie.

The shortlist is the ``size`` best open candidates by that score together with every draw's
best. A top-q strategy's batch is then exactly the one the whole pool gives (its picks are the
best open scores; when lab rules skip past the shortlist, so that a pick falls below its
``floor``, :func:`shortlist` is asked again with a larger size), and so is Thompson sampling's
without rules (slot t takes draw r_t's best of
what is still open, one of its ``q`` best). The joint criteria (q-EI, q-UCB, top-set-info)
choose among the shortlist, candidates far below its last score adding nothing a shortlisted
one does not.
"""

from __future__ import annotations

import pandas as pd
import torch
from tqdm.auto import tqdm

from ..acquisition.batch import Strategy
from ..estimator import SynergyBNN
from ..inference.predictive import PROGRESS_ROWS, network_blocks

SHORTLIST = 4096
"""Candidates a strategy sees when the pool is larger: its ``q`` picks and their rivals."""


def shortlist(
    bnn: SynergyBNN,
    pool: pd.DataFrame,
    choice: Strategy,
    open_mask: torch.Tensor,
    per_draw: int,
    num_samples: int | None = None,
    seed: int = 0,
    size: int = SHORTLIST,
) -> tuple[torch.Tensor, float | None]:
    """Indices ``(K,)`` (sorted) of ``pool``'s rows a strategy can choose from, and their
    ``floor``: the lowest marginal score among the ``size`` best (None when the strategy's
    score is not columnwise), above which every open candidate of the pool is shortlisted.

    Parameters
    ----------
    bnn : SynergyBNN
        The fitted model; its draws ``(num_samples, seed)`` are those the strategy sees.
    pool : DataFrame
        ``N`` candidate triples (``drug_a, drug_b, cell_line``).
    choice : Strategy
        The strategy; its ``marginal`` ranks the pool when ``choice.columnwise``.
    open_mask : Tensor of bool, shape ``(N,)``
        Candidates that may be chosen (in stock).
    per_draw : int
        Best open candidates kept per draw (the batch size ``q``: Thompson's slots).
    size : int
        Best open candidates by the marginal score kept.
    """
    draws = bnn.posterior_draws(num_samples, seed)
    triples = bnn.triples(pool, "candidates")
    n = len(pool)
    scores = torch.full((n,), -torch.inf)
    best_values = torch.empty(next(iter(draws.values())).shape[0], 0)
    best_rows = torch.empty(best_values.shape[0], 0, dtype=torch.long)
    generator = torch.Generator().manual_seed(seed)
    show = n > PROGRESS_ROWS  # a terminal only (disable=None), like fit's bar
    bar = tqdm(total=n, desc="recommend", unit="row", disable=None if show else True, leave=False)
    for rows, block in network_blocks(bnn.model, draws, triples):
        bar.update(len(rows))
        rows, block = rows.cpu(), (block * bnn.scaling.sd + bnn.scaling.mean).cpu()
        if choice.columnwise:
            scores[rows] = choice.marginal(block, generator)
        is_open = open_mask[rows]
        values = torch.cat([best_values, choice.per_draw_values(block)[:, is_open]], dim=1)
        candidates = torch.cat([best_rows, rows[is_open].expand(len(block), -1)], dim=1)
        top = values.topk(min(per_draw, values.shape[1]), dim=1)
        best_values, best_rows = top.values, candidates.gather(1, top.indices)
    bar.close()
    scores[~open_mask] = -torch.inf
    if not choice.columnwise:
        return torch.unique(best_rows.flatten()), None
    best = scores.topk(min(size, int(open_mask.sum())))
    return torch.unique(torch.cat([best.indices, best_rows.flatten()])), float(best.values[-1])
