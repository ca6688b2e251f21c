"""Single-agent responses: each drug's response alone in each cell line, read as one tidy table.

A lab holds, besides its combination screen, what each drug did on its own in each line: a
relative inhibition, a GI50, an IC50. :func:`read_monotherapy` reads such a table (CSV, TSV or
Parquet, with the same readers as the other tables) and :func:`monotherapy_from_frame` checks
one in memory; both return a tidy frame ``drug, cell_line, value`` oriented so that a higher
value means a more active drug, and its metadata (the column, the direction, the transform).
A :class:`SingleAgentTable` names a table to read with its column and direction, as one
argument; :func:`single_agent_table` builds it from the three options (``monotherapy``,
``monotherapy_column``, ``monotherapy_direction``).

The table
    Columns ``drug`` and ``cell_line`` (or one of the cell-line spellings of a combination
    table) and one value column; one row per (drug, cell line). A blank value (or NA, NaN,
    null) is a drug never run alone in that line: normal, the entry stays missing.

The value column and its direction
    A known name (compared without case, spaces and punctuation as ``_``) states its direction
    (:data:`VALUE_COLUMNS`): ``ri``, ``inhibition``, ``neg_log10_gi50``, ``pic50``, ``pgi50``
    ... are higher = more active and taken as they are; ``ic50``, ``gi50``, ``ec50`` (also
    with a unit suffix, ``ic50_um``) are concentrations, lower = more active: they must be
    > 0 and are log10-transformed, then negated. Any other value column needs its direction
    (``monotherapy_direction``: ``higher`` or ``lower``, the latter negated, not logged).
    ``monotherapy_column`` names the value column; every other column is then ignored.

Which columns are candidates for the value (without ``monotherapy_column``)
    Every column but the two names, except those that are clearly not the value: a column
    whose name has a bookkeeping word among its ``_``-separated parts
    (:data:`METADATA_WORDS`: ``n_blocks``, ``drug_name``, ``gi50_nsc``, ``nsc_source``,
    ``ri_sd``, ``plate_id`` ...) or whose filled cells are mostly text. A known name is
    always a candidate. One candidate is the value; several (``ri`` and ``auc``, or two
    numeric columns of unknown names) are refused, naming them, until
    ``monotherapy_column`` picks one.

Bad input is a :class:`~synergy_ppl.errors.DataError` (or :class:`OptionError` for the two
options) naming the table, the column, the data row and what to do: a missing column, a
blank name, a non-numeric, infinite or (concentration) non-positive value, the same drug and
line twice with different values (an exact repeat is kept once), and names the screen does
not know (:func:`monotherapy_from_frame` with ``drugs`` / ``cell_lines``).
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import DataError, OptionError
from .tables import COLUMN_ALIASES, clean_names, read_table

DIRECTIONS = ("higher", "lower")
"""``monotherapy_direction``: whether a higher or a lower value means a more active drug."""
VALUE_COLUMNS: dict[str, tuple[str, str]] = {
    "ri": ("higher", "none"),
    "relative_inhibition": ("higher", "none"),
    "inhibition": ("higher", "none"),
    "neg_log10_gi50": ("higher", "none"),
    "neg_log10_ic50": ("higher", "none"),
    "neg_log10_ec50": ("higher", "none"),
    "pic50": ("higher", "none"),
    "pgi50": ("higher", "none"),
    "pec50": ("higher", "none"),
    "ic50": ("lower", "log10"),
    "gi50": ("lower", "log10"),
    "ec50": ("lower", "log10"),
}
"""Known value-column names (normalised, :func:`normalise_name`) -> (direction, transform)."""
CONCENTRATION = re.compile(r"^(ic50|gi50|ec50)_(m|mm|um|nm|pm|molar|mol_l|micromolar|nanomolar)$")
"""A concentration with a unit suffix (``IC50 (uM)`` -> ``ic50_um``): as the bare name."""
METADATA_WORDS = frozenset(
    "n num number count counts id ids nsc cid pubchem name names source sources unit units "
    "fold folds replicate replicates rep block blocks study studies plate batch date smiles "
    "sd std se sem stderr ci qc flag conc dose doses concentration concentrations".split()
)
"""Parts of a column name (split at ``_``) that mark bookkeeping, never the value."""
KNOWN_AS = "the screen (its rows, drug table or cell-line table)"
"""What holds the names a single-agent table of a screen may use, as its errors say."""
DRUG_COLUMN = "drug"
TIDY_COLUMNS = ("drug", "cell_line", "value")
"""The columns of the tidy table every reader returns (``value``: higher = more active)."""
NA_TEXT = ("", "nan", "na", "n/a", "#n/a", "null", "none", "<na>")
"""Cell texts (without case) that mean no value, as a CSV reader takes them: missing."""
SAME = {"rtol": 1e-9, "atol": 0.0}
"""Two values of one (drug, line) that agree to this tolerance are one value written twice."""


def normalise_name(name: object) -> str:
    """A column name compared: lower case, each run of other characters as one ``_``.

    >>> normalise_name(" IC50 (uM) ")
    'ic50_um'
    """
    return re.sub(r"[^0-9a-z]+", "_", str(name).strip().lower()).strip("_")


def known_column(name: object) -> tuple[str, str] | None:
    """(direction, transform) a known value-column name implies, else None."""
    key = normalise_name(name)
    match = CONCENTRATION.match(key)
    return VALUE_COLUMNS.get(match.group(1) if match else key)


def _check_reading(column: str | None, direction: str | None) -> None:
    """Raise :class:`OptionError` for a direction other than :data:`DIRECTIONS` or a blank
    column."""
    if direction is not None and direction not in DIRECTIONS:
        raise OptionError(
            f"monotherapy_direction {direction!r} is not one of {list(DIRECTIONS)} (whether a "
            "higher or a lower value means a more active drug).",
            parameter="monotherapy_direction",
        )
    if column is not None and not str(column).strip():
        raise OptionError(
            "monotherapy_column is blank; name the value column.", "monotherapy_column"
        )


@dataclass(frozen=True)
class SingleAgentTable:
    """A table of single-agent responses to read (:func:`read_monotherapy`): its ``path``
    (CSV, TSV or Parquet), and where its column's name does not say, the value ``column`` and
    the ``direction`` (``higher`` or ``lower`` = more active): the options ``monotherapy``,
    ``monotherapy_column`` and ``monotherapy_direction``. A blank path or column, or another
    direction, is an :class:`OptionError` naming the option."""

    path: str | Path
    column: str | None = None
    direction: str | None = None

    def __post_init__(self) -> None:
        _check_reading(self.column, self.direction)
        if not isinstance(self.path, str | Path):
            raise OptionError(
                f"monotherapy must be a table's path, not {type(self.path).__name__}.",
                parameter="monotherapy",
            )
        if isinstance(self.path, str) and not self.path.strip():
            raise OptionError("monotherapy is blank; give the table's path.", "monotherapy")

    def read(
        self,
        *,
        drugs: Collection[str] | None = None,
        cell_lines: Collection[str] | None = None,
        known_as: str = KNOWN_AS,
    ) -> tuple[pd.DataFrame, dict]:
        """The tidy, oriented table and its metadata, as :func:`read_monotherapy` returns them."""
        return read_monotherapy(
            self.path,
            self.column,
            self.direction,
            drugs=drugs,
            cell_lines=cell_lines,
            known_as=known_as,
        )


def single_agent_table(
    monotherapy: str | Path | SingleAgentTable | None,
    column: str | None = None,
    direction: str | None = None,
) -> SingleAgentTable | None:
    """The table of the options ``monotherapy`` (a path, or a :class:`SingleAgentTable`
    already), ``monotherapy_column`` and ``monotherapy_direction``; None without a table.
    Besides :class:`SingleAgentTable`'s checks, a column or direction without a table, or
    beside a :class:`SingleAgentTable` (it carries its own), is an :class:`OptionError`."""
    _check_reading(column, direction)
    given = [
        n for n, v in (("monotherapy_column", column), ("monotherapy_direction", direction)) if v
    ]
    if monotherapy is None and given:
        raise OptionError(
            f"{given[0]} describes the single-agent table, and no monotherapy table is given; "
            "give monotherapy (the table) or drop it.",
            parameter=("monotherapy", given[0]),
        )
    if monotherapy is None or (isinstance(monotherapy, SingleAgentTable) and not given):
        return monotherapy
    return SingleAgentTable(monotherapy, column, direction)


def read_monotherapy(
    path: str | Path,
    column: str | None = None,
    direction: str | None = None,
    *,
    drugs: Collection[str] | None = None,
    cell_lines: Collection[str] | None = None,
    known_as: str = KNOWN_AS,
) -> tuple[pd.DataFrame, dict]:
    """A single-agent table file (CSV, TSV or Parquet, names as written) as
    :func:`monotherapy_from_frame` returns it; errors name the file."""
    raw = read_table(path, text=True)
    return monotherapy_from_frame(
        raw, str(path), column, direction, drugs=drugs, cell_lines=cell_lines, known_as=known_as
    )


def monotherapy_from_frame(
    raw: pd.DataFrame,
    source: str = "monotherapy",
    column: str | None = None,
    direction: str | None = None,
    *,
    drugs: Collection[str] | None = None,
    cell_lines: Collection[str] | None = None,
    known_as: str = KNOWN_AS,
) -> tuple[pd.DataFrame, dict]:
    """The tidy, oriented single-agent table of ``raw`` and its metadata.

    Parameters
    ----------
    raw : DataFrame
        ``drug``, ``cell_line`` and the value column, one row per (drug, line); names may be
        strings or numbers, values numbers or numeric text.
    source : str
        What error messages name (the file).
    column, direction : str, optional
        ``monotherapy_column`` and ``monotherapy_direction`` (see the module's docstring).
    drugs, cell_lines : collection of str, optional
        The names a row may use; any other is an error naming it and its first data row.
    known_as : str
        What holds those names, for that error ("the screen", "the run").

    Returns
    -------
    (DataFrame, dict)
        ``drug, cell_line, value`` (float, higher = more active), one row per observed
        entry, sorted; blank values are left out. The dict: ``source``, ``column`` (as
        written), ``direction``, ``transform`` (``none`` or ``log10``) and ``blank_values``
        (rows without a value).
    """
    if not isinstance(raw, pd.DataFrame):
        raise OptionError(
            f"{source}: monotherapy must be a DataFrame (drug, cell_line and a value column) or "
            f"a table's path, not {type(raw).__name__}.",
            parameter="monotherapy",
        )
    _check_reading(column, direction)
    twice = sorted({str(c) for c in raw.columns[raw.columns.duplicated()]})
    if twice:
        raise DataError(f"{source}: column(s) {twice} appear more than once; keep one of each.")
    drug_col, line_col = _name_columns(raw, source)
    value_col, direction, transform = _value_column(
        raw, source, column, direction, drug_col, line_col
    )
    table = raw.reset_index(drop=True)
    table = table[~table[[drug_col, line_col, value_col]].isna().all(axis=1)]  # spacing rows
    if table.empty:
        raise DataError(f"{source}: the table has no rows.")
    names = {"drug": clean_names(table[drug_col], source)}
    names["cell_line"] = clean_names(table[line_col], source)
    raw_values = table[value_col]
    blank = raw_values.isna() | raw_values.astype("string").str.strip().str.lower().isin(NA_TEXT)
    numbers = pd.to_numeric(raw_values.where(~blank), errors="coerce").to_numpy(dtype=float)
    _check_values(raw_values, numbers, blank.to_numpy(), value_col, transform, source)
    tidy = pd.DataFrame({**names, "value": numbers, "row": table.index + 1})[~blank.to_numpy()]
    if tidy.empty:
        raise DataError(
            f"{source}: column '{value_col}' has no value in any row; fill it in (a blank "
            "cell is a drug never run alone in that line)."
        )
    _check_known(tidy, drugs, "drug", drug_col, source, known_as)
    _check_known(tidy, cell_lines, "cell_line", line_col, source, known_as)
    tidy = _without_repeats(tidy, value_col, source)
    if transform == "log10":
        tidy["value"] = np.log10(tidy["value"])
    if direction == "lower":
        tidy["value"] = -tidy["value"]
    info = {
        "source": source,
        "column": str(value_col),
        "direction": direction,
        "transform": transform,
        "blank_values": int(blank.sum()),
    }
    return tidy[list(TIDY_COLUMNS)].reset_index(drop=True), info


def _name_columns(raw: pd.DataFrame, source: str) -> tuple[str, str]:
    """The columns of ``raw`` holding the drug and the cell line (names compared without
    case; the cell line as in a combination table's aliases)."""
    by_lower: dict[str, object] = {}
    for name in raw.columns:
        by_lower.setdefault(str(name).strip().lower(), name)
    drug = by_lower.get(DRUG_COLUMN)
    line = next((by_lower[a] for a in COLUMN_ALIASES["cell_line"] if a in by_lower), None)
    if drug is None or line is None:
        missing = [n for n, c in (("drug", drug), ("cell_line", line)) if c is None]
        raise DataError(
            f"{source}: a single-agent table needs columns drug, cell_line and one value "
            f"column; missing {missing}, it has {[str(c) for c in raw.columns][:10]}. Rename them."
        )
    return drug, line


def _value_column(
    raw: pd.DataFrame,
    source: str,
    column: str | None,
    direction: str | None,
    drug_col: object,
    line_col: object,
) -> tuple[object, str, str]:
    """(value column, direction, transform) of ``raw``, as the module's docstring says."""
    others = [c for c in raw.columns if c not in (drug_col, line_col)]
    if column is not None:
        found = [c for c in others if str(c).strip().lower() == str(column).strip().lower()]
        if not found:
            raise OptionError(
                f"{source}: monotherapy_column '{column}' is not one of its value columns "
                f"{[str(c) for c in others][:10]}; name one of them.",
                parameter="monotherapy_column",
            )
        candidates = found[:1]
    else:
        candidates = [c for c in others if known_column(c) or _maybe_value(raw[c])]
    if not candidates:
        raise DataError(
            f"{source}: no value column; its other columns {[str(c) for c in others][:10]} are "
            "text or bookkeeping. Add the value column, or name it with monotherapy_column.",
            parameter="monotherapy_column",
        )
    if len(candidates) > 1:
        raise OptionError(
            f"{source}: columns {[str(c) for c in candidates][:10]} could each be the value; "
            "name the one to use with monotherapy_column.",
            parameter="monotherapy_column",
        )
    value = candidates[0]
    implied = known_column(value)
    if implied is None:
        if direction is None:
            raise OptionError(
                f"{source}: column '{value}' is not a value name whose direction is known "
                f"({', '.join(VALUE_COLUMNS)}); say whether a higher value means a more active "
                "drug with monotherapy_direction higher or lower.",
                parameter="monotherapy_direction",
            )
        return value, direction, "none"
    if direction is not None and direction != implied[0]:
        raise OptionError(
            f"{source}: column '{value}' is {implied[0]} = more active by its name, not "
            f"{direction}; drop monotherapy_direction, or rename the column if it holds "
            "something else.",
            parameter="monotherapy_direction",
        )
    return value, *implied


def _maybe_value(values: pd.Series) -> bool:
    """Whether a column of an unknown name could hold the value: not named as bookkeeping
    (:data:`METADATA_WORDS`) and most of its filled cells numbers."""
    if set(normalise_name(values.name).split("_")) & METADATA_WORDS:
        return False
    filled = values.dropna()
    if filled.empty:
        return False
    numeric = pd.to_numeric(filled, errors="coerce").notna()
    return bool(numeric.mean() > 0.5)


def _check_values(
    raw: pd.Series,
    numbers: np.ndarray,
    blank: np.ndarray,
    column: object,
    transform: str,
    source: str,
) -> None:
    """Raise for the first non-numeric, infinite or (a concentration) non-positive value."""
    problems = (
        (
            ~blank & np.isnan(numbers),
            "is not a number",
            "Correct it, or leave the cell blank for a drug never run alone in that line.",
        ),
        (~blank & np.isinf(numbers), "is infinite", "Correct it or leave the cell blank."),
    )
    if transform == "log10":
        concentration = ~blank & np.isfinite(numbers) & ~(numbers > 0)
        problems += (
            (
                concentration,
                "is not > 0, and a concentration is log10-transformed",
                "Correct the value or its units.",
            ),
        )
    for bad, what, hint in problems:
        if bad.any():
            first = np.flatnonzero(bad)[0]
            raise DataError(
                f"{source}: column '{column}' at data row {int(raw.index[first]) + 1}: "
                f"{raw.iloc[first]!r} {what} ({int(bad.sum())} such row(s)). {hint}"
            )


def _check_known(
    tidy: pd.DataFrame,
    known: Collection[str] | None,
    key: str,
    column: object,
    source: str,
    known_as: str,
) -> None:
    if known is None:
        return
    known = set(known)
    unknown = ~tidy[key].isin(known).to_numpy()
    if unknown.any():
        names = sorted(set(tidy[key][unknown]))
        what = "drug(s)" if key == "drug" else "cell line(s)"
        raise DataError(
            f"{source}: {len(names)} {what} in column '{column}' of the single-agent table are "
            f"not in {known_as}: "
            f"{names[:10]} (first at data row {int(tidy['row'].iloc[np.flatnonzero(unknown)[0]])}"
            "). Correct the names, or remove those rows."
        )


def _without_repeats(tidy: pd.DataFrame, column: object, source: str) -> pd.DataFrame:
    """``tidy`` with each (drug, line) once; two rows that disagree are an error naming
    both data rows and values."""
    tidy = tidy.sort_values(["drug", "cell_line", "row"], kind="stable")
    keys = tidy[["drug", "cell_line"]]
    repeat = keys.duplicated().to_numpy()
    if not repeat.any():
        return tidy
    first = tidy[~repeat].set_index(["drug", "cell_line"])
    again = tidy[repeat]
    earlier = first.loc[list(zip(again["drug"], again["cell_line"], strict=True))]
    differ = ~np.isclose(again["value"].to_numpy(), earlier["value"].to_numpy(), **SAME)
    if differ.any():
        i = np.flatnonzero(differ)[0]
        row, was = again.iloc[i], earlier.iloc[i]
        raise DataError(
            f"{source}: drug '{row['drug']}' in cell line '{row['cell_line']}' has two values "
            f"in column '{column}': {was['value']:g} (data row {int(was['row'])}) and "
            f"{row['value']:g} (data row {int(row['row'])}); keep one row."
        )
    return tidy[~repeat]
