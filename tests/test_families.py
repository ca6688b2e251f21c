"""Model families: each is a Pyro model that takes every prior, the guides, the predictive
path and the run folders; the pair MLP is exactly symmetric in the drugs."""

from __future__ import annotations

import json

import pytest
import torch
from pyro import poutine

from synergy_ppl.cli import main
from synergy_ppl.config import ModelConfig
from synergy_ppl.data import make_demo_screen
from synergy_ppl.data.features import build_features, encode_pairs
from synergy_ppl.estimator import SynergyBNN
from synergy_ppl.inference.predictive import draw_posterior, network_samples
from synergy_ppl.model.families import FAMILIES
from synergy_ppl.model.guides import GUIDES, default_guide
from synergy_ppl.model.network import SynergyModel, local_params
from synergy_ppl.model.pair_mlp import PairMLP
from synergy_ppl.model.priors import PRIORS
from synergy_ppl.runs import load_fit

SMALL = dict(pair_layers=(32, 16), head_layers=(8,), n_bits=64, num_samples=20)


@pytest.fixture(scope="module")
def demo():
    screen = make_demo_screen(n_drugs=10, n_cell_lines=3, n_bits=64)
    features = build_features(screen, n_bits=64)
    return screen, features, encode_pairs(features, screen.table)


@pytest.mark.parametrize("bayesian,effects", [("head", 0.0), ("all", 0.0), ("head", 0.3)])
def test_the_pair_mlp_is_exactly_symmetric_in_the_drugs(demo, bayesian, effects):
    _, features, (a, b, c) = demo
    with local_params():
        torch.manual_seed(0)
        net = PairMLP(features, hidden_layers=(16,), bayesian=bayesian, drug_effects=effects)
        model = SynergyModel(net)
        draws = draw_posterior(model, GUIDES["mean-field"](model), num_samples=6)
        forward = network_samples(model, draws, (a, b, c))
        swapped = network_samples(model, draws, (b, a, c))
    assert forward.shape == (6, len(a)) and forward.std(0).mean() > 0
    assert torch.allclose(forward, swapped, atol=1e-6)  # up to float rounding of the effects


@pytest.mark.parametrize("prior", sorted(PRIORS))
def test_every_prior_fits_the_pair_mlp_and_draws_are_one_run_per_draw(demo, prior):
    screen, features, (a, b, c) = demo
    bnn = SynergyBNN(ModelConfig(model="pair-mlp", prior=prior, epochs=3, **SMALL))
    bnn.fit(screen, progress=False)
    assert isinstance(bnn.model.net, PairMLP)
    assert type(bnn.guide) is GUIDES[default_guide(prior)](bnn.model).__class__
    draws = bnn.posterior_draws(4)
    with local_params():
        fast = network_samples(bnn.model, draws, (a[:20], b[:20], c[:20]))
        for s in range(4):
            one = {k: v[s] for k, v in draws.items()}
            slow = poutine.condition(bnn.model.net, data=one)(a[:20], b[:20], c[:20])
            assert torch.allclose(fast[s], slow, atol=1e-5)


def test_a_family_round_trips_through_a_run_folder(tmp_path, capsys):
    out = tmp_path / "run"
    args = ["fit", "--model", "pair-mlp", "--pair-layers", "32,16", "--head-layers", "8"]
    args += ["--n-bits", "64", "--epochs", "5", "--num-samples", "20", "--quiet"]
    assert main([*args, "--out", str(out)]) == 0
    assert json.loads((out / "config.json").read_text())["model"]["model"] == "pair-mlp"
    bnn, _ = load_fit(out)
    assert isinstance(bnn.model.net, PairMLP)
    assert main(["recommend", "--run", str(out), "--batch-size", "5"]) == 0


def test_families_registry_lists_both_and_the_default_is_recover():
    assert set(FAMILIES) == {"recover", "pair-mlp"}
    assert ModelConfig().model == "recover"
    assert ModelConfig.from_dict({}).model == "recover"  # a run saved before families loads
