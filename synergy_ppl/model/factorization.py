"""A Bayesian low-rank factorisation of the (drug, drug, cell line) synergy tensor, in the
spirit of BaTFLED (Bayesian tensor factorisation tied to features) and of BATCHIE's model."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from pyro.nn import pyro_method

from ..data.features import FeatureSet
from .layers import BlockScaledLinear, Linear
from .network import NetworkBase
from .options import NetworkOptions
from .priors import Prior, normal
from .single_agent import SingleAgentShift


@dataclass(frozen=True, kw_only=True)
class FactorizationOptions(NetworkOptions):
    """The options of the factorisation family (:class:`Factorization`) and its defaults.

    Parameters
    ----------
    rank : int
        R, the number of factors.
    learned_scales : bool
        With drug features (fingerprints) beside the one-hot identities, the prior scales of
        the two blocks of the drug map are learned (:class:`~.layers.BlockScaledLinear`).
    drug_effects, pair_effects, noise_effects : float
        As for every family (:class:`~synergy_ppl.model.options.NetworkOptions`); per-line
        and per-drug noise widths are on by default here.
    """

    rank: int = 128
    learned_scales: bool = False
    noise_effects: float = 0.5
    training_defaults = {**NetworkOptions.training_defaults, "guide_lr": 3e-3}

    def build(self, features: FeatureSet, prior: Prior = normal) -> Factorization:
        """The factorisation over ``features``, every weight under ``prior``."""
        return Factorization(features, prior, **self.values())


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
    **options
        Fields of :class:`FactorizationOptions` (its defaults for those not given).
    """

    Options = FactorizationOptions
    reads_monotherapy = True
    posterior_summary = ("drug_embedding.", "cell_embedding.")
    drug_identity_site = "net.drug_embedding.weight"
    line_identity_site = "net.cell_embedding.weight"

    def __init__(self, features: FeatureSet, prior: Prior = normal, **options: object):
        super().__init__(features, settings := FactorizationOptions(**options))
        self.rank = rank = settings.rank
        width, identity = features.drug_matrix.shape[1], features.n_identity
        if settings.learned_scales and 0 < identity < width:  # features and identities
            self.drug_embedding = BlockScaledLinear([width - identity, identity], rank, prior)
        else:
            self.drug_embedding = Linear(width, rank, prior)
        self.cell_embedding = Linear(features.cell_matrix.shape[1], 2 * rank, prior)
        self.add_single_agent(features, prior)

    def add_single_agent(self, features: FeatureSet, prior: Prior) -> None:
        """The single-agent shift of the drug embeddings, when the features hold responses."""
        single = features.monotherapy
        self.single_agent = None if single is None else SingleAgentShift(single, self.rank, prior)

    def _drugs(self, drugs: torch.Tensor, index: torch.Tensor, cell) -> torch.Tensor:
        """Rows ``index`` of the embeddings ``(..., D, R)`` in line(s) ``cell``, shifted by
        their single-agent responses there: ``(..., N, R)``."""
        rows = drugs[..., index, :]
        return rows if self.single_agent is None else rows + self.single_agent(index, cell)

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
        e_rows, e_cols = self._drugs(drugs, rows, cell), self._drugs(drugs, cols, cell)
        line, shift = interaction[..., cell, None, :], main[..., cell, :, None]  # (..., 1, R)
        out = (e_rows * line) @ e_cols.transpose(-1, -2)
        out = out + (e_rows @ shift) + (e_cols @ shift).transpose(-1, -2)
        return out / math.sqrt(self.rank) + self._grid_effects(cell, rows, cols)

    @pyro_method
    def decode(self, encoded, drug_a, drug_b, cell) -> torch.Tensor:
        drugs, interaction, main = encoded
        e_a, e_b = self._drugs(drugs, drug_a, cell), self._drugs(drugs, drug_b, cell)
        out = (e_a * e_b * interaction[..., cell, :] + (e_a + e_b) * main[..., cell, :]).sum(-1)
        return self._add_effects(out / math.sqrt(self.rank), drug_a, drug_b, cell)
