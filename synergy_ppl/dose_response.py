"""Synergy scores from raw dose-response wells.

A drug-combination screen measures, for each *block* (one drug pair in one cell line, usually one
plate), the response of cells to a grid of dose pairs ``(d_a, d_b)``. Wells with ``d_b = 0`` are
drug A alone, wells with ``d_a = 0`` are drug B alone, and wells with both doses positive are
combinations. A reference model predicts the response of each combination if the drugs did not
interact; the *excess* ``observed - expected`` (in percentage points of inhibition, positive =
synergy) is averaged and maximised over the combination doses of a block.

All responses are handled as **% inhibition** ``E`` (0 = untreated control, 100 = no viable cells),
i.e. ``E = 100 - viability``. The reference models are

* Bliss independence, ``E_AB = E_A + E_B - E_A E_B / 100`` (fractions multiply);
* highest single agent (HSA), ``E_AB = max(E_A, E_B)``;
* Loewe additivity, ``d_a / D_A(E_AB) + d_b / D_B(E_AB) = 1`` with ``D_X`` the inverse of a Hill
  fit of drug X alone;
* zero interaction potency (ZIP, Yadav et al. 2015), which compares Hill curves of each drug
  refitted at every fixed dose of the other drug with the Bliss surface of the single-drug fits.

Bliss and HSA use the measured single-agent responses at the same doses; Loewe and ZIP use
4-parameter log-logistic (Hill) fits made with :func:`scipy.optimize.curve_fit`. For NCI-ALMANAC
data, :func:`nci_expected_growth` is NCI's own Bliss variant on percent growth (the
``EXPECTEDGROWTH`` column of its files).

Typical use::

    table = score_wells("plate_export.csv")  # drug_a, drug_b, cell_line, synergy, ...
"""

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from os import PathLike
from pathlib import Path

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy.optimize import OptimizeWarning, curve_fit
from scipy.special import expit, logit

__all__ = [
    "MODELS",
    "UNKNOWN_CELL_LINE",
    "WELL_COLUMNS",
    "DoseResponseError",
    "HillCurve",
    "bliss_expected",
    "fit_hill",
    "hsa_expected",
    "loewe_expected",
    "nci_expected_growth",
    "read_wells",
    "score_blocks",
    "score_doses",
    "score_wells",
    "validate_wells",
    "zip_delta",
]

WELL_COLUMNS = ("block_id", "drug_a", "drug_b", "cell_line", "dose_a", "dose_b", "response")
MODELS = ("bliss", "hsa", "loewe", "zip")
UNKNOWN_CELL_LINE = "unknown"

# Hill-fit bounds: the slope of real dose-response curves lies well inside [0.1, 10], and an EC50
# more than three decades outside the tested doses cannot be told apart from "inactive".
_SLOPE_BOUNDS = (0.1, 10.0)
_EC50_DECADES = 3.0
# Responses are in percent: a relative tolerance of 1e-6 is far below assay noise and needs a
# third of the iterations of scipy's default 1e-8 on the sparse, flat designs of real screens.
_FIT_TOLERANCES = {"ftol": 1e-6, "xtol": 1e-6, "gtol": 1e-6}
_LOEWE_BISECTIONS = 64  # halves the effect bracket to below double precision
_MAX_LISTED = 5  # blocks named in one error or warning message


class DoseResponseError(ValueError):
    """A dose-response table that cannot be scored; the message names the block and the fix."""


# ---------------------------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------------------------

_ALMANAC_COLUMNS = {
    "treatment1id",
    "treatment2id",
    "treatment1dose",
    "treatment2dose",
    "CELLNAME",
    "viability",
}
# Layouts that only need renaming, with the response convention of their source (None: infer it).
_RENAMED_LAYOUTS: dict[str, tuple[dict[str, str], str | None]] = {
    "oneil": (
        {
            "drug1": "drug_a",
            "drug2": "drug_b",
            "cell_line_name": "cell_line",
            "conc1": "dose_a",
            "conc2": "dose_b",
        },
        "inhibition",
    ),
    "synergyfinder": (
        {
            "drug_row": "drug_a",
            "drug_col": "drug_b",
            "cell_line_name": "cell_line",
            "conc_r": "dose_a",
            "conc_c": "dose_b",
        },
        None,
    ),
}
_RESPONSE_KINDS = ("viability", "inhibition")


