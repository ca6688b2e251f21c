"""Parameter isolation by construction: two fitted models in one process never trade weights
through Pyro's global param store, whoever calls them and however (the library, Pyro's own
``Predictive``, a notebook's direct call), and every command leaves that store empty."""

from __future__ import annotations

import pyro
import pytest
import torch
from pyro.infer import Predictive

import synergy_ppl as sp
from synergy_ppl.cli import main
from synergy_ppl.config import ModelConfig
from synergy_ppl.data import make_demo_screen
from synergy_ppl.estimator import SynergyBNN
from synergy_ppl.model.network import dummy_triples

SMALL = dict(epochs=3, num_samples=8, rank=4)
KEY = "locs.net.identity.weight_unconstrained"


@pytest.fixture(autouse=True)
def empty_store():
    pyro.clear_param_store()
    assert pyro.settings.get("module_local_params") is False
    yield
    pyro.clear_param_store()


@pytest.fixture(scope="module")
def two_models():
    screen = make_demo_screen()
    a = SynergyBNN.from_config(ModelConfig(seed=0, **SMALL)).fit(screen, progress=False)
    b = SynergyBNN.from_config(ModelConfig(seed=1, **SMALL)).fit(screen, progress=False)
    return screen, a, b


def _guide_values(bnn: SynergyBNN) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in bnn.guide.state_dict().items()}


def test_pyro_predictive_on_two_models_keeps_each_models_parameters(two_models):
    screen, a, b = two_models
    before_a, before_b = _guide_values(a), _guide_values(b)
    predictions_b = b.predict(screen.table.head(20))
    triples = dummy_triples()
    # Plain Pyro, no setting around it: the way a notebook hands a model to Predictive.
    for bnn in (a, b, a):
        Predictive(bnn.model, guide=bnn.guide, num_samples=2)(*triples)
        bnn.guide(*triples, torch.zeros(1))
        bnn.guide.median()
    assert len(pyro.get_param_store()) == 0
    for name, value in _guide_values(b).items():
        assert torch.equal(value, before_b[name]), name
    for name, value in _guide_values(a).items():
        assert torch.equal(value, before_a[name]), name
    assert not torch.equal(before_a[KEY], before_b[KEY])
    again = b.predict(screen.table.head(20))
    assert torch.equal(torch.tensor(again["mean"].values), torch.tensor(predictions_b["mean"]))
    assert pyro.settings.get("module_local_params") is False


def test_library_calls_leave_the_global_store_empty(two_models):
    screen, a, _ = two_models
    a.predict(screen.table.head(10))
    sp.recommend(a, screen.table, strategy="ucb", batch_size=3)
    assert len(pyro.get_param_store()) == 0


def test_every_command_leaves_the_global_store_empty(tmp_path, capsys):
    fast = ["--epochs", "2", "--num-samples", "8", "--rank", "4", "--quiet"]
    run = tmp_path / "run"
    assert main(["fit", "--out", str(run), *fast]) == 0
    pairs = tmp_path / "pairs.csv"
    make_demo_screen().table.head(5)[["drug_a", "drug_b", "cell_line"]].to_csv(pairs, index=False)
    assert main(["predict", "--run", str(run), "--pairs", str(pairs)]) == 0
    assert main(["recommend", "--run", str(run), "--batch-size", "3"]) == 0
    assert main(["diagnose", "--run", str(run), "--num-samples", "8"]) == 0
    simulate = ["simulate", "--out", str(tmp_path / "sim"), "--rounds", "1", "--seeds", "1"]
    assert main([*simulate, "--batch-size", "5", "--epochs", "2", "--num-samples", "8"]) == 0
    capsys.readouterr()
    assert len(pyro.get_param_store()) == 0
    assert pyro.settings.get("module_local_params") is False
