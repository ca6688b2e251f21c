"""Active learning: pool records, recommend, the simulation loop (beats random, resumes
exactly, refuses foreign folders), pretraining with the posterior as prior, and the CLI."""

import json
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import torch
from pyro import poutine

import synergy_ppl.active.loop as loop
from synergy_ppl.active import (
    Pool,
    SimulationConfig,
    check_budget,
    pairs_to_reach,
    random_proposer,
    recommend,
    round_record,
    round_seed,
    simulate,
    untested_candidates,
)
from synergy_ppl.cli import main
from synergy_ppl.config import ModelConfig
from synergy_ppl.data import DataConfig, DataError, Split, load_screen, split_screen
from synergy_ppl.errors import OptionError, OutputError
from synergy_ppl.estimator import SynergyBNN
from synergy_ppl.inference.unseen import pooled_unseen
from synergy_ppl.model.families import FAMILIES
from synergy_ppl.model.network import CELL_EFFECT_SITE
from synergy_ppl.model.priors import set_priors
from synergy_ppl.runs import load_fit, load_state, read_screen
from synergy_ppl.transfer import Transfer

# small per-round fits that keep the simulations fast (simulate's own defaults: active.ROUND_MODEL)
SMALL = ModelConfig(
    model="recover",
    drug_layers=(64, 32),
    merge_dim=32,
    head_layers=(32,),
    epochs=30,
    num_samples=50,
    dropout=0.0,
)
SMALL_FLAGS = ["--model", "recover", "--drug-layers", "64,32", "--merge-dim", "32"]
SMALL_FLAGS += ["--head-layers", "32"]


def without_seconds(path):
    return pd.read_csv(path).drop(columns="seconds")


# ----------------------------------------------------------------------------- records


def test_pool_top_set_and_round_record():
    table = pd.DataFrame(
        {
            "drug_a": list("AAABB"),
            "drug_b": list("BCDCD"),
            "cell_line": "X",
            "score": [5.0, 1.0, 9.0, 3.0, 7.0],
        }
    )
    pool = Pool.of(table, top_fraction=0.3)  # ceil(1.5) = 2 rows: scores 9 and 7
    assert pool.top.tolist() == [False, False, True, False, True]
    record = round_record(pool, np.array([0, 1, 2]), np.array([1, 2]), 1, 0.5)
    assert record["tested"] == 3 and record["found_top"] == 1 and record["recall"] == 0.5
    assert record["random"] == pytest.approx(3 / 5) and record["oracle"] == 1.0
    assert record["best_found"] == 9.0 and record["regret"] == 0.0
    assert record["distinct_drugs"] == 3  # A, C, D


def test_pairs_to_reach_is_first_round_at_the_level():
    rows = pd.DataFrame({"tested": [30, 60, 90], "recall": [0.2, 0.5, 0.9]})
    assert pairs_to_reach(rows, 0.5) == 60
    assert np.isnan(pairs_to_reach(rows, 0.95))


def test_a_rounds_randomness_depends_on_seed_and_round_only():
    assert round_seed(2, 7) == 2007 and round_seed(0, 7) != round_seed(1, 7)
    table = pd.DataFrame({"drug_a": "A", "drug_b": "B", "cell_line": "X", "score": range(50)})
    propose = random_proposer(Pool.of(table, 0.1), batch_size=5, seed=3)
    revealed = np.arange(40)
    batch = propose(revealed, 1)
    assert sorted(batch) == sorted(set(batch)) and (batch >= 40).all() and len(batch) == 5
    assert np.array_equal(batch, random_proposer(Pool.of(table, 0.1), 5, 3)(revealed, 1))
    assert not np.array_equal(batch, propose(revealed, 2))


def test_budget_larger_than_pool_is_a_clear_error():
    with pytest.raises(OptionError, match="pool has 100"):
        check_budget(100, initial=30, rounds=3, batch_size=30)