def read_wells(
    path_or_df: str | PathLike | pd.DataFrame, response: str | None = None
) -> pd.DataFrame:
    """Read dose-response wells into the normalised long table used by the scorers.

    Recognised layouts (by their column names):

    * **NCI-ALMANAC** (``treatment1id, treatment2id, treatment1dose, treatment2dose, CELLNAME,
      viability``; doses in uM). A well with an empty ``treatment2id`` is a single agent. The file
      has no block id: a block is one ``(treatment1id, treatment2id, CELLNAME)`` combination on
      one ``PLATE``, and its single-agent wells are those of either drug in the same cell line on
      the same plate -- the wells NCI used for its ``EXPECTEDGROWTH``. Without a ``PLATE`` column
      single agents are pooled over the whole file per drug and cell line. Single-agent wells
      that belong to no block are left out with a warning. Response: ``viability``.
    * **O'Neil / DrugComb** (``block_id, drug1, drug2, cell_line_name, conc1, conc2, response``).
      Zero-dose rows are the single agents. Response: % inhibition.
    * **SynergyFinder** (``block_id, drug_row, drug_col, conc_r, conc_c, response``, e.g. the
      Mathews Griner et al. 2014 example blocks). These files often have no cell line; the
      placeholder ``"unknown"`` (:data:`UNKNOWN_CELL_LINE`) is then used. The response may be
      either kind, so it is inferred from the untreated ``(0, 0)`` control wells: a control mean
      above 50 means viability, below 50 inhibition.
    * **Generic** (``drug_a, drug_b, dose_a, dose_b`` and one of ``response``, ``viability`` or
      ``inhibition``; optional ``block_id``, ``cell_line``, ``replicate``). Single agents are rows
      of the block with the other dose 0. Without ``block_id`` a block is one
      ``(drug_a, drug_b, cell_line)`` triple.

    Parameters
    ----------
    path_or_df
        A CSV or TSV file (TSV when the name ends in ``.tsv`` or ``.tab``, compressed files
        allowed) or a DataFrame in one of the layouts above.
    response
        ``"viability"`` (% of untreated control) or ``"inhibition"`` (%), what the response values
        of the input are. ``None`` takes it from the layout or, failing that, the control wells.

    Returns
    -------
    pandas.DataFrame
        One row per well with columns ``block_id, drug_a, drug_b, cell_line, dose_a, dose_b,
        response`` (+ ``replicate`` when the input has it). ``response`` is % inhibition
        (``100 - viability`` for viability input); doses keep the input's units. The index holds
        the input's row labels, so other input columns can be joined back; an NCI-ALMANAC
        single-agent well shared by several blocks appears once per block.

    Raises
    ------
    DoseResponseError
        If the layout is not recognised, or the response kind is neither given nor inferable.
    """
    raw = _read_table(path_or_df)
    layout = _detect_layout(raw.columns)
    if layout == "almanac":
        wells, kind = _from_almanac(raw), "viability"
    elif layout == "generic":
        wells, kind = _from_generic(raw)
    else:
        renames, kind = _RENAMED_LAYOUTS[layout]
        wells = _from_generic(raw.rename(columns=renames))[0]
    kind = response or kind or _infer_response_kind(wells, layout)
    if kind not in _RESPONSE_KINDS:
        raise DoseResponseError(f"response must be one of {_RESPONSE_KINDS}, got {kind!r}")
    value = wells.pop("value").astype(float)
    response_at = WELL_COLUMNS.index("response")
    wells.insert(response_at, "response", 100.0 - value if kind == "viability" else value)
    return wells


def _read_table(path_or_df: str | PathLike | pd.DataFrame) -> pd.DataFrame:
    if isinstance(path_or_df, pd.DataFrame):
        return path_or_df
    path = Path(path_or_df)
    tab_separated = {".tsv", ".tab"} & {suffix.lower() for suffix in path.suffixes}
    return pd.read_csv(path, sep="\t" if tab_separated else ",")


def _detect_layout(columns: pd.Index) -> str:
    present = set(columns)
    if _ALMANAC_COLUMNS <= present:
        return "almanac"
    for layout, (renames, _) in _RENAMED_LAYOUTS.items():
        if {"block_id", "response"} | (set(renames) - {"cell_line_name"}) <= present:
            return layout
    has_values = bool(present & {"response", *_RESPONSE_KINDS})
    if {"drug_a", "drug_b", "dose_a", "dose_b"} <= present and has_values:
        return "generic"
    raise DoseResponseError(
        f"unrecognised dose-response layout (columns: {sorted(present)}). Use the generic layout "
        "drug_a, drug_b, dose_a, dose_b, response [, block_id, cell_line, replicate], or an "
        "NCI-ALMANAC, O'Neil or SynergyFinder export (see read_wells)."
    )


