"""Reading and checking tables: the combination table, drug SMILES, cell-line features, pairs.

Every table a user gives passes through here, whether it comes from a file or from memory:
columns are mapped to the canonical names, names are stripped, scores checked, pairs put in
canonical order (``drug_a <= drug_b``) and replicates averaged. :func:`assemble_screen` is the
last step every loader shares: it builds the :class:`~synergy_ppl.data.screen.Screen` and
checks that each drug and cell line in the table is described.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import DataError, OptionError
from .screen import Screen

TABLE_COLUMNS = ("drug_a", "drug_b", "cell_line", "score")
"""Canonical column names of a screen table (plus optional ``fold``)."""

DEFAULT_COLUMN_MAP = {
    "drug_a": "drug_a",
    "drug_b": "drug_b",
    "cell_line": "cell_line",
    "score": "synergy",
    "fold": "fold",
}
"""Default mapping from canonical names to the columns of a user's table."""
COLUMN_ALIASES = {
    "drug_a": ("drug_a", "drug_row", "drug1", "drug_a_name", "druga"),
    "drug_b": ("drug_b", "drug_col", "drug2", "drug_b_name", "drugb"),
    "cell_line": ("cell_line", "cell_line_name", "cell line", "cellline", "cellname"),
    "score": (
        "synergy",
        "score",
        "synergy_zip",
        "zip",
        "synergy_loewe",
        "loewe",
        "synergy_bliss",
        "bliss",
        "synergy_hsa",
        "hsa",
        "s_mean",
        "comboscore",
    ),
}
"""Column names (compared without case) taken for a canonical column that ``columns`` does
not map, in order of preference: the common spellings of DrugComb, DrugCombDB, O'Neil and
NCI-ALMANAC exports (``score`` is what a run's own ``screen.csv`` calls it)."""
MAX_ABS_SCORE = 1e4
"""Synergy scores are percentage points (Loewe, Bliss, HSA, ZIP) or NCI ComboScores (about
-700 to 700): a larger magnitude is a unit or typing error, and one such row would dominate
the fit."""
PAIR_COLUMNS = ("drug_a", "drug_b", "cell_line")
"""Columns of a table of pairs to predict or rank."""


def read_table(path: str | Path, text: bool = False) -> pd.DataFrame:
    """Read a CSV, TSV or Parquet file, with an error that names the file when it fails.

    ``text=True`` reads every CSV/TSV cell as a string (blank cells stay missing), so that
    names such as ``000`` or PubChem CIDs keep their spelling; numbers are converted later,
    column by column, with errors that name the row.
    """
    path = Path(path)
    if path.is_dir():
        raise DataError(f"{path}: is a folder; give the path of a table file.")
    if not path.is_file():
        raise DataError(f"{path}: file not found; check the path.")
    suffix = "".join(path.suffixes[-2:]).lower()
    try:
        if suffix.endswith(".parquet") or suffix.endswith(".pq"):
            table = pd.read_parquet(path)
            return _as_text(table) if text else table
        sep = "\t" if suffix.endswith((".tsv", ".tsv.gz", ".tab", ".txt")) else ","
        return pd.read_csv(path, sep=sep, dtype=str if text else None)
    except ImportError as err:
        raise DataError(
            f"{path}: reading Parquet needs pyarrow: pip install 'synergy-ppl[dev]' or pyarrow"
        ) from err
    except pd.errors.EmptyDataError as err:
        raise DataError(f"{path}: the file is empty; it needs a header row and data.") from err
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError, OSError) as err:
        reason = " ".join(str(err).split())[:200]
        raise DataError(f"{path}: could not be read as a table ({reason}).") from err


def _as_text(table: pd.DataFrame) -> pd.DataFrame:
    """Every cell of a typed table (Parquet) as a string, missing cells kept missing: what
    ``text=True`` gives for a CSV, so that one check serves both."""
    text = table.astype("string")
    return text.astype(object).mask(text.isna(), np.nan)