def test_unknown_acquisition_transfer_and_bad_dropout_are_clear_errors(tmp_path):
    with pytest.raises(OptionError, match="unknown acquisition 'ucbb'.*q-ucb"):
        simulate(DataConfig(), SimulationConfig(("ucbb",)), SMALL, tmp_path / "x")
    with pytest.raises(OptionError, match="^mode .finetune. is not one of"):
        Transfer(mode="finetune")
    with pytest.raises(OptionError, match="^pretrain_dropout must be >= 0 and < 1"):
        SimulationConfig(pretrain_dropout=1.0).check()


# -------------------------------------------------------------------------- simulate

FAST = SimulationConfig(
    ("ucb", "random"), rounds=4, pairs_per_round=30, initial=30, seeds=2, top_fraction=0.02
)


@pytest.fixture(scope="module")
def demo_simulation(tmp_path_factory):
    out = tmp_path_factory.mktemp("sim") / "demo"
    summary = simulate(DataConfig(), FAST, SMALL, out, progress=False)
    return out, summary


def test_simulate_on_demo_beats_random(demo_simulation):
    out, summary = demo_simulation
    ucb, random = summary["ucb"], summary["random"]
    assert ucb["tested"] == 150 and ucb["seeds"] == 2
    # 20 top pairs in 980: random expects 15% after 150 tests
    assert random["random"] == pytest.approx(150 / 980)
    assert ucb["recall_mean"] > 2 * ucb["random"]
    assert ucb["recall_min"] > random["recall_max"]
    rows = pd.read_csv(out / "results.csv")
    assert len(rows) == 2 * 2 * 5  # strategies x seeds x (initial + 4 rounds)
    for column in ("tested", "recall", "random", "oracle", "best_found", "regret"):
        assert column in rows.columns
    assert (rows["distinct_drugs"] > 0).all()
    saved = json.loads((out / "results.json").read_text())
    assert set(saved["summary"]) == {"ucb", "random"}
    assert (out / "recall.png").stat().st_size > 10_000


def test_same_seed_reveals_the_same_initial_rows_for_every_strategy(demo_simulation):
    out, _ = demo_simulation
    progress = json.loads((out / "progress.json").read_text())
    for seed in (0, 1):
        ucb, random = progress[f"ucb/seed{seed}"], progress[f"random/seed{seed}"]
        assert ucb["revealed"][:30] == random["revealed"][:30]
        assert len(set(ucb["revealed"])) == len(ucb["revealed"]) == 150


def test_first_seed_runs_the_later_arms_of_a_longer_simulation(demo_simulation, tmp_path):
    out, _ = demo_simulation
    second = replace(FAST, seeds=1, first_seed=1)
    simulate(DataConfig(), second, SMALL, tmp_path / "second", progress=False)
    alone = json.loads((tmp_path / "second" / "progress.json").read_text())
    together = json.loads((out / "progress.json").read_text())
    assert set(alone) == {"ucb/seed1", "random/seed1"}
    for key in alone:
        assert alone[key]["revealed"] == together[key]["revealed"]


def test_rerunning_a_finished_simulation_redoes_nothing(demo_simulation, monkeypatch):
    out, summary = demo_simulation

    def no_fit(*args, **kwargs):
        raise AssertionError("a finished round was fitted again")

    monkeypatch.setattr(SynergyBNN, "fit", no_fit)
    assert simulate(DataConfig(), FAST, SMALL, out, progress=False) == summary


def test_folder_of_another_simulation_is_refused(demo_simulation, tmp_path):
    out, _ = demo_simulation
    other = SimulationConfig(("ucb",), rounds=4, pairs_per_round=20, seeds=1, top_fraction=0.02)
    with pytest.raises(OutputError, match="or pass overwrite"):
        simulate(DataConfig(), other, SMALL, out, progress=False)
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(OutputError):
        simulate(DataConfig(), other, SMALL, tmp_path, progress=False)


