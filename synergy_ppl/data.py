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

SPLIT_KINDS = ("random", "pair", "drug", "one-hidden-drug", "cell-line", "fold")


class DataError(ValueError):
    """Invalid input data; the message names the file, column, row or value and the fix."""


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


def read_table(path: str | Path) -> pd.DataFrame:
    """Read a CSV, TSV or Parquet file, with an error that names the file when it fails."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: file not found. Check the path, or pass --data-dir.")
    suffix = "".join(path.suffixes[-2:]).lower()
    try:
        if suffix.endswith(".parquet") or suffix.endswith(".pq"):
            return pd.read_parquet(path)
        if suffix.endswith(".tsv") or suffix.endswith(".tsv.gz") or suffix.endswith(".txt"):
            return pd.read_csv(path, sep="\t")
        return pd.read_csv(path)
    except ImportError as err:
        raise DataError(
            f"{path}: reading Parquet needs pyarrow: pip install 'synergy-ppl[dev]' or pyarrow"
        ) from err
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as err:
        raise DataError(f"{path}: could not be read as a table ({err}).") from err


def standardise_table(
    raw: pd.DataFrame, column_map: Mapping[str, str] | None = None, source: str = "table"
) -> pd.DataFrame:
    """Rename a user's columns to the canonical names and validate every row.

    Parameters
    ----------
    raw : DataFrame
        The table as read.
    column_map : mapping, optional
        Canonical name (``drug_a``, ``drug_b``, ``cell_line``, ``score``, ``fold``) -> the
        column in ``raw``. Missing keys fall back to :data:`DEFAULT_COLUMN_MAP`.
    source : str
        File name used in error messages.

    Returns
    -------
    DataFrame with ``drug_a, drug_b, cell_line, score`` (and ``fold`` if present); drug and
    cell-line names as strings, scores as float.
    """
    mapping = {**DEFAULT_COLUMN_MAP, **(column_map or {})}
    if raw.empty:
        raise DataError(f"{source}: the table has no rows.")
    missing = [mapping[c] for c in TABLE_COLUMNS if mapping[c] not in raw.columns]
    if missing:
        raise DataError(
            f"{source}: missing column(s) {missing}; the table has {list(raw.columns)}. "
            "Rename them or map them with --columns drug_a=...,drug_b=...,cell_line=...,score=..."
        )
    table = pd.DataFrame({c: raw[mapping[c]] for c in TABLE_COLUMNS})
    if mapping["fold"] in raw.columns:
        table["fold"] = raw[mapping["fold"]]
    for col in ("drug_a", "drug_b", "cell_line"):
        empty = table[col].isna() | (table[col].astype(str).str.strip() == "")
        if empty.any():
            row = int(np.flatnonzero(empty.to_numpy())[0])
            raise DataError(
                f"{source}: column '{mapping[col]}' is empty in {int(empty.sum())} row(s), "
                f"first at data row {row + 1}. Fill in or remove those rows."
            )
        table[col] = table[col].astype(str).str.strip()
    score = pd.to_numeric(table["score"], errors="coerce")
    bad = ~np.isfinite(score.to_numpy(dtype=float))
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise DataError(
            f"{source}: column '{mapping['score']}' has {int(bad.sum())} non-numeric, NaN or "
            f"infinite value(s), first at data row {row + 1} "
            f"(value {raw[mapping['score']].iloc[row]!r}). Remove or correct those rows."
        )
    table["score"] = score.astype(float)
    return table


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


def read_smiles(path: str | Path, name_column: str = "drug", smiles_column: str = "smiles"):
    """Read a drug table (name -> SMILES) from CSV/TSV/Parquet."""
    drugs = read_table(path)
    for col in (name_column, smiles_column):
        if col not in drugs.columns:
            raise DataError(
                f"{path}: drug table needs columns '{name_column}' and '{smiles_column}'; "
                f"it has {list(drugs.columns)}."
            )
    return dict(zip(drugs[name_column].astype(str).str.strip(), drugs[smiles_column], strict=True))


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
        target.parent.mkdir(parents=True, exist_ok=True)
        with urllib.request.urlopen(url, timeout=60) as response:  # noqa: S310 (https only)
            payload = response.read()
        if url.endswith("drug_set.json"):
            drugs = json.loads(payload)
            rows = [(drug, entry["smiles"]) for drug, entry in drugs.items()]
            pd.DataFrame(rows, columns=["drug", "smiles"]).to_csv(target, index=False)
        else:
            target.write_bytes(payload)
    return root


def _data_file(root: Path, name: str, relative: str) -> Path:
    path = root / relative
    if not path.exists():
        raise DataError(
            f"{path}: the '{name}' screen was not found in {root}. Pass --data-dir, set "
            f"SYNERGY_PPL_DATA, or download it once with `synergy-ppl download {name}`."
        )
    return path


def load_oneil(data_dir: str | Path | None = None) -> Screen:
    """The O'Neil et al. 2016 screen as benchmarked by DeepSynergy, with its published folds."""
    root = resolve_data_dir(data_dir)
    labels_path = _data_file(root, "oneil", "oneil/labels.csv")
    raw = read_table(labels_path)
    table = standardise_table(
        raw,
        {"drug_a": "drug_a_name", "drug_b": "drug_b_name", "score": "synergy"},
        source=str(labels_path),
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
    table = standardise_table(read_table(scores_path), source=str(scores_path))
    drugs = read_table(_data_file(root, "almanac", "almanac/drugs.csv"))
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
) -> Screen:
    """A user's combination table plus a drug table (name -> SMILES) and optional cell features.

    The cell-feature table has the cell-line name in its first column and one numeric
    column per feature.
    """
    table = standardise_table(read_table(path), column_map, source=str(path))
    if drugs is None:
        raise DataError(
            f"{path}: a user table needs a drug table with SMILES: pass --drugs PATH "
            "(columns drug,smiles)."
        )
    smiles = read_smiles(drugs)
    cell = None
    if cell_features is not None:
        cell = read_table(cell_features)
        cell = cell.set_index(cell.columns[0])
        cell.index = cell.index.astype(str)
        non_numeric = [c for c in cell.columns if not pd.api.types.is_numeric_dtype(cell[c])]
        if non_numeric:
            raise DataError(f"{cell_features}: non-numeric feature column(s) {non_numeric[:5]}.")
    screen = Screen(canonicalise_and_average(table), smiles, None, cell, str(path), len(table))
    check_drugs_known(screen, str(path))
    check_cell_lines_known(screen, str(path))
    return screen


