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

import pandas as pd
import torch
from pyro import poutine
from pyro.infer import Predictive
from pyro.infer.autoguide import AutoGuide

from ..model.network import SynergyModel, Triples, dummy_triples, local_params

QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)
"""Predictive quantiles that :func:`summarise` reports (columns ``q05 ... q95``)."""


@local_params()
def draw_posterior(
    model: SynergyModel, guide: AutoGuide, num_samples: int, seed: int = 0
) -> dict[str, torch.Tensor]:
    """``num_samples`` joint draws of every latent site from the guide.

    Returns site name -> tensor of shape ``(S, *event_shape)``.
    """
    dummy = dummy_triples(model.net.drug_matrix.device)
    # the global RNG is left as it was: a fit that draws between its steps (validation)
    # trains exactly as one that does not
    with torch.random.fork_rng(), torch.no_grad():
        sites = [
            name
            for name, site in poutine.trace(guide).get_trace(*dummy).nodes.items()
            if site["type"] == "sample"
        ]
        torch.manual_seed(seed)
        draws = Predictive(
            model, guide=guide, num_samples=num_samples, return_sites=sites, parallel=True
        )(*dummy)
    # the vectorising plate adds a singleton batch axis at dim 1; drop it
    return {name: value.squeeze(1) for name, value in draws.items()}


CHUNK_ELEMENTS = 100_000
"""(draw, candidate) pairs per chunk when ``network_samples`` chooses the chunk size."""


@local_params()
def network_samples(
    model: SynergyModel,
    draws: dict[str, torch.Tensor],
    triples: Triples,
    chunk_size: int | None = None,
) -> torch.Tensor:
    """Network outputs (standardised synergy means) for every draw: ``(S, N)``.

    Candidates go through in chunks of ``chunk_size`` rows; by default about
    ``CHUNK_ELEMENTS / S`` (1,000 at S = 100), so that the Bayesian layers' ``(S, chunk, width)``
    activations stay a few tens of MB whatever S is and fit the CPU caches. Each chunk is
    written into one preallocated ``(S, N)`` tensor: collecting per-chunk outputs and
    concatenating them makes peak memory grow with N (heap fragmentation); written in place it
    stays flat. The values do not depend on the chunking.
    """
    num_samples = next(iter(draws.values())).shape[0]
    chunk_size = chunk_size or max(1, CHUNK_ELEMENTS // num_samples)
    weights = {k: v for k, v in draws.items() if k.startswith("net.")}
    samples = model.net.drug_matrix.new_empty(num_samples, len(triples[0]))
    with torch.no_grad():
        net = poutine.condition(model.net, data=weights)
        for start in range(0, len(triples[0]), chunk_size):
            chunk = tuple(t[start : start + chunk_size] for t in triples)
            samples[:, start : start + chunk_size] = net(*chunk)
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
    out = pairs.reset_index(drop=True).copy()
    out["mean"] = samples.mean(0).numpy()
    out["std"] = samples.std(0).numpy()
    levels = torch.tensor(QUANTILES, dtype=samples.dtype)
    for level, values in zip(QUANTILES, torch.quantile(samples, levels, dim=0), strict=True):
        out[f"q{int(round(level * 100)):02d}"] = values.numpy()
    return out
