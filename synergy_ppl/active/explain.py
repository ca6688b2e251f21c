"""One line per recommended triple that a chemist can argue with: the prediction, what chose it,
and the nearest measured evidence (the same pair in other lines, the same drugs in its line)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..data import canonicalise_and_average


def nearest_measured(measured: pd.DataFrame, picks: pd.DataFrame) -> list[str]:
    """For each pick ``(a, b, c)``: its pair's best measurement in other lines, and the best
    measurement in line ``c`` of a pair with drug ``a`` or ``b``.

    Parameters
    ----------
    measured : DataFrame
        ``drug_a, drug_b, cell_line, score`` rows.
    picks : DataFrame
        ``drug_a, drug_b, cell_line`` of the recommended triples (``drug_a <= drug_b``).

    Returns
    -------
    list of str
        One phrase per pick, e.g. ``"A+B: 45.1 in MCF7 (best of 3 lines); here A+X: 30.2
        (best of 5 with A or B)"``.
    """
    table = canonicalise_and_average(measured[["drug_a", "drug_b", "cell_line", "score"]])
    by_pair = table.groupby(["drug_a", "drug_b"])
    pair_best, pair_count = table.loc[by_pair["score"].idxmax()], by_pair.size()
    pair_best = pair_best.set_index(["drug_a", "drug_b"])
    # each row once under each of its drugs: (line, drug) -> rows with that drug in that line
    long = pd.concat(
        [
            table.rename(columns={"drug_a": "drug", "drug_b": "partner"}),
            table.rename(columns={"drug_b": "drug", "drug_a": "partner"}),
        ],
        ignore_index=True,
    )
    by_drug = {key: rows for key, rows in long.groupby(["cell_line", "drug"])}
    phrases = []
    for a, b, line in picks[["drug_a", "drug_b", "cell_line"]].itertuples(index=False):
        if (a, b) in pair_best.index:
            best = pair_best.loc[(a, b)]
            lines = int(pair_count.loc[(a, b)])
            where = f"{lines} line{'s' if lines > 1 else ''}"
            pair = f"{a}+{b}: {best['score']:.1f} in {best['cell_line']} (best of {where})"
        else:
            pair = f"{a}+{b} never measured"
        rows = [by_drug[key] for key in ((line, a), (line, b)) if key in by_drug]
        if rows:
            near = pd.concat(rows).drop_duplicates(["drug", "partner"])
            top = near.loc[near["score"].idxmax()]
            here = (
                f"here {top['drug']}+{top['partner']}: {top['score']:.1f} "
                f"(best of {len(near)} with {a} or {b})"
            )
        else:
            here = f"nothing with {a} or {b} measured in {line}"
        phrases.append(f"{pair}; {here}")
    return phrases


def explanations(
    strategy: str, gain_text: str, gains: np.ndarray, batch: pd.DataFrame, measured: pd.DataFrame
) -> list[str]:
    """The ``why`` of each recommended triple: what chose it, its prediction, its neighbours.

    Parameters
    ----------
    strategy : str
        The strategy's name.
    gain_text : str
        How a gain reads (:attr:`~synergy_ppl.acquisition.Strategy.gain_text`).
    gains : ndarray ``(B,)``
        What chose each pick (:meth:`~synergy_ppl.acquisition.Strategy.gains`).
    batch : DataFrame
        The recommended rows: ``drug_a, drug_b, cell_line, mean, std``.
    measured : DataFrame
        The screen's measured rows.

    Returns
    -------
    list of str
        e.g. ``"ucb: score 43.1; predicted 31.0 +- 12.1; A+B: 45.1 in MCF7 (best of 3 lines);
        here A+X: 30.2 (best of 5 with A or B)"``.
    """
    neighbours = nearest_measured(measured, batch)
    return [
        f"{strategy}: {gain_text.format(gain)}; predicted {mean:.1f} +- {std:.1f}; {near}"
        for gain, mean, std, near in zip(
            gains, batch["mean"], batch["std"], neighbours, strict=True
        )
    ]
