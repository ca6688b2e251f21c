"""Combination screens: loading, validation, replicate averaging, the synthetic demo and splits.

A *screen* is a table of measured (drug A, drug B, cell line, score) triples together with
what is known about the drugs (SMILES or a ready feature table) and, optionally, a
cell-line feature table. Drug order within a pair carries no meaning, so every pair is stored
canonically (``drug_a <= drug_b``) before replicates are averaged or splits are drawn: a
split that puts (A, B) in training and (B, A) in test would leak.
"""

from __future__ import annotations

import json
import os
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import DataError, OptionError
from ..options import check_range, typed_fields

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
SCORE_ALIASES = ("synergy", "score")
"""Column names taken as the score when ``--columns`` does not name one (``score`` is what a
run's own ``screen.csv`` calls it)."""
MAX_ABS_SCORE = 1e4
"""Synergy scores are percentage points (Loewe, Bliss, HSA, ZIP) or NCI ComboScores (about
-700 to 700): a larger magnitude is a unit or typing error, and one such row would dominate
the fit (one score of 1e30 made every metric infinite)."""

SPLIT_KINDS = ("random", "pair", "drug", "one-hidden-drug", "cell-line", "fold")


@dataclass
class Screen:
    """A drug-combination screen ready for featurisation.

    Attributes
    ----------
    table : DataFrame
        One row per unordered (pair, cell line) triple with columns ``drug_a``, ``drug_b``
        (``drug_a <= drug_b``), ``cell_line``, ``score``, ``n_replicates`` and optionally
        ``fold`` and (for the synthetic demo) ``true_score``.
    smiles : dict
        Drug name -> SMILES, for RDKit fingerprints. May be empty if ``drug_features`` is set.
    drug_features : DataFrame or None
        Ready drug feature vectors (index = drug name), used instead of fingerprints.
    cell_features : DataFrame or None
        Cell-line feature table (index = cell line). ``None`` means one-hot cell lines.
    name : str
        Where the screen came from, for the run's config.
    n_rows_read : int
        Rows in the source table before replicate averaging.
    """

    table: pd.DataFrame
    smiles: dict[str, str] = field(default_factory=dict)
    drug_features: pd.DataFrame | None = None
    cell_features: pd.DataFrame | None = None
    name: str = "screen"
    n_rows_read: int = 0

    @property
    def drugs(self) -> list[str]:
        """Sorted names of the drugs that occur in the table."""
        return sorted(set(self.table["drug_a"]) | set(self.table["drug_b"]))

    @property
    def cell_lines(self) -> list[str]:
        """Sorted names of the cell lines that occur in the table."""
        return sorted(set(self.table["cell_line"]))

    def subset(self, mask: np.ndarray | pd.Series) -> Screen:
        """A screen restricted to the rows where ``mask`` is true (features kept whole)."""
        table = self.table[np.asarray(mask)].reset_index(drop=True)
        return Screen(
            table, self.smiles, self.drug_features, self.cell_features, self.name, len(table)
        )


# ----------------------------------------------------------------------------- reading


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
            return pd.read_parquet(path)
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


