"""Single-agent responses as an input: the two shared tables load oriented and with their
coverage; every bad table is one line on the command line and a UserError in Python; a
DrugComb export brings its own (runs, features and a fuzz: test_monotherapy_runs.py)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch
from cli_helpers import one_line_error, run
from monotherapy_tables import FEW, SMILES, combos, demo_table

from synergy_ppl.data import (
    DataConfig,
    SingleAgentTable,
    attach_monotherapy,
    load_screen,
    make_demo_screen,
    monotherapy_from_frame,
    screen_from_frame,
    single_agent_table,
)
from synergy_ppl.data.features import build_features
from synergy_ppl.errors import DataError, OptionError, UserError

# ------------------------------------------------------------------ the shared tables


def test_oneil_relative_inhibition_covers_every_drug_in_every_line(shared_data):
    screen = load_screen(
        "oneil", data_dir=shared_data, monotherapy=shared_data / "oneil" / "monotherapy.csv"
    )
    info = screen.monotherapy_info
    assert (info["column"], info["direction"], info["transform"]) == ("ri", "higher", "none")
    raw = pd.read_csv(shared_data / "oneil" / "monotherapy.csv")
    mine = screen.monotherapy.merge(raw, on=["drug", "cell_line"])
    assert len(mine) == len(raw) == 38 * 39
    assert np.allclose(mine["value"], mine["ri"])  # higher = more active, as given
    features = build_features(screen, n_bits=0, cell_components=0)
    assert features.monotherapy.shape == (38, 39)
    assert features.monotherapy.dtype == torch.float32
    assert torch.isfinite(features.monotherapy).all()
    z = features.monotherapy.double()
    assert abs(z.mean().item()) < 1e-4 and abs(z.std(unbiased=False).item() - 1) < 1e-4
    scaling = features.monotherapy_info
    assert math.isclose(scaling["mean"], raw["ri"].mean())
    assert math.isclose(scaling["sd"], raw["ri"].std(ddof=0))
    assert screen.report["monotherapy"]["entries"] == 38 * 39


def test_almanac_gi50_is_partial_and_the_rest_stays_missing(shared_data):
    path = shared_data / "almanac" / "monotherapy_gi50.csv"
    screen = load_screen("almanac", data_dir=shared_data, monotherapy=path)
    info = screen.monotherapy_info
    assert (info["column"], info["direction"]) == ("neg_log10_gi50", "higher")
    features = build_features(screen, n_bits=0, cell_components=0)
    matrix = features.monotherapy
    assert matrix.shape == (87, 55)
    finite = torch.isfinite(matrix)
    assert int(finite.any(dim=1).sum()) == 59 and bool(finite.any(dim=0).all())
    assert int(finite.sum()) == 3150  # every row of the table; the 28 other drugs all NaN
    raw = pd.read_csv(path, dtype={"drug": str})
    row = raw.iloc[0]
    i, j = features.drugs.index(row["drug"]), features.cell_lines.index(row["cell_line"])
    scaling = features.monotherapy_info
    expected = (row["neg_log10_gi50"] - scaling["mean"]) / scaling["sd"]
    assert matrix[i, j].item() == pytest.approx(expected, abs=1e-5)
    one_line = load_screen("almanac", data_dir=shared_data, monotherapy=path, cell_line="MCF7")
    in_mcf7 = (raw["cell_line"] == "MCF7") & raw["drug"].isin(one_line.drugs)
    assert one_line.report["monotherapy"]["entries"] == int(in_mcf7.sum())  # of the line kept
    assert len(one_line.monotherapy) == len(raw)  # the table itself is kept whole


# ------------------------------------------------------------------ value columns


@pytest.mark.parametrize(
    "column, values, direction, expected",
    [
        ("IC50 (uM)", [0.1, 10.0], None, [1.0, -1.0]),
        ("gi50", [1e-6, 1e-4], None, [6.0, 4.0]),
        ("pIC50", [5.0, 7.5], None, [5.0, 7.5]),
        ("viability", [80.0, 20.0], "lower", [-80.0, -20.0]),
        ("auc", [0.3, 0.9], "higher", [0.3, 0.9]),
    ],
)
def test_the_value_is_oriented_higher_is_more_active(column, values, direction, expected):
    frame = pd.DataFrame({"drug": ["a", "b"], "cell_line": "L", column: values})
    tidy, info = monotherapy_from_frame(frame, direction=direction)
    assert tidy["value"].tolist() == pytest.approx(expected)
    assert info["column"] == column


def test_bookkeeping_columns_are_not_candidates_and_two_numeric_ones_are_refused():
    frame = pd.DataFrame(
        {
            "drug": ["1", "2"],
            "drug_name": ["x", "y"],
            "cell_line": "L",
            "neg_log10_gi50": [5.0, 6.0],
            "gi50_nsc": [752, 753],
            "nsc_source": ["almanac_nsc", "fallback_nsc"],
            "n_blocks": [3, 4],
        }
    )
    assert monotherapy_from_frame(frame)[1]["column"] == "neg_log10_gi50"
    two = frame.assign(auc=[0.1, 0.2])
    with pytest.raises(OptionError, match=r"'neg_log10_gi50', 'auc'.*monotherapy_column"):
        monotherapy_from_frame(two)
    assert monotherapy_from_frame(two, column="auc", direction="higher")[0]["value"].tolist() == [
        0.1,
        0.2,
    ]
    unknown = pd.DataFrame({"drug": ["a"], "cell_line": "L", "score_x": [1.0], "score_y": [2.0]})
    with pytest.raises(OptionError, match=r"'score_x', 'score_y'"):
        monotherapy_from_frame(unknown, direction="higher")


def test_a_blank_value_is_a_missing_entry_and_an_exact_repeat_is_kept_once():
    frame = pd.DataFrame(
        {"drug": ["a", "a", "b", "c"], "cell_line": "L", "ri": ["10", "10.0", "", "nan"]}
    )
    tidy, info = monotherapy_from_frame(frame)
    assert tidy["drug"].tolist() == ["a"] and info["blank_values"] == 2


# ------------------------------------------------------------------ bad tables

BAD_TABLES = {
    "unknown drug": (
        lambda t: t.assign(drug=t["drug"].where(t.index != 5, "D99")),
        ["D99", "data row 6", "'drug'"],
    ),
    "unknown line": (
        lambda t: t.assign(cell_line=t["cell_line"].where(t.index != 3, "C9")),
        ["C9", "data row 4", "'cell_line'"],
    ),
    "disagreeing repeat": (
        lambda t: pd.concat([t, t.iloc[[2]].assign(ri=99.5)], ignore_index=True),
        ["two values", "data row 3", "data row 97", "'ri'"],
    ),
    "non-numeric": (
        lambda t: t.assign(ri=t["ri"].astype(object).where(t.index != 7, "high")),
        ["'high' is not a number", "data row 8", "'ri'"],
    ),
    "infinite": (
        lambda t: t.assign(ri=t["ri"].where(t.index != 7, np.inf)),
        ["is infinite", "data row 8"],
    ),
    "no value column": (lambda t: t.drop(columns="ri"), ["no value column"]),
    "no drug column": (lambda t: t.rename(columns={"drug": "compound"}), ["missing ['drug']"]),
    "unknown value name": (lambda t: t.rename(columns={"ri": "effect"}), ["'effect'", "higher"]),
    "non-positive concentration": (
        lambda t: t.rename(columns={"ri": "ic50"}).assign(
            ic50=lambda f: (f["ic50"].abs() + 1).where(f.index != 4, 0.0)
        ),
        ["not > 0", "data row 5", "'ic50'"],
    ),
}


@pytest.mark.parametrize("fault", list(BAD_TABLES))
def test_a_bad_table_is_one_line_on_the_command_line(tmp_path, capsys, fault):
    corrupt, needles = BAD_TABLES[fault]
    corrupt(demo_table()).to_csv(tmp_path / "bad.csv", index=False)
    args = ["fit", "--monotherapy", tmp_path / "bad.csv", *FEW, "--out", tmp_path / "run"]
    one_line_error(*run(args, capsys), "bad.csv", *needles)
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("fault", list(BAD_TABLES))
def test_a_bad_table_is_a_user_error_in_python(fault):
    corrupt, needles = BAD_TABLES[fault]
    with pytest.raises(UserError) as caught:
        attach_monotherapy(make_demo_screen(), corrupt(demo_table()), source="mine")
    message = str(caught.value)
    assert "\n" not in message and message.startswith("mine")
    for needle in needles:
        assert needle in message


def test_a_table_that_covers_none_of_the_screen_is_refused(tmp_path, capsys):
    demo_table()[lambda t: t["cell_line"] == "C1"].to_csv(tmp_path / "c1.csv", index=False)
    args = ["fit", "--monotherapy", tmp_path / "c1.csv", "--cell-line", "C0", *FEW]
    one_line_error(*run([*args, "--out", tmp_path / "r"], capsys), "c1.csv", "none of its")
    # in Python: a table of a drug the drug table knows and the combinations do not name
    only = pd.DataFrame({"drug": ["aspirin"], "cell_line": ["L1"], "ri": [5.0]})
    with pytest.raises(DataError, match="none of its 1 single-agent value"):
        screen_from_frame(combos(), SMILES, monotherapy=only)


@pytest.mark.parametrize(
    "options, needle",
    [
        (["--monotherapy-column", "ri"], "--monotherapy-column"),
        (["--monotherapy-direction", "up"], "invalid choice"),
    ],
)
def test_a_monotherapy_option_without_a_table_or_out_of_range_is_one_line(
    tmp_path, capsys, options, needle
):
    one_line_error(*run(["fit", *options, *FEW, "--out", tmp_path / "r"], capsys), needle)
    with pytest.raises(OptionError, match="monotherapy_direction"):
        DataConfig(monotherapy="x.csv", monotherapy_direction="up")
    with pytest.raises(OptionError, match="monotherapy_column"):
        DataConfig(monotherapy_column="ri")


@pytest.mark.parametrize(
    "given, option",
    [
        ({"path": " "}, "monotherapy"),
        ({"path": "x.csv", "column": " "}, "monotherapy_column"),
        ({"path": "x.csv", "direction": "up"}, "monotherapy_direction"),
        ({"path": 3}, "monotherapy"),
    ],
)
def test_a_single_agent_table_refuses_a_bad_option_naming_it(given, option):
    with pytest.raises(OptionError, match=option) as caught:
        SingleAgentTable(**given)
    assert caught.value.parameters == (option,)


def test_a_single_agent_table_of_options_or_a_path_loads_as_the_path(tmp_path):
    path = tmp_path / "mono.csv"
    demo_table().to_csv(path, index=False)
    table = SingleAgentTable(path, "ri", "higher")
    assert single_agent_table(path, "ri", "higher") == table
    assert single_agent_table(table) is table and single_agent_table(None) is None
    with pytest.raises(OptionError, match="no monotherapy table is given"):
        single_agent_table(None, direction="higher")
    with pytest.raises(OptionError, match="not SingleAgentTable"):
        single_agent_table(table, "ri")
    config = DataConfig(monotherapy=str(path), monotherapy_column="ri")
    assert config.monotherapy_table() == SingleAgentTable(str(path), "ri")
    assert DataConfig().monotherapy_table() is None
    by_path, by_table = load_screen("demo", monotherapy=path), config.load()
    pd.testing.assert_frame_equal(by_table.monotherapy, by_path.monotherapy)
    assert by_table.report["monotherapy"] == by_path.report["monotherapy"]
    tidy, info = table.read(drugs=by_path.drugs, cell_lines=by_path.cell_lines)
    pd.testing.assert_frame_equal(tidy, by_path.monotherapy)
    assert info == by_path.monotherapy_info


def test_a_name_contradicting_the_direction_or_an_absent_column_is_refused():
    frame = demo_table()
    with pytest.raises(OptionError, match="higher = more active by its name"):
        attach_monotherapy(make_demo_screen(), frame, direction="lower")
    with pytest.raises(OptionError, match="'auc' is not one of its value columns"):
        attach_monotherapy(make_demo_screen(), frame, column="auc")


# ------------------------------------------------------------------ DrugComb exports


def drugcomb_export(tmp_path, value_columns=("ri", "ic50")) -> str:
    """A DrugComb summary with per-block single-agent columns: two blocks hold ethanol in
    L1 (RI 10 and 30: the median 20), a salt-suffixed name, a single-drug row."""
    table = combos()
    table = table.rename(
        columns={"drug_a": "drug_row", "drug_b": "drug_col", "cell_line": "cell_line_name"}
    )
    table = table.rename(columns={"synergy": "synergy_zip"})
    rng = np.random.default_rng(2)
    for kind in value_columns:
        for side in ("row", "col"):
            table[f"{kind}_{side}"] = np.round(rng.uniform(1, 50, len(table)), 3)
    if "ri" in value_columns:
        ethanol = (table["drug_row"] == "ethanol") & (table["cell_line_name"] == "L1")
        table.loc[ethanol, "ri_row"] = [10.0, 30.0, 20.0][: int(ethanol.sum())]
    table.loc[0, "drug_row"] = "ETHANOL HYDROCHLORIDE"
    single = table.iloc[[0]].assign(drug_col=np.nan, synergy_zip=np.nan)
    if "ri" in value_columns:
        single["ri_row"] = 20.0  # a single-drug row of ethanol in L1: 10, 30, 20, 20
    table = pd.concat([table, single], ignore_index=True)
    table.to_csv(tmp_path / "summary.csv", index=False)
    drugs = pd.DataFrame({"dname": list(SMILES), "smiles": list(SMILES.values())})
    drugs.to_csv(tmp_path / "drugs.csv", index=False)
    return f"drugcomb:{tmp_path / 'summary.csv'}"


def test_a_drugcomb_export_brings_its_relative_inhibition(tmp_path):
    screen = load_screen(drugcomb_export(tmp_path))
    info = screen.monotherapy_info
    assert (info["column"], info["direction"], info["transform"]) == ("ri", "higher", "none")
    single = screen.monotherapy.set_index(["drug", "cell_line"])["value"]
    assert single[("ethanol", "L1")] == 20.0  # the median over its blocks, names cleaned
    assert set(single.index) == {(d, c) for d in screen.drugs for c in ("L1", "L2")}
    assert screen.report["monotherapy"]["entries"] == 8


def test_a_drugcomb_export_without_ri_takes_log_ic50_and_without_either_none(tmp_path):
    screen = load_screen(drugcomb_export(tmp_path, ("ic50",)))
    assert screen.monotherapy_info["column"] == "ic50"
    assert screen.monotherapy_info["transform"] == "log10"
    assert (screen.monotherapy["value"] < 0).all()  # -log10 of IC50s from 1 to 50
    assert load_screen(drugcomb_export(tmp_path, ())).monotherapy is None