def test_resume_after_interruption_equals_uninterrupted_run(tmp_path, monkeypatch):
    sim = SimulationConfig(
        ("ucb",),
        rounds=3,
        pairs_per_round=20,
        initial=20,
        seeds=1,
        warm_start=True,
        top_fraction=0.02,
    )
    model = ModelConfig(
        model="recover", drug_layers=(32, 16), merge_dim=16, head_layers=(16,), epochs=15
    )
    data = DataConfig(cell_line="C0")
    simulate(data, sim, model, tmp_path / "whole", progress=False)

    record = loop.round_record

    def crash_in_round_2(pool, revealed, batch, round_index, seconds):
        if round_index == 2:
            raise KeyboardInterrupt
        return record(pool, revealed, batch, round_index, seconds)

    monkeypatch.setattr(loop, "round_record", crash_in_round_2)
    with pytest.raises(KeyboardInterrupt):
        simulate(data, sim, model, tmp_path / "resumed", progress=False)
    monkeypatch.setattr(loop, "round_record", record)
    done = json.loads((tmp_path / "resumed" / "progress.json").read_text())
    assert len(done["ucb/seed0"]["rounds"]) == 2  # initial draw and round 1
    simulate(data, sim, model, tmp_path / "resumed", progress=False)
    pd.testing.assert_frame_equal(
        without_seconds(tmp_path / "whole" / "results.csv"),
        without_seconds(tmp_path / "resumed" / "results.csv"),
    )


# ------------------------------------------------------------------------ pretraining


@pytest.fixture(scope="module")
def demo_screen():
    return load_screen("demo")


@pytest.fixture(scope="module")
def source(demo_screen):
    """A small model fitted on the demo's cell lines C1-C3 (features cover C0 too)."""
    others = np.flatnonzero(demo_screen.table["cell_line"] != "C0")
    split = Split(others, np.array([], dtype=int), np.array([], dtype=int), "others")
    return SynergyBNN.from_config(replace(SMALL, epochs=10)).fit(demo_screen, split, progress=False)


def trace_of(bnn, rows):
    return poutine.trace(bnn.model).get_trace(*bnn.triples(rows))


def test_posterior_as_prior_replaces_the_prior_sites(source, demo_screen):
    priors = source.posterior_priors(widen=3.0)
    assert set(priors) == {
        "net.head.layers.0.weight",
        "net.head.layers.0.bias",
        "net.head.layers.1.weight",
        "net.head.layers.1.bias",
    }
    target = np.flatnonzero(demo_screen.table["cell_line"] == "C0")[:40]
    split = Split(target, np.array([], dtype=int), np.array([], dtype=int), "C0")
    rows = demo_screen.table.iloc[target[:5]]
    plain = SynergyBNN.from_config(SMALL).fit(demo_screen, split, progress=False, init=source)
    tuned = SynergyBNN.from_config(SMALL).fit(
        demo_screen, split, progress=False, init=source, priors=priors
    )

    before = trace_of(plain, rows).nodes["net.head.layers.0.weight"]["fn"].base_dist
    assert torch.all(before.loc == 0) and torch.all(before.scale == 1)  # configured N(0, 1)
    loc, scale = source.guide._get_loc_and_scale("net.head.layers.0.weight")
    after = trace_of(tuned, rows).nodes["net.head.layers.0.weight"]["fn"]
    assert after.event_shape == torch.Size([32, 32])
    assert torch.equal(after.base_dist.loc, loc.detach())
    assert torch.allclose(after.base_dist.scale, 3.0 * scale.detach())
    assert tuned.scaling == source.scaling  # the pretrained meaning of the scores is kept
    sigma = trace_of(tuned, rows).nodes["sigma"]["fn"]
    assert isinstance(sigma, type(trace_of(plain, rows).nodes["sigma"]["fn"]))  # noise untouched


