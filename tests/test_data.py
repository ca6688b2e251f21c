import numpy as np
import pandas as pd
import pytest
from conftest import needs_extra

from synergy_ppl.data import (
    SPLIT_KINDS,
    DataError,
    canonicalise_and_average,
    load_screen,
    make_demo_screen,
    split_screen,
    standardise_table,
)
from synergy_ppl.data.splits import default_val_fraction
from synergy_ppl.errors import OptionError


def table(**overrides):
    base = {
        "drug_a": ["A", "B", "A", "C"],
        "drug_b": ["B", "A", "C", "B"],
        "cell_line": ["X", "X", "X", "Y"],
        "synergy": [1.0, 3.0, 5.0, 7.0],
    }
    base.update(overrides)
    return pd.DataFrame(base)


def test_oneil_loads_with_folds_and_averages_replicates(shared_data):
    screen = load_screen("oneil", data_dir=shared_data)
    assert screen.n_rows_read == 23052
    assert len(screen.table) == 22737
    assert (screen.table["n_replicates"] > 1).sum() > 0
    assert len(screen.drugs) == 38 and len(screen.cell_lines) == 39
    assert sorted(screen.table["fold"].unique()) == [0, 1, 2, 3, 4]
    assert (screen.table["drug_a"] <= screen.table["drug_b"]).all()
    assert screen.cell_features.shape == (39, 8785)


def test_almanac_canonicalises_both_drug_orders(shared_data):
    screen = load_screen("almanac", data_dir=shared_data)
    assert screen.n_rows_read == 75493
    assert len(screen.table) == 74139  # 1,354 triples listed in both orders
    mcf7 = load_screen("almanac", data_dir=shared_data, cell_line="MCF7")
    assert len(mcf7.table) == 1476
    assert set(mcf7.cell_lines) == {"MCF7"}


def test_replicates_in_both_orders_are_averaged():
    averaged = canonicalise_and_average(standardise_table(table()))
    ab = averaged[(averaged.drug_a == "A") & (averaged.drug_b == "B")]
    assert len(ab) == 1 and ab["score"].item() == 2.0 and ab["n_replicates"].item() == 2
    assert len(averaged) == 3


@pytest.mark.parametrize(
    "bad, message",
    [
        (table().drop(columns="synergy"), "missing column"),
        (table(synergy=[1.0, np.nan, 2.0, 3.0]), "NaN or infinite"),
        (table(synergy=[1.0, np.inf, 2.0, 3.0]), "NaN or infinite"),
        (table(synergy=["1", "x", "2", "3"]), "non-numeric"),
        (table(drug_a=["A", "", "A", "C"]), "empty"),
        (table().iloc[:0], "no rows"),
    ],
)
def test_bad_tables_name_the_problem(bad, message):
    with pytest.raises(DataError, match=message):
        standardise_table(bad, source="screen.csv")


def test_bad_score_error_names_file_row_and_value():
    with pytest.raises(DataError, match=r"screen.csv.*row 2.*'x'"):
        standardise_table(table(synergy=["1", "x", "2", "3"]), source="screen.csv")


@pytest.mark.parametrize(
    "name", ["screen.tsv", pytest.param("screen.parquet", marks=needs_extra("pyarrow"))]
)
def test_user_table_formats_and_column_map(tmp_path, name):
    raw = table().rename(columns={"synergy": "loewe", "drug_a": "d1"})
    drugs = pd.DataFrame({"drug": ["A", "B", "C"], "smiles": ["CCO", "c1ccccc1", "CC(=O)O"]})
    drugs.to_csv(tmp_path / "drugs.csv", index=False)
    if name.endswith(".tsv"):
        raw.to_csv(tmp_path / name, sep="\t", index=False)
    else:
        raw.to_parquet(tmp_path / name)
    screen = load_screen(
        str(tmp_path / name),
        drugs=tmp_path / "drugs.csv",
        column_map={"score": "loewe", "drug_a": "d1"},
    )
    assert len(screen.table) == 3


def test_unknown_drug_without_smiles_is_an_error(tmp_path):
    table().to_csv(tmp_path / "screen.csv", index=False)
    pd.DataFrame({"drug": ["A", "B"], "smiles": ["CCO", "CCN"]}).to_csv(
        tmp_path / "drugs.csv", index=False
    )
    with pytest.raises(DataError, match=r"no SMILES: \['C'\]"):
        load_screen(str(tmp_path / "screen.csv"), drugs=tmp_path / "drugs.csv")


