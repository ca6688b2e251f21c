"""Where a screen comes from and how it is split: :func:`load_screen` and :class:`DataConfig`
(the ``data`` section of a run's config, and the command line's data options)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

import pandas as pd

from ..errors import DataError, OptionError
from ..options import check_range, check_types, typed_fields
from .aggregates import AGGREGATES, load_aggregate
from .builtin import aggregate_file, load_almanac, load_oneil
from .demo import make_demo_screen
from .monotherapy import SingleAgentTable, single_agent_table
from .monotherapy_join import attach_monotherapy, screen_with_monotherapy
from .screen import Screen
from .splits import SPLIT_KINDS, Split, split_screen
from .tables import check_cell_lines_known, check_column_map, read_cell_features
from .user import load_user_screen

BUILT_IN = ("demo", "oneil", "almanac")
"""The screens that bring their own drug and cell-line tables and columns."""


def check_source_options(
    source: str,
    drugs: str | Path | None = None,
    cell_features: str | Path | None = None,
    column_map: Mapping[str, str] | None = None,
) -> None:
    """Raise :class:`OptionError` for a table option that ``source`` would ignore: the
    built-in screens have their own drug and cell-line tables and columns, and an aggregate
    is read in its native layout (its score is ``score``'s)."""
    kind = source.partition(":")[0]
    if source in BUILT_IN:
        for name, value in (
            ("drugs", drugs),
            ("cell_features", cell_features),
            ("columns", column_map),
        ):
            if value:
                raise OptionError(
                    f"{name} is for a table of your own (data PATH); data {source} brings its "
                    "own drug and cell-line tables and column names. Drop it.",
                    parameter=(name, "data"),
                )
    elif kind in AGGREGATES and column_map:
        scores = AGGREGATES[kind].scores
        native = {column: name for name, column in scores.items()}
        wanted = native.get(str(column_map.get("score")))
        hint = f" (score {wanted})" if wanted else ""
        raise OptionError(
            f"columns maps a plain table's column names; data {kind}:PATH is read in its "
            f"native layout, and score picks one of its scores{hint}: {list(scores)}.",
            parameter=("columns", "data", "score"),
        )


def check_fit_data(screen, split=None) -> None:
    """Raise :class:`OptionError` unless ``screen`` is a :class:`Screen` and ``split`` a
    :class:`Split` or None (the data arguments of ``SynergyBNN.fit``)."""
    if not isinstance(screen, Screen):
        how = ""
        if isinstance(screen, pd.DataFrame):
            how = " made from the table with screen_from_frame(table, smiles) (or load_screen)"
        raise OptionError(f"screen must be a Screen{how}, not {type(screen).__name__}.")
    if split is not None and not isinstance(split, Split):
        raise OptionError(
            f"split must be a Split (split_screen(screen.table, ...)) or None, not "
            f"{type(split).__name__}."
        )


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
    score: str | None = None,
    study: str | None = None,
    monotherapy: str | Path | SingleAgentTable | None = None,
) -> Screen:
    """Load ``demo``, ``oneil``, ``almanac``, an aggregate or a path to a user's table.

    Parameters
    ----------
    source : str
        ``demo`` (:func:`make_demo_screen`), ``oneil`` or ``almanac`` (built-in screens in
        ``data_dir``), ``drugcomb:PATH`` or ``drugcombdb:PATH`` (an aggregate's export in its
        native layout, :func:`load_aggregate`; without ``:PATH`` the downloaded copy in
        ``data_dir``) or the path of a user's table (:func:`load_user_screen`).
    data_dir : str or Path, optional
        Where the built-in screens are; see :func:`resolve_data_dir`.
    drugs, cell_features, column_map
        A user's drug table, cell-line feature table and column mapping. An aggregate takes
        ``drugs`` (its drug table) and ``cell_features``, not ``column_map``; a built-in
        screen takes none of them (:func:`check_source_options`).
    cell_line : str, optional
        Keep only that cell line's rows (comma-separate several).
    seed : int
        The demo's seed.
    keep_fold : bool
        Keep a table's ``fold`` column (a ``fold`` split needs it, other splits ignore it).
    score : str, optional
        The score to fit: an aggregate's score name (``zip``, ``loewe`` ...) or a user
        table's column (the same as ``column_map={"score": ...}``).
    study : str, optional
        Keep one study of a DrugComb export.
    monotherapy : SingleAgentTable, str or Path, optional
        A table of single-agent responses (``drug, cell_line`` and a value column) for
        :attr:`Screen.monotherapy`: a :class:`~.monotherapy.SingleAgentTable` (with its
        value column and direction), or a path where the column's name says both. It is
        checked against the whole screen before ``cell_line`` keeps some of its lines
        (:func:`~.monotherapy_join.attach_monotherapy`), and replaces the one a DrugComb
        export brings in its ``ri_row, ri_col`` columns.
    """
    kind, _, path = source.partition(":")
    check_source_options(source, drugs, cell_features, column_map)
    monotherapy = single_agent_table(monotherapy)
    if kind not in AGGREGATES and study is not None:
        raise OptionError(
            f"study keeps one study of a DrugComb export (drugcomb:PATH), not of {source}.",
            parameter="study",
        )
    if kind not in AGGREGATES and score is not None:
        if source in ("demo", "oneil", "almanac"):
            raise OptionError(
                f"score picks a user table's column or one of an aggregate's scores; {source} "
                "has its own.",
                parameter="score",
            )
        if "score" in (column_map or {}) and column_map["score"] != score:
            raise OptionError(
                f"score {score} and column_map score={column_map['score']} disagree; give one.",
                parameter=("score", "column_map"),
            )
        column_map = {**(column_map or {}), "score": score}
    if kind in AGGREGATES:
        table = path or aggregate_file(kind, data_dir)
        screen = load_aggregate(kind, table, drugs, score, study)
        if cell_features is not None:  # an aggregate has none of its own
            screen = replace(screen, cell_features=read_cell_features(cell_features))
            check_cell_lines_known(screen, str(cell_features))
    elif source == "demo":
        screen = make_demo_screen(seed=seed)
    elif source == "oneil":
        screen = load_oneil(data_dir, keep_fold)
    elif source == "almanac":
        screen = load_almanac(data_dir)
    else:
        screen = load_user_screen(source, drugs, cell_features, column_map, keep_fold)
    if monotherapy is not None:
        screen = attach_monotherapy(screen, monotherapy)
    if cell_line:
        wanted = [c.strip() for c in cell_line.split(",")]
        unknown = [c for c in wanted if c not in screen.cell_lines]
        if unknown:
            raise DataError(
                f"{source}: cell line(s) {unknown} not in the screen; it has "
                f"{screen.cell_lines[:20]}{' ...' if len(screen.cell_lines) > 20 else ''}"
            )
        screen = screen.subset(screen.table["cell_line"].isin(wanted))
        if screen.monotherapy is not None:  # its coverage of the lines kept
            screen = screen_with_monotherapy(screen, screen.monotherapy, screen.monotherapy_info)
    return screen