def check_column_map(column_map: Mapping[str, str], source: str = "--columns") -> dict:
    """``column_map`` if its keys are canonical names and its columns distinct, else raise."""
    known = (*TABLE_COLUMNS, "fold")
    unknown = sorted(set(column_map) - set(known))
    if unknown:
        hint = " (the score is 'score', e.g. score=loewe)" if "synergy" in unknown else ""
        raise OptionError(f"{source}: unknown key(s) {unknown}{hint}; the keys are {list(known)}.")
    bad = [k for k, v in column_map.items() if not isinstance(v, str) or not v.strip()]
    if bad:
        raise OptionError(f"{source}: key(s) {bad} name no column; write key=COLUMN.")
    columns = list(column_map.values())
    twice = sorted({c for c in columns if columns.count(c) > 1})
    if twice:
        raise OptionError(f"{source}: column(s) {twice} are mapped to more than one key.")
    return dict(column_map)


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
        column in ``raw``. Missing keys fall back to :data:`DEFAULT_COLUMN_MAP`; without a
        ``score`` key the first of :data:`SCORE_ALIASES` in the table is the score.
    source : str
        File name used in error messages.
    keep_fold : bool
        Keep (and check) the ``fold`` column; only a ``fold`` split needs it.

    Returns
    -------
    DataFrame with ``drug_a, drug_b, cell_line, score`` (and ``fold`` if present); drug and
    cell-line names as strings, scores as float.
    """
    column_map = check_column_map(column_map or {})
    mapping = {**DEFAULT_COLUMN_MAP, **column_map}
    if "score" not in column_map:
        mapping["score"] = next((c for c in SCORE_ALIASES if c in raw.columns), "synergy")
    # rows with every cell blank are spacing, not data; row numbers count them all the same
    blank = raw.isna().all(axis=1).to_numpy()
    row_number = np.flatnonzero(~blank) + 1
    raw = raw[~blank]
    if raw.empty:
        raise DataError(f"{source}: the table has no rows.")
    if "fold" in column_map and keep_fold and column_map["fold"] not in raw.columns:
        raise DataError(f"{source}: --columns fold={column_map['fold']}: no such column.")
    missing = [mapping[c] for c in TABLE_COLUMNS if mapping[c] not in raw.columns]
    if missing:
        raise DataError(
            f"{source}: missing column(s) {missing}; the table has {list(raw.columns)}. "
            "Rename them or map them with --columns drug_a=...,drug_b=...,cell_line=...,score=..."
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
            f"has {values.iloc[first]!r}. Correct it, or map another column with --columns fold=..."
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
    """Read a drug table (name -> SMILES) from CSV/TSV/Parquet.

    Names are read as written (``000`` stays ``000``). A drug listed twice with different
    SMILES is an error naming both rows; an exact repeat is harmless.
    """
    drugs = read_table(path, text=True)
    for col in (name_column, smiles_column):
        if col not in drugs.columns:
            raise DataError(
                f"{path}: drug table needs columns '{name_column}' and '{smiles_column}'; "
                f"it has {list(drugs.columns)}."
            )
    drugs = drugs[~drugs.isna().all(axis=1)]  # blank spacing rows (index = data row - 1)
    names = _names(drugs[name_column], path)
    smiles: dict[str, str] = {}
    first_row: dict[str, int] = {}
    for row, name, text in zip(drugs.index, names, drugs[smiles_column], strict=True):
        text = text.strip() if isinstance(text, str) else text
        if name in smiles and not _same_smiles(smiles[name], text):
            raise DataError(
                f"{path}: drug '{name}' is listed twice with different SMILES (data rows "
                f"{first_row[name] + 1} and {row + 1}); keep one of them."
            )
        smiles.setdefault(name, text)
        first_row.setdefault(name, row)
    return smiles


PAIR_COLUMNS = ("drug_a", "drug_b", "cell_line")


def read_pairs(path: str | Path) -> pd.DataFrame:
    """A table of ``drug_a, drug_b, cell_line`` rows to predict or rank (names as written,
    stripped); other columns are kept."""
    table = read_table(path, text=True)
    table = table[~table.isna().all(axis=1)].copy()  # blank spacing rows; index = row - 1
    missing = [c for c in PAIR_COLUMNS if c not in table.columns]
    if missing:
        raise DataError(
            f"{path}: missing column(s) {missing}; the table has {list(table.columns)[:10]} "
            "and needs drug_a,drug_b,cell_line."
        )
    if table.empty:
        raise DataError(f"{path}: the table has no rows.")
    for col in PAIR_COLUMNS:
        table[col] = _names(table[col], path)
    return table.reset_index(drop=True)


def _names(values: pd.Series, source: str | Path) -> pd.Series:
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


def _same_smiles(a, b) -> bool:
    return a == b or (pd.isna(a) and pd.isna(b))


def check_drugs_known(screen: Screen, source: str = "table") -> None:
    """Raise if a drug in the table has neither a SMILES nor a feature row."""
    known = set(screen.smiles)
    if screen.drug_features is not None:
        known |= set(screen.drug_features.index.astype(str))
    unknown = [d for d in screen.drugs if d not in known]
    if unknown:
        raise DataError(
            f"{source}: {len(unknown)} drug(s) have no SMILES: {unknown[:10]}. "
            "Add them to the drug table (--drugs PATH with columns drug,smiles)."
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
            f"{unknown[:10]}. Add their rows, or drop --cell-features to use one-hot cell lines."
        )


# ----------------------------------------------------------------------- built-in screens

CHEMICALX_ONEIL = "https://raw.githubusercontent.com/AstraZeneca/chemicalx/main/dataset/oneil/"
DATASETS: dict[str, dict[str, str]] = {
    "oneil": {
        "oneil/labels.csv": "https://www.bioinf.jku.at/software/DeepSynergy/labels.csv",
        "oneil/drugs.csv": CHEMICALX_ONEIL + "drug_set.json",
        "oneil/cell_line_features.json": CHEMICALX_ONEIL + "context_set.json",
    },
}
"""Public homes of the built-in screens that download automatically: local file -> URL."""

ALMANAC_HOME = "https://wiki.nci.nih.gov/display/NCIDTPdata/NCI-ALMANAC"


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/synergy_ppl`` (``~/.cache/synergy_ppl``)."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "synergy_ppl"


def resolve_data_dir(data_dir: str | Path | None = None) -> Path:
    """The data directory: the argument, else ``$SYNERGY_PPL_DATA``, else the cache."""
    if data_dir is not None:
        return Path(data_dir)
    if os.environ.get("SYNERGY_PPL_DATA"):
        return Path(os.environ["SYNERGY_PPL_DATA"])
    return default_cache_dir()


def download(name: str, data_dir: str | Path | None = None) -> Path:
    """Download a built-in screen once from its public home into the data directory.

    Files already present are kept. The O'Neil labels come from DeepSynergy (with the
    published folds), the drug SMILES and cell-line features from ChemicalX's copy (the
    drug JSON is converted to ``drugs.csv``). NCI-ALMANAC is distributed by NCI as a large
    per-well archive from which ComboScores must be aggregated; it is not fetched
    automatically (the error says where to get it and the layout to place it in).
    """
    if name == "almanac":
        raise DataError(
            f"NCI-ALMANAC is not downloaded automatically: get ComboDrugGrowth from {ALMANAC_HOME} "
            "and place almanac/combo_scores.csv (drug_a,drug_b,cell_line,synergy), "
            "almanac/drugs.csv (name,pubchemid,isosmiles) and almanac/cell_line_expression.csv "
            "in the data directory, as described in the README."
        )
    if name not in DATASETS:
        raise DataError(f"no public source is known for '{name}'; known: {sorted(DATASETS)}")
    root = resolve_data_dir(data_dir)
    for local, url in DATASETS[name].items():
        target = root / local
        if target.exists():
            continue
        try:
            with urllib.request.urlopen(url, timeout=60) as response:  # noqa: S310 (https only)
                payload = response.read()
        except (OSError, ValueError) as err:  # URLError, timeouts and HTTP errors are OSErrors
            raise DataError(
                f"cannot download {url} ({getattr(err, 'reason', err)}). Offline? Fetch it on a "
                f"machine that is online and place it at {target}, then rerun."
            ) from err
        if url.endswith("drug_set.json"):
            drugs = json.loads(payload)
            rows = [(drug, entry["smiles"]) for drug, entry in drugs.items()]
            payload = pd.DataFrame(rows, columns=["drug", "smiles"]).to_csv(index=False).encode()
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(target.name + ".part")  # never half a file under its name
        partial.write_bytes(payload)
        partial.replace(target)
    return root


def _data_file(root: Path, name: str, relative: str) -> Path:
    path = root / relative
    if not path.exists():
        raise DataError(
            f"{path}: the '{name}' screen was not found in {root}. Pass --data-dir, set "
            f"SYNERGY_PPL_DATA, or download it once with `synergy-ppl download {name}`."
        )
    return path


def load_oneil(data_dir: str | Path | None = None, keep_fold: bool = True) -> Screen:
    """The O'Neil et al. 2016 screen as benchmarked by DeepSynergy, with its published folds
    (``keep_fold``)."""
    root = resolve_data_dir(data_dir)
    labels_path = _data_file(root, "oneil", "oneil/labels.csv")
    raw = read_table(labels_path, text=True)
    table = standardise_table(
        raw,
        {"drug_a": "drug_a_name", "drug_b": "drug_b_name", "score": "synergy"},
        source=str(labels_path),
        keep_fold=keep_fold,
    )
    smiles = read_smiles(_data_file(root, "oneil", "oneil/drugs.csv"))
    features_path = _data_file(root, "oneil", "oneil/cell_line_features.json")
    cell = pd.DataFrame.from_dict(json.loads(features_path.read_text()), orient="index")
    screen = Screen(canonicalise_and_average(table), smiles, None, cell, "oneil", len(table))
    check_drugs_known(screen, str(labels_path))
    return screen


def load_almanac(data_dir: str | Path | None = None) -> Screen:
    """NCI-ALMANAC ComboScores (Holbeck et al. 2017); drugs named by their PubChem CID."""
    root = resolve_data_dir(data_dir)
    scores_path = _data_file(root, "almanac", "almanac/combo_scores.csv")
    table = standardise_table(read_table(scores_path, text=True), source=str(scores_path))
    drugs = read_table(_data_file(root, "almanac", "almanac/drugs.csv"), text=True)
    smiles = dict(zip(drugs["pubchemid"].astype(str), drugs["isosmiles"], strict=True))
    expression = read_table(_data_file(root, "almanac", "almanac/cell_line_expression.csv"))
    cell = expression.set_index("Cellline")
    cell.index = cell.index.astype(str)
    screen = Screen(canonicalise_and_average(table), smiles, None, cell, "almanac", len(table))
    check_drugs_known(screen, str(scores_path))
    return screen


def load_user_screen(
    path: str | Path,
    drugs: str | Path | None = None,
    cell_features: str | Path | None = None,
    column_map: Mapping[str, str] | None = None,
    keep_fold: bool = True,
) -> Screen:
    """A user's combination table plus a drug table (name -> SMILES) and optional cell features.

    The cell-feature table has the cell-line name in its first column and one numeric
    column per feature.
    """
    if drugs is None:
        raise DataError(
            f"{path}: a user table needs a drug table with SMILES: pass --drugs PATH "
            "(columns drug,smiles)."
        )
    table = standardise_table(read_table(path, text=True), column_map, str(path), keep_fold)
    smiles = read_smiles(drugs)
    cell = None if cell_features is None else read_cell_features(cell_features)
    screen = Screen(canonicalise_and_average(table), smiles, None, cell, str(path), len(table))
    check_drugs_known(screen, str(path))
    check_cell_lines_known(screen, str(path))
    return screen


def read_cell_features(path: str | Path) -> pd.DataFrame:
    """A cell-line feature table: names in the first column, then numeric columns."""
    cell = read_table(path)
    if cell.shape[1] < 2:
        raise DataError(f"{path}: a cell-line table needs a name column and feature columns.")
    cell = cell.set_index(cell.columns[0])
    cell.index = cell.index.astype(str).str.strip()
    non_numeric = [c for c in cell.columns if not pd.api.types.is_numeric_dtype(cell[c])]
    if non_numeric:
        raise DataError(f"{path}: non-numeric feature column(s) {non_numeric[:5]}.")
    twice = cell.index[cell.index.duplicated()].unique().tolist()
    if twice:
        raise DataError(
            f"{path}: cell line(s) {twice[:5]} have more than one row; keep one row each."
        )
    return cell


def load_screen(
    source: str,
    *,
    data_dir: str | Path | None = None,
    drugs: str | Path | None = None,
    cell_features: str | Path | None = None,
    column_map: Mapping[str, str] | None = None,
    cell_line: str | None = None,
    seed: int = 0,
    keep_fold: bool = True,
) -> Screen:
    """Load ``demo``, ``oneil``, ``almanac`` or a path to a user's table.

    ``cell_line`` keeps only that cell line's rows (comma-separate several); ``keep_fold``
    keeps a table's ``fold`` column (a ``fold`` split needs it, other splits ignore it).
    """
    if source == "demo":
        screen = make_demo_screen(seed=seed)
    elif source == "oneil":
        screen = load_oneil(data_dir, keep_fold)
    elif source == "almanac":
        screen = load_almanac(data_dir)
    else:
        screen = load_user_screen(source, drugs, cell_features, column_map, keep_fold)
    if cell_line:
        wanted = [c.strip() for c in cell_line.split(",")]
        unknown = [c for c in wanted if c not in screen.cell_lines]
        if unknown:
            raise DataError(
                f"{source}: cell line(s) {unknown} not in the screen; it has "
                f"{screen.cell_lines[:20]}{' ...' if len(screen.cell_lines) > 20 else ''}"
            )
        screen = screen.subset(screen.table["cell_line"].isin(wanted))
    return screen


# ----------------------------------------------------------------------- the synthetic demo


def make_demo_screen(
    n_drugs: int = 24,
    n_cell_lines: int = 4,
    n_bits: int = 128,
    rank: int = 3,
    noise_scale: float = 3.0,
    noise_df: float = 4.0,
    untested_fraction: float = 0.1,
    seed: int = 0,
) -> Screen:
    """A synthetic screen with a known truth, small enough to fit in seconds.

    Each drug has a fingerprint-like bit vector ``x_d`` (``n_bits`` bits, about 10% set); its
    latent profile is ``u_d = x_d W`` with a fixed random ``W`` of shape ``(n_bits, rank)``.
    The true synergy of drugs (a, b) in cell line c is the low-rank, order-invariant form

        f(a, b, c) = 10 * sum_k u_ak * u_bk * v_ck + m_c,

    with cell-line profiles ``v_c`` and offsets ``m_c``; the measured score adds Student-t
    noise (``noise_df`` degrees of freedom, scale ``noise_scale``), so a few rows are
    outliers as in real screens. The truth is kept in the ``true_score`` column.
    ``untested_fraction`` of the triples are left out, as in a real screen, so that
    ``recommend`` has untested candidates to rank.
    """
    rng = np.random.default_rng(seed)
    bits = (rng.random((n_drugs, n_bits)) < 0.1).astype(np.float32)
    projection = rng.normal(0.0, 1.0 / np.sqrt(n_bits * 0.1), (n_bits, rank))
    drug_profiles = bits @ projection
    cell_profiles = rng.normal(0.0, 1.0, (n_cell_lines, rank))
    cell_offsets = rng.normal(0.0, 2.0, n_cell_lines)
    drugs = [f"D{i:02d}" for i in range(n_drugs)]
    cells = [f"C{i}" for i in range(n_cell_lines)]
    a, b = np.triu_indices(n_drugs, k=1)
    rows = []
    for c in range(n_cell_lines):
        truth = 10.0 * np.einsum("nk,nk,k->n", drug_profiles[a], drug_profiles[b], cell_profiles[c])
        truth = truth + cell_offsets[c]
        noise = noise_scale * rng.standard_t(noise_df, size=len(a))
        rows.append(
            pd.DataFrame(
                {
                    "drug_a": np.asarray(drugs)[a],
                    "drug_b": np.asarray(drugs)[b],
                    "cell_line": cells[c],
                    "score": truth + noise,
                    "true_score": truth,
                    "n_replicates": 1,
                }
            )
        )
    table = pd.concat(rows, ignore_index=True)
    # a stream of its own, so the measured rows are the same whatever the fraction
    untested = np.random.default_rng([seed, 1]).random(len(table)) < untested_fraction
    table = table[~untested].reset_index(drop=True)
    features = pd.DataFrame(bits, index=drugs, columns=[f"bit{i}" for i in range(n_bits)])
    return Screen(table, {}, features, None, "demo", len(table))


# ----------------------------------------------------------------------------- splits


@dataclass
class Split:
    """Row indices (into ``Screen.table``) of the training, validation and test parts."""

    train: np.ndarray
    val: np.ndarray
    test: np.ndarray
    kind: str
    dropped: int = 0
    """Rows in neither part (one-hidden-drug: pairs of two hidden drugs)."""

    def labels(self, n_rows: int) -> np.ndarray:
        """An array of ``'train' | 'val' | 'test' | 'unused'`` per row."""
        out = np.full(n_rows, "unused", dtype=object)
        out[self.train], out[self.val], out[self.test] = "train", "val", "test"
        return out


def _pick_groups(groups: np.ndarray, fraction: float, rng: np.random.Generator) -> set:
    unique = np.unique(groups)
    n = max(1, int(round(fraction * len(unique))))
    if n >= len(unique):
        raise DataError(
            f"cannot hold out {fraction:.0%} of {len(unique)} group(s) and keep any for training"
        )
    return set(rng.choice(unique, size=n, replace=False).tolist())


def _held_out_mask(table: pd.DataFrame, kind: str, fraction: float, rng) -> np.ndarray:
    """Rows held out by one draw of ``kind`` (used for test, then again for validation)."""
    if kind == "random":
        mask = np.zeros(len(table), dtype=bool)
        mask[rng.permutation(len(table))[: int(round(fraction * len(table)))]] = True
        return mask
    if kind == "pair":
        pairs = (table["drug_a"] + "\t" + table["drug_b"]).to_numpy()
        return np.isin(pairs, list(_pick_groups(pairs, fraction, rng)))
    if kind == "cell-line":
        cells = table["cell_line"].to_numpy()
        return np.isin(cells, list(_pick_groups(cells, fraction, rng)))
    if kind in ("drug", "one-hidden-drug"):
        drugs = np.union1d(table["drug_a"].to_numpy(), table["drug_b"].to_numpy())
        # a fraction of drugs hides roughly twice that fraction of rows
        hidden = list(_pick_groups(drugs, fraction / 2, rng))
        return table["drug_a"].isin(hidden).to_numpy() | table["drug_b"].isin(hidden).to_numpy()
    raise DataError(f"unknown split '{kind}'; choose one of {SPLIT_KINDS}")


def split_screen(
    table: pd.DataFrame,
    kind: str = "pair",
    *,
    seed: int = 0,
    test_fraction: float = 0.2,
    val_fraction: float = 0.1,
    test_fold: int | None = None,
) -> Split:
    """Split a screen's rows into train / validation / test without leakage.

    ``kind``:
      - ``random``: triples at random;
      - ``pair``: by unordered drug pair (a pair is never in two parts);
      - ``drug``: test drugs never occur in training (every row with a test drug is held out);
      - ``one-hidden-drug``: test rows have exactly one unseen drug; rows with two unseen
        drugs are dropped and counted in ``Split.dropped``;
      - ``cell-line``: whole cell lines held out;
      - ``fold``: the table's ``fold`` column, ``fold == test_fold`` is the test part (the
        O'Neil published folds are leave-combination-out).

    The validation part is drawn from what remains, by pair for ``fold`` and by the same kind
    otherwise; ``val_fraction=0`` means none (no early stopping). Only ``seed`` (the split
    seed) decides the parts, so the test part does not change with the model seed.
    """
    if kind not in SPLIT_KINDS:
        raise OptionError(f"unknown split '{kind}'; choose one of {SPLIT_KINDS}")
    check_range("--test-fraction", test_fraction, 0, 1, low_open=True, high_open=True)
    check_range("--val-fraction", val_fraction, 0, 1, high_open=True)
    rng = np.random.default_rng(seed)
    n = len(table)
    if kind == "fold":
        if "fold" not in table.columns:
            raise DataError("split 'fold' needs a fold column in the table (--columns fold=...).")
        if test_fold is None:
            raise DataError("split 'fold' needs --test-fold K.")
        folds = sorted(pd.unique(table["fold"]))
        if test_fold not in folds:
            raise DataError(f"--test-fold {test_fold} is not a fold of this table; folds: {folds}")
        test = (table["fold"] == test_fold).to_numpy()
    else:
        test = _held_out_mask(table, kind, test_fraction, rng)
    dropped = np.zeros(n, dtype=bool)
    if kind == "one-hidden-drug":
        # hidden drugs are those that appear only in the held-out rows
        seen = set(table.loc[~test, "drug_a"]) | set(table.loc[~test, "drug_b"])
        unseen_count = (~table["drug_a"].isin(seen)).to_numpy().astype(int) + (
            ~table["drug_b"].isin(seen)
        ).to_numpy().astype(int)
        dropped = test & (unseen_count == 2)
        test = test & (unseen_count == 1)
    rest = np.flatnonzero(~test & ~dropped)
    val_kind = "pair" if kind in ("fold", "one-hidden-drug") else kind
    if val_fraction > 0:
        val_local = _held_out_mask(
            table.iloc[rest].reset_index(drop=True), val_kind, val_fraction, rng
        )
    else:  # no validation part: training runs all its epochs
        val_local = np.zeros(len(rest), dtype=bool)
    train, val = rest[~val_local], rest[val_local]
    if len(train) == 0 or len(np.flatnonzero(test)) == 0:
        raise DataError(
            f"split '{kind}' left {len(train)} training and {int(test.sum())} test rows; "
            "use another split or fraction."
        )
    return Split(train, val, np.flatnonzero(test), kind, int(dropped.sum()))


@dataclass
class DataConfig:
    """Where a screen comes from and how it is split; saved in the run's config."""

    data: str = "demo"
    data_dir: str | None = None
    drugs: str | None = None
    cell_features: str | None = None
    columns: dict = field(default_factory=dict)
    cell_line: str | None = None
    split: str = "pair"
    test_fold: int | None = None
    split_seed: int = 0
    test_fraction: float = 0.2
    val_fraction: float = 0.1

    def __post_init__(self) -> None:
        self.check()

    @classmethod
    def from_dict(cls, values: dict, section: str = "data") -> DataConfig:
        """A config from a mapping (config file, saved run); keys and types are checked."""
        return cls(**typed_fields(cls, values, section))

    def check(self) -> None:
        """Raise :class:`OptionError` naming the option if a value is outside its range."""
        if not self.data.strip():
            raise OptionError("--data is empty; give demo, oneil, almanac or a table's path.")
        if self.split not in SPLIT_KINDS:
            raise OptionError(f"--split '{self.split}' is not one of {list(SPLIT_KINDS)}.")
        check_column_map(self.columns)
        check_range("--test-fraction", self.test_fraction, 0, 1, low_open=True, high_open=True)
        check_range("--val-fraction", self.val_fraction, 0, 1, high_open=True)
        if self.test_fraction + self.val_fraction >= 1:
            raise OptionError(
                f"--test-fraction {self.test_fraction} + --val-fraction {self.val_fraction} "
                "leave nothing to train on; lower them."
            )
        check_range("--split-seed", self.split_seed, 0)
        if self.split == "fold" and self.test_fold is None:
            raise OptionError("--split fold needs --test-fold K (the fold held out as test).")

    def load(self) -> Screen:
        """The screen these options describe (the demo's seed is the split seed)."""
        return load_screen(
            self.data,
            data_dir=self.data_dir,
            drugs=self.drugs,
            cell_features=self.cell_features,
            column_map=self.columns,
            cell_line=self.cell_line,
            seed=self.split_seed,
            keep_fold=self.split == "fold",
        )

    def split_of(self, screen: Screen) -> Split:
        return split_screen(
            screen.table,
            self.split,
            seed=self.split_seed,
            test_fraction=self.test_fraction,
            val_fraction=self.val_fraction,
            test_fold=self.test_fold,
        )
