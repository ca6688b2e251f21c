"""Predictive samples: weight draws once, deterministic trunk once, Bayesian layers vectorised.

A naive ``Predictive`` over candidates reruns the whole network once per posterior draw.
Here the latent sites are drawn once with ``pyro.infer.Predictive`` (a cheap pass on a
single dummy row), and the network is then run on candidate chunks with those draws
substituted: the deterministic layers see no sample dimension and run once per chunk, the
Bayesian layers broadcast over the ``S`` draws. Every chunk sees the same draws, so the
``(S, N)`` matrix holds joint samples, as batch acquisition needs.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from numbers import Integral

import pandas as pd
import torch
from pyro import poutine
from pyro.infer import Predictive
from pyro.infer.autoguide import AutoGuide
from tqdm.auto import tqdm

from ..model.network import SynergyModel, Triples, dummy_triples

QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)
"""Predictive quantiles that :func:`summarise` reports (columns ``q05 ... q95``)."""
NUM_SAMPLES = 200
"""Posterior draws of a fitted model's predictions unless a call asks for another number."""
DEVICE = "cpu"
"""Where a model's tensors live unless it is given another device."""


def draw_posterior(
    model: SynergyModel, guide: AutoGuide, num_samples: int, seed: int = 0
) -> dict[str, torch.Tensor]:
    """``num_samples`` joint draws of every latent site from the guide.

    The guide alone is run (vectorised over the draws): its samples are the posterior's, and
    running the model beside it, as ``Predictive(model, guide)`` does, would only trace the
    network again (it took half the time of a fit's per-epoch validation). The latent sites
    are those of the guide's prototype trace (the model's, set up on the first call); their
    values come back in that shape.

    Returns site name -> tensor of shape ``(S, *event_shape)``.
    """
    if isinstance(num_samples, bool) or not isinstance(num_samples, Integral):
        raise TypeError(f"num_samples must be an integer, not {num_samples!r}.")
    if num_samples < 1:
        raise ValueError(f"num_samples must be >= 1, not {num_samples}.")
    dummy = dummy_triples(model.net.drug_matrix.device)
    # the global RNG is left as it was: a fit that draws between its steps (validation)
    # trains exactly as one that does not
    with torch.random.fork_rng(), torch.no_grad():
        if getattr(guide, "prototype_trace", None) is None:
            guide(*dummy)  # sets the guide up, as a first call does
        shapes = {
            name: site["value"].shape
            for name, site in guide.prototype_trace.iter_stochastic_nodes()
        }
        torch.manual_seed(seed)
        draws = Predictive(
            guide, num_samples=num_samples, return_sites=list(shapes), parallel=True
        )(*dummy)
    # detached: a point-estimate guide's draws are its parameters themselves
    return {
        name: draws[name].reshape(num_samples, *shape).detach() for name, shape in shapes.items()
    }


def member_draws(num_samples: int, members: int) -> list[int]:
    """How many of ``num_samples`` draws each of ``members`` members gives: equal shares,
    the first ``num_samples % members`` one more."""
    share, extra = divmod(num_samples, members)
    return [share + (k < extra) for k in range(members)]


def mixture_draws(
    model: SynergyModel, guides: Sequence[AutoGuide], num_samples: int, seed: int
) -> dict[str, torch.Tensor]:
    """``num_samples`` joint draws of the equal-weight mixture of ``guides``: member k's
    :func:`member_draws` share (seeded ``seed + k``), one member after the other,
    ``name -> (S, ...)``."""
    counts = member_draws(num_samples, len(guides))
    parts = [
        draw_posterior(model, guide, n, seed + k)
        for k, (guide, n) in enumerate(zip(guides, counts, strict=True))
        if n
    ]
    return {name: torch.cat([part[name] for part in parts]) for name in parts[0]}


