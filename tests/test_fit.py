"""End-to-end fits: the demo recovers its known truth with calibrated intervals; runs
round-trip through their directory; the CLI writes, refuses to overwrite and predicts."""

import json
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import torch
from scipy import stats

from synergy_ppl.cli import main
from synergy_ppl.config import ModelConfig
from synergy_ppl.data import DataConfig, DataError, Split, make_demo_screen
from synergy_ppl.estimator import SynergyBNN
from synergy_ppl.inference.svi import TrainData, run_epoch
from synergy_ppl.runs import fit_run, load_fit, read_screen


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "demo"
    run_dir, metrics = fit_run(DataConfig(), ModelConfig(), out=out, progress=False)
    return run_dir, metrics


def test_demo_fit_recovers_truth_with_calibrated_intervals(demo_run):
    run_dir, metrics = demo_run
    predictions = pd.read_csv(run_dir / "predictions_test.csv")
    truth = predictions["true_score"].to_numpy()
    r2_truth = 1 - np.mean((predictions["mean"] - truth) ** 2) / np.var(truth)
    assert r2_truth > 0.75
    assert metrics["test"]["pearson"] > 0.8
    # The demo's noise is Student-t (4 df); a Normal likelihood with the right SD puts
    # 2 F_t4(1.645 sqrt 2) - 1 = 0.92 of it inside its 90% interval, before the epistemic
    # spread widens the interval a little. 221 test rows: binomial SD 0.02.
    expected = 2 * stats.t(4).cdf(1.645 * np.sqrt(2)) - 1
    assert expected - 0.07 <= metrics["test"]["coverage_90"] <= expected + 0.06
    assert metrics["test"]["coverage_50"] < metrics["test"]["coverage_90"]


def test_run_directory_has_every_file(demo_run):
    run_dir, metrics = demo_run
    for name in ("config.json", "model.pt", "metrics.json", "predictions_test.csv", "elbo.csv"):
        assert (run_dir / name).exists(), name
    saved = json.loads((run_dir / "metrics.json").read_text())
    for part in ("train", "val", "test"):
        assert set(saved[part]) >= {
            "rmse",
            "r2",
            "pearson",
            "spearman",
            "nll",
            "coverage_50",
            "coverage_90",
        }
    config = json.loads((run_dir / "config.json").read_text())
    assert config["data"]["data"] == "demo" and config["model"]["prior"] == "normal"
    predictions = pd.read_csv(run_dir / "predictions_test.csv")
    assert {"mean", "std", "q05", "q95"} <= set(predictions.columns)
    assert (predictions["q05"] <= predictions["mean"]).all()
    assert (predictions["mean"] <= predictions["q95"]).all()
    elbo = pd.read_csv(run_dir / "elbo.csv")
    assert len(elbo) == saved["epochs_run"] and elbo["loss"].iloc[-1] < elbo["loss"].iloc[0]


def test_loaded_run_predicts_exactly_as_saved(demo_run):
    run_dir, _ = demo_run
    bnn, _ = load_fit(run_dir)
    test_rows = read_screen(run_dir).query("part == 'test'")
    again = bnn.predict(test_rows)
    saved = pd.read_csv(run_dir / "predictions_test.csv")
    assert np.allclose(again["mean"], saved["mean"], atol=1e-4)
    assert np.allclose(again["q95"], saved["q95"], atol=1e-4)


def test_prediction_samples_are_reproducible_and_ordered(demo_run):
    bnn, _ = load_fit(demo_run[0])
    rows = read_screen(demo_run[0]).head(50)
    first = bnn.sample(rows, num_samples=30, seed=4)
    assert first.shape == (30, 50)
    assert torch.equal(first, bnn.sample(rows, num_samples=30, seed=4))
    swapped = rows.rename(columns={"drug_a": "drug_b", "drug_b": "drug_a"})
    assert torch.allclose(first, bnn.sample(swapped, num_samples=30, seed=4), atol=1e-4)


def test_cli_fit_refuses_to_overwrite(tmp_path, capsys):
    out = tmp_path / "run"
    args = ["fit", "--epochs", "3", "--out", str(out), "--quiet"]
    assert main(args) == 0
    assert "run written to" in capsys.readouterr().out
    before = (out / "model.pt").read_bytes()
    assert main(args) == 2
    assert "already exists" in capsys.readouterr().err
    assert (out / "model.pt").read_bytes() == before
    assert main([*args, "--overwrite"]) == 0


