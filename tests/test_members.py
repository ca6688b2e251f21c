"""A posterior that is a mixture of variational fits (``members``): its draws, its moments as a
prior, its saved state, and the configs that refuse it."""

from __future__ import annotations

import pytest
import torch

from synergy_ppl.cli import main
from synergy_ppl.config import ModelConfig
from synergy_ppl.data import Split, make_demo_screen
from synergy_ppl.errors import OptionError
from synergy_ppl.estimator import SynergyBNN
from synergy_ppl.inference.posterior import mixture_moments
from synergy_ppl.inference.predictive import draw_posterior, member_draws
from synergy_ppl.model.hierarchical import HierarchicalOptions
from synergy_ppl.state_format import FORMAT
from synergy_ppl.transfer import Transfer

SITE = "net.identity.weight"
SMALL = dict(model="hierarchical", epochs=3, num_samples=8, rank=4, n_bits=64)


@pytest.fixture(scope="module")
def screen():
    return make_demo_screen()


@pytest.fixture(scope="module")
def split(screen):
    n = len(screen.table)
    order = torch.randperm(n, generator=torch.Generator().manual_seed(0)).numpy()
    return Split(order[: n // 2], order[n // 2 : 3 * n // 4], order[3 * n // 4 :], "pair")


@pytest.fixture(scope="module")
def mixture(screen, split):
    config = ModelConfig(members=3, **SMALL)
    return SynergyBNN.from_config(config).fit(screen, split, progress=False)


def test_the_hierarchical_default_is_a_mixture_of_four():
    assert HierarchicalOptions.training_defaults["members"] == 4
    assert ModelConfig().members == 4
    assert ModelConfig(model="factorization").members == 1


def test_draws_are_shared_out_as_evenly_as_they_go():
    assert member_draws(8, 3) == [3, 3, 2]
    assert member_draws(2, 3) == [1, 1, 0]
    assert sum(member_draws(200, 7)) == 200


def test_each_member_is_a_refit_from_its_own_seed(mixture):
    guides = mixture.posterior.guides
    assert len(guides) == 3
    history = mixture.history
    assert len(history.member_best_epochs) == len(history.member_refit_epochs) == 3
    assert history.member_best_epochs[0] == history.best_epoch
    assert history.member_refit_epochs[0] == history.refit_epochs
    locs = [g.loc_and_scale(SITE)[0] for g in guides]
    assert not torch.allclose(locs[0], locs[1]) and not torch.allclose(locs[1], locs[2])


def test_the_draws_are_each_members_in_turn(mixture):
    posterior = mixture.posterior
    draws = mixture.posterior_draws(8, seed=5)
    assert draws[SITE].shape[0] == 8
    first = draw_posterior(posterior.model, posterior.guides[0], 3, 5)
    third = draw_posterior(posterior.model, posterior.guides[2], 2, 7)
    assert torch.equal(draws[SITE][:3], first[SITE])
    assert torch.equal(draws[SITE][6:], third[SITE])


def test_the_mixture_as_a_prior_matches_its_mean_and_variance(mixture):
    guides = mixture.posterior.guides
    prior = mixture.posterior_priors()[SITE].base_dist
    locs = torch.stack([g.loc_and_scale(SITE)[0] for g in guides]).detach()
    scales = torch.stack([g.loc_and_scale(SITE)[1] for g in guides]).detach()
    assert torch.allclose(prior.loc, locs.mean(0))
    second_moment = (scales**2 + locs**2).mean(0)
    assert torch.allclose(prior.scale**2, second_moment - locs.mean(0) ** 2, atol=1e-5)


def test_one_members_moments_are_its_own_also_far_from_zero(mixture):
    guide = mixture.posterior.guides[0]
    loc, scale = (t.detach().clone() for t in guide.loc_and_scale(SITE))
    guide.set_loc_and_scale(SITE, loc + 1e3, scale)
    try:
        mean, sd = mixture_moments([guide], SITE)
        assert torch.allclose(mean, loc + 1e3)
        assert torch.allclose(sd, scale, rtol=1e-5)
    finally:
        guide.set_loc_and_scale(SITE, loc, scale)


def test_a_saved_mixture_predicts_the_same(mixture, screen):
    state = mixture.state()
    assert state["format"] == FORMAT and len(state["guides"]) == 3
    again = SynergyBNN.from_state(state)
    table = screen.table.head(20)
    assert len(again.posterior.guides) == 3
    assert torch.equal(again.sample(table, 8, noise=False), mixture.sample(table, 8, noise=False))


def test_a_warm_start_from_a_mixture_trains_one_member_from_each(mixture, screen):
    config = ModelConfig(members=2, **{**SMALL, "epochs": 1})
    warm = SynergyBNN.from_config(config).fit(screen, progress=False, init=mixture)
    assert len(warm.posterior.guides) == 2


def test_members_beside_point_layers_are_refused_naming_the_option():
    with pytest.raises(OptionError, match="^members 2: model recover") as err:
        ModelConfig(model="recover", members=2)
    assert "members" in err.value.parameters
    assert ModelConfig(model="recover", bayesian="all", members=2).members == 2
    with pytest.raises(OptionError, match="members must be >= 1"):
        ModelConfig(members=0)


def test_the_command_line_refuses_members_beside_point_layers_in_one_line(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["fit", "--model", "recover", "--members", "2", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert "error: --members 2: --model recover --bayesian head has" in err
    assert "\n" not in err and "Traceback" not in err
    assert not out.exists()


def test_a_transfer_takes_the_starts_members_unless_given(mixture):
    config = ModelConfig(members=1, **SMALL)
    assert Transfer().model_config(config, mixture).members == 3
    assert Transfer(given={"members"}).model_config(config, mixture).members == 1
