import math

import pyro
import pyro.distributions as dist
import pytest
import torch
from pyro import poutine
from torch.distributions import kl_divergence

from synergy_ppl.data import make_demo_screen
from synergy_ppl.data.features import build_features, encode_pairs
from synergy_ppl.inference.predictive import draw_posterior, network_samples
from synergy_ppl.model.guides import (
    GUIDES,
    SparseVariationalDropout,
    default_guide,
    make_guide,
    mean_field,
    neg_kl_log_uniform_approx,
)
from synergy_ppl.model.network import EFFECT_SITES, SynergyModel, SynergyNet
from synergy_ppl.model.priors import (
    PRIORS,
    LogUniform,
    laplace,
    log_uniform,
    normal,
    scale_mixture,
)

W = torch.linspace(-3.0, 3.0, 13)
SHAPE = torch.Size([13])


def test_normal_log_density_closed_form():
    expected = -0.5 * (W / 0.7) ** 2 - math.log(0.7 * math.sqrt(2 * math.pi))
    assert torch.allclose(normal(SHAPE, scale=0.7).log_prob(W), expected.sum(), atol=1e-5)


def test_laplace_log_density_closed_form():
    expected = -W.abs() / 0.5 - math.log(2 * 0.5)
    assert torch.allclose(laplace(SHAPE, scale=0.5).log_prob(W), expected.sum(), atol=1e-5)


def test_scale_mixture_log_density_closed_form():
    pi, s1, s2 = 0.3, 1.0, 0.05

    def gauss(w, s):
        return torch.exp(-0.5 * (w / s) ** 2) / (s * math.sqrt(2 * math.pi))

    expected = torch.log(pi * gauss(W, s1) + (1 - pi) * gauss(W, s2))
    got = scale_mixture(SHAPE, pi=pi, sigma1=s1, sigma2=s2).log_prob(W)
    assert torch.allclose(got, expected.sum(), atol=1e-4)


def test_scale_mixture_samples_have_mixture_variance():
    draws = scale_mixture(torch.Size([200_000]), pi=0.25, sigma1=2.0, sigma2=0.1).sample()
    assert draws.var().item() == pytest.approx(0.25 * 4.0 + 0.75 * 0.01, rel=0.05)


def test_log_uniform_log_density_is_minus_log_abs():
    w = torch.tensor([0.1, -2.0, 5.0])
    assert torch.allclose(log_uniform(torch.Size([3])).log_prob(w), -torch.log(w.abs()).sum())


def test_kl_to_log_uniform_matches_molchanov_approximation():
    loc = torch.tensor([1.0, 0.5, -2.0, 0.01])
    log_alpha = torch.tensor([-4.0, 0.0, 2.0, 6.0])
    scale = loc.abs() * torch.exp(0.5 * log_alpha)
    k1, k2, k3 = 0.63576, 1.87320, 1.48695
    published = (
        k1 * torch.sigmoid(k2 + k3 * log_alpha) - 0.5 * torch.log1p(1 / log_alpha.exp()) - k1
    )
    assert torch.allclose(neg_kl_log_uniform_approx(log_alpha), published, atol=1e-6)
    kl = kl_divergence(dist.Normal(loc, scale), LogUniform(loc.shape))
    assert torch.allclose(kl, -published, atol=1e-5)
    # through Pyro's Independent wrappers as TraceMeanField_ELBO sees them
    q = dist.Normal(loc, scale).to_event(1)
    assert torch.allclose(kl_divergence(q, log_uniform(loc.shape)), -published.sum(), atol=1e-5)
    # the KL falls towards 0 as alpha grows: that is what switches weights off
    assert (kl[1:] < kl[:-1]).all()


@pytest.fixture(scope="module")
def demo():
    screen = make_demo_screen()
    features = build_features(screen)
    return screen, features, encode_pairs(features, screen.table)


@pytest.mark.parametrize(
    "bayesian,effects", [("head", 0.0), ("all", 0.0), ("head", 0.3)], ids=["head", "all", "effects"]
)
def test_prediction_is_invariant_to_drug_order(demo, bayesian, effects):
    _, features, (a, b, c) = demo
    torch.manual_seed(0)
    net = SynergyNet(features, bayesian=bayesian, drug_effects=effects, pair_effects=effects)
    model = SynergyModel(net)
    guide = mean_field(model, init_scale=0.1)
    draws = draw_posterior(model, guide, num_samples=8)
    forward = network_samples(model, draws, (a, b, c))
    swapped = network_samples(model, draws, (b, a, c))
    assert forward.shape == (8, len(a))
    assert torch.allclose(forward, swapped, atol=1e-5)
    assert forward.std(0).mean() > 0  # the draws differ


@pytest.mark.parametrize("prior", sorted(PRIORS))
def test_fast_prediction_equals_one_model_run_per_draw(demo, prior):
    """The vectorised path must give exactly what rerunning the net per draw gives."""
    _, features, (a, b, c) = demo
    torch.manual_seed(1)
    model = SynergyModel(SynergyNet(features, prior=PRIORS[prior]))
    guide = GUIDES[default_guide(prior)](model)
    draws = draw_posterior(model, guide, num_samples=5)
    fast = network_samples(model, draws, (a, b, c), chunk_size=100)
    for s in range(5):
        one = {k: v[s] for k, v in draws.items()}
        slow = poutine.condition(model.net, data=one)(a, b, c)
        assert torch.allclose(fast[s], slow, atol=1e-5)


