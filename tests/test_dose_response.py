"""Tests for synergy_ppl.dose_response: hand-made blocks with known answers, and the real
NCI-ALMANAC, O'Neil and Mathews wells in ../shared/data/dose_response (fail, never skip)."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from synergy_ppl.dose_response import (
    UNKNOWN_CELL_LINE,
    DoseResponseError,
    HillCurve,
    bliss_expected,
    fit_hill,
    hsa_expected,
    loewe_expected,
    nci_expected_growth,
    read_wells,
    score_blocks,
    score_doses,
    score_wells,
    validate_wells,
    zip_delta,
)

UNUSED_SINGLES = "single-agent wells belong to no combination block"


@pytest.fixture(scope="module")
def almanac_raw(shared_data: Path) -> pd.DataFrame:
    return pd.read_csv(shared_data / "dose_response" / "almanac_wells.csv")


def grid_block(
    dose_a: list[float],
    dose_b: list[float],
    response: np.ndarray,
    drug_a: str = "A",
    drug_b: str = "B",
) -> pd.DataFrame:
    """Generic-layout wells of one block; ``response[i, j]`` at ``(dose_a[i], dose_b[j])``."""
    a, b = np.meshgrid(dose_a, dose_b, indexing="ij")
    return pd.DataFrame(
        {
            "block_id": "b1",
            "drug_a": drug_a,
            "drug_b": drug_b,
            "cell_line": "C1",
            "dose_a": a.ravel(),
            "dose_b": b.ravel(),
            "inhibition": np.asarray(response, float).ravel(),
        }
    )


@pytest.fixture
def hand_block() -> pd.DataFrame:
    """A 3x3 grid in % inhibition with Bliss and HSA worked out by hand below."""
    response = [[0, 10, 40], [20, 40, 60], [50, 50, 90]]
    return read_wells(grid_block([0, 1, 2], [0, 10, 20], np.array(response)))


def hill(dose: np.ndarray, top: float = 100.0, ec50: float = 1.0, slope: float = 1.5) -> np.ndarray:
    return HillCurve(0.0, top, ec50, slope).effect(dose)


# --- reference models on hand-made blocks ---------------------------------------------------


def test_bliss_and_hsa_by_hand(hand_block: pd.DataFrame) -> None:
    doses = score_doses(hand_block, models=("bliss", "hsa")).set_index(["dose_a", "dose_b"])
    # Bliss: E_A + E_B - E_A E_B / 100, e.g. (1, 10): 20 + 10 - 2 = 28, observed 40.
    expected_bliss = {(1, 10): 40 - 28, (1, 20): 60 - 52, (2, 10): 50 - 55, (2, 20): 90 - 70}
    expected_hsa = {(1, 10): 40 - 20, (1, 20): 60 - 40, (2, 10): 50 - 50, (2, 20): 90 - 50}
    for key, value in expected_bliss.items():
        assert doses.loc[key, "bliss"] == pytest.approx(value)
        assert doses.loc[key, "hsa"] == pytest.approx(expected_hsa[key])
    block = score_blocks(hand_block, models=("bliss", "hsa")).iloc[0]
    assert block["bliss_mean"] == pytest.approx(8.75) and block["bliss_max"] == pytest.approx(20)
    assert block["hsa_mean"] == pytest.approx(20.0) and block["hsa_max"] == pytest.approx(40)
    assert block["n_wells"] == 9


def test_expectation_formulas() -> None:
    np.testing.assert_allclose(bliss_expected([20, 0, 100], [10, 30, 50]), [28, 30, 100])
    np.testing.assert_allclose(hsa_expected([20, 0], [10, 30]), [20, 30])
    # NCI: truncation at 100 and the minimum once a single agent kills cells (growth < 0).
    np.testing.assert_allclose(
        nci_expected_growth([50, 120, -20, 80], [40, 90, 30, 100]), [20, 90, -20, 80]
    )


def test_replicates_are_averaged_before_scoring(hand_block: pd.DataFrame) -> None:
    noisy = pd.concat(
        [hand_block.assign(response=hand_block["response"] + shift) for shift in (-3, 3)]
    )
    pd.testing.assert_frame_equal(
        score_blocks(noisy).drop(columns="n_wells"),
        score_blocks(hand_block).drop(columns="n_wells"),
    )
    assert score_blocks(noisy)["n_wells"].item() == 18
    assert (score_doses(noisy)["n_replicates"] == 2).all()


def test_loewe_is_zero_for_a_sham_combination() -> None:
    doses = [0, 0.25, 0.5, 1, 2, 4]
    a, b = np.meshgrid(doses, doses, indexing="ij")
    wells = read_wells(grid_block(doses, doses, hill(a + b), drug_a="X", drug_b="X"))
    scores = score_doses(wells)
    np.testing.assert_allclose(scores["loewe"], 0.0, atol=1e-3)
    # Bliss is not additive for a sham (Hill slope != 1), so the test tells the models apart.
    assert scores["bliss"].abs().max() > 3


def test_zip_and_bliss_are_zero_for_bliss_independent_drugs() -> None:
    dose_a, dose_b = [0, 0.1, 0.3, 1, 3, 10], [0, 0.5, 1.5, 5, 15, 50]
    e_a, e_b = hill(np.array(dose_a), ec50=1.0, slope=1.2), hill(np.array(dose_b), 100, 5.0, 0.8)
    surface = bliss_expected(e_a[:, None], e_b[None, :])
    scores = score_doses(read_wells(grid_block(dose_a, dose_b, surface)))
    np.testing.assert_allclose(scores["bliss"], 0.0, atol=1e-9)
    np.testing.assert_allclose(scores["zip"], 0.0, atol=1e-3)
    assert scores["loewe"].abs().max() > 1  # different slopes: Loewe is not Bliss


def test_loewe_closed_form_and_fallback() -> None:
    # Slope 1, common top T: E = T s / (1 + s) with s = d_a / C_A + d_b / C_B.
    curve_a, curve_b = HillCurve(0, 100, 1.5, 1), HillCurve(0, 100, 8.0, 1)
    dose_a, dose_b = np.array([0.3, 3.0, 0.05]), np.array([2.0, 10.0, 40.0])
    s = dose_a / 1.5 + dose_b / 8.0
    np.testing.assert_allclose(
        loewe_expected(dose_a, dose_b, curve_a, curve_b), 100 * s / (1 + s), rtol=1e-9
    )
    # Drug B never inhibits more than 40 %: beyond that, the fitted HSA.
    weak = HillCurve(0, 40, 1.0, 1)
    expected = loewe_expected([10.0, 0.1], [1.0, 0.1], curve_a, weak)
    assert expected[0] == pytest.approx(curve_a.effect(10.0))
    index = 0.1 / curve_a.dose(expected[1]) + 0.1 / weak.dose(expected[1])
    assert expected[1] < 40 and index == pytest.approx(1.0)
    # Curves with no common effect range (B makes cells grow) also fall back to HSA.
    growing = HillCurve(0, -20, 1.0, 1)
    assert loewe_expected([2.0], [2.0], curve_a, growing)[0] == pytest.approx(curve_a.effect(2.0))


def test_hill_curve_inverse_and_fit() -> None:
    curve = HillCurve(5.0, 90.0, 2.0, 1.2)
    dose = np.array([0.1, 1.0, 2.0, 30.0])
    np.testing.assert_allclose(curve.dose(curve.effect(dose)), dose, rtol=1e-9)
    np.testing.assert_allclose(curve.dose([5.0, 95.0]), [0.0, np.inf])
    assert curve.effect(0.0) == pytest.approx(5.0)
    grid = np.array([0, 0.1, 0.3, 1, 3, 10, 30, 100])
    fitted = fit_hill(grid, curve.effect(grid))
    np.testing.assert_allclose(
        [fitted.bottom, fitted.top, fitted.ec50, fitted.slope], [5, 90, 2, 1.2], rtol=1e-3
    )
    # Without a zero dose the untreated control (0 % inhibition) anchors the bottom.
    assert fit_hill([1, 3, 10], [40, 60, 80]).effect(0.0) == pytest.approx(0.0, abs=1.0)


def test_zip_delta_keeps_single_well_lines() -> None:
    curve = HillCurve(0, 100, 1.0, 1)
    delta = zip_delta([1.0, 2.0], [1.0, 3.0], [60.0, 90.0], curve, curve)
    # Each line holds one well, so the "fitted" response is the observed one.
    np.testing.assert_allclose(delta, [60, 90] - bliss_expected([50, 200 / 3], [50, 75]))


# --- reading and validation -------------------------------------------------------------------


def test_generic_layout_from_tsv_and_viability(tmp_path: Path, hand_block: pd.DataFrame) -> None:
    table = hand_block.drop(columns="response").assign(viability=100 - hand_block["response"])
    path = tmp_path / "wells.tsv"
    table.drop(columns=["block_id", "cell_line"]).to_csv(path, sep="\t", index=False)
    wells = read_wells(path)
    assert list(wells.columns) == [
        "block_id", "drug_a", "drug_b", "cell_line", "dose_a", "dose_b", "response"
    ]  # fmt: skip
    assert set(wells["block_id"]) == {f"{UNKNOWN_CELL_LINE}:A+B"}
    np.testing.assert_allclose(wells["response"], hand_block["response"])


def test_response_kind_is_inferred_or_required(hand_block: pd.DataFrame) -> None:
    as_response = hand_block.rename(columns={"response": "values"})
    viability = as_response.assign(response=100 - as_response["values"]).drop(columns="values")
    np.testing.assert_allclose(read_wells(viability)["response"], hand_block["response"])
    no_control = viability[(viability["dose_a"] > 0) | (viability["dose_b"] > 0)]
    with pytest.raises(DoseResponseError, match="Pass response 'viability' or 'inhibition'"):
        read_wells(no_control)
    np.testing.assert_allclose(
        read_wells(no_control, response="viability")["response"], hand_block["response"][1:]
    )
    with pytest.raises(DoseResponseError, match="response must be one of"):
        read_wells(viability, response="growth")
    with pytest.raises(DoseResponseError, match="unrecognised dose-response layout"):
        read_wells(pd.DataFrame({"x": [1.0], "y": [2.0]}))


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda w: w.assign(dose_b=w["dose_b"].where(w.index != 4, -1.0)), "negative doses"),
        (lambda w: w.assign(response=w["response"].where(w.index != 4)), "missing \\(NaN\\)"),
        (lambda w: w[~((w["dose_a"] == 0) & (w["dose_b"] > 0))], "no single-agent wells of 'B'"),
        (lambda w: w[w["dose_b"].isin([0, 10])], "single dose of 'B'"),
        (lambda w: w[(w["dose_a"] != 2) | (w["dose_b"] != 0)], "no single-agent well at the same"),
        (lambda w: w[(w["dose_a"] == 0) | (w["dose_b"] == 0)], "no combination wells"),
        (lambda w: w.assign(drug_a=w["drug_a"].where(w.index != 4, "Z")), "mixes several"),
        (lambda w: w.assign(drug_b=w["drug_b"].where(w.index != 4)), "lack a block id, drug"),
    ],
)
def test_validation_names_the_block(hand_block: pd.DataFrame, edit, message: str) -> None:
    with pytest.raises(DoseResponseError, match=message) as error:
        validate_wells(edit(hand_block))
    assert "'b1'" in str(error.value)
    with pytest.raises(DoseResponseError, match=message):
        score_blocks(edit(hand_block))


def test_validation_of_columns_and_options(hand_block: pd.DataFrame) -> None:
    with pytest.raises(DoseResponseError, match="lacks columns \\['response'\\]"):
        validate_wells(hand_block.drop(columns="response"))
    with pytest.raises(ValueError, match="unknown models"):
        score_doses(hand_block, models=("bliss", "chou"))
    with pytest.raises(ValueError, match="score must be one of"):
        score_wells(hand_block, score="synergy")


# --- NCI-ALMANAC --------------------------------------------------------------------------------


def test_almanac_blocks_use_single_agents_of_the_same_plate(almanac_raw: pd.DataFrame) -> None:
    with pytest.warns(UserWarning, match=f"7257 {UNUSED_SINGLES}"):
        wells = read_wells(almanac_raw)
    assert wells["block_id"].nunique() == 152
    # 3x3 combinations plus the three doses of each drug alone, all from the block's plate.
    assert (wells.groupby("block_id").size() == 15).all()
    plates = almanac_raw.loc[wells.index, "PLATE"].groupby(wells["block_id"].to_numpy()).nunique()
    assert (plates == 1).all()
    np.testing.assert_allclose(wells["response"], 100 - almanac_raw.loc[wells.index, "viability"])
    assert "replicate" in wells.columns


def almanac_expected_growth(raw: pd.DataFrame) -> pd.DataFrame:
    """Combination wells with NCI's EXPECTEDGROWTH and our single-agent growth at their doses."""
    # PERCENTGROWTH read as viability: the response is 100 - growth percent.
    wells = read_wells(raw.assign(viability=raw["PERCENTGROWTH"]))
    doses = score_doses(wells, models=("bliss",))
    combos = wells[(wells["dose_a"] > 0) & (wells["dose_b"] > 0)]
    combos = combos.assign(EXPECTEDGROWTH=raw.loc[combos.index, "EXPECTEDGROWTH"])
    table = combos.merge(doses, on=["block_id", "dose_a", "dose_b"])
    return table.assign(growth_a=100 - table["effect_a"], growth_b=100 - table["effect_b"])


