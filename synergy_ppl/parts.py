"""The parts a :class:`~synergy_ppl.estimator.SynergyBNN` is composed of, and their flat form.

As TyXe's ``VariationalBNN(net, prior, likelihood, guide_builder)``: the options of a model
family (which build the network once the features are known), a prior function, a
likelihood and a guide builder, with the options of the features, of training and of
prediction. Each object is one that a registry names (:data:`~.model.families.FAMILIES`,
:data:`~.model.priors.PRIORS`, :data:`~.model.likelihoods.LIKELIHOODS`,
:data:`~.model.guides.GUIDES`), so that :attr:`Parts.config`, the equivalent flat
:class:`~synergy_ppl.config.ModelConfig`, can be saved with a fitted model and turned back
into the same parts (:meth:`Parts.of_config`).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, fields

from .config import ModelConfig
from .data.features import FeatureSet
from .errors import OptionError
from .inference.svi import TrainingConfig
from .model.families import DEFAULT_FAMILY, FAMILIES
from .model.guides import GUIDES, Guide, GuideBuilder, default_guide
from .model.likelihoods import DEFAULT_LIKELIHOOD, LIKELIHOODS, Likelihood
from .model.network import SynergyModel
from .model.options import FeatureOptions, NetworkOptions
from .model.priors import DEFAULT_PRIOR, PRIORS, Prior
from .options import short

__all__ = ["Parts", "compose"]

UNREAD_CHECKED = ("lr", "weight_decay", "trunk_anchor")
"""Training settings that a family without point-estimate layers would not read: given to
:func:`compose` for such a family, they are refused (``ModelConfig.refuse_unread``)."""


@dataclass(frozen=True)
class Parts:
    """What a model is made of; made by :func:`compose` or :meth:`of_config`.

    ``features`` and ``training`` hold the family's values where they were left None;
    ``guide`` None is the prior's default guide (:meth:`guide_builder`).
    """

    net: NetworkOptions
    prior: Prior
    likelihood: Likelihood
    guide: GuideBuilder | None
    features: FeatureOptions
    training: TrainingConfig
    num_samples: int
    device: str
    config: ModelConfig
    """The equivalent flat config (what a saved model records)."""

    @classmethod
    def of_config(cls, config: ModelConfig) -> Parts:
        """The parts ``config`` names (its prior's and likelihood's keywords bound)."""
        config = ModelConfig.of(config)
        options = FAMILIES[config.model].Options
        prior = PRIORS[config.prior]
        if config.prior_kwargs:
            prior = functools.partial(prior, **config.prior_kwargs)
        return compose(
            options(**_fields_of(config, options)),
            prior,
            LIKELIHOODS[config.likelihood](**config.likelihood_kwargs),
            GUIDES[config.guide] if config.guide is not None else None,
            FeatureOptions(**_fields_of(config, FeatureOptions)),
            config.training(anchored=True),
            num_samples=config.num_samples,
            device=config.device,
            refuse_unread=False,  # a config's options were checked where they were given
        )

    def guide_builder(self) -> GuideBuilder:
        """``guide``, or the prior's default (``model.guides.DEFAULT_GUIDES``)."""
        return self.guide or GUIDES[default_guide(self.config.prior)]

    def build(self, features: FeatureSet) -> tuple[SynergyModel, Guide]:
        """A fresh model (in eval mode, on ``device``) over ``features`` and its guide."""
        net = self.net.build(features, self.prior)
        model = SynergyModel(net, self.likelihood).to(self.device).eval()
        return model, self.guide_builder()(model)