def check_column_map(column_map: Mapping[str, str], source: str = "columns") -> dict:
    """``column_map`` if its keys are canonical names and its columns distinct, else raise."""
    unknown = sorted(set(column_map) - {*TABLE_COLUMNS, "fold"})
    hint = " (the score is 'score', e.g. score=loewe)" if "synergy" in unknown else ""
    bad = [k for k, v in column_map.items() if not isinstance(v, str) or not v.strip()]
    twice = [] if bad else sorted(pd.Series(column_map).value_counts().loc[lambda n: n > 1].index)
    for found, problem in (
        (unknown, f"unknown key(s) {unknown}{hint}; the keys are {[*TABLE_COLUMNS, 'fold']}"),
        (bad, f"key(s) {bad} name no column; write key=COLUMN"),
        (twice, f"column(s) {twice} are mapped to more than one key"),
    ):
        if found:
            raise OptionError(f"{source}: {problem}.", parameter=source)
    return dict(column_map)


def detect_columns(columns, column_map: Mapping[str, str] | None = None) -> dict[str, str]:
    """Canonical name -> the column of a table with ``columns`` that holds it.

    ``column_map`` (checked) wins; an unmapped canonical name takes the first of its
    :data:`COLUMN_ALIASES` present (without case), else its default
    (:data:`DEFAULT_COLUMN_MAP`, which the missing-column error then names).
    """
    column_map = check_column_map(column_map or {})
    by_lower = {}
    for column in columns:
        by_lower.setdefault(str(column).strip().lower(), column)
    mapping = {**DEFAULT_COLUMN_MAP, **column_map}
    for name, aliases in COLUMN_ALIASES.items():
        if name not in column_map:
            found = next((by_lower[a] for a in aliases if a in by_lower), None)
            mapping[name] = found if found is not None else mapping[name]
    return mapping


def standardise_table(
    raw: pd.DataFrame,
    column_map: Mapping[str, str] | None = None,
    source: str = "table",
    keep_fold: bool = True,
) -> pd.DataFrame:
    """Rename a user's columns to the canonical names and validate every row.

    Parameters
    ----------
    raw : DataFrame
        The table as read.
    column_map : mapping, optional
        Canonical name (``drug_a``, ``drug_b``, ``cell_line``, ``score``, ``fold``) -> the
        column in ``raw``. Unmapped keys are detected (:func:`detect_columns`).
    source : str
        File name used in error messages.
    keep_fold : bool
        Keep (and check) the ``fold`` column; only a ``fold`` split needs it.

    Returns
    -------
    DataFrame
        ``drug_a, drug_b, cell_line, score`` (and ``fold`` if present); drug and cell-line
        names as strings, scores as float.
    """
    column_map = check_column_map(column_map or {})
    mapping = detect_columns(raw.columns, column_map)
    # rows with every cell blank are spacing, not data; row numbers count them all the same
    blank = raw.isna().all(axis=1).to_numpy()
    row_number = np.flatnonzero(~blank) + 1
    raw = raw[~blank]
    if raw.empty:
        raise DataError(f"{source}: the table has no rows.")
    fold = column_map.get("fold")
    if fold is not None and keep_fold and fold not in raw.columns:
        raise DataError(f"{source}: column_map fold={fold}: not a column.", parameter="column_map")
    missing = [mapping[c] for c in TABLE_COLUMNS if mapping[c] not in raw.columns]
    if missing:
        raise DataError(
            f"{source}: missing column(s) {missing}; the table has {list(raw.columns)}. "
            "Rename or map them with column_map drug_a=...,drug_b=...,cell_line=...,score=...",
            parameter="column_map",
        )
    table = pd.DataFrame({c: raw[mapping[c]] for c in TABLE_COLUMNS})
    if keep_fold and mapping["fold"] in raw.columns:
        fold = _integer_column(raw[mapping["fold"]], mapping["fold"], source, row_number)
        table["fold"] = fold
    for col in ("drug_a", "drug_b", "cell_line"):
        empty = table[col].isna() | (table[col].astype(str).str.strip() == "")
        if empty.any():
            row = row_number[np.flatnonzero(empty.to_numpy())[0]]
            raise DataError(
                f"{source}: column '{mapping[col]}' is empty in {int(empty.sum())} row(s), "
                f"first at data row {row}. Fill in or remove those rows."
            )
        table[col] = table[col].astype(str).str.strip()
    score = pd.to_numeric(table["score"], errors="coerce")
    bad = ~np.isfinite(score.to_numpy(dtype=float))
    if bad.any():
        first = np.flatnonzero(bad)[0]
        raise DataError(
            f"{source}: column '{mapping['score']}' has {int(bad.sum())} non-numeric, NaN or "
            f"infinite value(s), first at data row {row_number[first]} "
            f"(value {raw[mapping['score']].iloc[first]!r}). Remove or correct those rows."
        )
    extreme = np.abs(score.to_numpy(dtype=float)) > MAX_ABS_SCORE
    if extreme.any():
        first = np.flatnonzero(extreme)
        raise DataError(
            f"{source}: column '{mapping['score']}' has {int(extreme.sum())} value(s) beyond "
            f"+-{MAX_ABS_SCORE:g}, which no synergy score reaches, at data row(s) "
            f"{row_number[first[:5]].tolist()} (first {raw[mapping['score']].iloc[first[0]]!r}). "
            "Correct the units or remove those rows."
        )
    table["score"] = score.astype(float)
    return table