def test_almanac_bliss_reproduces_nci_expected_growth(almanac_raw: pd.DataFrame) -> None:
    with pytest.warns(UserWarning, match=UNUSED_SINGLES):
        table = almanac_expected_growth(almanac_raw)
    assert len(table) == 1368
    nci = nci_expected_growth(table["growth_a"], table["growth_b"])
    # EXPECTEDGROWTH is printed with at most 3 decimals.
    assert np.abs(nci - table["EXPECTEDGROWTH"]).max() <= 5e-4 + 1e-9
    # Plain Bliss on growth fractions is the same number wherever 0 <= G_A, G_B <= 100 ...
    bliss_growth = 100 - bliss_expected(table["effect_a"], table["effect_b"])
    in_range = table[["growth_a", "growth_b"]].apply(lambda g: g.between(0, 100)).all(axis=1)
    assert in_range.sum() == 406
    assert np.abs(bliss_growth - table["EXPECTEDGROWTH"])[in_range].max() <= 5e-4 + 1e-9
    # ... elsewhere it differs only through NCI's truncation at 100 (a single agent that
    # stimulates growth counts as inactive) and its rule for cytotoxic agents (growth < 0).
    truncated = 100 - bliss_expected(
        table["effect_a"].clip(lower=0), table["effect_b"].clip(lower=0)
    )
    cytotoxic = (table[["growth_a", "growth_b"]] < 0).any(axis=1)
    assert cytotoxic.sum() == 190
    assert np.abs(truncated - table["EXPECTEDGROWTH"])[~cytotoxic].max() <= 5e-4 + 1e-9
    assert np.corrcoef(bliss_growth, table["EXPECTEDGROWTH"])[0, 1] > 0.97


