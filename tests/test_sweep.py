"""Sweeps without Ray: config validation, a reproducible trial list, the sequential engine,
resuming, failed trials, and a simulate sweep. The Ray engine is in test_sweep_ray.py."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pandas as pd
import pytest

from synergy_ppl import sweep
from synergy_ppl.cli import main
from synergy_ppl.errors import OptionError
from synergy_ppl.settings import resolve
from synergy_ppl.sweep import SweepConfig, expand, run_sweep

DEMO_SWEEP = """\
command: fit
metric: test.pearson
mode: max
report: [test.rmse]
fixed:
  data: demo
  epochs: 3
  num-samples: 20
search:
  prior: {grid: [normal, laplace]}
  guide-lr: {grid: [1.0e-3, 3.0e-3]}
"""


def demo_config(**changes) -> SweepConfig:
    import yaml

    values = yaml.safe_load(DEMO_SWEEP)
    values.update(changes)
    return SweepConfig.from_dict(values, "demo.yaml")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"colour": 1}, "unknown key(s) ['colour']"),
        ({"command": "predict"}, "command: 'predict'"),
        ({"mode": "best"}, "mode: 'best'"),
        ({"search": {"learning_rate": {"grid": [1]}}}, "search.learning_rate: not an option"),
        ({"fixed": {"out": "x"}}, "fixed.out: not an option"),
        ({"search": {"lr": {"between": [1, 2]}}}, "search.lr: unknown kind 'between'"),
        ({"search": {"lr": {"loguniform": [0, 1]}}}, "search.lr.loguniform"),
        ({"search": {"epochs": {"grid": [1]}}}, "['epochs'] are both in 'fixed:' and 'search:'"),
    ],
)
def test_config_errors_name_the_key(change, message):
    with pytest.raises(OptionError) as err:
        demo_config(**change)
    assert message in str(err.value)


def test_trials_are_the_grid_times_reproducible_draws():
    config = demo_config(
        num_samples=3,
        seed=7,
        search={
            "prior": {"grid": ["normal", "laplace"]},
            "lr": {"loguniform": ["1e-4", "1e-2"]},
            "head-layers": {"choice": [[64], [128, 32]]},
        },
    )
    trials = expand(config)
    assert len(trials) == 6
    assert [t["id"] for t in trials] == [t["id"] for t in expand(config)]
    assert len({t["id"] for t in trials}) == 6
    assert all(1e-4 <= t["options"]["lr"] <= 1e-2 for t in trials)
    assert all(t["options"]["head_layers"] in ([64], [128, 32]) for t in trials)
    assert all(t["all"]["epochs"] == 3 for t in trials)
    # each draw of the sampled options is crossed with the whole grid
    assert {t["options"]["prior"] for t in trials[:2]} == {"normal", "laplace"}
    assert [t["id"] for t in expand(demo_config())] != [t["id"] for t in trials]


def test_sequential_sweep_writes_runs_summary_and_plot(tmp_path, capsys):
    config = tmp_path / "demo.yaml"
    config.write_text(DEMO_SWEEP)
    out = tmp_path / "sweep"
    assert main(["sweep", str(config), "--no-ray", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "4 finished, 0 failed" in printed and "best by test.pearson" in printed
    table = pd.read_csv(out / "summary.csv")
    assert len(table) == 4 and (table["status"] == "finished").all()
    assert {"id", "prior", "guide_lr", "test.pearson", "test.rmse", "run_dir", "seconds"} <= set(
        table.columns
    )
    for run_dir in table["run_dir"]:
        assert (Path(run_dir) / "metrics.json").exists()
    assert len([p for p in (out / "trials").iterdir() if p.is_dir()]) == 4
    summary = json.loads((out / "summary.json").read_text())
    assert summary["counts"] == {"finished": 4, "failed": 0, "pending": 0}
    assert summary["best"]["test.pearson"] == pytest.approx(table["test.pearson"].max())
    assert (out / "sweep.png").stat().st_size > 10_000


def test_interrupted_sweep_resumes_only_the_missing_trials(tmp_path):
    config, out = demo_config(), tmp_path / "sweep"
    first = run_sweep(config, out, use_ray=False, limit=2)  # as if stopped after two trials
    assert first.ran == 2 and first.counts == {"finished": 2, "failed": 0, "pending": 2}
    done = {p.parent.name: p.stat().st_mtime_ns for p in out.glob("trials/*/trial.json")}
    second = run_sweep(config, out, use_ray=False)
    assert second.ran == 2 and second.counts["finished"] == 4
    for trial_id, mtime in done.items():  # the finished trials were not run again
        assert (out / "trials" / trial_id / "trial.json").stat().st_mtime_ns == mtime
    assert run_sweep(config, out, use_ray=False).ran == 0


def test_a_failing_trial_is_recorded_and_the_sweep_goes_on(tmp_path):
    config = demo_config(search={"prior": {"grid": ["normal", "nonsense"]}})
    out = tmp_path / "sweep"
    result = run_sweep(config, out, use_ray=False)
    assert result.counts == {"finished": 1, "failed": 1, "pending": 0}
    failed = result.table[result.table["status"] == "failed"].iloc[0]
    assert "nonsense" in failed["error"] and pd.isna(failed["test.pearson"])
    assert "Traceback" in open(failed["log"]).read()
    assert result.best["prior"] == "normal"
    printed = "\n".join(sweep.summary_lines(result, config))
    assert "1 finished, 1 failed" in printed and failed["log"] in printed
    # failed trials run again on a rerun; finished ones do not
    assert run_sweep(config, out, use_ray=False).ran == 1


def test_a_sweep_whose_every_trial_fails_still_writes_its_summary(tmp_path):
    config = demo_config(search={"prior": {"grid": ["nonsense"]}})
    result = run_sweep(config, tmp_path / "sweep", use_ray=False, progress=False)
    assert result.counts == {"finished": 0, "failed": 1, "pending": 0} and result.best is None
    assert (tmp_path / "sweep" / "sweep.png").exists()
    assert "0 finished, 1 failed" in "\n".join(sweep.summary_lines(result, config))


def test_without_ray_the_sweep_runs_in_process_and_says_so(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(sweep.engines, "ray_available", lambda: False)
    config = demo_config(search={"guide-lr": {"grid": [3.0e-3]}})
    result = run_sweep(config, tmp_path / "sweep")
    assert result.engine == "sequential" and result.counts["finished"] == 1
    assert "Ray is not installed" in capsys.readouterr().out
    with pytest.raises(OptionError, match="Ray is not installed"):
        run_sweep(config, tmp_path / "other", use_ray=True)


def test_simulate_sweep_reads_the_strategy_summary(tmp_path):
    config = SweepConfig.from_dict(
        {
            "command": "simulate",
            "metric": "recall_mean",
            "report": ["tested"],
            "fixed": {
                "data": "demo",
                "rounds": 1,
                "batch_size": 10,
                "initial": 20,
                "seeds": 1,
                "epochs": 2,
                "num_samples": 10,
            },
            "search": {"acquisition": {"grid": ["ucb", "random"]}},
        }
    )
    result = run_sweep(config, tmp_path / "sweep", use_ray=False)
    assert result.counts["finished"] == 2, result.table["error"].tolist()
    assert (result.table["tested"] == 30).all()
    assert result.table["recall_mean"].between(0, 1).all()
    for run_dir in result.table["run_dir"]:
        assert (Path(run_dir) / "results.json").exists()


@pytest.mark.parametrize(
    ("name", "trials"),
    [
        ("almanac_mcf7_acquisition.yaml", 30),
        ("oneil_fold0_hparams.yaml", 12),
        ("oneil_fold0_noise.yaml", 8),
    ],
)
def test_example_sweep_configs_are_valid(name, trials):
    path = Path(__file__).resolve().parents[1] / "examples" / "sweeps" / name
    config = sweep.load_sweep_config(path)
    assert len(expand(config)) == trials
    # the fixed options, and each trial's, resolve as the command would (no data is read)
    fixed = resolve(config.command, config.fixed, source=f"{path}: fixed")
    assert fixed.data.data in ("almanac", "oneil")
    for trial in expand(config):
        resolve(config.command, trial["all"])


def test_a_search_can_complete_the_fixed_options():
    # split: fold alone lacks its test fold; the search gives one to every trial
    fixed = {"data": "demo", "split": "fold"}
    config = demo_config(fixed=fixed, search={"test-fold": {"grid": [0, 1]}})
    assert [t["all"]["test_fold"] for t in expand(config)] == [0, 1]
    with pytest.raises(OptionError, match="demo.yaml: fixed: split fold needs test_fold"):
        demo_config(fixed=fixed, search={"guide-lr": {"grid": [1.0e-3]}})


def test_the_sweep_package_does_not_import_the_command_line():
    package = ["synergy_ppl", "sweep"]
    for path in Path(sweep.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = ".".join([*package[: len(package) + 1 - node.level], node.module or ""])
                names = [f"{base.strip('.')}.{alias.name}" for alias in node.names]
            else:
                continue
            for name in names:
                assert not name.startswith(("argparse", "synergy_ppl.cli")), (path, name)
