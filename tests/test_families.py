"""Model families: each is a Pyro model that takes every prior, the guides, the predictive
path, the run folders and every command; each is exactly symmetric in the drugs and gets its
own defaults; the factorisation keeps a drug it never saw wide."""

from __future__ import annotations

import inspect
import json
import re
from dataclasses import fields
from unittest import mock

import numpy as np
import pytest
import torch
import yaml
from pyro import poutine

from synergy_ppl.active import round_options
from synergy_ppl.cli import main
from synergy_ppl.config import ModelConfig
from synergy_ppl.data import Split, make_demo_screen
from synergy_ppl.data.features import build_features, encode_pairs
from synergy_ppl.errors import OptionError
from synergy_ppl.estimator import SynergyBNN
from synergy_ppl.inference.posterior import Posterior
from synergy_ppl.inference.predictive import draw_posterior, network_samples
from synergy_ppl.inference.unseen import borrowed_draws, pooled_unseen
from synergy_ppl.model.families import FAMILIES
from synergy_ppl.model.guides import GUIDES, default_guide
from synergy_ppl.model.network import SynergyModel
from synergy_ppl.model.priors import PRIORS
from synergy_ppl.runs import load_fit, load_state
from synergy_ppl.settings import resolve

SIZES = dict(pair_layers=(32, 16), head_layers=(8,), drug_layers=(16, 8), merge_dim=8, rank=8)


def small(family: str) -> dict:
    """Small layer sizes of ``family`` (a config refuses another family's)."""
    sizes = {k: v for k, v in SIZES.items() if k in FAMILIES[family].options}
    return {**sizes, "n_bits": 64, "num_samples": 20}


def small_flags(family: str) -> list[str]:
    flags = ["--num-samples", "20", "--quiet"]
    for name, value in small(family).items():
        if name in SIZES:
            text = ",".join(map(str, value)) if isinstance(value, tuple) else str(value)
            flags += [f"--{name.replace('_', '-')}", text]
    return flags


@pytest.fixture(scope="module")
def demo():
    screen = make_demo_screen(n_drugs=10, n_cell_lines=3, n_bits=64)
    features = build_features(screen, n_bits=64)
    return screen, features, encode_pairs(features, screen.table)


def small_net(family: str, features, **options):
    sizes = {"pair-mlp": dict(pair_layers=(16,)), "factorization": dict(rank=8)}
    return FAMILIES[family](features, **sizes.get(family, {}), **options)


@pytest.mark.parametrize(
    "family,options",
    [
        ("pair-mlp", dict(bayesian="head")),
        ("pair-mlp", dict(bayesian="all")),
        ("pair-mlp", dict(drug_effects=0.3)),
        ("factorization", {}),
        ("factorization", dict(drug_effects=0.3, pair_effects=0.3)),
    ],
)
def test_the_families_are_exactly_symmetric_in_the_drugs(demo, family, options):
    _, features, (a, b, c) = demo
    torch.manual_seed(0)
    model = SynergyModel(small_net(family, features, **options))
    draws = draw_posterior(model, GUIDES["mean-field"](model), num_samples=6)
    forward = network_samples(model, draws, (a, b, c))
    swapped = network_samples(model, draws, (b, a, c))
    assert forward.shape == (6, len(a)) and forward.std(0).mean() > 0
    assert torch.allclose(forward, swapped, atol=1e-5)  # up to float rounding


@pytest.mark.parametrize("family", ["pair-mlp", "factorization"])
@pytest.mark.parametrize("prior", sorted(PRIORS))
def test_every_prior_fits_each_family_and_draws_are_one_run_per_draw(demo, prior, family):
    screen, features, (a, b, c) = demo
    bnn = SynergyBNN.from_config(ModelConfig(model=family, prior=prior, epochs=3, **small(family)))
    bnn.fit(screen, progress=False)
    assert isinstance(bnn.model.net, FAMILIES[family])
    assert type(bnn.guide) is GUIDES[default_guide(prior)](bnn.model).__class__
    draws = bnn.posterior_draws(4)
    fast = network_samples(bnn.model, draws, (a[:20], b[:20], c[:20]))
    for s in range(4):
        one = {k: v[s] for k, v in draws.items()}
        slow = poutine.condition(bnn.model.net, data=one)(a[:20], b[:20], c[:20])
        assert torch.allclose(fast[s], slow, atol=1e-5)


