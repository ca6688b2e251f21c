"""Single-agent responses through a run: a fit saves its table, predict and recommend read it
back and merge a new one over it; new drugs stay missing unless a table gives them values;
a faulty table is a screen of finite, known values or one line."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
import torch
from cli_helpers import one_line_error, run
from monotherapy_tables import FEW, SMILES, combos, demo_table

from synergy_ppl.cli import main
from synergy_ppl.data import (
    SingleAgentTable,
    attach_monotherapy,
    make_demo_screen,
    screen_from_frame,
)
from synergy_ppl.data.features import FeatureSet, build_features
from synergy_ppl.data.monotherapy_join import merge_monotherapy
from synergy_ppl.errors import DataError, UserError
from synergy_ppl.estimator import SynergyBNN
from synergy_ppl.runs import prediction_model
from synergy_ppl.state_format import SHIFT_WEIGHT

# ------------------------------------------------------------------ features and runs


def test_new_drugs_are_missing_unless_a_table_gives_them_values():
    mono = pd.DataFrame(
        {"drug": ["ethanol", "benzene", "aspirin"], "cell_line": "L1", "ri": [10.0, 30.0, 50.0]}
    )
    screen = screen_from_frame(combos(), SMILES, monotherapy=mono)
    features = build_features(screen, n_bits=64)
    assert features.monotherapy.shape == (4, 2)
    assert torch.isnan(features.monotherapy[:, 1]).all()  # nothing measured in L2
    grown = features.with_new_drugs({"aspirin": SMILES["aspirin"]})
    assert grown.monotherapy.shape == (5, 2) and torch.isnan(grown.monotherapy[4]).all()
    filled = features.with_new_drugs({"aspirin": SMILES["aspirin"]}, screen.monotherapy)
    scaling = features.monotherapy_info
    assert filled.monotherapy[4, 0].item() == pytest.approx((50.0 - 20.0) / scaling["sd"])
    assert math.isclose(scaling["mean"], 20.0)
    again = FeatureSet.from_dict(filled.to_dict())
    assert again.monotherapy_info == filled.monotherapy_info
    assert torch.equal(torch.isnan(again.monotherapy), torch.isnan(filled.monotherapy))
    plain = build_features(screen_from_frame(combos(), SMILES), n_bits=64)
    assert plain.monotherapy is None and "monotherapy" not in plain.to_dict()
    with pytest.raises(DataError, match="differs from the one the model was fitted with"):
        features.with_monotherapy(mono.assign(value=[11.0, 30.0, 50.0]).drop(columns="ri"))


def test_a_run_saves_its_table_and_predict_reads_it_back_and_merges_a_new_one(tmp_path, capsys):
    skip = {("D05", "C2"), ("D07", "C1")}
    demo_table(skip=skip).to_csv(tmp_path / "mono.csv", index=False)
    run_dir = tmp_path / "run"
    args = ["fit", "--monotherapy", tmp_path / "mono.csv", *FEW, "--out", run_dir]
    assert main(list(map(str, args))) == 0
    saved = pd.read_csv(run_dir / "monotherapy.csv")
    assert list(saved.columns) == ["drug", "cell_line", "value"] and len(saved) == 96 - 2
    assert "monotherapy.csv" in json.loads((run_dir / ".synergy-ppl.json").read_text())["written"]
    config = json.loads((run_dir / "config.json").read_text())["data"]
    assert config["monotherapy"] == str(tmp_path / "mono.csv")
    fitted = prediction_model(run_dir).features
    assert int(torch.isnan(fitted.monotherapy).sum()) == 2
    # a new table fills the missing entries, scaled as the fit was
    new = pd.DataFrame({"drug": ["D05"], "cell_line": ["C2"], "ri": [42.0]})
    new.to_csv(tmp_path / "new.csv", index=False)
    grown = prediction_model(run_dir, monotherapy=tmp_path / "new.csv").features
    i, j = grown.drugs.index("D05"), grown.cell_lines.index("C2")
    scaling = fitted.monotherapy_info
    assert grown.monotherapy[i, j].item() == pytest.approx(
        (42.0 - scaling["mean"]) / scaling["sd"], abs=1e-5
    )
    pairs = make_demo_screen().table.head(4)[["drug_a", "drug_b", "cell_line"]]
    pairs.to_csv(tmp_path / "pairs.csv", index=False)
    predict = ["predict", "--run", run_dir, "--pairs", tmp_path / "pairs.csv", "--quiet"]
    status, err = run([*predict, "--monotherapy", tmp_path / "new.csv", "--num-samples", 8], capsys)
    assert status == 0, err
    recommend = ["recommend", "--run", run_dir, "--monotherapy", tmp_path / "new.csv"]
    recommend += ["--batch-size", 3, "--num-samples", 8, "--report-lines", 0]
    status, err = run(recommend, capsys)
    assert status == 0 and len(pd.read_csv(run_dir / "recommendations.csv")) == 3, err
    # a value that contradicts the saved one, or another kind of value, is one line
    demo_table().iloc[:1].assign(ri=-5.0).to_csv(tmp_path / "clash.csv", index=False)
    one_line_error(
        *run([*predict, "--monotherapy", tmp_path / "clash.csv", "--overwrite"], capsys),
        "clash.csv",
        "monotherapy.csv",
    )
    new.rename(columns={"ri": "ic50"}).to_csv(tmp_path / "ic50.csv", index=False)
    one_line_error(
        *run([*predict, "--monotherapy", tmp_path / "ic50.csv", "--overwrite"], capsys),
        "ic50.csv",
        "fitted on 'ri'",
    )
    (run_dir / "monotherapy.csv").unlink()
    with pytest.raises(DataError, match="monotherapy.csv is missing"):
        prediction_model(run_dir)


def test_a_run_saved_before_the_curvature_input_loads_with_that_input_off(tmp_path):
    demo_table().to_csv(tmp_path / "mono.csv", index=False)
    run_dir = tmp_path / "run"
    args = ["fit", "--monotherapy", tmp_path / "mono.csv", *FEW, "--out", run_dir]
    assert main(list(map(str, args))) == 0
    state = torch.load(run_dir / "model.pt", weights_only=True)
    # the layout of version 4: W of the shift had two columns, response and missing flag
    old = {
        **state,
        "format": 4,
        "guides": [
            {key: value[..., :2] if SHIFT_WEIGHT in key else value for key, value in guide.items()}
            for guide in state["guides"]
        ],
    }
    site = f"net.{SHIFT_WEIGHT}"
    migrated, current = SynergyBNN.from_state(old), SynergyBNN.from_state(state)
    draws = migrated.posterior_draws(64)[site]  # (S, R, 3)
    assert draws.shape[-1] == 3 and draws[..., 2].abs().max() < 1e-4
    for before, after in zip(current.posterior.guides, migrated.posterior.guides, strict=True):
        loc, scale = before.loc_and_scale(site)
        loc_then, scale_then = after.loc_and_scale(site)
        assert torch.equal(loc_then[..., :2], loc[..., :2])
        assert torch.allclose(scale_then[..., :2], scale[..., :2])
    predicted = migrated.predict(make_demo_screen().table.head(5), 8)["mean"]
    assert np.isfinite(predicted).all()


def test_a_run_without_a_table_refuses_one_at_predict(tmp_path, capsys):
    run_dir = tmp_path / "run"
    assert main(["fit", *FEW, "--out", str(run_dir)]) == 0
    assert not (run_dir / "monotherapy.csv").exists()
    demo_table().to_csv(tmp_path / "mono.csv", index=False)
    pairs = make_demo_screen().table.head(2)[["drug_a", "drug_b", "cell_line"]]
    pairs.to_csv(tmp_path / "pairs.csv", index=False)
    args = ["predict", "--run", run_dir, "--pairs", tmp_path / "pairs.csv"]
    one_line_error(
        *run([*args, "--monotherapy", tmp_path / "mono.csv"], capsys),
        "--monotherapy",
        "fitted without single-agent responses",
    )


def test_new_drugs_at_predict_take_a_new_tables_values(tmp_path):
    table = combos()
    table.to_csv(tmp_path / "screen.csv", index=False)
    drugs = pd.DataFrame({"drug": list(SMILES)[:4], "smiles": list(SMILES.values())[:4]})
    drugs.to_csv(tmp_path / "drugs.csv", index=False)
    mono = pd.DataFrame({"drug": ["ethanol", "benzene"], "cell_line": "L1", "ri": [10.0, 30.0]})
    mono.to_csv(tmp_path / "mono.csv", index=False)
    run_dir = tmp_path / "run"
    options = ["--data", tmp_path / "screen.csv", "--drugs", tmp_path / "drugs.csv"]
    options += ["--monotherapy", tmp_path / "mono.csv", "--n-bits", "64", "--rank", "4"]
    assert main(["fit", *map(str, [*options, *FEW, "--out", run_dir])]) == 0
    new_drug = pd.DataFrame({"drug": ["aspirin"], "smiles": [SMILES["aspirin"]]})
    new_drug.to_csv(tmp_path / "new_drugs.csv", index=False)
    missing = prediction_model(run_dir, drugs=tmp_path / "new_drugs.csv").features
    assert torch.isnan(missing.monotherapy[missing.drugs.index("aspirin")]).all()
    pd.DataFrame({"drug": ["aspirin"], "cell_line": ["L2"], "ri": [20.0]}).to_csv(
        tmp_path / "new_mono.csv", index=False
    )
    given = prediction_model(
        run_dir, drugs=tmp_path / "new_drugs.csv", monotherapy=tmp_path / "new_mono.csv"
    ).features
    row = given.monotherapy[given.drugs.index("aspirin")]
    assert torch.isnan(row[0]) and row[1].item() == pytest.approx(0.0, abs=1e-6)
    table = SingleAgentTable(tmp_path / "new_mono.csv", "ri", "higher")
    same = prediction_model(run_dir, drugs=tmp_path / "new_drugs.csv", monotherapy=table)
    assert torch.equal(torch.isnan(same.features.monotherapy), torch.isnan(given.monotherapy))
    assert torch.allclose(same.features.monotherapy.nan_to_num(), given.monotherapy.nan_to_num())
    with pytest.raises(DataError, match="not in the run's drugs"):
        prediction_model(run_dir, monotherapy=tmp_path / "new_mono.csv")


# ------------------------------------------------------------------ fuzz

CASES = 40


def corrupt_single_agents(table: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """One random fault in a single-agent table (as text, as read from a file)."""
    table = table.astype(object).copy()
    row = int(rng.integers(len(table)))
    kind = int(rng.integers(9))
    if kind == 0:
        table.loc[row, "ri"] = str(rng.choice(["", "abc", "inf", "-inf", "1e400", " 7 ", "nan"]))
    elif kind == 1:
        table.loc[row, str(rng.choice(["drug", "cell_line"]))] = str(
            rng.choice(["", " D01 ", "d01", "D99", "C9"])
        )
    elif kind == 2:
        extra = table.iloc[[row]].copy()
        if rng.random() < 0.5:
            extra["ri"] = float(extra["ri"].iloc[0]) + 1
        table = pd.concat([table, extra], ignore_index=True)
    elif kind == 3:
        table = table.drop(columns=str(rng.choice(table.columns)))
    elif kind == 4:
        table[str(rng.choice(["auc", "drug_name", "n_replicates", "notes"]))] = [
            str(rng.choice(["1.5", "x", "3"])) for _ in range(len(table))
        ]
    elif kind == 5:
        table = table.rename(columns={"ri": str(rng.choice(["RI", "ic50", "Inhibition", "y"]))})
    elif kind == 6:
        table = table.sample(frac=float(rng.uniform(0, 0.2)), random_state=int(rng.integers(99)))
    elif kind == 7:
        table.loc[row, "ri"] = np.nan
    return table


@pytest.mark.parametrize("case", range(CASES))
def test_a_faulty_table_is_a_screen_of_finite_known_values_or_one_line(tmp_path, case):
    rng = np.random.default_rng([case, 30])
    table = corrupt_single_agents(demo_table(rng), rng)
    path = tmp_path / "mono.csv"
    table.to_csv(path, index=False)
    screen = make_demo_screen()
    try:
        screen = attach_monotherapy(screen, path)
    except UserError as err:
        assert str(err).strip() and "\n" not in str(err).strip()
        assert str(path) in str(err) or "monotherapy" in str(err)
        return
    tidy = screen.monotherapy
    assert np.isfinite(tidy["value"]).all() and len(tidy)
    assert not tidy.duplicated(["drug", "cell_line"]).any()
    assert set(tidy["drug"]) <= set(screen.drugs)
    assert set(tidy["cell_line"]) <= set(screen.cell_lines)
    merged = merge_monotherapy(tidy, tidy, ("a", "b"))  # a table agrees with itself
    assert len(merged) == len(tidy)
