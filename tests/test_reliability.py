"""Bad input and faults, as a new user meets them: nothing foreign runs, nothing of the user's is
deleted or overwritten, no silent wrong answer, and one line with exit status 2 instead of a
traceback. Each test here failed on the code before these checks existed."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from cli_helpers import one_line_error, run

from synergy_ppl.cli import main
from synergy_ppl.config import ModelConfig
from synergy_ppl.data import DataConfig, make_demo_screen, read_smiles
from synergy_ppl.errors import TrainingDiverged
from synergy_ppl.estimator import SynergyBNN
from synergy_ppl.outputs import MANIFEST, prepare_folder, record, remove_owned

TINY = [
    "--model",
    "recover",
    "--drug-layers",
    "16",
    "--merge-dim",
    "8",
    "--head-layers",
    "8",
    "--n-bits",
    "64",
]
FAST = [*TINY, "--epochs", "3", "--num-samples", "10", "--quiet"]
SMILES = {
    "000": "CCO",
    "007": "CC(=O)O",
    "2244": "CC(=O)OC1=CC=CC=C1C(=O)O",
    "3672": "CC(C)CC1=CC=C(C=C1)C(C)C(=O)O",
    "aspirin": "CC(=O)OC1=CC=CC=C1C(=O)O",
    "caffeine": "CN1C=NC2=C1C(=O)N(C(=O)N2C)C",
}


def write_screen(folder: Path, rows: list[tuple], score_column: str = "synergy") -> Path:
    """A user's combination table and drug table in ``folder``; returns the table's path."""
    folder.mkdir(parents=True, exist_ok=True)
    table = pd.DataFrame(rows, columns=["drug_a", "drug_b", "cell_line", score_column])
    table.to_csv(folder / "screen.csv", index=False)
    drugs = pd.DataFrame({"drug": list(SMILES), "smiles": list(SMILES.values())})
    drugs.to_csv(folder / "drugs.csv", index=False)
    return folder / "screen.csv"


def fit_user(table: Path, capsys, *options) -> tuple[int, str]:
    """``fit`` of a user table with the drugs.csv beside it, into ``run`` beside it."""
    folder = table.parent
    args = ["fit", "--data", table, "--drugs", folder / "drugs.csv", *FAST, *options]
    return run([*args, "--out", folder / "run"], capsys)


def grid_rows(drugs=("000", "007", "2244", "3672", "caffeine"), lines=("L1", "L2")) -> list:
    rng = np.random.default_rng(0)
    return [
        (a, b, line, float(rng.normal(0, 10)))
        for line in lines
        for i, a in enumerate(drugs)
        for b in drugs[i + 1 :]
    ]


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("reliability") / "run"
    assert main(["fit", *FAST, "--epochs", "10", "--out", str(out)]) == 0
    return out


# ------------------------------------------------------------------ 1. data loss


def test_simulate_overwrite_keeps_the_users_files(tmp_path, capsys):
    out = tmp_path / "d"
    out.mkdir()
    (out / "thesis.txt").write_text("x")
    args = ["simulate", "--acquisition", "random", "--rounds", "1", "--seeds", "1", "--quiet"]
    status, err = run([*args, "--out", out], capsys)
    one_line_error(status, err, str(out), "--overwrite")
    assert run([*args, "--out", out, "--overwrite"], capsys)[0] == 0
    assert (out / "thesis.txt").read_text() == "x"
    assert (out / "results.csv").exists()
    # a second --overwrite replaces the simulation and still keeps the thesis
    assert run([*args, "--out", out, "--overwrite", "--first-seed", "1"], capsys)[0] == 0
    assert (out / "thesis.txt").read_text() == "x"
    assert set(pd.read_csv(out / "results.csv")["seed"]) == {1}


def test_fit_overwrite_removes_the_old_runs_outputs_and_keeps_the_users(tmp_path, capsys):
    out = tmp_path / "run"
    assert run(["fit", *FAST, "--out", out], capsys)[0] == 0
    pairs = tmp_path / "pairs.csv"
    pd.DataFrame({"drug_a": ["D00"], "drug_b": ["D01"], "cell_line": ["C0"]}).to_csv(pairs)
    assert run(["predict", "--run", out, "--pairs", pairs], capsys)[0] == 0
    assert run(["recommend", "--run", out, "--batch-size", "3"], capsys)[0] == 0
    assert (out / "predictions.csv").exists() and (out / "recommendations.csv").exists()
    (out / "notes.txt").write_text("mine")
    assert run(["fit", *FAST, "--out", out, "--overwrite", "--seed", "1"], capsys)[0] == 0
    assert not (out / "predictions.csv").exists()
    assert not (out / "recommendations.csv").exists()
    assert (out / "notes.txt").read_text() == "mine"
    assert json.loads((out / "config.json").read_text())["model"]["seed"] == 1


def test_overwrite_never_replaces_a_file_synergy_ppl_did_not_write(demo_run, tmp_path, capsys):
    mine = tmp_path / "mine.csv"
    mine.write_text("precious\n")
    pairs = tmp_path / "pairs.csv"
    pd.DataFrame({"drug_a": ["D00"], "drug_b": ["D01"], "cell_line": ["C0"]}).to_csv(pairs)
    status, err = run(
        ["predict", "--run", demo_run, "--pairs", pairs, "--out", mine, "--overwrite"], capsys
    )
    one_line_error(status, err, "not written by synergy-ppl")
    assert mine.read_text() == "precious\n"
    folder = tmp_path / "taken"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    status, err = run(["fit", *FAST, "--out", folder, "--overwrite"], capsys)
    one_line_error(status, err, "config.json")
    assert (folder / "config.json").read_text() == "{}"
    predict = ["predict", "--run", demo_run, "--pairs", pairs, "--out", tmp_path / "p.csv"]
    assert run(predict, capsys)[0] == 0
    assert run([*predict, "--overwrite"], capsys)[0] == 0  # its own output: replaced


def test_diagnose_overwrite_replaces_only_its_own_files(demo_run, tmp_path, capsys):
    out = tmp_path / "diag"
    out.mkdir()
    (out / "report.html").write_text("my report")
    status, err = run(["diagnose", "--run", demo_run, "--out", out, "--overwrite"], capsys)
    one_line_error(status, err, "report.html")
    assert (out / "report.html").read_text() == "my report"


# --------------------------------------------------------------- 2. foreign code


class Payload:
    """Unpickling this object writes a file: what a malicious model.pt would do."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return exec, (f"open({self.marker!r}, 'w').write('ran')",)


