"""Lab-shaped batches: drugs in stock, cell lines per batch, drug uses, costs and a budget, in
``recommend`` and ``simulate`` (Python and command line), and the errors of each rule."""

import json

import numpy as np
import pandas as pd
import pytest

from synergy_ppl.active import LabRules, SimulationConfig, recommend, simulate
from synergy_ppl.active.explain import nearest_measured
from synergy_ppl.cli import main
from synergy_ppl.config import ModelConfig
from synergy_ppl.data import DataConfig, DataError
from synergy_ppl.errors import OptionError
from synergy_ppl.runs import fit_run, load_fit, read_screen
from synergy_ppl.settings import resolve

CANDIDATES = pd.DataFrame(
    {
        "drug_a": ["A", "A", "B", "A", "B", "C"],
        "drug_b": ["B", "C", "C", "B", "C", "D"],
        "cell_line": ["X", "X", "X", "Y", "Y", "Y"],
    }
)


def write(path, text: str) -> str:
    path.write_text(text)
    return str(path)


# ---------------------------------------------------------------------------- the rules


def test_stock_and_costs_per_line_and_per_triple(tmp_path):
    stock = write(tmp_path / "stock.csv", "drug\nA\nB\n C \n")
    lab = LabRules(available_drugs=stock).apply(CANDIDATES)
    assert lab.out_of_stock.tolist() == [False, False, False, False, False, True]
    assert lab.constraints is None and lab.cost.tolist() == [1.0] * 6
    per_line = write(tmp_path / "line.csv", "cell_line,cost\nX,2.5\nY,1\n")
    lab = LabRules(costs=per_line, budget=5.0).apply(CANDIDATES)
    assert lab.cost.tolist() == [2.5, 2.5, 2.5, 1.0, 1.0, 1.0]
    assert lab.constraints.budget == 5.0 and lab.constraints.cost.tolist() == lab.cost.tolist()
    # per triple, either drug order, a repeat with the same cost is harmless
    rows = "drug_a,drug_b,cell_line,cost\nB,A,X,1\nA,C,X,2\nB,C,X,3\nA,B,Y,4\nB,C,Y,5\nD,C,Y,6\n"
    per_triple = write(tmp_path / "triple.csv", rows + "A,B,X,1\n")
    assert LabRules(costs=per_triple).apply(CANDIDATES).cost.tolist() == [1, 2, 3, 4, 5, 6]
    lab = LabRules(max_lines=1, max_drug_uses=2).apply(CANDIDATES)
    assert lab.constraints.line.tolist() == [0, 0, 0, 1, 1, 1]
    assert lab.constraints.drug_a.tolist() == [0, 0, 1, 0, 1, 2]  # A B C D -> 0 1 2 3
    assert lab.constraints.drug_b.tolist() == [1, 2, 2, 1, 2, 3]


@pytest.mark.parametrize(
    "text, message",
    [
        ("drug\nA\nZ\n", r"drug\(s\) \['Z'\] are in no candidate triple"),
        ("name\nA\n", "needs a column 'drug'"),
        ("drug\nA\n", "no candidate has both drugs in stock"),
    ],
)
def test_a_wrong_drug_list_is_refused(tmp_path, text, message):
    with pytest.raises((DataError, OptionError), match=message):
        LabRules(available_drugs=write(tmp_path / "s.csv", text)).apply(CANDIDATES)


@pytest.mark.parametrize(
    "text, message",
    [
        ("cell_line,cost\nX,1\n", r"candidate Y has no cost; add it"),
        ("cell_line,cost\nX,1\nY,2\nX,3\n", r"X is priced twice \(1 and 3, data row 3\)"),
        ("cell_line,cost\nX,1\nY,-2\n", r"'cost' at data row 2 is '-2'; a cost is a number >= 0"),
        ("cell_line,cost\nX,cheap\nY,2\n", r"data row 1 is 'cheap'"),
        ("line,price\nX,1\n", "a cost table has columns cell_line,cost"),
        ("drug_a,drug_b,cell_line,cost\nA,B,X,1\n", r"candidate \('A', 'C', 'X'\) has no cost"),
        ("cell_line,cost\nX,1\n ,2\n", r"column 'cell_line' is empty at data row 2"),
        ("drug_a,drug_b,cell_line,cost\nA,,X,1\n", r"column 'drug_b' is empty at data row 1"),
    ],
)
def test_a_wrong_cost_table_is_refused_naming_the_row(tmp_path, text, message):
    with pytest.raises(DataError, match=message):
        LabRules(costs=write(tmp_path / "c.csv", text)).apply(CANDIDATES)


