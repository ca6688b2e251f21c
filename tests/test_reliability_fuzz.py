"""Seeded fuzz tests. ``fit``: random malformed combination tables, drug tables and option
values; every case must end in exit 0 with finite metrics or exit 2 with one line on stderr,
never a traceback, and must leave the input files as they were. The lab's rule tables (costs,
drugs in stock) and the Python API's ``recommend`` and ``predict``: a fault is a UserError
(a TypeError or ValueError for a Python argument of the wrong kind), never another exception,
and what comes back honours the rules. DrugComb and DrugCombDB exports in their native layouts:
a faulty one loads as a screen of finite scores and named, featurised drugs, or is one line."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import math
import os

import numpy as np
import pandas as pd
import pytest

from synergy_ppl.active import LabRules, recommend
from synergy_ppl.cli import main
from synergy_ppl.config import ModelConfig
from synergy_ppl.data import DataConfig, screen_from_frame
from synergy_ppl.errors import UserError
from synergy_ppl.estimator import SynergyBNN

DRUGS = {
    "000": "CCO",
    "007": "CC(=O)O",
    "2244": "CC(=O)OC1=CC=CC=C1C(=O)O",
    "aspirin": "CC(=O)OC1=CC=CC=C1C(=O)O",
    "β-lapachone": "CC1(C)CCC2=C(O1)C1=CC=CC=C1C(=O)C2=O",
    "caffeine": "CN1C=NC2=C1C(=O)N(C(=O)N2C)C",
}
BASE_OPTIONS = ["--drug-layers", "16", "--merge-dim", "8", "--head-layers", "8", "--n-bits", "64"]
BASE_OPTIONS += ["--epochs", "2", "--num-samples", "8", "--quiet"]
CASES = int(os.environ.get("FUZZ_CASES", 40))
"""Seeded cases per run; FUZZ_CASES=300 explores further by hand."""


def base_tables(rng: np.random.Generator) -> tuple[pd.DataFrame, pd.DataFrame]:
    names = list(DRUGS)
    rows = [
        (a, b, line, round(float(rng.normal(0, 15)), 2))
        for line in ("L1", "L2")
        for i, a in enumerate(names)
        for b in names[i + 1 :]
    ]
    table = pd.DataFrame(rows, columns=["drug_a", "drug_b", "cell_line", "synergy"])
    drugs = pd.DataFrame({"drug": names, "smiles": list(DRUGS.values())})
    return table.astype(object), drugs.astype(object)


def corrupt_table(table: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame | bytes:
    """One random fault in the combination table (or the whole file replaced by bytes); its
    first four columns are drug A, drug B, the cell line and the score, whatever their names."""
    kind = rng.integers(12)
    row, col = int(rng.integers(len(table))), str(rng.choice(table.columns))
    drug_a, drug_b, _, score = table.columns[:4]
    table = table.copy()
    if kind == 0:
        return table.drop(columns=[col])
    if kind == 1:
        return table.rename(columns={col: col.upper()})
    if kind == 2:
        table.loc[row, col] = ""
    elif kind == 3:
        table.loc[row, score] = str(rng.choice(["abc", "nan", "inf", "1e30", "-2e4", " 7 "]))
    elif kind == 4:
        table.loc[row, str(rng.choice([drug_a, drug_b]))] = str(
            rng.choice(["unknown", " 000 ", "0", "2244.0", "ASPIRIN"])
        )
    elif kind == 5:
        table = pd.concat([table, table.iloc[[row]]], ignore_index=True)
    elif kind == 6:
        table.loc[row, drug_b] = table.loc[row, drug_a]  # a drug with itself
    elif kind == 7:
        table["fold"] = [str(rng.choice(["0", "1", "x", ""])) for _ in range(len(table))]
    elif kind == 8:
        return table.iloc[:0]
    elif kind == 9:
        return bytes(rng.integers(0, 256, 200, dtype=np.uint8))
    elif kind == 10:
        return b""
    else:
        table.loc[row] = [np.nan] * table.shape[1]  # a blank spacing row
    return table


def corrupt_drugs(drugs: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame | bytes:
    """One random fault in the drug table."""
    kind = rng.integers(7)
    row = int(rng.integers(len(drugs)))
    drugs = drugs.copy()
    if kind == 0:
        return drugs.drop(index=row)
    if kind == 1:
        return pd.concat(
            [drugs, pd.DataFrame({"drug": [drugs.loc[row, "drug"]], "smiles": ["C1CC"]})]
        )
    if kind == 2:
        drugs.loc[row, "smiles"] = str(rng.choice(["not-a-smiles", "", "C(("]))
    elif kind == 3:
        return drugs.rename(columns={"smiles": "SMILES"})
    elif kind == 4:
        drugs.loc[row, "drug"] = ""
    elif kind == 5:
        return b"drug;smiles\nA;CCO\n"
    else:
        return pd.concat([drugs, drugs.iloc[[row]]])  # an exact repeat: fine
    return drugs


OPTION_VALUES = {
    "--split": ["random", "pair", "drug", "one-hidden-drug", "cell-line", "fold", "bogus"],
    "--test-fraction": ["0.2", "0.5", "0", "1", "-0.1", "nan", "x"],
    "--val-fraction": ["0", "0.1", "0.4", "-1", "0.99"],
    "--prior": ["normal", "laplace", "scale-mixture", "log-uniform", "cauchy"],
    "--prior-scale": ["0.1", "0", "-1", "inf"],
    "--likelihood": ["normal", "student-t"],
    "--bayesian": ["head", "all"],
    "--dropout": ["0", "0.5", "1", "-0.2"],
    "--batch-size": ["1", "7", "0", "-5"],
    "--epochs": ["1", "3", "0"],
    "--cell-line": ["L1", "L1,L2", "nope", ""],
    "--drug-effects": ["0.3", "-1"],
    "--pair-effects": ["0.5", "nan"],
    "--min-steps": ["5", "-1"],
    "--stop-on": ["nll", "rmse", "loss"],
    "--num-samples": ["2", "1"],
    "--lr": ["1e-2", "abc", "1e6"],
    "--columns": ["score=synergy", "synergy=score", "fold=nope", "drug_a"],
    "--test-fold": ["0", "9"],
    "--seed": ["3", "-1"],
}


def random_options(rng: np.random.Generator) -> list[str]:
    chosen = rng.choice(list(OPTION_VALUES), size=int(rng.integers(0, 4)), replace=False)
    return [part for flag in chosen for part in (flag, str(rng.choice(OPTION_VALUES[flag])))]


def write(path, content) -> None:
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        content.to_csv(path, index=False)


def digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("case", range(CASES))
def test_fit_on_random_faults_is_exit_0_with_finite_metrics_or_one_line(tmp_path, capsys, case):
    rng = np.random.default_rng([2026, case])
    table, drugs = base_tables(rng)
    if rng.random() < 0.7:
        table = corrupt_table(table, rng)
    if rng.random() < 0.4:
        drugs = corrupt_drugs(drugs, rng)
    write(tmp_path / "screen.csv", table)
    write(tmp_path / "drugs.csv", drugs)
    before = {name: digest(tmp_path / name) for name in ("screen.csv", "drugs.csv")}
    options = random_options(rng)
    args = ["fit", "--data", str(tmp_path / "screen.csv"), "--drugs", str(tmp_path / "drugs.csv")]
    args += [*BASE_OPTIONS, *options, "--out", str(tmp_path / "run")]
    try:
        status = main(args)
    except SystemExit as stop:  # argparse's own usage errors
        status = stop.code
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert status in (0, 2), (options, err)
    if status == 2:
        assert len(lines) == 1 and "Traceback" not in err, (options, err)
        assert not (tmp_path / "run").exists()
    else:
        metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
        for part in ("train", "val", "test"):
            if part in metrics:
                assert math.isfinite(metrics[part]["rmse"]), (options, metrics)
                assert math.isfinite(metrics[part]["nll"]), (options, metrics)
    assert before == {name: digest(tmp_path / name) for name in ("screen.csv", "drugs.csv")}


# ------------------------------------------- lab-rule tables and the Python API (issue 32)

PYTHON_ERRORS = (UserError, TypeError, ValueError)
"""What a wrong argument of the Python API may raise (UserError is a ValueError)."""


@pytest.fixture(scope="module")
def small_model():
    """A tiny model of the base tables, fitted once; every case below ranks with it."""
    table, drugs = base_tables(np.random.default_rng(0))
    screen = screen_from_frame(table, drugs)
    config = ModelConfig(
        model="recover", drug_layers=(16,), merge_dim=8, head_layers=(8,), n_bits=64, epochs=3
    )
    return SynergyBNN.from_config(config).fit(screen, progress=False), table


def measured_part(table: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """About 60% of the base rows: the others are the untested candidates."""
    return table[rng.random(len(table)) < 0.6].reset_index(drop=True)


def cost_table(table: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    if rng.random() < 0.5:
        return pd.DataFrame({"cell_line": ["L1", "L2"], "cost": [1.0, 2.5]})
    costs = table[["drug_a", "drug_b", "cell_line"]].copy()
    return costs.assign(cost=np.round(rng.uniform(0.5, 3, len(costs)), 2))


def corrupt_rule_table(table: pd.DataFrame, rng: np.random.Generator, value_column: str):
    """One random fault in a cost or stock table: a frame, bytes, ("parquet", frame), or a
    folder / missing path."""
    kind = rng.integers(15)
    table = table.astype(object).copy()
    row, col = int(rng.integers(len(table))), str(rng.choice(table.columns))
    if kind == 0:
        return table.drop(columns=[col])
    if kind == 1:
        return table.rename(columns={col: col.upper()})
    if kind == 2:
        table.loc[row, col] = str(rng.choice(["", " ", "nan"]))
    elif kind == 3:
        table.loc[row, value_column] = str(rng.choice(["abc", "-1", "inf", "1e400", " 2 ", ""]))
    elif kind == 4:  # the same key twice, with another value
        extra = table.iloc[[row]].copy()
        extra[value_column] = "99" if value_column == "cost" else "caffeine"
        return pd.concat([table, extra], ignore_index=True)
    elif kind == 5:
        return pd.concat([table, table.iloc[[row]]], ignore_index=True)
    elif kind == 6:
        return table.drop(index=row)
    elif kind == 7:
        table.loc[row, col] = str(rng.choice(["unknown", "L9", "ASPIRIN", "0"]))
    elif kind == 8:
        return table.iloc[:0]
    elif kind == 9:
        return bytes(rng.integers(0, 256, 120, dtype=np.uint8))
    elif kind == 10:
        return b""
    elif kind == 11:
        return ("parquet", table)
    elif kind == 12:
        return ("parquet", table.astype(str))
    elif kind == 13:
        return str(rng.choice(["folder", "missing"]))
    else:
        table.loc[row] = [np.nan] * table.shape[1]
    return table


def write_rule_table(path, content) -> str:
    if isinstance(content, tuple) and importlib.util.find_spec("pyarrow") is None:
        write(path, content[1])  # a lean install (no 'dev' extra) fuzzes the CSV instead
    elif isinstance(content, tuple):
        path = path.with_suffix(".parquet")
        content[1].to_parquet(path)
    elif isinstance(content, str):
        if content == "folder":
            path.mkdir()
    else:
        write(path, content)
    return str(path)


def check_batch(batch: pd.DataFrame, rules: LabRules, batch_size: int, measured) -> None:
    """A batch that came back honours every rule it was given."""
    assert 0 < len(batch) <= batch_size
    if rules.budget is not None:
        assert batch["cost"].sum() <= rules.budget * (1 + 1e-9)
    if rules.max_lines is not None:
        assert batch["cell_line"].nunique() <= rules.max_lines
    if rules.max_drug_uses is not None:
        uses = pd.concat([batch["drug_a"], batch["drug_b"]]).value_counts()
        assert uses.max() <= rules.max_drug_uses
    tested = set(zip(measured["drug_a"], measured["drug_b"], measured["cell_line"], strict=True))
    for a, b, line in zip(batch["drug_a"], batch["drug_b"], batch["cell_line"], strict=True):
        assert (a, b, line) not in tested and (b, a, line) not in tested and a != b


@pytest.mark.parametrize("case", range(CASES))
def test_lab_rule_tables_on_random_faults_are_a_user_error_or_a_valid_batch(
    tmp_path, small_model, case
):
    bnn, table = small_model
    rng = np.random.default_rng([2032, case])
    measured = measured_part(table, rng)
    costs, stock = None, None
    if rng.random() < 0.7:
        content = cost_table(table, rng)
        if rng.random() < 0.7:
            content = corrupt_rule_table(content, rng, "cost")
        elif rng.random() < 0.4:  # a sound table, typed as Parquet keeps it
            content = ("parquet", content)
        costs = write_rule_table(tmp_path / "costs.csv", content)
    if rng.random() < 0.6:
        content = pd.DataFrame({"drug": list(DRUGS)[: int(rng.integers(2, len(DRUGS) + 1))]})
        if rng.random() < 0.7:
            content = corrupt_rule_table(content, rng, "drug")
        elif rng.random() < 0.4:
            content = ("parquet", content)
        stock = write_rule_table(tmp_path / "stock.csv", content)
    numbers = {
        "max_lines": [None, None, 1, 2],
        "max_drug_uses": [None, None, 1, 3],
        "budget": [None, None, 0.4, 2.0, 6.0],
    }
    numbers = {name: values[rng.integers(len(values))] for name, values in numbers.items()}
    if rng.random() < 0.15:  # one invalid number
        name = str(rng.choice(list(numbers)))
        numbers[name] = [0, -1, float("nan"), 0.0, "2", True][rng.integers(6)]
    rules = LabRules(available_drugs=stock, costs=costs, **numbers)
    batch_size = int(rng.choice([1, 3, 5, 40]))
    try:
        batch = recommend(bnn, measured, batch_size=batch_size, num_samples=8, rules=rules)
    except UserError as err:
        assert str(err).strip(), rules
        return
    check_batch(batch, rules, batch_size, measured)


def corrupt_pairs(table: pd.DataFrame, rng: np.random.Generator):
    """One random fault in a table of pairs for ``recommend``'s candidates or ``predict``."""
    pairs = table[["drug_a", "drug_b", "cell_line"]].astype(object).copy()
    kind = rng.integers(10)
    row, col = int(rng.integers(len(pairs))), str(rng.choice(pairs.columns))
    if kind == 0:
        return pairs.drop(columns=[col])
    if kind == 1:
        return pairs.iloc[:0]
    if kind == 2:
        pairs.loc[row, col] = rng.choice([np.nan, "", None])
    elif kind == 3:
        pairs.loc[row, "drug_b"] = pairs.loc[row, "drug_a"]
    elif kind == 4:
        pairs.loc[row, col] = str(rng.choice(["unknown", "L9"]))
    elif kind == 5:
        pairs.loc[row, col] = int(rng.integers(0, 3000))
    elif kind == 6:
        return (
            pairs.set_index("drug_a")
            if col == "drug_a"
            else pairs.set_axis([f"r{i}" for i in range(len(pairs))])
        )
    elif kind == 7:
        return pairs.to_dict("list")
    elif kind == 8:
        return pairs.values.tolist()
    return pairs


