"""Shared fixtures. The real screens live in ../shared/data beside the repository (or in
$SYNERGY_PPL_DATA); tests that need them fail, never skip, when they are missing.

Tests of an optional extra (``gpl``, ``ray``, ``bench``, ``dev``'s pyarrow) skip on a lean
install with a reason naming the extra; CI installs every extra and sets
``SYNERGY_PPL_ALL_EXTRAS=1``, where a missing one stops the run instead of skipping."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

EXTRAS = {"synergy": "gpl", "ray": "ray", "sklearn": "bench", "pyarrow": "dev"}
"""Module -> the pip extra that installs it."""


def pytest_configure(config: pytest.Config) -> None:
    missing = [m for m in EXTRAS if importlib.util.find_spec(m) is None]
    if os.environ.get("SYNERGY_PPL_ALL_EXTRAS") and missing:
        raise pytest.UsageError(
            f"SYNERGY_PPL_ALL_EXTRAS is set but {missing} are missing: install "
            f"'.[{','.join(sorted({EXTRAS[m] for m in missing}))}]'; no test may skip in CI."
        )


def needs_extra(module: str) -> pytest.MarkDecorator:
    """Skip (naming the extra) where ``module``, from an optional extra, is not installed."""
    extra = EXTRAS[module]
    return pytest.mark.skipif(
        importlib.util.find_spec(module) is None,
        reason=f"needs the optional '{extra}' extra: pip install -e '.[{extra}]'",
    )


SHARED_DATA = Path(
    os.environ.get("SYNERGY_PPL_DATA") or Path(__file__).resolve().parents[2] / "shared" / "data"
)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not (SHARED_DATA / "oneil" / "labels.csv").exists():
        pytest.fail(
            f"shared data not found at {SHARED_DATA}; set SYNERGY_PPL_DATA to the folder that "
            "holds oneil/, almanac/ and dose_response/."
        )
    return SHARED_DATA
