"""A user's screen, from tables in memory (:func:`screen_from_frame`) or from files
(:func:`load_user_screen`, which reads the files and then takes the same path)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from ..errors import DataError, OptionError
from .monotherapy import SingleAgentTable, single_agent_table
from .monotherapy_join import attach_monotherapy
from .screen import Screen
from .tables import (
    assemble_screen,
    check_cell_features,
    detect_columns,
    read_cell_features,
    read_smiles,
    read_table,
    smiles_from_table,
    standardise_table,
)


def screen_from_frame(
    table: pd.DataFrame,
    smiles: Mapping[str, str] | pd.DataFrame,
    cell_features: pd.DataFrame | None = None,
    columns: Mapping[str, str] | None = None,
    name: str = "screen",
    *,
    keep_fold: bool = True,
    monotherapy: pd.DataFrame | str | Path | SingleAgentTable | None = None,
    monotherapy_column: str | None = None,
    monotherapy_direction: str | None = None,
) -> Screen:
    """A checked :class:`Screen` from a combination table already in memory.

    The table passes every check a table read from a file does: its columns are mapped and
    the mapping checked, names stripped, scores must be finite and within
    :data:`~synergy_ppl.data.tables.MAX_ABS_SCORE`, replicates (the same pair in either order
    and cell line) are averaged, every drug needs a SMILES and every cell line a feature row.
    SMILES are parsed later, when the screen is featurised.

    Parameters
    ----------
    table : DataFrame
        One row per measurement: two drugs, a cell line and a synergy score (and optionally
        a ``fold``). Names may be strings or numbers (they become strings).
    smiles : mapping or DataFrame
        Drug name -> SMILES, or a drug table with columns ``drug`` and ``smiles`` (a drug
        listed twice with different SMILES is an error). Drugs not in ``table`` are kept,
        so that they can be ranked later.
    cell_features : DataFrame, optional
        Numeric cell-line features, one row per cell line, indexed by cell-line name; it
        must cover every cell line of ``table``. ``None`` means one-hot cell lines.
    columns : mapping, optional
        Canonical name (``drug_a``, ``drug_b``, ``cell_line``, ``score``, ``fold``) -> the
        column of ``table`` that holds it; unmapped names default to ``drug_a``, ``drug_b``,
        ``cell_line``, ``synergy`` (or ``score``) and ``fold``.
    name : str
        The screen's name, also what error messages name.
    keep_fold : bool
        Keep (and check) the ``fold`` column; only a ``fold`` split needs it.
    monotherapy : DataFrame, path or SingleAgentTable, optional
        Single-agent responses: ``drug``, ``cell_line`` and one value column, one row per
        (drug, line) measured alone (:mod:`~synergy_ppl.data.monotherapy`); they become
        :attr:`Screen.monotherapy`, higher = more active. Its names must be drugs of the
        table or of ``smiles`` and lines of the table or of ``cell_features``.
    monotherapy_column, monotherapy_direction : str, optional
        The value column, and ``higher`` or ``lower`` (= more active), where the column's
        name does not say; for a frame or a path (a :class:`SingleAgentTable` carries its
        own).

    Returns
    -------
    Screen
        One row per unordered (pair, cell line), ``drug_a <= drug_b``.

    Raises
    ------
    DataError
        A missing or empty column, a non-numeric, NaN, infinite or extreme score, a drug
        without SMILES, conflicting SMILES, a non-numeric or repeated cell-line row or a
        cell line without one.
    OptionError
        ``columns`` with an unknown key or a column mapped twice, or an argument of the
        wrong type.

    Examples
    --------
    >>> import pandas as pd
    >>> table = pd.DataFrame(
    ...     {
    ...         "drug_a": ["ethanol", "acetic acid", "benzene"],
    ...         "drug_b": ["acetic acid", "ethanol", "ethanol"],
    ...         "cell_line": ["MCF7", "MCF7", "MCF7"],
    ...         "synergy": [4.0, 6.0, -2.5],
    ...     }
    ... )
    >>> smiles = {"ethanol": "CCO", "acetic acid": "CC(=O)O", "benzene": "c1ccccc1"}
    >>> screen = screen_from_frame(table, smiles, name="my screen")
    >>> screen.drugs
    ['acetic acid', 'benzene', 'ethanol']
    >>> screen.table
            drug_a   drug_b cell_line  score  n_replicates
    0  acetic acid  ethanol      MCF7    5.0             2
    1      benzene  ethanol      MCF7   -2.5             1
    """
    if not isinstance(table, pd.DataFrame):
        raise OptionError(f"{name}: table must be a pandas DataFrame, not {type(table).__name__}.")
    if isinstance(smiles, Mapping | pd.Series):
        smiles = pd.DataFrame(list(smiles.items()), columns=["drug", "smiles"], dtype=object)
    elif not isinstance(smiles, pd.DataFrame):
        raise OptionError(
            f"{name}: smiles must be a mapping drug -> SMILES or a DataFrame with columns "
            f"drug,smiles, not {type(smiles).__name__}."
        )
    if cell_features is not None and not isinstance(cell_features, pd.DataFrame):
        raise OptionError(
            f"{name}: cell_features must be a DataFrame indexed by cell line, not "
            f"{type(cell_features).__name__}."
        )
    standard = standardise_table(table, columns, name, keep_fold)
    known = smiles_from_table(smiles, f"{name} (drug table)")
    if cell_features is not None:
        cell_features = check_cell_features(cell_features, f"{name} (cell-line table)")
    screen = assemble_screen(standard, known, cell_features, name, name)
    screen.report = {"score_column": detect_columns(table.columns, columns)["score"]}
    if monotherapy is None:
        # refuses a column or direction given without a table
        single_agent_table(None, monotherapy_column, monotherapy_direction)
        return screen
    return attach_monotherapy(
        screen, monotherapy, monotherapy_column, monotherapy_direction, f"{name} (monotherapy)"
    )


def load_user_screen(
    path: str | Path,
    drugs: str | Path | None = None,
    cell_features: str | Path | None = None,
    column_map: Mapping[str, str] | None = None,
    keep_fold: bool = True,
) -> Screen:
    """A user's combination table plus a drug table and optional cell-line features.

    The files are read (CSV, TSV or Parquet, names as written) and handed to
    :func:`screen_from_frame`, so a screen from files and one from memory pass the same
    checks; errors name the file.

    Parameters
    ----------
    path : str or Path
        The combination table.
    drugs : str or Path
        The drug table, columns ``drug`` and ``smiles`` (required).
    cell_features : str or Path, optional
        The cell-line name in the first column, then one numeric column per feature.
    column_map : mapping, optional
        As ``columns`` of :func:`screen_from_frame`.
    keep_fold : bool
        Keep (and check) the ``fold`` column.
    """
    if drugs is None:
        raise DataError(
            f"{path}: a user table needs a drug table with SMILES: pass drugs PATH "
            "(columns drug,smiles).",
            parameter="drugs",
        )
    raw = read_table(path, text=True)
    smiles = read_smiles(drugs)
    cell = None if cell_features is None else read_cell_features(cell_features)
    return screen_from_frame(raw, smiles, cell, column_map, str(path), keep_fold=keep_fold)
