"""Tests for synergy_ppl.diagnostics on two small demo fits (normal and log-uniform prior)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import arviz as az
import numpy as np
import pandas as pd
import pytest
import torch
import xarray as xr

from synergy_ppl.cli import main
from synergy_ppl.config import ModelConfig
from synergy_ppl.data import DataConfig, DataError
from synergy_ppl.diagnostics import (
    calibration_curve,
    diagnose,
    keep_site,
    switched_off,
    to_inference_data,
    var_dims,
)
from synergy_ppl.errors import OutputError
from synergy_ppl.inference.metrics import regression_metrics
from synergy_ppl.outputs import MANIFEST
from synergy_ppl.runs import fit_run, load_fit, read_screen

SMALL = {
    "model": "recover",
    "epochs": 10,
    "num_samples": 50,
    "drug_layers": (64, 32),
    "merge_dim": 32,
    "calibrate": False,  # metrics.json's val part: the early-stopped fit's, reproduced exactly
}
PLOTS = (
    "elbo",
    "ppc",
    "predicted_vs_measured",
    "calibration",
    "error_vs_std",
    "output_weights",
    "noise_scale",
)


def _fit(root: Path, prior: str) -> Path:
    run_dir, _ = fit_run(DataConfig(), ModelConfig(prior=prior, **SMALL), root, progress=False)
    return run_dir


@pytest.fixture(scope="module")
def normal_run(tmp_path_factory) -> Path:
    return _fit(tmp_path_factory.mktemp("normal"), "normal")


@pytest.fixture(scope="module")
def sparse_run(tmp_path_factory) -> Path:
    return _fit(tmp_path_factory.mktemp("log_uniform"), "log-uniform")


@pytest.fixture(scope="module")
def normal_report(normal_run) -> Path:
    return diagnose(normal_run)


def _metrics(run_dir: Path) -> dict:
    return json.loads((run_dir / "metrics.json").read_text())


def _report_value(report: Path, cell: str) -> float:
    """The exact value behind a cell of the report's metrics table, e.g. ``test-coverage_90``."""
    match = re.search(rf'id="{cell}" data-value="([^"]+)"', report.read_text())
    assert match, f"no cell {cell} in {report}"
    return float(match.group(1))


# --- pure helpers --------------------------------------------------------------------------------


def test_keep_site_drops_the_trunk_unless_asked():
    assert keep_site("net.head.layers.0.weight", all_weights=False)
    assert keep_site("sigma", all_weights=False)
    assert not keep_site("net.drug_mlp.layers.0.weight", all_weights=False)
    assert keep_site("net.drug_mlp.layers.0.weight", all_weights=True)


def test_var_dims_are_readable():
    assert var_dims("head_layers_0_weight", 2) == ["head_layers_0_out", "head_layers_0_in"]
    assert var_dims("head_layers_0_bias", 1) == ["head_layers_0_out"]
    assert var_dims("merge_weight", 3) == ["merge_out", "merge_in_a", "merge_in_b"]
    assert var_dims("sigma", 0) == []


def test_calibration_curve_uses_the_metrics_definition():
    samples = torch.randn(300, 40, generator=torch.Generator().manual_seed(0))
    y = torch.randn(40, generator=torch.Generator().manual_seed(1))
    curve = calibration_curve(samples, y).set_index("level")["coverage"]
    metrics = regression_metrics(samples, y)
    assert curve[0.5] == metrics["coverage_50"]
    assert curve[0.9] == metrics["coverage_90"]
    assert curve.is_monotonic_increasing


def test_switched_off_counts_weights_above_threshold():
    log_alpha = {
        "net.head.layers.0.weight": torch.tensor([[4.0, -1.0], [3.5, 0.0]]),
        "net.head.layers.0.bias": torch.tensor([9.0, 9.0]),  # biases are not counted
        "net.head.layers.1.weight": torch.tensor([[2.9, 10.0]]),
    }
    table = switched_off(log_alpha).set_index("layer")
    assert table.loc["head_layers_0_weight", ["weights", "off"]].tolist() == [4, 2]
    assert table.loc["all", ["weights", "off"]].tolist() == [6, 3]
    assert table.loc["all", "fraction_off"] == pytest.approx(0.5)


# --- InferenceData -------------------------------------------------------------------------------