def test_model_trace_has_bayesian_head_and_scaled_likelihood(demo):
    _, features, (a, b, c) = demo
    model = SynergyModel(SynergyNet(features))
    y = torch.zeros(10)
    trace = poutine.trace(model).get_trace(a[:10], b[:10], c[:10], y, 1000)
    trace.compute_log_prob()
    latent = [
        n
        for n, s in trace.nodes.items()
        if s["type"] == "sample" and not s["is_observed"] and n != "data"
    ]
    assert "sigma" in latent
    assert all(n.startswith("net.head.") for n in latent if n != "sigma")
    obs = trace.nodes["obs"]
    assert obs["scale"] == pytest.approx(100.0)  # 10 of 1,000 rows: likelihood x100


def test_guides_are_local_to_each_model(demo):
    """Two models in one process never share parameters through Pyro's global store."""
    _, features, (a, b, c) = demo
    pyro.clear_param_store()
    first = mean_field(SynergyModel(SynergyNet(features)))
    second = mean_field(SynergyModel(SynergyNet(features)))
    first(a[:2], b[:2], c[:2])
    second(a[:2], b[:2], c[:2])
    assert len(pyro.get_param_store()) == 0
    name = "net.head.layers.0.weight_unconstrained"
    kept = second.locs.get_parameter(name).detach().clone()
    with torch.no_grad():
        first.locs.get_parameter(name).fill_(7.0)
    first(a[:2], b[:2], c[:2])
    second(a[:2], b[:2], c[:2])
    assert torch.equal(second.locs.get_parameter(name), kept)
    assert torch.all(first.locs.get_parameter(name) == 7.0)
    assert len(pyro.get_param_store()) == 0


def test_effects_are_latent_per_drug_per_cell_line_and_drug_and_per_pair(demo):
    screen, features, (a, b, c) = demo
    model = SynergyModel(SynergyNet(features, drug_effects=0.3, pair_effects=0.5))
    trace = poutine.trace(model).get_trace(a[:10], b[:10], c[:10])
    shared, per_cell = trace.nodes["net.drug_effect"], trace.nodes["net.drug_cell_effect"]
    pair = trace.nodes["net.pair_effect"]
    n_drugs = len(features.drugs)
    assert shared["fn"].event_shape == (n_drugs,)
    assert per_cell["fn"].event_shape == (len(features.cell_lines), n_drugs)
    assert pair["fn"].event_shape == (n_drugs, n_drugs)
    assert pair["fn"].base_dist.scale.unique().tolist() == [0.5]
    assert not any(site["is_observed"] for site in (shared, per_cell, pair))
    one_line = screen.subset((screen.table["cell_line"] == "C0").to_numpy())
    net = SynergyNet(build_features(one_line), drug_effects=0.3, pair_effects=0.5)
    assert set(net._pyro_samples) & {"drug_effect", "drug_cell_effect", "pair_effect"} == {
        "drug_effect"
    }


def test_a_pair_effect_moves_that_pair_in_every_line_and_no_other_pair(demo):
    _, features, (a, b, c) = demo
    net = SynergyNet(features, pair_effects=0.5)
    trace = poutine.trace(net).get_trace(a, b, c)
    base = poutine.replay(net, trace)(a, b, c)
    lo, hi = min(int(a[0]), int(b[0])), max(int(a[0]), int(b[0]))
    trace.nodes["pair_effect"]["value"] = trace.nodes["pair_effect"]["value"].clone()
    trace.nodes["pair_effect"]["value"][lo, hi] += 1.0
    moved = poutine.replay(net, trace)(a, b, c)
    same_pair = (torch.minimum(a, b) == lo) & (torch.maximum(a, b) == hi)
    assert len(c[same_pair].unique()) > 1  # the pair is measured in several lines
    assert torch.allclose(moved[same_pair] - base[same_pair], torch.tensor(1.0))
    assert torch.equal(moved[~same_pair], base[~same_pair])


def test_mean_field_starts_drug_effects_at_their_prior(demo):
    _, features, (a, b, c) = demo
    model = SynergyModel(SynergyNet(features, drug_effects=0.7, pair_effects=0.7))
    guide = mean_field(model, init_scale=0.01)
    guide(a[:2], b[:2], c[:2])
    for site in EFFECT_SITES:
        loc, scale = guide._get_loc_and_scale(site)
        assert torch.all(loc == 0) and torch.allclose(scale, torch.tensor(0.7))
    _, weight_scale = guide._get_loc_and_scale("net.head.layers.0.weight")
    assert torch.allclose(weight_scale, torch.tensor(0.01))


def test_guides_by_name_and_the_log_uniform_default(demo):
    _, features, _ = demo
    assert default_guide("log-uniform") == "svd" and default_guide("laplace") == "mean-field"
    model = SynergyModel(SynergyNet(features, prior=log_uniform))
    assert isinstance(make_guide(model, "svd"), SparseVariationalDropout)
    assert not isinstance(make_guide(model, "mean-field"), SparseVariationalDropout)
    with pytest.raises(ValueError, match="guide must be one of"):
        make_guide(model, "delta")