@pytest.mark.parametrize("family", ["pair-mlp", "factorization"])
def test_a_family_runs_through_every_command(tmp_path, capsys, family):
    out = tmp_path / "run"
    fast = ["--epochs", "5", *small_flags(family)]
    assert main(["fit", "--model", family, *fast, "--out", str(out)]) == 0
    assert json.loads((out / "config.json").read_text())["model"]["model"] == family
    bnn, _ = load_fit(out)
    assert isinstance(bnn.model.net, FAMILIES[family])
    pairs = tmp_path / "pairs.csv"
    pairs.write_text("drug_a,drug_b,cell_line\nD01,D02,C0\nD02,D01,C1\n")
    assert main(["predict", "--run", str(out), "--pairs", str(pairs), "--num-samples", "20"]) == 0
    assert main(["recommend", "--run", str(out), "--batch-size", "5"]) == 0
    assert main(["diagnose", "--run", str(out), "--num-samples", "20"]) == 0
    assert (out / "predictions.csv").exists() and (out / "recommendations.csv").exists()
    simulate = ["simulate", "--model", family, "--cell-line", "C1", "--acquisition", "ucb"]
    simulate += ["--rounds", "1", "--batch-size", "10", "--initial", "10", "--seeds", "1"]
    assert main([*simulate, *fast, "--out", str(tmp_path / "sim")]) == 0
    rounds = json.loads((tmp_path / "sim" / "config.json").read_text())["model"]
    assert rounds["model"] == family
    sweep = {
        "command": "fit",
        "metric": "test.pearson",
        "fixed": {"data": "demo", "model": family, "epochs": 2, "num-samples": 10},
        "search": {"seed": {"grid": [0, 1]}},
    }
    (tmp_path / "sweep.yaml").write_text(yaml.safe_dump(sweep))
    args = ["sweep", str(tmp_path / "sweep.yaml"), "--no-ray", "--out", str(tmp_path / "sw")]
    assert main(args) == 0
    assert "2 finished" in capsys.readouterr().out


def test_each_family_gets_its_own_defaults_and_given_options_win():
    for family, net in FAMILIES.items():
        config = ModelConfig(model=family)
        assert {k: getattr(config, k) for k in net.defaults} == net.defaults
    assert ModelConfig().model == "hierarchical" and ModelConfig().n_bits == 1024
    assert ModelConfig(model="recover").n_bits == 1024
    assert ModelConfig(model="factorization").n_bits == 0
    assert ModelConfig(model="factorization").guide_lr == 3e-3
    assert ModelConfig(model="pair-mlp").lr == 3e-4
    given = ModelConfig(model="factorization", n_bits=256, guide_lr=1e-2, rank=16)
    assert (given.n_bits, given.guide_lr, given.rank) == (256, 1e-2, 16)
    assert ModelConfig.from_dict({}).model == "hierarchical"  # a config file without model:


@pytest.mark.parametrize(
    ("family", "option", "owners"),
    [
        ("factorization", {"dropout": 0.1}, "--dropout is an option of --model recover / pair-mlp"),
        ("factorization", {"drug_layers": (8,)}, "--drug-layers is an option of --model recover,"),
        ("recover", {"rank": 8}, "--rank is an option of --model factorization / hierarchical,"),
        ("pair-mlp", {"merge_dim": 8}, "--merge-dim is an option of --model recover,"),
    ],
)
def test_another_familys_option_is_refused_not_ignored(tmp_path, capsys, family, option, owners):
    parameters = re.sub(r"--([a-z-]+)", lambda m: m[1].replace("-", "_"), owners)  # the API's
    with pytest.raises(OptionError, match=re.escape(parameters)):
        ModelConfig(model=family, **option)
    assert all(getattr(ModelConfig(model=family), name) is None for name in option)
    (name, value), out = next(iter(option.items())), tmp_path / "run"
    text = ",".join(map(str, value)) if isinstance(value, tuple) else str(value)
    flag = [f"--{name.replace('_', '-')}", text]
    assert main(["fit", "--model", family, *flag, "--out", str(out)]) == 2
    assert owners in capsys.readouterr().err and not out.exists()


def test_simulate_rounds_of_another_family_leave_out_recovers_options():
    assert "dropout" in round_options() and "dropout" not in round_options("factorization")
    settings = resolve("simulate", {"model": "factorization"})
    assert settings.model.dropout is None and settings.model.drug_effects == 0.3
    assert settings.model.noise_effects == 0.0  # fit's factorization default is 0.5
    with pytest.raises(OptionError, match="^pretrain_dropout: model factorization has no"):
        resolve("simulate", {"model": "factorization", "pretrain_dropout": 0.2})


