"""The RECOVER drug-synergy network, and the Pyro model built from a network and a likelihood.

:class:`SynergyNet` maps a (drug a, drug b, cell line) triple to the standardised synergy
mean f; which of its weights are Bayesian, and under which prior (:mod:`.priors`), is chosen
when it is built. :class:`SynergyModel` composes the net with a likelihood
(:mod:`.likelihoods`); the guide is built separately (:mod:`.guides`). Each of the four parts
is swappable without touching the others, as in TyXe's ``VariationalBNN``::

    model = SynergyModel(SynergyNet(features, prior=PRIORS["laplace"]), StudentTLikelihood())
    guide = GUIDES["mean-field"](model)

Shapes: ``N`` rows (triples), ``S`` posterior draws, ``D`` drugs, ``C`` cell lines. Every
layer broadcasts over leading sample dimensions of its weights (:mod:`.layers`), so the same
forward serves training (one draw), vectorised particles and prediction with ``(S, ...)``
weight draws; deterministic layers run once whatever ``S`` is.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
from pyro.nn import PyroSample, pyro_method
from torch.nn import functional as F

from ..data.features import FeatureSet
from .isolation import OwnParams
from .layers import MLP, Linear, SymmetricBilinear
from .likelihoods import DEFAULT_LIKELIHOOD, Likelihood, make_likelihood
from .options import NetworkOptions
from .priors import Prior, normal

__all__ = [
    "BAYESIAN_PARTS",
    "CELL_EFFECT_SITE",
    "EFFECT_SITES",
    "DRUG_NOISE_SITE",
    "LINE_NOISE_SITE",
    "NOISE_SITES",
    "PAIR_EFFECT_SITE",
    "RecoverOptions",
    "SynergyModel",
    "NetworkBase",
    "SynergyNet",
    "Triples",
    "dummy_triples",
]


Triples = tuple[torch.Tensor, torch.Tensor, torch.Tensor]
"""The model's input: ``(drug_a, drug_b, cell_line)`` index tensors, each ``(N,)``."""


def dummy_triples(device: torch.device | str | None = None) -> Triples:
    """One all-zero row: enough to trace the model or its guide (site names and shapes)."""
    return tuple(torch.zeros(1, dtype=torch.long, device=device) for _ in range(3))


BAYESIAN_PARTS = ("head", "all")
"""Which layers of :class:`SynergyNet` are Bayesian: the head after the merge, or all."""
CELL_EFFECT_SITE = "net.drug_cell_effect"
"""The per-(cell line, drug) effects ``(C, D)`` of ``SynergyNet(drug_effects=scale)``."""
PAIR_EFFECT_SITE = "net.pair_effect"
"""The per-pair effects ``(D, D)`` of ``SynergyNet(pair_effects=scale)`` (upper triangle used)."""
EFFECT_SITES = ("net.drug_effect", CELL_EFFECT_SITE, PAIR_EFFECT_SITE)
"""The latent effects of ``SynergyNet(drug_effects=..., pair_effects=...)``."""
LINE_NOISE_SITE = "noise_line_effect"
"""The per-line log noise scales ``(C,)`` of ``SynergyModel(noise_effects=scale)``."""
DRUG_NOISE_SITE = "noise_drug_effect"
"""The per-drug log noise scales ``(D,)`` of ``SynergyModel(noise_effects=scale)``."""
NOISE_SITES = (LINE_NOISE_SITE, DRUG_NOISE_SITE)
"""The log noise-scale effects of ``SynergyModel(noise_effects=scale)``."""


def check_bayesian(bayesian: str) -> None:
    """Raise ``ValueError`` unless ``bayesian`` is one of :data:`BAYESIAN_PARTS`."""
    if bayesian not in BAYESIAN_PARTS:
        raise ValueError(f"bayesian must be one of {BAYESIAN_PARTS}, not {bayesian!r}")


