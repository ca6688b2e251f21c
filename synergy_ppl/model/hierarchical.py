"""The factorisation with each drug's embedding drawn around its chemistry: identity and
chemistry in one hierarchical prior, their weights learned from the screen."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from pyro.nn import pyro_method

from ..data.features import FeatureSet
from .factorization import Factorization, FactorizationOptions
from .layers import Linear
from .network import NetworkBase
from .options import NetworkOptions
from .priors import Prior, normal

MAX_COMPONENTS = 64
"""Most chemistry components kept: the leading eigenvectors of the drugs' similarity matrix."""
FEW_LINES = 24
"""Most lines of a screen on which the family adds latent drug effects by default: with few
lines the factorisation has little to share across them, and an additive per-drug effect
(and per line, ``NetworkBase``) pays; on a screen of many lines it cost accuracy."""
FEW_LINES_DRUG_EFFECTS = 0.3
"""Their prior SD there, on the standardised scale."""
RELATIVE_EIGENVALUE = 1e-4
"""Components whose eigenvalue is below this fraction of the largest carry no chemistry
(numerical rank), and ``Lambda^{-1/2}`` would amplify their noise."""


def tanimoto(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Tanimoto similarity ``x.y / (|x|^2 + |y|^2 - x.y)``: ``(A, F), (B, F) -> (A, B)``.

    For bit vectors, ``|x & y| / |x | y|``; for other features (a drug table of numbers) the
    continuous Tanimoto, whose denominator is at least ``(|x|^2 + |y|^2) / 2``. Two empty
    fingerprints are similar 0 (nothing in common), not 0/0.
    """
    shared = x @ y.T
    union = x.pow(2).sum(-1, keepdim=True) + y.pow(2).sum(-1) - shared
    return shared / union.clamp_min(1e-6)


def chemistry_basis(
    fingerprints: torch.Tensor, max_components: int = MAX_COMPONENTS
) -> torch.Tensor:
    """``P = U_k Lambda_k^{-1/2}`` ``(D, k)`` for ``K = tanimoto(X, X) = U Lambda U^T``.

    A drug x then has chemistry coordinates ``z(x) = tanimoto(x, X) P`` ``(k,)`` (Nystroem):
    for the fitted drugs ``z z^T = K`` restricted to the k leading components, so a Gaussian
    map of z is a Gaussian process with the Tanimoto kernel, and a new drug's coordinates
    come from its similarity to the fitted ones.
    """
    values, vectors = torch.linalg.eigh(tanimoto(fingerprints, fingerprints).double())
    values, vectors = values.flip(0), vectors.flip(1)  # largest first
    keep = values > RELATIVE_EIGENVALUE * values[0].clamp_min(1e-12)
    keep[max_components:] = False
    return (vectors[:, keep] / values[keep].sqrt()).float()


@dataclass(frozen=True, kw_only=True)
class HierarchicalOptions(NetworkOptions):
    """The options of the hierarchical factorisation (:class:`HierarchicalFactorization`):
    the factorisation's, the weight of chemistry, and fingerprints read by default.

    Parameters
    ----------
    rank : int
        R, the number of factors.
    chemistry_scale : float
        tau: the prior SD of the chemistry part of a drug's embedding relative to its
        identity offset.
    drug_effects : float or None
        As for every family (:class:`~synergy_ppl.model.options.NetworkOptions`); None (the
        default): :data:`FEW_LINES_DRUG_EFFECTS` on a screen of at most :data:`FEW_LINES`
        lines, none on more (:meth:`drug_effects_for`).
    pair_effects, noise_effects : float
        As for every family.
    """

    rank: int = FactorizationOptions.rank
    chemistry_scale: float = 2.0
    drug_effects: float | None = None
    noise_effects: float = FactorizationOptions.noise_effects
    input_defaults = {**NetworkOptions.input_defaults, "n_bits": 1024}
    training_defaults = {**FactorizationOptions.training_defaults, "members": 4}

    def drug_effects_for(self, n_lines: int) -> float:
        """``drug_effects``; where it is None, :data:`FEW_LINES_DRUG_EFFECTS` on at most
        :data:`FEW_LINES` lines and none on more. The lines are those of the features, fixed
        when a model is first fitted, so a saved model rebuilds the same sites."""
        if self.drug_effects is not None:
            return self.drug_effects
        return FEW_LINES_DRUG_EFFECTS if n_lines <= FEW_LINES else 0.0

    def build(self, features: FeatureSet, prior: Prior = normal) -> HierarchicalFactorization:
        """The hierarchical factorisation over ``features``, its weights under ``prior``."""
        return HierarchicalFactorization(features, prior, **self.values())


class HierarchicalFactorization(Factorization):
    """:class:`~.factorization.Factorization` whose drug embeddings have a chemistry prior:

        e_d = W u_d + b + tau A z_d,        W, b, A ~ prior

    ``u_d`` is the drug's one-hot identity, so ``W u_d`` is its own offset, and ``z_d``
    ``(k,)`` its chemistry coordinates (:func:`chemistry_basis`): under a Normal prior,
    ``tau A z`` is a Gaussian process over chemical space with the drugs' Tanimoto
    similarity as kernel, and each embedding coordinate has prior covariance
    ``s^2 (I + tau^2 K) + s^2`` (``s`` the prior's scale). A drug with many rows follows its
    own offset; one with few rows keeps an embedding near its chemical neighbours'; a drug
    added for prediction gets the chemistry part alone (an all-zero identity block) and a
    drug of the screen without training rows keeps its offset at the prior, its chemistry
    being what is known of it (so no ``drug_identity_site`` whose draws it would borrow from
    the measured drugs, whose offsets chemistry has already explained in part and which
    are too narrow for it). ``tau`` (``chemistry_scale``) weighs chemistry against
    identity; lines are as in the factorisation. Without fingerprints (``n_bits=0``) this is
    the factorisation; it needs the identities (``one_hot_drugs``).

    Parameters
    ----------
    features : FeatureSet
        Drug rows ``(D, F)``: fingerprint bits, then ``n_identity`` one-hot columns.
    prior : Prior
        Prior of ``W``, ``b``, ``A`` and the line maps.
    **options
        Fields of :class:`HierarchicalOptions` (its defaults for those not given).
    """

    Options = HierarchicalOptions
    posterior_summary = ("identity.", "chemistry.", "cell_embedding.")
    drug_identity_site = None  # see above: a drug without rows keeps its prior offset,
    prior_identity_site = "net.identity.weight"  # set there after training
    line_identity_site = "net.cell_embedding.weight"

    def __init__(self, features: FeatureSet, prior: Prior = normal, **options: object):
        NetworkBase.__init__(self, features, settings := HierarchicalOptions(**options))
        self.rank = rank = settings.rank
        self.n_identity = features.n_identity
        n_bits = features.drug_matrix.shape[1] - self.n_identity
        if not self.n_identity:
            raise ValueError("the hierarchical family needs the drugs' one-hot identities")
        self.identity = Linear(self.n_identity, rank, prior)
        self.chemistry_scale = settings.chemistry_scale
        self.chemistry = None
        if n_bits and self.n_identity:
            # the fitted drugs, first in the matrix (drugs added later have no identity), so
            # a model rebuilt over grown features recomputes the same basis
            basis = features.drug_matrix[: self.n_identity, :n_bits]
            self.register_buffer("basis_fingerprints", basis.clone(), persistent=False)
            self.register_buffer("basis_projection", chemistry_basis(basis), persistent=False)
            k = self.basis_projection.shape[1]
            self.chemistry = Linear(k, rank, prior, bias=False)  # b is the identity map's
        self.cell_embedding = Linear(features.cell_matrix.shape[1], 2 * rank, prior)
        self.add_single_agent(features, prior)

    def chemistry_coordinates(self) -> torch.Tensor:
        """``z`` ``(D, k)`` of every drug of the drug matrix, new drugs included."""
        n_bits = self.basis_fingerprints.shape[1]
        similarity = tanimoto(self.drug_matrix[:, :n_bits], self.basis_fingerprints)
        return similarity @ self.basis_projection

    @pyro_method
    def encode(self) -> tuple[torch.Tensor, ...]:
        """Drug embeddings e ``(..., D, R)``, line factors l and k ``(..., C, R)`` each."""
        drugs = self.identity(self.drug_matrix[:, -self.n_identity :])
        if self.chemistry is not None:
            shared = self.chemistry(self.chemistry_coordinates())  # (..., D, R)
            drugs = drugs + self.chemistry_scale * shared
        interaction, main = self.cell_embedding(self.cell_matrix).chunk(2, dim=-1)
        return drugs, interaction, main