def test_a_new_line_gets_the_seen_lines_population_as_prior_after_pretraining(demo_screen):
    others = np.flatnonzero(demo_screen.table["cell_line"] != "C0")
    split = Split(others, np.array([], dtype=int), np.array([], dtype=int), "others")
    config = replace(SMALL, epochs=20, drug_effects=0.5)
    pretrained = SynergyBNN.from_config(config).fit(demo_screen, split, progress=False)
    assert pretrained.cell_lines_seen == ["C1", "C2", "C3"]
    new_line = pretrained.features.cell_lines.index("C0")
    seen = [i for i in range(len(pretrained.features.cell_lines)) if i != new_line]
    loc, scale = (t.detach() for t in pretrained.guide._get_loc_and_scale(CELL_EFFECT_SITE))
    assert scale[new_line].mean() == pytest.approx(0.5, abs=0.03)  # no data: still the prior
    assert loc[new_line].abs().mean() < 0.1  # mean 0 up to the KL estimate's noise
    assert scale[seen].mean() < 0.45  # the measured lines' effects have narrowed

    per_cell = pretrained.posterior_priors()[CELL_EFFECT_SITE].base_dist  # (C, D)
    assert torch.allclose(per_cell.loc[new_line], loc[seen].mean(0))
    spread = torch.sqrt(loc[seen].var(0, unbiased=False) + scale[seen].pow(2).mean(0))
    assert torch.allclose(per_cell.scale[new_line], spread)
    assert torch.equal(per_cell.loc[seen], loc[seen])
    restored = SynergyBNN.from_state(pretrained.state())
    assert restored.cell_lines_seen == pretrained.cell_lines_seen


def test_pooled_unseen_is_the_moment_matched_mixture_of_seen_lines():
    loc = torch.tensor([[1.0, 0.0], [3.0, 0.0], [9.0, 9.0]])
    scale = torch.tensor([[1.0, 0.1], [1.0, 0.1], [5.0, 5.0]])
    seen = torch.tensor([True, True, False])
    new_loc, new_scale = pooled_unseen(loc, scale, seen)
    # drug 0: effects 1 and 3 (variance 1) with posterior variance 1 each -> mean 2, var 2
    assert torch.allclose(new_loc[2], torch.tensor([2.0, 0.0]))
    assert torch.allclose(new_scale[2], torch.tensor([2.0**0.5, 0.1]))
    assert torch.equal(new_loc[:2], loc[:2]) and torch.equal(new_scale[:2], scale[:2])


def test_set_priors_names_unknown_sites_and_wrong_shapes(source):
    prior = source.posterior_priors()["net.head.layers.1.bias"]
    with pytest.raises(ValueError, match="no latent site"):
        set_priors(source.model, {"net.head.layers.9.bias": prior})
    with pytest.raises(ValueError, match="event shape"):
        set_priors(source.model, {"net.head.layers.0.bias": prior})


def test_warm_start_needs_the_same_architecture(source, demo_screen):
    split = split_screen(demo_screen.table, "pair")
    with pytest.raises(DataError, match="merge_dim"):
        SynergyBNN.from_config(ModelConfig(epochs=1)).fit(
            demo_screen, split, progress=False, init=source
        )