def _from_generic(raw: pd.DataFrame) -> tuple[pd.DataFrame, str | None]:
    """Normalise renamed columns; return the wells (value column ``value``) and response kind."""
    value_column = next(c for c in ("response", *_RESPONSE_KINDS) if c in raw.columns)
    wells = raw.rename(columns={value_column: "value"})
    if "cell_line" not in wells.columns:
        wells = wells.assign(cell_line=UNKNOWN_CELL_LINE)
    if "block_id" not in wells.columns:
        wells = wells.assign(block_id=_block_ids(wells, []))
    wells = wells.assign(block_id=wells["block_id"].astype(str))
    columns = [*WELL_COLUMNS[:-1], "value"] + (["replicate"] if "replicate" in wells else [])
    kind = value_column if value_column in _RESPONSE_KINDS else None
    return wells[columns], kind


def _from_almanac(raw: pd.DataFrame) -> pd.DataFrame:
    """Build blocks from NCI-ALMANAC wells and attach each block's single-agent wells."""
    raw = raw.rename(
        columns={
            "treatment1id": "drug_a",
            "treatment2id": "drug_b",
            "treatment1dose": "dose_a",
            "treatment2dose": "dose_b",
            "CELLNAME": "cell_line",
            "viability": "value",
        }
    )
    keys = ["cell_line", "PLATE"] if "PLATE" in raw.columns else ["cell_line"]
    is_single = raw["drug_b"].isna()
    combos = raw[~is_single]
    blocks = combos[["drug_a", "drug_b", *keys]].drop_duplicates()
    blocks = blocks.assign(block_id=_block_ids(blocks, keys[1:]))
    singles = raw[is_single].drop(columns=["drug_b", "dose_b"]).rename(columns={"drug_a": "drug"})
    singles = singles.reset_index(names="_row")
    # Drug A alone is the block's row with dose_b = 0; drug B alone the row with dose_a = 0.
    alone_a = blocks.merge(singles, left_on=["drug_a", *keys], right_on=["drug", *keys])
    alone_a = alone_a.assign(dose_b=0.0)
    alone_b = blocks.merge(singles, left_on=["drug_b", *keys], right_on=["drug", *keys])
    alone_b = alone_b.rename(columns={"dose_a": "dose_b"}).assign(dose_a=0.0)
    unused = singles.loc[~singles["_row"].isin(pd.concat([alone_a["_row"], alone_b["_row"]]))]
    if len(unused):
        examples = unused[["drug", "cell_line"]].drop_duplicates().head(_MAX_LISTED)
        warnings.warn(
            f"NCI-ALMANAC: {len(unused)} single-agent wells belong to no combination block "
            f"({'same plate, ' if 'PLATE' in keys else ''}drug and cell line) and are not used, "
            f"e.g. {', '.join(examples['drug'] + ' in ' + examples['cell_line'])}.",
            stacklevel=3,
        )
    combos = combos.merge(blocks, on=["drug_a", "drug_b", *keys]).set_axis(combos.index)
    alone = pd.concat([alone_a, alone_b]).set_index("_row").rename_axis(raw.index.name)
    wells = pd.concat([combos, alone])
    columns = [*WELL_COLUMNS[:-1], "value"] + (["replicate"] if "replicate" in raw else [])
    return wells[columns]


def _block_ids(frame: pd.DataFrame, extra: list[str]) -> pd.Series:
    """``cell_line:drug_a+drug_b`` (``@extra`` appended, e.g. the plate)."""
    ids = frame["cell_line"].astype(str) + ":" + frame["drug_a"].astype(str)
    ids = ids + "+" + frame["drug_b"].astype(str)
    for column in extra:
        ids = ids + "@" + frame[column].astype(str)
    return ids


def _infer_response_kind(wells: pd.DataFrame, layout: str) -> str:
    controls = wells.loc[(wells["dose_a"] == 0) & (wells["dose_b"] == 0), "value"]
    if controls.empty or controls.isna().all():
        raise DoseResponseError(
            f"cannot tell whether the {layout} 'response' column is viability or inhibition: "
            "there are no untreated (dose 0, 0) control wells to look at. Pass "
            "response='viability' or response='inhibition'."
        )
    return "viability" if controls.mean() > 50 else "inhibition"


# ---------------------------------------------------------------------------------------------
# Validation
# ---------------------------------------------------------------------------------------------


