"""Variational families (guides) for the Bayesian weights, by name in :data:`GUIDES`.

- ``"mean-field"`` (:func:`mean_field`) — fully factorised Normal (Bayes by backprop), means
  initialised like a normal network (fan-in scaled) and scales of :data:`MEAN_FIELD_SCALE`,
  small enough that training starts from a working net. The scales grow during training; a
  fit that early stopping ends soon leaves them short of the posterior's width, so the
  function's bands come out too narrow (``benchmarks/epistemic.py``).
- ``"svd"`` (:class:`SparseVariationalDropout`) — Molchanov et al. (2017): q(w) = N(theta,
  alpha theta^2) per weight, made for the log-uniform prior. It is learned in the *additive*
  reparameterisation (theta and sigma, alpha = sigma^2 / theta^2) that the paper recommends
  for low-variance gradients, and exposes ``log_alpha()``; weights with log-alpha >
  :data:`PRUNE_LOG_ALPHA` are effectively switched off.
- ``"map"`` (:class:`PointEstimate`) — every latent site a point (Pyro's ``AutoDelta``): the
  maximum a posteriori network, the non-Bayesian reference.

A guide builder is a callable ``model -> guide``, the guide implementing :class:`NormalSites`'
interface (location and scale per site). Adding one is the builder plus one line in
:data:`GUIDES`; a prior that needs its own guide by default gets one line in
:data:`DEFAULT_GUIDES` (every other prior defaults to ``"mean-field"``).

The KL between a Normal and the log-uniform prior has no closed form; the registered
:func:`kl_normal_log_uniform` is the paper's approximation, which ``TraceMeanField_ELBO`` uses
analytically (Normal and Laplace priors have exact KLs registered by torch).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import ClassVar

import pyro.distributions as dist
import torch
from pyro.infer.autoguide import AutoDelta, AutoNormal
from pyro.infer.autoguide.initialization import init_to_median
from pyro.infer.autoguide.utils import deep_setattr
from pyro.nn import PyroParam
from torch.distributions import register_kl

from .isolation import OwnParams
from .network import EFFECT_SITES, NOISE_SITES, SynergyModel
from .priors import LogUniform

MOLCHANOV_K1, MOLCHANOV_K2, MOLCHANOV_K3 = 0.63576, 1.87320, 1.48695
"""The fitted constants of Molchanov et al.'s (2017) approximation to the KL, eq. 14."""
PRUNE_LOG_ALPHA = 3.0
"""Weights with log-alpha above this are treated as switched off (alpha > ~20)."""
LOG_ALPHA_BOUNDS = (-10.0, 10.0)
"""log-alpha is clamped to this range: beyond it the KL approximation is flat, and a weight
mean near 0 would otherwise send log-alpha (and its gradient) to infinity."""
LOC_EPS = 1e-8
"""Added to |theta| inside log(theta^2) so that a weight mean of exactly 0 stays finite."""
MEAN_FIELD_SCALE = 1e-2
"""Initial scale of the mean-field guide's weights; from 1e-3 they barely move in a fit."""
SVD_SCALE = math.exp(-5.0)
"""Initial sigma of the sparse variational dropout guide, as in Molchanov et al. (2017)."""


def neg_kl_log_uniform_approx(log_alpha: torch.Tensor) -> torch.Tensor:
    """Molchanov et al. (2017), eq. 14: -KL(q || p) per weight, as a function of log-alpha.

    -KL ≈ k1 sigmoid(k2 + k3 log α) - 0.5 log(1 + 1/α) - k1,
    k1, k2, k3 = 0.63576, 1.87320, 1.48695.
    """
    return (
        MOLCHANOV_K1 * torch.sigmoid(MOLCHANOV_K2 + MOLCHANOV_K3 * log_alpha)
        - 0.5 * torch.nn.functional.softplus(-log_alpha)
        - MOLCHANOV_K1
    )