@pytest.mark.parametrize(
    "rules, message",
    [
        (LabRules(max_lines=0), "^max_lines must be an integer >= 1, not 0"),
        (LabRules(max_drug_uses=1.5), "^max_drug_uses must be an integer >= 1"),
        (LabRules(budget=float("nan")), "^budget must be a finite number > 0"),
        (LabRules(costs="nowhere.csv"), "^costs nowhere.csv: no such file"),
        (LabRules(budget=0.5), "^budget 0.5 buys no candidate: the cheapest costs 1"),
    ],
)
def test_impossible_rules_are_refused(rules, message):
    with pytest.raises(OptionError, match=message):
        rules.apply(CANDIDATES)


# ------------------------------------------------------------------------------ recommend


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("lab") / "run"
    return fit_run(DataConfig(), ModelConfig(epochs=10), out=out, progress=False)[0]


@pytest.mark.parametrize("strategy", ["ucb", "q-ucb", "thompson-batch", "top-set-info"])
def test_recommend_honours_every_rule(demo_run, tmp_path, strategy):
    bnn, measured = load_fit(demo_run)[0], read_screen(demo_run)
    free = recommend(bnn, measured, strategy=strategy, batch_size=12, num_samples=40)
    assert free["cell_line"].nunique() > 1
    one_line = recommend(
        bnn, measured, strategy=strategy, batch_size=12, num_samples=40, rules=LabRules(1, 3)
    )
    assert len(one_line) == 12 and one_line["cell_line"].nunique() == 1
    uses = pd.concat([one_line["drug_a"], one_line["drug_b"]]).value_counts()
    assert uses.max() <= 3
    stock = sorted(set(measured["drug_a"]))[:12]
    costs = write(tmp_path / "c.csv", "cell_line,cost\nC0,1\nC1,2\nC2,3\nC3,4\n")
    rules = LabRules(available_drugs=write(tmp_path / "s.csv", "drug\n" + "\n".join(stock)))
    rules = LabRules(None, None, rules.available_drugs, costs, budget=10.0)
    priced = recommend(bnn, measured, strategy=strategy, batch_size=12, num_samples=40, rules=rules)
    assert priced["cost"].sum() <= 10 and 0 < len(priced) <= 10
    assert set(priced["drug_a"]) | set(priced["drug_b"]) <= set(stock)
    lines = priced["cell_line"].map({"C0": 1, "C1": 2, "C2": 3, "C3": 4})
    assert priced["cost"].tolist() == lines.tolist()


def test_recommend_refuses_rules_that_cannot_fill_the_batch(demo_run):
    bnn, measured = load_fit(demo_run)[0], read_screen(demo_run)
    with pytest.raises(OptionError, match="^max_drug_uses 1 let only .* of the batch_size 30"):
        recommend(bnn, measured, batch_size=30, num_samples=20, rules=LabRules(max_drug_uses=1))