def validate_wells(wells: pd.DataFrame) -> None:
    """Check that every block of a normalised well table can be scored.

    Parameters
    ----------
    wells
        Output of :func:`read_wells` (or the same columns built by hand).

    Raises
    ------
    DoseResponseError
        Naming the offending blocks, when a column is missing; a block id, drug name, cell line,
        dose or response is missing; a dose is negative; or a block lacks combination wells,
        lacks single-agent wells of a drug, has fewer than two doses of a drug, or has a
        combination dose without a single-agent well of that drug at that dose.
    """
    missing = [c for c in WELL_COLUMNS if c not in wells.columns]
    if missing:
        raise DoseResponseError(f"well table lacks columns {missing}; build it with read_wells")
    _check_wells(
        wells[["block_id", "drug_a", "drug_b", "cell_line"]].isna().any(axis=1),
        wells,
        "lack a block id, drug name or cell line",
        "give both drugs of every well (single agents keep the partner's name with dose 0)",
    )
    _check_wells(
        wells[["dose_a", "dose_b", "response"]].isna().any(axis=1),
        wells,
        "have a missing (NaN) dose or response",
        "remove those wells or fill them in before scoring",
    )
    _check_wells(
        (wells["dose_a"] < 0) | (wells["dose_b"] < 0),
        wells,
        "have negative doses",
        "doses are concentrations and must be >= 0; fix the input table",
    )
    problems = _block_problems(wells)
    if problems:
        listed = "\n  ".join(problems[:_MAX_LISTED])
        more = f"\n  ... and {len(problems) - _MAX_LISTED} more" * (len(problems) > _MAX_LISTED)
        raise DoseResponseError(f"{len(problems)} problem(s) in the well table:\n  {listed}{more}")


def _check_wells(bad: pd.Series, wells: pd.DataFrame, what: str, fix: str) -> None:
    if bad.any():
        counts = wells.loc[bad, "block_id"].value_counts(sort=False)
        blocks = ", ".join(f"{b!r} ({n})" for b, n in counts.head(_MAX_LISTED).items())
        more = f" and {len(counts) - _MAX_LISTED} more blocks" * (len(counts) > _MAX_LISTED)
        raise DoseResponseError(f"{int(bad.sum())} wells {what}, in blocks {blocks}{more}: {fix}.")


def _block_problems(wells: pd.DataFrame) -> list[str]:
    """``block 'X': ...`` messages for the blocks that cannot be scored, in block order."""
    by_block = wells.groupby("block_id", sort=False)
    names = by_block[["drug_a", "drug_b"]].first()
    mixed = by_block[["drug_a", "drug_b", "cell_line"]].nunique().gt(1).any(axis=1)
    is_combo = (wells["dose_a"] > 0) & (wells["dose_b"] > 0)
    no_combo = ~wells.assign(combo=is_combo).groupby("block_id", sort=False)["combo"].any()
    problems = [
        (b, "mixes several drug pairs or cell lines; give each its own block_id")
        for b in mixed.index[mixed]
    ]
    problems += [
        (b, "has no combination wells (both doses > 0); it cannot be scored")
        for b in no_combo.index[no_combo & ~mixed]
    ]
    scorable = names.index[~mixed & ~no_combo]
    for drug, column, other in (("drug_a", "dose_a", "dose_b"), ("drug_b", "dose_b", "dose_a")):
        dose = wells[column]
        alone = wells.loc[(wells[other] == 0) & (dose > 0), ["block_id", column]].drop_duplicates()
        has_alone = scorable.isin(alone["block_id"])
        problems += [
            (
                b,
                f"has no single-agent wells of {names.at[b, drug]!r} (its dose > 0, the other "
                "dose 0); the reference models need them -- add them to the block",
            )
            for b in scorable[~has_alone]
        ]
        n_doses = wells[dose > 0].groupby("block_id")[column].nunique()
        problems += [
            (
                b,
                f"has a single dose of {names.at[b, drug]!r}; the Hill fits for Loewe and ZIP "
                "need at least two -- score this block with more doses or leave it out",
            )
            for b in scorable[has_alone & (n_doses.reindex(scorable) < 2)]
        ]
        combos = wells.loc[is_combo, ["block_id", column]].drop_duplicates()
        unmatched = combos.merge(alone, how="left", indicator=True).query("_merge == 'left_only'")
        lacking = unmatched.groupby("block_id", sort=False)[column].agg(sorted)
        problems += [
            (
                b,
                f"combination doses {lacking[b]} of {names.at[b, drug]!r} have no single-agent "
                "well at the same dose; add them (NCI-ALMANAC: drop the PLATE column to pool "
                "single agents across plates)",
            )
            for b in scorable[has_alone & scorable.isin(lacking.index)]
        ]
    order = {b: i for i, b in enumerate(names.index)}
    return [f"block {b!r}: {message}" for b, message in sorted(problems, key=lambda p: order[p[0]])]