@dataclass
class DataConfig:
    """Where a screen comes from and how it is split; saved in the run's config.

    The fields are the command line's data options (``--data``, ``--split`` ...); see
    :func:`load_screen` and :func:`split_screen`.
    """

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
    val_fraction: float | None = None
    """None: :func:`~.splits.default_val_fraction` of the rows left after the test part."""
    score: str | None = None
    study: str | None = None
    monotherapy: str | None = None
    monotherapy_column: str | None = None
    monotherapy_direction: str | None = None

    def __post_init__(self) -> None:
        check_types(self, "DataConfig")
        self.check()

    @classmethod
    def from_dict(cls, values: dict, section: str = "data") -> DataConfig:
        """A config from a mapping (config file, saved run); keys and types are checked."""
        return cls(**typed_fields(cls, values, section))

    def check(self) -> None:
        """Raise :class:`OptionError` naming the option if a value is outside its range."""
        if not self.data.strip():
            raise OptionError(
                "data is empty; give demo, oneil, almanac or a table's path.", parameter="data"
            )
        if self.split not in SPLIT_KINDS:
            raise OptionError(
                f"split '{self.split}' is not one of {list(SPLIT_KINDS)}.", parameter="split"
            )
        check_column_map(self.columns)
        check_source_options(self.data, self.drugs, self.cell_features, self.columns)
        self.monotherapy_table()
        check_range("test_fraction", self.test_fraction, 0, 1, low_open=True, high_open=True)
        if self.val_fraction is not None:  # None: a share of the rest that leaves rows
            check_range("val_fraction", self.val_fraction, 0, 1, high_open=True)
            if self.test_fraction + self.val_fraction >= 1:
                raise OptionError(
                    f"test_fraction {self.test_fraction} + val_fraction {self.val_fraction} "
                    "leave nothing to train on; lower them.",
                    parameter=("test_fraction", "val_fraction"),
                )
        check_range("split_seed", self.split_seed, 0)
        if self.split == "fold" and self.test_fold is None:
            raise OptionError(
                "split fold needs test_fold K (the fold held out as test).",
                parameter=("split", "test_fold"),
            )

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
            score=self.score,
            study=self.study,
            monotherapy=self.monotherapy_table(),
        )

    def monotherapy_table(self) -> SingleAgentTable | None:
        """The single-agent table of ``monotherapy``, ``monotherapy_column`` and
        ``monotherapy_direction`` (:func:`~.monotherapy.single_agent_table`), None without one."""
        return single_agent_table(
            self.monotherapy, self.monotherapy_column, self.monotherapy_direction
        )

    def split_of(self, screen: Screen) -> Split:
        """The split of ``screen``'s rows these options describe."""
        return split_screen(
            screen.table,
            self.split,
            seed=self.split_seed,
            test_fold=self.test_fold,
            test_fraction=self.test_fraction,
            val_fraction=self.val_fraction,
        )
