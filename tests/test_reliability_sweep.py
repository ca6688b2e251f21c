"""``synergy-ppl sweep`` against bad input: a metric no trial reports, a second sweep into the
same folder, broken config files. Each mistake is one line on stderr and exit 2, before any
trial runs; ``overwrite`` removes only what a sweep wrote."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from synergy_ppl import sweep
from synergy_ppl.cli import main
from synergy_ppl.errors import OptionError
from synergy_ppl.outputs import MANIFEST, owned
from synergy_ppl.sweep import SweepConfig, run_sweep

# one trial of a two-epoch fit on the built-in demo screen: a few seconds
TINY = {
    "command": "fit",
    "metric": "test.pearson",
    "report": ["val.rmse"],
    "fixed": {"data": "demo", "epochs": 2, "num-samples": 10},
    "search": {"guide-lr": {"grid": [1.0e-3]}},
}
TINY_SIMULATE = {
    "command": "simulate",
    "metric": "recall_mean",
    "fixed": {
        "data": "demo",
        "rounds": 1,
        "batch-size": 10,
        "initial": 20,
        "seeds": 1,
        "epochs": 2,
        "num-samples": 10,
    },
    "search": {"acquisition": {"grid": ["ucb", "random"]}},
}


def write_config(folder: Path, values, name: str = "sweep.yaml") -> Path:
    path = folder / name
    path.write_text(values if isinstance(values, str) else yaml.safe_dump(values))
    return path


def sweep_cli(config: Path, out: Path, capsys) -> tuple[int, str, str]:
    code = main(["sweep", str(config), "--no-ray", "--out", str(out)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def refused(code: int, err: str) -> str:
    """The one-line message of a refused sweep (no traceback)."""
    assert code == 2, err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("synergy-ppl sweep: error: "), err
    return lines[0]


def leaves(payload: dict, prefix: str = "") -> set[str]:
    """Dotted paths of the numbers in a nested dict."""
    names = set()
    for key, value in payload.items():
        if isinstance(value, dict):
            names |= leaves(value, f"{prefix}{key}.")
        elif isinstance(value, int | float):
            names.add(f"{prefix}{key}")
    return names


# ------------------------------------------------------------- metrics no trial reports


@pytest.mark.parametrize(
    ("change", "key", "wrong", "hint"),
    [
        ({"metric": "test.pearsn"}, "metric", "test.pearsn", "test.pearson"),
        ({"report": ["test.rmse", "vall.rmse"]}, "report", "vall.rmse", "val.rmse"),
        ({"metric": "test"}, "metric", "test", None),
    ],
)
def test_a_metric_fit_does_not_report_is_refused_before_any_trial(
    tmp_path, capsys, change, key, wrong, hint
):
    config = write_config(tmp_path, {**TINY, **change})
    out = tmp_path / "sweep"
    line = refused(*sweep_cli(config, out, capsys)[::2])
    assert f"{config}: {key}: '{wrong}'" in line
    if hint:
        assert f"did you mean '{hint}'" in line
    # the valid choices: the parts, the metric names and fit's other numbers
    assert "train, val, test" in line and "pearson" in line and "coverage_90" in line
    assert "fit_seconds" in line
    assert not out.exists()  # refused before anything was written or run


@pytest.mark.parametrize(
    ("fixed", "metric", "message"),
    [
        ({}, "recal_mean", "did you mean 'recall_mean'"),
        ({}, "ucb.recall", "is not a metric simulate reports"),
        ({}, "ucbb.recall_mean", "is not a metric simulate reports"),
        ({}, "thompson.recall_mean", "strategy 'thompson', which no trial runs"),
        ({"acquisition": "ucb,random"}, "recall_mean", "every trial runs several (ucb, random)"),
        ({"acquisition": ["ucb", "random"]}, "ei.recall_mean", "strategy 'ei', which no trial"),
    ],
)
def test_a_metric_simulate_does_not_report_is_refused(fixed, metric, message):
    values = {**TINY_SIMULATE, "metric": metric}
    values["fixed"] = {**values["fixed"], **fixed}
    if fixed:
        values["search"] = {"first-seed": {"grid": [0]}}
    with pytest.raises(OptionError) as err:
        SweepConfig.from_dict(values, "sim.yaml")
    assert f"sim.yaml: metric: '{metric}'" in str(err.value)
    assert message in str(err.value)


@pytest.mark.parametrize(
    "metric", ["recall_mean", "ucb.recall_mean", "random.tested_to_50", "seeds_reaching_80"]
)
def test_simulate_metrics_of_one_or_each_strategy_are_accepted(metric):
    config = SweepConfig.from_dict({**TINY_SIMULATE, "metric": metric})
    assert config.metric == metric


def test_the_valid_metric_names_are_what_fit_and_simulate_write(tmp_path):
    fit = run_sweep(SweepConfig.from_dict(TINY), tmp_path / "fit", use_ray=False)
    metrics = json.loads((Path(fit.table["run_dir"][0]) / "metrics.json").read_text())
    assert leaves(metrics) == set(sweep.fit_metric_names())
    values = {**TINY_SIMULATE, "search": {"acquisition": {"grid": ["ucb"]}}}
    simulated = run_sweep(SweepConfig.from_dict(values), tmp_path / "simulate", use_ray=False)
    assert simulated.counts["finished"] == 1, simulated.table["error"].tolist()
    results = json.loads((Path(simulated.table["run_dir"][0]) / "results.json").read_text())
    assert list(results["summary"]["ucb"]) == list(sweep.simulate_metric_names())


# ------------------------------------------------------------- a second sweep, one folder


def test_another_sweep_into_the_same_folder_is_refused_the_same_one_resumes(tmp_path, capsys):
    first = write_config(tmp_path, TINY, "first.yaml")
    other = {**TINY, "search": {"guide-lr": {"grid": [3.0e-3]}}}
    second = write_config(tmp_path, other, "second.yaml")
    out = tmp_path / "sweep"
    assert sweep_cli(first, out, capsys)[0] == 0
    saved = (out / "sweep.json").read_text()

    line = refused(*sweep_cli(second, out, capsys)[::2])
    assert str(out) in line and "another sweep" in line
    assert "choose another --out or pass --overwrite" in line
    assert (out / "sweep.json").read_text() == saved  # nothing mixed in
    assert len([p for p in (out / "trials").iterdir() if p.is_dir()]) == 1

    code, printed, _ = sweep_cli(first, out, capsys)  # the same sweep: resumed
    assert code == 0 and "1 already finished, 0 to run" in printed


def test_a_folder_of_other_files_is_refused(tmp_path, capsys):
    config = write_config(tmp_path, TINY)
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    line = refused(*sweep_cli(config, out, capsys)[::2])
    assert str(out) in line and "--overwrite" in line
    assert [p.name for p in out.iterdir()] == ["notes.txt"]
    line = refused(*sweep_cli(config, out / "notes.txt", capsys)[::2])
    assert "is a file, not a folder" in line


def test_overwrite_removes_only_what_the_earlier_sweep_wrote(tmp_path):
    out = tmp_path / "sweep"
    first = run_sweep(SweepConfig.from_dict(TINY), out, use_ray=False)
    assert set(sweep.SWEEP_WRITES) <= owned(out)
    (out / "notes.txt").write_text("mine")
    old_trial = Path(first.table["run_dir"][0]).parent
    (old_trial / "plot.png").write_text("mine too")

    other = SweepConfig.from_dict({**TINY, "search": {"guide-lr": {"grid": [3.0e-3]}}})
    second = run_sweep(other, out, use_ray=False, overwrite=True)
    assert second.ran == 1 and second.counts["finished"] == 1
    assert (out / "notes.txt").read_text() == "mine"
    # the old trial folder stays only for the user's file in it; its trial is gone
    assert sorted(p.name for p in old_trial.iterdir()) == [MANIFEST, "plot.png"]
    assert json.loads((out / "sweep.json").read_text())["config"]["search"] == other.search
    assert len(second.table) == 1 and second.table["id"][0] != first.table["id"][0]


# --------------------------------------------------------------------- broken configs


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("command: fit\nmetric: test.pearson\nfixed:\n  data: demo\n epochs: 2\n", ", line 5,"),
        ("command: fit\nmetric: test.pearson\nmode: max: min\n", ", line 3, column 10"),
        ("command: fit\n\tmetric: test.pearson\n", ", line 2, column 1"),
        ("- command\n- fit\n", ": a sweep config is a mapping"),
        ("", ": a sweep config is a mapping"),
    ],
)
def test_a_config_that_is_not_a_yaml_mapping_is_one_line(tmp_path, capsys, text, where):
    config = write_config(tmp_path, text)
    line = refused(*sweep_cli(config, tmp_path / "sweep", capsys)[::2])
    assert f"error: {config}{where}" in line


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"num_samples": "ten"}, "num_samples: must be an integer >= 1, not 'ten'"),
        ({"num_samples": True}, "num_samples: must be an integer >= 1, not True"),
        ({"seed": "x"}, "seed: must be an integer >= 0, not 'x'"),
        ({"seed": -1}, "seed: must be an integer >= 0, not -1"),
        ({"mode": 3}, "mode: '3' must be max or min"),
        ({"metric": ["test.pearson"]}, "metric: a metric is one dotted name"),
        ({"report": 3}, "report: must be a list of metric names, not 3"),
        ({"fixed": ["data", "demo"]}, "'fixed:' must be a mapping"),
        (
            {"fixed": {"data": "demo", "epochs": "ten"}},
            "fixed: model.epochs: expected an integer, not 'ten'",
        ),
        ({"fixed": {"data": {"a": 1}}}, "fixed: data.data: expected a string, not {'a': 1}"),
        ({"fixed": {"data": "demo", "prior": "wide"}}, "fixed: --prior 'wide' is not one of"),
        ({"search": {"lr": {"loguniform": ["a", "b"]}}}, "search.lr.loguniform: needs [low"),
        ({"search": {"lr": {"uniform": [0, float("inf")]}}}, "search.lr.uniform: needs [low"),
        ({"search": {"lr": [1.0e-3]}}, "search.lr: give one of"),
        ({"colour": 1, 2: 3}, "unknown key(s) ['2', 'colour']"),
    ],
)
def test_wrong_types_name_the_file_and_key(tmp_path, capsys, change, message):
    config = write_config(tmp_path, {**TINY, **change})
    out = tmp_path / "sweep"
    line = refused(*sweep_cli(config, out, capsys)[::2])
    assert f"error: {config}: {message}" in line
    assert not out.exists()


def test_a_switch_takes_true_or_false_only():
    values = {**TINY_SIMULATE, "fixed": {**TINY_SIMULATE["fixed"], "warm-start": "false"}}
    with pytest.raises(OptionError, match="fixed: simulation.warm_start: expected true/false"):
        SweepConfig.from_dict(values, "sim.yaml")
    values["fixed"]["warm-start"] = True
    assert SweepConfig.from_dict(values, "sim.yaml").fixed["warm_start"] is True


def test_a_missing_or_unreadable_config_file_is_one_line(tmp_path, capsys):
    out = tmp_path / "sweep"
    line = refused(*sweep_cli(tmp_path / "nothere.yaml", out, capsys)[::2])
    assert f"{tmp_path / 'nothere.yaml'}: sweep config not found" in line
    line = refused(*sweep_cli(tmp_path, out, capsys)[::2])
    assert f"{tmp_path}: sweep config is a folder" in line
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(b"\xff\xfe\x00")
    line = refused(*sweep_cli(binary, out, capsys)[::2])
    assert f"{binary}: cannot read the sweep config" in line
    assert not out.exists()


def test_engine_options_out_of_range_are_refused_before_the_folder(tmp_path):
    config = SweepConfig.from_dict(TINY)
    with pytest.raises(OptionError, match="^cpus_per_trial must be >= 1, not 0"):
        run_sweep(config, tmp_path / "sweep", use_ray=False, cpus_per_trial=0)
    assert not (tmp_path / "sweep").exists()
