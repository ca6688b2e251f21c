"""``ModelConfig``: everything that defines a fit besides the data, checked when it is made.

Names of priors, likelihoods and guides are keys of the registries in :mod:`.model.priors`,
:mod:`.model.likelihoods` and :mod:`.model.guides`; this module checks them and hands the
training fields to :func:`~synergy_ppl.inference.svi.train` as one
:class:`~synergy_ppl.inference.svi.TrainingConfig` (:meth:`ModelConfig.training`).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields

import torch

from .data.features import MAX_BITS
from .errors import OptionError
from .inference.predictive import DEVICE, NUM_SAMPLES
from .inference.svi import STOPPING_LOSSES, TrainingConfig
from .model.families import DEFAULT_FAMILY, FAMILIES, FAMILY_OPTIONS
from .model.guides import GUIDES, default_guide
from .model.likelihoods import DEFAULT_LIKELIHOOD, LIKELIHOODS, Likelihood
from .model.network import BAYESIAN_PARTS
from .model.options import FeatureOptions, NetworkOptions
from .model.priors import DEFAULT_PRIOR, PRIORS, Prior
from .options import check_range, check_types, short, typed_fields

ARCHITECTURE = (
    "model",
    "prior",
    "likelihood",
    "likelihood_kwargs",
    "guide",
    "bayesian",
    "drug_layers",
    "merge_dim",
    "head_layers",
    "pair_layers",
    "rank",
    "learned_scales",
    "chemistry_scale",
    "radius",
    "n_bits",
    "one_hot_drugs",
    "cell_components",
    "drug_effects",
    "pair_effects",
    "noise_effects",
)
"""ModelConfig fields a warm start must share with the fit it starts from."""

MAX_WIDTH = 16384
"""Most units of one layer (and factors of ``rank``): weights are allocated before training,
and a mistyped width would ask for tens of GB."""
LIMITS = {
    "n_bits": MAX_BITS,
    "rank": 4096,
    "merge_dim": MAX_WIDTH,
    "radius": 10,
    "num_samples": 100_000,
    "num_particles": 1000,
    "members": 64,
}
"""Upper bounds of the size options that allocate memory (the drug matrix, the layers, the
``(S, N)`` draws, the ELBO particles): far above any useful value, far below an out-of-memory
crash."""
POINT_LAYERS = {name: network.Options.point_layers_with for name, network in FAMILIES.items()}
"""Family -> the ``bayesian`` values with which it keeps point-estimate layers (the trunk
under ``bayesian="head"``); ``factorization`` has none, every weight is Bayesian."""
POINT_LAYER_OPTIONS = {
    "lr": "guide_lr, the learning rate of the Bayesian weights,",
    "weight_decay": "the choice of prior and its prior_kwargs, which regularises Bayesian weights,",
    "trunk_anchor": "prior_from's posterior as prior (transfer prior, widen)",
}
"""Options that act on point-estimate layers only -> what acts instead where there are none:
a fit without point layers would be the same with or without them."""
INSTEAD_PARAMETERS = {
    "lr": ("guide_lr",),
    "weight_decay": ("prior", "prior_kwargs"),
    "trunk_anchor": ("prior_from", "transfer", "widen"),
}
"""The parameters each :data:`POINT_LAYER_OPTIONS` text names (its error carries them)."""


@dataclass
class ModelConfig:
    """Everything that defines a fit besides the data. Saved as the run's config.

    The fields fall in four groups: the model (the family ``model``, ``prior`` with
    ``prior_kwargs``, ``likelihood`` with ``likelihood_kwargs``, ``guide``, ``bayesian``, the
    layer sizes, ``dropout`` and the effect prior SDs; see :mod:`~synergy_ppl.model.families`),
    the drug and cell-line
    features (``radius``, ``n_bits``, ``one_hot_drugs``, ``cell_components``), training (the
    fields of :class:`~synergy_ppl.inference.svi.TrainingConfig`), and prediction
    (``num_samples`` posterior draws on ``device``).

    Fields left None take the family's ``defaults``, read from its options dataclass
    (:class:`~synergy_ppl.model.options.NetworkOptions`), the values its benchmark chose: its
    layer sizes, the inputs ``n_bits`` and ``cell_components``, ``dropout``,
    ``drug_effects``, ``noise_effects``, ``lr``, ``guide_lr``, ``weight_decay``, ``patience``
    and ``members``.
    Every other default is its object's (``TrainingConfig``, ``FeatureOptions``, the
    registries'). The ``SynergyBNN`` this config describes is
    ``SynergyBNN.from_config(config)``. The layer options of other families
    (:data:`~synergy_ppl.model.families.FAMILY_OPTIONS` outside the family's ``options``)
    stay None, and giving one is an error, not a silent no-op.
    """

    model: str = DEFAULT_FAMILY
    """A key of ``model.families.FAMILIES``: ``recover``, ``pair-mlp`` or ``factorization``."""
    prior: str = DEFAULT_PRIOR
    prior_kwargs: dict = field(default_factory=dict)
    likelihood: str = DEFAULT_LIKELIHOOD
    likelihood_kwargs: dict = field(default_factory=dict)
    """The likelihood's hyperparameters, its class's keyword arguments (config file only),
    e.g. ``{"sigma_scale": 0.5}`` or Student-t's ``{"nu_shape": 2, "nu_rate": 0.1}``."""
    guide: str | None = None
    """A key of ``GUIDES``; None: the prior's default (``model.guides.DEFAULT_GUIDES``)."""
    bayesian: str | None = None
    """recover, pair-mlp: which layers are Bayesian (``head`` or ``all``)."""
    drug_layers: tuple[int, ...] | None = None
    """recover: the drug MLP's widths."""
    merge_dim: int | None = None
    """recover: the bilinear merge's width."""
    head_layers: tuple[int, ...] | None = None
    """recover, pair-mlp: the Bayesian head's hidden widths."""
    pair_layers: tuple[int, ...] | None = None
    """pair-mlp: the point-estimate trunk's widths."""
    rank: int | None = None
    """factorization, hierarchical: the number of factors."""
    learned_scales: bool | None = None
    """factorization: learn the prior scale of the fingerprint and identity blocks of the
    drug map (with ``n_bits > 0``)."""
    chemistry_scale: float | None = None
    """hierarchical: the prior SD of the chemistry part of a drug's embedding relative to its
    identity offset."""
    dropout: float | None = None
    drug_effects: float | None = None
    """Prior SD of latent per-drug effects; 0: none; left None, the family's (hierarchical:
    by the screen's number of lines, ``HierarchicalOptions.drug_effects_for``)."""
    pair_effects: float = NetworkOptions.pair_effects
    noise_effects: float | None = None
    """Prior SD of each line's and drug's log noise scale (``SynergyModel``); 0: one noise
    width for every row."""
    radius: int = FeatureOptions.radius
    n_bits: int | None = None
    """Morgan fingerprint bits; 0: the drugs' one-hot identities only."""
    one_hot_drugs: bool = FeatureOptions.one_hot_drugs
    cell_components: int | None = None
    """Principal components of a cell-line table (as many as there are lines keep all of
    it); 0: one-hot cell lines, the table ignored."""
    epochs: int = TrainingConfig.epochs
    min_steps: int = TrainingConfig.min_steps
    batch_size: int = TrainingConfig.batch_size
    lr: float | None = None
    patience: int | None = None
    stop_on: str = TrainingConfig.stop_on
    """The validation loss early stopping watches: ``nll`` or ``rmse`` (``STOPPING_LOSSES``)."""
    refit: bool = TrainingConfig.refit
    """With validation rows: once early stopping has chosen the epoch, train afresh on the
    training and validation rows together for the optimizer steps those epochs took
    (``SynergyBNN.fit``; measured in ``benchmarks/README.md``)."""
    calibrate: bool = TrainingConfig.calibrate
    """With validation rows: scale the measurement noise so that the early-stopped fit's
    predictive is most likely on them (``inference.calibration``)."""
    members: int | None = None
    """Variational fits whose mixture is the posterior, each a whole fit from its own seed
    (``seed``, ``seed + 1``, ...); more than one needs a network without point-estimate
    layers."""
    num_particles: int = TrainingConfig.num_particles
    weight_decay: float | None = None
    trunk_anchor: float = TrainingConfig.trunk_anchor
    """With ``fit(init=...)``: precision of a Gaussian prior that ties the point-estimate
    layers to the starting model's values (L2-SP); 0 = none. Ignored without ``init``."""
    guide_lr: float | None = None
    num_samples: int = NUM_SAMPLES
    seed: int = TrainingConfig.seed
    device: str = DEVICE

    def __post_init__(self) -> None:
        check_types(self, "ModelConfig")
        if self.model in FAMILIES:  # an unknown family is reported by check()
            family = FAMILIES[self.model]
            for name in FAMILY_OPTIONS:
                if name not in family.options and getattr(self, name) is not None:
                    owners = [key for key, other in FAMILIES.items() if name in other.options]
                    raise OptionError(
                        f"{name} is an option of model {' / '.join(owners)}, not of model "
                        f"{self.model}; drop it.",
                        parameter=(name, "model"),
                    )
            for name, value in family.defaults.items():
                if getattr(self, name) is None:
                    setattr(self, name, value)
        self.check()

    @classmethod
    def from_dict(cls, values: dict, section: str = "model") -> ModelConfig:
        """A config from a mapping (config file, saved run); keys and types are checked.

        Missing keys take their defaults, so a run saved before a field existed still loads.
        """
        return cls(**typed_fields(cls, values, section))

    @classmethod
    def of(cls, config: ModelConfig | None) -> ModelConfig:
        """``config``, or the defaults for None; anything else is an :class:`OptionError`."""
        if config is None or isinstance(config, cls):
            return config or cls()
        hint = " (ModelConfig(**values) or ModelConfig.from_dict(values))"
        raise OptionError(
            f"config must be a ModelConfig{hint if isinstance(config, Mapping) else ''}, "
            f"not {type(config).__name__}."
        )

    def unread(self) -> dict[str, str]:
        """Options this config's network does not read -> what acts instead
        (:data:`POINT_LAYER_OPTIONS` when it has no point layers, :data:`POINT_LAYERS`)."""
        if self.bayesian in POINT_LAYERS.get(self.model, ()):
            return {}
        return dict(POINT_LAYER_OPTIONS)

    def refuse_unread(self, given: Iterable[str]) -> None:
        """Raise :class:`OptionError` if an option in ``given`` (the ones a user gave) is one
        this config does not read: it would change nothing. Its off value (the field's
        default, ``trunk_anchor=0``) is not refused."""
        unread = self.unread()
        off = {f.name: f.default for f in fields(self)}
        refused = sorted(n for n in set(given) & set(unread) if getattr(self, n) != off[n])
        if refused:
            name = refused[0]
            family = f"model {self.model}"
            if self.bayesian:
                family += f" bayesian {self.bayesian}"
            raise OptionError(
                f"{name}: {family} has no point-estimate layers (every weight is Bayesian), so "
                f"it would change nothing; {unread[name]} acts instead. Drop it.",
                parameter=(name, "model", "bayesian", *INSTEAD_PARAMETERS.get(name, ())),
            )

    def check(self) -> None:
        """Raise :class:`OptionError` naming the option if a value is outside its range."""
        for name, choices in (
            ("model", list(FAMILIES)),
            ("prior", sorted(PRIORS)),
            ("likelihood", list(LIKELIHOODS)),
            ("guide", [None, *GUIDES]),
            ("bayesian", [None, *BAYESIAN_PARTS]),
            ("stop_on", list(STOPPING_LOSSES)),
        ):
            if getattr(self, name) not in choices:
                known = [c for c in choices if c is not None]
                raise OptionError(
                    f"{name} '{getattr(self, name)}' is not one of {known}.", parameter=name
                )
        for name, sizes, example in (
            ("drug_layers", self.drug_layers, "256,64"),
            ("pair_layers", self.pair_layers, "1024,512"),
        ):
            if sizes is not None and (not sizes or min(sizes) < 1):
                raise OptionError(
                    f"{name} needs one or more sizes >= 1 (e.g. {example}), not {sizes}.",
                    parameter=name,
                )
        if self.head_layers and min(self.head_layers) < 1:
            raise OptionError(
                f"head_layers sizes must be >= 1, not {self.head_layers}.", parameter="head_layers"
            )
        for name, sizes in (
            ("drug_layers", self.drug_layers),
            ("head_layers", self.head_layers),
            ("pair_layers", self.pair_layers),
        ):
            if sizes and (max(sizes) > MAX_WIDTH or len(sizes) > 32):
                raise OptionError(
                    f"{name} takes at most 32 layers of at most {MAX_WIDTH} units each, not "
                    f"{short(sizes)} (weights are allocated before training).",
                    parameter=name,
                )
        for name, value in (("merge_dim", self.merge_dim), ("rank", self.rank)):
            if value is not None:
                check_range(name, value, 1, LIMITS[name])
        for name, value, low in (
            ("n_bits", self.n_bits, 0),
            ("radius", self.radius, 0),
            ("epochs", self.epochs, 1),
            ("min_steps", self.min_steps, 0),
            ("batch_size", self.batch_size, 1),
            ("patience", self.patience, 1),
            ("num_particles", self.num_particles, 1),
            ("members", self.members, 1),
            ("num_samples", self.num_samples, 2),
            ("seed", self.seed, 0),
            ("pair_effects", self.pair_effects, 0),
            ("noise_effects", self.noise_effects, 0),
            ("weight_decay", self.weight_decay, 0),
            ("trunk_anchor", self.trunk_anchor, 0),
        ):
            check_range(name, value, low, LIMITS.get(name))
        check_range("cell_components", self.cell_components, 0)
        if self.drug_effects is not None:  # None: the family's, by the screen
            check_range("drug_effects", self.drug_effects, 0)
        if self.members > 1 and self.bayesian in POINT_LAYERS.get(self.model, ()):
            raise OptionError(
                f"members {self.members}: model {self.model} bayesian {self.bayesian} has "
                "point-estimate layers, which a mixture's members cannot share; use members 1, "
                "or a network whose every weight is Bayesian (bayesian all, or model "
                "factorization or hierarchical).",
                parameter=("members", "model", "bayesian"),
            )
        if self.chemistry_scale is not None:
            check_range("chemistry_scale", self.chemistry_scale, 0, 100)
        if self.model == "hierarchical" and not self.one_hot_drugs:
            raise OptionError(
                "model hierarchical draws each drug's embedding around its chemistry with an "
                "identity offset and needs one_hot_drugs; use model factorization for "
                "chemistry alone.",
                parameter=("model", "one_hot_drugs"),
            )
        if self.n_bits == 0 and not self.one_hot_drugs:
            raise OptionError(
                "n_bits 0 without one_hot_drugs leaves the drugs no features.",
                parameter=("n_bits", "one_hot_drugs"),
            )
        if self.dropout is not None:
            check_range("dropout", self.dropout, 0, 1, high_open=True)
        check_range("lr", self.lr, 0, low_open=True)
        if self.guide_lr is not None:
            check_range("guide_lr", self.guide_lr, 0, low_open=True)
        if not re.fullmatch(r"cpu|cuda(:\d+)?", self.device):
            raise OptionError(
                f"device '{self.device}' is not cpu, cuda or cuda:N.", parameter="device"
            )
        try:  # a prior's parameters are checked by building it once
            self.prior_fn()(torch.Size([1])).log_prob(torch.zeros(1))
        except (TypeError, ValueError) as err:
            reason = str(err).splitlines()[0] if str(err) else type(err).__name__
            raise OptionError(
                f"prior '{self.prior}' with {short(self.prior_kwargs)}: {reason[:160]}; "
                "check prior_kwargs.",
                parameter=("prior", "prior_kwargs"),
            ) from err

        try:  # so are the likelihood's
            self.likelihood_fn().priors()
        except (TypeError, ValueError) as err:
            reason = str(err).splitlines()[0] if str(err) else type(err).__name__
            raise OptionError(
                f"likelihood '{self.likelihood}' with {short(self.likelihood_kwargs)}: "
                f"{reason[:160]}; check likelihood_kwargs.",
                parameter=("likelihood", "likelihood_kwargs"),
            ) from err

    def check_device(self) -> None:
        """Raise if ``device`` is CUDA and this torch cannot use it (checked before a fit)."""
        if self.device.startswith("cuda") and not torch.cuda.is_available():
            raise OptionError(
                f"device {self.device}: this torch ({torch.__version__}) sees no CUDA GPU; "
                "use device cpu or install a CUDA build of torch.",
                parameter="device",
            )

    def prior_fn(self) -> Prior:
        """The configured prior, ``prior_kwargs`` bound."""
        return functools.partial(PRIORS[self.prior], **self.prior_kwargs)

    def likelihood_fn(self) -> Likelihood:
        """The configured likelihood, ``likelihood_kwargs`` bound."""
        return LIKELIHOODS[self.likelihood](**self.likelihood_kwargs)

    @property
    def guide_name(self) -> str:
        """The guide this config builds: ``guide``, or the prior's default when None."""
        return self.guide or default_guide(self.prior)

    def architecture(self) -> dict:
        """The :data:`ARCHITECTURE` fields, the guide resolved (None and its default agree)."""
        return {
            name: self.guide_name if name == "guide" else getattr(self, name)
            for name in ARCHITECTURE
        }

    def training(self, anchored: bool = False) -> TrainingConfig:
        """The training fields as a :class:`TrainingConfig`.

        ``trunk_anchor`` applies only when ``anchored`` (a fit that starts from another
        model); otherwise it is 0.
        """
        values = {f.name: getattr(self, f.name) for f in fields(TrainingConfig)}
        if not anchored:
            values["trunk_anchor"] = 0.0
        return TrainingConfig(**values)
