"""DrugComb and DrugCombDB exports fit with one option each: small tables written here in
each native layout (no copied data), names cleaned, what was dropped counted."""

from __future__ import annotations

import json
import urllib.request

import numpy as np
import pandas as pd
import pytest

from synergy_ppl.cli import main
from synergy_ppl.data import load_screen
from synergy_ppl.data.aggregates import name_key
from synergy_ppl.errors import OptionError

SMILES = {
    "Erlotinib": "COCCOC1=C(C=C2C(=C1)C(=NC=N2)NC3=CC=CC(=C3)C#C)OCCOC",
    "Gefitinib": "COC1=C(C=C2C(=C1)N=CN=C2NC3=CC(=C(C=C3)F)Cl)OCCCN4CCOCC4",
    "Aspirin": "CC(=O)OC1=CC=CC=C1C(=O)O",
    "Caffeine": "CN1C=NC2=C1C(=O)N(C(=O)N2C)C",
    "Ibuprofen": "CC(C)CC1=CC=C(C=C1)C(C)C(=O)O",
}
TINY = ["--rank", "8", "--n-bits", "64"]
TINY += ["--epochs", "3", "--num-samples", "10", "--quiet"]


def pairs(rng, lines=("MCF7", "A549")):
    names = list(SMILES)
    return [
        (a, b, line, *rng.normal(5, 10, 4))
        for line in lines
        for i, a in enumerate(names)
        for b in names[i + 1 :]
    ]


@pytest.fixture
def drugcomb(tmp_path):
    """A DrugComb summary export: two studies, a single-drug row, a non-finite Loewe score,
    a salt-suffixed and upper-cased name, a drug without SMILES."""
    rng = np.random.default_rng(0)
    rows = [(*r, "ONEIL" if i % 2 else "ALMANAC") for i, r in enumerate(pairs(rng))]
    table = pd.DataFrame(
        rows,
        columns=[
            "drug_row",
            "drug_col",
            "cell_line_name",
            "synergy_zip",
            "synergy_bliss",
            "synergy_loewe",
            "synergy_hsa",
            "study_name",
        ],
    )
    table["block_id"] = range(len(table))
    table["S_mean"], table["S_max"] = table["synergy_hsa"] / 2, table["synergy_hsa"]
    table.loc[0, "drug_row"] = "ERLOTINIB HYDROCHLORIDE"
    table.loc[1, "synergy_loewe"] = -np.inf
    extra = table.iloc[[2, 3]].copy()
    extra["drug_col"] = [np.nan, "Unlisted"]
    table = pd.concat([table, extra], ignore_index=True)
    table.to_csv(tmp_path / "summary.csv", index=False)
    drugs = pd.DataFrame(
        {
            "id": range(len(SMILES) + 1),
            "dname": [*SMILES, "Unlisted"],
            "smiles": [
                *(f"{s};CCO" if i == 0 else s for i, s in enumerate(SMILES.values())),
                "NULL",
            ],
        }
    )
    drugs.to_csv(tmp_path / "drugs.csv", index=False)
    return tmp_path / "summary.csv"


@pytest.fixture
def drugcombdb(tmp_path):
    """DrugCombDB's drugcombs_scored.csv and drug_chemical_info.csv, names as DrugCombDB
    writes them (lower case in the table)."""
    rng = np.random.default_rng(1)
    table = pd.DataFrame(
        [(i, r[0].lower(), r[1].lower(), *r[2:]) for i, r in enumerate(pairs(rng))],
        columns=["ID", "Drug1", "Drug2", "Cell line", "ZIP", "Bliss", "Loewe", "HSA"],
    )
    table.to_csv(tmp_path / "drugcombs_scored.csv", index=False)
    pd.DataFrame(
        {
            "drugName": list(SMILES),
            "cIds": [f"CIDs{i:08d}" for i in range(len(SMILES))],
            "drugNameOfficial": list(SMILES),
            "molecularWeight": 1.0,
            "smilesString": list(SMILES.values()),
        }
    ).to_csv(tmp_path / "drug_chemical_info.csv", index=False)
    return tmp_path / "drugcombs_scored.csv"


def test_a_drugcomb_export_fits_with_one_option(drugcomb, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["fit", "--data", f"drugcomb:{drugcomb}", *TINY, "--out", str(out)]) == 0
    data = json.loads((out / "metrics.json").read_text())["data"]
    assert data["format"] == "drugcomb" and data["score_column"] == "synergy_zip"
    assert data["dropped_rows"] == {"single_drug": 1, "missing_smiles": 1}
    assert data["drug_names_cleaned"] == 1  # ERLOTINIB HYDROCHLORIDE -> Erlotinib
    assert data["rows_in_file"] == 22 and data["rows_read"] == data["triples"] == 20
    assert data["replicate_rows_averaged"] == 0
    assert "score column 'synergy_zip'" in capsys.readouterr().out
    screen = pd.read_csv(out / "screen.csv")
    assert "ERLOTINIB HYDROCHLORIDE" not in set(screen["drug_a"]) | set(screen["drug_b"])