def test_cell_line_missing_from_feature_table_is_an_error(tmp_path):
    table().to_csv(tmp_path / "screen.csv", index=False)
    pd.DataFrame({"drug": ["A", "B", "C"], "smiles": ["CCO", "CCN", "CCC"]}).to_csv(
        tmp_path / "drugs.csv", index=False
    )
    pd.DataFrame({"line": ["X"], "g1": [0.5]}).to_csv(tmp_path / "cells.csv", index=False)
    with pytest.raises(DataError, match=r"absent from the cell-line feature table: \['Y'\]"):
        load_screen(
            str(tmp_path / "screen.csv"),
            drugs=tmp_path / "drugs.csv",
            cell_features=tmp_path / "cells.csv",
        )


def test_missing_built_in_screen_says_how_to_get_it(tmp_path):
    with pytest.raises(DataError, match="download"):
        load_screen("oneil", data_dir=tmp_path)


def test_demo_has_known_truth_and_heavy_tails():
    screen = make_demo_screen(seed=0)
    noise = screen.table["score"] - screen.table["true_score"]
    assert screen.table["true_score"].std() > 3 * noise.std() / 2
    assert np.abs(noise).max() > 4 * noise.std()  # Student-t outliers
    assert (screen.table["drug_a"] < screen.table["drug_b"]).all()


def pairs_of(t, rows):
    return set(zip(t["drug_a"].iloc[rows], t["drug_b"].iloc[rows], strict=True))


def drugs_of(t, rows):
    return set(t["drug_a"].iloc[rows]) | set(t["drug_b"].iloc[rows])


@pytest.fixture(scope="module")
def oneil_table(shared_data):
    return load_screen("oneil", data_dir=shared_data).table


@pytest.mark.parametrize("kind", SPLIT_KINDS)
def test_every_split_is_disjoint_and_leak_free(oneil_table, kind):
    t = oneil_table
    split = split_screen(t, kind, seed=3, test_fold=0)
    train, val, test = split.train, split.val, split.test
    assert len(np.intersect1d(train, test)) == 0 and len(np.intersect1d(train, val)) == 0
    assert len(train) + len(val) + len(test) + split.dropped == len(t)
    if kind in ("pair", "fold"):
        assert not pairs_of(t, train) & pairs_of(t, test)
    if kind == "drug":
        assert not drugs_of(t, train) & (drugs_of(t, test) - drugs_of(t, train))
        hidden = drugs_of(t, test) - drugs_of(t, train)
        assert hidden and all(a in hidden or b in hidden for a, b in pairs_of(t, test))
    if kind == "one-hidden-drug":
        seen = drugs_of(t, np.concatenate([train, val]))
        unseen = [(a not in seen) + (b not in seen) for a, b in pairs_of(t, test)]
        assert set(unseen) == {1}
    if kind == "cell-line":
        assert not set(t["cell_line"].iloc[train]) & set(t["cell_line"].iloc[test])
    if kind == "fold":
        assert (t["fold"].iloc[test] == 0).all() and (t["fold"].iloc[train] != 0).all()


def test_split_depends_only_on_split_seed(oneil_table):
    a = split_screen(oneil_table, "pair", seed=1)
    b = split_screen(oneil_table, "pair", seed=1)
    c = split_screen(oneil_table, "pair", seed=2)
    assert np.array_equal(a.test, b.test) and np.array_equal(a.val, b.val)
    assert not np.array_equal(a.test, c.test)


def test_validation_holds_out_a_tenth_raised_to_300_rows_on_a_small_screen(oneil_table):
    # O'Neil: a tenth of the rest is well over 300 rows
    big = split_screen(oneil_table, "pair", seed=0)
    rest = len(big.train) + len(big.val)
    assert len(big.val) == pytest.approx(0.1 * rest, rel=0.05)
    assert np.array_equal(big.val, split_screen(oneil_table, "pair", val_fraction=0.1).val)
    # one line: a quarter of the rest, the cap (300 rows would be more), the same test rows
    line = oneil_table[oneil_table["cell_line"] == oneil_table["cell_line"].iloc[0]]
    small, tenth = split_screen(line, "pair"), split_screen(line, "pair", val_fraction=0.1)
    n_rest = len(small.train) + len(small.val)
    assert n_rest * 0.25 < 300
    assert len(small.val) == pytest.approx(0.25 * n_rest, rel=0.1)
    assert len(tenth.val) == pytest.approx(0.1 * n_rest, rel=0.1)
    assert np.array_equal(small.test, tenth.test)
    # between: 300 rows
    assert default_val_fraction(2000) == pytest.approx(0.15)
    assert default_val_fraction(100_000) == 0.1 and default_val_fraction(50) == 0.25


def test_fold_split_errors(oneil_table):
    with pytest.raises(DataError, match="needs test_fold"):
        split_screen(oneil_table, "fold")
    with pytest.raises(DataError, match="not a fold"):
        split_screen(oneil_table, "fold", test_fold=9)
    with pytest.raises(OptionError, match="unknown split"):
        split_screen(oneil_table, "nonsense")
