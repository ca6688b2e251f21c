"""screen_from_frame: a screen from tables in memory passes the same checks as one from files."""

import pandas as pd
import pytest

from synergy_ppl.data import DataError, Screen, load_screen, screen_from_frame
from synergy_ppl.errors import OptionError

SMILES = {"A": "CCO", "B": "CC(=O)O", "C": "c1ccccc1"}


def combos(**overrides) -> pd.DataFrame:
    base = {
        "drug_a": ["A", "B", "A", "C", " C "],
        "drug_b": ["B", "A", "C", "B", "A"],
        "cell_line": ["X", "X", "X", "Y", "Y"],
        "synergy": [1.0, 3.0, 5.5, -7.25, 0.1],
        "fold": [0, 0, 1, 2, 2],
    }
    base.update(overrides)
    return pd.DataFrame(base)


def drug_table(smiles: dict = SMILES) -> pd.DataFrame:
    return pd.DataFrame({"drug": list(smiles), "smiles": list(smiles.values())})


def cells(names=("X", "Y")) -> pd.DataFrame:
    frame = pd.DataFrame({"g1": range(len(names)), "g2": [0.5] * len(names)}, index=list(names))
    return frame.rename_axis("cell_line")


def from_files(tmp_path, table, drugs, cell=None, columns=None) -> Screen:
    """The same inputs written to files and loaded as the command line does."""
    table.to_csv(tmp_path / "screen.csv", index=False)
    drugs.to_csv(tmp_path / "drugs.csv", index=False)
    if cell is not None:
        cell.to_csv(tmp_path / "cells.csv")
    return load_screen(
        str(tmp_path / "screen.csv"),
        drugs=tmp_path / "drugs.csv",
        cell_features=None if cell is None else tmp_path / "cells.csv",
        column_map=columns,
    )


def test_builds_from_a_frame_and_a_dict():
    screen = screen_from_frame(combos(), SMILES, name="mine")
    assert isinstance(screen, Screen) and screen.name == "mine"
    assert screen.n_rows_read == 5
    assert screen.drugs == ["A", "B", "C"] and screen.cell_lines == ["X", "Y"]
    assert (screen.table["drug_a"] <= screen.table["drug_b"]).all()
    ab = screen.table[(screen.table.drug_a == "A") & (screen.table.drug_b == "B")]
    assert ab["score"].item() == 2.0 and ab["n_replicates"].item() == 2
    assert screen.smiles == SMILES and screen.cell_features is None


def test_a_drug_table_frame_and_a_series_give_the_same_screen():
    by_dict = screen_from_frame(combos(), SMILES)
    for smiles in (drug_table(), pd.Series(SMILES)):
        other = screen_from_frame(combos(), smiles)
        pd.testing.assert_frame_equal(other.table, by_dict.table)
        assert other.smiles == by_dict.smiles


def test_numeric_names_become_strings():
    table = pd.DataFrame(
        {"drug_a": [1, 2], "drug_b": [2, 3], "cell_line": [7, 7], "score": [1.0, 2.0]}
    )
    screen = screen_from_frame(table, {1: "CCO", 2: "CCN", 3: "CCC"})
    assert screen.drugs == ["1", "2", "3"] and screen.cell_lines == ["7"]
    assert screen.smiles == {"1": "CCO", "2": "CCN", "3": "CCC"}


def test_same_screen_as_from_csv_files(tmp_path):
    columns = {"score": "loewe", "drug_a": "first"}
    table = combos().rename(columns={"synergy": "loewe", "drug_a": "first"})
    table.loc[len(table)] = ["000", "B", "X", 4.0, 1]  # a name that a number reader would spoil
    smiles = {**SMILES, "000": "CCN"}
    expected = from_files(tmp_path, table, drug_table(smiles), cells(), columns)
    screen = screen_from_frame(table, smiles, cells(), columns)
    pd.testing.assert_frame_equal(screen.table, expected.table)
    pd.testing.assert_frame_equal(screen.cell_features, expected.cell_features)
    assert screen.smiles == expected.smiles and screen.n_rows_read == expected.n_rows_read
    assert "fold" in screen.table.columns
    without = screen_from_frame(table, smiles, columns=columns, keep_fold=False)
    assert "fold" not in without.table.columns


