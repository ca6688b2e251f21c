"""What ``recommend`` proposes, as a picture (issue 33).

Per cell line, the drug x drug matrix of the model's prediction: the mean in the lower
triangle, its SD in the upper one, measured pairs dotted (upper triangle) and the recommended
pairs circled and numbered by rank (lower triangle), drugs ordered by hierarchical clustering
of the mean. :func:`write_recommendation_report` writes one PNG per drawn line and an offline
HTML page with the figures and the batch table.

The mean and SD are of the synergy function (``bnn.sample(..., noise=False)``), the quantity
acquisition acts on: with the same ``num_samples`` and ``seed`` as ``recommend``, the cells
of the picks show the batch table's ``mean`` and ``std``.

Figures are ``matplotlib.figure.Figure`` objects saved with the Agg canvas, never through
pyplot (as :mod:`synergy_ppl.diagnostics.plots`), so nothing needs a display.
"""

from __future__ import annotations

import base64
import html
import io
import math
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Circle
from scipy.cluster.hierarchy import leaves_list, linkage

from ..data import PAIR_COLUMNS, check_pairs
from ..estimator import SynergyBNN
from ..outputs import check_file, prepare_file, write_output

MAX_LINES = 6
"""Most cell lines drawn by default: the batch's lines with the most picks."""
LABELLED_DRUGS = 60
"""Up to this many drugs every one is labelled; beyond, every k-th (the axis label says k)."""
SIDE_INCHES = (5.0, 15.0)
"""Bounds of the matrix's side; in between it grows with the number of drugs."""
DPI = 100
PICK_GID, RANK_GID, MEASURED_GID = "pick", "rank", "measured"
"""``gid`` of the pick circles, their rank boxes and the measured dots (tests count them)."""
TABLE_COLUMNS = ["rank", "drug_a", "drug_b", "cell_line", "mean", "std", "q05", "q95", "cost"]
"""Columns of the batch shown in the page's table, where present, then ``why``."""


# ----------------------------------------------------------------------------- matrices


def cluster_order(mean: np.ndarray) -> np.ndarray:
    """An order of the drugs that puts similar rows of ``mean`` ``(D, D)`` together.

    Average-linkage clustering (Euclidean) of the rows, leaves left to right; the NaN
    diagonal is filled with the row's mean so it does not dominate the distances. Fewer than
    3 drugs keep their order. Returns a permutation of ``0..D-1``, shape ``(D,)``.
    """
    n = len(mean)
    if n < 3:
        return np.arange(n)
    rows = np.array(mean, dtype=float)
    with np.errstate(all="ignore"):  # an all-NaN row has no mean: 0 below
        fill = np.nanmean(np.where(np.eye(n, dtype=bool), np.nan, rows), axis=1)
    rows[np.eye(n, dtype=bool)] = fill
    rows = np.nan_to_num(rows, nan=0.0, posinf=0.0, neginf=0.0)
    return leaves_list(linkage(rows, method="average", metric="euclidean"))