def log_alpha_of(loc: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """log α = log(σ² / θ²) of a Normal(θ, σ) factor, clamped to :data:`LOG_ALPHA_BOUNDS`."""
    log_alpha = 2.0 * torch.log(scale) - 2.0 * torch.log(loc.abs() + LOC_EPS)
    return log_alpha.clamp(*LOG_ALPHA_BOUNDS)


@register_kl(dist.Normal, LogUniform)
def kl_normal_log_uniform(q: dist.Normal, p: LogUniform) -> torch.Tensor:
    """KL(N(θ, σ²) || log-uniform), elementwise, by Molchanov's approximation."""
    return -neg_kl_log_uniform_approx(log_alpha_of(q.loc, q.scale))


def fan_in_init(site: dict) -> torch.Tensor:
    """Initial guide mean: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weights, as ``nn.Linear``.

    Biases, drug effects and noise effects start at zero; other sites (noise scale) at their
    prior median.
    Starting from prior draws instead leaves a deep net far from any fit for many epochs.
    """
    shape = site["fn"].shape()
    device = site["value"].device if site["value"] is not None else None
    name = site["name"]
    if name.endswith(".weight"):
        bound = 1.0 / math.sqrt(shape[-1])
        return torch.empty(shape, device=device).uniform_(-bound, bound)
    if name.endswith(".bias") or name in (*EFFECT_SITES, *NOISE_SITES):
        return torch.zeros(shape, device=device)
    return init_to_median(site)


def _site_param(root: torch.nn.Module, path: str) -> torch.Tensor:
    """The attribute at dotted ``path`` below ``root`` (a guide's per-site parameter)."""
    return functools.reduce(getattr, path.split("."), root)


class NormalSites(OwnParams):
    """The guide interface the rest of the package reads, for guides with a Normal per site.

    q(w_site) = N(loc, scale^2) in the site's unconstrained space (the weights' own space;
    a positive site's log-like one). The unseen-entity code,
    transfer and diagnostics read and write a guide only through :meth:`loc_and_scale`,
    :meth:`set_loc_and_scale` and :meth:`state_keys`, never through a guide's private state.
    Mixed into Pyro's ``AutoNormal`` (whose ``locs`` / ``scales`` modules hold the values).
    """

    has_spread: ClassVar[bool] = True
    """Whether q has a width: a point-estimate guide's draws are all its location."""

    def loc_and_scale(self, site: str) -> tuple[torch.Tensor, torch.Tensor]:
        """q's location and scale at ``site``, each the site's shape (scale > 0)."""
        return _site_param(self.locs, site), _site_param(self.scales, site)

    def set_loc_and_scale(self, site: str, loc: torch.Tensor, scale: torch.Tensor) -> None:
        """Replace q's location and scale at ``site`` (same shapes; scale > 0)."""
        unconstrained = torch.distributions.transform_to(self.scale_constraint).inv(scale)
        with torch.no_grad():
            _site_param(self.locs, f"{site}_unconstrained").copy_(loc)
            _site_param(self.scales, f"{site}_unconstrained").copy_(unconstrained)

    @staticmethod
    def state_keys(site: str) -> dict[str, str]:
        """Keys of ``site``'s location (``"loc"``) and scale (``"scale"``, stored
        unconstrained, increasing in the scale) in the guide's ``state_dict``."""
        return {"loc": f"locs.{site}_unconstrained", "scale": f"scales.{site}_unconstrained"}


class MeanField(AutoNormal, NormalSites):
    """Mean-field Normal guide q(w) = prod N(mu, sigma^2) over every latent site.

    Weights start like a normal network (``fan_in_init``, scales ``init_scale``). The drug
    effects (:data:`~synergy_ppl.model.network.EFFECT_SITES`) start at zero with their
    prior's SD instead: nothing is known about a drug until its measurements say so, and the
    few dozen SVI steps a small active-learning round gives would not grow a small initial
    scale to the prior's width.
    """

    def _setup_prototype(self, *args, **kwargs):
        super()._setup_prototype(*args, **kwargs)
        for name, site in self.prototype_trace.iter_stochastic_nodes():
            if name not in EFFECT_SITES:
                continue
            try:
                sd = site["fn"].base_dist.stddev.detach()
            except NotImplementedError:  # priors without a finite SD keep the default
                continue
            deep_setattr(
                self.scales,
                name,
                PyroParam(sd.clone(), self.scale_constraint, self._event_dims[name]),
            )


def mean_field(model: SynergyModel, init_scale: float = MEAN_FIELD_SCALE) -> MeanField:
    """The :class:`MeanField` guide of ``model``."""
    return MeanField(model, init_loc_fn=fan_in_init, init_scale=init_scale)


class SparseVariationalDropout(AutoNormal, NormalSites):
    """Sparse variational dropout guide (Molchanov et al. 2017) for the log-uniform prior.

    Each weight has q(w) = N(θ, σ²) with α = σ²/θ²; θ and log σ are the learned
    parameters (additive reparameterisation), initialised with σ = :data:`SVD_SCALE`.
    """

    def __init__(self, model: SynergyModel, init_scale: float = SVD_SCALE):
        super().__init__(model, init_loc_fn=fan_in_init, init_scale=init_scale)

    def log_alpha(self) -> dict[str, torch.Tensor]:
        """log α of every site under the log-uniform prior, keyed by site name.

        Other sites (noise, drug effects, weights under another prior) are left out.
        """
        out = {}
        for name, site in self.prototype_trace.iter_stochastic_nodes():
            if isinstance(site["fn"].base_dist, LogUniform):
                loc, scale = self.loc_and_scale(name)
                out[name] = log_alpha_of(loc, scale).detach()
        return out


class PointEstimate(AutoDelta, OwnParams):
    """Every latent site at a point, q(w) = delta(w - w_hat): SVI then maximises
    log p(y | w_hat) + log p(w_hat), a MAP network with the prior as its weight penalty.

    The reference a Bayesian guide has to beat; its predictive spread is the noise alone.
    Means start like the mean-field guide's (``fan_in_init``). It implements the interface
    of :class:`NormalSites` with a zero scale.
    """

    has_spread: ClassVar[bool] = False

    def __init__(self, model: SynergyModel):
        super().__init__(model, init_loc_fn=fan_in_init)

    def loc_and_scale(self, site: str) -> tuple[torch.Tensor, torch.Tensor]:
        """The point at ``site`` (unconstrained) and a zero scale of its shape."""
        point = _site_param(self, f"{site}_unconstrained")
        return point, torch.zeros_like(point)

    def set_loc_and_scale(self, site: str, loc: torch.Tensor, scale: torch.Tensor) -> None:
        """Move the point at ``site`` to ``loc`` (``scale`` has no place to go)."""
        with torch.no_grad():
            _site_param(self, f"{site}_unconstrained").copy_(loc)

    @staticmethod
    def state_keys(site: str) -> dict[str, str]:
        """Key of ``site``'s point (``"loc"``) in the guide's ``state_dict``; no scale."""
        return {"loc": f"{site}_unconstrained"}


Guide = NormalSites | PointEstimate
"""What :data:`GUIDES` build: a guide with the :class:`NormalSites` interface."""


GuideBuilder = Callable[[SynergyModel], Guide]

GUIDES: dict[str, GuideBuilder] = {
    "mean-field": mean_field,
    "svd": SparseVariationalDropout,
    "map": PointEstimate,
}
"""Guide builders (``model -> guide``) by their CLI name."""
DEFAULT_GUIDES: dict[str, str] = {"log-uniform": "svd"}
"""Prior name -> the guide it gets when none is named; every other prior gets ``"mean-field"``."""


def default_guide(prior: str) -> str:
    """The name of the guide that ``prior`` (a name in ``PRIORS``) gets by default."""
    return DEFAULT_GUIDES.get(prior, "mean-field")


def make_guide(model: SynergyModel, guide: str) -> Guide:
    """The guide named ``guide`` (a key of :data:`GUIDES`) for ``model``."""
    if guide not in GUIDES:
        raise ValueError(f"guide must be one of {tuple(GUIDES)}, not {guide!r}")
    return GUIDES[guide](model)