def test_simulate_pretrains_once_on_the_other_cell_lines(tmp_path, monkeypatch):
    sim = SimulationConfig(("ucb",), rounds=1, pairs_per_round=20, initial=20, seeds=1)
    sim = replace(sim, pretrain="other-cell-lines", pretrain_epochs=5, top_fraction=0.05)
    sim = replace(sim, transfer=Transfer(widen=2.0))
    data = DataConfig(cell_line="C0")
    simulate(data, sim, SMALL, tmp_path, progress=False)
    metrics = json.loads((tmp_path / "pretrain_metrics.json").read_text())
    assert metrics["rows"] > 600 and "pearson" in metrics  # C1-C3 rows, held-out metrics
    pretrained = load_state(tmp_path / "pretrain.pt")["config"]
    # fit's dropout for the family, not the rounds' light one
    assert pretrained["dropout"] == FAMILIES[SMALL.model].defaults["dropout"] != SMALL.dropout
    assert pretrained["epochs"] == 5
    stamp = (tmp_path / "pretrain.pt").stat().st_mtime_ns
    more = replace(sim, rounds=2)
    simulate(data, more, SMALL, tmp_path, progress=False)  # resumes: no second pretraining
    assert (tmp_path / "pretrain.pt").stat().st_mtime_ns == stamp
    assert len(pd.read_csv(tmp_path / "results.csv")) == 3
    with pytest.raises(DataError, match="one target cell_line"):
        simulate(DataConfig(), sim, SMALL, tmp_path / "no-line", progress=False)


@pytest.mark.parametrize("warm_start", [False, True])
def test_pretrained_model_chooses_the_first_batch_with_initial_0(tmp_path, warm_start):
    sim = SimulationConfig(("ucb",), rounds=2, pairs_per_round=20, initial=0, seeds=1)
    sim = replace(sim, pretrain="other-cell-lines", pretrain_epochs=5, warm_start=warm_start)
    simulate(DataConfig(cell_line="C0"), sim, SMALL, tmp_path, progress=False)
    rows = pd.read_csv(tmp_path / "results.csv")
    assert rows["tested"].tolist() == [0, 20, 40]
    assert rows["best_found"].isna().tolist() == [True, False, False]
    with pytest.raises(OptionError, match="^initial 0 needs pretrain"):
        check_budget(100, initial=0, rounds=3, batch_size=30)


# ------------------------------------------------------------- recommend and the CLI


@pytest.fixture(scope="module")
def small_table(tmp_path_factory, shared_data):
    """Two ALMANAC cell lines, 12 drugs, 70% of their pairs measured: a user screen."""
    folder = tmp_path_factory.mktemp("user")
    scores = pd.read_csv(shared_data / "almanac" / "combo_scores.csv", dtype={"drug_a": str})
    scores["drug_b"] = scores["drug_b"].astype(str)
    drugs = sorted(set(scores["drug_a"]))[:12]
    keep = scores["drug_a"].isin(drugs) & scores["drug_b"].isin(drugs)
    keep &= scores["cell_line"].isin(["MCF7", "HT29"])
    table = scores[keep].sample(frac=0.7, random_state=0)
    table.to_csv(folder / "screen.csv", index=False)
    smiles = pd.read_csv(shared_data / "almanac" / "drugs.csv")
    pd.DataFrame({"drug": smiles["pubchemid"].astype(str), "smiles": smiles["isosmiles"]}).to_csv(
        folder / "drugs.csv", index=False
    )
    return folder


@pytest.fixture(scope="module")
def user_run(small_table):
    out = small_table / "run"
    args = ["fit", "--data", str(small_table / "screen.csv"), "--drugs"]
    args += [str(small_table / "drugs.csv"), *SMALL_FLAGS, "--epochs", "20", "--n-bits", "256"]
    assert main([*args, "--out", str(out), "--quiet"]) == 0
    return out


def test_untested_candidates_excludes_measured_and_self_pairs():
    measured = pd.DataFrame(
        {"drug_a": ["B", "A"], "drug_b": ["A", "C"], "cell_line": "X", "score": [1.0, 2.0]}
    )
    assert untested_candidates(measured)[["drug_a", "drug_b"]].values.tolist() == [["B", "C"]]
    given = pd.DataFrame({"drug_a": ["C", "A", "A"], "drug_b": ["B", "B", "A"], "cell_line": "X"})
    assert untested_candidates(measured, given)[["drug_a", "drug_b"]].values.tolist() == [
        ["B", "C"]
    ]