# ---------------------------------------------------------------------------------------------
# Reference models
# ---------------------------------------------------------------------------------------------


def bliss_expected(effect_a: ArrayLike, effect_b: ArrayLike) -> np.ndarray:
    """Bliss-independence expectation, ``E_A + E_B - E_A E_B / 100``.

    Parameters
    ----------
    effect_a, effect_b
        Single-agent responses in % inhibition, broadcastable shapes.

    Returns
    -------
    numpy.ndarray
        Expected combination response in % inhibition: the surviving fractions multiply,
        ``1 - E_AB/100 = (1 - E_A/100)(1 - E_B/100)``.
    """
    effect_a, effect_b = np.asarray(effect_a, float), np.asarray(effect_b, float)
    return effect_a + effect_b - effect_a * effect_b / 100.0


def hsa_expected(effect_a: ArrayLike, effect_b: ArrayLike) -> np.ndarray:
    """Highest-single-agent expectation, ``max(E_A, E_B)`` (% inhibition, broadcast)."""
    return np.maximum(np.asarray(effect_a, float), np.asarray(effect_b, float))


def nci_expected_growth(growth_a: ArrayLike, growth_b: ArrayLike) -> np.ndarray:
    """NCI-ALMANAC expected percent growth of a combination (its ``EXPECTEDGROWTH``).

    Holbeck et al. 2017 apply Bliss independence to the NCI-60 percent growth ``G`` (100 =
    untreated growth, 0 = no growth over the assay, -100 = all cells killed)::

        G_AB = min(G_A, 100) * min(G_B, 100) / 100     if G_A >= 0 and G_B >= 0
        G_AB = min(G_A, G_B)                           otherwise (a single agent kills cells)

    With ``G = 100 - E`` the first case is :func:`bliss_expected` of the inhibitions clipped at
    0, i.e. a single agent that stimulates growth counts as inactive.

    Parameters
    ----------
    growth_a, growth_b
        Single-agent percent growth at the combination's doses, broadcastable shapes.

    Returns
    -------
    numpy.ndarray
        Expected percent growth of the combination.
    """
    growth_a, growth_b = np.asarray(growth_a, float), np.asarray(growth_b, float)
    independent = np.minimum(growth_a, 100.0) * np.minimum(growth_b, 100.0) / 100.0
    cytotoxic = (growth_a < 0) | (growth_b < 0)
    return np.where(cytotoxic, np.minimum(growth_a, growth_b), independent)


@dataclass(frozen=True)
class HillCurve:
    """A 4-parameter log-logistic dose-response curve in % inhibition.

    ``E(d) = bottom + (top - bottom) / (1 + (ec50 / d) ** slope)``, so ``E(0) = bottom`` and
    ``E(ec50)`` is halfway between ``bottom`` and ``top``.

    Attributes
    ----------
    bottom, top
        Response at zero and at infinite dose, % inhibition (``top < bottom`` for a drug that
        makes cells grow).
    ec50
        Dose of the half-maximal effect, in the units of the doses it was fitted to.
    slope
        Hill coefficient, > 0.
    """

    bottom: float
    top: float
    ec50: float
    slope: float

    def effect(self, dose: ArrayLike) -> np.ndarray:
        """Response ``E(d)`` at doses ``d >= 0`` (any shape)."""
        return _hill(np.asarray(dose, float), self.bottom, self.top, np.log(self.ec50), self.slope)

    def dose(self, effect: ArrayLike) -> np.ndarray:
        """Inverse ``D(E) = ec50 * ((E - bottom) / (top - E)) ** (1 / slope)``.

        Returns 0 for effects at ``bottom`` or on its far side from ``top`` (no drug needed),
        and ``inf`` for effects at ``top`` or past it (never reached).
        """
        fraction = (np.asarray(effect, float) - self.bottom) / (self.top - self.bottom)
        with np.errstate(over="ignore"):
            return self.ec50 * np.exp(logit(np.clip(fraction, 0.0, 1.0)) / self.slope)


def _hill(dose: np.ndarray, bottom: float, top: float, log_ec50: float, slope: float) -> np.ndarray:
    with np.errstate(divide="ignore"):  # log(0) = -inf gives E(0) = bottom
        return bottom + (top - bottom) * expit(slope * (np.log(dose) - log_ec50))


