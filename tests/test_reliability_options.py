"""Every option either acts or is refused with one line saying why (issue 32, second pass):
table options a loader would ignore, model options a family does not read, validation
options without validation rows, a pretrained run's family against --model, wrong types in
Python, and sizes or config files that would exhaust memory. Nearly every refusal comes
before any fit, so these tests are fast."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from cli_helpers import one_line_error, run

from synergy_ppl import config as model_config
from synergy_ppl import screen_from_frame
from synergy_ppl.cli import main
from synergy_ppl.config import ModelConfig
from synergy_ppl.data import DataConfig, load_screen, make_demo_screen
from synergy_ppl.data.features import morgan_fingerprints
from synergy_ppl.errors import DataError, OptionError
from synergy_ppl.estimator import SynergyBNN
from synergy_ppl.model.families import FAMILIES
from synergy_ppl.settings import read_config_file, resolve
from synergy_ppl.transfer import Transfer

SMILES = {
    "Aspirin": "CC(=O)OC1=CC=CC=C1C(=O)O",
    "Caffeine": "CN1C=NC2=C1C(=O)N(C(=O)N2C)C",
    "Ibuprofen": "CC(C)CC1=CC=C(C=C1)C(C)C(=O)O",
    "Ethanol": "CCO",
}
LINES = ("MCF7", "A549")
QUICK = ["--rank", "4", "--epochs", "2", "--num-samples", "10", "--quiet"]
"""Keeps a fit that old code would run (instead of refusing) to a second or two."""


def rows() -> list[tuple]:
    names = list(SMILES)
    return [
        (a, b, line)
        for line in LINES
        for i, a in enumerate(names)
        for b in names[i + 1 :]
        for _ in range(2)  # replicates, so that a pair split leaves rows in every part
    ]


@pytest.fixture
def drugcomb(tmp_path) -> Path:
    """A DrugComb summary export in its native layout, with its drug table beside it."""
    rng = np.random.default_rng(0)
    table = pd.DataFrame(rows(), columns=["drug_row", "drug_col", "cell_line_name"])
    for column in ("synergy_zip", "synergy_bliss", "synergy_loewe", "synergy_hsa"):
        table[column] = rng.normal(5, 10, len(table))
    table["S_mean"], table["S_max"], table["study_name"] = 1.0, 2.0, "ONEIL"
    table.to_csv(tmp_path / "summary.csv", index=False)
    drugs = pd.DataFrame({"dname": list(SMILES), "smiles": list(SMILES.values())})
    drugs.to_csv(tmp_path / "drugs.csv", index=False)
    return tmp_path / "summary.csv"


@pytest.fixture
def user_table(tmp_path) -> Path:
    """A plain table, its drug table and a cell-line table, written as a user has them."""
    tmp_path = tmp_path / "user"  # beside a DrugComb export's own drugs.csv
    tmp_path.mkdir()
    rng = np.random.default_rng(1)
    table = pd.DataFrame(rows(), columns=["drug_a", "drug_b", "cell_line"])
    table["synergy"] = rng.normal(0, 5, len(table))
    table.to_csv(tmp_path / "screen.csv", index=False)
    pd.DataFrame({"drug": list(SMILES), "smiles": list(SMILES.values())}).to_csv(
        tmp_path / "drugs.csv", index=False
    )
    cells = pd.DataFrame({"line": list(LINES), "g1": [0.5, 1.5], "g2": [2.0, -1.0]})
    cells.to_csv(tmp_path / "cells.csv", index=False)
    return tmp_path / "screen.csv"


def user_args(table: Path) -> list:
    return ["fit", "--data", table, "--drugs", table.with_name("drugs.csv")]


# --------------------------------------------------------------------- 1. --columns, aggregate
def test_columns_with_a_drugcomb_export_is_refused_naming_score(drugcomb, tmp_path, capsys):
    args = ["fit", "--data", f"drugcomb:{drugcomb}", "--columns", "score=synergy_loewe"]
    status, err = run([*args, *QUICK, "--out", tmp_path / "run"], capsys)
    one_line_error(status, err, "--columns", "--score loewe")
    assert not (tmp_path / "run").exists()
    with pytest.raises(OptionError, match="score picks one of its scores"):
        load_screen(f"drugcomb:{drugcomb}", column_map={"drug_a": "drug_row"})


# ------------------------------------------------------------- 2. --cell-features, aggregate
def test_a_missing_cell_table_with_a_drugcomb_export_is_refused(drugcomb, tmp_path, capsys):
    missing = tmp_path / "MISSING.csv"
    args = ["fit", "--data", f"drugcomb:{drugcomb}", "--model", "recover", "--cell-features"]
    args += [missing, "--drug-layers", "8", "--merge-dim", "4", "--head-layers", "4"]
    status, err = run([*args, "--n-bits", "64", *QUICK[2:], "--out", tmp_path / "run"], capsys)
    one_line_error(status, err, "MISSING.csv")
    assert not (tmp_path / "run").exists()


def test_cell_features_act_for_a_drugcomb_export(drugcomb, user_table):
    cells = user_table.with_name("cells.csv")
    screen = load_screen(f"drugcomb:{drugcomb}", cell_features=cells)
    assert screen.cell_features is not None and sorted(screen.cell_features.index) == [
        "A549",
        "MCF7",
    ]
    assert screen.report["format"] == "drugcomb"  # the loader's report is kept
    pd.DataFrame({"line": ["MCF7"], "g1": [0.5]}).to_csv(cells, index=False)
    with pytest.raises(DataError, match=r"absent from the cell-line feature table: \['A549'\]"):
        load_screen(f"drugcomb:{drugcomb}", cell_features=cells)


def test_cell_features_that_one_hot_lines_would_ignore_are_refused(user_table, tmp_path, capsys):
    cells = user_table.with_name("cells.csv")
    args = [*user_args(user_table), "--cell-features", cells, *QUICK, "--out", tmp_path / "run"]
    status, err = run(args, capsys)  # factorization: one-hot lines unless --cell-components
    one_line_error(status, err, "--cell-features", "--cell-components K")
    base = {"data": str(user_table), "drugs": "d.csv", "cell_features": str(cells)}
    assert resolve("fit", {**base, "cell_components": 2}).model.cell_components == 2
    with pytest.raises(OptionError, match=r"cell_components 0\)"):
        resolve("fit", {**base, "cell_components": 0})


def test_cell_components_without_a_cell_table_are_refused(user_table):
    with pytest.raises(OptionError, match="data demo has no cell-line table"):
        resolve("fit", {"cell_components": 4})
    with pytest.raises(OptionError, match="give cell_features PATH"):
        resolve("fit", {"data": str(user_table), "drugs": "d.csv", "cell_components": 4})
    resolve("fit", {"model": "recover"})  # its default 32 is not the user's: no refusal


# ------------------------------------------------------------------- 3. built-in screens
@pytest.mark.parametrize("source", ["demo", "oneil", "almanac"])
@pytest.mark.parametrize(
    ("option", "value"),
    [("drugs", "drugs.csv"), ("cell_features", "cells.csv"), ("columns", {"score": "x"})],
)
def test_table_options_with_a_built_in_screen_are_refused(source, option, value):
    with pytest.raises(OptionError, match=f"^{option} is for a table of your own.*{source}"):
        DataConfig(data=source, **{option: value})
    with pytest.raises(OptionError, match=f"^{option} "):
        load_screen(source, **{"column_map" if option == "columns" else option: value})


def test_drugs_with_the_demo_is_one_line(tmp_path, capsys):
    status, err = run(["fit", "--drugs", "x.csv", *QUICK, "--out", tmp_path / "run"], capsys)
    one_line_error(status, err, "--drugs", "--data demo")


# ------------------------------------------------------------ 4. options a family ignores
@pytest.mark.parametrize(
    ("option", "value", "instead"),
    [("lr", 0.01, "guide_lr"), ("weight_decay", 0.1, "prior"), ("trunk_anchor", 5.0, "")],
)
def test_point_layer_options_of_a_family_without_point_layers_are_refused(option, value, instead):
    with pytest.raises(OptionError, match=f"^{option}: model hierarchical has no point-est"):
        resolve("fit", {option: value})
    with pytest.raises(OptionError, match=f"model recover bayesian all.*{instead}"):
        resolve("fit", {option: value, "model": "recover", "bayesian": "all"})


def test_lr_given_to_the_default_family_is_one_line_naming_guide_lr(tmp_path, capsys):
    status, err = run(["fit", "--lr", "0.01", *QUICK, "--out", tmp_path / "run"], capsys)
    one_line_error(status, err, "--lr", "hierarchical", "--guide-lr")
    assert not (tmp_path / "run").exists()


def test_family_defaults_and_options_it_reads_are_not_refused(tmp_path):
    # every family says whether it keeps point layers
    assert set(getattr(model_config, "POINT_LAYERS", ())) == set(FAMILIES)
    resolve("fit", {})  # the defaults fill lr and weight_decay: nothing was given
    assert resolve("fit", {"model": "recover", "lr": 0.01}).model.lr == 0.01
    assert resolve("fit", {"model": "pair-mlp", "weight_decay": 0.1}).model.weight_decay == 0.1
    resolve("fit", {"guide_lr": 0.01})
    # simulate's round defaults carry trunk_anchor; the user gave none of them
    resolve("simulate", {"model": "factorization"})
    with pytest.raises(OptionError, match="^lr: model factorization"):
        resolve("simulate", {"model": "factorization", "lr": 0.01})


def test_point_layer_options_in_a_config_file_or_a_sweep_are_refused(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text("model:\n  lr: 0.01\n")
    with pytest.raises(OptionError, match="^lr: model hierarchical"):
        resolve("fit", None, read_config_file(path), str(path))
    with pytest.raises(OptionError, match="weight_decay"):
        resolve("fit", {"weight_decay": 0.2}, source="sweep.yaml: fixed")
    path.write_text("model:\n  model: recover\n  lr: 0.01\n")
    assert resolve("fit", None, read_config_file(path), str(path)).model.lr == 0.01


def test_trunk_anchor_without_prior_from_is_refused():
    with pytest.raises(OptionError, match="^trunk_anchor .* only with prior_from"):
        resolve("fit", {"model": "recover", "trunk_anchor": 5.0})
    settings = resolve("fit", {"model": "recover", "trunk_anchor": 5.0, "prior_from": "run"})
    assert settings.model.trunk_anchor == 5.0


def test_layer_options_of_another_family_stay_refused():
    for given in ({"drug_layers": (8,)}, {"merge_dim": 4}, {"pair_layers": (8,)}):
        with pytest.raises(OptionError, match="is an option of model"):
            resolve("fit", given)
    with pytest.raises(OptionError, match="^rank is an option of model factorization"):
        resolve("fit", {"model": "recover", "rank": 4})
    for given in ({"dropout": 0.1}, {"bayesian": "all"}, {"head_layers": (8,)}):
        with pytest.raises(OptionError, match="is an option of model"):
            resolve("fit", given)


# --------------------------------------------------------- 5. validation without val rows
@pytest.mark.parametrize(
    ("given", "flag"),
    [
        ({"refit": True}, "refit"),
        ({"refit": False}, "refit=False"),
        ({"stop_on": "rmse"}, "stop_on"),
        ({"patience": 5}, "patience"),
    ],
)
def test_validation_options_without_validation_rows_are_refused(given, flag):
    with pytest.raises(OptionError, match=f"^{flag} acts on .*val_fraction 0"):
        resolve("fit", {"val_fraction": 0, **given})
    resolve("fit", {"val_fraction": 0.1, **given})
    resolve("fit", {"val_fraction": 0})  # their defaults are not the user's


def test_no_refit_without_validation_rows_is_one_line(tmp_path, capsys):
    args = ["fit", "--val-fraction", "0", "--no-refit", *QUICK, "--out", tmp_path / "run"]
    one_line_error(*run(args, capsys), "--no-refit", "--val-fraction 0")


# ------------------------------------------------------ 6. --prior-from against --model
def start(**config) -> SimpleNamespace:
    """A stand-in for a fitted model: Transfer.model_config reads only its config."""
    return SimpleNamespace(config=ModelConfig(**config))


def test_a_transfer_refuses_a_given_model_of_another_family():
    factorization = start(model="factorization", rank=8)
    given = Transfer(given={"model"})
    with pytest.raises(
        OptionError, match="^model recover, but the pretrained model has model factorization"
    ):
        given.model_config(ModelConfig(model="recover"), factorization)
    with pytest.raises(OptionError, match="^rank 16, but the pretrained model has rank 8"):
        Transfer(given={"rank"}).model_config(ModelConfig(rank=16), factorization)
    # not given: the pretrained family and sizes are taken, as before
    taken = Transfer().model_config(ModelConfig(model="recover"), factorization)
    assert (taken.model, taken.rank) == ("factorization", 8)
    assert Transfer(given={"rank"}).model_config(ModelConfig(rank=8), factorization).rank == 8


def test_a_transfer_refuses_options_the_pretrained_family_does_not_read():
    with pytest.raises(OptionError, match="^lr: model factorization"):
        Transfer(given={"lr"}).model_config(
            ModelConfig(model="recover", lr=0.1), start(model="factorization", rank=8)
        )
    recover = start(model="recover", drug_layers=(8,), merge_dim=4, head_layers=(4,))
    assert Transfer(given={"lr"}).model_config(ModelConfig(lr=0.1), recover).lr == 0.1


@pytest.fixture(scope="module")
def factorization_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("runs") / "factorization"
    assert main(["fit", "--model", "factorization", *QUICK, "--out", str(out)]) == 0
    return out


def test_prior_from_a_run_of_another_family_than_model_is_one_line(
    factorization_run, tmp_path, capsys
):
    args = ["fit", "--prior-from", factorization_run, "--model", "recover", "--epochs", "2"]
    status, err = run([*args, "--quiet", "--out", tmp_path / "run"], capsys)
    one_line_error(status, err, "--model recover, but the pretrained model has --model factor")
    assert not (tmp_path / "run").exists()
    status, _ = run(
        ["fit", "--prior-from", factorization_run, *QUICK, "--out", tmp_path / "b"], capsys
    )
    assert status == 0  # --rank 4 is the pretrained model's


# ------------------------------------------------------------------ 7. Python API types
@pytest.mark.parametrize(
    ("values", "needle"),
    [
        ({"rank": 2.5}, "ModelConfig.rank: expected an integer"),
        ({"epochs": 2.7}, "ModelConfig.epochs: expected an integer"),
        ({"epochs": 3.0}, "ModelConfig.epochs: expected an integer"),
        ({"seed": True}, "ModelConfig.seed: expected an integer"),
        ({"refit": 1}, "ModelConfig.refit: expected true/false"),
        ({"lr": "fast"}, "ModelConfig.lr: expected a number"),
        ({"model": 3}, "ModelConfig.model: expected a string"),
        ({"prior_kwargs": [1]}, "ModelConfig.prior_kwargs"),
        ({"model": "recover", "drug_layers": (8.5,)}, "ModelConfig.drug_layers"),
    ],
)
def test_model_config_refuses_wrong_types_naming_the_parameter(values, needle):
    with pytest.raises(OptionError, match=needle):
        ModelConfig(**values)


def test_model_config_converts_what_a_config_file_would():
    config = ModelConfig(model="recover", drug_layers=[8, 4], epochs=np.int64(3), lr=1)
    assert config.drug_layers == (8, 4) and type(config.epochs) is int
    assert type(config.lr) is float


@pytest.mark.parametrize(
    ("values", "needle"),
    [
        ({"split_seed": 1.0}, "DataConfig.split_seed: expected an integer"),
        ({"val_fraction": "some"}, "DataConfig.val_fraction: expected a number"),
        ({"test_fold": True}, "DataConfig.test_fold"),
        ({"columns": "score=x"}, "DataConfig.columns"),
        ({"data": 7}, "DataConfig.data: expected a string"),
    ],
)
def test_data_config_refuses_wrong_types_naming_the_parameter(values, needle):
    with pytest.raises(OptionError, match=needle):
        DataConfig(**values)


def test_data_config_takes_paths_as_text(user_table):
    config = DataConfig(data=user_table, drugs=user_table.with_name("drugs.csv"))
    assert config.data == str(user_table) and isinstance(config.drugs, str)


def test_the_estimator_refuses_a_dict_and_a_data_frame():
    with pytest.raises(OptionError, match=r"config must be a ModelConfig \(ModelConfig\(\*\*"):
        SynergyBNN.from_config({"rank": 4})
    with pytest.raises(OptionError, match=r"with SynergyBNN.from_config\(config\)"):
        SynergyBNN({"rank": 4})
    table = make_demo_screen(n_drugs=4, n_cell_lines=1).table
    with pytest.raises(OptionError, match="screen must be a Screen .*screen_from_frame"):
        SynergyBNN.from_config(ModelConfig(rank=4, epochs=1)).fit(table)
    screen = screen_from_frame(
        pd.DataFrame(
            {"drug_a": ["Aspirin"], "drug_b": ["Ethanol"], "cell_line": ["X"], "synergy": [1.0]}
        ),
        SMILES,
    )
    with pytest.raises(OptionError, match="split must be a Split"):
        SynergyBNN.from_config(ModelConfig(rank=4, epochs=1)).fit(screen, [0])


# ------------------------------------------------------------- 8. sizes and config files
@pytest.mark.parametrize(
    ("values", "needle"),
    [
        ({"n_bits": 50_000_000}, "^n_bits must be >= 0 and <= 16384"),
        ({"rank": 10**6}, "^rank must be >= 1 and <= 4096"),
        ({"rank": 10**400}, "^rank must be"),
        ({"num_samples": 10**8}, "^num_samples must be >= 2 and <= 100000"),
        ({"model": "recover", "drug_layers": (10**6,)}, "at most 16384 units"),
        ({"model": "recover", "merge_dim": 10**6}, "^merge_dim must be"),
        ({"model": "pair-mlp", "pair_layers": (8,) * 100}, "at most 32 layers"),
        ({"radius": 1000}, "^radius must be"),
    ],
)
def test_sizes_that_would_exhaust_memory_are_refused(values, needle):
    with pytest.raises(OptionError, match=needle):
        ModelConfig(**values)


def test_n_bits_on_the_command_line_is_one_line(tmp_path, capsys):
    status, err = run(["fit", "--n-bits", "50000000", *QUICK, "--out", tmp_path / "r"], capsys)
    one_line_error(status, err, "--n-bits", "16384")
    with pytest.raises(OptionError, match="n_bits must be an integer from 1 to 16384"):
        morgan_fingerprints(SMILES, list(SMILES), n_bits=10**8)


def test_a_yaml_alias_bomb_is_refused_unexpanded(tmp_path, capsys):
    """Six lines that expand to a million items in prior_kwargs, whose error message would
    print them all."""
    lines = [
        "model:",
        "  prior_kwargs:",
        "    scale: 1.0",
        "    a0: &a0 [x, x, x, x, x, x, x, x, x, x]",
    ]
    lines += [f"    a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 6)]
    path = tmp_path / "bomb.yaml"
    path.write_text("\n".join(lines) + "\n")
    status, err = run(["fit", "--config", path, "--out", tmp_path / "run"], capsys)
    line = one_line_error(status, err, "bomb.yaml", "alias")
    assert len(line) < 400


def test_a_huge_value_is_cut_short_in_messages(tmp_path):
    with pytest.raises(OptionError) as caught:
        ModelConfig(prior_kwargs={"junk": list(range(100_000))})
    assert "prior 'normal'" in str(caught.value) and len(str(caught.value)) < 500
    with pytest.raises(OptionError) as caught:
        ModelConfig(lr=[list(range(100_000))])
    assert "ModelConfig.lr" in str(caught.value) and len(str(caught.value)) < 400


def test_a_config_file_too_large_to_hold_options_is_refused(tmp_path):
    path = tmp_path / "big.yaml"
    path.write_text("# padding\n" * 200_000 + "model: {epochs: 3}\n")
    with pytest.raises(OptionError, match="too large"):
        read_config_file(path)