@pytest.mark.parametrize("strategy", ["ucb", "q-ucb", "thompson-batch", "ei", "top-set-info"])
def test_recommend_returns_q_untested_candidates(user_run, strategy):
    bnn, _ = load_fit(user_run)
    measured = read_screen(user_run)
    batch = recommend(bnn, measured, strategy=strategy, batch_size=8, num_samples=40)
    columns = "rank drug_a drug_b cell_line mean std q05 q95 score why"
    assert list(batch.columns) == columns.split()
    assert len(batch) == 8 and batch["rank"].tolist() == list(range(1, 9))
    keys = set(zip(measured["drug_a"], measured["drug_b"], measured["cell_line"], strict=True))
    chosen = list(zip(batch["drug_a"], batch["drug_b"], batch["cell_line"], strict=True))
    assert not keys & set(chosen) and len(set(chosen)) == 8
    assert (batch["drug_a"] < batch["drug_b"]).all()
    assert (batch["q05"] <= batch["mean"]).all() and (batch["mean"] <= batch["q95"]).all()
    if strategy == "ucb":
        assert batch["score"].is_monotonic_decreasing
    if strategy == "top-set-info":
        assert batch["why"].str.startswith("top-set-info: cuts the draws' disagreement").all()


def test_noise_sd_is_the_posterior_mean_noise_scale_in_score_units(user_run):
    bnn, _ = load_fit(user_run)
    sigma = bnn.posterior_draws(50, 3)["sigma"]
    assert bnn.noise_sd(50, 3) == pytest.approx(float(sigma.mean()) * bnn.scaling.sd)


def test_cli_recommend_and_its_errors(user_run, capsys):
    out = user_run / "next.csv"
    args = ["recommend", "--run", str(user_run), "--batch-size", "5", "--out", str(out)]
    assert main([*args, "--acquisition", "q-ucb"]) == 0
    assert len(pd.read_csv(out)) == 5
    assert main(args) == 2
    assert "exists" in capsys.readouterr().err
    assert main([*args, "--overwrite", "--acquisition", "nope"]) == 2
    assert "unknown acquisition 'nope'" in capsys.readouterr().err
    assert main([*args[:3], "--batch-size", "100000", "--out", str(out), "--overwrite"]) == 2
    assert "untested candidate(s)" in capsys.readouterr().err


def test_cli_fit_prior_from_a_run(user_run, small_table, capsys):
    out = small_table / "target"
    args = ["fit", "--data", str(small_table / "screen.csv"), "--drugs"]
    args += [str(small_table / "drugs.csv"), "--cell-line", "MCF7", "--epochs", "5"]
    assert main([*args, "--prior-from", str(user_run), "--widen", "2", "--out", str(out)]) == 0
    config = json.loads((out / "config.json").read_text())
    assert config["transfer"] == {"from": str(user_run), "mode": "prior", "widen": 2.0}
    assert config["model"]["merge_dim"] == 32 and config["model"]["n_bits"] == 256  # source's
    load_fit(out)  # a normal run directory
    assert main([*args, "--prior-from", str(small_table), "--out", str(out) + "2"]) == 2
    assert "not a complete run directory" in capsys.readouterr().err


def test_cli_simulate_prints_a_table(tmp_path, capsys):
    args = ["simulate", "--data", "demo", "--cell-line", "C1", "--acquisition", "q-ucb,random"]
    args += ["--rounds", "1", "--batch-size", "10", "--initial", "10", "--seeds", "1"]
    args += [*SMALL_FLAGS, "--epochs", "10", "--num-samples", "20", "--quiet"]
    assert main([*args, "--out", str(tmp_path / "s")]) == 0
    printed = capsys.readouterr().out
    assert "q-ucb" in printed and "random" in printed and "recall.png" in printed
    assert main([*args[:-1], "--batch-size", "500", "--out", str(tmp_path / "t")]) == 2
    assert "the pool has 238" in capsys.readouterr().err