def fit_hill(dose: ArrayLike, response: ArrayLike) -> HillCurve:
    """Least-squares fit of a :class:`HillCurve` to one drug's single-agent responses.

    Uses :func:`scipy.optimize.curve_fit` (trust-region reflective) on
    ``(bottom, top, log ec50, slope)`` within bounds that keep sparse designs (NCI-ALMANAC has
    three doses per drug) well-posed: ``bottom`` and ``top`` within
    ``[min(0, min E), max(100, max E)]``, ``ec50`` within three decades of the tested doses and
    ``slope`` in ``[0.1, 10]``.

    Parameters
    ----------
    dose
        Doses, shape ``(n,)``, at least two distinct positive ones. Zero doses (untreated
        controls) anchor ``bottom``; when there are none, the untreated response is 0 %
        inhibition by definition and is added as the point ``(0, 0)``.
    response
        Responses in % inhibition, shape ``(n,)``.

    Returns
    -------
    HillCurve
    """
    dose, response = np.asarray(dose, float), np.asarray(response, float)
    if not (dose == 0).any():
        dose, response = np.append(dose, 0.0), np.append(response, 0.0)
    low, high = min(0.0, response.min()), max(100.0, response.max())
    log_ec50_low, log_ec50_high = _log_ec50_bounds(dose)
    lower = [low, low, log_ec50_low, _SLOPE_BOUNDS[0]]
    upper = [high, high, log_ec50_high, _SLOPE_BOUNDS[1]]
    start = [
        response[dose == 0].mean(),
        response[dose == dose.max()].mean(),
        np.log(dose[dose > 0]).mean(),
        1.0,
    ]
    params = _curve_fit(_hill, dose, response, np.clip(start, lower, upper), (lower, upper))
    bottom, top, log_ec50, slope = params
    return HillCurve(float(bottom), float(top), float(np.exp(log_ec50)), float(slope))


def _log_ec50_bounds(dose: np.ndarray) -> tuple[float, float]:
    """log EC50 within ``_EC50_DECADES`` of the positive doses tested."""
    log_dose = np.log(dose[dose > 0])
    margin = _EC50_DECADES * np.log(10.0)
    return float(log_dose.min() - margin), float(log_dose.max() + margin)


def _curve_fit(
    model: Callable[..., np.ndarray],
    x: np.ndarray,
    y: np.ndarray,
    start: np.ndarray,
    bounds: tuple[Sequence[float], Sequence[float]],
) -> np.ndarray:
    with warnings.catch_warnings():
        # The covariance is not used, and it is undefined when there are as many points as
        # parameters (a 3-dose NCI-ALMANAC drug plus its control).
        warnings.simplefilter("ignore", OptimizeWarning)
        params, _ = curve_fit(
            model, x, y, p0=start, bounds=bounds, max_nfev=10_000, **_FIT_TOLERANCES
        )
    return params


