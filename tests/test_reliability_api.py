"""Reliability, second pass (issue 32): the tracebacks left in ``recommend``, ``simulate`` and
``predict`` become one line and exit 2; the Python API checks its arguments at the call;
``simulate`` applies the lab's rules as ``recommend`` does; a long ``predict`` shows progress.
Each test here failed on the code before these checks existed."""

from __future__ import annotations

import json
import re
import warnings
from pathlib import Path

import pandas as pd
import pytest
from cli_helpers import one_line_error, run
from conftest import needs_extra

import synergy_ppl as sp
from synergy_ppl.active import LabRules, SimulationConfig, simulate
from synergy_ppl.cli import main
from synergy_ppl.config import ModelConfig
from synergy_ppl.data import DataConfig
from synergy_ppl.errors import DataError, OptionError
from synergy_ppl.inference import predictive
from synergy_ppl.runs import load_fit, read_screen

TINY = ["--model", "recover", "--drug-layers", "16", "--merge-dim", "8", "--head-layers", "8"]
TINY += ["--n-bits", "64"]
FAST = [*TINY, "--epochs", "3", "--num-samples", "10", "--quiet"]
TINY_MODEL = ModelConfig(
    model="recover", drug_layers=(16,), merge_dim=8, head_layers=(8,), n_bits=64, epochs=2
)
SIMULATE = ["simulate", "--rounds", "1", "--seeds", "1", "--quiet", *TINY, "--epochs", "2"]


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("api") / "run"
    assert main(["fit", *FAST, "--out", str(out)]) == 0
    return out


@pytest.fixture(scope="module")
def fitted(demo_run):
    return load_fit(demo_run)[0], read_screen(demo_run)


# ------------------------------------------------------------ 1. tracebacks -> one line


@needs_extra("pyarrow")
def test_recommend_reads_a_parquet_cost_table_as_it_reads_a_csv_one(demo_run, tmp_path, capsys):
    costs = pd.DataFrame({"cell_line": ["C0", "C1", "C2", "C3"], "cost": [1.0, 2.0, 3.0, 4.0]})
    costs.to_parquet(tmp_path / "costs.parquet")
    costs.to_csv(tmp_path / "costs.csv", index=False)
    args = ["recommend", "--run", demo_run, "--batch-size", "5", "--budget", "8"]
    for name in ("costs.parquet", "costs.csv"):
        out = tmp_path / f"{name}.out.csv"
        status, err = run([*args, "--costs", tmp_path / name, "--out", out], capsys)
        assert status == 0, err
    parquet, csv = (pd.read_csv(tmp_path / f"{n}.out.csv") for n in ("costs.parquet", "costs.csv"))
    pd.testing.assert_frame_equal(parquet, csv)
    assert parquet["cost"].sum() <= 8
    # a damaged Parquet file and a Parquet file of the wrong shape are one line each
    (tmp_path / "bad.parquet").write_bytes(b"PAR1 not really")
    status, err = run([*args, "--costs", tmp_path / "bad.parquet"], capsys)
    one_line_error(status, err, "bad.parquet")
    costs.rename(columns={"cost": "price"}).to_parquet(tmp_path / "price.parquet")
    status, err = run([*args, "--costs", tmp_path / "price.parquet"], capsys)
    one_line_error(status, err, "price.parquet", "cell_line,cost")


@pytest.mark.parametrize("value", ["", " ", ","])
def test_an_empty_acquisition_is_one_line_naming_the_option(demo_run, tmp_path, capsys, value):
    status, err = run(["recommend", "--run", demo_run, "--acquisition", value], capsys)
    one_line_error(status, err, "--acquisition")
    status, err = run([*SIMULATE, "--acquisition", value, "--out", tmp_path / "s"], capsys)
    one_line_error(status, err, "--acquisition")
    assert not (tmp_path / "s").exists()


@pytest.mark.parametrize("names", ["random,random", "ucb,random,ucb"])
def test_simulate_refuses_a_strategy_given_twice(tmp_path, capsys, names):
    status, err = run([*SIMULATE, "--acquisition", names, "--out", tmp_path / "s"], capsys)
    twice = names.split(",")[0]
    one_line_error(status, err, "--acquisition", f"'{twice}'", "more than once")
    assert not (tmp_path / "s").exists()
    with pytest.raises(OptionError, match="more than once"):
        SimulationConfig(strategies=tuple(names.split(","))).check()
    with pytest.raises(TypeError, match="strategies"):
        SimulationConfig(strategies="ucb").check()


