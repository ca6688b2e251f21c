"""Input layouts of raw dose-response wells -> the normalised well table of :mod:`.wells`.

:func:`read_wells` recognises a layout by its column names (NCI-ALMANAC, O'Neil / DrugComb,
SynergyFinder, generic), maps its columns to normalised names, refuses the rows that cannot be
wells (naming them by row number, 1 = first data row), builds the blocks (for NCI-ALMANAC by
matching single agents to combinations) and converts the response to % inhibition.
"""

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from os import PathLike

import numpy as np
import pandas as pd

from ..data import read_table
from .wells import (
    _FIX_DRUG_NAMES,
    _FIX_FRACTIONS,
    _FIX_NEGATIVE_DOSES,
    _MAX_LISTED,
    MAX_ABS_RESPONSE,
    MAX_FRACTION_RESPONSE,
    UNKNOWN_CELL_LINE,
    WELL_COLUMNS,
    DoseResponseError,
    _listed,
    looks_like_fractions,
)

_IN_MEMORY = "wells table"  # how messages name a DataFrame given instead of a file

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
# How messages name each layout.
_LAYOUT_NAMES = {
    "almanac": "NCI-ALMANAC",
    "oneil": "O'Neil",
    "synergyfinder": "SynergyFinder",
    "generic": "generic",
}


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
    with _naming_source(path_or_df):
        if response is not None and response not in _RESPONSE_KINDS:
            raise DoseResponseError(
                f"response must be one of {_RESPONSE_KINDS}, got {response!r}", parameter="response"
            )
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
    value = wells.pop("value").astype(float)
    response_at = WELL_COLUMNS.index("response")
    wells.insert(response_at, "response", 100.0 - value if kind == "viability" else value)
    return wells


@contextmanager
def _naming_source(path_or_df: str | PathLike | pd.DataFrame) -> Iterator[None]:
    """Start the message of a :class:`DoseResponseError` raised inside with the file name, or
    :data:`_IN_MEMORY` for a DataFrame, so that the user knows which input to fix."""
    try:
        yield
    except DoseResponseError as err:
        source = _IN_MEMORY if isinstance(path_or_df, pd.DataFrame) else str(path_or_df)
        raise DoseResponseError(f"{source}: {err}", parameter=err.parameters) from err


def _detect_layout(columns: pd.Index) -> str:
    """The first layout whose columns are all present; else an error with a hint to the fix."""
    present = set(columns)
    required = _required_columns(present)
    for layout, needed in required.items():
        if needed <= present:
            return layout
    listed = _listed([_shown(c) for c in columns], limit=3 * _MAX_LISTED)
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
        f"unrecognised dose-response layout (columns: {listed}; {hint}). Use the generic "
        "layout drug_a, drug_b, dose_a, dose_b, response [, block_id, cell_line, replicate], or "
        "an NCI-ALMANAC, O'Neil or SynergyFinder export (see read_wells)."
    )


def _required_columns(present: set) -> dict[str, set]:
    """Columns each layout needs, in the order layouts are tried."""
    required = {"almanac": set(_ALMANAC_COLUMNS)}
    for layout, (renames, _) in _RENAMED_LAYOUTS.items():
        required[layout] = {"block_id", "response"} | (set(renames) - {"cell_line_name"})
    required["generic"] = {"drug_a", "drug_b", "dose_a", "dose_b", _value_column(present)}
    return required


def _layout_columns(present: pd.Index, layout: str) -> tuple[dict[str, str], str | None]:
    """Normalised name -> input column for the columns this input has, and the response kind.

    Normalised names are those of :data:`WELL_COLUMNS` with ``value`` for the response as given,
    plus ``replicate`` and (NCI-ALMANAC) ``PLATE``. The kind is None when it must be inferred.
    """
    if layout == "almanac":
        renames, kind = {**_ALMANAC_COLUMNS, "PLATE": "PLATE"}, "viability"
    elif layout == "generic":
        value = _value_column(present)
        renames = {c: c for c in ("block_id", "drug_a", "drug_b", "cell_line", "dose_a", "dose_b")}
        renames[value] = "value"
        kind = value if value in _RESPONSE_KINDS else None
    else:
        renames, kind = _RENAMED_LAYOUTS[layout]
        renames = {**renames, "block_id": "block_id", "response": "value"}
    renames["replicate"] = "replicate"
    return {name: column for column, name in renames.items() if column in present}, kind


def _value_column(present: set | pd.Index) -> str:
    """The generic layout's response column: ``response``, ``viability`` or ``inhibition``,
    the first of them present (``response``, to name as missing, when none is)."""
    return next((c for c in ("response", *_RESPONSE_KINDS) if c in present), "response")


def _checked_rows(raw: pd.DataFrame, columns: dict[str, str], layout: str) -> pd.DataFrame:
    """Refuse input rows that cannot be wells, naming them; return ``raw`` with numeric doses
    and responses.

    Checks, in order: no rows, duplicated column names, empty names, doses or responses,
    non-numeric and non-finite doses or responses, negative doses, responses beyond
    :data:`MAX_ABS_RESPONSE`, and a response column of fractions (every value within
    :data:`MAX_FRACTION_RESPONSE`). Rows are numbered as a user counts them (1 = first data row).
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
            fix = _FIX_DRUG_NAMES if name == "drug_b" else "fill them in or remove those rows"
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
            _FIX_NEGATIVE_DOSES,
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
    if looks_like_fractions(numbers[column]):
        raise DoseResponseError(
            f"column {column!r} holds only values within +-{MAX_FRACTION_RESPONSE:g}; "
            + _FIX_FRACTIONS
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
    rows = [str(row) for row in np.flatnonzero(bad.to_numpy()) + 1]
    return f"data row{'s' * (len(rows) > 1)} {_listed(rows)}"


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
    return _in_well_order(wells.assign(block_id=wells["block_id"].astype(str)))


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
    return _in_well_order(pd.concat([combos, alone]))


def _in_well_order(wells: pd.DataFrame) -> pd.DataFrame:
    """The columns of :data:`WELL_COLUMNS`, with ``value`` (the response as given) for
    ``response``, and ``replicate`` when the input has it; other columns dropped."""
    columns = [*WELL_COLUMNS[:-1], "value"] + (["replicate"] if "replicate" in wells else [])
    return wells[columns]


def _block_ids(frame: pd.DataFrame, extra: list[str]) -> pd.Series:
    """``cell_line:drug_a+drug_b`` (``@extra`` appended, e.g. the plate)."""
    ids = frame["cell_line"].astype(str) + ":" + frame["drug_a"].astype(str)
    ids = ids + "+" + frame["drug_b"].astype(str)
    for column in extra:
        ids = ids + "@" + frame[column].astype(str)
    return ids


def _infer_response_kind(wells: pd.DataFrame, layout: str) -> str:
    """``viability`` when the untreated (0, 0) controls average above 50, else ``inhibition``."""
    controls = wells.loc[(wells["dose_a"] == 0) & (wells["dose_b"] == 0), "value"]
    if controls.empty or controls.isna().all():
        raise DoseResponseError(
            f"cannot tell whether the {layout} 'response' column is viability or inhibition: "
            "there are no untreated (dose 0, 0) control wells to look at. Pass response "
            "'viability' or 'inhibition'.",
            parameter="response",
        )
    return "viability" if controls.mean() > 50 else "inhibition"


def _shown(value: object) -> str:
    """A value for a one-line message: numbers plain, strings quoted and cut to 40 characters."""
    if isinstance(value, np.generic):
        value = value.item()
    return repr(value[:40] if isinstance(value, str) else value)
