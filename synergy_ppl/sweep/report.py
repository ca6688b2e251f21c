"""A sweep's results: the trials' records gathered into ``summary.csv``, ``summary.json`` and
``sweep.png``, and the lines that say what came out (the command line prints them)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .. import outputs
from .config import SweepConfig
from .trials import FAILED, FINISHED, PENDING, read_record


@dataclass
class SweepResult:
    """What a sweep wrote: the table, the best trial and the counts.

    Attributes
    ----------
    out : Path
        The sweep folder.
    table : pandas.DataFrame
        One row per trial (``summary.csv``).
    best : dict or None
        The best finished trial's row, None if no trial finished with the metric.
    counts : dict
        Status (finished, failed, pending) -> number of trials.
    engine : str
        ``ray`` or ``sequential``.
    ran : int
        Trials run now (the others had finished before, or are left for later).
    seconds : float
        Wall time of the trials run now.
    """

    out: Path
    table: pd.DataFrame
    best: dict | None
    counts: dict
    engine: str
    ran: int
    seconds: float


def gather(
    config: SweepConfig, specs: list[dict], out: str | Path
) -> tuple[pd.DataFrame, dict | None, dict]:
    """Gather the trials' records into ``summary.csv``, ``summary.json`` and ``sweep.png``.

    Parameters
    ----------
    config : SweepConfig
    specs : list of dict
        Entries of :func:`~.trials.trial_specs`; a trial without a record is pending.
    out : str or Path
        The sweep folder.

    Returns
    -------
    table : pandas.DataFrame
        One row per trial: id, status, its swept options, the metrics, seconds, run_dir,
        log, error.
    best : dict or None
        The row of the best finished trial by ``config.metric`` and ``config.mode``.
    counts : dict
        Status -> number of trials.
    """
    out = Path(out)
    rows = []
    for spec in specs:
        record = read_record(spec) or {"status": PENDING, "metrics": {}}
        row = {"id": spec["id"], "status": record["status"]}
        row.update({k: _cell(v) for k, v in spec["options"].items()})
        row.update({m: (record.get("metrics") or {}).get(m) for m in config.metrics})
        row["seconds"] = record.get("seconds")
        row["run_dir"] = str(Path(spec["dir"]) / "run")
        row["log"] = str(Path(spec["dir"]) / "trial.log")
        row["error"] = record.get("error")
        rows.append(row)
    table = pd.DataFrame(rows)
    scores = pd.to_numeric(table[config.metric], errors="coerce")
    usable = (table["status"] == FINISHED) & scores.notna()
    best = None
    if usable.any():
        index = scores[usable].idxmax() if config.mode == "max" else scores[usable].idxmin()
        best = {k: _plain(v) for k, v in table.loc[index].items()}
    counts = {s: int((table["status"] == s).sum()) for s in (FINISHED, FAILED, PENDING)}
    table.to_csv(out / "summary.csv", index=False)
    outputs.write_json(
        out / "summary.json",
        {
            "command": config.command,
            "metric": config.metric,
            "mode": config.mode,
            "counts": counts,
            "best": best,
            "trials": [{k: _plain(v) for k, v in row.items()} for row in rows],
        },
    )
    plot_sweep(table, config, out / "sweep.png", best)
    return table, best, counts


def _cell(value):
    """A table cell for an option value (lists as ``128,32``)."""
    if isinstance(value, list | tuple):
        return ",".join(str(v) for v in value)
    return value


def _plain(value):
    """A JSON value for a table cell (NaN as null, numpy scalars as Python's)."""
    if isinstance(value, float) and math.isnan(value):
        return None
    return value.item() if hasattr(value, "item") else value


def plot_sweep(
    table: pd.DataFrame, config: SweepConfig, path: str | Path, best: dict | None
) -> None:
    """Plot the metric against each swept option (finished trials; the best one ringed).

    Parameters
    ----------
    table : pandas.DataFrame
        The table of :func:`gather`.
    config : SweepConfig
    path : str or Path
        The PNG to write.
    best : dict or None
        The best trial's row.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(config.search) or ["id"]
    fig, axes = plt.subplots(1, len(names), figsize=(3.6 * len(names), 3.4), squeeze=False)
    done = table[table["status"] == FINISHED]
    y = pd.to_numeric(done[config.metric], errors="coerce")
    is_best = done["id"] == (best or {}).get("id")
    for ax, name in zip(axes[0], names, strict=True):
        spec = config.search.get(name, {})
        x = pd.to_numeric(done[name], errors="coerce")
        if "choice" in spec or name == "id" or not (len(done) and x.notna().all()):
            labels = list(dict.fromkeys(table[name].astype(str)))
            # as floats: pandas keeps the text dtype when no trial finished (an empty map)
            position = done[name].astype(str).map({v: i for i, v in enumerate(labels)})
            position = position.astype(float)
            x = position + np.random.default_rng(0).uniform(-0.12, 0.12, len(done))
            means = y.groupby(position).mean()
            ax.scatter(means.index, means.values, marker="_", s=400, color="k", label="mean")
            ax.set_xticks(range(len(labels)), labels, rotation=30 if len(labels) > 3 else 0)
            ax.set_xlim(-0.5, len(labels) - 0.5)
        elif "loguniform" in spec or (x.min() > 0 and x.max() / x.min() >= 10):
            ax.set_xscale("log")
        ax.scatter(x, y, alpha=0.7, label="trial")
        ax.scatter(x[is_best], y[is_best], s=160, fc="none", ec="r", label="best")
        ax.set_xlabel(name)
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel(config.metric)
    axes[0][0].legend(fontsize=7, loc="best")
    counts = table["status"].value_counts().to_dict()
    fig.suptitle(
        f"{config.command} sweep: {config.metric} ({config.mode}); "
        + ", ".join(f"{n} {s}" for s, n in counts.items()),
        fontsize=9,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def summary_lines(result: SweepResult, config: SweepConfig) -> list[str]:
    """What a sweep came to, as lines to print.

    Parameters
    ----------
    result : SweepResult
    config : SweepConfig

    Returns
    -------
    list of str
        The table (id, status, swept options, metric, seconds), the counts, the best trial
        and its run directory, each failed trial's error and log, and the summary files.
    """
    table, counts, out = result.table, result.counts, result.out
    shown = ["id", "status", *config.search, config.metric, "seconds"]
    lines = table[shown].to_string(index=False, float_format=lambda v: f"{v:.4g}").splitlines()
    lines.append(
        f"{counts[FINISHED]} finished, {counts[FAILED]} failed, {counts[PENDING]} pending "
        f"({result.ran} run now, {result.engine}, {result.seconds:.1f} s)"
    )
    if result.best:
        options = ", ".join(f"{k}={result.best[k]}" for k in config.search)
        lines.append(
            f"best by {config.metric} ({config.mode}): {result.best['id']} "
            f"{config.metric}={result.best[config.metric]:.4g} ({options})"
        )
        lines.append(f"  its run directory: {result.best['run_dir']}")
    for _, row in table[table["status"] == FAILED].iterrows():
        lines += [f"  failed {row['id']}: {row['error']}", f"    log: {row['log']}"]
    lines.append(
        f"summary written to {out / 'summary.csv'}, {out / 'summary.json'}, {out / 'sweep.png'}"
    )
    return lines