def compose(
    net: NetworkOptions | None,
    prior: Prior | None,
    likelihood: Likelihood | None,
    guide: GuideBuilder | None,
    features: FeatureOptions | None,
    training: TrainingConfig | None,
    *,
    num_samples: int,
    device: str,
    refuse_unread: bool = True,
) -> Parts:
    """The parts of ``SynergyBNN(...)``, checked, and each left None its object's default.

    A part that no registry names is an :class:`OptionError` that says where to register
    it; so is a value out of range (checked by the flat config). With ``refuse_unread`` a
    training setting that the family would not read (:data:`UNREAD_CHECKED`) is refused.
    """
    if isinstance(net, ModelConfig | Mapping):
        raise OptionError(
            "SynergyBNN takes its parts (net=, prior=, likelihood=, guide=, features=, "
            "training=); build one from a ModelConfig with SynergyBNN.from_config(config).",
            parameter="net",
        )
    net = FAMILIES[DEFAULT_FAMILY].Options() if net is None else net
    features = FeatureOptions() if features is None else features
    training = TrainingConfig() if training is None else training
    for name, value, kind in (
        ("features", features, FeatureOptions),
        ("training", training, TrainingConfig),
    ):
        if not isinstance(value, kind):
            raise OptionError(
                f"{name} must be a {kind.__name__}, not {short(value)}.", parameter=name
            )
    prior = PRIORS[DEFAULT_PRIOR] if prior is None else prior
    prior_key, prior_kwargs = prior_name(prior)
    if likelihood is None:
        likelihood = LIKELIHOODS[DEFAULT_LIKELIHOOD]()
    likelihood_key = likelihood_name(likelihood)
    config = ModelConfig(
        model=family_name(net),
        prior=prior_key,
        prior_kwargs=prior_kwargs,
        likelihood=likelihood_key,
        likelihood_kwargs=dict(likelihood.keywords),
        guide=guide_name(guide),
        **net.values(),
        **_fields_of(features, FeatureOptions),
        **_fields_of(training, TrainingConfig),
        num_samples=num_samples,
        device=device,
    )
    if refuse_unread:
        off = TrainingConfig()
        config.refuse_unread({n for n in UNREAD_CHECKED if getattr(training, n) != getattr(off, n)})
    return Parts(
        type(net)(**_fields_of(config, type(net))),  # values as the config converted them
        prior,
        likelihood,
        guide,
        FeatureOptions(**_fields_of(config, FeatureOptions)),
        config.training(anchored=True),  # kept: a fit without a start drops it
        config.num_samples,
        config.device,
        config,
    )


def family_name(net: NetworkOptions) -> str:
    """The ``FAMILIES`` name whose network class's ``Options`` ``net`` is an instance of."""
    for name, network in FAMILIES.items():
        if type(net) is network.Options:
            return name
    known = ", ".join(network.Options.__name__ for network in FAMILIES.values())
    raise OptionError(
        f"net must be the options of a registered model family ({known}), not {short(net)}; "
        "a new family's network class (with its Options dataclass) is registered in "
        "synergy_ppl.model.families.FAMILIES.",
        parameter="net",
    )


def prior_name(prior: Prior) -> tuple[str, dict]:
    """The ``PRIORS`` name of ``prior`` (a registered function, or one with keywords bound
    by ``functools.partial``) and those keywords."""
    function, keywords = prior, {}
    if isinstance(prior, functools.partial):
        if prior.args:
            raise OptionError(
                f"prior {short(prior)} binds positional arguments; bind its hyperparameters "
                "by keyword, e.g. partial(sp.priors.laplace, scale=0.5).",
                parameter="prior",
            )
        function, keywords = prior.func, dict(prior.keywords)
    for name, registered in PRIORS.items():
        if function is registered:
            return name, keywords
    raise OptionError(
        f"prior {short(prior)} is not a registered prior ({sorted(PRIORS)}); register a new "
        "prior function in synergy_ppl.model.priors.PRIORS.",
        parameter="prior",
    )


def likelihood_name(likelihood: Likelihood) -> str:
    """The ``LIKELIHOODS`` name of ``likelihood``'s class (an instance's)."""
    for name, registered in LIKELIHOODS.items():
        if type(likelihood) is registered:
            return name
    if isinstance(likelihood, type) and likelihood in LIKELIHOODS.values():
        hint = f"pass an instance, {likelihood.__name__}(), not the class"
    else:
        hint = "register a new Likelihood subclass in synergy_ppl.model.likelihoods.LIKELIHOODS"
    raise OptionError(
        f"likelihood {short(likelihood)} is not an instance of a registered likelihood "
        f"({list(LIKELIHOODS)}); {hint}.",
        parameter="likelihood",
    )


def guide_name(guide: GuideBuilder | None) -> str | None:
    """The ``GUIDES`` name of the builder ``guide`` (None: the prior's default)."""
    if guide is None:
        return None
    for name, registered in GUIDES.items():
        if guide is registered:
            return name
    raise OptionError(
        f"guide {short(guide)} is not a registered guide builder ({list(GUIDES)}); register "
        "a new builder (model -> guide) in synergy_ppl.model.guides.GUIDES.",
        parameter="guide",
    )


def _fields_of(source: object, kind: type) -> dict:
    """``source``'s values of the dataclass ``kind``'s fields (by name)."""
    return {f.name: getattr(source, f.name) for f in fields(kind)}