def line_matrices(
    bnn: SynergyBNN,
    line: str,
    drugs: Sequence[str],
    num_samples: int | None = None,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Predicted mean and SD ``(D, D)`` of every unordered pair of ``drugs`` in ``line``.

    One ``bnn.sample`` call of ``D(D-1)/2`` rows; symmetric, diagonal NaN.
    """
    a, b = np.triu_indices(len(drugs), k=1)
    names = np.asarray(drugs, dtype=object)
    pairs = pd.DataFrame({"drug_a": names[a], "drug_b": names[b], "cell_line": line})
    samples = bnn.sample(pairs, num_samples, seed, noise=False).numpy()
    mean = np.full((len(drugs), len(drugs)), np.nan)
    sd = mean.copy()
    for matrix, values in ((mean, samples.mean(0)), (sd, samples.std(0, ddof=1))):
        matrix[a, b] = matrix[b, a] = values
    return mean, sd


def measured_mask(measured: pd.DataFrame, drugs: Sequence[str], line: str) -> np.ndarray:
    """Which pairs of ``drugs`` were measured in ``line``: bool ``(D, D)``, symmetric.

    Rows naming a drug outside ``drugs`` and self-pairs are left out.
    """
    index = {drug: i for i, drug in enumerate(drugs)}
    rows = measured[measured["cell_line"].astype(str) == line]
    mask = np.zeros((len(drugs), len(drugs)), dtype=bool)
    for drug_a, drug_b in zip(rows["drug_a"].astype(str), rows["drug_b"].astype(str), strict=True):
        i, j = index.get(drug_a), index.get(drug_b)
        if i is not None and j is not None and i != j:
            mask[i, j] = mask[j, i] = True
    return mask


def line_picks(batch: pd.DataFrame, drugs: Sequence[str], line: str) -> list[tuple[int, int, int]]:
    """The batch's picks in ``line`` as ``(i, j, rank)``, indices into ``drugs``."""
    index = {drug: i for i, drug in enumerate(drugs)}
    rows = batch[batch["cell_line"].astype(str) == line]
    return [
        (index[str(a)], index[str(b)], int(rank))
        for a, b, rank in zip(rows["drug_a"], rows["drug_b"], rows["rank"], strict=True)
    ]


def choose_lines(batch: pd.DataFrame, max_lines: int = MAX_LINES) -> list[str]:
    """The batch's cell lines with the most picks (ties: the better best rank), at most
    ``max_lines``."""
    lines = batch.assign(cell_line=batch["cell_line"].astype(str)).groupby("cell_line")["rank"]
    order = pd.DataFrame({"n": lines.size(), "best": lines.min()})
    order = order.sort_values(["n", "best"], ascending=[False, True])
    return list(order.index[:max_lines])


# ------------------------------------------------------------------------------- figure


def line_figure(
    mean: np.ndarray,
    sd: np.ndarray,
    drugs: Sequence[str],
    measured: np.ndarray,
    picks: Sequence[tuple[int, int, int]],
    title: str = "",
) -> Figure:
    """One cell line's matrix: mean (lower triangle), SD (upper), measured and picked pairs.

    Parameters
    ----------
    mean, sd : ndarray, shape ``(D, D)``
        Symmetric predicted mean and SD of each pair; the diagonal is drawn blank.
    drugs : sequence of str, length ``D``
    measured : ndarray of bool, shape ``(D, D)``
        Measured pairs (symmetric): one white dot each, in the SD triangle.
    picks : sequence of (i, j, rank)
        Recommended pairs (indices into ``drugs``): one circle each in the mean triangle,
        its rank in a white box above right of it.
    title : str

    The drugs are ordered by :func:`cluster_order` of ``mean``. The figure grows with ``D``
    within :data:`SIDE_INCHES`; beyond :data:`LABELLED_DRUGS` drugs every k-th is labelled.
    """
    mean, sd, measured = np.asarray(mean, float), np.asarray(sd, float), np.asarray(measured)
    n = len(drugs)
    if not mean.shape == sd.shape == measured.shape == (n, n):
        raise ValueError(
            f"mean {mean.shape}, sd {sd.shape} and measured {measured.shape} must all be "
            f"({n}, {n}) for {n} drugs."
        )
    order = cluster_order(mean)
    position = np.empty(n, dtype=int)
    position[order] = np.arange(n)
    mean, sd, measured = (m[np.ix_(order, order)] for m in (mean, sd, measured))
    lower = np.tril(np.ones((n, n), dtype=bool), k=-1)

    side = float(np.clip(2.5 + 0.09 * n, *SIDE_INCHES))
    fig = Figure(figsize=(side + 2.6, side + 1.0), layout="constrained")
    ax = fig.subplots()
    cell_pt = side * 0.8 * 72 / max(n, 1)  # about how wide a cell is drawn, in points
    top = np.nanmax(np.abs(mean)) if np.isfinite(mean).any() else 0.0
    top = top if top > 0 else 1.0  # a flat (or empty) matrix still gets a colour scale
    mean_image = ax.imshow(
        np.where(lower, mean, np.nan), cmap="RdBu_r", vmin=-top, vmax=top, interpolation="none"
    )
    sd_image = ax.imshow(
        np.where(lower.T, sd, np.nan), cmap="viridis", vmin=0.0, interpolation="none"
    )
    # the SD bar first: constrained layout puts it outermost, the mean bar next to its triangle
    fig.colorbar(sd_image, ax=ax, shrink=0.7, label="SD of the prediction (upper triangle)")
    fig.colorbar(mean_image, ax=ax, shrink=0.7, label="predicted mean synergy (lower triangle)")

    rows, cols = np.nonzero(np.triu(measured, k=1))  # one dot per pair, in the SD triangle
    dot = max(2.5, 0.35 * cell_pt)
    ax.scatter(
        cols, rows, s=dot**2, c="white", edgecolors="black", linewidths=0.3, gid=MEASURED_GID
    )

    radius = max(0.6, 5.0 / cell_pt)  # cells; at least ~5 pt so a circle stays visible
    font = float(np.clip(cell_pt, 8, 10))
    for i, j, rank in picks:
        row, col = max(position[i], position[j]), min(position[i], position[j])
        ax.add_patch(
            Circle((col, row), radius, fill=False, edgecolor="black", lw=1.6, gid=PICK_GID)
        )
        ax.annotate(
            str(rank),
            (col, row),
            # above right, towards the diagonal: always inside the axes, off the tick labels
            xytext=(radius * cell_pt + 1, radius * cell_pt + 1),
            textcoords="offset points",
            fontsize=font,
            ha="left",
            va="bottom",
            bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "black", "lw": 0.5},
            gid=RANK_GID,
        )

    _drug_ticks(ax, [drugs[k] for k in order], cell_pt)
    ax.set_xlim(-0.5, n - 0.5)
    ax.set_ylim(n - 0.5, -0.5)
    handles = [
        Line2D([], [], ls="", marker="o", mfc="none", mec="black", ms=9, label="recommended"),
        Line2D([], [], ls="", marker="o", mfc="white", mec="black", ms=5, label="measured"),
    ]
    ax.legend(handles=handles, loc="lower left", bbox_to_anchor=(0, 1.0), ncols=2, fontsize=9)
    fig.suptitle(title, fontsize=11)
    return fig


