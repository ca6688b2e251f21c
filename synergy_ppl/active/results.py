"""A simulation's results: the per-round table, its per-strategy summary, the recall plot."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import DataError
from ..outputs import write_output
from .loop import arm_key

RECORD_KEYS = ("round", "tested", "recall", "random", "oracle", "best_found", "regret", "seconds")
"""What every round's record in ``progress.json`` holds (the table and summary need them)."""


def read_progress(path: Path, n_pool: int) -> dict:
    """``progress.json`` of a simulation being resumed (no file: ``{}``): arm key -> state.

    Raises
    ------
    DataError
        A file that is not what ``simulate`` wrote for this pool (unreadable, cut short,
        edited): resuming from it would fail later or continue a wrong state.
    """
    if not path.exists():
        return {}
    try:
        states = json.loads(path.read_text())
        whole = isinstance(states, dict) and all(
            _is_state(state, n_pool) for state in states.values()
        )
    except (OSError, ValueError):  # unreadable, not UTF-8, not JSON
        whole = False
    if not whole:
        raise DataError(
            f"{path}: not the progress file of this simulation (damaged or edited), so it "
            "cannot be resumed; restore the file, or pass overwrite to start afresh.",
            parameter="overwrite",
        )
    return states


def _is_state(state, n_pool: int) -> bool:
    """Whether ``state`` is a saved arm: distinct pool indices, one complete record per
    round, the last one counting every revealed row."""
    if not isinstance(state, dict) or set(state) != {"revealed", "rounds"}:
        return False
    revealed, rounds = state["revealed"], state["rounds"]
    if not isinstance(revealed, list) or not isinstance(rounds, list):
        return False
    indices = all(type(i) is int and 0 <= i < n_pool for i in revealed)
    if not indices or len(set(revealed)) != len(revealed):
        return False
    records = all(isinstance(r, dict) and all(k in r for k in RECORD_KEYS) for r in rounds)
    return records and (rounds[-1]["tested"] == len(revealed) if rounds else not revealed)


def results_table(states: dict, arms: list[tuple[str, int]], rounds: int) -> pd.DataFrame:
    """One row per (strategy, seed, round <= ``rounds``) of the given arms.

    Parameters
    ----------
    states : dict
        ``progress.json``: arm key -> saved :class:`~synergy_ppl.active.loop.ArmState`.
    arms : list of (str, int)
        ``(strategy, seed)`` of the arms to include, in order.
    rounds : int
        The last round to include.

    Returns
    -------
    DataFrame
        ``strategy, seed``, the columns of :func:`~synergy_ppl.active.pool.round_record`
        and ``short`` (:func:`~synergy_ppl.active.loop.run_arm`; missing in older runs).
    """
    frames = [
        pd.DataFrame(states[arm_key(name, seed)]["rounds"][: rounds + 1]).assign(
            strategy=name, seed=seed
        )
        for name, seed in arms
    ]
    table = pd.concat(frames, ignore_index=True)
    first = ["strategy", "seed"]
    return table[first + [c for c in table.columns if c not in first]]


def pairs_to_reach(rows: pd.DataFrame, level: float) -> float:
    """Tested rows when ``recall`` first reaches ``level`` in one arm's rounds (NaN: never)."""
    reached = rows.loc[rows["recall"] >= level - 1e-12, "tested"]
    return float(reached.min()) if len(reached) else math.nan


def summarise_runs(rows: pd.DataFrame) -> dict:
    """Per strategy, over its seeds, from a :func:`results_table`.

    Returns
    -------
    dict
        Strategy -> final recall (mean, SD, min, max over seeds), tested rows needed for 50%
        and 80% of the top set (mean over the seeds that got there, and how many did), final
        best found and regret, the median seconds per round (rounds >= 1), and the final
        cost with recall per test and per unit of cost (means over seeds; under a budget
        the arms may test different numbers of rows: ``tested`` is the first seed's).
    """
    summary = {}
    for name, group in rows.groupby("strategy", sort=False):
        finals = group.sort_values("round").groupby("seed").tail(1)
        entry = {
            "seeds": int(finals.shape[0]),
            "tested": int(finals["tested"].iloc[0]),
            "recall_mean": float(finals["recall"].mean()),
            "recall_sd": float(finals["recall"].std(ddof=0)),
            "recall_min": float(finals["recall"].min()),
            "recall_max": float(finals["recall"].max()),
            "random": float(finals["random"].iloc[0]),
            "oracle": float(finals["oracle"].iloc[0]),
            "best_found_mean": float(finals["best_found"].mean()),
            "regret_mean": float(finals["regret"].mean()),
            "median_seconds_per_round": float(group.loc[group["round"] > 0, "seconds"].median()),
            "tested_mean": float(finals["tested"].mean()),
            "recall_per_test": float((finals["recall"] / finals["tested"]).mean()),
        }
        if "cost" in finals:  # runs saved before costs were recorded lack it
            entry["cost_mean"] = float(finals["cost"].mean())
            entry["recall_per_cost"] = float((finals["recall"] / finals["cost"]).mean())
        for level in (0.5, 0.8):
            per_seed = [pairs_to_reach(g, level) for _, g in group.groupby("seed")]
            hit = [v for v in per_seed if not math.isnan(v)]
            tag = f"{int(level * 100)}"
            entry[f"tested_to_{tag}"] = float(np.mean(hit)) if hit else None
            entry[f"seeds_reaching_{tag}"] = len(hit)
        summary[name] = entry
    return summary


def plot_recall(rows: pd.DataFrame, path: Path, n_pool: int, n_top: int, title: str = "") -> None:
    """Top-set recall vs tested rows: mean +- SD over seeds per strategy.

    With the random expectation (tested / ``n_pool``) and the oracle
    (min(tested, ``n_top``) / ``n_top``); written to ``path`` (PNG). When the rows are priced
    (a ``cost`` column that is not the count of tests) a second panel shows recall vs cost.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    priced = "cost" in rows and not np.allclose(rows["cost"], rows["tested"])
    fig, axes = plt.subplots(1, 2 if priced else 1, figsize=(12 if priced else 7, 4.5))
    axes = np.atleast_1d(axes)
    for ax, x_column in zip(axes, ("tested", "cost"), strict=False):
        for name, group in rows.groupby("strategy", sort=False):
            stats = group.groupby("round")[[x_column, "recall"]].agg(["mean", "std"]).fillna(0.0)
            x, mean, sd = (
                stats[(x_column, "mean")],
                stats[("recall", "mean")],
                stats[("recall", "std")],
            )
            ax.plot(x, mean, marker="o", ms=3, label=name)
            ax.fill_between(x, mean - sd, mean + sd, alpha=0.2)
        ax.set_ylabel(f"fraction of the pool's top {n_top} pairs found")
        ax.set_ylim(0, 1.02)
        ax.grid(alpha=0.3)
    tested = np.arange(0, rows["tested"].max() + 1)
    axes[0].plot(tested, tested / n_pool, "k--", lw=1, label="random (expected)")
    axes[0].plot(
        tested, np.minimum(tested, n_top) / n_top, "k:", lw=1, label="oracle (best possible)"
    )
    axes[0].set_xlabel("pairs tested (mean over seeds)")
    axes[0].set_title(title)
    axes[0].legend(loc="upper left", fontsize=8)
    if priced:
        axes[1].set_xlabel("cost spent (mean over seeds)")
        axes[1].set_title("recall per unit of cost")
    fig.tight_layout()
    write_output(path, lambda tmp: fig.savefig(tmp, dpi=120))
    plt.close(fig)
