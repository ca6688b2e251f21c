"""The README's examples run exactly as written: the Python API block and the quick start."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def python_api_example() -> str:
    text = README.read_text()
    section = text[text.index("## Python API") :]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def quick_start_example() -> str:
    """The quick start's ```bash block that runs fit, predict, recommend and diagnose (not the
    install block)."""
    text = README.read_text()
    section = text[text.index("## Quick start") :]
    section = section[: section.index("\n## ")]
    blocks = re.findall(r"```bash\n(.*?)```", section, re.S)
    flows = [b for b in blocks if all(f"synergy-ppl {c}" in b for c in ("fit", "recommend"))]
    assert len(flows) == 1, f"expected one quick-start flow block, found {len(flows)}"
    return flows[0]


def test_the_python_api_example_runs_as_written(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(python_api_example(), "README.md", "exec"), namespace)
    batch = namespace["batch"]
    assert len(batch) == 5 and batch["rank"].tolist() == [1, 2, 3, 4, 5]
    measured = set(map(tuple, namespace["screen"].table[["drug_a", "drug_b", "cell_line"]].values))
    assert not measured & set(map(tuple, batch[["drug_a", "drug_b", "cell_line"]].values))
    assert "mean" in capsys.readouterr().out


@pytest.mark.slow
def test_the_quick_start_runs_as_written(tmp_path):
    script = quick_start_example()
    for command in ("fit", "predict", "recommend", "diagnose"):
        assert f"synergy-ppl {command}" in script
    # the venv's synergy-ppl even when pytest runs without the venv activated; one torch
    # thread, as the benchmarks use: torch's default threads crawl on a loaded small machine
    bin_dir = str(Path(sys.executable).parent)
    env = {**os.environ, "PATH": bin_dir + os.pathsep + os.environ.get("PATH", "")}
    env["OMP_NUM_THREADS"] = "1"
    done = subprocess.run(
        ["bash", "-e", "-c", script],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    assert (tmp_path / "runs/demo/recommendations.csv").is_file()
    assert (tmp_path / "runs/demo/diagnostics/report.html").is_file()
    assert "run written to runs/demo" in done.stdout
