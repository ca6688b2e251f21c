"""Normalised wells -> synergy scores per combination dose pair and per block.

:func:`score_doses` averages replicate wells and, at every combination dose pair of a block,
takes the excess ``observed - expected`` over each reference model of :mod:`.reference`;
:func:`score_blocks` summarises it per block (mean and max over the dose grid);
:func:`score_wells` is the whole path from a file (read, validate, score) to the table
``synergy-ppl fit --data`` reads.
"""

from collections.abc import Sequence
from os import PathLike
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import OptionError
from ..outputs import check_file, prepare_file, write_output
from .layouts import _naming_source, read_wells
from .reference import (
    MODELS,
    bliss_expected,
    fit_hill,
    hsa_expected,
    loewe_expected,
    zip_delta,
)
from .wells import WELL_COLUMNS, DoseResponseError, _listed, validate_wells


def score_doses(wells: pd.DataFrame, models: Sequence[str] = MODELS) -> pd.DataFrame:
    """Excess over each reference model at every combination dose pair.

    Replicate wells (same block and dose pair) are averaged first.

    Parameters
    ----------
    wells
        Normalised wells from :func:`read_wells`; validated with :func:`validate_wells`.
    models
        Subset of :data:`MODELS` to compute (Loewe and ZIP need Hill fits and are the slow part).

    Returns
    -------
    pandas.DataFrame
        One row per combination dose pair of each block: ``block_id, drug_a, drug_b, cell_line,
        dose_a, dose_b, response`` (mean % inhibition), ``n_replicates``, ``effect_a, effect_b``
        (mean single-agent % inhibition at the same doses) and one column per model with the
        excess ``response - expected`` (ZIP: delta) in percentage points; all finite.

    Raises
    ------
    DoseResponseError
        From :func:`validate_wells`; when a block's Hill fits fail; or when a score is not
        finite (never handed on silently).
    synergy_ppl.errors.OptionError
        For a model not in :data:`MODELS`.
    """
    unknown = set(models) - set(MODELS)
    if unknown:
        raise OptionError(f"unknown models {sorted(unknown)}; choose from {MODELS}")
    validate_wells(wells)
    means = (
        wells.groupby(list(WELL_COLUMNS[:-1]), sort=False)["response"]
        .agg(response="mean", n_replicates="size")
        .reset_index()
    )
    dose_a, dose_b = means["dose_a"], means["dose_b"]
    alone_a = means.loc[(dose_b == 0) & (dose_a > 0), ["block_id", "dose_a", "response"]]
    alone_b = means.loc[(dose_a == 0) & (dose_b > 0), ["block_id", "dose_b", "response"]]
    combos = (
        means[(dose_a > 0) & (dose_b > 0)]
        .merge(alone_a.rename(columns={"response": "effect_a"}), on=["block_id", "dose_a"])
        .merge(alone_b.rename(columns={"response": "effect_b"}), on=["block_id", "dose_b"])
    )
    observed, effect_a, effect_b = combos["response"], combos["effect_a"], combos["effect_b"]
    if "bliss" in models:
        combos["bliss"] = observed - bliss_expected(effect_a, effect_b)
    if "hsa" in models:
        combos["hsa"] = observed - hsa_expected(effect_a, effect_b)
    fitted = [model for model in ("loewe", "zip") if model in models]
    if fitted:
        blocks = means.groupby("block_id", sort=False)
        scores = [
            _hill_model_scores(blocks.get_group(block_id), combo, fitted)
            for block_id, combo in combos.groupby("block_id", sort=False)
        ]
        combos = combos.join(pd.concat(scores))
    _check_finite(combos, list(models), "dose pairs")
    return combos


def _check_finite(scores: pd.DataFrame, columns: list[str], what: str) -> None:
    """Refuse to hand on a non-finite score: it would be written out as an empty or inf synergy."""
    finite = np.isfinite(scores[columns].to_numpy(float))
    if not finite.all():
        bad = ~finite.all(axis=1)
        blocks = _listed([repr(b) for b in scores.loc[bad, "block_id"].drop_duplicates()])
        models = [c for c, ok in zip(columns, finite.all(axis=0), strict=True) if not ok]
        raise DoseResponseError(
            f"{int(bad.sum())} {what} of blocks {blocks} get non-finite {models} scores; "
            "check those blocks' doses (one unit, no extreme values) and responses, or leave "
            "them out"
        )