def test_a_run_saved_before_families_loads_as_recover(tmp_path):
    out = tmp_path / "run"
    fit = ["fit", "--model", "recover", *small_flags("recover"), "--epochs", "2"]
    assert main([*fit, "--out", str(out)]) == 0
    state = load_state(out / "model.pt")
    # format 1: no version recorded
    del state["format"], state["config"]["model"], state["config"]["noise_effects"]
    state["guide"] = state.pop("guides")[0]  # one guide then, and no members
    # configs then held every family's options
    state["config"].update(rank=128, pair_layers=[1024, 512])
    bnn = SynergyBNN.from_state(state)
    assert isinstance(bnn.model.net, FAMILIES["recover"])
    assert bnn.config.rank is None and bnn.config.noise_effects == 0.0


@pytest.mark.parametrize(
    ("column", "identity_site", "noise_site"),
    [
        ("drug_a", "net.drug_embedding.weight", "noise_drug_effect"),
        ("cell_line", "net.cell_embedding.weight", "noise_line_effect"),
    ],
)
def test_a_drug_or_line_without_rows_gets_the_measured_ones_population(
    column, identity_site, noise_site
):
    screen = make_demo_screen(n_drugs=10, n_cell_lines=3, n_bits=64)
    table = screen.table
    if column == "drug_a":
        name, names = screen.drugs[0], "drugs"
        hidden = ((table["drug_a"] == name) | (table["drug_b"] == name)).to_numpy()
    else:
        name, names = "C0", "cell_lines"
        hidden = (table["cell_line"] == name).to_numpy()
    rows = np.arange(len(table))
    split = Split(rows[~hidden], rows[:0], rows[hidden], f"hidden {name}")
    config = ModelConfig(model="factorization", rank=8, epochs=60, min_steps=1000)
    bnn = SynergyBNN.from_config(config)
    with mock.patch.object(Posterior, "pool_unseen"):  # fitted, not pooled yet
        bnn.fit(screen, split, progress=False)
    before = {k: v.clone() for k, v in bnn.guide.state_dict().items()}
    bnn.posterior.pool_unseen(table.iloc[split.train])
    after = bnn.guide.state_dict()
    to_scale = torch.distributions.transform_to(bnn.guide.scale_constraint)
    entities = getattr(bnn.features, names)

    def loc_and_scale(state: dict, site: str) -> tuple[torch.Tensor, torch.Tensor]:
        """One row per drug or line: the identity columns of the embedding, or the noise
        effects."""
        loc = state[f"locs.{site}_unconstrained"]
        scale = to_scale(state[f"scales.{site}_unconstrained"])
        if loc.dim() == 1:
            return loc, scale
        columns = slice(loc.shape[-1] - len(entities), None)
        return loc[:, columns].T, scale[:, columns].T

    seen = torch.tensor([entity != name for entity in entities])
    for site in (identity_site, noise_site):
        loc, scale = loc_and_scale(before, site)
        new_loc, new_scale = loc_and_scale(after, site)
        expected_loc, expected_scale = pooled_unseen(loc, scale, seen)
        assert torch.allclose(new_loc, expected_loc)
        assert torch.allclose(new_scale, expected_scale, atol=1e-6)
        assert torch.equal(new_loc[seen], loc[seen])
    assert bnn.without_rows[names] == [name]
    draws = bnn.posterior_draws(30)
    if column == "cell_line":  # a line's draws are those of its pooled guide
        guide_draws = draw_posterior(bnn.model, bnn.guide, 30, seed=0)
        assert all(torch.equal(draws[k], guide_draws[k]) for k in (identity_site, noise_site))
    else:  # in each draw the unseen drug takes a measured one's values, the same at every site
        hidden_index = list(entities).index(name)
        donors = []
        for site in (identity_site, noise_site):
            value = draws[site]  # (S, E) or (S, R, F) with the entities' columns last
            rows = value.unsqueeze(-1) if value.dim() == 2 else value[..., -len(entities) :].mT
            same = (rows == rows[:, hidden_index : hidden_index + 1]).all(-1)  # (S, E)
            same[:, hidden_index] = False
            donors.append(same)
        assert (donors[0] & donors[1]).any(1).all()
    # never measured, the drug's or line's triples are still the wider ones
    bnn = SynergyBNN.from_config(config).fit(screen, split, progress=False)
    sd = bnn.sample(table).std(0).numpy()
    # 3 seeds: a hidden drug 1.14-1.17x, a hidden line 1.54-1.85x
    assert np.median(sd[hidden]) > 1.1 * np.median(sd[~hidden])


