"""Single-agent tables joined to what uses them: a screen (:func:`attach_monotherapy`), a
second table (:func:`merge_monotherapy`, at prediction), a feature matrix
(:func:`monotherapy_grid`). The tables are the tidy ``drug, cell_line, value`` frames that
:mod:`.monotherapy` reads, higher = more active."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import DataError
from .monotherapy import (
    SAME,
    SingleAgentTable,
    monotherapy_from_frame,
    normalise_name,
    single_agent_table,
)
from .screen import Screen


def known_names(screen: Screen) -> tuple[set[str], set[str]]:
    """The drugs and cell lines a single-agent table of ``screen`` may name: those of its
    rows, its drug table (SMILES or features) and its cell-line table."""
    drugs = set(screen.drugs) | set(screen.smiles)
    if screen.drug_features is not None:
        drugs |= set(screen.drug_features.index.astype(str))
    lines = set(screen.cell_lines)
    if screen.cell_features is not None:
        lines |= set(screen.cell_features.index.astype(str))
    return drugs, lines


def attach_monotherapy(
    screen: Screen,
    monotherapy: SingleAgentTable | pd.DataFrame | str | Path,
    column: str | None = None,
    direction: str | None = None,
    source: str | None = None,
) -> Screen:
    """``screen`` with its single-agent table (:attr:`Screen.monotherapy`), checked.

    ``monotherapy`` is a :class:`~.monotherapy.SingleAgentTable`, a table's path (read with
    ``column`` and ``direction``, :func:`~.monotherapy.single_agent_table`) or a frame as
    :func:`monotherapy_from_frame` takes it (with them and ``source``). Its names must be
    known to the screen (:func:`known_names`), and at least one entry must be for a drug and a
    line of the screen's rows; the entries it lacks stay missing. The screen's ``report``
    gains a ``monotherapy`` summary.
    """
    drugs, lines = known_names(screen)
    if isinstance(monotherapy, SingleAgentTable | str | Path):
        table = single_agent_table(monotherapy, column, direction)
        tidy, info = table.read(drugs=drugs, cell_lines=lines)
    else:
        tidy, info = monotherapy_from_frame(
            monotherapy,
            source or f"{screen.name} (monotherapy)",
            column,
            direction,
            drugs=drugs,
            cell_lines=lines,
        )
    return screen_with_monotherapy(screen, tidy, info)


def screen_with_monotherapy(screen: Screen, tidy: pd.DataFrame, info: Mapping) -> Screen:
    """``screen`` holding the checked tidy table ``tidy`` and its metadata ``info``; an error
    if no entry is for a drug and a line of the screen's rows."""
    covered = tidy["drug"].isin(screen.drugs) & tidy["cell_line"].isin(screen.cell_lines)
    if not covered.any():
        raise DataError(
            f"{info['source']}: none of its {len(tidy)} single-agent value(s) is for a drug and a "
            f"cell line of the screen's rows ({len(screen.drugs)} drugs, "
            f"{len(screen.cell_lines)} lines); check that the table belongs to this screen."
        )
    summary = {
        **info,
        "entries": int(covered.sum()),
        "of_entries": len(screen.drugs) * len(screen.cell_lines),
        "drugs": int(tidy.loc[covered, "drug"].nunique()),
        "cell_lines": int(tidy.loc[covered, "cell_line"].nunique()),
    }
    report = {**screen.report, "monotherapy": summary}
    return replace(screen, monotherapy=tidy, monotherapy_info=dict(info), report=report)


def merge_monotherapy(
    first: pd.DataFrame, second: pd.DataFrame, sources: tuple[str, str]
) -> pd.DataFrame:
    """The tidy tables ``first`` and ``second`` together; an entry in both with different
    values is an error naming both sources (one in both with the same value is kept once)."""
    both = first.merge(second, on=["drug", "cell_line"], suffixes=("_a", "_b"))
    differ = ~np.isclose(both["value_a"].to_numpy(), both["value_b"].to_numpy(), **SAME)
    if differ.any():
        row = both[differ].iloc[0]
        raise DataError(
            f"{sources[1]}: drug '{row['drug']}' in cell line '{row['cell_line']}' has the "
            f"single-agent value {row['value_b']:g} (oriented, higher = more active), and "
            f"{sources[0]} has {row['value_a']:g} ({int(differ.sum())} such entries); remove "
            "the row or correct it."
        )
    merged = pd.concat([first, second], ignore_index=True)
    merged = merged.drop_duplicates(["drug", "cell_line"])
    return merged.sort_values(["drug", "cell_line"]).reset_index(drop=True)


def same_kind(fitted: Mapping, given: Mapping, source: str) -> None:
    """Raise unless a table (metadata ``given``) holds the kind of value the fit used
    (``fitted``): the same column name, direction and transform."""
    keys = ("direction", "transform")
    if normalise_name(fitted["column"]) != normalise_name(given["column"]) or any(
        fitted[k] != given[k] for k in keys
    ):
        raise DataError(
            f"{source}: its single-agent values are '{given['column']}' ({given['direction']} = "
            f"more active), and the model was fitted on '{fitted['column']}' "
            f"({fitted['direction']} = more active); give a table of '{fitted['column']}' values."
        )


def monotherapy_grid(tidy: pd.DataFrame, drugs: list[str], cell_lines: list[str]) -> np.ndarray:
    """``tidy``'s values as a ``(len(drugs), len(cell_lines))`` float64 matrix, NaN where it
    has no entry; entries of other drugs or lines are left out."""
    grid = np.full((len(drugs), len(cell_lines)), np.nan)
    row = {d: i for i, d in enumerate(drugs)}
    col = {c: j for j, c in enumerate(cell_lines)}
    inside = tidy["drug"].isin(row) & tidy["cell_line"].isin(col)
    part = tidy[inside]
    grid[part["drug"].map(row).to_numpy(int), part["cell_line"].map(col).to_numpy(int)] = part[
        "value"
    ].to_numpy(dtype=float)
    return grid


def standardised_grid(
    tidy: pd.DataFrame,
    drugs: list[str],
    cell_lines: list[str],
    scaling: Mapping | None = None,
) -> tuple[np.ndarray, dict]:
    """``tidy``'s values as z-scores, a ``(len(drugs), len(cell_lines))`` float64 matrix with
    NaN where it has no entry, and the ``{"mean", "sd"}`` used.

    Without ``scaling`` the mean and SD are those of the matrix's observed entries (an SD of
    0, one entry or all equal, counts as 1); with it (a fit's), new values are put on the
    fit's scale.
    """
    grid = monotherapy_grid(tidy, drugs, cell_lines)
    if scaling is None:
        observed = grid[np.isfinite(grid)]
        if not observed.size:
            raise DataError(
                "the single-agent table has no value for any drug and cell line of the screen; "
                "check that it belongs to this screen."
            )
        sd = float(observed.std())
        scaling = {"mean": float(observed.mean()), "sd": sd if sd > 0 else 1.0}
    return (grid - scaling["mean"]) / scaling["sd"], {"mean": scaling["mean"], "sd": scaling["sd"]}