def test_inference_data_groups_dims_and_coords(normal_run):
    idata = to_inference_data(normal_run)
    assert set(idata.groups()) == {
        "posterior",
        "posterior_predictive",
        "observed_data",
        "constant_data",
    }
    post = idata.posterior
    weight, bias = post["head_layers_0_weight"], post["head_layers_0_bias"]
    assert weight.dims == ("chain", "draw", "head_layers_0_out", "head_layers_0_in")
    assert bias.dims == ("chain", "draw", "head_layers_0_out")
    assert post.sizes["chain"] == 1 and post.sizes["draw"] == SMALL["num_samples"]
    bnn, _ = load_fit(normal_run)
    np.testing.assert_allclose(post["noise_scale"], post["sigma"] * bnn.scaling.sd, rtol=1e-6)

    test = read_screen(normal_run).query("part == 'test'")
    assert idata.posterior_predictive["score"].dims == ("chain", "draw", "pair")
    assert idata.posterior_predictive.sizes["pair"] == len(test)
    np.testing.assert_array_equal(idata.observed_data["pair"], test.index)
    np.testing.assert_array_equal(idata.observed_data["score"], test["score"])
    for col in ("drug_a", "drug_b", "cell_line"):
        assert idata.constant_data[col].dims == ("pair",)
        np.testing.assert_array_equal(idata.constant_data[col], test[col])


def test_inference_data_from_model_and_table_matches_run_dir(normal_run):
    bnn, _ = load_fit(normal_run)
    from_model = to_inference_data(bnn, read_screen(normal_run), part="val", num_samples=20)
    from_dir = to_inference_data(normal_run, part="val", num_samples=20)
    assert from_model.posterior.sizes["draw"] == 20
    xr.testing.assert_equal(from_model.posterior, from_dir.posterior)
    xr.testing.assert_equal(from_model.observed_data, from_dir.observed_data)
    with pytest.raises(DataError, match="unknown part"):
        to_inference_data(normal_run, part="holdout")


def test_inference_data_round_trips_through_netcdf(normal_run, tmp_path):
    idata = to_inference_data(normal_run, num_samples=20)
    path = tmp_path / "idata.nc"
    idata.to_netcdf(str(path))
    loaded = az.from_netcdf(str(path))
    assert set(loaded.groups()) == set(idata.groups())
    for group in idata.groups():
        xr.testing.assert_equal(loaded[group], idata[group])
    assert loaded.posterior.attrs["prior"] == "normal"


# --- diagnose ------------------------------------------------------------------------------------


def test_diagnose_writes_every_file(normal_run, normal_report):
    out = normal_run / "diagnostics"
    assert normal_report == out / "report.html"
    expected = {f"{name}.png" for name in PLOTS}
    expected |= {"report.html", "inference_data.nc", "calibration.csv", MANIFEST}
    assert {p.name for p in out.iterdir()} == expected
    html = normal_report.read_text()
    assert all(f'src="{name}.png"' in html for name in PLOTS)


def test_report_calibration_equals_metrics_json(normal_run, normal_report):
    metrics = _metrics(normal_run)["test"]
    curve = pd.read_csv(normal_run / "diagnostics" / "calibration.csv").set_index("level")
    for level in (50, 90):
        reported = _report_value(normal_report, f"test-coverage_{level}")
        assert reported == metrics[f"coverage_{level}"]
        assert curve.loc[level / 100, "coverage"] == metrics[f"coverage_{level}"]
    assert "passes exactly through" in normal_report.read_text()


def test_diagnose_log_uniform_adds_log_alpha(sparse_run, tmp_path):
    report = diagnose(sparse_run, out=tmp_path / "diag", part="val")
    names = {p.name for p in report.parent.iterdir()}
    assert {f"{name}.png" for name in (*PLOTS, "log_alpha")} <= names
    html = report.read_text()
    assert 'src="log_alpha.png"' in html and "Weights switched off" in html
    # the run was refitted on its validation rows: metrics.json's val row is the early-stopped
    # fit's, which the report says instead of calling the curve a mismatch of draws
    assert _metrics(sparse_run)["refit_epochs"] > 0
    assert "val row is the early-stopped fit's" in html and "differs from" not in html


def test_diagnose_refuses_to_overwrite(normal_run, normal_report):
    with pytest.raises(OutputError, match="pass overwrite"):
        diagnose(normal_run)


def test_cli_diagnose(normal_run, normal_report, tmp_path, capsys):
    assert main(["diagnose", "--run", str(normal_run)]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert main(["diagnose", "--run", str(tmp_path / "nowhere")]) == 2
    assert "no such run directory" in capsys.readouterr().err
    out = tmp_path / "again"
    args = ["diagnose", "--run", str(normal_run), "--out", str(out), "--num-samples", "30"]
    assert main(args) == 0
    assert str(out / "report.html") in capsys.readouterr().out
    assert "differs from metrics.json" in (out / "report.html").read_text()  # 30 vs 50 draws