def test_a_pickled_payload_in_a_model_file_never_runs(demo_run, tmp_path, capsys):
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil-run"
    evil.mkdir()
    for name in ("config.json", "metrics.json", "screen.csv", "elbo.csv"):
        (evil / name).write_bytes((demo_run / name).read_bytes())
    torch.save({"config": Payload(marker)}, evil / "model.pt")
    pairs = tmp_path / "pairs.csv"
    pd.DataFrame({"drug_a": ["D00"], "drug_b": ["D01"], "cell_line": ["C0"]}).to_csv(pairs)
    simulate = ["simulate", "--cell-line", "C0", "--rounds", "1", "--seeds", "1", "--quiet"]
    simulate += ["--pretrain"]
    commands = [
        ["predict", "--run", evil, "--pairs", pairs, "--out", tmp_path / "p.csv"],
        ["recommend", "--run", evil, "--out", tmp_path / "r.csv"],
        ["diagnose", "--run", evil, "--out", tmp_path / "diag"],
        ["fit", *FAST, "--prior-from", evil, "--out", tmp_path / "f"],
        [*simulate, evil, "--out", tmp_path / "s"],
        [*simulate, evil / "model.pt", "--out", tmp_path / "s2"],
    ]
    for command in commands:
        status, err = run(command, capsys)
        one_line_error(status, err, "model.pt")
        assert not marker.exists(), command
    assert not (tmp_path / "p.csv").exists() and not (tmp_path / "f").exists()


# ------------------------------------------------------------- 3. wrong column


@pytest.mark.parametrize("mapping", ["synergy=loewe", "scroe=loewe", "score=", "score=a,score=b"])
def test_an_unknown_or_empty_columns_key_is_refused(tmp_path, capsys, mapping):
    table = write_screen(tmp_path, grid_rows())
    status, err = fit_user(table, capsys, "--columns", mapping)
    one_line_error(status, err, "--columns")
    assert not (tmp_path / "run").exists()


