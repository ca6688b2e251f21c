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

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy.optimize import OptimizeWarning, curve_fit
from scipy.special import expit, logit

from ..data import read_table
from ..errors import DataError, OptionError

__all__ = [
    "MAX_ABS_RESPONSE",
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

# Responses are percentages (% of the untreated control, or % inhibition). Real screens stay
# within about -100..+250: NCI percent growth runs from -100 (every cell killed) to about 250
# (stimulated growth), and the shared NCI-ALMANAC, O'Neil and Mathews wells lie in -100..201.
# Beyond +-1000 a value cannot be a percentage: it is a raw count or luminescence reading, whose
# Bliss product E_A E_B / 100 would turn into synergy scores of 1e13.
MAX_ABS_RESPONSE = 1000.0

# Hill-fit bounds: the slope of real dose-response curves lies well inside [0.1, 10], and an EC50
# more than three decades outside the tested doses cannot be told apart from "inactive".
_SLOPE_BOUNDS = (0.1, 10.0)
_EC50_DECADES = 3.0
# Responses are in percent: a relative tolerance of 1e-6 is far below assay noise and needs a
# third of the iterations of scipy's default 1e-8 on the sparse, flat designs of real screens.
_FIT_TOLERANCES = {"ftol": 1e-6, "xtol": 1e-6, "gtol": 1e-6}
_LOEWE_BISECTIONS = 64  # halves the effect bracket to below double precision
_MAX_LISTED = 5  # blocks or rows named in one error or warning message
_IN_MEMORY = "wells table"  # how messages name a DataFrame given instead of a file


class DoseResponseError(DataError):
    """A dose-response table that cannot be scored; the message names the rows or block and the
    fix (and the file, when it comes from :func:`read_wells` or :func:`score_wells`)."""


# ---------------------------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------------------------

# NCI-ALMANAC column -> normalised name ("value" is the response as given).
_ALMANAC_COLUMNS = {
    "treatment1id": "drug_a",
    "treatment2id": "drug_b",
    "treatment1dose": "dose_a",
    "treatment2dose": "dose_b",
    "CELLNAME": "cell_line",
    "viability": "value",
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

    Every well needs its names (drugs, cell line, block id where the layout has them), finite
    doses ``>= 0`` and a finite response in percent, ``|response| <=`` :data:`MAX_ABS_RESPONSE`;
    raw readouts (counts, luminescence) must be normalised to % of the untreated control first.

    Parameters
    ----------
    path_or_df
        A CSV, TSV or Parquet file, read with :func:`synergy_ppl.data.read_table` (TSV when the
        name ends in ``.tsv``, ``.tsv.gz`` or ``.txt``), or a DataFrame in one of the layouts
        above.
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
    synergy_ppl.errors.DataError
        From :func:`~synergy_ppl.data.read_table`, if the file is missing or is not a table.
    DoseResponseError
        Naming the file and the offending data rows (1 = first row after the header), if the
        layout is not recognised, the table has no wells, a name, dose or response is missing,
        a dose or response is not a finite number, a dose is negative, a response cannot be a
        percentage, or the response kind is neither given nor inferable.
    """
    try:
        if response is not None and response not in _RESPONSE_KINDS:
            raise DoseResponseError(f"response must be one of {_RESPONSE_KINDS}, got {response!r}")
        raw = (
            path_or_df
            if isinstance(path_or_df, pd.DataFrame)
            else read_table(path_or_df, text=True)
        )
        layout = _detect_layout(raw.columns)
        columns, kind = _layout_columns(raw.columns, layout)
        raw = _checked_rows(raw, columns, layout)
        # Select, then rename: input columns that happen to carry a normalised name never clash.
        named = raw[list(columns.values())].set_axis(list(columns), axis=1)
        wells = _from_almanac(named) if layout == "almanac" else _from_generic(named)
        kind = response or kind or _infer_response_kind(wells, layout)
    except DoseResponseError as err:
        raise DoseResponseError(f"{_source(path_or_df)}: {err}") from err
    value = wells.pop("value").astype(float)
    response_at = WELL_COLUMNS.index("response")
    wells.insert(response_at, "response", 100.0 - value if kind == "viability" else value)
    return wells


def _source(path_or_df: str | PathLike | pd.DataFrame) -> str:
    """The file name, or :data:`_IN_MEMORY` for a DataFrame, to start an error message."""
    return _IN_MEMORY if isinstance(path_or_df, pd.DataFrame) else str(path_or_df)


def _detect_layout(columns: pd.Index) -> str:
    present = set(columns)
    required = _required_columns(present)
    for layout, needed in required.items():
        if needed <= present:
            return layout
    listed = ", ".join(_shown(c) for c in list(columns)[: 3 * _MAX_LISTED])
    more = f" and {len(columns) - 3 * _MAX_LISTED} more" * (len(columns) > 3 * _MAX_LISTED)
    first = str(columns[0]) if len(columns) else ""
    separator = next((sep for sep in "\t;|" if sep in first), None)
    if len(columns) == 1 and separator == "\t":
        hint = "the file looks tab-separated: name it .tsv"
    elif len(columns) == 1 and separator:
        hint = f"the file looks {separator!r}-separated: save it as CSV (commas) or .tsv (tabs)"
    else:
        # The layout this table is closest to, and what it lacks.
        layout = min(required, key=lambda name: len(required[name] - present))
        if required[layout] & present:
            missing = sorted(required[layout] - present)
            hint = f"closest is the {_LAYOUT_NAMES[layout]} layout, which also needs {missing}"
        else:
            hint = "no column of a known layout"
    raise DoseResponseError(
        f"unrecognised dose-response layout (columns: {listed}{more}; {hint}). Use the generic "
        "layout drug_a, drug_b, dose_a, dose_b, response [, block_id, cell_line, replicate], or "
        "an NCI-ALMANAC, O'Neil or SynergyFinder export (see read_wells)."
    )


_LAYOUT_NAMES = {
    "almanac": "NCI-ALMANAC",
    "oneil": "O'Neil",
    "synergyfinder": "SynergyFinder",
    "generic": "generic",
}


def _required_columns(present: set) -> dict[str, set]:
    """Columns each layout needs, in the order layouts are tried."""
    required = {"almanac": set(_ALMANAC_COLUMNS)}
    for layout, (renames, _) in _RENAMED_LAYOUTS.items():
        required[layout] = {"block_id", "response"} | (set(renames) - {"cell_line_name"})
    value = next((c for c in ("response", *_RESPONSE_KINDS) if c in present), "response")
    required["generic"] = {"drug_a", "drug_b", "dose_a", "dose_b", value}
    return required


def _layout_columns(present: pd.Index, layout: str) -> tuple[dict[str, str], str | None]:
    """Normalised name -> input column for the columns this input has, and the response kind.

    Normalised names are those of :data:`WELL_COLUMNS` with ``value`` for the response as given,
    plus ``replicate`` and (NCI-ALMANAC) ``PLATE``. The kind is None when it must be inferred.
    """
    if layout == "almanac":
        renames, kind = {**_ALMANAC_COLUMNS, "PLATE": "PLATE"}, "viability"
    elif layout == "generic":
        value = next(c for c in ("response", *_RESPONSE_KINDS) if c in present)
        renames = {c: c for c in ("block_id", "drug_a", "drug_b", "cell_line", "dose_a", "dose_b")}
        renames[value] = "value"
        kind = value if value in _RESPONSE_KINDS else None
    else:
        renames, kind = _RENAMED_LAYOUTS[layout]
        renames = {**renames, "block_id": "block_id", "response": "value"}
    renames["replicate"] = "replicate"
    return {name: column for column, name in renames.items() if column in present}, kind


def _checked_rows(raw: pd.DataFrame, columns: dict[str, str], layout: str) -> pd.DataFrame:
    """Refuse input rows that cannot be wells, naming them; return ``raw`` with numeric doses
    and responses.

    Checks, in order: no rows, duplicated column names, empty names, doses or responses,
    non-numeric and non-finite doses or responses, negative doses, and responses beyond
    :data:`MAX_ABS_RESPONSE`. Rows are numbered as a user counts them (1 = first data row).
    """
    if raw.empty:
        raise DoseResponseError(
            "the table has a header but no wells; add one row per well (single agents, "
            "combinations and untreated controls)"
        )
    duplicated = sorted(str(c) for c in set(columns.values()) if (raw.columns == c).sum() > 1)
    if duplicated:
        raise DoseResponseError(f"columns {duplicated} appear more than once; keep one of each")
    needed = pd.DataFrame(True, index=raw.index, columns=list(columns))
    if layout == "almanac":
        # An empty treatment2id marks a single-agent well, whose second dose is empty too.
        single = _blank(raw[columns["drug_b"]])
        needed["drug_b"] = needed["dose_b"] = ~single
    for name, column in columns.items():
        if name == "replicate":
            continue
        empty = _blank(raw[column]) & needed[name]
        if empty.any():
            fix = (
                "give both drugs of every well (single agents keep the partner's name with dose 0)"
                if name == "drug_b"
                else "fill them in or remove those rows"
            )
            raise DoseResponseError(f"column {column!r} is empty in {_rows(empty)}; {fix}")
    numbers = {}
    for name in ("dose_a", "dose_b", "value"):
        column, need = columns[name], needed[name]
        text = raw[column]
        number = _to_float(text)
        _refuse_rows(
            need & number.isna(),
            text,
            f"column {column!r} is not a number in",
            "doses and responses must be plain numbers (no units, no thousands separators); "
            "fix or remove those rows",
        )
        _refuse_rows(
            need & np.isinf(number),
            text,
            f"column {column!r} is infinite in",
            "fix or remove those rows",
        )
        numbers[column] = number.where(need)
    for name in ("dose_a", "dose_b"):
        column = columns[name]
        _refuse_rows(
            numbers[column] < 0,
            raw[column],
            f"column {column!r} has negative doses in",
            "doses are concentrations and must be >= 0; fix the input table",
        )
    column = columns["value"]
    _refuse_rows(
        numbers[column].abs() > MAX_ABS_RESPONSE,
        raw[column],
        f"column {column!r} has responses beyond +-{MAX_ABS_RESPONSE:g}, which cannot be "
        "percentages, in",
        "responses must be % viability or % inhibition -- normalise raw readouts (counts, "
        "luminescence) to % of the untreated control first",
    )
    return raw.assign(**numbers)


def _blank(values: pd.Series) -> pd.Series:
    """Missing values and empty or all-space strings."""
    blank = values.isna()
    if values.dtype == object or isinstance(values.dtype, pd.StringDtype):
        blank |= values.astype(str).str.strip().eq("").fillna(False).astype(bool)
    return blank


def _to_float(values: pd.Series) -> pd.Series:
    """Floats, NaN where a value is missing or not a number (True/False are not doses)."""
    if pd.api.types.is_bool_dtype(values):
        return pd.Series(np.nan, index=values.index)
    number = pd.to_numeric(values.where(~_blank(values)), errors="coerce")
    return number.astype(float)


def _rows(bad: pd.Series) -> str:
    """``data rows 3, 7 and 2 more`` for a boolean mask over the input rows."""
    rows = np.flatnonzero(bad.to_numpy()) + 1
    listed = ", ".join(map(str, rows[:_MAX_LISTED]))
    more = f" and {len(rows) - _MAX_LISTED} more" * (len(rows) > _MAX_LISTED)
    return f"data row{'s' * (len(rows) > 1)} {listed}{more}"


def _refuse_rows(bad: pd.Series, values: pd.Series, what: str, fix: str) -> None:
    """Raise, naming the rows and the first offending value, when any row is ``bad``."""
    if bad.any():
        example = values[bad.to_numpy()].iloc[0]
        raise DoseResponseError(f"{what} {_rows(bad)} (first value {_shown(example)}); {fix}")


def _from_generic(named: pd.DataFrame) -> pd.DataFrame:
    """Wells of a layout with one row per well (value column ``value``), in normalised order."""
    wells = named
    if "cell_line" not in wells.columns:
        wells = wells.assign(cell_line=UNKNOWN_CELL_LINE)
    if "block_id" not in wells.columns:
        wells = wells.assign(block_id=_block_ids(wells, []))
    wells = wells.assign(block_id=wells["block_id"].astype(str))
    columns = [*WELL_COLUMNS[:-1], "value"] + (["replicate"] if "replicate" in wells else [])
    return wells[columns]


def _from_almanac(raw: pd.DataFrame) -> pd.DataFrame:
    """Build blocks from NCI-ALMANAC wells (normalised names) and attach each block's
    single-agent wells."""
    keys = ["cell_line", "PLATE"] if "PLATE" in raw.columns else ["cell_line"]
    is_single = _blank(raw["drug_b"])
    combos = raw[~is_single]
    if combos.empty:
        raise DoseResponseError(
            "has no combination wells (rows with treatment2id filled in), so no block to score; "
            "add the combination wells of the screen"
        )
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
        examples = unused[["drug", "cell_line"]].drop_duplicates().head(_MAX_LISTED).astype(str)
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


def _shown(value: object) -> str:
    """A value for a one-line message: numbers plain, strings quoted and cut to 40 characters."""
    if isinstance(value, np.generic):
        value = value.item()
    return repr(value[:40] if isinstance(value, str) else value)


# ---------------------------------------------------------------------------------------------
# Validation
# ---------------------------------------------------------------------------------------------


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
        is not finite; a dose is negative; a response is beyond :data:`MAX_ABS_RESPONSE`; or a
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
        "give both drugs of every well (single agents keep the partner's name with dose 0)",
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
        "doses are concentrations and must be >= 0; fix the input table",
    )
    _check_wells(
        wells["response"].abs() > MAX_ABS_RESPONSE,
        wells,
        f"have responses beyond +-{MAX_ABS_RESPONSE:g} % inhibition",
        "responses must be percentages; normalise raw readouts to % of the untreated control",
    )
    problems = _block_problems(wells)
    if problems:
        listed = "; ".join(problems[:_MAX_LISTED])
        more = f"; ... and {len(problems) - _MAX_LISTED} more" * (len(problems) > _MAX_LISTED)
        raise DoseResponseError(f"{len(problems)} problem(s) in the well table: {listed}{more}")


def _check_wells(bad: pd.Series | np.ndarray, wells: pd.DataFrame, what: str, fix: str) -> None:
    bad = np.asarray(bad, bool)
    if bad.any():
        counts = wells.loc[bad, "block_id"].value_counts(sort=False, dropna=False)
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
        excess ``response - expected`` (ZIP: delta) in percentage points; all finite.

    Raises
    ------
    DoseResponseError
        From :func:`validate_wells`; when a block's Hill fits fail; or when a score is not
        finite (never handed on silently).
    synergy_ppl.errors.OptionError
        For a model not in :data:`MODELS`.
    """
    unknown = set(models) - set(MODELS)
    if unknown:
        raise OptionError(f"unknown models {sorted(unknown)}; choose from {MODELS}")
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
    _check_finite(combos, list(models), "dose pairs")
    return combos


def _check_finite(scores: pd.DataFrame, columns: list[str], what: str) -> None:
    """Refuse to hand on a non-finite score: it would be written out as an empty or inf synergy."""
    finite = np.isfinite(scores[columns].to_numpy(float))
    if not finite.all():
        bad = ~finite.all(axis=1)
        blocks = scores.loc[bad, "block_id"].drop_duplicates()
        listed = ", ".join(repr(b) for b in blocks.head(_MAX_LISTED))
        more = f" and {len(blocks) - _MAX_LISTED} more" * (len(blocks) > _MAX_LISTED)
        models = [c for c, ok in zip(columns, finite.all(axis=0), strict=True) if not ok]
        raise DoseResponseError(
            f"{int(bad.sum())} {what} of blocks {listed}{more} get non-finite {models} scores; "
            "check those blocks' doses (one unit, no extreme values) and responses, or leave "
            "them out"
        )


def _hill_model_scores(
    block: pd.DataFrame, combo: pd.DataFrame, models: Sequence[str]
) -> pd.DataFrame:
    """Loewe excess and ZIP delta of one block's combination wells (``combo``'s index kept).

    The single-drug Hill fits use the rows with the other dose 0, so a measured untreated
    control (dose 0, 0) pins the bottom of both curves.
    """
    alone_a, alone_b = block[block["dose_b"] == 0], block[block["dose_a"] == 0]
    try:
        curve_a = fit_hill(alone_a["dose_a"], alone_a["response"])
        curve_b = fit_hill(alone_b["dose_b"], alone_b["response"])
    except (RuntimeError, ValueError) as err:  # scipy: no convergence, or non-finite residuals
        raise DoseResponseError(
            f"block {block['block_id'].iloc[0]!r}: the single-drug Hill fits for Loewe and ZIP "
            f"failed ({' '.join(str(err).split())}); check the block's doses and responses, or "
            "leave the block out"
        ) from err
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
        (positive = synergy); all finite.

    Raises
    ------
    DoseResponseError, synergy_ppl.errors.OptionError
        As :func:`score_doses`.
    """
    doses = score_doses(wells, models)
    scores = doses.groupby("block_id", sort=False)[list(models)].agg(["mean", "max"])
    scores.columns = [f"{model}_{stat}" for model, stat in scores.columns]
    n_wells = wells.groupby("block_id", sort=False).size().rename("n_wells")
    names = doses.groupby("block_id", sort=False)[["drug_a", "drug_b", "cell_line"]].first()
    table = names.join(n_wells).join(scores).reset_index()
    _check_finite(table, list(scores.columns), "block summaries")
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
        columns; one row per block, ready for ``synergy-ppl fit --data``. Every score is finite.

    Raises
    ------
    DoseResponseError
        A :class:`~synergy_ppl.errors.DataError` whose message starts with the file name, for
        any well table that cannot be scored (see :func:`read_wells` and :func:`score_doses`).
    synergy_ppl.errors.DataError
        From :func:`~synergy_ppl.data.read_table`, for a missing or unreadable file.
    synergy_ppl.errors.OptionError
        For a ``score`` outside the choices (a bad ``response`` is a DoseResponseError).
    """
    choices = [f"{model}_{stat}" for model in MODELS for stat in ("mean", "max")]
    if score not in choices:
        raise OptionError(f"score must be one of {choices}, got {score!r}")
    wells = read_wells(path_or_df, response)
    try:
        table = score_blocks(wells)
    except DoseResponseError as err:
        raise DoseResponseError(f"{_source(path_or_df)}: {err}") from err
    table.insert(3, "synergy", table[score])
    return table
