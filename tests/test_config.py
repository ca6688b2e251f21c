"""ModelConfig: registry names checked, the guide resolved, training settings handed over whole."""

from dataclasses import asdict, fields, replace

import pytest

from synergy_ppl.config import ARCHITECTURE, ModelConfig
from synergy_ppl.errors import OptionError
from synergy_ppl.inference.svi import TrainingConfig


def test_an_old_config_without_a_guide_loads_with_the_priors_default():
    old = asdict(ModelConfig(prior="log-uniform"))
    del old["guide"]
    config = ModelConfig.from_dict(old)
    assert config.guide is None and config.guide_name == "svd"
    assert ModelConfig().guide_name == "mean-field"
    assert ModelConfig(prior="log-uniform", guide="mean-field").guide_name == "mean-field"


def test_unknown_names_are_refused_naming_the_option():
    guides = r"\['mean-field', 'svd', 'map'\]"
    with pytest.raises(OptionError, match=rf"^guide 'delta' is not one of {guides}"):
        ModelConfig(guide="delta")
    with pytest.raises(OptionError, match="^likelihood 'cauchy'"):
        ModelConfig(likelihood="cauchy")
    with pytest.raises(OptionError, match=r"^stop_on 'loss' is not one of \['nll', 'rmse'\]"):
        ModelConfig(stop_on="loss")


def test_the_guide_is_part_of_the_architecture_and_compared_resolved():
    assert "guide" in ARCHITECTURE
    implicit = ModelConfig(prior="log-uniform")
    explicit = replace(implicit, guide="svd")
    assert implicit.architecture() == explicit.architecture()
    assert implicit.architecture() != replace(implicit, guide="mean-field").architecture()


def test_training_settings_come_whole_and_the_anchor_only_with_a_start():
    config = ModelConfig(epochs=7, lr=2e-3, guide_lr=5e-3, batch_size=64, trunk_anchor=5.0)
    assert {f.name for f in fields(TrainingConfig)} <= {f.name for f in fields(ModelConfig)}
    anchored = config.training(anchored=True)
    assert anchored == TrainingConfig(
        epochs=7,
        min_steps=0,
        batch_size=64,
        lr=2e-3,
        guide_lr=5e-3,
        patience=config.patience,
        num_particles=1,
        weight_decay=config.weight_decay,
        trunk_anchor=5.0,
        members=config.members,
        seed=0,
    )
    assert config.training() == replace(anchored, trunk_anchor=0.0)
