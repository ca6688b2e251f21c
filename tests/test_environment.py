"""environment.yml (conda) and pyproject.toml (pip) describe the same dependencies."""

import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
CONDA_NAMES = {"torch": "pytorch", "pyyaml": "pyyaml"}


def split(requirement: str) -> tuple[str, str]:
    name, spec = re.match(r"([A-Za-z0-9_.\-]+)(?:\[[^\]]*\])?\s*(.*)", requirement).groups()
    return name.lower(), spec.replace(" ", "")


def test_environment_yml_matches_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pip = dict(split(r) for r in project["dependencies"])
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    conda = dict(split(d) for d in env["dependencies"] if isinstance(d, str))
    for name, spec in pip.items():
        conda_name = CONDA_NAMES.get(name, name)
        assert conda_name in conda, f"{name} is in pyproject.toml but not in environment.yml"
        assert conda[conda_name] == spec, (
            f"{name}: pyproject '{spec}' vs conda '{conda[conda_name]}'"
        )
    extra = set(conda) - {CONDA_NAMES.get(n, n) for n in pip} - {"python", "pip"}
    assert not extra, f"environment.yml has {extra} that pyproject.toml does not"
    assert env["channels"] and env["name"]
