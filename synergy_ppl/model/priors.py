"""Priors of the Bayesian weights: prior functions, their registry, and two custom distributions.

A prior is a plain function ``prior(shape) -> Distribution`` whose event shape is ``shape``;
the network calls it once per Bayesian weight tensor. Adding a prior is one function and one
line in :data:`PRIORS` (``functools.partial`` sets hyperparameters)::

    def student_t(shape, df=3.0, scale=0.5):
        return dist.StudentT(df, 0.0, scale).expand(shape).to_event(len(shape))

    PRIORS = {..., "student-t": student_t}

:func:`set_priors` replaces the prior of sites of a built model (a fitted posterior as the
prior of the next fit).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping

import pyro.distributions as dist
import torch
from pyro.nn import PyroModule, PyroSample
from torch.distributions import constraints

Prior = Callable[[torch.Size], dist.Distribution]


class ScaleMixtureNormal(dist.TorchDistribution):
    """Zero-mean two-component Gaussian mixture (Blundell et al. 2015), elementwise.

    p(w) = pi * N(w | 0, sigma1^2) + (1 - pi) * N(w | 0, sigma2^2)

    Written out instead of ``MixtureSameFamily`` because autoguides cannot transform the
    latter's support.
    """

    arg_constraints = {
        "pi": constraints.unit_interval,
        "sigma1": constraints.positive,
        "sigma2": constraints.positive,
    }
    support = constraints.real
    has_rsample = False

    def __init__(self, pi, sigma1, sigma2, validate_args=None):
        self.pi, self.sigma1, self.sigma2 = torch.distributions.utils.broadcast_all(
            pi, sigma1, sigma2
        )
        super().__init__(self.pi.shape, validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        shape = torch.Size(batch_shape)
        return ScaleMixtureNormal(
            self.pi.expand(shape), self.sigma1.expand(shape), self.sigma2.expand(shape)
        )

    def sample(self, sample_shape=()):
        shape = self._extended_shape(torch.Size(sample_shape))
        wide = torch.rand(shape, device=self.pi.device) < self.pi
        scale = torch.where(wide, self.sigma1.expand(shape), self.sigma2.expand(shape))
        return scale * torch.randn(shape, device=self.pi.device)

    def log_prob(self, value):
        wide = dist.Normal(0.0, self.sigma1).log_prob(value) + torch.log(self.pi)
        narrow = dist.Normal(0.0, self.sigma2).log_prob(value) + torch.log1p(-self.pi)
        return torch.logaddexp(wide, narrow)


class LogUniform(dist.TorchDistribution):
    """The improper log-uniform prior of sparse variational dropout (Molchanov et al. 2017).

    p(|w|) ∝ 1 / |w|, i.e. ``log_prob(w) = -log|w|`` up to an infinite constant. Only its KL
    to the multiplicative-noise guide is meaningful (see ``guides.py``); ``sample`` returns
    zeros because Pyro's tracing needs a value before the guide replaces it.
    """

    arg_constraints = {}
    support = constraints.real

    def __init__(self, batch_shape=(), validate_args=None):
        super().__init__(torch.Size(batch_shape), validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        return LogUniform(batch_shape)

    def sample(self, sample_shape=()):
        return torch.zeros(self._extended_shape(torch.Size(sample_shape)))

    def log_prob(self, value):
        return -torch.log(value.abs())


def is_real(support: constraints.Constraint) -> bool:
    """Whether ``support`` is the real numbers in every coordinate (a weight's), where a
    Normal posterior can serve as the next fit's prior; not a positive scale's."""
    while isinstance(support, constraints.independent):
        support = support.base_constraint
    return support is constraints.real


def normal(shape: torch.Size, scale: float = 1.0) -> dist.Distribution:
    """Isotropic Normal: w ~ N(0, scale^2)."""
    return dist.Normal(0.0, scale).expand(shape).to_event(len(shape))


def scale_mixture(
    shape: torch.Size, pi: float = 0.5, sigma1: float = 1.0, sigma2: float = math.exp(-6)
) -> dist.Distribution:
    """Scale mixture of two Gaussians (Bayes by backprop): pi N(0, s1^2) + (1-pi) N(0, s2^2)."""
    return ScaleMixtureNormal(pi, sigma1, sigma2).expand(shape).to_event(len(shape))


def laplace(shape: torch.Size, scale: float = 0.5) -> dist.Distribution:
    """Laplace (sparsity-inducing): p(w) = exp(-|w| / scale) / (2 scale)."""
    return dist.Laplace(0.0, scale).expand(shape).to_event(len(shape))


def log_uniform(shape: torch.Size) -> dist.Distribution:
    """Log-uniform p(|w|) ∝ 1/|w| of sparse variational dropout (its default guide: ``svd``)."""
    return LogUniform(shape).to_event(len(shape))


PRIORS: dict[str, Prior] = {
    "normal": normal,
    "scale-mixture": scale_mixture,
    "laplace": laplace,
    "log-uniform": log_uniform,
}
"""Priors by their CLI name."""
DEFAULT_PRIOR = "normal"
"""The prior of a model that names none."""


def set_priors(model: PyroModule, priors: Mapping[str, dist.Distribution]) -> None:
    """Replace, in place, the prior of latent sites named as in the model's trace.

    ``priors`` maps a site name (``"net.head.layers.0.weight"``) to its new distribution,
    whose event shape must be the site's. This is how a fitted posterior becomes the prior of
    the next fit (pretraining, continual learning), as TyXe's ``update_prior`` does. The
    change lives on the modules only: ``SynergyBNN.from_state`` rebuilds the configured prior.
    """
    sites = {
        module._pyro_get_fullname(attr): (module, attr)
        for module in model.modules()
        if isinstance(module, PyroModule)
        for attr in module._pyro_samples
    }
    unknown = sorted(set(priors) - set(sites))
    if unknown:
        raise ValueError(f"no latent site(s) {unknown[:5]} in the model; it has {sorted(sites)}")
    for name, prior in priors.items():
        module, attr = sites[name]
        current = module._pyro_samples[attr]
        expected = current.event_shape if isinstance(current, dist.Distribution) else None
        if expected is not None and prior.event_shape != expected:
            raise ValueError(
                f"prior of {name} has event shape {tuple(prior.event_shape)} but the site has "
                f"{tuple(expected)}; the two networks' layer sizes differ."
            )
        setattr(module, attr, PyroSample(prior))
