"""Train / validation / test splits of a screen's rows, without leakage between the parts."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import DataError, OptionError
from ..options import check_range

SPLIT_KINDS = ("random", "pair", "drug", "one-hidden-drug", "cell-line", "fold")
"""The kinds of split :func:`split_screen` draws."""
VAL_FRACTION = 0.1
"""The share of the rows left after the test part that validation holds out by default ..."""
MIN_VAL_ROWS = 300
"""... raised towards this many rows on a small screen ..."""
MAX_VAL_FRACTION = 0.25
"""... but never above this share (:func:`default_val_fraction`)."""


def default_val_fraction(n_rest: int) -> float:
    """The validation share of ``n_rest`` rows when none is given:

        min(MAX_VAL_FRACTION, max(VAL_FRACTION, MIN_VAL_ROWS / n_rest)).

    The validation rows choose the epoch that early stopping keeps and the factor that
    calibrates the noise (:mod:`~synergy_ppl.inference.calibration`); on a hundred rows that
    factor wanders by a fifth either way from the one the test rows would choose. The fit is
    refitted on training and validation rows afterwards, so the rows are not lost to it.
    """
    return min(MAX_VAL_FRACTION, max(VAL_FRACTION, MIN_VAL_ROWS / max(n_rest, 1)))


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


def _held_out_mask(
    table: pd.DataFrame, kind: str, fraction: float, rng: np.random.Generator
) -> np.ndarray:
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
    val_fraction: float | None = None,
    test_fold: int | None = None,
) -> Split:
    """Split a screen's rows into train / validation / test without leakage.

    Parameters
    ----------
    table : DataFrame
        A screen's table (:attr:`Screen.table`, pairs in canonical order).
    kind : str
        One of :data:`SPLIT_KINDS`:

        - ``random``: triples at random;
        - ``pair``: by unordered drug pair (a pair is never in two parts);
        - ``drug``: test drugs never occur in training (every row with a test drug is held
          out);
        - ``one-hidden-drug``: test rows have exactly one unseen drug; rows with two unseen
          drugs are dropped and counted in ``Split.dropped``;
        - ``cell-line``: whole cell lines held out;
        - ``fold``: the table's ``fold`` column, ``fold == test_fold`` is the test part (the
          O'Neil published folds are leave-combination-out).
    seed : int
        The split seed; only it decides the parts, so the test part does not change with the
        model seed.
    test_fraction, val_fraction : float
        Shares held out as test and then, from what remains, as validation (by pair for
        ``fold`` and ``one-hidden-drug``, by the same kind otherwise); ``val_fraction=0``
        means no validation part (no early stopping), None (default) a tenth of the rest,
        raised to hold out :data:`MIN_VAL_ROWS` rows, at most a quarter
        (:func:`default_val_fraction`).
    test_fold : int, optional
        The fold held out as test; ``fold`` needs it.

    Returns
    -------
    Split
    """
    if kind not in SPLIT_KINDS:
        raise OptionError(f"unknown split '{kind}'; choose one of {SPLIT_KINDS}")
    check_range("test_fraction", test_fraction, 0, 1, low_open=True, high_open=True)
    if val_fraction is not None:
        check_range("val_fraction", val_fraction, 0, 1, high_open=True)
    rng = np.random.default_rng(seed)
    n = len(table)
    if kind == "fold":
        if "fold" not in table.columns:
            raise DataError(
                "split 'fold' needs a fold column in the table (column_map fold=...).",
                parameter="column_map",
            )
        if test_fold is None:
            raise DataError("split 'fold' needs test_fold K.", parameter="test_fold")
        folds = sorted(pd.unique(table["fold"]))
        if test_fold not in folds:
            raise DataError(
                f"test_fold {test_fold} is not a fold of this table; folds: {folds}",
                parameter="test_fold",
            )
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
    if val_fraction is None:
        val_fraction = default_val_fraction(len(rest))
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
