"""A short fit on the real O'Neil screen, published fold 0 held out."""

import pytest

from synergy_ppl.config import ModelConfig
from synergy_ppl.data import DataConfig
from synergy_ppl.runs import fit_run

pytestmark = pytest.mark.slow


def test_oneil_fold0_short_fit_has_clearly_positive_pearson(tmp_path, shared_data):
    data = DataConfig(data="oneil", data_dir=str(shared_data), split="fold", test_fold=0)
    _, metrics = fit_run(
        data,
        ModelConfig(epochs=6, batch_size=512, lr=1e-2, num_samples=50),
        out=tmp_path / "r",
        progress=False,
    )
    assert metrics["data"]["triples"] == 22737
    assert metrics["test"]["n"] == 4524
    assert metrics["test"]["pearson"] > 0.35
