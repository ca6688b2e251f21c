"""Likelihood objects: what the model observes, and the predictive noise from posterior draws."""

import dataclasses
import math

import numpy as np
import pyro.distributions as dist
import pytest
import torch
from pyro import poutine

from synergy_ppl.config import ModelConfig
from synergy_ppl.data import make_demo_screen
from synergy_ppl.data.features import build_features, encode_pairs
from synergy_ppl.errors import OptionError
from synergy_ppl.estimator import SynergyBNN
from synergy_ppl.inference.predictive import (
    draw_posterior,
    log_predictive_density,
    network_samples,
    observation_samples,
)
from synergy_ppl.model.guides import mean_field
from synergy_ppl.model.likelihoods import (
    LIKELIHOODS,
    Likelihood,
    NormalLikelihood,
    StudentTLikelihood,
    make_likelihood,
)
from synergy_ppl.model.network import NOISE_SITES, SynergyModel, SynergyNet


class LaplaceLikelihood(Likelihood):
    """A likelihood defined here only: adding one needs no other module."""

    def priors(self):
        return {"sigma": dist.HalfNormal(1.0)}

    def distribution(self, mean, noise):
        return dist.Laplace(mean, noise["sigma"])


@pytest.fixture(scope="module")
def demo():
    features = build_features(make_demo_screen())
    return features, encode_pairs(features, make_demo_screen().table)


def test_a_name_is_looked_up_and_an_object_is_kept():
    assert type(make_likelihood("student-t")) is StudentTLikelihood
    mine = NormalLikelihood(sigma_scale=0.5)
    assert make_likelihood(mine) is mine
    assert set(LIKELIHOODS) == {"normal", "student-t"}
    with pytest.raises(ValueError, match="likelihood must be one of"):
        make_likelihood("cauchy")


@pytest.mark.parametrize(
    "likelihood,sites,family",
    [
        ("normal", ["sigma"], dist.Normal),
        ("student-t", ["sigma", "nu_minus_one"], dist.StudentT),
        (LaplaceLikelihood(), ["sigma"], dist.Laplace),
    ],
    ids=["normal", "student-t", "laplace"],
)
def test_noise_sites_lie_outside_the_data_plate_and_obs_inside(demo, likelihood, sites, family):
    features, (a, b, c) = demo
    model = SynergyModel(SynergyNet(features, head_layers=(8,)), likelihood)
    trace = poutine.trace(model).get_trace(a[:10], b[:10], c[:10], torch.zeros(10), 1000)
    noise = [n for n, s in trace.nodes.items() if s["type"] == "sample" and not n.startswith("net")]
    assert noise == [*sites, "data", "obs"]
    assert all(not trace.nodes[n]["cond_indep_stack"] for n in sites)
    obs = trace.nodes["obs"]
    assert [f.name for f in obs["cond_indep_stack"]] == ["data"]
    assert isinstance(obs["fn"], family) and obs["scale"] == pytest.approx(100.0)


@pytest.mark.parametrize("name", ["normal", "student-t"])
def test_predictive_noise_is_each_draws_own_noise(demo, name):
    """y_s = f_s + noise drawn with draw s's sigma (and nu), seeded."""
    features, (a, b, c) = demo
    torch.manual_seed(0)
    model = SynergyModel(SynergyNet(features, head_layers=(8,)), name)
    guide = mean_field(model, init_scale=0.3)
    draws = draw_posterior(model, guide, num_samples=7)
    means = network_samples(model, draws, (a[:20], b[:20], c[:20]))
    got = observation_samples(model, draws, means, seed=3)
    sigma = draws["sigma"].unsqueeze(-1)
    if name == "student-t":
        noise = dist.StudentT(1.0 + draws["nu_minus_one"].unsqueeze(-1), 0.0, sigma)
    else:
        noise = dist.Normal(0.0, sigma)
    torch.manual_seed(3)
    expected = means + noise.expand((7, 20)).sample()
    assert got.shape == (7, 20) and torch.equal(got, expected)


