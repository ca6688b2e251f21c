"""Recommend the next batch of untested triples to measure from a fitted model."""

from __future__ import annotations

from numbers import Integral, Real
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from ..acquisition import STRATEGIES, make_strategy
from ..data import SingleAgentTable, check_pairs, read_pairs, standardise_table
from ..errors import OptionError
from ..estimator import SynergyBNN
from ..inference.predictive import summarise
from ..options import check_range
from ..outputs import check_file, prepare_file, write_output
from ..runs import prediction_model, read_screen
from .explain import explanations
from .lab import LabRules
from .picture import MAX_LINES, write_recommendation_report
from .shortlist import SHORTLIST, shortlist

KEYS = ["drug_a", "drug_b", "cell_line"]
"""The columns that name a triple."""
COLUMNS = ["rank", *KEYS, "mean", "std", "q05", "q95", "score", "why"]
"""The columns of :func:`recommend`'s table."""


def check_strategy(name: str) -> str:
    """Return ``name`` if it is a strategy of :data:`~synergy_ppl.acquisition.STRATEGIES`.

    Raises
    ------
    OptionError
        Naming the valid strategies.
    TypeError
        Not a string.
    """
    valid = ", ".join(STRATEGIES)
    if not isinstance(name, str):
        raise TypeError(f"strategy must be a str, one of {valid}; not {name!r}.")
    if not name.strip():
        raise OptionError(f"strategy is empty; choose from {valid}.", parameter="strategy")
    if name not in STRATEGIES:
        raise OptionError(
            f"unknown acquisition '{name}' (strategy); choose from {valid}.", parameter="strategy"
        )
    return name


def check_arguments(
    strategy: str, batch_size: int, kappa: float, num_samples: int | None, seed: int
) -> None:
    """:func:`recommend`'s settings: a wrong type is a ``TypeError`` naming the argument, a
    value out of range an :class:`OptionError` naming the argument."""
    check_strategy(strategy)
    given = {"batch_size": batch_size, "seed": seed}
    if num_samples is not None:  # None: the model's
        given["num_samples"] = num_samples
    for name, value in given.items():
        if isinstance(value, bool) or not isinstance(value, Integral):
            raise TypeError(f"{name} must be an integer, not {value!r}.")
    if isinstance(kappa, bool) or not isinstance(kappa, Real):
        raise TypeError(f"kappa must be a number, not {kappa!r}.")
    check_range("kappa", float(kappa), 0)
    check_range("seed", int(seed), 0)
    if num_samples is not None:
        check_range("num_samples", int(num_samples), 2)


def check_inputs(
    bnn: SynergyBNN, measured: pd.DataFrame, candidates: pd.DataFrame | None, rules
) -> tuple[pd.DataFrame, pd.DataFrame | None, LabRules]:
    """:func:`recommend`'s model and tables, checked: ``measured`` with its columns found as
    the loaders find them (a score column ``synergy``, ``zip``, ...), ``candidates`` without
    self-pairs, ``rules`` checked. Returns (measured, candidates, rules)."""
    if not isinstance(bnn, SynergyBNN):
        raise TypeError(f"bnn must be a fitted SynergyBNN, not {type(bnn).__name__}.")
    if bnn.model is None or bnn.scaling is None:
        raise ValueError("bnn is not fitted; call its fit() first, or load_fit() a run.")
    if not isinstance(measured, pd.DataFrame):
        raise TypeError(f"measured must be a pandas DataFrame, not {type(measured).__name__}.")
    measured = standardise_table(measured, source="measured", keep_fold=False)
    if isinstance(candidates, pd.DataFrame):  # data rows counted from 1 in the message
        candidates = candidates.reset_index(drop=True)
    if candidates is not None:
        candidates = check_pairs(candidates, "candidates")
    if rules is None:
        rules = LabRules()
    if not isinstance(rules, LabRules):
        raise TypeError(
            f"rules must be a LabRules, e.g. LabRules(max_lines=2), not {type(rules).__name__}."
        )
    rules.check()
    return measured, candidates, rules


def canonical_pairs(table: pd.DataFrame) -> pd.DataFrame:
    """``drug_a, drug_b, cell_line`` of ``table`` with ``drug_a <= drug_b``, duplicates dropped."""
    a, b = table["drug_a"].astype(str).to_numpy(), table["drug_b"].astype(str).to_numpy()
    return (
        pd.DataFrame(
            {
                "drug_a": np.minimum(a, b),
                "drug_b": np.maximum(a, b),
                "cell_line": table["cell_line"].astype(str).to_numpy(),
            }
        )
        .drop_duplicates()
        .reset_index(drop=True)
    )