def test_inputs_are_not_changed():
    table, cell = combos(), cells([" X", "Y "])
    before_table, before_cell = table.copy(), cell.copy()
    screen = screen_from_frame(table, drug_table(), cell)
    pd.testing.assert_frame_equal(table, before_table)
    pd.testing.assert_frame_equal(cell, before_cell)
    assert list(screen.cell_features.index) == ["X", "Y"]


CONFLICT = {"drug": ["A", "B", "C", "A"], "smiles": ["CCO", "CC(=O)O", "c1ccccc1", "CCC"]}


@pytest.mark.parametrize(
    "table, drugs, cell, columns, error, message",
    [
        (combos().drop(columns="synergy"), None, None, None, DataError, r"missing column"),
        (combos(drug_b=["B", "A", "C", "Z", "A"]), None, None, None, DataError, r"no SMILES"),
        (combos(), CONFLICT, None, None, DataError, r"'A' is listed twice.*rows 1 and 4"),
        (combos(synergy=[1, None, 2, 3, 4]), None, None, None, DataError, r"NaN.*row 2"),
        (combos(synergy=[1, 2, 3, 4, 1e6]), None, None, None, DataError, r"beyond \+-10000"),
        (combos(synergy=[1, 2, "x", 3, 4]), None, None, None, DataError, r"non-numeric.*row 3"),
        (combos(cell_line=["X", "", "X", "Y", "Y"]), None, None, None, DataError, r"empty"),
        (combos(fold=[0, 0.5, 1, 2, 2]), None, None, None, DataError, r"whole numbers"),
        (combos(fold=[0, 1, 1, 2, 2]), None, None, None, DataError, r"different folds"),
        (combos(), {"drug": ["A", ""], "smiles": ["C", "C"]}, None, None, DataError, r"empty"),
        (combos(), {"name": ["A"], "smiles": ["C"]}, None, None, DataError, r"needs columns"),
        (combos(), None, cells(["X"]), None, DataError, r"absent.*\['Y'\]"),
        (combos(), None, cells(["X", "X", "Y"]), None, DataError, r"more than one row"),
        (combos(), None, cells().assign(g1="a"), None, DataError, r"non-numeric feature"),
        (combos(), None, None, {"synergy": "x"}, OptionError, r"unknown key"),
        (combos(), None, None, {"drug_a": "x", "drug_b": "x"}, OptionError, r"more than one key"),
    ],
)
def test_refuses_what_the_files_refuse(tmp_path, table, drugs, cell, columns, error, message):
    drugs = drug_table() if drugs is None else pd.DataFrame(drugs)
    with pytest.raises(error, match=message) as from_memory:
        screen_from_frame(table, drugs, cell, columns)
    with pytest.raises(error, match=message) as from_file:
        from_files(tmp_path, table, drugs, cell, columns)
    assert type(from_memory.value) is type(from_file.value)


def test_a_dict_with_an_empty_smiles_is_refused_once_used():
    with pytest.raises(DataError, match=r"\['C'\] have an empty SMILES"):
        screen_from_frame(combos(), {**SMILES, "C": None})
    screen_from_frame(
        combos(drug_a=["A"] * 5, drug_b=["B"] * 5, fold=[0] * 5), {**SMILES, "C": None}
    )


@pytest.mark.parametrize(
    "args",
    [
        ("not a table", SMILES),
        (combos(), ["CCO", "CC(=O)O"]),
        (combos(), SMILES, {"X": [1.0]}),
    ],
)
def test_arguments_of_the_wrong_type_are_option_errors(args):
    with pytest.raises(OptionError, match="must be"):
        screen_from_frame(*args)