def test_noise_effects_scale_each_rows_width(demo):
    """With noise effects, row i has noise sigma_s exp(r_{s, c_i} + q_{s, a_i} + q_{s, b_i}),
    in the model and in the predictive; without them the sites do not exist."""
    features, (a, b, c) = demo
    assert features.cell_matrix.shape[0] > 1
    torch.manual_seed(0)
    model = SynergyModel(SynergyNet(features, head_layers=(8,)), "normal", noise_effects=0.5)
    trace = poutine.trace(model).get_trace(a[:10], b[:10], c[:10], torch.zeros(10), 100)
    r, q = (trace.nodes[name]["value"] for name in NOISE_SITES)
    log_scale = q[a[:10]] + q[b[:10]] + r[c[:10]]
    expected = trace.nodes["sigma"]["value"] * torch.exp(log_scale)
    assert torch.allclose(trace.nodes["obs"]["fn"].scale, expected)
    guide = mean_field(model, init_scale=0.3)
    draws = draw_posterior(model, guide, num_samples=5)
    rows = (a[:20], b[:20], c[:20])
    means = network_samples(model, draws, rows)
    got = observation_samples(model, draws, means, seed=3, triples=rows)
    r, q = (draws[name] for name in NOISE_SITES)
    log_scale = q[:, rows[0]] + q[:, rows[1]] + r[:, rows[2]]
    width = draws["sigma"].unsqueeze(-1) * torch.exp(log_scale)
    torch.manual_seed(3)
    assert torch.equal(got, means + dist.Normal(0.0, width).sample())
    with pytest.raises(ValueError, match="cell lines"):
        observation_samples(model, draws, means)
    plain = SynergyModel(SynergyNet(features, head_layers=(8,)), "normal")
    trace = poutine.trace(plain).get_trace(a[:3], b[:3], c[:3], torch.zeros(3), 100)
    assert not set(NOISE_SITES) & set(trace.nodes)


def test_a_new_likelihood_fits_and_predicts_without_other_changes(demo):
    features, (a, b, c) = demo
    model = SynergyModel(SynergyNet(features, head_layers=(8,)), LaplaceLikelihood())
    guide = mean_field(model)
    draws = draw_posterior(model, guide, num_samples=5)
    means = network_samples(model, draws, (a[:4], b[:4], c[:4]))
    samples = observation_samples(model, draws, means)
    assert set(draws) >= {"sigma"} and "nu_minus_one" not in draws
    assert samples.shape == (5, 4) and not torch.equal(samples, means)


def test_a_noisier_line_gets_a_wider_noise_scale_and_wider_intervals():
    """Scores of line C1 scatter 15x more than C0's around the truth: C1's fitted noise effect
    is the larger (by 6.6x at seed 0), and so are its rows' predictive SDs (5.7x)."""
    screen = make_demo_screen(n_drugs=24, n_cell_lines=2, n_bits=32)
    table = screen.table.copy()
    rng = np.random.default_rng(0)
    sd = np.where(table["cell_line"] == "C1", 15.0, 1.0)
    table["score"] = table["true_score"] + rng.normal(0.0, sd)
    noisy = dataclasses.replace(screen, table=table)
    config = ModelConfig(rank=8, epochs=10, min_steps=1500, guide_lr=1e-2, noise_effects=1.0)
    bnn = SynergyBNN.from_config(config).fit(noisy, progress=False)
    line_c0, line_c1 = bnn.posterior_draws(200)["noise_line_effect"].mean(0).tolist()
    assert bnn.features.cell_lines == ["C0", "C1"]
    assert math.exp(line_c1 - line_c0) > 3.0
    width = bnn.predict(table)["std"].groupby(table["cell_line"]).median()
    assert width["C1"] > 3.0 * width["C0"]


def test_log_predictive_density_is_the_draws_mixture(demo):
    """log p(y_i) = log (1/S) sum_s N(y_i | f_si, width_si^2), each draw with its own width
    (noise effects included), written out with explicit sums."""
    features, (a, b, c) = demo
    torch.manual_seed(0)
    model = SynergyModel(SynergyNet(features, head_layers=(8,)), "normal", noise_effects=0.5)
    guide = mean_field(model, init_scale=0.3)
    draws = draw_posterior(model, guide, num_samples=6)
    rows = (a[:15], b[:15], c[:15])
    means = network_samples(model, draws, rows)
    y = torch.linspace(-2.0, 2.0, 15)
    got = log_predictive_density(model, draws, means, y, rows)
    r, q = (draws[name] for name in NOISE_SITES)
    width = draws["sigma"].unsqueeze(-1) * torch.exp(q[:, rows[0]] + q[:, rows[1]] + r[:, rows[2]])
    density = torch.exp(-0.5 * ((y - means) / width) ** 2) / (width * math.sqrt(2 * math.pi))
    assert got.shape == (15,)
    assert torch.allclose(got, torch.log(density.mean(0)), atol=1e-5)


def test_a_likelihoods_hyperparameters_are_set_from_the_config():
    config = ModelConfig(likelihood="student-t", likelihood_kwargs={"nu_shape": 3.0})
    likelihood = config.likelihood_fn()
    assert (likelihood.nu_shape, likelihood.nu_rate) == (3.0, 0.1)
    assert likelihood.priors()["nu_minus_one"].concentration == 3.0
    for wrong in ({"nu": 1.0}, {"sigma_scale": -1.0}):
        with pytest.raises(OptionError, match="likelihood_kwargs"):
            ModelConfig(likelihood_kwargs=wrong)
