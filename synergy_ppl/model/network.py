"""The RECOVER drug-synergy network as a Pyro model, and the priors of its Bayesian weights.

A prior is a plain function ``prior(shape) -> Distribution`` whose event shape is ``shape``;
the network calls it once per Bayesian weight tensor. To try another prior, edit one of the
functions below or pass your own (``functools.partial`` sets hyperparameters)::

    def student_t(shape, df=3.0, scale=0.5):
        return dist.StudentT(df, 0.0, scale).expand(shape).to_event(len(shape))

    model = SynergyModel(SynergyNet(features, prior=student_t))

Shapes: ``N`` rows (triples), ``S`` posterior draws, ``D`` drugs, ``C`` cell lines. Every
layer broadcasts over leading sample dimensions of its weights, so the same forward serves
training (one draw), vectorised particles and prediction with ``(S, ...)`` weight draws;
deterministic layers run once whatever ``S`` is.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence

import pyro
import pyro.distributions as dist
import torch
from pyro.nn import PyroModule, PyroSample
from torch import nn
from torch.distributions import constraints
from torch.nn import functional as F

from ..data.features import FeatureSet

Prior = Callable[[torch.Size], dist.Distribution]


def local_params():
    """Context manager / decorator: modules keep their own parameters.

    Each model and guide then owns its parameters instead of sharing Pyro's global param
    store, so two fitted models in one process (pretraining and target, successive
    active-learning rounds) can never read each other's weights by name.
    """
    return pyro.settings.context(module_local_params=True)


# ------------------------------------------------------------------------------- priors


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
    """Log-uniform p(|w|) ∝ 1/|w| of sparse variational dropout; use with the SVD guide."""
    return LogUniform(shape).to_event(len(shape))


PRIORS: dict[str, Prior] = {
    "normal": normal,
    "scale-mixture": scale_mixture,
    "laplace": laplace,
    "log-uniform": log_uniform,
}
"""Priors by their CLI name."""


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


# ------------------------------------------------------------------------------- layers


class Linear(PyroModule):
    """``x @ W^T + b``, with W and b Bayesian when a prior is given.

    ``x`` is ``(..., N, in)``; with weight draws ``(S, out, in)`` the output is
    ``(S, N, out)``. ``F.linear`` would not broadcast over the draws.
    """

    def __init__(self, in_features: int, out_features: int, prior: Prior | None = None):
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        if prior is None:
            template = nn.Linear(in_features, out_features)
            self.weight = nn.Parameter(template.weight.detach())
            self.bias = nn.Parameter(template.bias.detach())
        else:
            self.weight = PyroSample(prior(torch.Size([out_features, in_features])))
            self.bias = PyroSample(prior(torch.Size([out_features])))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x @ self.weight.transpose(-1, -2) + self.bias.unsqueeze(-2)


class SymmetricBilinear(PyroModule):
    """Order-invariant bilinear merge of two drug embeddings (RECOVER).

    z_k = h_a^T W_k h_b + h_b^T W_k h_a + c_k, so z(a, b) = z(b, a) exactly.
    Inputs ``(..., N, d)``; output ``(..., N, K)``.
    """

    def __init__(self, dim: int, out_features: int, prior: Prior | None = None):
        super().__init__()
        self.dim, self.out_features = dim, out_features
        if prior is None:
            bound = 1.0 / dim
            self.weight = nn.Parameter(torch.empty(out_features, dim, dim).uniform_(-bound, bound))
            self.bias = nn.Parameter(torch.zeros(out_features))
        else:
            self.weight = PyroSample(prior(torch.Size([out_features, dim, dim])))
            self.bias = PyroSample(prior(torch.Size([out_features])))

    def forward(self, h_a: torch.Tensor, h_b: torch.Tensor) -> torch.Tensor:
        weight = self.weight + self.weight.transpose(-1, -2)
        # (..., N, d) x (..., K, d, d) -> (..., N, K, d): each row of h_a through each W_k
        projected = torch.einsum("...ni,...kij->...nkj", h_a, weight)
        return (projected * h_b.unsqueeze(-2)).sum(-1) + self.bias.unsqueeze(-2)


class MLP(PyroModule):
    """ReLU multilayer perceptron; the last layer is linear."""

    def __init__(self, sizes: Sequence[int], prior: Prior | None = None):
        super().__init__()
        self.layers = PyroModule[nn.ModuleList](
            [Linear(i, o, prior) for i, o in zip(sizes[:-1], sizes[1:], strict=True)]
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i < len(self.layers) - 1:
                x = torch.relu(x)
        return x


# ------------------------------------------------------------------------------ network

BAYESIAN_PARTS = ("head", "all")
CELL_EFFECT_SITE = "net.drug_cell_effect"
"""The per-(cell line, drug) effects ``(C, D)`` of ``SynergyNet(drug_effects=scale)``."""
PAIR_EFFECT_SITE = "net.pair_effect"
"""The per-pair effects ``(D, D)`` of ``SynergyNet(pair_effects=scale)`` (upper triangle used)."""
EFFECT_SITES = ("net.drug_effect", CELL_EFFECT_SITE, PAIR_EFFECT_SITE)
"""The latent effects of ``SynergyNet(drug_effects=..., pair_effects=...)``."""


class SynergyNet(PyroModule):
    """RECOVER: shared drug MLP -> symmetric bilinear merge -> FiLM(cell line) -> MLP head.

    ``forward(drug_a, drug_b, cell)`` takes index tensors of shape ``(N,)`` and returns the
    standardised synergy mean, ``(N,)`` with point weights or ``(S, N)`` with ``S`` weight
    draws. The drug MLP runs on the ``D`` drug rows once per call (not once per pair), then
    the embeddings are gathered for the pairs.

    ``bayesian="head"`` (default, RECOVER's BNN variant) makes the head after the merge
    Bayesian and keeps the trunk as point estimates; ``"all"`` makes every layer Bayesian.
    ``dropout`` (training only) on the drug embeddings and the conditioned merge keeps the
    point-estimate trunk from memorising the training pairs: without it the noise scale is
    learned from training residuals far smaller than held-out errors, and the predictive
    intervals are too narrow (O'Neil fold 0: 90% coverage 0.77 without, 0.91 with p=0.3).

    ``drug_effects > 0`` adds ``u[a] + u[b] + v[c, a] + v[c, b]`` to the output: latent drug
    effects with prior N(0, drug_effects^2) on the standardised scale, shared by all lines
    (``u``, ``(D,)``, site ``net.drug_effect``) and per cell line (``v``, ``(C, D)``,
    ``net.drug_cell_effect``, only when there are several lines). Synergy in a screen is
    often carried by a few drugs (in NCI-ALMANAC MCF7 four drugs are in 10 of the 15 best
    pairs); a drug measured in few pairs keeps a wide effect, and that is where UCB and
    Thompson sampling look next, which the point-estimate trunk cannot express. After
    pretraining on other cell lines (posterior as prior) ``u`` arrives informed while a new
    line's ``v`` has had no data; ``SynergyBNN.posterior_priors`` gives it the seen lines'
    population as prior, and what a drug does in the new line is learned from that line's
    measurements, not fixed by thousands of rows elsewhere.

    ``pair_effects > 0`` adds ``w[min(a, b), max(a, b)]``, a latent effect per unordered
    pair shared by all cell lines (site ``net.pair_effect``, ``(D, D)``, upper triangle
    used; only with several lines, since in one line a pair's effect is its single
    measurement's noise). A pair that is synergistic in many lines is a candidate in the
    next one: in NCI-ALMANAC, ranking MCF7's pairs by their best score in the other lines
    finds half its top 1% in 55 tests, pairs the drug effects and the fingerprints miss.
    """

    def __init__(
        self,
        features: FeatureSet,
        prior: Prior = normal,
        drug_layers: Sequence[int] = (256, 64),
        merge_dim: int = 64,
        head_layers: Sequence[int] = (64,),
        bayesian: str = "head",
        dropout: float = 0.0,
        drug_effects: float = 0.0,
        pair_effects: float = 0.0,
    ):
        super().__init__()
        if bayesian not in BAYESIAN_PARTS:
            raise ValueError(f"bayesian must be one of {BAYESIAN_PARTS}, not {bayesian!r}")
        trunk_prior = prior if bayesian == "all" else None
        self.register_buffer("drug_matrix", features.drug_matrix)
        self.register_buffer("cell_matrix", features.cell_matrix)
        self.drug_mlp = MLP([features.drug_matrix.shape[1], *drug_layers], trunk_prior)
        self.merge = SymmetricBilinear(drug_layers[-1], merge_dim, trunk_prior)
        self.film = Linear(features.cell_matrix.shape[1], 2 * merge_dim, trunk_prior)
        self.head = MLP([merge_dim, *head_layers, 1], prior)
        self.dropout = dropout
        for name, scale in (("drug_effects", drug_effects), ("pair_effects", pair_effects)):
            if scale < 0:
                raise ValueError(f"{name} is a prior SD and must be >= 0, not {scale}")
        n_drugs, n_cells = features.drug_matrix.shape[0], features.cell_matrix.shape[0]
        self.drug_effects = drug_effects
        # with one line, v would only duplicate u
        self.cell_drug_effects = drug_effects > 0 and n_cells > 1
        if drug_effects:
            self.drug_effect = PyroSample(normal(torch.Size([n_drugs]), drug_effects))
        if self.cell_drug_effects:
            self.drug_cell_effect = PyroSample(normal(torch.Size([n_cells, n_drugs]), drug_effects))
        self.pair_effects = pair_effects if n_cells > 1 else 0.0
        if self.pair_effects:
            self.pair_effect = PyroSample(normal(torch.Size([n_drugs, n_drugs]), pair_effects))

    def forward(self, drug_a: torch.Tensor, drug_b: torch.Tensor, cell: torch.Tensor):
        embeddings = torch.relu(self.drug_mlp(self.drug_matrix))  # (..., D, d)
        embeddings = F.dropout(embeddings, self.dropout, self.training)
        merged = self.merge(embeddings[..., drug_a, :], embeddings[..., drug_b, :])
        gamma, beta = self.film(self.cell_matrix).chunk(2, dim=-1)  # (..., C, K) each
        conditioned = merged * (1.0 + gamma[..., cell, :]) + beta[..., cell, :]
        hidden = F.dropout(torch.relu(conditioned), self.dropout, self.training)
        out = self.head(hidden).squeeze(-1)
        if self.drug_effects:
            shared = self.drug_effect  # (..., D)
            out = out + shared[..., drug_a] + shared[..., drug_b]
            if self.cell_drug_effects:
                per_cell = self.drug_cell_effect  # (..., C, D)
                out = out + per_cell[..., cell, drug_a] + per_cell[..., cell, drug_b]
        if self.pair_effects:
            pair = self.pair_effect  # (..., D, D)
            out = out + pair[..., torch.minimum(drug_a, drug_b), torch.maximum(drug_a, drug_b)]
        return out


# -------------------------------------------------------------------------------- model

LIKELIHOODS = ("normal", "student-t")


class SynergyModel(PyroModule):
    """The Pyro model: the network's mean plus a Normal (or Student-t) likelihood.

    y_i ~ Normal(f(a_i, b_i, c_i), sigma^2),  sigma ~ HalfNormal(1)

    on the standardised score scale. With ``likelihood="student-t"`` the noise is
    StudentT(nu, f, sigma) with ``nu - 1 ~ Gamma(2, 0.1)``, for heavy-tailed screens.
    Minibatches: pass ``n_total`` (training-set size) so that ``pyro.plate`` scales the
    likelihood of a batch to the whole data set.
    """

    def __init__(self, net: SynergyNet, likelihood: str = "normal"):
        super().__init__()
        if likelihood not in LIKELIHOODS:
            raise ValueError(f"likelihood must be one of {LIKELIHOODS}, not {likelihood!r}")
        self.net = net
        self.likelihood = likelihood

    def noise(self, mean: torch.Tensor) -> dist.Distribution:
        """The observation distribution around ``mean`` (samples the noise sites)."""
        sigma = pyro.sample("sigma", dist.HalfNormal(1.0))
        if self.likelihood == "student-t":
            nu = 1.0 + pyro.sample("nu_minus_one", dist.Gamma(2.0, 0.1))
            return dist.StudentT(nu, mean, sigma)
        return dist.Normal(mean, sigma)

    def forward(
        self,
        drug_a: torch.Tensor,
        drug_b: torch.Tensor,
        cell: torch.Tensor,
        y: torch.Tensor | None = None,
        n_total: int | None = None,
    ) -> torch.Tensor:
        mean = self.net(drug_a, drug_b, cell)
        observation = self.noise(mean)
        n = drug_a.shape[0]
        with pyro.plate("data", size=n_total or n, subsample=torch.arange(n, device=drug_a.device)):
            return pyro.sample("obs", observation, obs=y)
