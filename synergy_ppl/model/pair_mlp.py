"""An order-symmetric MLP over [drug A, drug B, cell line]: the network of DeepSynergy and of
the one-hot baselines that are hard to beat on screens with many cell lines, made Bayesian
in its head and exactly symmetric in the drugs."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from pyro.nn import pyro_method
from torch.nn import functional as F

from ..data.features import FeatureSet
from .layers import MLP
from .network import NetworkBase
from .priors import Prior, normal


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
    hidden_layers : sequence of int
        Widths of g's point-estimate trunk (``bayesian="head"``) before the head.
    head_layers : sequence of int
        Hidden widths of g's Bayesian head, which ends in one output.
    bayesian : {"head", "all"}
        Which layers are Bayesian, as for :class:`~synergy_ppl.model.network.SynergyNet`.
    dropout : float
        Dropout (training only) on the input and on every hidden layer of the trunk.
    drug_effects, pair_effects : float
        Prior SDs of the latent effects (:class:`~synergy_ppl.model.network.NetworkBase`).
    """

    options = ("bayesian", "pair_layers", "head_layers", "dropout")
    defaults = {
        **NetworkBase.defaults,
        "bayesian": "head",
        "pair_layers": (1024, 512),
        "head_layers": (64,),
        "dropout": 0.2,
        "lr": 3e-4,
        "weight_decay": 0.0,
        "patience": 60,
    }

    def __init__(
        self,
        features: FeatureSet,
        prior: Prior = normal,
        hidden_layers: Sequence[int] = defaults["pair_layers"],
        head_layers: Sequence[int] = defaults["head_layers"],
        bayesian: str = defaults["bayesian"],
        dropout: float = 0.0,
        drug_effects: float = 0.0,
        pair_effects: float = 0.0,
    ):
        super().__init__(features, bayesian, dropout, drug_effects, pair_effects)
        width = 2 * features.drug_matrix.shape[1] + features.cell_matrix.shape[1]
        self.trunk = MLP([width, *hidden_layers], prior if bayesian == "all" else None)
        self.head = MLP([hidden_layers[-1], *head_layers, 1], prior)

    @classmethod
    def from_config(cls, features: FeatureSet, config) -> PairMLP:
        """The network a :class:`~synergy_ppl.config.ModelConfig` describes."""
        return cls(features, hidden_layers=config.pair_layers, **cls.shared_options(config))

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