def _drug_ticks(ax: Axes, names: list[str], cell_pt: float) -> None:
    """Label every drug up to :data:`LABELLED_DRUGS`, else every k-th, and say which."""
    n = len(names)
    step = 1 if n <= LABELLED_DRUGS else math.ceil(n / LABELLED_DRUGS)
    ticks = np.arange(0, n, step)
    font = float(np.clip(cell_pt * step * 0.8, 5, 9))
    ax.set_xticks(ticks, [names[k] for k in ticks], rotation=90, fontsize=font)
    ax.set_yticks(ticks, [names[k] for k in ticks], fontsize=font)
    which = "" if step == 1 else f"; one in {step} of {n} labelled"
    ax.set_xlabel(f"drug (clustered by predicted mean{which})")
    ax.set_ylabel(f"drug ({n} drugs{which})")


# --------------------------------------------------------------------------------- files


def file_stem(line: str, taken: set[str]) -> str:
    """A safe file-name part for ``line``: letters, digits, ``_`` and ``-`` only (no path
    separator, no leading dot), unique among ``taken`` (which it joins)."""
    stem = re.sub(r"[^A-Za-z0-9_-]+", "-", line).strip("-")[:60] or "line"
    unique, k = stem, 2
    while unique.lower() in taken:  # case-insensitive file systems too
        unique, k = f"{stem}-{k}", k + 1
    taken.add(unique.lower())
    return unique


def write_recommendation_report(
    out_dir: str | Path,
    bnn: SynergyBNN,
    measured: pd.DataFrame,
    batch: pd.DataFrame,
    lines: Sequence[str] | None = None,
    *,
    settings: Mapping[str, object] | None = None,
    stem: str = "recommendations",
    drugs: Sequence[str] | None = None,
    num_samples: int | None = None,
    seed: int = 0,
    max_lines: int = MAX_LINES,
    overwrite: bool = False,
) -> list[Path]:
    """Draw the batch per cell line and write ``<stem>_<line>.png`` and ``<stem>.html``.

    Parameters
    ----------
    out_dir : str or Path
        Where the files go (created if missing); every file is inside it, named from the
        line by :func:`file_stem`.
    bnn : SynergyBNN
        The fitted model that chose the batch.
    measured : DataFrame
        The measured rows (``drug_a, drug_b, cell_line``; other columns, ``score``, unused).
    batch : DataFrame
        ``recommend``'s table (``rank, drug_a, drug_b, cell_line``, ideally ``mean, std,
        why``); without ``rank`` the row order is the rank.
    lines : sequence of str, optional
        The cell lines to draw (default: the batch's :data:`MAX_LINES` lines with the most
        picks, see :func:`choose_lines`).
    settings : mapping, optional
        Shown at the top of the page, e.g. ``{"strategy": "ucb", "batch size": 30}``.
    stem : str
        File-name start (``recommend_run``: the CSV's stem), made safe as a line's name.
    drugs : sequence of str, optional
        The drugs of each matrix (default: all the model knows, ``bnn.features.drugs``);
        the picks' drugs are always added.
    num_samples, seed : int
        The draws of the prediction: ``recommend``'s, so the picks' cells match the table.
    max_lines : int
        Most lines drawn by default.
    overwrite : bool
        Replace files of these names that synergy_ppl wrote there before (as ``check_file``).

    Returns
    -------
    list of Path
        The PNGs (in the page's order), then the HTML page.
    """
    if not isinstance(bnn, SynergyBNN) or bnn.features is None:
        raise ValueError("bnn must be a fitted SynergyBNN; call its fit() or load_fit() a run.")
    out_dir = Path(out_dir)
    # only the pairs matter (no score is read); no rows (a first round, an empty batch) is
    # no dots (no picks), not an error
    measured, batch = (
        check_pairs(table, source, self_pairs=True) if len(table) else _no_pairs(table)
        for table, source in ((measured, "measured"), (batch, "batch"))
    )
    if "rank" not in batch:
        batch = batch.assign(rank=np.arange(1, len(batch) + 1))
    drawn = (
        choose_lines(batch, max_lines) if lines is None else list(dict.fromkeys(map(str, lines)))
    )
    bnn.features.cell_index(drawn, "lines")  # an unknown line: a DataError before any work
    stem = file_stem(stem, set())  # a name, never a path out of out_dir
    taken: set[str] = set()
    pngs = [out_dir / f"{stem}_{file_stem(line, taken)}.png" for line in drawn]
    page = out_dir / f"{stem}.html"
    for path in [*pngs, page]:  # refused before any drawing
        check_file(path, overwrite)

    figures = []
    for line, path in zip(drawn, pngs, strict=True):
        picked = batch[batch["cell_line"].astype(str) == line]
        wanted = set(bnn.features.drugs if drugs is None else drugs)
        wanted |= set(picked["drug_a"].astype(str)) | set(picked["drug_b"].astype(str))
        names = [d for d in bnn.features.drugs if d in wanted] + sorted(
            wanted - set(bnn.features.drugs)  # unknown: bnn.sample names them
        )
        mean, sd = line_matrices(bnn, line, names, num_samples, seed)
        title = f"{line}: {len(picked)} recommended, {len(names)} drugs"
        fig = line_figure(
            mean,
            sd,
            names,
            measured_mask(measured, names, line),
            line_picks(batch, names, line),
            title,
        )
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=DPI, bbox_inches="tight")
        png = buffer.getvalue()
        write_output(prepare_file(path, overwrite), lambda tmp, png=png: tmp.write_bytes(png))
        figures.append((line, path.name, png))
    text = report_page(batch, figures, settings)
    write_output(prepare_file(page, overwrite), lambda tmp: tmp.write_text(text, "utf-8"))
    return [*pngs, page]


