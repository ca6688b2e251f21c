"""The public aggregates a user usually already holds, each read in its native layout:
DrugComb's summary export and DrugCombDB's scored combinations, with their drug tables.

An aggregate holds many studies, single-drug rows, scores some of which are not finite, and
drug names spelled a little differently from its own drug table. Loading keeps one score
(``score``), optionally one study, matches drug names to the drug table after a clean-up
(case, spacing, salt suffixes), and drops what cannot be fitted, counting every dropped row
by reason in :attr:`Screen.report` (the run's ``metrics.json`` data summary).
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import DataError, OptionError
from .monotherapy import known_column, monotherapy_from_frame
from .monotherapy_join import screen_with_monotherapy
from .screen import Screen
from .tables import MAX_ABS_SCORE, read_table
from .user import screen_from_frame

DEFAULT_SCORE = "zip"
"""The score an aggregate is fitted on unless ``--score`` says otherwise."""
SALTS = (
    "hydrochloride",
    "dihydrochloride",
    "hcl",
    "mesylate",
    "dimesylate",
    "maleate",
    "tosylate",
    "besylate",
    "citrate",
    "fumarate",
    "tartrate",
    "sulfate",
    "phosphate",
    "acetate",
    "sodium",
    "potassium",
    "hydrate",
    "monohydrate",
)
"""Counter-ion and hydrate words that one source appends to a drug name and another omits."""


@dataclass(frozen=True)
class Aggregate:
    """A public aggregate's native layout.

    Attributes
    ----------
    name : str
        The ``--data`` prefix (``drugcomb:PATH``).
    columns : dict
        ``drug_a``, ``drug_b``, ``cell_line`` -> the native column.
    scores : dict
        ``--score`` name -> the native score column.
    drug_table : str
        The native drug table's file name, looked for beside the combination table.
    drug_columns : tuple of str
        The drug table's name and SMILES columns.
    study : str or None
        The column naming each row's study (``--study``), if the aggregate has one.
    files : dict
        Local file (under the data directory) -> public URL, for ``synergy-ppl download``.
    home : str
        The public page to get the files from by hand.
    single_agent : dict
        Single-agent value name (a known name of :mod:`.monotherapy`) -> the native columns
        holding drug A's and drug B's value in each combination row, in order of preference:
        the first whose columns exist and hold a usable value is read (:func:`load_aggregate`).
    """

    name: str
    columns: dict
    scores: dict
    drug_table: str
    drug_columns: tuple[str, str]
    study: str | None
    files: dict
    home: str
    single_agent: dict = field(default_factory=dict)

    @property
    def table_file(self) -> str:
        """The combination table's path under the data directory."""
        return next(iter(self.files))


AGGREGATES: dict[str, Aggregate] = {
    "drugcomb": Aggregate(
        name="drugcomb",
        columns={"drug_a": "drug_row", "drug_b": "drug_col", "cell_line": "cell_line_name"},
        scores={
            "zip": "synergy_zip",
            "bliss": "synergy_bliss",
            "loewe": "synergy_loewe",
            "hsa": "synergy_hsa",
            "s_mean": "S_mean",
            "s_max": "S_max",
        },
        drug_table="drugs.csv",
        drug_columns=("dname", "smiles"),
        study="study_name",
        files={
            "drugcomb/summary_v_1_5.csv": "https://drugcomb.fimm.fi/jing/summary_v_1_5.csv",
            "drugcomb/drugs.csv": "https://api.drugcomb.org/drugs",
        },
        home="https://drugcomb.org/download/",
        single_agent={"ri": ("ri_row", "ri_col"), "ic50": ("ic50_row", "ic50_col")},
    ),
    "drugcombdb": Aggregate(
        name="drugcombdb",
        columns={"drug_a": "Drug1", "drug_b": "Drug2", "cell_line": "Cell line"},
        scores={"zip": "ZIP", "bliss": "Bliss", "loewe": "Loewe", "hsa": "HSA"},
        drug_table="drug_chemical_info.csv",
        drug_columns=("drugName", "smilesString"),
        study=None,
        files={
            "drugcombdb/drugcombs_scored.csv": (
                "http://drugcombdb.denglab.org/download/drugcombs_scored.csv"
            ),
            "drugcombdb/drug_chemical_info.csv": (
                "http://drugcombdb.denglab.org/download/drug_chemical_info.csv"
            ),
        },
        home="http://drugcombdb.denglab.org/download/",
    ),
}
"""The aggregates ``--data NAME:PATH`` reads. A new one is one :class:`Aggregate` entry."""


