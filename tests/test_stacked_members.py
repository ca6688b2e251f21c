"""A mixture's members trained together as one vectorised fit (``inference.members``): each
member's parameters and densities are its own in the stack (each particle's noise goes with its
own means), and the members stop together at their mixture's best epoch."""

from __future__ import annotations

import contextlib
from dataclasses import replace

import pyro
import pytest
import torch
from pyro import poutine

from synergy_ppl.config import ModelConfig
from synergy_ppl.data import make_demo_screen
from synergy_ppl.estimator import SynergyBNN
from synergy_ppl.inference.members import stack, train_members, unstack
from synergy_ppl.inference.posterior import Posterior
from synergy_ppl.inference.svi import TrainData, epochs_for, validation_nll

SMALL = dict(model="hierarchical", rank=4, n_bits=64, num_samples=8)


@pytest.fixture(scope="module")
def screen():
    return make_demo_screen()


def members(screen, count: int, config: dict = SMALL) -> tuple[list[Posterior], TrainData]:
    """``count`` fresh posteriors of one small model (initial weights from seeds 0, 1, ...)
    and the screen's rows: the first 300 to train on, the next 100 to validate on."""
    parts = SynergyBNN.from_config(ModelConfig(**config)).parts
    features = parts.features.build(screen)
    posteriors = []
    for seed in range(count):
        torch.manual_seed(seed)
        posteriors.append(Posterior(parts, features))
    table = screen.table
    scores = torch.tensor(table["score"].to_numpy(), dtype=torch.float32)
    scores = (scores - scores.mean()) / scores.std()
    triples = posteriors[0].triples(table)
    data = TrainData(
        tuple(t[:300] for t in triples),
        scores[:300],
        tuple(t[300:400] for t in triples),
        scores[300:400],
    )
    return posteriors, data


def initialised(posteriors: list[Posterior], data: TrainData) -> None:
    for seed, posterior in enumerate(posteriors):
        torch.manual_seed(seed)
        posterior.guide(*(t[:2] for t in data.train), data.y_train[:2], 300)


def test_stack_and_unstack_keep_each_members_parameters(screen):
    posteriors, data = members(screen, 3)
    initialised(posteriors, data)
    guides = [p.guide for p in posteriors]
    before = [{k: v.clone() for k, v in g.state_dict().items()} for g in guides]
    stacked = stack(posteriors[0].model, guides)
    for param in stacked.parameters():
        assert param.shape[:2] == (3, 1)
    for guide in guides:  # overwritten, then given back by the stack
        for param in guide.parameters():
            param.data.zero_()
    unstack(stacked, guides)
    for guide, state in zip(guides, before, strict=True):
        for key, value in guide.state_dict().items():
            assert torch.equal(value, state[key])


def model_log_probs(model, guide, batch, members: int = 0) -> dict[str, torch.Tensor]:
    """Each model site's log density ``(members,)`` (a scalar for one guide) at the guide's
    draw, the guide traced in a vectorising plate of ``members`` at dim -2 if given."""
    plate = pyro.plate("members", members, dim=-2) if members else contextlib.nullcontext()
    with plate:
        guide_trace = poutine.trace(guide).get_trace(*batch)
        trace = poutine.trace(poutine.replay(model, trace=guide_trace)).get_trace(*batch)
    trace.compute_log_prob()
    return {
        name: site["log_prob"].reshape(max(members, 1), -1).sum(-1).detach()
        for name, site in trace.nodes.items()
        if site["type"] == "sample" and name != "data"
    }


def test_in_the_stack_each_members_noise_goes_with_its_own_means(screen):
    """The model's every term, the likelihood's included, is each member's own: with every
    guide scale near zero a stacked trace gives member k the densities of its own trace."""
    posteriors, data = members(screen, 2)
    initialised(posteriors, data)
    for posterior in posteriors:
        guide = posterior.guide
        for name, _ in guide.prototype_trace.iter_stochastic_nodes():
            loc, scale = guide.loc_and_scale(name)
            guide.set_loc_and_scale(name, loc.detach(), torch.full_like(scale, 1e-6))
    model, batch = posteriors[0].model, (*(t[:50] for t in data.train), data.y_train[:50], 300)
    own = [model_log_probs(model, p.guide, batch) for p in posteriors]
    stacked = model_log_probs(model, stack(model, [p.guide for p in posteriors]), batch, 2)
    assert set(stacked) == set(own[0]) and "obs" in stacked
    assert not torch.allclose(own[0]["obs"], own[1]["obs"])  # the members differ
    for name, values in stacked.items():
        expected = torch.cat([own[0][name], own[1][name]])
        assert torch.allclose(values, expected, rtol=1e-4, atol=1e-3), name


def test_the_members_stop_together_at_their_mixtures_best_epoch(screen):
    posteriors, data = members(screen, 3)
    training = replace(
        SynergyBNN.from_config(ModelConfig(**SMALL)).parts.training, epochs=40, patience=3
    )
    guides = [p.guide for p in posteriors]
    model = posteriors[0].model
    history = train_members(model, guides, data, training, progress=False)
    nll = history.validation["nll"]
    assert len(nll) == len(history.elbo)
    if len(nll) < 40:  # stopped by patience, three epochs after the best
        assert len(nll) == history.best_epoch + 1 + 3
    assert min(nll) == nll[history.best_epoch]
    # every member holds the best epoch's parameters: the mixture scores its best again
    assert validation_nll(model, guides, data, training.seed) == pytest.approx(min(nll))
    assert validation_nll(model, guides[:1], data, training.seed) != pytest.approx(min(nll))
    locs = [g.loc_and_scale("net.identity.weight")[0] for g in guides]
    assert not torch.allclose(locs[0], locs[1])


def test_without_validation_rows_every_epoch_runs_and_the_last_is_kept(screen):
    posteriors, data = members(screen, 2)
    no_val = TrainData(data.train, data.y_train, tuple(t[:0] for t in data.val), data.y_val[:0])
    training = replace(
        SynergyBNN.from_config(ModelConfig(**SMALL)).parts.training, epochs=1, min_steps=9
    )
    guides = [p.guide for p in posteriors]
    history = train_members(posteriors[0].model, guides, no_val, training, progress=False)
    epochs = epochs_for(300, training)
    assert epochs > 1
    assert len(history.elbo) == history.best_epoch + 1 == epochs
    assert not history.validation


def test_training_together_refuses_what_it_cannot_do(screen):
    posteriors, data = members(screen, 2)
    training = SynergyBNN.from_config(ModelConfig(**SMALL)).parts.training
    guides = [p.guide for p in posteriors]
    with pytest.raises(ValueError, match="one particle each"):
        train_members(posteriors[0].model, guides, data, replace(training, num_particles=2))
    recover, data = members(screen, 2, {"model": "recover", "n_bits": 64})
    guides = [p.guide for p in recover]
    with pytest.raises(ValueError, match="point-estimate"):
        train_members(recover[0].model, guides, data, training)


def test_members_with_several_particles_are_fitted_one_after_another(screen):
    config = ModelConfig(**SMALL, members=2, num_particles=2, epochs=3)
    bnn = SynergyBNN.from_config(config).fit(screen, progress=False)
    assert len(bnn.posterior.guides) == 2
    assert len(bnn.history.member_best_epochs) == 2