class NetworkBase(OwnParams):
    """Base of the model families: the feature matrices and the optional latent drug and pair
    effects added to the output.

    ``Options`` is the family's options dataclass (a :class:`~.options.NetworkOptions`): the
    network is built from an instance of it (``Options.build(features, prior)``, or the
    class called with ``features``, ``prior`` and its fields as keywords), and it holds every
    default of the family. ``options`` (the ``ModelConfig`` fields that belong to this family
    alone, its layer sizes: a config refuses another family's) and ``defaults`` (what a
    family gets when an option is not given: its own, its inputs and its training settings)
    are read from it. The instance's options are ``settings``. ``posterior_summary`` names
    the module paths whose draws ``diagnose`` keeps (a deep trunk's would fill hundreds of
    MB). ``drug_identity_site`` is the Bayesian weight site, ``(out, F)``, whose last columns
    take the drugs' one-hot identities, if there is one, and ``line_identity_site`` the one
    whose columns take one-hot lines: a drug or line without training rows gets the measured
    ones' population there (``SynergyBNN.fit``).

    ``u[a] + u[b]`` (site ``net.drug_effect``, ``(D,)``) and, with several lines,
    ``v[c, a] + v[c, b]`` (``net.drug_cell_effect``, ``(C, D)``), each with prior
    N(0, drug_effects^2); ``w[min(a, b), max(a, b)]`` (``net.pair_effect``, ``(D, D)``) with
    prior N(0, pair_effects^2), with several lines only. All are symmetric in the drugs.

    A network is built in eval mode: its dropout acts only while SVI steps run
    (:func:`~synergy_ppl.inference.svi.train` switches it on for them).
    """

    Options: ClassVar[type[NetworkOptions]] = NetworkOptions
    options: ClassVar[tuple[str, ...]] = ()
    defaults: ClassVar[dict[str, object]] = NetworkOptions.defaults()
    posterior_summary: ClassVar[tuple[str, ...]] = ("head.",)
    drug_identity_site: ClassVar[str | None] = None
    prior_identity_site: ClassVar[str | None] = None
    """A ``(R, D)`` site of per-drug offsets that a drug without rows keeps at its prior."""
    line_identity_site: ClassVar[str | None] = None

    def __init_subclass__(cls, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        if "Options" in cls.__dict__:  # a family: its options and defaults are its Options'
            cls.options = cls.Options.own()
            cls.defaults = cls.Options.defaults()

    def __init__(self, features: FeatureSet, settings: NetworkOptions):
        super().__init__()
        if hasattr(settings, "bayesian"):  # a family whose trunk may be point estimates
            check_bayesian(settings.bayesian)
        self.dropout = getattr(settings, "dropout", 0.0)  # of a family's trunk, if any
        n_drugs, n_cells = features.drug_matrix.shape[0], features.cell_matrix.shape[0]
        drug_effects, pair_effects = settings.drug_effects_for(n_cells), settings.pair_effects
        for name, value in (("drug_effects", drug_effects), ("pair_effects", pair_effects)):
            if value < 0:
                raise ValueError(f"{name} is a prior SD and must be >= 0, not {value}")
        self.settings = settings
        self.register_buffer("drug_matrix", features.drug_matrix)
        self.register_buffer("cell_matrix", features.cell_matrix)
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
        self.train(False)

    @pyro_method
    def encode(self) -> tuple[torch.Tensor, ...]:
        """What the network computes per drug and per line, whatever the rows:
        ``forward(a, b, c) == decode(encode(), a, b, c)``. Prediction over a large pool
        encodes once per set of weight draws and decodes the rows chunk by chunk, instead of
        recomputing every drug's representation for every chunk. Default: nothing."""
        return ()

    @pyro_method
    def decode(
        self,
        encoded: tuple[torch.Tensor, ...],
        drug_a: torch.Tensor,
        drug_b: torch.Tensor,
        cell: torch.Tensor,
    ) -> torch.Tensor:
        """f of the rows ``(N,)`` (``(S, N)`` with draws) from :meth:`encode`'s output."""
        raise NotImplementedError

    def forward(self, drug_a: torch.Tensor, drug_b: torch.Tensor, cell: torch.Tensor):
        return self.decode(self.encode(), drug_a, drug_b, cell)

    def pair_grid(
        self, encoded: tuple[torch.Tensor, ...], cell: int, rows: torch.Tensor, cols: torch.Tensor
    ) -> torch.Tensor | None:
        """f for every pair of a drug of ``rows`` ``(A,)`` and one of ``cols`` ``(B,)`` in
        line ``cell``, ``(..., A, B)``, as matrix products; None where a family has none (its
        rows are decoded instead). Exact: entry (i, j) equals ``decode`` of that triple."""
        return None

    @pyro_method
    def _grid_effects(self, cell: int, rows: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
        """The latent effects of :meth:`_add_effects` for the grid ``rows x cols``,
        ``(..., A, B)`` (or a scalar 0 without effects)."""
        out = torch.zeros((), device=rows.device)
        if self.drug_effects:
            shared = self.drug_effect  # (..., D)
            out = out + shared[..., rows, None] + shared[..., None, cols]
            if self.cell_drug_effects:
                line = self.drug_cell_effect[..., cell, :]  # (..., D)
                out = out + line[..., rows, None] + line[..., None, cols]
        if self.pair_effects:
            pair = self.pair_effect  # (..., D, D): w[min, max] is the pair's
            upper = rows[:, None] <= cols[None, :]
            forward = pair[..., rows[:, None], cols[None, :]]
            backward = pair[..., cols[None, :], rows[:, None]]
            out = out + torch.where(upper, forward, backward)
        return out

    def _add_effects(
        self, out: torch.Tensor, drug_a: torch.Tensor, drug_b: torch.Tensor, cell: torch.Tensor
    ) -> torch.Tensor:
        """``out`` ``(..., N)`` plus the effects of each row's drugs (and pair)."""
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


@dataclass(frozen=True, kw_only=True)
class RecoverOptions(NetworkOptions):
    """The options of the RECOVER family (:class:`SynergyNet`) and its defaults.

    Parameters
    ----------
    bayesian : {"head", "all"}
        ``"head"`` (RECOVER's BNN variant) makes the head after the merge Bayesian and keeps
        the trunk as point estimates; ``"all"`` makes every layer Bayesian.
    drug_layers, merge_dim, head_layers
        Widths of the drug MLP, the bilinear merge and the head's hidden layers.
    dropout : float
        Dropout (training only) on the drug embeddings and the conditioned merge. It keeps
        the point-estimate trunk from memorising the training pairs: without it the noise
        scale is learned from training residuals far smaller than held-out errors, and the
        predictive intervals are too narrow.
    drug_effects : float
        If ``> 0``, adds ``u[a] + u[b] + v[c, a] + v[c, b]``: latent drug effects with prior
        N(0, drug_effects^2) on the standardised scale, shared by all lines (``u``, ``(D,)``,
        site ``net.drug_effect``) and per cell line (``v``, ``(C, D)``,
        ``net.drug_cell_effect``, only when there are several lines). Synergy in a screen is
        often carried by a few drugs; a drug measured in few pairs keeps a wide effect, and
        that is where UCB and Thompson sampling look next, which the point-estimate trunk
        cannot express. After pretraining on other cell lines (posterior as prior) ``u``
        arrives informed while a new line's ``v`` has had no data;
        ``SynergyBNN.posterior_priors`` gives it the seen lines' population as prior, and
        what a drug does in the new line is learned from that line's measurements, not fixed
        by thousands of rows elsewhere.
    pair_effects : float
        If ``> 0``, adds ``w[min(a, b), max(a, b)]``, a latent effect per unordered pair
        with prior N(0, pair_effects^2), shared by all cell lines (site ``net.pair_effect``,
        ``(D, D)``, upper triangle used; only with several lines, since in one line a pair's
        effect is its single measurement's noise). A pair that is synergistic in many lines
        is a candidate in the next one, which neither the drug effects nor the fingerprints
        can say.

    RECOVER reads fingerprints and a cell-line table by default (``input_defaults``).
    """

    bayesian: str = "head"
    point_layers_with = ("head",)  # the trunk
    drug_layers: tuple[int, ...] = (256, 64)
    merge_dim: int = 64
    head_layers: tuple[int, ...] = (64,)
    dropout: float = 0.3
    input_defaults = {"n_bits": 1024, "cell_components": 32}

    def build(self, features: FeatureSet, prior: Prior = normal) -> SynergyNet:
        """The RECOVER network over ``features``, its Bayesian weights under ``prior``."""
        return SynergyNet(features, prior, **self.values())


class SynergyNet(NetworkBase):
    """RECOVER: shared drug MLP -> symmetric bilinear merge -> FiLM(cell line) -> MLP head.

    With drug embeddings h = MLP(x_drug), merge z = B(h_a, h_b) (symmetric, so the output
    does not depend on the drugs' order) and FiLM parameters (gamma, beta) = W x_cell + c,

        f(a, b, c) = head(relu(z * (1 + gamma_c) + beta_c))
                     [+ u_a + u_b + v_ca + v_cb]  [+ w_{min(a,b), max(a,b)}].

    ``forward(drug_a, drug_b, cell)`` takes index tensors of shape ``(N,)`` and returns f,
    ``(N,)`` with point weights or ``(S, N)`` with ``S`` weight draws. The drug MLP runs on
    the ``D`` drug rows once per call (not once per pair), then the embeddings are gathered
    for the pairs.

    Parameters
    ----------
    features : FeatureSet
        Drug and cell-line feature matrices (kept as buffers).
    prior : Prior
        Prior of every Bayesian weight tensor (:data:`~synergy_ppl.model.priors.PRIORS`).
    **options
        Fields of :class:`RecoverOptions` (its defaults for those not given).
    """

    Options = RecoverOptions

    def __init__(self, features: FeatureSet, prior: Prior = normal, **options: object):
        super().__init__(features, settings := RecoverOptions(**options))
        drug_layers, merge_dim = settings.drug_layers, settings.merge_dim
        trunk_prior = prior if settings.bayesian == "all" else None
        self.drug_mlp = MLP([features.drug_matrix.shape[1], *drug_layers], trunk_prior)
        self.merge = SymmetricBilinear(drug_layers[-1], merge_dim, trunk_prior)
        self.film = Linear(features.cell_matrix.shape[1], 2 * merge_dim, trunk_prior)
        self.head = MLP([merge_dim, *settings.head_layers, 1], prior)

    @pyro_method
    def encode(self) -> tuple[torch.Tensor, ...]:
        """Drug embeddings ``(..., D, d)`` and FiLM parameters gamma, beta ``(..., C, K)``."""
        embeddings = torch.relu(self.drug_mlp(self.drug_matrix))
        embeddings = F.dropout(embeddings, self.dropout, self.training)
        gamma, beta = self.film(self.cell_matrix).chunk(2, dim=-1)
        return embeddings, gamma, beta

    @pyro_method
    def decode(self, encoded, drug_a, drug_b, cell) -> torch.Tensor:
        embeddings, gamma, beta = encoded
        merged = self.merge(embeddings[..., drug_a, :], embeddings[..., drug_b, :])
        conditioned = merged * (1.0 + gamma[..., cell, :]) + beta[..., cell, :]
        hidden = F.dropout(torch.relu(conditioned), self.dropout, self.training)
        return self._add_effects(self.head(hidden).squeeze(-1), drug_a, drug_b, cell)


class SynergyModel(OwnParams):
    """The Pyro model: the network's mean observed through a likelihood.

        f_i = net(a_i, b_i, c_i),   y_i ~ p(y | f_i, theta, s_i),   theta ~ p(theta)

    on the standardised score scale; p(y | f, theta) and the noise parameters theta with
    their priors are the likelihood's (e.g. Normal(f, sigma^2) with sigma ~ HalfNormal(1)).
    With ``noise_effects > 0`` the noise width of a row is heteroscedastic,

        sigma_i = sigma s_i,   log s_i = r_{c_i} + q_{a_i} + q_{b_i},   r, q ~ N(0, noise_effects^2)

    (sites :data:`NOISE_SITES`; r only with several lines): lines and drugs of a screen
    differ in how far their scores scatter, and one
    shared sigma makes intervals too wide for quiet rows and too narrow for noisy ones.

    Parameters
    ----------
    net : NetworkBase
        The network; its module path ``net`` prefixes every weight site's name.
    likelihood : Likelihood or str
        A :class:`~synergy_ppl.model.likelihoods.Likelihood`, or the name of a registered one
        (:data:`~synergy_ppl.model.likelihoods.LIKELIHOODS`). It holds no parameters, so the
        model's state dict is the net's alone.
    noise_effects : float or None
        Prior SD of the per-line and per-drug log noise scales; 0: one width for every row.
        None: the network's (``net.settings.noise_effects``, its family's options).

    ``forward(drug_a, drug_b, cell, y=None, n_total=None)``: pass ``n_total`` (training-set
    size) with a minibatch so that ``pyro.plate`` scales its likelihood to the whole data set.
    """

    def __init__(
        self,
        net: NetworkBase,
        likelihood: Likelihood | str = DEFAULT_LIKELIHOOD,
        noise_effects: float | None = None,
    ):
        super().__init__()
        if noise_effects is None:
            noise_effects = net.settings.noise_effects
        if noise_effects < 0:
            raise ValueError(f"noise_effects is a prior SD and must be >= 0, not {noise_effects}")
        self.net = net
        self.likelihood = make_likelihood(likelihood)
        self.noise_effects = noise_effects
        n_drugs, n_lines = net.drug_matrix.shape[0], net.cell_matrix.shape[0]
        if noise_effects:
            self.noise_drug_effect = PyroSample(normal(torch.Size([n_drugs]), noise_effects))
        # with one line r would only duplicate sigma
        self.line_noise = noise_effects > 0 and n_lines > 1
        if self.line_noise:
            self.noise_line_effect = PyroSample(normal(torch.Size([n_lines]), noise_effects))

    def forward(
        self,
        drug_a: torch.Tensor,
        drug_b: torch.Tensor,
        cell: torch.Tensor,
        y: torch.Tensor | None = None,
        n_total: int | None = None,
    ) -> torch.Tensor:
        mean = self.net(drug_a, drug_b, cell)
        row_scale = None
        if self.noise_effects:
            effects = {DRUG_NOISE_SITE: self.noise_drug_effect}
            if self.line_noise:
                effects[LINE_NOISE_SITE] = self.noise_line_effect
            row_scale = self._row_scale(effects, (drug_a, drug_b, cell))
        if mean.dim() == 3:
            # weights drawn in a vectorising plate (ELBO particles, a mixture's members,
            # Predictive) are (P, 1, ...), so the rows come out (P, 1, N); the plate's slot
            # is the rows' dim -2, where P belongs, or the noise of particle i would be paired
            # with the means of every particle
            mean = mean.squeeze(-2)
            row_scale = None if row_scale is None else row_scale.squeeze(-2)
        return self.likelihood(mean, y, n_total, row_scale)

    def row_noise_scale(
        self, draws: dict[str, torch.Tensor], triples: Triples | None
    ) -> torch.Tensor | None:
        """Each draw's noise factor s_i for the rows ``triples``: ``(S, N)``; None without
        noise effects. ``draws``: site name -> ``(S, ...)`` posterior draws."""
        if not self.noise_effects:
            return None
        if triples is None:
            raise ValueError("a model with noise effects needs the rows' drugs and cell lines")
        return self._row_scale(draws, triples)

    def _row_scale(self, effects: dict[str, torch.Tensor], triples: Triples) -> torch.Tensor:
        drug_a, drug_b, cell = triples
        drug = effects[DRUG_NOISE_SITE]  # (..., D)
        log_scale = drug[..., drug_a] + drug[..., drug_b]
        if self.line_noise:
            log_scale = log_scale + effects[LINE_NOISE_SITE][..., cell]
        return torch.exp(log_scale)