def test_borrowed_draws_give_each_unseen_entity_a_measured_one_s_draw():
    torch.manual_seed(0)
    effects = torch.randn(500, 4)  # (S, E)
    weight = torch.randn(500, 3, 6)  # (S, out, F): the last 4 columns are the entities'
    seen = torch.tensor([True, False, True, True])
    sites = [("effect", None), ("weight", slice(2, None))]
    draws = {"effect": effects, "weight": weight, "other": torch.zeros(500)}
    out = borrowed_draws(draws, sites, seen, seed=1)
    assert out["other"] is draws["other"] and torch.equal(effects, draws["effect"])  # copies
    assert torch.equal(out["effect"][:, seen], effects[:, seen])
    assert torch.equal(out["weight"][..., [0, 1, 2, 4, 5]], weight[..., [0, 1, 2, 4, 5]])
    donor = (out["effect"][:, 1:2] == effects).float().argmax(1)  # (S,)
    assert seen[donor].all()
    rows = torch.arange(500)
    assert torch.equal(out["weight"][rows, :, 3], weight[rows, :, 2 + donor])  # the same donor
    # a uniform pick of the three measured entities
    assert torch.allclose(
        torch.bincount(donor, minlength=4)[seen] / 500.0, torch.tensor(1 / 3), atol=0.07
    )
    assert borrowed_draws(draws, sites, torch.ones(4, dtype=torch.bool)) is draws


HELP_SHOWS = (
    "drug_layers",
    "merge_dim",
    "head_layers",
    "pair_layers",
    "rank",
    "dropout",
    "noise_effects",
    "n_bits",
    "cell_components",
    "lr",
    "guide_lr",
    "patience",
    "weight_decay",
)
"""The options whose ``--help`` shows each family's default."""


@pytest.mark.parametrize("family", list(FAMILIES))
def test_each_default_has_one_source_the_options_and_the_config_the_network_the_help_agree(
    family, capsys
):
    network = FAMILIES[family]
    options = network.Options()  # the source: the family's options dataclass
    assert network.defaults == network.Options.defaults()
    assert set(options.values()) <= {f.name for f in fields(ModelConfig)}
    config = ModelConfig(model=family)
    for option, value in network.defaults.items():  # fields, inputs and training
        assert getattr(config, option) == value, option
    for option, value in options.values().items():
        assert getattr(config, option) == value, option
    # a network built without options has the dataclass's; its constructor repeats none
    features = build_features(make_demo_screen(n_drugs=4, n_cell_lines=2), n_bits=16)
    assert network(features).settings == options == options.build(features).settings
    parameters = inspect.signature(network.__init__).parameters.values()
    assert not [p.name for p in parameters if p.name in options.values()]
    # the composed model of these options is the flat config's
    assert SynergyBNN(net=options).config == config
    with pytest.raises(SystemExit):
        main(["fit", "--help"])
    fit_help = " ".join(capsys.readouterr().out.split())
    for option in HELP_SHOWS:
        value = network.defaults.get(option)
        if value is None or option in config.unread():
            continue
        shown = ",".join(map(str, value)) if isinstance(value, tuple) else f"{value:g}"
        assert f"{family} {shown}" in fit_help, (option, family, shown)


def test_learned_scales_weigh_the_fingerprint_and_identity_blocks(tmp_path):
    out = tmp_path / "run"
    flags = ["--model", "factorization", "--rank", "4", "--epochs", "3", "--n-bits", "64"]
    flags += ["--learned-scales", "--quiet"]
    assert main(["fit", "--out", str(out), *flags]) == 0
    bnn = load_fit(out)[0]
    layer = bnn.model.net.drug_embedding
    features = bnn.features
    assert (
        layer.block_of_column.tolist()
        == [0] * (features.drug_matrix.shape[1] - features.n_identity) + [1] * features.n_identity
    )
    draws = bnn.posterior_draws(8)
    assert draws["net.drug_embedding.block_scale"].shape == (8, 2)
    assert (draws["net.drug_embedding.block_scale"] > 0).all()
    # the prior of a weight column is its block's scale
    prior = poutine.trace(bnn.model).get_trace(*bnn.triples(make_demo_screen().table.head(3)))
    weight = prior.nodes["net.drug_embedding.weight"]["fn"].base_dist.scale
    scale = prior.nodes["net.drug_embedding.block_scale"]["value"]
    assert torch.equal(weight[0], scale[layer.block_of_column])
    # a positive scale keeps its own prior when the posterior becomes the next fit's prior
    priors = bnn.posterior_priors()
    assert "net.drug_embedding.weight" in priors
    assert "net.drug_embedding.block_scale" not in priors
