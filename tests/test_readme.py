"""The README's Python API example runs exactly as written."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def python_api_example() -> str:
    text = README.read_text()
    section = text[text.index("## Python API") :]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_the_python_api_example_runs_as_written(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(python_api_example(), "README.md", "exec"), namespace)
    batch = namespace["batch"]
    assert len(batch) == 5 and batch["rank"].tolist() == [1, 2, 3, 4, 5]
    measured = set(map(tuple, namespace["screen"].table[["drug_a", "drug_b", "cell_line"]].values))
    assert not measured & set(map(tuple, batch[["drug_a", "drug_b", "cell_line"]].values))
    assert "mean" in capsys.readouterr().out