def test_cli_recommend_with_lab_rules_and_a_bad_cost_file(demo_run, tmp_path, capsys):
    costs = write(tmp_path / "c.csv", "cell_line,cost\nC0,1\nC1,1\nC2,1\nC3,1\n")
    out = tmp_path / "next.csv"
    args = ["recommend", "--run", str(demo_run), "--batch-size", "8", "--num-samples", "20"]
    args += ["--max-lines", "2", "--costs", costs, "--budget", "6", "--out", str(out)]
    assert main(args) == 0
    batch = pd.read_csv(out)
    assert len(batch) == 6 and batch["cell_line"].nunique() <= 2
    write(tmp_path / "c.csv", "cell_line,cost\nC0,1\nC1,one\n")
    assert main([*args, "--overwrite"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "c.csv" in err and "data row 2" in err


# ------------------------------------------------------------------------------- simulate

SMALL = ModelConfig(
    model="recover", drug_layers=(32,), merge_dim=16, head_layers=(16,), epochs=10, num_samples=30
)


def test_simulate_rounds_honour_the_rules_and_report_cost(tmp_path):
    costs = write(tmp_path / "c.csv", "cell_line,cost\nC0,1\nC1,2\nC2,1\nC3,3\n")
    rules = LabRules(max_lines=1, max_drug_uses=4, costs=costs, budget=20.0)
    sim = SimulationConfig(
        ("q-ucb", "random"), rounds=2, pairs_per_round=10, initial=20, seeds=1, lab=rules
    )
    summary = simulate(DataConfig(), sim, SMALL, tmp_path / "sim", progress=False)
    rows = pd.read_csv(tmp_path / "sim" / "results.csv")
    progress = json.loads((tmp_path / "sim" / "progress.json").read_text())
    table = DataConfig().load().table
    line_cost = table["cell_line"].map({"C0": 1, "C1": 2, "C2": 1, "C3": 3}).to_numpy()
    for arm, state in progress.items():
        arm_rows = rows[rows["strategy"] == arm.split("/")[0]]
        revealed = np.asarray(state["revealed"])
        for batch in np.split(revealed, arm_rows["tested"].to_numpy()[:-1])[1:]:
            picked = table.iloc[batch]
            assert 0 < len(batch) <= 10 and picked["cell_line"].nunique() == 1, arm
            assert pd.concat([picked["drug_a"], picked["drug_b"]]).value_counts().max() <= 4
            assert line_cost[batch].sum() <= 20
        assert arm_rows["cost"].iloc[-1] == pytest.approx(line_cost[revealed].sum())
    assert (rows.loc[rows["round"] > 0, "distinct_lines"] == 1).all()
    assert (tmp_path / "sim" / "recall.png").stat().st_size > 10_000  # recall vs tests and cost
    for entry in summary.values():
        assert entry["recall_per_cost"] == pytest.approx(entry["recall_mean"] / entry["cost_mean"])


def test_lab_options_resolve_for_simulate_and_sweeps(tmp_path):
    settings = resolve("simulate", {"max_lines": 2, "budget": 30})
    assert settings.simulation.lab == LabRules(max_lines=2, budget=30.0)
    nested = resolve("simulate", file_sections={"simulation": {"lab": {"max_drug_uses": 3}}})
    assert nested.simulation.lab == LabRules(max_drug_uses=3)
    with pytest.raises(OptionError, match="^max_lines must be an integer >= 1"):
        resolve("simulate", {"max_lines": 0})
    with pytest.raises(OptionError, match="simulation.lab.max_lines: expected an integer"):
        resolve("simulate", {"max_lines": "two"})


# ----------------------------------------------------------------------- why each pick


def test_nearest_measured_names_the_pair_elsewhere_and_the_drugs_here():
    measured = pd.DataFrame(
        {
            "drug_a": ["B", "A", "A", "A", "C"],
            "drug_b": ["A", "B", "X", "Y", "Z"],
            "cell_line": ["L1", "L2", "L3", "L3", "L3"],
            "score": [10.0, 30.0, 5.0, 7.0, 50.0],
        }
    )
    picks = pd.DataFrame({"drug_a": ["A", "P"], "drug_b": ["B", "Q"], "cell_line": ["L3", "L1"]})
    assert nearest_measured(measured, picks) == [
        "A+B: 30.0 in L2 (best of 2 lines); here A+Y: 7.0 (best of 2 with A or B)",
        "P+Q never measured; nothing with P or Q measured in L1",
    ]


@pytest.mark.parametrize("strategy", ["ucb", "q-ei", "thompson-batch"])
def test_each_recommendation_says_why(demo_run, strategy):
    bnn, measured = load_fit(demo_run)[0], read_screen(demo_run)
    batch = recommend(bnn, measured, strategy=strategy, batch_size=5, num_samples=40)
    first = batch.iloc[0]
    assert first["why"].startswith(f"{strategy}: ")
    assert f"predicted {first['mean']:.1f} +- {first['std']:.1f}" in first["why"]
    pair = measured[
        (measured["drug_a"] == first["drug_a"]) & (measured["drug_b"] == first["drug_b"])
    ]
    best = pair.loc[pair["score"].idxmax()]
    lines = f"{len(pair)} line" + ("s" if len(pair) > 1 else "")
    assert f"{best['score']:.1f} in {best['cell_line']} (best of {lines})" in first["why"]
    if strategy == "ucb":
        assert f"score {first['score']:.3g}" in first["why"]


def test_cli_simulate_with_lab_rules_prints_cost(tmp_path, capsys):
    args = ["simulate", "--acquisition", "random", "--rounds", "2", "--seeds", "1", "--quiet"]
    args += ["--batch-size", "10", "--initial", "10", "--max-lines", "1", "--budget", "8"]
    assert main([*args, "--out", str(tmp_path / "s")]) == 0
    printed = capsys.readouterr().out
    assert "recall/cost" in printed
    rows = pd.read_csv(tmp_path / "s" / "results.csv")
    assert rows["tested"].tolist() == [10, 18, 26]  # a budget of 8 buys 8 tests a round
    assert (rows["distinct_lines"].iloc[1:] == 1).all() and rows["cost"].iloc[-1] == 26
    assert main([*args[:-4], "--max-lines", "0", "--out", str(tmp_path / "t")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "--max-lines must be an integer >= 1, not 0" in err


def test_simulate_refuses_more_rounds_than_the_drugs_in_stock_allow(tmp_path):
    stock = write(tmp_path / "s.csv", "drug\nD00\nD01\nD02\n")  # 3 pairs x 4 lines = 12 rows
    sim = SimulationConfig(
        ("random",), rounds=2, pairs_per_round=10, lab=LabRules(available_drugs=stock)
    )
    with pytest.raises(OptionError, match="only 12 of the pool's have both drugs in"):
        simulate(DataConfig(), sim, SMALL, tmp_path / "sim", progress=False)
    assert not (tmp_path / "sim").exists()