def test_almanac_pooled_single_agents_lose_the_agreement(almanac_raw: pd.DataFrame) -> None:
    table = almanac_expected_growth(almanac_raw.drop(columns="PLATE"))  # all singles used
    assert len(table) == 1368
    nci = nci_expected_growth(table["growth_a"], table["growth_b"])
    assert np.corrcoef(nci, table["EXPECTEDGROWTH"])[0, 1] < 0.7


def test_almanac_blocks_score_with_every_model(almanac_raw: pd.DataFrame) -> None:
    with pytest.warns(UserWarning, match=UNUSED_SINGLES):
        wells = read_wells(almanac_raw)
    first = wells[wells["block_id"].isin(wells["block_id"].unique()[:8])]
    scores = score_blocks(first)
    assert len(scores) == 8 and np.isfinite(scores.filter(regex="_m").to_numpy()).all()


# --- O'Neil and Mathews blocks ------------------------------------------------------------------


def test_oneil_blocks_have_the_published_sign(shared_data: Path) -> None:
    wells = read_wells(shared_data / "dose_response" / "oneil_blocks.csv")
    assert wells.groupby("block_id").size().to_dict() == {"1": 100, "2": 100}
    scores = score_blocks(wells).set_index("block_id")
    means = ["bliss_mean", "hsa_mean", "loewe_mean", "zip_mean"]
    # MK-1775 (AZD1775) + niraparib (MK-4827) in OCUBM: strong synergy.
    assert (scores.loc["1", means] > 20).all()
    # Paclitaxel + L-778123 in NCIH2122: the combination wells lose paclitaxel's effect.
    assert (scores.loc["2", means] < -10).all()
    labels = pd.read_csv(shared_data / "oneil" / "labels.csv", index_col=0)["synergy"]
    published = labels[["AZD1775_MK-4827_OCUBM", "PACLITAXEL_L778123_NCIH2122"]].to_numpy()
    np.testing.assert_array_equal(np.sign(scores["loewe_mean"]), np.sign(published))


