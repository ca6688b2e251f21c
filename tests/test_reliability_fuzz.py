"""A seeded fuzz test of ``fit``: random malformed combination tables, drug tables and option
values. Every case must end in exit 0 with finite metrics or exit 2 with one line on stderr,
never a traceback, and must leave the input files as they were."""

from __future__ import annotations

import hashlib
import json
import math
import os

import numpy as np
import pandas as pd
import pytest

from synergy_ppl.cli import main

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
    """One random fault in the combination table (or the whole file replaced by bytes)."""
    kind = rng.integers(12)
    row, col = int(rng.integers(len(table))), str(rng.choice(table.columns))
    table = table.copy()
    if kind == 0:
        return table.drop(columns=[col])
    if kind == 1:
        return table.rename(columns={col: col.upper()})
    if kind == 2:
        table.loc[row, col] = ""
    elif kind == 3:
        table.loc[row, "synergy"] = str(rng.choice(["abc", "nan", "inf", "1e30", "-2e4", " 7 "]))
    elif kind == 4:
        table.loc[row, str(rng.choice(["drug_a", "drug_b"]))] = str(
            rng.choice(["unknown", " 000 ", "0", "2244.0", "ASPIRIN"])
        )
    elif kind == 5:
        table = pd.concat([table, table.iloc[[row]]], ignore_index=True)
    elif kind == 6:
        table.loc[row, "drug_b"] = table.loc[row, "drug_a"]  # a drug with itself
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