CHUNK_ELEMENTS = 100_000
"""(draw, candidate) pairs per decoded chunk when ``network_blocks`` chooses the chunk size."""
GRID_ELEMENTS = 4_000_000
"""(draw, drug, drug) entries of one block of a line's pair grid (16 MB of float32)."""
GRID_DENSITY = 4
"""A line's rows are computed as its pair grid when they fill at least 1 / GRID_DENSITY of
it: the grid's matrix products then beat gathering every row's representations."""
PROGRESS_ROWS = 50_000
"""Rows above which a prediction that asks for it shows a progress bar (tens of seconds)."""


def network_blocks(
    model: SynergyModel,
    draws: dict[str, torch.Tensor],
    triples: Triples,
    chunk_size: int | None = None,
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Network outputs (standardised synergy means) of every row, block by block: pairs
    ``(rows (n,), f (S, n))`` that cover each row of ``triples`` once.

    The network encodes its drugs and lines once (``NetworkBase.encode``). A family with a
    pair grid (``NetworkBase.pair_grid``: the factorisation) computes a line whose rows fill
    enough of its drugs' pairs (:data:`GRID_DENSITY`) as matrix products, in blocks of
    :data:`GRID_ELEMENTS`; every other row is decoded in chunks of ``chunk_size`` rows, by
    default about ``CHUNK_ELEMENTS / S`` (1,000 at S = 100), so that the ``(S, chunk, width)``
    activations stay a few tens of MB whatever S is. Memory stays bounded whatever N is.
    """
    num_samples = next(iter(draws.values())).shape[0]
    chunk_size = chunk_size or max(1, CHUNK_ELEMENTS // num_samples)
    weights = {k: v for k, v in draws.items() if k.startswith("net.")}
    drug_a, drug_b, cell = triples
    with torch.no_grad(), poutine.condition(data=weights):
        encoded = model.net.encode()  # every drug's and line's representation, once
        decoded = torch.arange(len(cell), device=cell.device)
        probe = drug_a[:1]
        if len(cell) and model.net.pair_grid(encoded, int(cell[0]), probe, probe) is not None:
            order = torch.argsort(cell, stable=True)
            lines, counts = torch.unique_consecutive(cell[order], return_counts=True)
            decoded = []
            for line, rows in zip(lines.tolist(), order.split(counts.tolist()), strict=True):
                drugs = torch.unique(torch.cat([drug_a[rows], drug_b[rows]]))
                if len(rows) * GRID_DENSITY < len(drugs) * (len(drugs) - 1) // 2:
                    decoded.append(rows)
                    continue
                yield from _grid_blocks(model, encoded, line, rows, drugs, triples, num_samples)
            decoded = torch.cat(decoded) if decoded else cell[:0]
        for rows in decoded.split(chunk_size) if len(decoded) else ():
            yield rows, model.net.decode(encoded, drug_a[rows], drug_b[rows], cell[rows])


def _grid_blocks(model, encoded, line, rows, drugs, triples, num_samples):
    """``network_blocks`` of one line's ``rows`` from its pair grid over ``drugs`` ``(D,)``
    (sorted): blocks of grid rows, each ``(S, rows of the block, D)``."""
    drug_a, drug_b, _ = triples
    pos_a = torch.searchsorted(drugs, drug_a[rows])
    pos_b = torch.searchsorted(drugs, drug_b[rows])
    per_block = max(1, GRID_ELEMENTS // (num_samples * len(drugs)))
    block_of = pos_a // per_block
    order = torch.argsort(block_of, stable=True)
    blocks, counts = torch.unique_consecutive(block_of[order], return_counts=True)
    for block, members in zip(blocks.tolist(), order.split(counts.tolist()), strict=True):
        first = block * per_block
        grid = model.net.pair_grid(encoded, line, drugs[first : first + per_block], drugs)
        yield rows[members], grid[..., pos_a[members] - first, pos_b[members]]


def network_samples(
    model: SynergyModel,
    draws: dict[str, torch.Tensor],
    triples: Triples,
    chunk_size: int | None = None,
    progress: bool = False,
) -> torch.Tensor:
    """Network outputs (standardised synergy means) for every draw: ``(S, N)``, from
    :func:`network_blocks` written into one preallocated tensor (collecting the blocks and
    concatenating them makes peak memory grow with N through heap fragmentation). ``progress``
    shows a bar when there are more than :data:`PROGRESS_ROWS` rows. The values do not depend
    on the blocks, up to float rounding.
    """
    num_samples = next(iter(draws.values())).shape[0]
    n = len(triples[0])
    samples = model.net.drug_matrix.new_empty(num_samples, n)
    show = progress and n > PROGRESS_ROWS
    bar = tqdm(total=n, desc="predict", unit="row", disable=None if show else True, leave=False)
    for rows, block in network_blocks(model, draws, triples, chunk_size):
        samples[:, rows] = block
        bar.update(len(rows))
    bar.close()
    return samples


def observation_samples(
    model: SynergyModel,
    draws: dict[str, torch.Tensor],
    means: torch.Tensor,
    seed: int = 0,
    triples: Triples | None = None,
) -> torch.Tensor:
    """Draws of a new measurement ``y`` around the network means ``(S, N)``: ``(S, N)``.

    Draw s adds noise from the model's likelihood with that draw's noise parameters
    (``model.likelihood.predictive_noise``), e.g. y = f_s + sigma_s eps, eps ~ N(0, 1); with
    noise effects, y = f_s + sigma_s s_{s, i} eps with each row's factor s_i
    (``SynergyModel.row_noise_scale``; ``triples``, the rows, are needed then).
    """
    noise = _draw_noise(model, draws, triples)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return means + noise.expand(means.shape).sample()


def log_predictive_density(
    model: SynergyModel,
    draws: dict[str, torch.Tensor],
    means: torch.Tensor,
    y: torch.Tensor,
    triples: Triples | None = None,
) -> torch.Tensor:
    """log p(y_i | data) of each measured row under the posterior predictive: ``(N,)``.

    The predictive is the mixture of the ``S`` draws' likelihoods,
    log p(y_i) ~= logsumexp_s log p(y_i | f_si, theta_s) - log S, with ``means`` the network
    outputs ``(S, N)`` and theta_s each draw's noise parameters (``triples`` needed with noise
    effects, as in :func:`observation_samples`). Unlike a Gaussian fitted to the draws, it
    scores the function's spread and the noise's as the model states them.
    """
    log_density = _draw_noise(model, draws, triples).log_prob(y - means)  # (S, N)
    return torch.logsumexp(log_density, 0) - math.log(log_density.shape[0])


def _draw_noise(
    model: SynergyModel, draws: dict[str, torch.Tensor], triples: Triples | None
) -> torch.distributions.Distribution:
    """Each draw's measurement noise around 0, batch ``(S, 1)``, or ``(S, N)`` with noise
    effects (each row's width from its line and drugs, ``triples`` the rows)."""
    return model.likelihood.predictive_noise(draws, model.row_noise_scale(draws, triples))


def summarise(pairs: pd.DataFrame, samples: torch.Tensor) -> pd.DataFrame:
    """``pairs`` plus the mean, std and quantiles of ``samples`` ``(S, N)`` per row."""
    if samples.shape[0] < 2:  # the std of one draw is NaN
        raise ValueError(f"num_samples must be >= 2 to summarise a spread, not {samples.shape[0]}.")
    out = pairs.reset_index(drop=True).copy()
    out["mean"] = samples.mean(0).numpy()
    out["std"] = samples.std(0).numpy()
    levels = torch.tensor(QUANTILES, dtype=samples.dtype)
    for level, values in zip(QUANTILES, torch.quantile(samples, levels, dim=0), strict=True):
        out[f"q{int(round(level * 100)):02d}"] = values.numpy()
    return out
