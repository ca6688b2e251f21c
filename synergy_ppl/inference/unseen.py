"""Posteriors for entities a fit had no rows of: the measured ones' population.

A drug or cell line that no training row names keeps its latent parameters at their prior,
which is usually far wider than the spread of the measured entities' posteriors. Being
exchangeable with the measured ones, it is given their population instead
(:func:`pooled_unseen`); :func:`pool_guide` does this in place on a mean-field guide.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from pyro.infer.autoguide import AutoNormal


def pooled_unseen(
    loc: torch.Tensor, scale: torch.Tensor, seen: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean-field posterior with the rows of entities without data replaced by the population.

    ``loc`` and ``scale`` are ``(E, ...)``, one row per entity (a line's per-drug effects, a
    drug's embedding column); ``seen`` ``(E,)`` marks the entities with data. One without data
    is exchangeable with the seen ones, so its row is a draw from the mixture
    (1/E_seen) sum_e N(loc[e], scale[e]^2) over the seen entities e, here matched in moments::

        mean = mean_e loc[e],   var = var_e loc[e] + mean_e scale[e]^2   (elementwise)

    Returns ``(loc, scale)`` ``(E, ...)``, seen rows unchanged.
    """
    mean = loc[seen].mean(0)
    sd = torch.sqrt(loc[seen].var(0, unbiased=False) + scale[seen].pow(2).mean(0))
    unseen = (~seen).reshape(-1, *([1] * (loc.dim() - 1)))
    return torch.where(unseen, mean, loc), torch.where(unseen, sd, scale)


def pool_guide(
    guide: AutoNormal, sites: Sequence[tuple[str, slice | None]], seen: torch.Tensor
) -> None:
    """Replace, in ``guide``, the unseen entities' posteriors at ``sites`` by the population.

    Each site is ``(name, columns)``: ``columns`` None for a site with one entry per entity
    ``(E,)``, else the slice of a ``(out, F)`` weight's columns that hold one entity each
    (one-hot inputs). ``seen`` ``(E,)`` marks the entities with data; with none or all seen
    nothing changes.
    """
    if seen.all() or not seen.any() or not sites:
        return
    state = guide.state_dict()
    scale_map = torch.distributions.transform_to(guide.scale_constraint)
    for site, columns in sites:
        loc_key, scale_key = (f"{kind}.{site}_unconstrained" for kind in ("locs", "scales"))
        loc, scale = state[loc_key], scale_map(state[scale_key])
        mask = seen.to(loc.device)
        if columns is None:
            loc, scale = pooled_unseen(loc, scale, mask)
        else:
            pooled = pooled_unseen(loc[:, columns].T, scale[:, columns].T, mask)
            loc[:, columns], scale[:, columns] = (t.T for t in pooled)
        state[loc_key], state[scale_key] = loc, scale_map.inv(scale)
    guide.load_state_dict(state)