def test_a_mapped_score_column_is_the_one_fitted(tmp_path, capsys):
    rows = [(*r[:3], r[3], 1000 + r[3]) for r in grid_rows()]
    table = pd.DataFrame(rows, columns=["drug_a", "drug_b", "cell_line", "synergy", "loewe"])
    write_screen(tmp_path, grid_rows())
    table.to_csv(tmp_path / "screen.csv", index=False)
    args = ["fit", "--data", tmp_path / "screen.csv", "--drugs", tmp_path / "drugs.csv", *FAST]
    assert run([*args, "--columns", "score=loewe", "--out", tmp_path / "run"], capsys)[0] == 0
    fitted = pd.read_csv(tmp_path / "run" / "screen.csv")
    assert fitted["score"].mean() > 900


# ---------------------------------------------------------- 4. drug table conflict


def test_a_drug_with_two_different_smiles_is_refused_naming_both_rows(tmp_path, capsys):
    table = write_screen(tmp_path, grid_rows())
    with (tmp_path / "drugs.csv").open("a") as stream:
        stream.write("caffeine,CCO\n")
    status, err = fit_user(table, capsys)
    one_line_error(status, err, "caffeine", "rows 6 and 7")
    with (tmp_path / "same.csv").open("w") as stream:  # an exact repeat is harmless
        stream.write("drug,smiles\nA,CCO\nA,CCO\n")
    assert read_smiles(tmp_path / "same.csv") == {"A": "CCO"}


# --------------------------------------------------------- 5. untrained model


@pytest.mark.parametrize("epochs", ["0", "-3"])
def test_zero_or_negative_epochs_write_no_run(tmp_path, capsys, epochs):
    status, err = run(["fit", *FAST, "--epochs", epochs, "--out", tmp_path / "run"], capsys)
    one_line_error(status, err, "--epochs")
    assert not (tmp_path / "run").exists()
    status, err = run(["simulate", "--epochs", epochs, "--quiet", "--out", tmp_path / "s"], capsys)
    one_line_error(status, err, "--epochs")
    assert not (tmp_path / "s").exists()


# ------------------------------------------------------------ 6. extreme values


def test_a_score_no_synergy_score_can_have_is_refused_naming_the_row(tmp_path, capsys):
    rows = grid_rows()
    rows[3] = (*rows[3][:3], 1e30)
    table = write_screen(tmp_path, rows)
    status, err = fit_user(table, capsys)
    one_line_error(status, err, "row(s) [4]", "1e+30")
    assert not (tmp_path / "run").exists()


# ---------------------------------------------------------------- 7. divergence


@pytest.mark.parametrize("rates", [["--lr", "1e6"], ["--lr", "1", "--guide-lr", "1"]])
def test_a_diverged_fit_says_what_to_change_and_writes_nothing(tmp_path, capsys, rates):
    out = tmp_path / "run"
    fit = ["fit", "--model", "recover", "--epochs", "20", "--quiet"]
    status, err = run([*fit, *rates, "--out", out], capsys)
    one_line_error(status, err, "diverged", "--lr")
    assert not out.exists()


def test_a_non_finite_loss_keeps_the_last_finite_parameters():
    screen = make_demo_screen()
    split = DataConfig().split_of(screen)
    config = ModelConfig(
        model="recover", drug_layers=(16,), merge_dim=8, head_layers=(8,), n_bits=64, lr=1e6
    )
    bnn = SynergyBNN.from_config(config)
    with pytest.raises(TrainingDiverged, match="lower lr") as caught:
        bnn.fit(screen, split, progress=False)
    assert all(torch.isfinite(p).all() for p in bnn.model.parameters())
    assert all(torch.isfinite(p).all() for p in bnn.guide.parameters())
    assert isinstance(caught.value.history.elbo, list)


# ------------------------------------------------- options checked before any work