@pytest.mark.parametrize(
    "damage",
    [
        "{",
        "[]",
        "\x00\xff",
        '{"random/seed0": {"revealed": "x", "rounds": []}}',
        '{"random/seed0": {"revealed": [0, 99999], "rounds": [{"tested": 2}]}}',
        '{"random/seed0": {"revealed": [1, 2], "rounds": [], "extra": 1}}',
    ],
)
def test_resuming_from_a_damaged_progress_file_is_one_line(tmp_path, capsys, damage):
    out = tmp_path / "s"
    args = [*SIMULATE, "--acquisition", "random", "--out", out]
    assert run(args, capsys)[0] == 0
    capsys.readouterr()
    (out / "progress.json").write_text(damage)
    status, err = run(args, capsys)
    one_line_error(status, err, "progress.json", "--overwrite")
    assert (out / "progress.json").read_text() == damage  # left for the user to look at
    assert run([*args, "--overwrite"], capsys)[0] == 0  # and --overwrite starts afresh


def test_self_pairs_are_refused_naming_the_row(demo_run, fitted, tmp_path, capsys):
    pairs = pd.DataFrame(
        {"drug_a": ["D00", "D03", "D01"], "drug_b": ["D02", " D03", "D04"], "cell_line": "C0"}
    )
    pairs.to_csv(tmp_path / "pairs.csv", index=False)
    status, err = run(
        ["recommend", "--run", demo_run, "--candidates", tmp_path / "pairs.csv"], capsys
    )
    one_line_error(status, err, "pairs.csv", "data row 2", "D03", "itself")
    status, err = run(["predict", "--run", demo_run, "--pairs", tmp_path / "pairs.csv"], capsys)
    one_line_error(status, err, "pairs.csv", "data row 2", "D03", "itself")
    assert not (demo_run / "predictions.csv").exists()
    bnn, measured = fitted
    with pytest.raises(DataError, match="candidates: data row 2 pairs drug 'D03' with itself"):
        sp.recommend(bnn, measured, pairs, batch_size=1)


# ----------------------------------------------------------------------- 2. Python API


def test_recommend_rules_must_be_lab_rules(fitted):
    bnn, measured = fitted
    with pytest.raises(TypeError, match="rules must be a LabRules"):
        sp.recommend(bnn, measured, rules=dict(max_lines=1))
    batch = sp.recommend(bnn, measured, batch_size=4, rules=LabRules(max_lines=1))
    assert batch["cell_line"].nunique() == 1


def test_recommend_finds_the_score_column_as_the_loaders_do(fitted):
    bnn, measured = fitted
    expected = sp.recommend(bnn, measured, batch_size=4, strategy="ei")
    for name in ("synergy", "Loewe", "zip"):
        renamed = measured.rename(columns={"score": name})
        got = sp.recommend(bnn, renamed, batch_size=4, strategy="ei")
        pd.testing.assert_frame_equal(got, expected)
    with pytest.raises(DataError, match=r"measured: missing column\(s\) \['synergy'\]"):
        sp.recommend(bnn, measured.rename(columns={"score": "value"}))
    with pytest.raises(DataError, match="measured: the table has no rows"):
        sp.recommend(bnn, measured.iloc[:0])


def test_predict_refuses_an_empty_table_or_missing_columns(fitted):
    bnn, measured = fitted
    with pytest.raises(ValueError, match="pairs: the table has no rows"):
        bnn.predict(measured.iloc[:0])
    with pytest.raises(ValueError, match=r"pairs: missing column\(s\) \['cell_line'\]"):
        bnn.predict(measured[["drug_a", "drug_b"]])
    with pytest.raises(TypeError, match="pairs must be a pandas DataFrame"):
        bnn.predict([("D00", "D01", "C0")])
    assert len(bnn.predict(measured.head(3))) == 3


@pytest.mark.parametrize(
    "arguments, error, message",
    [
        (dict(strategy="ucbb"), ValueError, "unknown acquisition 'ucbb'"),
        (dict(strategy=None), TypeError, "strategy must be"),
        (dict(strategy=["ucb"]), TypeError, "strategy must be"),
        (dict(batch_size="5"), TypeError, "batch_size must be an integer"),
        (dict(batch_size=2.5), TypeError, "batch_size must be an integer"),
        (dict(batch_size=True), TypeError, "batch_size must be an integer"),
        (dict(batch_size=0), ValueError, "batch_size 0 must be between 1"),
        (dict(kappa="1"), TypeError, "kappa must be a number"),
        (dict(kappa=-1.0), ValueError, "kappa must be >= 0"),
        (dict(kappa=float("nan")), ValueError, "kappa must be >= 0"),
        (dict(num_samples=1.5), TypeError, "num_samples must be an integer"),
        (dict(num_samples=1), ValueError, "num_samples must be >= 2"),
        (dict(seed="x"), TypeError, "seed must be an integer"),
        (dict(seed=-1), ValueError, "seed must be >= 0"),
        (dict(candidates="pairs.csv"), TypeError, "candidates must be a pandas DataFrame"),
        (dict(measured=None), TypeError, "measured must be a pandas DataFrame"),
        (dict(bnn="run"), TypeError, "bnn must be a fitted SynergyBNN"),
        (dict(bnn=sp.SynergyBNN()), ValueError, "bnn is not fitted"),
    ],
)
def test_recommend_checks_its_arguments_at_the_call(fitted, arguments, error, message):
    bnn, measured = fitted
    given = {"bnn": bnn, "measured": measured, **arguments}
    with pytest.raises(error, match=re.escape(message)):
        sp.recommend(**given)


