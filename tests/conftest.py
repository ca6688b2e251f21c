"""Shared fixtures. The real screens live in ../shared/data beside the repository (or in
$SYNERGY_PPL_DATA); tests that need them fail, never skip, when they are missing."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

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
