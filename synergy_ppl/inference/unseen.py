"""Posteriors for entities a fit had no rows of: the measured ones' population.

A drug or cell line that no training row names keeps its latent parameters at their prior,
which is usually far wider than the spread of the measured entities' posteriors. Being
exchangeable with the measured ones, its posterior is their population, the mixture
(1/E_seen) sum_e q(theta_e) over the seen entities e. :func:`borrowed_draws` draws from it
exactly (each joint draw takes a random seen entity's values); :func:`pooled_unseen` matches
it in moments, and :func:`pool_guide` writes those moments into a guide, for what
reads the guide's parameters rather than its draws (priors for another fit).
:func:`entity_sites` names a model's sites that hold one entry per drug or per line;
:func:`with_new_drugs` grows a guide's state by drugs added after the fit.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from ..data.features import FeatureSet
from ..model.guides import NormalSites
from ..model.network import (
    DRUG_NOISE_SITE,
    EFFECT_SITES,
    LINE_NOISE_SITE,
    PAIR_EFFECT_SITE,
    SynergyModel,
)

Site = tuple[str, slice | None]
"""A site name and, for a weight ``(out, F)`` with one column per entity, those columns
(None: a site with one entry per entity, ``(E,)``)."""


def entity_sites(model: SynergyModel, features: FeatureSet) -> tuple[list[Site], list[Site]]:
    """The sites of ``model`` that hold one entry per drug, and those that hold one per line.

    A family's ``drug_identity_site`` (the columns that take the drugs' one-hot identities)
    and ``line_identity_site`` (when the lines are one-hot), and the noise effects of each.
    """
    net = model.net
    drug_sites: list[Site] = []
    line_sites: list[Site] = []
    if net.drug_identity_site and features.n_identity:  # (R, F) or (R, D): identities last
        columns = slice(-features.n_identity, None)
        drug_sites.append((net.drug_identity_site, columns))
    n_lines = features.cell_matrix.shape[0]
    if net.line_identity_site and torch.equal(features.cell_matrix.cpu(), torch.eye(n_lines)):
        line_sites.append((net.line_identity_site, slice(None)))  # a column per line
    if model.noise_effects:
        drug_sites.append((DRUG_NOISE_SITE, None))
    if model.line_noise:
        line_sites.append((LINE_NOISE_SITE, None))
    return drug_sites, line_sites


def borrowed_draws(
    draws: dict[str, torch.Tensor], sites: Sequence[Site], seen: torch.Tensor, seed: int = 0
) -> dict[str, torch.Tensor]:
    """Joint draws in which each entity without data takes a random seen entity's values.

    ``draws`` maps a site to ``(S, ...)``; ``seen`` ``(E,)`` marks the entities with data.
    In draw s an unseen entity u takes, at every site of ``sites``, the values of the same
    seen entity e_su ~ Uniform(seen entities) in that draw. Draw s of e is a draw of q(theta_e),
    so the result is an exact draw of the population (1/E_seen) sum_e q(theta_e), keeping
    what moment matching (:func:`pooled_unseen`) loses: the correlation between an entity's
    factors and between its embedding and its noise effect, and the population's tails.

    Returns a new dict; the sites' tensors are copies, the others ``draws``' own.
    """
    if seen.all() or not seen.any() or not sites:
        return draws
    n_draws = next(iter(draws.values())).shape[0]
    seen_index = torch.nonzero(seen).squeeze(-1)
    unseen_index = torch.nonzero(~seen).squeeze(-1)
    generator = torch.Generator().manual_seed(seed)
    picks = torch.randint(len(seen_index), (n_draws, len(unseen_index)), generator=generator)
    donors = seen_index[picks]  # (S, U)
    rows = torch.arange(n_draws).unsqueeze(-1)  # (S, 1)
    out = dict(draws)
    for site, columns in sites:
        value = draws[site].clone()
        at = tuple(t.to(value.device) for t in (rows, unseen_index))
        donor = donors.to(value.device)
        if columns is None:  # (S, E)
            value[at] = value[at[0], donor]
        else:  # (S, out, F): the entities' columns
            block = value[..., columns].movedim(-1, 1)  # (S, E, out)
            block[at] = block[at[0], donor]
            value[..., columns] = block.movedim(1, -1)
        out[site] = value
    return out


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


def pool_guide(guide: NormalSites, sites: Sequence[Site], seen: torch.Tensor) -> None:
    """Replace, in ``guide``, the unseen entities' posteriors at ``sites`` by the population.

    Each site is ``(name, columns)``: ``columns`` None for a site with one entry per entity
    ``(E,)``, else the slice of a ``(out, F)`` weight's columns that hold one entity each
    (one-hot inputs). ``seen`` ``(E,)`` marks the entities with data; with none or all seen
    nothing changes.
    """
    if seen.all() or not seen.any() or not sites:
        return
    for site, columns in sites:
        loc, scale = (t.detach().clone() for t in guide.loc_and_scale(site))
        mask = seen.to(loc.device)
        if columns is None:
            loc, scale = pooled_unseen(loc, scale, mask)
        else:
            pooled = pooled_unseen(loc[:, columns].T, scale[:, columns].T, mask)
            loc[:, columns], scale[:, columns] = (t.T for t in pooled)
        guide.set_loc_and_scale(site, loc, scale)


def reset_to_prior(
    guide: NormalSites, site: str, prior: torch.distributions.Distribution, seen: torch.Tensor
) -> None:
    """Put the columns of the drugs without data of ``site``, a ``(R, D)`` weight with one
    column per drug, at the prior: location 0 and the prior's SD (1 where it has none).

    For a family whose drug embedding has a prior beyond the identity (chemistry), a drug
    without rows is known by that prior, and its own offset is as wide as the prior says,
    however long training ran (the KL term alone moves its guide there slowly).
    """
    if seen.all():
        return
    loc, scale = (t.detach().clone() for t in guide.loc_and_scale(site))
    try:
        sd = prior.variance.sqrt()
    except NotImplementedError:  # e.g. the log-uniform prior
        sd = torch.ones_like(loc)
    unseen = ~seen.to(loc.device)
    loc[:, unseen] = 0.0
    scale[:, unseen] = torch.broadcast_to(sd, scale.shape)[:, unseen].to(scale)
    guide.set_loc_and_scale(site, loc, scale)


def with_new_drugs(
    guide_state: dict[str, torch.Tensor],
    new_drugs: int,
    state_keys: Callable[[str], dict[str, str]],
) -> dict[str, torch.Tensor]:
    """A guide's state with ``new_drugs`` more drugs at its per-drug sites.

    A drug added after the fit (for prediction) has no rows: its latent effects
    (``EFFECT_SITES``) and noise effect get location 0 and the largest scale of any fitted
    drug, as uncertain as the least-known one. ``state_keys`` is the guide's
    (:meth:`~synergy_ppl.model.guides.NormalSites.state_keys`); other entries are returned as
    they are.
    """
    grown = dict(guide_state)
    for site in (*EFFECT_SITES, DRUG_NOISE_SITE):
        for part, key in state_keys(site).items():
            if key not in guide_state:
                continue
            value = guide_state[key]
            fill = 0.0 if part == "loc" else value.max().item()
            for dim in (-2, -1) if site == PAIR_EFFECT_SITE else (-1,):
                shape = list(value.shape)
                shape[dim] = new_drugs
                value = torch.cat([value, value.new_full(shape, fill)], dim=dim)
            grown[key] = value
    return grown