def name_key(name: str) -> str:
    """A drug name reduced for matching: lower case, single spaces, no salt suffix.

    >>> name_key("  Erlotinib  Hydrochloride ")
    'erlotinib'
    """
    words = re.sub(r"[\s_]+", " ", str(name)).strip().lower().split(" ")
    while len(words) > 1 and words[-1] in SALTS:
        words.pop()
    return " ".join(words)


def read_aggregate_drugs(aggregate: Aggregate, path: str | Path) -> tuple[dict[str, str], int]:
    """Drug name -> SMILES from the aggregate's native drug table, and how many names it
    lists twice with different SMILES (the first is kept; the count is reported).

    A missing SMILES (blank or ``NULL``) leaves the drug out; of several SMILES separated by
    ``;`` the first is taken.
    """
    name_column, smiles_column = aggregate.drug_columns
    drugs = read_table(path, text=True)
    missing = [c for c in aggregate.drug_columns if c not in drugs.columns]
    if missing:
        raise DataError(
            f"{path}: not a {aggregate.name} drug table: missing column(s) {missing}; it has "
            f"{list(drugs.columns)[:10]}. Pass the drug table with drugs.",
            parameter="drugs",
        )
    smiles: dict[str, str] = {}
    conflicts = 0
    for name, text in zip(drugs[name_column], drugs[smiles_column], strict=True):
        if not isinstance(name, str) or not name.strip() or not isinstance(text, str):
            continue
        text = text.split(";")[0].strip()
        if not text or text.upper() == "NULL":
            continue
        name = name.strip()
        if name in smiles and smiles[name] != text:
            conflicts += 1
            continue
        smiles.setdefault(name, text)
    return smiles, conflicts


def load_aggregate(
    kind: str,
    path: str | Path,
    drugs: str | Path | None = None,
    score: str | None = None,
    study: str | None = None,
) -> Screen:
    """A :class:`Screen` from a public aggregate's export in its native layout.

    Parameters
    ----------
    kind : str
        A key of :data:`AGGREGATES` (``drugcomb``, ``drugcombdb``).
    path : str or Path
        The combination table (DrugComb's summary export, DrugCombDB's
        ``drugcombs_scored.csv``).
    drugs : str or Path, optional
        The native drug table (default: :attr:`Aggregate.drug_table` beside ``path``).
    score : str, optional
        A key of :attr:`Aggregate.scores` (default :data:`DEFAULT_SCORE`).
    study : str, optional
        Keep only this study's rows (DrugComb's ``study_name``, without case).

    Returns
    -------
    Screen
        Its ``report`` counts the rows read, the rows dropped by reason (``single_drug``,
        ``other_studies``, ``non_finite_or_extreme_score``: NaN, infinite or beyond
        :data:`~synergy_ppl.data.tables.MAX_ABS_SCORE`, as aggregates hold some Loewe scores
        of that kind; ``missing_smiles``), the rows in the file, the drug names matched
        only after clean-up, and drug-table names listed twice with different SMILES.
    """
    aggregate = _aggregate(kind)
    score_name = (score or DEFAULT_SCORE).lower()
    if score_name not in aggregate.scores:
        raise OptionError(
            f"score {score}: {kind} has the scores {list(aggregate.scores)}; choose one.",
            parameter="score",
        )
    if study is not None and aggregate.study is None:
        raise OptionError(
            f"study is for DrugComb exports; {kind} has no studies.", parameter="study"
        )
    path = Path(path)
    raw = read_table(path, text=True)
    needed = [*aggregate.columns.values(), aggregate.scores[score_name]]
    needed += [aggregate.study] if study is not None else []
    missing = [c for c in needed if c not in raw.columns]
    if missing:
        raise DataError(
            f"{path}: not a {kind} export: missing column(s) {missing}; it has "
            f"{list(raw.columns)[:12]}. Check the file or use data PATH with columns.",
            parameter=("data", "columns"),
        )
    dropped: Counter = Counter()
    table = pd.DataFrame(
        {
            c: raw[native].astype("string").str.strip().replace("", pd.NA)
            for c, native in aggregate.columns.items()
        }
    )
    table["synergy"] = pd.to_numeric(raw[aggregate.scores[score_name]], errors="coerce")
    if study is not None:
        studies = raw[aggregate.study].astype("string").str.strip().str.lower()
        keep = (studies == study.strip().lower()).to_numpy()
        if not keep.any():
            known = sorted(raw[aggregate.study].dropna().astype(str).unique())[:20]
            raise DataError(f"{path}: no rows of study '{study}'; its studies: {known}.")
        dropped["other_studies"] = int((~keep).sum())
        table = table[keep]
    table = _drop(table, table["drug_b"].isna() | table["drug_a"].isna(), "single_drug", dropped)
    scores = table["synergy"].to_numpy(dtype=float)
    bad = ~np.isfinite(scores) | (np.abs(scores) > MAX_ABS_SCORE)
    table = _drop(table, bad, "non_finite_or_extreme_score", dropped)
    smiles, conflicts = read_aggregate_drugs(
        aggregate, drugs or path.with_name(aggregate.drug_table)
    )
    table, renames = _match_drug_names(table, smiles)
    known = table["drug_a"].isin(list(smiles)) & table["drug_b"].isin(list(smiles))
    table = _drop(table, ~known.to_numpy(), "missing_smiles", dropped)
    if table.empty:
        raise DataError(
            f"{path}: no row is left to fit after dropping {dict(dropped)}; check score, "
            "study and the drug table.",
            parameter=("score", "study"),
        )
    used = set(table["drug_a"]) | set(table["drug_b"])
    screen = screen_from_frame(table, {d: smiles[d] for d in used}, name=str(path))
    screen.report = {
        "format": kind,
        "rows_in_file": len(raw),
        "score_column": aggregate.scores[score_name],
        "dropped_rows": {reason: n for reason, n in dropped.items() if n},
        "drug_names_cleaned": len(renames),
        "drug_table_conflicts": conflicts,
    }
    rows = raw if study is None else raw[keep]
    return _with_single_agents(screen, rows, aggregate, renames, path)


