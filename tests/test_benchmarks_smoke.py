"""Each benchmark script runs end to end in its ``--smoke`` size and writes sane JSON.

Timings are not asserted (the machine is shared); only that the scripts run, write the
expected keys and produce values in their possible ranges.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from conftest import needs_extra

pytestmark = pytest.mark.slow

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
MACHINE_KEYS = {"nproc", "cpu", "torch", "pyro", "torch_threads"}


def run_script(arguments: list[str], data_dir: Path, returncode: int = 0):
    """Run ``benchmarks/<arguments[0]> arguments[1:]``, check its exit status, return it run."""
    env = {**os.environ, "SYNERGY_PPL_DATA": str(data_dir)}
    command = [sys.executable, str(BENCHMARKS / arguments[0]), *arguments[1:]]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == returncode, done.stderr[-3000:]
    return done


def run_smoke(script: str, tmp_path: Path, data_dir: Path) -> dict:
    """Run ``benchmarks/<script> --smoke`` in a subprocess and return its JSON."""
    out = tmp_path / f"{Path(script).stem}.json"
    done = run_script([script, "--smoke", "--out", str(out)], data_dir)
    assert "written to" in done.stdout
    payload = json.loads(out.read_text())
    assert payload["smoke"] is True
    assert MACHINE_KEYS <= set(payload["machine"])
    assert payload["machine"]["torch_threads"] == 1
    return payload


def positive(value: float) -> bool:
    return math.isfinite(value) and value > 0


def test_oneil_cv_smoke(tmp_path, shared_data):
    payload = run_smoke("oneil_cv.py", tmp_path, shared_data)
    assert set(payload["summary"]) == {"onehot-mlp", "factorization", "map"}
    assert payload["reference"]["pearson"] == pytest.approx(0.73)
    for method, summary in payload["summary"].items():
        result = payload["per_fold"][method]["0"]
        assert result["n"] == 4524, method
        assert -1 <= result["pearson"] <= 1 and -1 <= result["spearman"] <= 1
        assert result["mse"] == pytest.approx(result["rmse"] ** 2, rel=1e-6)
        assert 0 <= result["coverage_50"] <= result["coverage_90"] <= 1
        assert positive(result["fit_seconds"]) and math.isfinite(result["nll"])
        assert summary["pearson"]["mean"] == pytest.approx(result["pearson"])
        assert summary["pearson"]["sd"] == 0.0  # one fold
        assert summary["diverged"] == 0
    for point in ("map", "onehot-mlp"):  # point estimates: intervals from validation residuals
        assert positive(payload["per_fold"][point]["0"]["residual_sd"])
    # the cache is written per (method, fold): a rerun reuses it
    assert (tmp_path / "oneil_cv" / "fits" / "factorization-fold0.json").exists()


def test_oneil_cv_reports_a_diverged_fit_and_goes_on(tmp_path, shared_data):
    out = tmp_path / "cv.json"
    arguments = ["oneil_cv.py", "--methods", "factorization", "--folds", "0", "--epochs", "2"]
    arguments += ["--guide-lr", "1000", "--batch-size", "1024", "--out", str(out)]
    done = run_script(arguments, shared_data)
    assert "factorization fold 0: training diverged in epoch" in done.stdout
    payload = json.loads(out.read_text())
    assert payload["summary"]["factorization"] == {"diverged": 1}
    assert "training diverged" in payload["per_fold"]["factorization"]["0"]["diverged"]


def test_training_speed_smoke(tmp_path, shared_data):
    payload = run_smoke("training_speed.py", tmp_path, shared_data)
    (result,) = payload["results"]
    assert result["batch_size"] == 128 and result["rows"] == 1024
    for side in ("project", "reference", "reference_fused"):
        assert positive(result[f"{side}_seconds"])
        assert len(result["epochs"][side]) == 2
    assert positive(result["ratio_to_reference"]) and positive(result["ratio_to_reference_fused"])


def test_prediction_speed_smoke(tmp_path, shared_data):
    payload = run_smoke("prediction_speed.py", tmp_path, shared_data)
    assert payload["model"]["drugs"] == 38 and payload["model"]["cell_lines"] == 39
    (result,) = payload["results"]
    assert result["candidates"] == 500
    # above --naive-cap the naive time is scaled up from fewer draws, and marked so
    assert result["naive_estimated"] and result["naive_samples_run"] < result["num_samples"]
    assert positive(result["project_seconds"]) and positive(result["naive_seconds"])
    assert result["speedup"] == pytest.approx(result["naive_seconds"] / result["project_seconds"])
    assert result["project_peak_mb"] >= 0 and result["naive_peak_mb"] >= 0


def test_posterior_draws_smoke_gives_the_same_draws_and_fit_both_ways(tmp_path, shared_data):
    payload = run_smoke("posterior_draws.py", tmp_path, shared_data)
    assert [r["draws"] for r in payload["draws"]] == [8, 200]
    assert all(r["same"] is True for r in payload["draws"])
    assert all(
        positive(r["guide alone"]) and positive(r["model and guide"]) for r in payload["draws"]
    )
    alone, both = payload["fit"]
    assert (alone["way"], both["way"]) == ("guide alone", "model and guide")
    assert alone["pearson"] == both["pearson"] and alone["nll"] == both["nll"]
    assert alone["epochs"] == both["epochs"] == 3


def test_pool_scale_smoke_gives_the_same_batch_on_both_paths(tmp_path, shared_data):
    payload = run_smoke("pool_scale.py", tmp_path, shared_data)
    rows = payload["rows"]
    assert {(r["path"], r["strategy"]) for r in rows} == {
        (path, strategy) for path in ("now", "before") for strategy in ("ucb", "thompson-batch")
    }
    assert all(r["same_batch"] is True and positive(r["seconds"]) for r in rows)
    assert all(r["pool"] == 3 * 66 - 99 and len(r["batch"]) == 30 for r in rows)
    assert {r["path"] for r in payload["predict"]} == {"now", "before"}
    assert all(r["rows"] == 50 and positive(r["seconds"]) for r in payload["predict"])


@needs_extra("sklearn")
def test_screens_smoke_prints_every_method_and_the_defaults_paired_difference(
    tmp_path, shared_data
):
    payload = run_smoke("screens.py", tmp_path, shared_data)
    rows = payload["rows"]
    assert [r["method"] for r in rows] == [
        "default",
        "factorization",
        "hierarchical-single",
        "hierarchical-2",
        "drug-effects",
        "no-drug-effects",
        "tenth-validation",
        "fp-factorization",
        "ard-factorization",
        "recover-fp",
        "onehot-mlp",
        "fp-mlp",
        "forest",
    ]
    assert all(r["n"] == 2 and -1 <= r["pearson"][0] <= 1 for r in rows)
    for candidate in rows[:9]:
        best, difference, se = candidate["vs_best_pearson"]
        assert best in ("recover-fp", "onehot-mlp", "fp-mlp", "forest")
        assert math.isfinite(difference) and se >= 0


@needs_extra("sklearn")
def test_round_time_smoke(tmp_path, shared_data):
    payload = run_smoke("round_time.py", tmp_path, shared_data)
    assert payload["pool"] == 980 and payload["revealed"] == 40
    assert payload["model"]["batch_size"] == 512 and payload["model"]["drug_effects"] == 0.3
    bnn, forest = payload["results"]
    assert (bnn["method"], forest["method"]) == ("bnn", "forest")
    assert positive(bnn["median_seconds"]) and positive(forest["median_seconds"])
    ratio = bnn["median_seconds"] / forest["median_seconds"]
    assert payload["bnn_over_forest"] == pytest.approx(ratio)


def test_scaling_smoke(tmp_path, shared_data):
    payload = run_smoke("scaling.py", tmp_path, shared_data)
    assert [r["rows"] for r in payload["results"]] == [300, 1000]
    for result in payload["results"]:
        assert positive(result["epoch_seconds"]) and positive(result["predict_seconds"])
        assert result["epoch_seconds_per_1k_rows"] == pytest.approx(
            1000 * result["epoch_seconds"] / result["rows"]
        )
    assert set(payload["growth_exponent"]) == {"epoch_seconds", "predict_seconds"}
    assert all(math.isfinite(b) for b in payload["growth_exponent"].values())


TINY_LOOP = ["--rounds", "1", "--initial", "10", "--batch-size", "5", "--seeds", "1"]
TINY_LOOP += ["--epochs", "2", "--pretrain-epochs", "1"]


@needs_extra("sklearn")
def test_active_learning_runs_every_variant_beside_the_forest(tmp_path, shared_data):
    out = tmp_path / "active"
    arguments = ["active_learning.py", "--data", "demo", "--cell-line", "C0", *TINY_LOOP]
    stdout = run_script([*arguments, "--out", str(out)], shared_data).stdout
    table = json.loads((out / "summary.json").read_text())
    expected = {"random", "rf-ucb", "best-elsewhere"}
    expected |= {f"{s} ({v})" for s in ("ucb", "thompson-batch") for v in ("scratch", "prior")}
    expected |= {f"{s} (warm-start)" for s in ("ucb", "thompson-batch")}
    assert set(table) == expected
    for name, entry in table.items():
        assert 0 <= entry["recall_mean"] <= 1 and 0 <= entry["of_oracle"] <= 1, name
    assert (out / "prior" / "pretrain.pt").exists()  # the warm-start variant reused it
    assert "best-elsewhere" in stdout


@needs_extra("sklearn")
def test_active_learning_on_the_whole_screen_has_no_pretraining(tmp_path, shared_data):
    out = tmp_path / "active-all"
    arguments = ["active_learning.py", "--data", "demo", "--cell-line", "all", *TINY_LOOP]
    run_script([*arguments, "--variants", "scratch", "--out", str(out)], shared_data)
    table = json.loads((out / "summary.json").read_text())
    assert set(table) == {"ucb (scratch)", "thompson-batch (scratch)", "random", "rf-ucb"}
    refused = run_script(arguments, shared_data, returncode=2)  # default variants pretrain
    assert "--variants scratch" in refused.stderr


@needs_extra("sklearn")
def test_active_learning_binds_every_arm_to_the_lab_rules(tmp_path, shared_data):
    out = tmp_path / "active-lines"
    arguments = ["active_learning.py", "--data", "demo", "--cell-line", "all", *TINY_LOOP]
    arguments += ["--variants", "scratch", "--max-lines", "1", "--out", str(out)]
    run_script(arguments, shared_data)
    rows = pd.read_csv(out / "scratch" / "results.csv")
    assert set(rows["strategy"]) == {"ucb", "thompson-batch", "random", "rf-ucb"}
    assert (rows.loc[rows["round"] > 0, "distinct_lines"] == 1).all()


@needs_extra("sklearn")
def test_reference_arms_run_beside_the_forest_under_the_lab_rules(tmp_path, shared_data):
    out = tmp_path / "active-gp"
    arguments = ["active_learning.py", "--data", "demo", "--cell-line", "all", *TINY_LOOP]
    arguments += ["--variants", "scratch", "--strategies", "random", "--max-lines", "1"]
    arguments += ["--reference-arms", "gp-ucb,gp-ucb-known-spread", "--out", str(out)]
    run_script(arguments, shared_data)
    table = json.loads((out / "summary.json").read_text())
    assert set(table) == {"random", "rf-ucb", "gp-ucb", "gp-ucb-known-spread"}
    rows = pd.read_csv(out / "scratch" / "results.csv")
    gp_rounds = rows[rows["strategy"].str.startswith("gp-") & (rows["round"] > 0)]
    assert len(gp_rounds) == 2 and (gp_rounds["distinct_lines"] == 1).all()
    assert (gp_rounds["tested"] == 15).all()
    refused = run_script(
        [*arguments[:-4], "--reference-arms", "gp", "--out", str(out)], shared_data, returncode=2
    )
    assert "unknown --reference-arms" in refused.stderr


@needs_extra("ray")
def test_sweep_speed_smoke_runs_both_engines_to_the_same_table(tmp_path, shared_data):
    payload = run_smoke("sweep_speed.py", tmp_path, shared_data)
    assert payload["trials"] == 4 and payload["workers"] == 2
    assert payload["failed"] == {"sequential": 0, "ray": 0}
    assert payload["same_metric"] is True
    assert positive(payload["sequential_seconds"]) and positive(payload["ray_seconds"])
    assert payload["speedup"] == pytest.approx(
        payload["sequential_seconds"] / payload["ray_seconds"]
    )


def test_epistemic_smoke_compares_function_bands_with_the_truth(tmp_path, shared_data):
    payload = run_smoke("epistemic.py", tmp_path, shared_data)
    ((family, runs),) = payload["per_seed"].items()
    result = runs[0]
    assert 0 <= result["truth_coverage_50"] <= result["truth_coverage_90"] <= 1
    assert positive(result["z_sd"]) and positive(result["function_sd"])
    assert positive(result["rmse_truth"])
    assert payload["summary"][family]["z_sd"]["mean"] == pytest.approx(result["z_sd"])
