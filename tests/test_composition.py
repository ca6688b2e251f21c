"""SynergyBNN composed of objects (a family's options, a prior, a likelihood, a guide builder,
feature and training options) is the model its flat ModelConfig describes: the same config,
the same predictions, saved and loaded whole; an object no registry names is refused."""

from __future__ import annotations

import dataclasses
from functools import partial

import pytest
import torch

import synergy_ppl as sp
from synergy_ppl.runs import load_state, save_state

SCREEN = dict(n_drugs=6, n_cell_lines=2, n_bits=16)


@pytest.fixture(scope="module")
def screen():
    return sp.make_demo_screen(**SCREEN)


def composed() -> sp.SynergyBNN:
    return sp.SynergyBNN(
        net=sp.FactorizationOptions(rank=8),
        prior=partial(sp.priors.laplace, scale=0.5),
        likelihood=sp.StudentTLikelihood(nu_shape=3.0),
        guide=sp.guides.mean_field,
        features=sp.FeatureOptions(n_bits=16),
        training=sp.TrainingConfig(epochs=4),
        num_samples=30,
    )


FLAT = dict(
    model="factorization",
    rank=8,
    prior="laplace",
    prior_kwargs={"scale": 0.5},
    likelihood="student-t",
    likelihood_kwargs={"nu_shape": 3.0},
    guide="mean-field",
    n_bits=16,
    epochs=4,
    num_samples=30,
)
"""The flat config of :func:`composed`."""


def test_a_model_of_objects_fits_predicts_and_comes_back_from_disk(screen, tmp_path):
    bnn = composed().fit(screen, progress=False)
    assert bnn.config == sp.ModelConfig(**FLAT)
    assert isinstance(bnn.model.likelihood, sp.StudentTLikelihood)
    assert bnn.model.likelihood.nu_shape == 3.0
    pairs = screen.table.head(5)
    predicted = bnn.predict(pairs, progress=False)
    assert predicted["std"].gt(0).all()
    save_state(bnn.state(), tmp_path / "model.pt")
    loaded = sp.SynergyBNN.from_state(load_state(tmp_path / "model.pt"))
    assert loaded.config == bnn.config
    assert loaded.parts.net == sp.FactorizationOptions(rank=8)
    assert predicted.equals(loaded.predict(pairs, progress=False))


def test_from_config_and_the_composed_form_are_the_same_model(screen):
    pairs = screen.table.head(8)
    flat = sp.SynergyBNN.from_config(sp.ModelConfig(**FLAT)).fit(screen, progress=False)
    objects = composed().fit(screen, progress=False)
    assert flat.config == objects.config == sp.ModelConfig(**FLAT)
    assert torch.equal(flat.sample(pairs, seed=3), objects.sample(pairs, seed=3))
    assert flat.history.elbo == objects.history.elbo


def test_every_part_defaults_to_the_flat_configs_default():
    assert sp.SynergyBNN().config == sp.ModelConfig()
    flat = {f.name: f.default for f in dataclasses.fields(sp.ModelConfig)}
    for kind in (sp.TrainingConfig, sp.FeatureOptions):
        for field in dataclasses.fields(kind):  # None: the family's, filled by both
            assert flat[field.name] == field.default, field.name
    # a family's inputs and training defaults fill what the objects leave None
    recover = sp.SynergyBNN(net=sp.RecoverOptions()).config
    assert recover == sp.ModelConfig(model="recover")
    assert recover.n_bits == sp.RecoverOptions.input_defaults["n_bits"]
    pair_mlp = sp.SynergyBNN(net=sp.PairMLPOptions()).parts.training
    assert pair_mlp.lr == sp.PairMLPOptions.training_defaults["lr"]


def test_from_config_round_trips_any_config():
    config = sp.ModelConfig(
        model="recover",
        prior="scale-mixture",
        prior_kwargs={"pi": 0.25},
        likelihood_kwargs={"sigma_scale": 0.5},
        guide="map",
        head_layers=(8,),
        drug_effects=0.3,
        refit=False,
    )
    bnn = sp.SynergyBNN.from_config(config)
    assert bnn.config == config
    assert bnn.parts.net.head_layers == (8,) and bnn.parts.guide is sp.guides.GUIDES["map"]
    assert bnn.parts.likelihood.keywords == {"sigma_scale": 0.5}


@dataclasses.dataclass(frozen=True, kw_only=True)
class UnregisteredOptions(sp.FactorizationOptions):
    """A family's options that no network class of ``FAMILIES`` has as its ``Options``."""


class UnregisteredLikelihood(sp.NormalLikelihood):
    """A likelihood class that ``LIKELIHOODS`` does not hold."""


def cauchy(shape: torch.Size, scale: float = 1.0):
    return torch.distributions.Cauchy(0.0, scale).expand(shape).to_event(len(shape))


@pytest.mark.parametrize(
    ("parts", "message"),
    [
        (dict(net=UnregisteredOptions()), "register.*model.families.FAMILIES"),
        (dict(net="factorization"), "net must be the options of a registered model family"),
        (dict(prior=cauchy), "register a new prior function in synergy_ppl.model.priors.PRIORS"),
        (dict(prior=partial(sp.priors.laplace, 0.5)), "bind its hyperparameters by keyword"),
        (dict(likelihood=UnregisteredLikelihood()), "model.likelihoods.LIKELIHOODS"),
        (dict(likelihood=sp.StudentTLikelihood), r"pass an instance, StudentTLikelihood\(\)"),
        (dict(guide=lambda model: None), "builder .* in synergy_ppl.model.guides.GUIDES"),
        (dict(features={"n_bits": 0}), "features must be a FeatureOptions"),
        (dict(training=sp.TrainingConfig(lr=0.0)), r"lr must be > 0"),
        # the factorisation has no point-estimate layers for a learning rate to act on
        (dict(training=sp.TrainingConfig(lr=1e-2)), "has no point-estimate layers"),
    ],
)
def test_a_part_no_registry_names_is_refused_saying_where_to_register(parts, message):
    with pytest.raises(sp.OptionError, match=message):
        sp.SynergyBNN(**parts)


def test_a_model_config_in_place_of_the_parts_says_to_use_from_config():
    with pytest.raises(sp.OptionError) as caught:
        sp.SynergyBNN(sp.ModelConfig(rank=8))
    assert "SynergyBNN.from_config(config)" in str(caught.value)
    assert "\n" not in str(caught.value)