def _no_pairs(table: pd.DataFrame) -> pd.DataFrame:
    """An empty ``table`` with the pair columns it may lack."""
    return table.reindex(columns=[*PAIR_COLUMNS, *(c for c in table if c not in PAIR_COLUMNS)])


def report_page(
    batch: pd.DataFrame,
    figures: Sequence[tuple[str, str, bytes]],
    settings: Mapping[str, object] | None = None,
) -> str:
    """The offline HTML page: heading, settings, the figures, the batch table.

    ``figures`` holds ``(cell line, PNG file name, PNG bytes)``; each PNG is embedded as a
    data URI, so the page stays whole when mailed or moved alone (its file name is shown to
    find the PNG beside it). Every value from the tables is HTML-escaped.
    """
    esc = html.escape
    parts = [f"<h1>Recommended batch: {len(batch)} triples</h1>"]
    if settings:
        items = "".join(
            f"<li>{esc(str(k))}: <b>{esc(str(v))}</b></li>" for k, v in settings.items()
        )
        parts.append(f"<ul>{items}</ul>")
    undrawn = set(batch["cell_line"].astype(str)) - {line for line, _, _ in figures}
    more = f" ({len(undrawn)} more cell lines are in the table only)" if undrawn else ""
    parts.append(
        f"<p>One matrix per cell line{more}. Lower triangle: predicted mean synergy (red high, "
        "blue low); upper triangle: its SD (yellow: uncertain). Circles: the recommended "
        "pairs, numbered by rank; white dots: pairs already measured. Drugs are ordered by "
        "clustering of the predicted means.</p>"
    )
    for line, name, png in figures:
        data = base64.b64encode(png).decode("ascii")
        parts.append(
            f'<h2>{esc(line)}</h2><img src="data:image/png;base64,{data}" '
            f'alt="{esc(line, quote=True)}"><p class="file">{esc(name)}</p>'
        )
    parts += ["<h2>The batch</h2>", _batch_table(batch)]
    style = (
        "body{font-family:sans-serif;max-width:1200px;margin:2em auto;line-height:1.4}"
        "table{border-collapse:collapse}td,th{padding:3px 8px;border-bottom:1px solid #ddd;"
        "text-align:left}img{max-width:100%;display:block}.file{color:#666;font-size:small}"
    )
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>Recommended batch</title>"
        f"<style>{style}</style></head><body>{''.join(parts)}</body></html>\n"
    )


def _batch_table(batch: pd.DataFrame) -> str:
    """The batch's columns of :data:`TABLE_COLUMNS` and ``why``, escaped, as an HTML table."""
    columns = [c for c in [*TABLE_COLUMNS, "why"] if c in batch]
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    rows = []
    for record in batch[columns].itertuples(index=False):
        cells = "".join(f"<td>{html.escape(_cell(v))}</td>" for v in record)
        rows.append(f"<tr>{cells}</tr>")
    return f"<table><tr>{head}</tr>{''.join(rows)}</table>"


def _cell(value: object) -> str:
    if isinstance(value, float | np.floating):
        return f"{value:.3g}"
    return str(value)