def _integer_column(values: pd.Series, name: str, source: str, row_number: np.ndarray) -> pd.Series:
    """``values`` as integers, or an error naming (by ``row_number``) the first that is not."""
    numbers = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
    bad = ~np.isfinite(numbers) | (numbers != np.round(numbers))
    if bad.any():
        first = np.flatnonzero(bad)[0]
        raise DataError(
            f"{source}: column '{name}' must hold whole numbers; data row {row_number[first]} "
            f"has {values.iloc[first]!r}. Correct it or map another column: column_map fold=...",
            parameter="column_map",
        )
    return pd.Series(numbers.astype(int), index=values.index)


def canonicalise_and_average(table: pd.DataFrame) -> pd.DataFrame:
    """Order each pair as ``drug_a <= drug_b`` and average replicate measurements.

    Replicates are rows with the same unordered pair and cell line, including the same pair
    listed in both orders. ``n_replicates`` counts the rows averaged into each triple.
    """
    a, b = table["drug_a"].to_numpy(), table["drug_b"].to_numpy()
    swap = a > b
    table = table.assign(drug_a=np.where(swap, b, a), drug_b=np.where(swap, a, b))
    keys = ["drug_a", "drug_b", "cell_line"]
    grouped = table.groupby(keys, sort=True)
    out = (
        grouped["score"]
        .agg(["mean", "size"])
        .rename(columns={"mean": "score", "size": "n_replicates"})
    )
    if "fold" in table.columns:
        folds = grouped["fold"].nunique()
        if (folds > 1).any():
            first = folds[folds > 1].index[0]
            raise DataError(
                f"replicates of {first} sit in different folds; a fold column must keep each "
                "(pair, cell line) in one fold."
            )
        out["fold"] = grouped["fold"].first()
    for extra in ("true_score",):
        if extra in table.columns:
            out[extra] = grouped[extra].mean()
    return out.reset_index()


def read_smiles(
    path: str | Path, name_column: str = "drug", smiles_column: str = "smiles"
) -> dict[str, str]:
    """Read a drug table (name -> SMILES) from CSV/TSV/Parquet; see :func:`smiles_from_table`."""
    return smiles_from_table(read_table(path, text=True), str(path), name_column, smiles_column)