def test_cli_config_file_and_flags(tmp_path):
    config = tmp_path / "fit.yaml"
    config.write_text("data:\n  split: random\nmodel:\n  epochs: 2\n  prior: laplace\n")
    out = tmp_path / "run"
    assert (
        main(
            [
                "fit",
                "--config",
                str(config),
                "--prior",
                "scale-mixture",
                "--out",
                str(out),
                "--quiet",
            ]
        )
        == 0
    )
    resolved = json.loads((out / "config.json").read_text())
    assert resolved["data"]["split"] == "random"
    assert resolved["model"]["epochs"] == 2
    assert resolved["model"]["prior"] == "scale-mixture"  # the flag beats the file


def predict_cli(run_dir, pairs, out, *extra):
    args = ["predict", "--run", run_dir, "--pairs", pairs, "--out", out, *extra]
    return main([str(a) for a in args])


def test_cli_predict_and_its_errors(demo_run, tmp_path, capsys):
    run_dir, _ = demo_run
    pairs = pd.DataFrame({"drug_a": ["D03", "D01"], "drug_b": ["D01", "D07"], "cell_line": "C1"})
    pairs.to_csv(tmp_path / "pairs.csv", index=False)
    out = tmp_path / "pred.csv"
    assert predict_cli(run_dir, tmp_path / "pairs.csv", out) == 0
    predicted = pd.read_csv(out)
    assert list(predicted["drug_a"]) == ["D03", "D01"] and predicted["std"].gt(0).all()

    pairs.assign(drug_a=["NEW", "D01"]).to_csv(tmp_path / "unknown.csv", index=False)
    assert predict_cli(run_dir, tmp_path / "unknown.csv", tmp_path / "x.csv") == 2
    assert "unknown drug(s) ['NEW']" in capsys.readouterr().err
    assert not (tmp_path / "x.csv").exists()


def test_corrupt_run_directory_is_a_clear_error(demo_run, tmp_path):
    broken = tmp_path / "broken"
    broken.mkdir()
    for name in ("config.json", "metrics.json", "screen.csv"):
        (broken / name).write_bytes((demo_run[0] / name).read_bytes())
    with pytest.raises(DataError, match=r"missing \['model.pt'\]"):
        load_fit(broken)
    (broken / "model.pt").write_bytes(b"not a model")
    with pytest.raises(DataError, match="model.pt: not a model file"):
        load_fit(broken)


@pytest.mark.parametrize("drug_effects", [0.0, 0.3])
def test_new_drug_with_smiles_is_featurised(tmp_path, shared_data, drug_effects):
    """A fingerprint model predicts a drug it has never seen, given its SMILES."""
    out = tmp_path / "oneil"
    data = DataConfig(data="oneil", data_dir=str(shared_data), cell_line="A2058", split="random")
    config = ModelConfig(epochs=2, n_bits=256, drug_effects=drug_effects)
    fit_run(data, config, out=out, progress=False)
    pairs = pd.DataFrame({"drug_a": ["ASPIRIN"], "drug_b": ["5-FU"], "cell_line": ["A2058"]})
    pairs.to_csv(tmp_path / "pairs.csv", index=False)
    pd.DataFrame({"drug": ["ASPIRIN"], "smiles": ["CC(=O)OC1=CC=CC=C1C(=O)O"]}).to_csv(
        tmp_path / "drugs.csv", index=False
    )
    predictions = out / "predictions.csv"
    assert (
        predict_cli(out, tmp_path / "pairs.csv", predictions, "--drugs", tmp_path / "drugs.csv")
        == 0
    )
    assert pd.read_csv(predictions)["std"].gt(0).all()
    if drug_effects:  # the new drug's effect: mean 0, as uncertain as the least-known drug's
        bnn, _ = load_fit(out)
        grown = bnn.with_features(bnn.features.with_new_drugs({"ASPIRIN": "CCO"}))
        for site in ("net.drug_effect", "noise_drug_effect"):
            loc, scale = grown.guide._get_loc_and_scale(site)
            assert loc.shape == (len(bnn.features.drugs) + 1,)
            assert loc[-1] == 0 and torch.isclose(scale[-1], scale.max())