def test_drugcomb_score_and_study_pick_the_target_rows(drugcomb):
    loewe = load_screen(f"drugcomb:{drugcomb}", score="loewe", study="oneil")
    assert loewe.report["score_column"] == "synergy_loewe"
    assert loewe.report["dropped_rows"]["non_finite_or_extreme_score"] == 1
    assert loewe.report["dropped_rows"]["other_studies"] == 11
    raw = pd.read_csv(drugcomb)
    oneil = raw[(raw["study_name"] == "ONEIL") & np.isfinite(raw["synergy_loewe"])]
    assert sorted(loewe.table["score"].round(6)) == sorted(
        oneil.dropna(subset=["drug_col"]).query("drug_col != 'Unlisted'")["synergy_loewe"].round(6)
    )


@pytest.mark.parametrize(
    ("options", "needle"),
    [
        (["--score", "css"], "--score css"),
        (["--study", "NOPE"], "no rows of study 'NOPE'"),
    ],
)
def test_a_wrong_score_or_study_is_one_line(drugcomb, tmp_path, capsys, options, needle):
    args = ["fit", "--data", f"drugcomb:{drugcomb}", *TINY, *options, "--out", str(tmp_path / "r")]
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and needle in err[0]


def test_a_drugcombdb_export_fits_with_one_option(drugcombdb, tmp_path):
    out = tmp_path / "run"
    args = ["fit", "--data", f"drugcombdb:{drugcombdb}", "--score", "bliss", *TINY]
    assert main([*args, "--out", str(out)]) == 0
    data = json.loads((out / "metrics.json").read_text())["data"]
    assert data["score_column"] == "Bliss" and data["drug_names_cleaned"] == 5
    assert data["triples"] == 20 and not data["dropped_rows"]


def test_a_table_in_the_wrong_layout_says_which_columns_it_lacks(drugcombdb, tmp_path, capsys):
    args = ["fit", "--data", f"drugcomb:{drugcombdb}", *TINY, "--out", str(tmp_path / "r")]
    assert main(args) == 2
    assert "not a drugcomb export" in capsys.readouterr().err


def test_a_plain_table_with_native_column_names_needs_no_columns_option(drugcombdb, tmp_path):
    scored = pd.read_csv(drugcombdb)
    scored["Drug1"], scored["Drug2"] = scored["Drug1"].str.title(), scored["Drug2"].str.title()
    scored.drop(columns=["Bliss", "Loewe"]).to_csv(tmp_path / "plain.csv", index=False)
    pd.DataFrame({"drug": list(SMILES), "smiles": list(SMILES.values())}).to_csv(
        tmp_path / "d.csv", index=False
    )
    screen = load_screen(str(tmp_path / "plain.csv"), drugs=tmp_path / "d.csv")
    assert screen.report["score_column"] == "ZIP" and len(screen.table) == 20
    hsa = load_screen(str(tmp_path / "plain.csv"), drugs=tmp_path / "d.csv", score="HSA")
    assert hsa.report["score_column"] == "HSA"


def test_name_key_cleans_case_spacing_and_salts():
    assert name_key(" Imatinib  Mesylate") == name_key("imatinib") == "imatinib"
    assert name_key("Sodium") == "sodium"  # a name that is only a salt word stays


def test_download_of_an_aggregate_offline_says_where_to_put_it(tmp_path, capsys, monkeypatch):
    def offline(*args, **kwargs):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    for name, file in (("drugcomb", "summary_v_1_5.csv"), ("drugcombdb", "drugcombs_scored.csv")):
        assert main(["download", name, "--data-dir", str(tmp_path)]) == 2
        err = capsys.readouterr().err
        assert "Offline?" in err and str(tmp_path / name / file) in err


def test_a_downloaded_aggregate_loads_by_name(drugcombdb, tmp_path):
    root = tmp_path / "data"
    (root / "drugcombdb").mkdir(parents=True)
    for name in ("drugcombs_scored.csv", "drug_chemical_info.csv"):
        (root / "drugcombdb" / name).write_bytes((drugcombdb.parent / name).read_bytes())
    screen = load_screen("drugcombdb", data_dir=root)
    assert len(screen.table) == 20
    with pytest.raises(Exception, match="download drugcomb"):
        load_screen("drugcomb", data_dir=root)


def test_study_and_score_name_what_they_are_for():
    with pytest.raises(OptionError, match="^study keeps one study of a DrugComb export"):
        load_screen("demo", study="ONEIL")
    with pytest.raises(OptionError, match="^score picks"):
        load_screen("demo", score="zip")