def smiles_from_table(
    drugs: pd.DataFrame,
    source: str = "drug table",
    name_column: str = "drug",
    smiles_column: str = "smiles",
) -> dict[str, str]:
    """A drug table's name -> SMILES mapping, checked.

    Names are taken as written but stripped (``000`` stays ``000``); blank rows are skipped.
    A blank name is an error, and so is a drug listed twice with different SMILES (naming
    both data rows); an exact repeat is harmless. A missing SMILES is kept as missing, for
    :func:`check_drugs_known` to report if the drug is used.
    """
    for col in (name_column, smiles_column):
        if col not in drugs.columns:
            raise DataError(
                f"{source}: drug table needs columns '{name_column}' and '{smiles_column}'; "
                f"it has {list(drugs.columns)}."
            )
    drugs = drugs.reset_index(drop=True)
    drugs = drugs[~drugs.isna().all(axis=1)]  # blank spacing rows (index = data row - 1)
    names = clean_names(drugs[name_column], source)
    smiles: dict[str, str] = {}
    first_row: dict[str, int] = {}
    for row, name, text in zip(drugs.index, names, drugs[smiles_column], strict=True):
        text = text.strip() if isinstance(text, str) else text
        if name in smiles and not _same_smiles(smiles[name], text):
            raise DataError(
                f"{source}: drug '{name}' is listed twice with different SMILES (data rows "
                f"{first_row[name] + 1} and {row + 1}); keep one of them."
            )
        smiles.setdefault(name, text)
        first_row.setdefault(name, row)
    return smiles


def read_pairs(path: str | Path) -> pd.DataFrame:
    """A table of ``drug_a, drug_b, cell_line`` rows to predict or rank (names as written,
    stripped); other columns are kept. See :func:`check_pairs`."""
    table = read_table(path, text=True)
    table = table[~table.isna().all(axis=1)].copy()  # blank spacing rows; index = row - 1
    return check_pairs(table, str(path))


def check_pairs(
    table: pd.DataFrame, source: str = "pairs", self_pairs: bool = False
) -> pd.DataFrame:
    """``table``'s rows to predict or rank, names stripped, index ``0..n-1``, other columns
    kept. A missing column, no rows, a blank name or (unless ``self_pairs``) a drug paired
    with itself is a :class:`DataError` naming ``source`` and the data row (the index + 1,
    so a table read from a file keeps its row numbers); not a DataFrame, a ``TypeError``."""
    if not isinstance(table, pd.DataFrame):
        raise TypeError(f"{source} must be a pandas DataFrame, not {type(table).__name__}.")
    twice = sorted({c for c in table.columns[table.columns.duplicated()] if c in PAIR_COLUMNS})
    if twice:
        raise DataError(f"{source}: column(s) {twice} appear more than once; keep one of each.")
    missing = [c for c in PAIR_COLUMNS if c not in table.columns]
    if missing:
        raise DataError(
            f"{source}: missing column(s) {missing}; the table has {list(table.columns)[:10]} "
            "and needs drug_a,drug_b,cell_line."
        )
    if table.empty:
        raise DataError(f"{source}: the table has no rows.")
    table = table.copy()
    if not pd.api.types.is_integer_dtype(table.index):  # row numbers need an integer index
        table = table.reset_index(drop=True)
    for col in PAIR_COLUMNS:
        table[col] = clean_names(table[col], source)
    same = (table["drug_a"] == table["drug_b"]).to_numpy()
    if same.any() and not self_pairs:
        first = np.flatnonzero(same)[0]
        raise DataError(
            f"{source}: data row {int(table.index[first]) + 1} pairs drug "
            f"'{table['drug_a'].iloc[first]}' with itself; a combination needs two different "
            "drugs. Remove the row."
        )
    return table.reset_index(drop=True)


def clean_names(values: pd.Series, source: str | Path) -> pd.Series:
    """A name column of a table read from a file, stripped; a blank name is an error naming
    its data row (the index + 1: blank spacing rows were dropped, the index kept)."""
    names = values.astype("string").str.strip()
    blank = (names.isna() | (names == "")).to_numpy()
    if blank.any():
        row = int(values.index[np.flatnonzero(blank)[0]]) + 1
        raise DataError(
            f"{source}: column '{values.name}' is empty at data row {row}; fill it in or "
            "remove the row."
        )
    return names.astype(str)


