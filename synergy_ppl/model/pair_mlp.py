"""An order-symmetric MLP over [drug A, drug B, cell line]: the network of DeepSynergy and of
the one-hot baselines that are hard to beat on screens with many cell lines, made Bayesian
in its head and exactly symmetric in the drugs."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from pyro.nn import pyro_method
from torch.nn import functional as F

from ..data.features import FeatureSet
from .layers import MLP
from .network import NetworkBase
from .options import NetworkOptions
from .priors import Prior, normal


@dataclass(frozen=True, kw_only=True)
class PairMLPOptions(NetworkOptions):
    """The options of the pair-MLP family (:class:`PairMLP`) and its defaults.

    Parameters
    ----------
    bayesian : {"head", "all"}
        Which layers are Bayesian, as for :class:`~synergy_ppl.model.network.SynergyNet`.
    pair_layers : tuple of int
        Widths of g's point-estimate trunk (``bayesian="head"``) before the head.
    head_layers : tuple of int
        Hidden widths of g's Bayesian head, which ends in one output.
    dropout : float
        Dropout (training only) on the input and on every hidden layer of the trunk.
    drug_effects, pair_effects, noise_effects : float
        As for every family (:class:`~synergy_ppl.model.options.NetworkOptions`).
    """

    bayesian: str = "head"
    point_layers_with = ("head",)  # the trunk
    pair_layers: tuple[int, ...] = (1024, 512)
    head_layers: tuple[int, ...] = (64,)
    dropout: float = 0.2
    training_defaults = {
        **NetworkOptions.training_defaults,
        "lr": 3e-4,
        "weight_decay": 0.0,
        "patience": 60,
    }

    def build(self, features: FeatureSet, prior: Prior = normal) -> PairMLP:
        """The pair MLP over ``features``, its Bayesian weights under ``prior``."""
        return PairMLP(features, prior, **self.values())


class PairMLP(NetworkBase):
    """f(a, b, c) = [g(x_a, x_b, x_c) + g(x_b, x_a, x_c)] / 2, with g an MLP.

    Unlike RECOVER's merge, every feature of both drugs meets every feature of the cell line
    in the first layer, so pair x line interactions are not squeezed through a few FiLM
    parameters. Averaging both drug orders makes f(a, b, c) = f(b, a, c) exactly.

    ``forward(drug_a, drug_b, cell)`` takes index tensors ``(N,)`` and returns f, ``(N,)``
    with point weights or ``(S, N)`` with ``S`` weight draws.

    Parameters
    ----------
    features : FeatureSet
        Drug rows ``(D, F)`` and cell-line rows ``(C, G)``; the input of g is ``2F + G`` wide.
    prior : Prior
        Prior of every Bayesian weight tensor.
    **options
        Fields of :class:`PairMLPOptions` (its defaults for those not given).
    """

    Options = PairMLPOptions

    def __init__(self, features: FeatureSet, prior: Prior = normal, **options: object):
        super().__init__(features, settings := PairMLPOptions(**options))
        width = 2 * features.drug_matrix.shape[1] + features.cell_matrix.shape[1]
        trunk_prior = prior if settings.bayesian == "all" else None
        self.trunk = MLP([width, *settings.pair_layers], trunk_prior)
        self.head = MLP([settings.pair_layers[-1], *settings.head_layers, 1], prior)

    def _g(self, first: torch.Tensor, second: torch.Tensor, cell: torch.Tensor) -> torch.Tensor:
        x = torch.cat(
            [self.drug_matrix[first], self.drug_matrix[second], self.cell_matrix[cell]], -1
        )
        x = F.dropout(x, self.dropout, self.training)
        hidden = F.dropout(torch.relu(self.trunk(x)), self.dropout, self.training)
        return self.head(hidden).squeeze(-1)

    @pyro_method
    def decode(self, encoded, drug_a, drug_b, cell) -> torch.Tensor:
        # the trunk sees both drugs at once: nothing to encode per drug
        out = 0.5 * (self._g(drug_a, drug_b, cell) + self._g(drug_b, drug_a, cell))
        return self._add_effects(out, drug_a, drug_b, cell)