def _hill_model_scores(
    block: pd.DataFrame, combo: pd.DataFrame, models: Sequence[str]
) -> pd.DataFrame:
    """Loewe excess and ZIP delta of one block's combination wells (``combo``'s index kept).

    The single-drug Hill fits use the rows with the other dose 0, so a measured untreated
    control (dose 0, 0) pins the bottom of both curves.
    """
    alone_a, alone_b = block[block["dose_b"] == 0], block[block["dose_a"] == 0]
    try:
        curve_a = fit_hill(alone_a["dose_a"], alone_a["response"])
        curve_b = fit_hill(alone_b["dose_b"], alone_b["response"])
    except (RuntimeError, ValueError) as err:  # scipy: no convergence, or non-finite residuals
        raise DoseResponseError(
            f"block {block['block_id'].iloc[0]!r}: the single-drug Hill fits for Loewe and ZIP "
            f"failed ({' '.join(str(err).split())}); check the block's doses and responses, or "
            "leave the block out"
        ) from err
    dose_a, dose_b = combo["dose_a"].to_numpy(), combo["dose_b"].to_numpy()
    observed = combo["response"].to_numpy()
    scores = pd.DataFrame(index=combo.index)
    if "loewe" in models:
        scores["loewe"] = observed - loewe_expected(dose_a, dose_b, curve_a, curve_b)
    if "zip" in models:
        scores["zip"] = zip_delta(dose_a, dose_b, observed, curve_a, curve_b)
    return scores


def score_blocks(wells: pd.DataFrame, models: Sequence[str] = MODELS) -> pd.DataFrame:
    """Block-level synergy scores: mean and max excess over the combination doses.

    Parameters
    ----------
    wells
        Normalised wells from :func:`read_wells`.
    models
        Subset of :data:`MODELS` to compute.

    Returns
    -------
    pandas.DataFrame
        One row per block, in input order: ``drug_a, drug_b, cell_line, block_id, n_wells``
        (all wells of the block, replicates and single agents included) and, per model,
        ``<model>_mean`` and ``<model>_max`` in percentage points of inhibition
        (positive = synergy); all finite.

    Raises
    ------
    DoseResponseError, synergy_ppl.errors.OptionError
        As :func:`score_doses`.
    """
    doses = score_doses(wells, models)
    scores = doses.groupby("block_id", sort=False)[list(models)].agg(["mean", "max"])
    scores.columns = [f"{model}_{stat}" for model, stat in scores.columns]
    n_wells = wells.groupby("block_id", sort=False).size().rename("n_wells")
    names = doses.groupby("block_id", sort=False)[["drug_a", "drug_b", "cell_line"]].first()
    table = names.join(n_wells).join(scores).reset_index()
    _check_finite(table, list(scores.columns), "block summaries")
    return table[["drug_a", "drug_b", "cell_line", "block_id", "n_wells", *scores.columns]]


def score_wells(
    path_or_df: str | PathLike | pd.DataFrame,
    response: str | None = None,
    score: str = "bliss_max",
) -> pd.DataFrame:
    """Read, validate and score dose-response wells into a synergy table.

    Parameters
    ----------
    path_or_df, response
        As in :func:`read_wells`.
    score
        Column of :func:`score_blocks` copied to ``synergy``, e.g. ``"bliss_max"``,
        ``"loewe_mean"`` or ``"zip_mean"``.

    Returns
    -------
    pandas.DataFrame
        ``drug_a, drug_b, cell_line, synergy`` followed by the other :func:`score_blocks`
        columns; one row per block, ready for ``synergy-ppl fit --data``. Every score is finite.

    Raises
    ------
    DoseResponseError
        A :class:`~synergy_ppl.errors.DataError` whose message starts with the file name, for
        any well table that cannot be scored (see :func:`read_wells` and :func:`score_doses`).
    synergy_ppl.errors.DataError
        From :func:`~synergy_ppl.data.read_table`, for a missing or unreadable file.
    synergy_ppl.errors.OptionError
        For a ``score`` outside the choices (a bad ``response`` is a DoseResponseError).
    """
    choices = [f"{model}_{stat}" for model in MODELS for stat in ("mean", "max")]
    if score not in choices:
        raise OptionError(f"score must be one of {choices}, got {score!r}", parameter="score")
    wells = read_wells(path_or_df, response)
    with _naming_source(path_or_df):
        table = score_blocks(wells)
    table.insert(3, "synergy", table[score])
    return table


def score_file(
    wells: str | PathLike,
    *,
    out: str | PathLike | None = None,
    overwrite: bool = False,
    response: str | None = None,
    score: str = "bliss_max",
) -> tuple[pd.DataFrame, Path]:
    """:func:`score_wells` of a wells file, written to ``out`` (default
    ``<wells>_scores.csv`` beside it), a table ``synergy-ppl fit --data`` reads. Returns
    (scores, out); the output path is checked before any work."""
    wells = Path(wells)
    out = Path(out) if out is not None else wells.with_name(wells.stem + "_scores.csv")
    check_file(out, overwrite)
    scores = score_wells(wells, response=response, score=score)
    write_output(prepare_file(out, overwrite), lambda tmp: scores.to_csv(tmp, index=False))
    return scores, out