def load_screen(
    source: str,
    *,
    data_dir: str | Path | None = None,
    drugs: str | Path | None = None,
    cell_features: str | Path | None = None,
    column_map: Mapping[str, str] | None = None,
    cell_line: str | None = None,
    seed: int = 0,
) -> Screen:
    """Load ``demo``, ``oneil``, ``almanac`` or a path to a user's table.

    ``cell_line`` keeps only that cell line's rows (comma-separate several).
    """
    if source == "demo":
        screen = make_demo_screen(seed=seed)
    elif source == "oneil":
        screen = load_oneil(data_dir)
    elif source == "almanac":
        screen = load_almanac(data_dir)
    else:
        screen = load_user_screen(source, drugs, cell_features, column_map)
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
    otherwise. Only ``seed`` (the split seed) decides the parts, so the test part does not
    change with the model seed.
    """
    if kind not in SPLIT_KINDS:
        raise DataError(f"unknown split '{kind}'; choose one of {SPLIT_KINDS}")
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
    val_local = _held_out_mask(table.iloc[rest].reset_index(drop=True), val_kind, val_fraction, rng)
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

    @classmethod
    def from_dict(cls, values: dict) -> DataConfig:
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(values) - known)
        if unknown:
            raise DataError(f"unknown data option(s) {unknown}; known: {sorted(known)}")
        return cls(**values)

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
