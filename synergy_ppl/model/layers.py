"""Layers whose weights are point estimates or, given a prior, Bayesian (``PyroSample``).

Every layer broadcasts over leading sample dimensions of its weights: with ``S`` weight draws
``(S, ...)`` the output gains a leading ``S``, so one forward serves training (one draw),
vectorised particles and prediction. ``x`` is ``(..., N, in)`` for ``N`` rows.
"""

from __future__ import annotations

from collections.abc import Sequence

import pyro.distributions as dist
import torch
from pyro.nn import PyroModule, PyroSample
from torch import nn

from .priors import Prior


class Linear(PyroModule):
    """``x @ W^T + b``, with W and b Bayesian when a prior is given.

    ``x`` is ``(..., N, in)``; with weight draws ``(S, out, in)`` the output is
    ``(S, N, out)``. ``F.linear`` would not broadcast over the draws.
    """

    def __init__(
        self, in_features: int, out_features: int, prior: Prior | None = None, bias: bool = True
    ):
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.has_bias = bias
        if prior is None:
            template = nn.Linear(in_features, out_features, bias=bias)
            self.weight = nn.Parameter(template.weight.detach())
            if bias:
                self.bias = nn.Parameter(template.bias.detach())
        else:
            self.weight = PyroSample(prior(torch.Size([out_features, in_features])))
            if bias:
                self.bias = PyroSample(prior(torch.Size([out_features])))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = x @ self.weight.transpose(-1, -2)
        return out + self.bias.unsqueeze(-2) if self.has_bias else out


class BlockScaledLinear(Linear):
    """A Bayesian :class:`Linear` whose input columns come in blocks, each block's weights with
    a prior scale learned from the data (automatic relevance determination):

        tau_k ~ HalfNormal(scale_sd),   W[:, j] ~ N(0, tau_{k(j)}^2),   b ~ prior

    With a fingerprint block and a one-hot identity block, a screen whose drugs have many rows
    can let the identities carry it and shrink the fingerprints' weights, and one with few
    rows per drug the reverse: the weighing of chemistry and identity is learned, not fixed by
    the input layout. ``tau`` is the site ``<path>.block_scale``, ``(K,)``.
    """

    def __init__(
        self, blocks: Sequence[int], out_features: int, prior: Prior, scale_sd: float = 1.0
    ):
        super().__init__(sum(blocks), out_features, prior)
        block_of = torch.repeat_interleave(torch.arange(len(blocks)), torch.tensor(blocks))
        self.register_buffer("block_of_column", block_of)
        self.block_scale = PyroSample(
            dist.HalfNormal(torch.full((len(blocks),), float(scale_sd))).to_event(1)
        )
        self.weight = PyroSample(lambda self: self._weight_prior())

    def _weight_prior(self) -> dist.Distribution:
        column_scale = self.block_scale[..., None, self.block_of_column]  # (..., 1, in)
        zeros = column_scale.new_zeros(self.out_features, self.in_features)
        return dist.Normal(zeros, column_scale).to_event(2)


class SymmetricBilinear(PyroModule):
    """Order-invariant bilinear merge of two drug embeddings (RECOVER).

    z_k = h_a^T W_k h_b + h_b^T W_k h_a + c_k, so z(a, b) = z(b, a) exactly.
    Inputs ``(..., N, d)``; output ``(..., N, K)``. Point weights start at U(-1/d, 1/d).
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