def untested_candidates(
    measured: pd.DataFrame, candidates: pd.DataFrame | None = None
) -> pd.DataFrame:
    """Candidate triples that are not in ``measured`` (canonical order, no duplicates).

    Parameters
    ----------
    measured : DataFrame
        The measured rows (``drug_a, drug_b, cell_line``, more columns ignored).
    candidates : DataFrame, optional
        The triples to choose from; by default every pair of two different drugs of
        ``measured`` in every one of its cell lines. Pairs of a drug with itself are never
        candidates.

    Returns
    -------
    DataFrame
        ``drug_a, drug_b, cell_line``, index ``0..n-1``.
    """
    if candidates is None:
        drugs = sorted(set(measured["drug_a"].astype(str)) | set(measured["drug_b"].astype(str)))
        a, b = np.triu_indices(len(drugs), k=1)
        cells = sorted(set(measured["cell_line"].astype(str)))
        candidates = pd.DataFrame(
            {
                "drug_a": np.tile(np.asarray(drugs)[a], len(cells)),
                "drug_b": np.tile(np.asarray(drugs)[b], len(cells)),
                "cell_line": np.repeat(cells, len(a)),
            }
        )
    candidates = canonical_pairs(candidates)
    candidates = candidates[candidates["drug_a"] != candidates["drug_b"]]
    tested = canonical_pairs(measured).assign(_tested=True)
    merged = candidates.merge(tested, on=KEYS, how="left")
    return merged[merged["_tested"].isna()].drop(columns="_tested").reset_index(drop=True)


def recommend(
    bnn: SynergyBNN,
    measured: pd.DataFrame,
    candidates: pd.DataFrame | None = None,
    strategy: str = "ucb",
    batch_size: int = 30,
    kappa: float = 1.0,
    num_samples: int | None = None,
    seed: int = 0,
    rules: LabRules | None = None,
    shortlist_size: int = SHORTLIST,
) -> pd.DataFrame:
    """The next ``batch_size`` untested triples to measure, best first.

    Parameters
    ----------
    bnn : SynergyBNN
        The fitted model.
    measured : DataFrame
        The screen's measured rows (``drug_a, drug_b, cell_line, score``; other spellings are
        found as the loaders find them: ``synergy``, ``zip``, ``drug_row``, ...); measured
        triples are never recommended, and the best score is the incumbent of EI, PI and q-EI.
    candidates : DataFrame, optional
        The triples to choose from (default: :func:`untested_candidates`).
    strategy : str
        A name of :data:`~synergy_ppl.acquisition.STRATEGIES`.
    batch_size : int
        How many triples to recommend.
    kappa : float
        Exploration weight of ``ucb`` and ``q-ucb``.
    num_samples : int, optional
        Posterior draws (default: the model's).
    seed : int
        Seed of the draws and of the choice (ties, Thompson rows).
    rules : LabRules, optional
        What the batch may hold: cell lines, drug uses, drugs in stock, cost and budget.
    shortlist_size : int
        A pool larger than this is streamed once and the strategy chooses from its
        shortlist (:func:`~synergy_ppl.active.shortlist.shortlist`: the best by the
        strategy's score and every draw's best), so memory stays bounded whatever the pool.

    Returns
    -------
    DataFrame
        ``rank, drug_a, drug_b, cell_line, mean, std, q05, q95`` (of the synergy function,
        original scale: the uncertainty acquisition acts on), ``score``, the strategy's
        per-candidate score (``marginal``), ``why``, one line a chemist can argue with (what
        chose the triple, its prediction, the nearest measured rows:
        :func:`~synergy_ppl.active.explain.explanations`), and ``cost`` with a cost table or
        a budget.
        Under a budget the batch may be shorter than ``batch_size``.

    Raises
    ------
    OptionError
        A batch size outside 1 and the candidates left, or rules that let fewer than
        ``batch_size`` triples join without a budget being the reason.
    DataError
        A table without its columns or rows, a candidate of a drug with itself.
    TypeError
        An argument of the wrong type, named.
    """
    check_arguments(strategy, batch_size, kappa, num_samples, seed)
    measured, candidates, rules = check_inputs(bnn, measured, candidates, rules)
    pool = full_pool = untested_candidates(measured, candidates)
    lab = full_lab = rules.apply(pool)
    n_open = int((~lab.out_of_stock).sum())
    if batch_size < 1 or batch_size > n_open:
        raise OptionError(
            f"batch_size {batch_size} must be between 1 and the {n_open} untested "
            "candidate(s) in stock; lower it or give more candidates.",
            parameter="batch_size",
        )
    choice = make_strategy(
        strategy,
        kappa=kappa,
        best_f=float(measured["score"].max()),
        noise_sd=bnn.noise_sd(num_samples, seed),
    )
    size = shortlist_size
    while True:
        floor = None
        if len(pool) > size and strategy != "random":  # random reads no draws to choose
            in_stock = ~torch.as_tensor(lab.out_of_stock)
            rows, floor = shortlist(
                bnn, pool, choice, in_stock, batch_size, num_samples, seed, size
            )
            pool = pool.iloc[rows.numpy()].reset_index(drop=True)
            lab = rules.apply(pool)
        samples = bnn.sample(pool, num_samples, seed, noise=False)
        out_of_stock = torch.as_tensor(lab.out_of_stock)
        generator = torch.Generator().manual_seed(seed)
        chosen = choice.select(samples, batch_size, out_of_stock, generator, lab.constraints)
        scores = choice.marginal(samples, torch.Generator().manual_seed(seed))
        # a pick by score below the floor: the lab's rules skipped past the shortlist, and
        # an open candidate outside it may score higher
        skipped = choice.picks_by_marginal and floor is not None
        skipped = skipped and bool((scores[chosen] < floor).any())
        if (len(chosen) == batch_size and not skipped) or len(pool) == len(full_pool):
            break
        # choose again from a longer shortlist
        size, pool, lab = size * 8, full_pool, full_lab
    if len(chosen) < batch_size and rules.budget is None:
        raise rules.short_batch(len(chosen), batch_size)
    out = summarise(pool.iloc[chosen.numpy()], samples[:, chosen])
    out.insert(0, "rank", np.arange(1, len(out) + 1))
    out["score"] = scores[chosen].numpy()
    gains = choice.gains(samples, chosen, out_of_stock, torch.Generator().manual_seed(seed))
    out["why"] = explanations(strategy, choice.gain_text, gains.numpy(), out, measured)
    if rules.priced:
        return out[COLUMNS].assign(cost=lab.cost[chosen.numpy()])
    return out[COLUMNS]


