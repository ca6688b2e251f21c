"""A Bayesian low-rank factorisation of the (drug, drug, cell line) synergy tensor, in the
spirit of BaTFLED (Bayesian tensor factorisation tied to features) and of BATCHIE's model."""

from __future__ import annotations

import math

import torch
from pyro.nn import pyro_method

from ..data.features import FeatureSet
from .layers import BlockScaledLinear, Linear
from .network import NetworkBase
from .priors import Prior, normal


class Factorization(NetworkBase):
    """Symmetric CP/Tucker factorisation with Bayesian drug and cell-line embeddings.

    Each drug d has an embedding e_d (R,) and each line c two, l_c and k_c (R,); they are
    Bayesian linear maps of the features, e_d = W_D x_d + b_D and [l_c, k_c] = W_C x_c + b_C,
    with every weight under the prior. Then

        f(a, b, c) = [ sum_r e_ar e_br l_cr + sum_r (e_ar + e_br) k_cr ] / sqrt(R)
                     [+ the latent effects of NetworkBase].

    The first sum is a rank-R CP decomposition of the symmetric pair x line tensor (b_C's
    first half is its line-independent core, so pairs share strength across lines); the
    second is each drug's effect in the line. f(a, b, c) = f(b, a, c) exactly. With one-hot
    features (``--n-bits 0 --cell-components 0``) the maps are free latent embeddings, one per
    drug and line, each with its prior; with fingerprints and expression they are tied to
    chemistry and biology, so a new drug or line gets an embedding from its features. A drug
    or line seen in few rows keeps a wide embedding, and so a wide prediction; one with no
    rows at all gets the measured ones' population (``drug_identity_site``,
    ``line_identity_site``; ``SynergyBNN.fit``).

    Everything is Bayesian and there is no point-estimate trunk to regularise, so a config
    refuses ``bayesian`` and ``dropout`` for this family. ``forward(drug_a, drug_b, cell)``
    takes index tensors ``(N,)`` and returns ``(N,)`` with point weights or ``(S, N)`` with
    ``S`` draws.

    Parameters
    ----------
    features : FeatureSet
        Drug rows ``(D, F)`` and cell-line rows ``(C, G)``.
    prior : Prior
        Prior of every weight tensor of the two embedding maps.
    rank : int
        R, the number of factors.
    learned_scales : bool
        With drug features (fingerprints) beside the one-hot identities, the prior scales of
        the two blocks of the drug map are learned (:class:`~.layers.BlockScaledLinear`).
    drug_effects, pair_effects : float
        Prior SDs of the latent effects (:class:`~synergy_ppl.model.network.NetworkBase`).
    """

    posterior_summary = ("drug_embedding.", "cell_embedding.")
    drug_identity_site = "net.drug_embedding.weight"
    line_identity_site = "net.cell_embedding.weight"
    options = ("rank", "learned_scales")
    defaults = {
        **NetworkBase.defaults,
        "rank": 128,
        "learned_scales": False,
        "guide_lr": 3e-3,
        "noise_effects": 0.5,
    }

    def __init__(
        self,
        features: FeatureSet,
        prior: Prior = normal,
        rank: int = defaults["rank"],
        drug_effects: float = 0.0,
        pair_effects: float = 0.0,
        learned_scales: bool = defaults["learned_scales"],
    ):
        super().__init__(features, "all", 0.0, drug_effects, pair_effects)
        self.rank = rank
        width, identity = features.drug_matrix.shape[1], features.n_identity
        if learned_scales and 0 < identity < width:  # features and identities: weigh them
            self.drug_embedding = BlockScaledLinear([width - identity, identity], rank, prior)
        else:
            self.drug_embedding = Linear(width, rank, prior)
        self.cell_embedding = Linear(features.cell_matrix.shape[1], 2 * rank, prior)

    @classmethod
    def from_config(cls, features: FeatureSet, config) -> Factorization:
        """The factorisation a :class:`~synergy_ppl.config.ModelConfig` describes."""
        return cls(
            features,
            prior=config.prior_fn(),
            rank=config.rank,
            drug_effects=config.drug_effects,
            pair_effects=config.pair_effects,
            learned_scales=config.learned_scales,
        )

    @pyro_method
    def encode(self) -> tuple[torch.Tensor, ...]:
        """Drug embeddings e ``(..., D, R)``, line factors l and k ``(..., C, R)`` each."""
        drugs = self.drug_embedding(self.drug_matrix)
        interaction, main = self.cell_embedding(self.cell_matrix).chunk(2, dim=-1)
        return drugs, interaction, main

    @pyro_method
    def pair_grid(self, encoded, cell: int, rows: torch.Tensor, cols: torch.Tensor):
        """``E_rows diag(l_c) E_cols^T + (E_rows k_c) 1^T + 1 (E_cols k_c)^T``, over sqrt(R),
        plus the effects: one batched matrix product per line instead of a gather per row."""
        drugs, interaction, main = encoded
        e_rows, e_cols = drugs[..., rows, :], drugs[..., cols, :]  # (..., A, R), (..., B, R)
        line, shift = interaction[..., cell, None, :], main[..., cell, :, None]  # (..., 1, R)
        out = (e_rows * line) @ e_cols.transpose(-1, -2)
        out = out + (e_rows @ shift) + (e_cols @ shift).transpose(-1, -2)
        return out / math.sqrt(self.rank) + self._grid_effects(cell, rows, cols)

    @pyro_method
    def decode(self, encoded, drug_a, drug_b, cell) -> torch.Tensor:
        drugs, interaction, main = encoded
        e_a, e_b = drugs[..., drug_a, :], drugs[..., drug_b, :]
        out = (e_a * e_b * interaction[..., cell, :] + (e_a + e_b) * main[..., cell, :]).sum(-1)
        return self._add_effects(out / math.sqrt(self.rank), drug_a, drug_b, cell)
