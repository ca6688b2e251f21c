"""The normalised well table that every stage hands on, and the check that its blocks can be scored.

One row per well, columns :data:`WELL_COLUMNS`: ``block_id, drug_a, drug_b, cell_line`` (names),
``dose_a, dose_b`` (finite, ``>= 0``, the input's units) and ``response`` (% inhibition,
``|response| <=`` :data:`MAX_ABS_RESPONSE`). A block is one drug pair in one cell line; its
wells with ``dose_b = 0`` are drug A alone, those with ``dose_a = 0`` drug B alone, and those
with both doses positive the combinations.

:mod:`.layouts` builds this table from the input files and refuses bad rows by row number;
:func:`validate_wells` checks the block structure (and tables built by hand) before scoring. This
module also holds what the messages of both share: :class:`DoseResponseError` and the listing of
at most ``_MAX_LISTED`` offending items.
"""

from collections.abc import Sequence

import numpy as np
import pandas as pd

from ..errors import DataError

WELL_COLUMNS = ("block_id", "drug_a", "drug_b", "cell_line", "dose_a", "dose_b", "response")
UNKNOWN_CELL_LINE = "unknown"

# Responses are percentages (% of the untreated control, or % inhibition). Real screens stay
# within about -100..+250: NCI percent growth runs from -100 (every cell killed) to about 250
# (stimulated growth), and the shared NCI-ALMANAC, O'Neil and Mathews wells lie in -100..201.
# Beyond +-1000 a value cannot be a percentage: it is a raw count or luminescence reading, whose
# Bliss product E_A E_B / 100 would turn into synergy scores of 1e13.
MAX_ABS_RESPONSE = 1000.0
# A table of percentages whose every response lies within +-1.5 would be a screen in which no
# drug moved any well by more than 1.5 points, controls included (untreated viability is 100):
# such a table holds fractions (viability 0.83 for 83 %), which read as percentages would score
# every well as ~99 % inhibited.
MAX_FRACTION_RESPONSE = 1.5
_FIX_FRACTIONS = "these look like fractions: responses must be percentages, so multiply by 100"

_MAX_LISTED = 5  # blocks or rows named in one error or warning message
# Fixes named both for input rows (layouts) and for wells of a normalised table.
_FIX_DRUG_NAMES = (
    "give both drugs of every well (single agents keep the partner's name with dose 0)"
)
_FIX_NEGATIVE_DOSES = "doses are concentrations and must be >= 0; fix the input table"


class DoseResponseError(DataError):
    """A dose-response table that cannot be scored; the message names the rows or block and the
    fix (and the file, when it comes from :func:`read_wells` or :func:`score_wells`)."""


def _listed(
    items: Sequence[str],
    limit: int = _MAX_LISTED,
    separator: str = ", ",
    more: str = " and {} more",
) -> str:
    """The first ``limit`` items joined by ``separator``, then ``more`` with the count left out,
    e.g. ``'b1', 'b2' and 3 more``."""
    left_out = len(items) - limit
    return separator.join(items[:limit]) + more.format(left_out) * (left_out > 0)


def validate_wells(wells: pd.DataFrame) -> None:
    """Check that every block of a normalised well table can be scored.

    :func:`read_wells` already refuses bad rows by row number; this check is for tables built
    by hand and for the block structure.

    Parameters
    ----------
    wells
        Output of :func:`read_wells` (or the same columns built by hand).

    Raises
    ------
    DoseResponseError
        Naming the offending blocks, when a column is missing or not numeric; the table has no
        wells; a block id, drug name, cell line, dose or response is missing; a dose or response
        is not finite; a dose is negative; a response is beyond :data:`MAX_ABS_RESPONSE`; every
        response is within :data:`MAX_FRACTION_RESPONSE` (fractions, not percentages); or a
        block lacks combination wells, lacks single-agent wells of a drug, has fewer than two
        doses of a drug, or has a combination dose without a single-agent well of that drug at
        that dose.
    """
    missing = [c for c in WELL_COLUMNS if c not in wells.columns]
    if missing:
        raise DoseResponseError(f"well table lacks columns {missing}; build it with read_wells")
    if wells.empty:
        raise DoseResponseError("the well table has no wells; build it with read_wells")
    numeric = ["dose_a", "dose_b", "response"]
    not_numeric = [
        c
        for c in numeric
        if not pd.api.types.is_numeric_dtype(wells[c]) or pd.api.types.is_bool_dtype(wells[c])
    ]
    if not_numeric:
        raise DoseResponseError(
            f"well table columns {not_numeric} are not numeric; read the wells with read_wells, "
            "which names the rows to fix"
        )
    _check_wells(
        wells[["block_id", "drug_a", "drug_b", "cell_line"]].isna().any(axis=1),
        wells,
        "lack a block id, drug name or cell line",
        _FIX_DRUG_NAMES,
    )
    _check_wells(
        ~np.isfinite(wells[numeric].to_numpy(float)).all(axis=1),
        wells,
        "have a missing (NaN) or infinite dose or response",
        "remove those wells or fill them in before scoring",
    )
    _check_wells(
        (wells["dose_a"] < 0) | (wells["dose_b"] < 0),
        wells,
        "have negative doses",
        _FIX_NEGATIVE_DOSES,
    )
    _check_wells(
        wells["response"].abs() > MAX_ABS_RESPONSE,
        wells,
        f"have responses beyond +-{MAX_ABS_RESPONSE:g} % inhibition",
        "responses must be percentages; normalise raw readouts to % of the untreated control",
    )
    if looks_like_fractions(wells["response"]):
        raise DoseResponseError(
            f"every response lies within +-{MAX_FRACTION_RESPONSE:g} % inhibition; "
            + _FIX_FRACTIONS
        )
    problems = _block_problems(wells)
    if problems:
        listed = _listed(problems, separator="; ", more="; ... and {} more")
        raise DoseResponseError(f"{len(problems)} problem(s) in the well table: {listed}")


def looks_like_fractions(responses: pd.Series) -> bool:
    """Whether every finite response is within :data:`MAX_FRACTION_RESPONSE` of zero."""
    finite = responses[np.isfinite(responses.to_numpy(float))]
    return bool(len(finite)) and bool((finite.abs() <= MAX_FRACTION_RESPONSE).all())


def _check_wells(bad: pd.Series | np.ndarray, wells: pd.DataFrame, what: str, fix: str) -> None:
    """Raise, naming the blocks and how many of their wells are ``bad``, when any well is."""
    bad = np.asarray(bad, bool)
    if bad.any():
        counts = wells.loc[bad, "block_id"].value_counts(sort=False, dropna=False)
        blocks = _listed([f"{b!r} ({n})" for b, n in counts.items()], more=" and {} more blocks")
        raise DoseResponseError(f"{int(bad.sum())} wells {what}, in blocks {blocks}: {fix}.")


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
