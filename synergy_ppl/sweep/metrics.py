"""The metrics a sweep's trials report: which dotted names ``fit`` and ``simulate`` write, why a
name is not one of them, and how a trial's metric is read from what its run returned."""

from __future__ import annotations

import difflib
import functools
from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd
import torch

from ..active import STRATEGIES, Pool, round_record, summarise_runs
from ..inference.metrics import regression_metrics

FIT_PARTS = ("train", "val", "test")
"""The parts ``runs.fit_run`` evaluates: sections of metrics.json."""
FIT_EXTRAS = (
    "fit_seconds",
    "epochs_run",
    "best_epoch",
    "refit_epochs",
    "members",
    "data.rows_read",
    "data.triples",
    "data.replicate_rows_averaged",
    "data.drugs",
    "data.cell_lines",
    "data.split_dropped_rows",
)
"""The other numbers ``runs.fit_run`` writes into metrics.json."""


@functools.cache
def regression_metric_names() -> tuple[str, ...]:
    """The metrics ``fit`` reports for each part.

    Returns
    -------
    tuple of str
        The keys of :func:`~synergy_ppl.inference.metrics.regression_metrics`, read off a
        tiny call so that they follow that function.
    """
    return tuple(regression_metrics(torch.arange(6.0).reshape(2, 3), torch.arange(3.0)))


def fit_metric_names() -> tuple[str, ...]:
    """The dotted names of the numbers in ``fit``'s metrics.json.

    Returns
    -------
    tuple of str
        ``<part>.<metric>`` for each of :data:`FIT_PARTS`, then :data:`FIT_EXTRAS`.
    """
    keys = regression_metric_names()
    return (*[f"{part}.{key}" for part in FIT_PARTS for key in keys], *FIT_EXTRAS)


@functools.cache
def simulate_metric_names() -> tuple[str, ...]:
    """The keys of each strategy's entry in ``simulate``'s results.json summary.

    Returns
    -------
    tuple of str
        Read off :func:`~synergy_ppl.active.summarise_runs` of a one-round record of a
        two-row pool (:func:`~synergy_ppl.active.round_record`), so that they follow both.
    """
    table = pd.DataFrame(
        {"drug_a": ["A", "A"], "drug_b": ["B", "C"], "cell_line": "X", "score": [1.0, 0.0]}
    )
    revealed = np.array([0])
    row = round_record(Pool.of(table, 0.5), revealed, revealed, 0, 0.0)
    return tuple(summarise_runs(pd.DataFrame([{"strategy": "s", "seed": 0, **row}]))["s"])


def metric_problem(
    command: str, name: str, per_trial: Sequence[tuple[str, ...]] = ()
) -> str | None:
    """Why no trial of ``command`` can report the metric ``name``, or None if one can.

    Parameters
    ----------
    command : str
        ``fit`` or ``simulate``.
    name : str
        A dotted metric name (``test.pearson``, ``recall_mean``, ``ucb.recall_mean``).
    per_trial : sequence of tuple of str
        ``simulate``: the strategies each trial runs.

    Returns
    -------
    str or None
        The end of a sentence that begins with the name, with the valid choices.
    """
    if command == "fit":
        return _fit_metric_problem(name)
    return _simulate_metric_problem(name, per_trial)


def _fit_metric_problem(name: str) -> str | None:
    valid = fit_metric_names()
    if name in valid:
        return None
    return (
        f"is not a metric fit reports{_did_you_mean(name, valid)}; use PART.NAME with PART one "
        f"of {', '.join(FIT_PARTS)} and NAME one of {', '.join(regression_metric_names())}, "
        f"or one of {', '.join(FIT_EXTRAS)}."
    )


def _simulate_metric_problem(name: str, per_trial: Sequence[tuple[str, ...]]) -> str | None:
    keys = simulate_metric_names()
    run = list(dict.fromkeys(s for strategies in per_trial for s in strategies))
    strategy, _, key = name.rpartition(".")  # strategy names have no dots
    if key in keys and strategy in ("", *STRATEGIES):
        if not strategy and not any(len(s) == 1 for s in per_trial):
            return (
                f"names no strategy and every trial runs several ({', '.join(run)}); use "
                f"STRATEGY.{key} with STRATEGY one of {', '.join(run)}."
            )
        if strategy and strategy not in run:
            return (
                f"names strategy '{strategy}', which no trial runs; the trials run "
                f"{', '.join(run)}."
            )
        return None
    candidates = [*keys, *[f"{s}.{k}" for s in run for k in keys]]
    return (
        f"is not a metric simulate reports{_did_you_mean(name, candidates)}; use NAME (when a "
        f"trial runs one strategy) or STRATEGY.NAME, with STRATEGY one the trials run "
        f"({', '.join(run)}) and NAME one of {', '.join(keys)}."
    )


def _did_you_mean(name: str, valid: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(valid), n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""


def lookup(payload: dict, path: str, fallback: dict | None = None):
    """The value at a dotted path of a run's output.

    Parameters
    ----------
    payload : dict
        ``fit``'s metrics, or ``simulate``'s summary (strategy -> numbers).
    path : str
        The dotted name, e.g. ``test.pearson``.
    fallback : dict, optional
        Where to look if ``payload`` has no such value (``simulate`` with one strategy: that
        strategy's numbers, so that ``recall_mean`` means its ``recall_mean``).

    Returns
    -------
    object or None
        The value, or None if neither mapping holds it.
    """
    for source in (payload, fallback):
        value = source
        for part in path.split("."):
            if not isinstance(value, dict) or part not in value:
                value = None
                break
            value = value[part]
        if value is not None:
            return value
    return None