ARGUMENTS = {
    "strategy": ["ucb", "q-ei", "thompson-batch", "top-set-info", "", "UCB", None, 3],
    "batch_size": [1, 2, 0, -1, 2.0, "2", True, 10**6],
    "kappa": [0, 1.0, -1, float("nan"), float("inf"), "1", None],
    "num_samples": [None, 8, 1, 0, 2.5, "8"],
    "seed": [0, 3, -1, 1.5, None],
    "rules": [None, LabRules(), LabRules(max_lines=1), {"max_lines": 1}, "rules"],
}


@pytest.mark.parametrize("case", range(CASES))
def test_python_recommend_and_predict_on_random_faults_raise_only_argument_errors(
    small_model, case
):
    bnn, table = small_model
    rng = np.random.default_rng([3032, case])
    measured = measured_part(table, rng)
    if rng.random() < 0.4:
        measured = corrupt_table(measured, rng)
        if isinstance(measured, bytes):
            measured = measured.decode("latin-1")  # not a table at all
    candidates = corrupt_pairs(table, rng) if rng.random() < 0.4 else None
    chosen = rng.choice(list(ARGUMENTS), size=int(rng.integers(0, 3)), replace=False)
    arguments = {name: ARGUMENTS[name][rng.integers(len(ARGUMENTS[name]))] for name in chosen}
    arguments = {"batch_size": 3, "num_samples": 8, **arguments}
    try:
        batch = recommend(bnn, measured, candidates, **arguments)
    except PYTHON_ERRORS as err:
        assert str(err).strip(), arguments
    else:
        assert len(batch) >= 1 and batch["std"].notna().all()
    pairs = corrupt_pairs(table, rng) if rng.random() < 0.6 else table.sample(5, random_state=case)
    num_samples = rng.choice([None, 8, 8, 8, 1, 0, -3, 2.5, "8"])
    try:
        predictions = bnn.predict(pairs, num_samples, progress=False)
    except PYTHON_ERRORS as err:
        assert str(err).strip(), num_samples
    else:
        assert len(predictions) == len(pairs) and predictions["std"].notna().all()