def test_new_drug_gets_pair_effects_at_the_widest_known_scale(shared_data):
    data = DataConfig(data="oneil", data_dir=str(shared_data), cell_line="A2058,A2780")
    screen = data.load()
    rows = np.arange(200)
    split = Split(rows, rows[:0], rows[:0], "first rows")
    config = ModelConfig(
        model="recover",
        drug_layers=(16, 8),
        merge_dim=8,
        head_layers=(8,),
        epochs=3,
        n_bits=256,
        pair_effects=0.4,
    )
    bnn = SynergyBNN.from_config(config).fit(screen, split, progress=False)
    grown = bnn.with_features(bnn.features.with_new_drugs({"NEW": "CCO"}))
    old_loc, old_scale = (t.detach() for t in bnn.guide._get_loc_and_scale("net.pair_effect"))
    loc, scale = (t.detach() for t in grown.guide._get_loc_and_scale("net.pair_effect"))
    n = len(bnn.features.drugs)
    assert loc.shape == scale.shape == (n + 1, n + 1)
    assert torch.allclose(loc[:n, :n], old_loc) and torch.allclose(scale[:n, :n], old_scale)
    assert torch.all(loc[n] == 0) and torch.all(loc[:, n] == 0)
    widest = old_scale.max()
    assert torch.allclose(scale[n], widest) and torch.allclose(scale[:, n], widest)


def test_min_steps_raises_the_number_of_epochs():
    screen = make_demo_screen()
    rows = np.arange(40)  # two minibatches of 32 per epoch
    split = Split(rows, rows[:0], rows[:0], "first rows")
    config = ModelConfig(rank=8, batch_size=32)
    short = SynergyBNN.from_config(replace(config, epochs=3)).fit(screen, split, progress=False)
    long = SynergyBNN.from_config(replace(config, epochs=3, min_steps=20)).fit(
        screen, split, progress=False
    )
    assert len(short.history.elbo) == 3 and len(long.history.elbo) == 10


def test_an_epoch_splits_the_rows_into_near_equal_minibatches():
    # Old code: 779 rows at batch size 256 made a last batch of 11 rows, whose likelihood
    # the ELBO scales up 71 times: one wild step per epoch (the demo's refit lost 0.1 Pearson).
    weight = torch.nn.Parameter(torch.zeros(()))
    seen: list[torch.Tensor] = []

    def loss_fn(drug_a, drug_b, cell, y, n_train):
        seen.append(drug_a)
        assert n_train == 779
        return weight * len(y)

    rows = torch.arange(779)
    data = TrainData((rows, rows, rows), torch.zeros(779), (rows[:0],) * 3, torch.zeros(0))
    optimizer = torch.optim.SGD([weight], lr=0.0)
    run_epoch(loss_fn, optimizer, data, torch.randperm(779), batch_size=256)
    assert sorted(len(batch) for batch in seen) == [194, 195, 195, 195]
    assert torch.equal(torch.cat(seen).sort().values, rows)  # every row once


def test_trunk_anchor_keeps_a_pretrained_trunk_near_its_values():
    screen = make_demo_screen()
    rows = np.arange(300)
    split = Split(rows[:200], rows[:0], rows[:0], "first rows")
    config = ModelConfig(
        model="recover", drug_layers=(16, 8), merge_dim=8, head_layers=(8,), epochs=5
    )
    pretrained = SynergyBNN.from_config(config).fit(screen, split, progress=False)
    target = Split(rows[200:230], rows[:0], rows[:0], "30 more rows")

    def drift(tau: float) -> float:
        tuned = SynergyBNN.from_config(replace(config, epochs=50, trunk_anchor=tau))
        tuned.fit(screen, target, progress=False, init=pretrained)
        start, end = pretrained.model.state_dict(), tuned.model.state_dict()
        return sum(float((end[k] - start[k]).pow(2).sum()) for k in start if "drug_mlp" in k)

    free, anchored = drift(0.0), drift(1e4)
    assert free > 0 and anchored < 0.1 * free
    # without a starting model there is nothing to anchor to: the option is ignored
    plain = SynergyBNN.from_config(replace(config, trunk_anchor=1e4)).fit(
        screen, split, progress=False
    )
    assert torch.equal(
        plain.model.state_dict()["net.drug_mlp.layers.0.weight"],
        pretrained.model.state_dict()["net.drug_mlp.layers.0.weight"],
    )


