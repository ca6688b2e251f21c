"""The guide interface (location, scale, state keys) that the mean-field, SVD and point-estimate
guides implement, and what reads it: unseen-entity pooling, new drugs, transfer."""

from __future__ import annotations

import pytest
import torch

from synergy_ppl.config import ModelConfig
from synergy_ppl.data import make_demo_screen
from synergy_ppl.errors import DataError
from synergy_ppl.estimator import SynergyBNN
from synergy_ppl.inference.unseen import with_new_drugs
from synergy_ppl.model.guides import GUIDES, NormalSites, PointEstimate
from synergy_ppl.model.network import DRUG_NOISE_SITE
from synergy_ppl.state_format import FORMAT, migrate

SITE = "net.drug_embedding.weight"


@pytest.fixture(scope="module")
def fitted():
    screen = make_demo_screen()
    small = dict(model="factorization", epochs=2, num_samples=6, rank=4)
    return {
        name: SynergyBNN.from_config(ModelConfig(guide=name, **small)).fit(screen, progress=False)
        for name in ("mean-field", "map")
    }


@pytest.mark.parametrize("name", list(GUIDES))
def test_every_registered_guide_implements_the_interface(fitted, name):
    guide = GUIDES[name](fitted["map"].model)
    assert isinstance(guide, NormalSites | PointEstimate)
    assert guide.has_spread is (name != "map")


@pytest.mark.parametrize("name", ["mean-field", "map"])
def test_loc_and_scale_round_trip_through_the_state_keys(fitted, name):
    guide = fitted[name].guide
    loc, scale = (t.detach().clone() for t in guide.loc_and_scale(SITE))
    assert loc.shape == scale.shape and loc.dim() == 2
    assert (scale > 0).all() if guide.has_spread else (scale == 0).all()
    guide.set_loc_and_scale(SITE, loc + 1.0, scale * 2.0 if guide.has_spread else scale)
    new_loc, new_scale = guide.loc_and_scale(SITE)
    assert torch.allclose(new_loc, loc + 1.0)
    if guide.has_spread:
        assert torch.allclose(new_scale, scale * 2.0, rtol=1e-5)
    state = guide.state_dict()
    assert torch.allclose(state[guide.state_keys(SITE)["loc"]], loc + 1.0)
    guide.set_loc_and_scale(SITE, loc, scale)


@pytest.mark.parametrize("name", ["mean-field", "map"])
def test_new_drugs_grow_every_per_drug_entry_of_the_state(fitted, name):
    guide = fitted[name].guide
    grown = with_new_drugs(guide.state_dict(), 3, guide.state_keys)
    for part, key in guide.state_keys(DRUG_NOISE_SITE).items():
        before, after = guide.state_dict()[key], grown[key]
        assert after.shape[-1] == before.shape[-1] + 3
        fill = 0.0 if part == "loc" else before.max().item()
        assert torch.all(after[..., -3:] == fill)


def test_the_point_estimate_has_one_value_per_site_and_no_posterior_to_transfer(fitted):
    bnn = fitted["map"]
    draws = bnn.posterior_draws(6)
    assert all(torch.equal(v[0], v[-1]) for v in draws.values())
    with pytest.raises(DataError, match="warm-start"):
        bnn.posterior_priors()
    assert set(fitted["mean-field"].posterior_priors()) >= {SITE}


def test_a_state_records_its_format_and_an_unversioned_one_is_migrated(fitted):
    bnn = fitted["mean-field"]
    state = bnn.state()
    assert state["format"] == FORMAT
    # a run written before the format was recorded: no version, no without_rows, and a
    # config holding another family's option at its off value
    old = {k: v for k, v in state.items() if k not in ("format", "without_rows", "guides")}
    old["config"] = {**state["config"], "drug_layers": None}
    old["guide"] = state["guides"][0]  # one guide, before mixtures
    again = SynergyBNN.from_state(old)
    assert again.without_rows == {"drugs": [], "cell_lines": []}
    table = make_demo_screen().table.head(5)
    current = SynergyBNN.from_state(state)
    assert again.predict(table, 6)["mean"].tolist() == current.predict(table, 6)["mean"].tolist()
    assert migrate(state) is state  # the current layout passes through


@pytest.mark.parametrize("version", [FORMAT + 1, "2", 0, True])
def test_a_state_of_an_unknown_format_is_refused(fitted, version):
    state = {**fitted["mean-field"].state(), "format": version}
    with pytest.raises(DataError, match="format"):
        SynergyBNN.from_state(state)
