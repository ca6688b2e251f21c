"""Likelihoods: the distribution of a measurement around the network's mean.

On the standardised score scale a measurement of row i is

    y_i ~ p(y | f_i, theta),   theta ~ p(theta),

with f_i the network's output and theta the noise parameters, latent sites shared by all rows.
A :class:`Likelihood` owns both uses of that distribution: inside the model it samples theta
from its priors and observes ``obs`` in the data plate (:meth:`Likelihood.__call__`); after
fitting it turns posterior draws of theta into measurement noise for predictive samples
(:meth:`Likelihood.predictive_noise`).

Adding a likelihood is one subclass giving :meth:`~Likelihood.priors` and
:meth:`~Likelihood.distribution`, plus one line in :data:`LIKELIHOODS`::

    class LaplaceLikelihood(Likelihood):
        def priors(self):
            return {"sigma": dist.HalfNormal(1.0)}

        def distribution(self, mean, noise):
            return dist.Laplace(mean, noise["sigma"])
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import ClassVar

import pyro
import pyro.distributions as dist
import torch


class Likelihood:
    """Base class: noise parameters with priors and the observation distribution they define.

    Subclasses implement :meth:`priors` and :meth:`distribution`; the model and the
    predictive code call only :meth:`__call__` and :meth:`predictive_noise`. Both take an
    optional ``row_scale``, a positive factor per row that multiplies the noise site
    :attr:`scale_site` (the model's noise effects, ``SynergyModel``).
    """

    scale_site: ClassVar[str] = "sigma"
    """The noise site that sets the noise's width, multiplied by ``row_scale``."""
    keywords: dict[str, object]
    """The constructor's arguments as given, by name (a config's ``likelihood_kwargs``)."""

    def __new__(cls, *args, **kwargs):
        likelihood = super().__new__(cls)
        given = inspect.signature(cls.__init__).bind_partial(likelihood, *args, **kwargs)
        keywords = dict(list(given.arguments.items())[1:])  # without self
        for name, parameter in inspect.signature(cls.__init__).parameters.items():
            if parameter.kind is parameter.VAR_KEYWORD:
                keywords |= keywords.pop(name, {})
        likelihood.keywords = keywords
        return likelihood

    def priors(self) -> dict[str, dist.Distribution]:
        """Site name -> prior of each noise parameter, sampled in this order."""
        raise NotImplementedError

    def distribution(
        self, mean: torch.Tensor | float, noise: Mapping[str, torch.Tensor]
    ) -> dist.Distribution:
        """p(y | mean, theta), ``noise`` holding theta by site name; broadcasts over both."""
        raise NotImplementedError

    @property
    def sites(self) -> tuple[str, ...]:
        """The names of the noise sites (keys of :meth:`priors`)."""
        return tuple(self.priors())

    def __call__(
        self,
        mean: torch.Tensor,
        y: torch.Tensor | None = None,
        n_total: int | None = None,
        row_scale: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Sample the noise sites, then ``obs`` for the ``N`` rows of ``mean`` ``(..., N)``.

        The noise sites lie outside the data plate (one value for all rows); ``obs`` lies
        inside it, and ``n_total`` (training-set size) scales a minibatch's log-likelihood
        to the whole data set. ``row_scale`` ``(..., N)``, if given, multiplies each row's
        noise width.
        """
        noise = {name: pyro.sample(name, prior) for name, prior in self.priors().items()}
        observation = self.distribution(mean, self._rescaled(noise, row_scale))
        n = mean.shape[-1]
        with pyro.plate("data", size=n_total or n, subsample=torch.arange(n, device=mean.device)):
            return pyro.sample("obs", observation, obs=y)

    def predictive_noise(
        self, draws: Mapping[str, torch.Tensor], row_scale: torch.Tensor | None = None
    ) -> dist.Distribution:
        """Measurement noise around 0 for each of ``S`` posterior draws: batch shape ``(S, 1)``,
        or ``(S, N)`` with ``row_scale`` ``(S, N)`` (each draw's factor for each row).

        ``draws`` maps site name -> ``(S,)`` draws (at least the noise sites).
        """
        noise = {name: draws[name].unsqueeze(-1) for name in self.sites}
        return self.distribution(0.0, self._rescaled(noise, row_scale))

    def _rescaled(
        self, noise: dict[str, torch.Tensor], row_scale: torch.Tensor | None
    ) -> dict[str, torch.Tensor]:
        if row_scale is None:
            return noise
        return {**noise, self.scale_site: noise[self.scale_site] * row_scale}

    def __repr__(self) -> str:
        given = ", ".join(f"{k}={v!r}" for k, v in self.keywords.items())
        return f"{type(self).__name__}({given})"


class NormalLikelihood(Likelihood):
    """y ~ Normal(f, sigma^2),  sigma ~ HalfNormal(sigma_scale)."""

    def __init__(self, sigma_scale: float = 1.0):
        self.sigma_scale = sigma_scale

    def priors(self) -> dict[str, dist.Distribution]:
        return {"sigma": dist.HalfNormal(self.sigma_scale)}

    def distribution(self, mean, noise):
        return dist.Normal(mean, noise["sigma"])


class StudentTLikelihood(Likelihood):
    """y ~ StudentT(nu, f, sigma),  sigma ~ HalfNormal(sigma_scale),  nu - 1 ~ Gamma(a, b).

    For screens with heavy-tailed noise. ``nu > 1`` keeps the mean finite; the default
    Gamma(2, 0.1) (mean 20) lets the data choose anything from heavy tails to nearly Normal.
    """

    def __init__(self, sigma_scale: float = 1.0, nu_shape: float = 2.0, nu_rate: float = 0.1):
        self.sigma_scale, self.nu_shape, self.nu_rate = sigma_scale, nu_shape, nu_rate

    def priors(self) -> dict[str, dist.Distribution]:
        return {
            "sigma": dist.HalfNormal(self.sigma_scale),
            "nu_minus_one": dist.Gamma(self.nu_shape, self.nu_rate),
        }

    def distribution(self, mean, noise):
        return dist.StudentT(1.0 + noise["nu_minus_one"], mean, noise["sigma"])


LIKELIHOODS: dict[str, type[Likelihood]] = {
    "normal": NormalLikelihood,
    "student-t": StudentTLikelihood,
}
"""Likelihood classes by their CLI name."""
DEFAULT_LIKELIHOOD = "normal"
"""The likelihood of a model that names none."""


def make_likelihood(likelihood: Likelihood | str) -> Likelihood:
    """``likelihood`` itself, or the default instance of the registered name."""
    if isinstance(likelihood, Likelihood):
        return likelihood
    if likelihood not in LIKELIHOODS:
        raise ValueError(f"likelihood must be one of {tuple(LIKELIHOODS)}, not {likelihood!r}")
    return LIKELIHOODS[likelihood]()