def test_mathews_blocks_match_synergyfinder(shared_data: Path) -> None:
    raw = pd.read_csv(shared_data / "dose_response" / "mathews_blocks.csv")
    wells = read_wells(raw)  # (0, 0) controls read 115-123: viability, not inhibition
    assert set(wells["cell_line"]) == {UNKNOWN_CELL_LINE}
    np.testing.assert_allclose(wells["response"], 100 - raw["response"])
    doses = score_doses(wells)
    row = doses[(doses["block_id"] == "1") & (doses["dose_a"] == 2500)]
    row = row.sort_values("dose_b", ascending=False)
    # SynergyFinder 3.20 vignette, block 1, ispinesib 2500 nM x ibrutinib 50 ... 0.195 nM.
    np.testing.assert_allclose(row["bliss"], [5.34, 14.54, 11.85, 29.6, 9.47], atol=0.051)
    np.testing.assert_allclose(row["hsa"], [20.89, 38.96, 30.7, 21.29, 7.75], atol=0.051)
    ibrutinib = wells[(wells["block_id"] == "1") & (wells["dose_a"] == 0)]
    curve = fit_hill(ibrutinib["dose_b"], ibrutinib["response"])
    assert (curve.bottom, curve.top) == pytest.approx((-14.9, 62.3), abs=0.06)  # drc's LL.4
    scores = score_blocks(wells).set_index("block_id")
    models = ["bliss_mean", "hsa_mean", "loewe_mean", "zip_mean"]
    assert (scores.loc["1", models] > 10).all()  # ispinesib + ibrutinib
    assert (scores.loc["2", models] < scores.loc["1", models]).all()  # canertinib + ibrutinib


def test_score_wells_is_a_synergy_table(shared_data: Path) -> None:
    table = score_wells(shared_data / "dose_response" / "oneil_blocks.csv")
    assert list(table.columns[:6]) == [
        "drug_a", "drug_b", "cell_line", "synergy", "block_id", "n_wells"
    ]  # fmt: skip
    assert list(table.columns[6:]) == [
        f"{model}_{stat}" for model in ("bliss", "hsa", "loewe", "zip") for stat in ("mean", "max")
    ]
    np.testing.assert_allclose(table["synergy"], table["bliss_max"])
    loewe = score_wells(shared_data / "dose_response" / "oneil_blocks.csv", score="loewe_mean")
    np.testing.assert_allclose(loewe["synergy"], loewe["loewe_mean"])
    assert table[["drug_a", "drug_b", "cell_line"]].notna().all().all()
