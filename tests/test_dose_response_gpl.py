"""Cross-check of synergy_ppl.dose_response against the GPL ``synergy`` package (Wooten et al.).

``synergy`` is an optional test-only dependency (the ``gpl`` extra); the library never imports
it. It works in viability fractions, ``E = 1 - inhibition / 100``, so its excess ``reference - E``
is ours divided by 100.
"""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("synergy", reason="needs the optional 'gpl' extra: pip install -e '.[gpl]'")

from synergy.combination import HSA, ZIP, Bliss, Loewe  # noqa: E402
from synergy.single import Hill  # noqa: E402

from synergy_ppl.dose_response import HillCurve, fit_hill, read_wells, score_doses  # noqa: E402


@pytest.fixture(scope="module")
def blocks(shared_data: Path) -> list[tuple[pd.DataFrame, pd.DataFrame]]:
    """(replicate-mean wells, our per-dose scores) for the O'Neil and Mathews blocks."""
    out = []
    for name in ("oneil_blocks.csv", "mathews_blocks.csv"):
        wells = read_wells(shared_data / "dose_response" / name)
        means = wells.groupby(["block_id", "dose_a", "dose_b"], sort=False)["response"].mean()
        scores = score_doses(wells).set_index(["block_id", "dose_a", "dose_b"])
        for block_id in wells["block_id"].unique():
            out.append((means[block_id].reset_index(), scores.loc[block_id]))
    return out


def their_hill(curve: HillCurve) -> Hill:
    return Hill(E0=1 - curve.bottom / 100, Emax=1 - curve.top / 100, h=curve.slope, C=curve.ec50)


def fit(model, block: pd.DataFrame) -> np.ndarray:
    """``model``'s excess in percentage points at the combination doses of ``block``."""
    d1, d2 = block["dose_a"].to_numpy(), block["dose_b"].to_numpy()
    synergy = model.fit(d1, d2, 1 - block["response"].to_numpy() / 100)
    return 100 * synergy[(d1 > 0) & (d2 > 0)]


def combos(scores: pd.DataFrame, block: pd.DataFrame, column: str) -> np.ndarray:
    keys = block.loc[(block["dose_a"] > 0) & (block["dose_b"] > 0), ["dose_a", "dose_b"]]
    return scores.loc[pd.MultiIndex.from_frame(keys), column].to_numpy()


def single_curves(block: pd.DataFrame) -> tuple[HillCurve, HillCurve]:
    alone_a, alone_b = block[block["dose_b"] == 0], block[block["dose_a"] == 0]
    return (
        fit_hill(alone_a["dose_a"], alone_a["response"]),
        fit_hill(alone_b["dose_b"], alone_b["response"]),
    )


def test_bliss_and_hsa_match_synergy(blocks) -> None:
    for block, scores in blocks:
        np.testing.assert_allclose(fit(Bliss(), block), combos(scores, block, "bliss"), atol=1e-9)
        np.testing.assert_allclose(fit(HSA(), block), combos(scores, block, "hsa"), atol=1e-9)


def test_loewe_matches_synergy_delta_hsa_mode(blocks) -> None:
    """Given the same Hill curves, ``Loewe(mode="delta_HSA")`` solves the same equation with the
    same fallback (the stronger fitted single agent once one drug cannot reach the effect)."""
    for block, scores in blocks:
        curve_a, curve_b = single_curves(block)
        model = Loewe(
            mode="delta_HSA", drug1_model=their_hill(curve_a), drug2_model=their_hill(curve_b)
        )
        # synergy's bounded minimize_scalar stops at 1e-5 in fraction units = 1e-3 points.
        np.testing.assert_allclose(fit(model, block), combos(scores, block, "loewe"), atol=2e-3)


# synergy's own ZIP line fits overflow on the flat lines of block 2; its results stay finite.
@pytest.mark.filterwarnings("ignore:overflow|invalid value:RuntimeWarning")
def test_zip_agrees_where_the_conditional_curves_saturate(blocks) -> None:
    """synergy's ZIP lets the refitted curves' maximum float; Yadav et al. and SynergyFinder (and
    we) fix it at 100 %. On O'Neil block 1, where combination responses climb towards 100 %, the
    two agree; on block 2, where they stay below the single agents, both call antagonism."""
    (block_1, scores_1), (block_2, scores_2) = blocks[:2]
    ours, theirs = combos(scores_1, block_1, "zip"), fit(ZIP(), block_1)
    assert np.corrcoef(ours, theirs)[0, 1] > 0.99
    assert abs(ours.mean() - theirs.mean()) < 1.0
    assert combos(scores_2, block_2, "zip").mean() < -10 and fit(ZIP(), block_2).mean() < -10
