"""The Ray Tune engine of ``sweep`` (the ``ray`` extra: skipped on a lean install, never in
CI, which installs every extra and sets ``SYNERGY_PPL_ALL_EXTRAS``).

Trials set ``torch.set_num_threads(cpus_per_trial)`` in both engines and the fits are
seeded, so Ray's worker processes give the same metrics as the sequential run.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

pytest.importorskip("ray", reason="needs the optional 'ray' extra: pip install -e '.[ray]'")

from synergy_ppl.sweep import SweepConfig, run_sweep  # noqa: E402

pytestmark = pytest.mark.slow

DEMO = {
    "command": "fit",
    "metric": "test.pearson",
    "report": ["test.rmse"],
    "fixed": {"data": "demo", "epochs": 3, "num-samples": 20},
    "search": {"prior": {"grid": ["normal", "laplace"]}, "guide-lr": {"grid": [1e-3, 3e-3]}},
}


def test_four_trial_sweep_on_local_ray_matches_the_sequential_table(tmp_path):
    config = SweepConfig.from_dict(DEMO)
    on_ray = run_sweep(config, tmp_path / "ray", use_ray=True, num_cpus=2, cpus_per_trial=1)
    assert on_ray.engine == "ray" and on_ray.ran == 4
    assert on_ray.counts == {"finished": 4, "failed": 0, "pending": 0}
    run_dirs = [Path(d) for d in on_ray.table["run_dir"]]
    assert len(set(run_dirs)) == 4 and all((d / "metrics.json").exists() for d in run_dirs)
    assert (tmp_path / "ray" / "ray").is_dir()  # Ray's own results under the sweep folder
    summary = json.loads((tmp_path / "ray" / "summary.json").read_text())
    assert summary["best"]["id"] in set(on_ray.table["id"])

    in_process = run_sweep(config, tmp_path / "seq", use_ray=False)
    same = ["id", "status", "prior", "guide_lr"]
    pd.testing.assert_frame_equal(on_ray.table[same], in_process.table[same])
    for metric in ("test.pearson", "test.rmse"):
        assert on_ray.table[metric].to_numpy() == pytest.approx(
            in_process.table[metric].to_numpy(), abs=1e-6
        )