def test_fit_without_a_split_trains_on_every_row_without_early_stopping():
    full = make_demo_screen()
    screen = full.subset(np.arange(len(full.table)) < 60)
    config = ModelConfig(rank=8, epochs=4)
    bnn = SynergyBNN.from_config(config).fit(screen, progress=False)
    assert len(bnn.history.elbo) == 4 and bnn.history.validation == {}
    scores = screen.table["score"]
    assert bnn.scaling.mean == pytest.approx(scores.mean()) and bnn.scaling.sd > 0
    every = Split(np.arange(60), np.arange(0), np.arange(0), "every row")
    same = SynergyBNN.from_config(config).fit(screen, every, progress=False)
    assert same.history.elbo == bnn.history.elbo


@pytest.mark.parametrize("stop_on", ["nll", "rmse"])
def test_early_stopping_keeps_the_best_epoch_of_the_watched_loss(stop_on):
    """Both validation losses are recorded every epoch; the kept epoch is the first minimum
    of the one named by ``stop_on`` (ties within MIN_IMPROVEMENT go to the earlier epoch)."""
    screen = make_demo_screen()
    data = DataConfig()
    config = ModelConfig(rank=8, epochs=40, patience=5, stop_on=stop_on)
    bnn = SynergyBNN.from_config(config).fit(screen, data.split_of(screen), progress=False)
    history = bnn.history
    assert set(history.validation) == {"nll", "rmse"}
    assert all(len(v) == len(history.elbo) for v in history.validation.values())
    watched = np.array(history.validation[stop_on])
    assert watched[history.best_epoch] <= watched.min() + 1e-4
    stopped_early = len(history.elbo) < 40
    assert not stopped_early or len(history.elbo) - 1 - history.best_epoch >= 5
    assert np.isfinite(history.validation["nll"]).all()


def test_refit_trains_afresh_on_both_parts_for_the_steps_early_stopping_kept():
    screen = make_demo_screen()
    split = DataConfig().split_of(screen)
    # calibration would widen the first fit's noise and not the fit without validation rows;
    # one member, so that the early-stopped fit is the whole of the model without the refit
    config = ModelConfig(rank=8, epochs=40, patience=5, calibrate=False, members=1)
    assert config.refit  # the default
    bnn = SynergyBNN.from_config(config).fit(screen, split, progress=False)
    stopped = SynergyBNN.from_config(replace(config, refit=False)).fit(
        screen, split, progress=False
    )
    history = bnn.history
    assert history.elbo == stopped.history.elbo and history.best_epoch == stopped.history.best_epoch
    assert stopped.history.refit_epochs == 0
    # the validation metrics are the early-stopped fit's, on rows it had not trained on
    assert bnn.validation_metrics == stopped.evaluate(screen.table.iloc[split.val])
    assert stopped.validation_metrics is None
    # as many optimizer steps as the kept epochs: the demo's 696 training rows take 3 batches
    # of 256 an epoch, the 779 of both parts 4, so the refit runs fewer epochs
    n_train, n_both = len(split.train), len(split.train) + len(split.val)
    first, again = -(-n_train // config.batch_size), -(-n_both // config.batch_size)
    assert (first, again) == (3, 4)
    steps = (history.best_epoch + 1) * first
    assert history.refit_epochs == -(-steps // again) < history.best_epoch + 1
    # the model is a fit on both parts (scaled by both) for that many epochs
    both = Split(np.concatenate([split.train, split.val]), np.arange(0), split.test, "both")
    epochs = history.refit_epochs
    fresh = SynergyBNN.from_config(replace(config, epochs=epochs))
    fresh.fit(screen, both, progress=False)  # no validation rows
    test = screen.table.iloc[split.test]
    assert bnn.scaling == fresh.scaling
    assert torch.equal(bnn.sample(test), fresh.sample(test))


def test_fit_no_refit_flag_keeps_the_early_stopped_model(tmp_path, capsys):
    fast = ["fit", "--epochs", "3", "--rank", "8", "--quiet"]
    assert main([*fast, "--no-refit", "--out", str(tmp_path / "a")]) == 0
    assert json.loads((tmp_path / "a" / "config.json").read_text())["model"]["refit"] is False
    assert json.loads((tmp_path / "a" / "metrics.json").read_text())["refit_epochs"] == 0
    assert "then" not in capsys.readouterr().out
    assert main([*fast, "--out", str(tmp_path / "b")]) == 0
    assert json.loads((tmp_path / "b" / "metrics.json").read_text())["refit_epochs"] >= 1
    assert "on the training and validation rows" in capsys.readouterr().out