def loewe_expected(
    dose_a: ArrayLike, dose_b: ArrayLike, curve_a: HillCurve, curve_b: HillCurve
) -> np.ndarray:
    """Loewe-additivity expectation from the single-drug Hill curves.

    The expected effect ``E`` of ``(d_a, d_b)`` solves ``d_a / D_A(E) + d_b / D_B(E) = 1``, where
    ``D_X(E)`` is the dose of drug X alone that gives ``E`` (:meth:`HillCurve.dose`); a drug
    combined with itself (a sham combination) is exactly additive. The left side decreases in
    ``E``, so the root is found by vectorised bisection on the range of effects both curves can
    reach, ``(max(bottom_A, bottom_B), min(top_A, top_B))``.

    Fallback: when the root lies beyond that range -- one drug never reaches the needed effect
    -- the expectation is ``max(E_A(d_a), E_B(d_b))`` of the fitted curves. This is the limit of
    the equation when a drug adds no dose equivalent to effects it cannot reach, so the
    expectation stays continuous across the boundary. The same rule applies when the two curves
    share no effect range (e.g. a drug whose fit decreases).

    Parameters
    ----------
    dose_a, dose_b
        Doses of the combination wells, same shape, in the units of the fitted curves.
    curve_a, curve_b
        Hill fits of drug A and drug B alone (:func:`fit_hill`).

    Returns
    -------
    numpy.ndarray
        Expected response in % inhibition, the shape of ``dose_a``.
    """
    dose_a, dose_b = np.asarray(dose_a, float), np.asarray(dose_b, float)
    fallback = hsa_expected(curve_a.effect(dose_a), curve_b.effect(dose_b))
    low, high = max(curve_a.bottom, curve_b.bottom), min(curve_a.top, curve_b.top)
    if not low < high:
        return fallback

    def combination_index(effect: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore"):
            return dose_a / curve_a.dose(effect) + dose_b / curve_b.dose(effect)

    lower, upper = np.full(dose_a.shape, low), np.full(dose_a.shape, high)
    for _ in range(_LOEWE_BISECTIONS):
        middle = (lower + upper) / 2
        # Index > 1: the doses are more than enough for `middle`, so the expected effect is higher.
        higher = combination_index(middle) > 1
        lower, upper = np.where(higher, middle, lower), np.where(higher, upper, middle)
    unreachable = combination_index(np.full(dose_a.shape, high)) > 1
    return np.where(unreachable, fallback, (lower + upper) / 2)


def zip_delta(
    dose_a: ArrayLike,
    dose_b: ArrayLike,
    response: ArrayLike,
    curve_a: HillCurve,
    curve_b: HillCurve,
) -> np.ndarray:
    """ZIP delta score of Yadav et al. (2015), as implemented in SynergyFinder.

    With ``y_A = E_A(d_a)``, ``y_B = E_B(d_b)`` from the single-drug fits, the ZIP reference is
    the Bliss surface ``y_A + y_B - y_A y_B / 100``. At each dose ``d_a`` the responses along
    ``d_b`` are refitted with a Hill curve that starts at ``y_A`` and saturates at 100 %,
    ``(y_A + 100 (d_b / m)^s) / (1 + (d_b / m)^s)`` (free ``m``, ``s``), and symmetrically along
    ``d_a`` at each ``d_b``; a line with a single combination well keeps its observed response.
    The delta is the mean of the two refitted surfaces minus the reference.

    Parameters
    ----------
    dose_a, dose_b, response
        Combination wells (both doses > 0), shape ``(n,)``; response in % inhibition, replicates
        averaged.
    curve_a, curve_b
        Hill fits of drug A and drug B alone (:func:`fit_hill`).

    Returns
    -------
    numpy.ndarray
        Delta in percentage points, shape ``(n,)``; positive = synergy.
    """
    dose_a, dose_b = np.asarray(dose_a, float), np.asarray(dose_b, float)
    response = np.asarray(response, float)
    alone_a, alone_b = curve_a.effect(dose_a), curve_b.effect(dose_b)
    along_b = _refit_lines(dose_b, response, fixed_dose=dose_a, baseline=alone_a)
    along_a = _refit_lines(dose_a, response, fixed_dose=dose_b, baseline=alone_b)
    return (along_a + along_b) / 2 - bliss_expected(alone_a, alone_b)


def _refit_lines(
    dose: np.ndarray, response: np.ndarray, fixed_dose: np.ndarray, baseline: np.ndarray
) -> np.ndarray:
    """Fitted responses along ``dose`` for each value of ``fixed_dose`` (ZIP)."""
    fitted = response.copy()
    log_m_low, log_m_high = _log_ec50_bounds(dose)
    bounds = ([log_m_low, _SLOPE_BOUNDS[0]], [log_m_high, _SLOPE_BOUNDS[1]])
    for value in np.unique(fixed_dose):
        line = fixed_dose == value
        if line.sum() < 2:
            continue
        bottom = baseline[line][0]

        def curve(x: np.ndarray, log_m: float, slope: float, bottom: float = bottom) -> np.ndarray:
            return _hill(x, bottom, 100.0, log_m, slope)

        start = np.clip([np.log(dose[line]).mean(), 1.0], *bounds)
        params = _curve_fit(curve, dose[line], response[line], start, bounds)
        fitted[line] = curve(dose[line], *params)
    return fitted


# ---------------------------------------------------------------------------------------------
# Scoring
# ---------------------------------------------------------------------------------------------


def score_doses(wells: pd.DataFrame, models: Sequence[str] = MODELS) -> pd.DataFrame:
    """Excess over each reference model at every combination dose pair.

    Replicate wells (same block and dose pair) are averaged first.

    Parameters
    ----------
    wells
        Normalised wells from :func:`read_wells`; validated with :func:`validate_wells`.
    models
        Subset of :data:`MODELS` to compute (Loewe and ZIP need Hill fits and are the slow part).

    Returns
    -------
    pandas.DataFrame
        One row per combination dose pair of each block: ``block_id, drug_a, drug_b, cell_line,
        dose_a, dose_b, response`` (mean % inhibition), ``n_replicates``, ``effect_a, effect_b``
        (mean single-agent % inhibition at the same doses) and one column per model with the
        excess ``response - expected`` (ZIP: delta) in percentage points.
    """
    unknown = set(models) - set(MODELS)
    if unknown:
        raise ValueError(f"unknown models {sorted(unknown)}; choose from {MODELS}")
    validate_wells(wells)
    means = (
        wells.groupby(list(WELL_COLUMNS[:-1]), sort=False)["response"]
        .agg(response="mean", n_replicates="size")
        .reset_index()
    )
    dose_a, dose_b = means["dose_a"], means["dose_b"]
    alone_a = means.loc[(dose_b == 0) & (dose_a > 0), ["block_id", "dose_a", "response"]]
    alone_b = means.loc[(dose_a == 0) & (dose_b > 0), ["block_id", "dose_b", "response"]]
    combos = (
        means[(dose_a > 0) & (dose_b > 0)]
        .merge(alone_a.rename(columns={"response": "effect_a"}), on=["block_id", "dose_a"])
        .merge(alone_b.rename(columns={"response": "effect_b"}), on=["block_id", "dose_b"])
    )
    observed, effect_a, effect_b = combos["response"], combos["effect_a"], combos["effect_b"]
    if "bliss" in models:
        combos["bliss"] = observed - bliss_expected(effect_a, effect_b)
    if "hsa" in models:
        combos["hsa"] = observed - hsa_expected(effect_a, effect_b)
    fitted = [model for model in ("loewe", "zip") if model in models]
    if fitted:
        blocks = means.groupby("block_id", sort=False)
        scores = [
            _hill_model_scores(blocks.get_group(block_id), combo, fitted)
            for block_id, combo in combos.groupby("block_id", sort=False)
        ]
        combos = combos.join(pd.concat(scores))
    return combos


def _hill_model_scores(
    block: pd.DataFrame, combo: pd.DataFrame, models: Sequence[str]
) -> pd.DataFrame:
    """Loewe excess and ZIP delta of one block's combination wells (``combo``'s index kept).

    The single-drug Hill fits use the rows with the other dose 0, so a measured untreated
    control (dose 0, 0) pins the bottom of both curves.
    """
    alone_a, alone_b = block[block["dose_b"] == 0], block[block["dose_a"] == 0]
    curve_a = fit_hill(alone_a["dose_a"], alone_a["response"])
    curve_b = fit_hill(alone_b["dose_b"], alone_b["response"])
    dose_a, dose_b = combo["dose_a"].to_numpy(), combo["dose_b"].to_numpy()
    observed = combo["response"].to_numpy()
    scores = pd.DataFrame(index=combo.index)
    if "loewe" in models:
        scores["loewe"] = observed - loewe_expected(dose_a, dose_b, curve_a, curve_b)
    if "zip" in models:
        scores["zip"] = zip_delta(dose_a, dose_b, observed, curve_a, curve_b)
    return scores


def score_blocks(wells: pd.DataFrame, models: Sequence[str] = MODELS) -> pd.DataFrame:
    """Block-level synergy scores: mean and max excess over the combination doses.

    Parameters
    ----------
    wells
        Normalised wells from :func:`read_wells`.
    models
        Subset of :data:`MODELS` to compute.

    Returns
    -------
    pandas.DataFrame
        One row per block, in input order: ``drug_a, drug_b, cell_line, block_id, n_wells``
        (all wells of the block, replicates and single agents included) and, per model,
        ``<model>_mean`` and ``<model>_max`` in percentage points of inhibition
        (positive = synergy).
    """
    doses = score_doses(wells, models)
    scores = doses.groupby("block_id", sort=False)[list(models)].agg(["mean", "max"])
    scores.columns = [f"{model}_{stat}" for model, stat in scores.columns]
    n_wells = wells.groupby("block_id", sort=False).size().rename("n_wells")
    names = doses.groupby("block_id", sort=False)[["drug_a", "drug_b", "cell_line"]].first()
    table = names.join(n_wells).join(scores).reset_index()
    return table[["drug_a", "drug_b", "cell_line", "block_id", "n_wells", *scores.columns]]


def score_wells(
    path_or_df: str | PathLike | pd.DataFrame,
    response: str | None = None,
    score: str = "bliss_max",
) -> pd.DataFrame:
    """Read, validate and score dose-response wells into a synergy table.

    Parameters
    ----------
    path_or_df, response
        As in :func:`read_wells`.
    score
        Column of :func:`score_blocks` copied to ``synergy``, e.g. ``"bliss_max"``,
        ``"loewe_mean"`` or ``"zip_mean"``.

    Returns
    -------
    pandas.DataFrame
        ``drug_a, drug_b, cell_line, synergy`` followed by the other :func:`score_blocks`
        columns; one row per block, ready for ``synergy-ppl fit --data``.
    """
    choices = [f"{model}_{stat}" for model in MODELS for stat in ("mean", "max")]
    if score not in choices:
        raise ValueError(f"score must be one of {choices}, got {score!r}")
    table = score_blocks(read_wells(path_or_df, response))
    table.insert(3, "synergy", table[score])
    return table