# ------------------------------------------------------------ DrugComb / DrugCombDB exports

EXPORTS = {
    "drugcomb": (
        ["drug_row", "drug_col", "cell_line_name", "synergy_zip", "synergy_loewe"],
        ["dname", "smiles"],
        ("summary.csv", "drugs.csv"),
    ),
    "drugcombdb": (
        ["Drug1", "Drug2", "Cell line", "ZIP", "Loewe"],
        ["drugName", "smilesString"],
        ("drugcombs_scored.csv", "drug_chemical_info.csv"),
    ),
}
"""Loader -> its combination columns, its drug-table columns and file names (native layout)."""


def export_tables(kind: str, rng: np.random.Generator) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A small valid export of ``kind`` in its native layout: combinations and drugs."""
    columns, drug_columns, _ = EXPORTS[kind]
    names = list(DRUGS)
    rows = [
        (a, b, line, *np.round(rng.normal(0, 15, 2), 2))
        for line in ("L1", "L2")
        for i, a in enumerate(names)
        for b in names[i + 1 :]
    ]
    table = pd.DataFrame(rows, columns=columns).astype(object)
    drugs = pd.DataFrame(dict(zip(drug_columns, (names, list(DRUGS.values())), strict=True)))
    return table, drugs.astype(object)


@pytest.mark.parametrize("kind", list(EXPORTS))
@pytest.mark.parametrize("case", range(CASES))
def test_drugcomb_and_drugcombdb_exports_on_random_faults_load_or_say_why(tmp_path, kind, case):
    rng = np.random.default_rng([case, len(kind)])
    table, drugs = export_tables(kind, rng)
    table_name, drugs_name = EXPORTS[kind][2]
    write(tmp_path / table_name, corrupt_table(table, rng))
    if rng.random() < 0.3:  # a drug table without a row, or with a broken SMILES
        row = int(rng.integers(len(drugs)))
        drugs = (
            drugs.drop(index=row)
            if rng.random() < 0.5
            else drugs.assign(**{drugs.columns[1]: ["C(("] * len(drugs)})
        )
    write(tmp_path / drugs_name, drugs)
    try:
        screen = DataConfig(f"{kind}:{tmp_path / table_name}").load()
    except UserError as err:
        assert str(err).strip() and "\n" not in str(err).strip()
        return
    scores = screen.table["score"].to_numpy(dtype=float)
    assert len(scores) and np.isfinite(scores).all()
    names = pd.concat([screen.table[c] for c in ("drug_a", "drug_b", "cell_line")])
    assert names.str.strip().str.len().gt(0).all()  # no blank name reaches the screen
    assert set(screen.table["drug_a"]) | set(screen.table["drug_b"]) <= set(screen.smiles)