def _same_smiles(a: object, b: object) -> bool:
    """Whether two SMILES cells agree (two missing ones do)."""
    if pd.isna(a) or pd.isna(b):
        return bool(pd.isna(a) and pd.isna(b))
    return a == b


def read_cell_features(path: str | Path) -> pd.DataFrame:
    """A cell-line feature table: names in the first column, then numeric columns; see
    :func:`check_cell_features`."""
    cell = read_table(path)
    if cell.shape[1] < 2:
        raise DataError(f"{path}: a cell-line table needs a name column and feature columns.")
    return check_cell_features(cell.set_index(cell.columns[0]), str(path))


def check_cell_features(cell: pd.DataFrame, source: str = "cell-line table") -> pd.DataFrame:
    """A cell-line feature table (index = cell line) with its names as stripped strings.

    Raises :class:`DataError` if a feature column is not numeric or a cell line has more
    than one row. The table given is not changed.
    """
    cell = cell.set_axis(cell.index.astype(str).str.strip(), axis=0)
    non_numeric = [c for c in cell.columns if not pd.api.types.is_numeric_dtype(cell[c])]
    if non_numeric:
        raise DataError(f"{source}: non-numeric feature column(s) {non_numeric[:5]}.")
    twice = cell.index[cell.index.duplicated()].unique().tolist()
    if twice:
        raise DataError(
            f"{source}: cell line(s) {twice[:5]} have more than one row; keep one row each."
        )
    return cell


def check_drugs_known(screen: Screen, source: str = "table") -> None:
    """Raise if a drug in the table has neither a SMILES nor a feature row."""
    known = set(screen.smiles)
    if screen.drug_features is not None:
        known |= set(screen.drug_features.index.astype(str))
    unknown = [d for d in screen.drugs if d not in known]
    if unknown:
        raise DataError(
            f"{source}: {len(unknown)} drug(s) have no SMILES: {unknown[:10]}. "
            "Add them to the drug table (drugs PATH with columns drug,smiles).",
            parameter="drugs",
        )
    missing = [
        d for d in screen.drugs if d in screen.smiles and not isinstance(screen.smiles[d], str)
    ]
    if missing:
        raise DataError(f"{source}: drug(s) {missing[:10]} have an empty SMILES in the drug table.")


def check_cell_lines_known(screen: Screen, source: str = "table") -> None:
    """Raise if a cell line in the table is absent from the cell-line feature table."""
    if screen.cell_features is None:
        return
    unknown = sorted(set(screen.cell_lines) - set(screen.cell_features.index.astype(str)))
    if unknown:
        raise DataError(
            f"{source}: {len(unknown)} cell line(s) are absent from the cell-line feature table: "
            f"{unknown[:10]}. Add their rows, or drop cell_features to use one-hot cell lines.",
            parameter="cell_features",
        )


def assemble_screen(
    table: pd.DataFrame,
    smiles: dict[str, str],
    cell_features: pd.DataFrame | None,
    name: str,
    source: str,
) -> Screen:
    """The screen of a standardised ``table``, its replicates averaged, checked.

    Parameters
    ----------
    table : DataFrame
        Output of :func:`standardise_table` (one row per measurement).
    smiles : dict
        Drug name -> SMILES; every drug of ``table`` needs a SMILES.
    cell_features : DataFrame or None
        Cell-line features (index = cell line) covering every cell line of ``table``.
    name : str
        The screen's name (:attr:`Screen.name`).
    source : str
        What error messages name (a file, or the name of a table in memory).
    """
    screen = Screen(canonicalise_and_average(table), smiles, None, cell_features, name, len(table))
    check_drugs_known(screen, source)
    check_cell_lines_known(screen, source)
    return screen