def _aggregate(kind: str) -> Aggregate:
    if kind not in AGGREGATES:
        raise OptionError(f"unknown format '{kind}'; formats: {sorted(AGGREGATES)}.")
    return AGGREGATES[kind]


def _drop(table: pd.DataFrame, mask, reason: str, dropped: Counter) -> pd.DataFrame:
    mask = np.asarray(mask, dtype=bool)
    dropped[reason] += int(mask.sum())
    return table[~mask]


def _match_drug_names(
    table: pd.DataFrame, smiles: dict[str, str]
) -> tuple[pd.DataFrame, dict[str, str]]:
    """``table`` with drug names the drug table spells differently replaced by its spelling
    (matched by :func:`name_key`), and those replacements (name -> the drug table's)."""
    by_key: dict[str, str] = {}
    for name in smiles:
        by_key.setdefault(name_key(name), name)
    names = pd.unique(pd.concat([table["drug_a"], table["drug_b"]]).astype(str))
    renames = {n: by_key[name_key(n)] for n in names if n not in smiles and name_key(n) in by_key}
    table = table.assign(
        drug_a=table["drug_a"].astype(str).replace(renames),
        drug_b=table["drug_b"].astype(str).replace(renames),
    )
    return table, renames


def _with_single_agents(
    screen: Screen,
    rows: pd.DataFrame,
    aggregate: Aggregate,
    renames: dict[str, str],
    path: Path,
) -> Screen:
    """``screen`` with the single-agent responses its export carries in each row
    (:attr:`Aggregate.single_agent`: DrugComb's ``ri_row, ri_col``, else ``ic50_row,
    ic50_col``), unchanged without them.

    One kind of value is read, the first in the order of preference with a usable value
    (finite; a concentration > 0) for a drug and a line of the screen: relative inhibition
    and IC50 are not on one scale. Each (drug, line) gets the median over the rows (blocks,
    single-drug rows included) that hold it: per-block values of one drug scatter, and an
    unusable cell is left out rather than refused, as for the export's scores.
    """
    line_column = aggregate.columns["cell_line"]
    for kind, value_columns in aggregate.single_agent.items():
        sides = [
            (aggregate.columns[side], column)
            for side, column in zip(("drug_a", "drug_b"), value_columns, strict=True)
            if column in rows.columns
        ]
        if not sides or line_column not in rows.columns:
            continue
        long = pd.concat(
            pd.DataFrame(
                {
                    "drug": rows[drug].astype("string").str.strip().replace(renames),
                    "cell_line": rows[line_column].astype("string").str.strip(),
                    kind: pd.to_numeric(rows[value], errors="coerce"),
                }
            )
            for drug, value in sides
        )
        values = long[kind].to_numpy(dtype=float)
        usable = np.isfinite(values) & (values > 0 if known_column(kind)[1] == "log10" else True)
        usable &= long["drug"].isin(screen.drugs).to_numpy(dtype=bool)
        usable &= long["cell_line"].isin(screen.cell_lines).to_numpy(dtype=bool)
        if not usable.any():
            continue
        medians = long[usable].groupby(["drug", "cell_line"])[kind].median().reset_index()
        source = f"{path} ({', '.join(column for _, column in sides)}: median over rows)"
        tidy, info = monotherapy_from_frame(medians, source, kind)
        return screen_with_monotherapy(screen, tidy, info)
    return screen