def recommend_run(
    run_dir: str | Path,
    *,
    candidates: str | Path | None = None,
    drugs: str | Path | None = None,
    strategy: str = "ucb",
    batch_size: int = 30,
    kappa: float = 1.0,
    num_samples: int | None = None,
    seed: int = 0,
    rules: LabRules | None = None,
    out: str | Path | None = None,
    overwrite: bool = False,
    report_lines: int = MAX_LINES,
    monotherapy: str | Path | SingleAgentTable | None = None,
) -> tuple[pd.DataFrame, Path]:
    """:func:`recommend` from a run directory and files, written to ``out`` (default
    ``<run_dir>/recommendations.csv``). Returns (batch, out).

    The measured rows are the run's screen; ``candidates`` (a drug_a,drug_b,cell_line table)
    and ``drugs`` (drug,smiles of new drugs) are optional, and so is ``monotherapy`` (a
    :class:`~synergy_ppl.data.monotherapy.SingleAgentTable` or a path): single-agent
    responses over those the run saved (:func:`~synergy_ppl.runs.prediction_model`). Beside
    ``out`` go a picture per cell line of the batch, at most ``report_lines`` of them (0:
    none), and an offline page
    ``<out stem>.html`` with the pictures and the batch
    (:func:`~synergy_ppl.active.picture.write_recommendation_report`). Every option, the run,
    the tables and the output path are checked before any work.
    """
    check_range("report_lines", report_lines, 0)
    check_arguments(strategy, batch_size, kappa, num_samples, seed)
    check_range("batch_size", batch_size, 1)
    if rules is not None:
        rules.check()
    bnn = prediction_model(run_dir, drugs=drugs, monotherapy=monotherapy)
    pool = read_pairs(candidates) if candidates is not None else None
    out = Path(out) if out is not None else Path(run_dir) / "recommendations.csv"
    check_file(out, overwrite)
    if report_lines:
        check_file(out.with_suffix(".html"), overwrite)
    measured = read_screen(run_dir)
    batch = recommend(bnn, measured, pool, strategy, batch_size, kappa, num_samples, seed, rules)
    write_output(prepare_file(out, overwrite), lambda tmp: batch.to_csv(tmp, index=False))
    if report_lines:
        settings = {"run": str(run_dir), "strategy": strategy, "batch size": batch_size}
        write_recommendation_report(
            out.parent,
            bnn,
            measured,
            batch,
            settings=settings,
            stem=out.stem,
            num_samples=num_samples,
            seed=seed,
            max_lines=report_lines,
            overwrite=overwrite,
        )
    return batch, out