# ------------------------------------------------- 3. simulate applies recommend's rules


def refusal(status: int, err: str) -> str:
    """The message of a one-line refusal, its counts of chosen rows blanked."""
    line = one_line_error(status, err)
    return re.sub(r"only \d+ of", "only N of", line.split("error: ", 1)[1])


@pytest.mark.parametrize(
    "rules",
    [
        ["--max-lines", "1", "--max-drug-uses", "2"],  # 24 drugs x 2 uses / 2 = 24 < 30
        ["--budget", "0.5"],  # buys no test at all
    ],
)
def test_simulate_refuses_the_rules_that_recommend_refuses(demo_run, tmp_path, capsys, rules):
    status, err = run(["recommend", "--run", demo_run, "--batch-size", "30", *rules], capsys)
    said = refusal(status, err)
    args = [*SIMULATE, "--acquisition", "random", "--batch-size", "30", *rules]
    status, err = run([*args, "--out", tmp_path / "s"], capsys)
    assert refusal(status, err) == said
    assert not (tmp_path / "s").exists()


def test_simulate_reports_every_round_the_shrinking_pool_cuts_short(tmp_path):
    # 4 drugs in stock: 20 of the demo's rows; 2 rounds x 8 = 16 fit, but the initial random
    # draw of 200 rows takes 6 of them, so the second round finds 6 left
    (tmp_path / "stock.csv").write_text("drug\nD00\nD01\nD02\nD03\n")
    rules = LabRules(available_drugs=str(tmp_path / "stock.csv"))
    sim = SimulationConfig(
        ("random",), rounds=2, pairs_per_round=8, initial=200, seeds=1, lab=rules
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        simulate(DataConfig(), sim, TINY_MODEL, tmp_path / "s", progress=False)
    rows = pd.read_csv(tmp_path / "s" / "results.csv")
    short = rows[rows["short"] > 0]
    assert rows["short"].tolist() == [0, 0, 2]
    assert rows["tested"].diff().iloc[1:].tolist() == (8 - rows["short"].iloc[1:]).tolist()
    said = [str(w.message) for w in caught if "pairs_per_round 8" in str(w.message)]
    assert len(said) == len(short), said
    for (_, row), text in zip(short.iterrows(), said, strict=True):
        assert f"round {row['round']}" in text and f"only {8 - row['short']} of" in text


# -------------------------------------------------------------------------- 4. progress


def test_predict_shows_progress_over_long_tables_unless_told_not_to(fitted, monkeypatch):
    bnn, measured = fitted
    bars = []

    class Bar:
        def __init__(self, *args, **kwargs):
            self.kwargs, self.rows = kwargs, 0
            bars.append(self)

        def update(self, rows):
            self.rows += rows

        def close(self):
            pass

    monkeypatch.setattr(predictive, "tqdm", Bar)
    monkeypatch.setattr(predictive, "PROGRESS_ROWS", 100)
    bnn.predict(measured.head(50))  # short work: no bar
    assert bars and all(bar.kwargs["disable"] is True for bar in bars)
    bnn.predict(measured)
    assert bars[-1].kwargs["disable"] is None and bars[-1].rows == len(measured)
    bnn.predict(measured, progress=False)
    assert bars[-1].kwargs["disable"] is True


def test_cli_predict_takes_quiet(demo_run, tmp_path, capsys):
    table = read_screen(demo_run).head(5)[["drug_a", "drug_b", "cell_line"]]
    table.to_csv(tmp_path / "pairs.csv", index=False)
    out = tmp_path / "p.csv"
    status, err = run(
        ["predict", "--run", demo_run, "--pairs", tmp_path / "pairs.csv", "--out", out, "--quiet"],
        capsys,
    )
    assert status == 0 and err == "", err
    assert len(pd.read_csv(out)) == 5
    assert json.dumps(list(pd.read_csv(out).columns)).count("mean") == 1