@pytest.mark.parametrize(
    "option",
    [
        ["--batch-size", "0"],
        ["--num-samples", "0"],
        ["--dropout", "1.5"],
        ["--lr", "-1"],
        ["--guide-lr", "0"],
        ["--drug-layers", "0"],
        ["--drug-layers", "a,b"],
        ["--val-fraction", "-0.1"],
        ["--test-fraction", "0"],
        ["--test-fraction", "0.6", "--val-fraction", "0.5"],
        ["--prior-scale", "-1"],
        ["--split", "fold"],
        ["--seed", "-1"],
        ["--device", "tpu"],
    ],
)
def test_a_bad_model_or_data_option_is_one_line_before_any_work(tmp_path, capsys, option):
    status, err = run(["fit", *FAST, *option, "--out", tmp_path / "run"], capsys)
    one_line_error(status, err, option[0])
    assert not (tmp_path / "run").exists()


def test_cuda_on_a_torch_without_cuda_is_refused(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    for command in (["fit", *FAST], ["simulate", "--quiet"]):
        status, err = run([*command, "--device", "cuda", "--out", tmp_path / "x"], capsys)
        one_line_error(status, err, "--device cuda", "--device cpu")


def test_predict_and_recommend_check_their_options_first(demo_run, tmp_path, capsys):
    pairs = tmp_path / "pairs.csv"
    pd.DataFrame({"drug_a": ["D00"], "drug_b": ["D01"], "cell_line": ["C0"]}).to_csv(pairs)
    status, err = run(
        [
            "predict",
            "--run",
            demo_run,
            "--pairs",
            pairs,
            "--num-samples",
            "0",
            "--out",
            tmp_path / "p.csv",
        ],
        capsys,
    )
    one_line_error(status, err, "--num-samples")
    for option in (
        ["--num-samples", "0"],
        ["--batch-size", "0"],
        ["--acquisition", "ucbb"],
        ["--kappa", "-1"],
    ):
        status, err = run(
            ["recommend", "--run", demo_run, *option, "--out", tmp_path / "r.csv"], capsys
        )
        one_line_error(status, err, option[0].lstrip("-") if "acq" in option[0] else option[0])
    assert not (tmp_path / "p.csv").exists() and not (tmp_path / "r.csv").exists()


def test_validation_fraction_zero_means_no_validation_part(tmp_path, capsys):
    assert run(["fit", *FAST, "--val-fraction", "0", "--out", tmp_path / "run"], capsys)[0] == 0
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert "val" not in metrics and "test" in metrics
    assert "val" not in set(pd.read_csv(tmp_path / "run" / "screen.csv")["part"])


# --------------------------------------------------------------------- config files


@pytest.mark.parametrize(
    ("text", "needles"),
    [
        ("model: {epochs: 3\n  dropout: [", ("config.yaml", "line")),
        ("model: {epochs: ten}", ("model.epochs", "integer")),
        ("model: {drug_layers: 64}", ("model.drug_layers", "list of integers")),
        ("data: {split: pair, test_fraction: high}", ("data.test_fraction",)),
        ("model: {epoch: 3}", ("epoch",)),
        ("- just\n- a list", ("config.yaml", "'data:' and 'model:'")),
        ("model: 3", ("'model:' must be a mapping",)),
        ("model:\n  epochs: 3\n  epochs: 5", ("key 'epochs' is given twice", "line 3")),
    ],
)
def test_a_bad_config_file_is_one_line_naming_the_key(tmp_path, capsys, text, needles):
    config = tmp_path / "config.yaml"
    config.write_text(text)
    status, err = run(["fit", "--config", config, "--quiet", "--out", tmp_path / "run"], capsys)
    one_line_error(status, err, *needles)


# ---------------------------------------------------------------------- tables


def test_drug_names_that_look_like_numbers_keep_their_spelling(tmp_path, capsys):
    table = write_screen(tmp_path, grid_rows())
    with table.open("a") as stream:
        stream.write(",,,\n")  # a blank spacing row would make the names floats
    args = ["fit", "--data", table, "--drugs", tmp_path / "drugs.csv", *FAST]
    assert run([*args, "--out", tmp_path / "run"], capsys)[0] == 0
    names = (tmp_path / "run" / "screen.csv").read_text()
    assert "000,007" in names and "2244,3672" in names and "2244.0" not in names


def test_a_fold_column_matters_only_to_the_fold_split(tmp_path, capsys):
    rows = grid_rows()
    table = pd.DataFrame(rows, columns=["drug_a", "drug_b", "cell_line", "synergy"])
    table["fold"] = ["x" if i % 7 == 0 else str(i % 3) for i in range(len(table))]
    write_screen(tmp_path, rows)
    table.to_csv(tmp_path / "screen.csv", index=False)
    args = ["fit", "--data", tmp_path / "screen.csv", "--drugs", tmp_path / "drugs.csv", *FAST]
    assert run([*args, "--split", "random", "--out", tmp_path / "a"], capsys)[0] == 0
    status, err = run(
        [*args, "--split", "fold", "--test-fold", "0", "--out", tmp_path / "b"], capsys
    )
    one_line_error(status, err, "'fold'", "data row 1", "'x'")


def test_a_column_named_score_is_the_score(tmp_path, capsys):
    table = write_screen(tmp_path, grid_rows(), score_column="score")
    drugs = ["--drugs", tmp_path / "drugs.csv", *FAST]
    assert run(["fit", "--data", table, *drugs, "--out", tmp_path / "run"], capsys)[0] == 0
    own = tmp_path / "run" / "screen.csv"  # the run's own screen is a valid input too
    assert run(["fit", "--data", own, *drugs, "--out", tmp_path / "again"], capsys)[0] == 0


@pytest.mark.parametrize(
    ("broken", "content"),
    [("screen.csv", ""), ("config.json", "{}"), ("config.json", "[1]"), ("model.pt", "")],
)
def test_a_corrupt_run_folder_is_one_clear_line(demo_run, tmp_path, capsys, broken, content):
    copy = tmp_path / "copy"
    copy.mkdir()
    for path in demo_run.iterdir():
        if path.is_file():
            (copy / path.name).write_bytes(path.read_bytes())
    (copy / broken).write_text(content)
    command = ["recommend", "--run", copy, "--out", tmp_path / "r.csv"]
    if broken == "config.json":
        command = [
            "predict",
            "--run",
            copy,
            "--pairs",
            copy / "screen.csv",
            "--out",
            tmp_path / "p.csv",
        ]
    status, err = run(command, capsys)
    one_line_error(status, err, broken, "refit")


def test_download_offline_says_where_to_put_the_files(tmp_path, capsys, monkeypatch):
    def offline(*args, **kwargs):
        raise urllib.error.URLError("Temporary failure in name resolution")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    status, err = run(["download", "oneil", "--data-dir", tmp_path], capsys)
    one_line_error(status, err, "Offline?", str(tmp_path / "oneil"))
    assert not any(p.is_file() for p in tmp_path.rglob("*"))


def test_predict_into_a_missing_folder_creates_it(demo_run, tmp_path, capsys):
    pairs = tmp_path / "pairs.csv"
    pd.DataFrame({"drug_a": ["D00"], "drug_b": ["D01"], "cell_line": ["C0"]}).to_csv(pairs)
    out = tmp_path / "new" / "folder" / "p.csv"
    assert run(["predict", "--run", demo_run, "--pairs", pairs, "--out", out], capsys)[0] == 0
    assert len(pd.read_csv(out)) == 1
    assert "p.csv" in json.loads((out.parent / MANIFEST).read_text())["written"]


def test_recommend_right_after_the_quick_start_fit_has_candidates(demo_run, capsys):
    assert run(["recommend", "--run", demo_run], capsys)[0] == 0
    batch = pd.read_csv(demo_run / "recommendations.csv")
    measured = pd.read_csv(demo_run / "screen.csv")
    assert len(batch) == 30
    tested = set(zip(measured["drug_a"], measured["drug_b"], measured["cell_line"], strict=True))
    assert not tested & set(zip(batch["drug_a"], batch["drug_b"], batch["cell_line"], strict=True))


def test_removing_our_outputs_keeps_a_user_file_inside_an_owned_folder(tmp_path):
    run_dir = prepare_folder(tmp_path / "run")
    diagnostics = prepare_folder(run_dir / "diagnostics")  # recorded in the run's manifest
    record(diagnostics, "report.html")
    (diagnostics / "report.html").write_text("ours")
    (diagnostics / "notes.txt").write_text("mine")
    (run_dir / "empty").mkdir()
    record(run_dir, "empty")
    remove_owned(run_dir)
    assert (diagnostics / "notes.txt").read_text() == "mine"
    assert not (diagnostics / "report.html").exists() and not (run_dir / "empty").exists()
    assert "diagnostics" in json.loads((run_dir / MANIFEST).read_text())["written"]
