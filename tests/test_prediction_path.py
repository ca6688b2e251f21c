"""The pool-prediction path: each family encodes its drugs and lines once and decodes rows in
chunks, giving exactly what its forward gives; ``recommend`` draws its batch beside the CSV."""

from __future__ import annotations

import html

import numpy as np
import pandas as pd
import pytest
import torch
from pyro import poutine

import synergy_ppl as sp
from synergy_ppl.active import LabRules
from synergy_ppl.active.recommendation import untested_candidates
from synergy_ppl.cli import main
from synergy_ppl.config import ModelConfig
from synergy_ppl.data import make_demo_screen
from synergy_ppl.estimator import SynergyBNN
from synergy_ppl.inference.predictive import network_samples

FAMILY_OPTIONS = {
    "factorization": dict(rank=8),
    "recover": dict(drug_layers=(16,), merge_dim=8, head_layers=(8,), n_bits=64),
    "pair-mlp": dict(pair_layers=(16, 8), head_layers=(8,)),
}


@pytest.mark.parametrize("family", list(FAMILY_OPTIONS))
def test_chunked_decoding_equals_the_forward_of_every_family(family):
    screen = make_demo_screen()
    config = ModelConfig(
        model=family,
        epochs=2,
        num_samples=6,
        drug_effects=0.3,
        pair_effects=0.2,
        **FAMILY_OPTIONS[family],
    )
    bnn = SynergyBNN.from_config(config).fit(screen, progress=False)
    draws = bnn.posterior_draws(6)
    # a dense line (its pair grid), a sparse one (decoded) and pairs in either drug order
    table = screen.table
    dense, sparse = table[table["cell_line"] == "C0"], table[table["cell_line"] == "C1"].head(5)
    swapped = dense.head(20).rename(columns={"drug_a": "drug_b", "drug_b": "drug_a"})
    triples = bnn.triples(pd.concat([sparse, dense, swapped]))
    weights = {k: v for k, v in draws.items() if k.startswith("net.")}
    with torch.no_grad():
        whole = poutine.condition(bnn.model.net, data=weights)(*triples)
    for chunk_size in (7, 100, len(triples[0])):
        chunked = network_samples(bnn.model, draws, triples, chunk_size=chunk_size)
        assert chunked.shape == (6, len(triples[0]))
        assert torch.allclose(chunked, whole, rtol=1e-5, atol=1e-6), chunk_size


def test_recommend_writes_its_pictures_and_page_unless_told_not_to(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["fit", "--out", str(run), "--epochs", "2", "--rank", "4", "--quiet"]) == 0
    assert main(["recommend", "--run", str(run), "--batch-size", "6"]) == 0
    batch = pd.read_csv(run / "recommendations.csv")
    pictures = sorted(run.glob("recommendations_*.png"))
    assert len(pictures) == min(6, batch["cell_line"].nunique())
    page = (run / "recommendations.html").read_text()
    assert all(html.escape(why) in page for why in batch["why"])
    assert "recommendations.html" in capsys.readouterr().out
    out = tmp_path / "plain.csv"
    assert main(["recommend", "--run", str(run), "--out", str(out), "--report-lines", "0"]) == 0
    assert out.exists() and not list(tmp_path.glob("plain*.png"))
    assert not (tmp_path / "plain.html").exists()


@pytest.fixture(scope="module")
def half_screen():
    screen = make_demo_screen(untested_fraction=0.5)
    bnn = SynergyBNN.from_config(ModelConfig(epochs=3, rank=8, num_samples=40)).fit(
        screen, progress=False
    )
    return screen, bnn


@pytest.mark.parametrize(
    "strategy", ["ucb", "ei", "pi", "greedy", "thompson", "thompson-batch", "q-ucb", "random"]
)
def test_a_shortlisted_pool_gives_the_batch_of_the_whole_pool(half_screen, strategy):
    screen, bnn = half_screen
    whole = sp.recommend(bnn, screen.table, strategy=strategy, batch_size=8, seed=3)
    short = sp.recommend(
        bnn, screen.table, strategy=strategy, batch_size=8, seed=3, shortlist_size=12
    )
    pool = len(untested_candidates(screen.table))
    assert pool > 12 * 4
    np.testing.assert_allclose(short["score"], whole["score"], rtol=1e-4)
    # tied scores (EI and PI of zero) are broken at random in either pool: same scores only;
    # the reasons' gains are summed in another order, so their last digit may differ
    if whole["score"].nunique() == len(whole) or strategy == "random":
        pd.testing.assert_frame_equal(
            short.drop(columns="why"), whole.drop(columns="why"), rtol=1e-4
        )


@pytest.mark.parametrize("strategy", ["ucb", "greedy"])
def test_a_shortlist_the_lab_rules_skip_past_grows_until_the_batch_is_whole(half_screen, strategy):
    screen, bnn = half_screen
    rules = LabRules(max_lines=1, max_drug_uses=1)
    whole = sp.recommend(bnn, screen.table, strategy=strategy, batch_size=6, rules=rules)
    short = sp.recommend(
        bnn, screen.table, strategy=strategy, batch_size=6, rules=rules, shortlist_size=3
    )
    assert whole["cell_line"].nunique() == 1 and len(whole) == 6
    pd.testing.assert_frame_equal(short, whole, rtol=1e-4)


def test_simulate_draws_each_strategys_last_round(tmp_path, capsys):
    out = tmp_path / "sim"
    arguments = ["simulate", "--out", out, "--rounds", "1", "--seeds", "2", "--batch-size", "5"]
    assert main([str(a) for a in [*arguments, "--acquisition", "ucb,random", "--quiet"]]) == 0
    assert "last_round_" in capsys.readouterr().out
    page = (out / "last_round_ucb.html").read_text()
    assert list(out.glob("last_round_ucb_*.png")) and "https://" not in page
    assert not list(out.glob("last_round_random*"))  # random fits no model
