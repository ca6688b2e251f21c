"""Active learning: recommend the next batch from a fitted run, and simulate RECOVER's
sequential model optimisation on a screen whose scores are hidden and revealed batch by batch.

Simulation, per strategy and seed (an *arm*)::

    pool (the screen's averaged canonical rows, scores hidden)
      | reveal N0 rows at random (the same rows for every strategy of a seed; with a
      | pretrained model N0 may be 0: it chooses the first batch itself)
      v
    round r = 1..R:  fit a BNN on the revealed rows (from scratch, or from a pretrained model,
                     whose posterior may also be the prior) -> joint (S, N) draws of the pool
                     -> choose Q unrevealed rows (acquisition.py) -> reveal them -> record

A *proposer* ``(revealed indices, round) -> next batch`` is all a strategy is to the loop, so
non-Bayesian baselines (the benchmark's random forest) run through the same machinery. Every
finished round is written to ``progress.json`` at once; rerunning the same command continues
where it stopped, and the randomness of a round depends only on (seed, round), so a resumed
run gives the same result as an uninterrupted one.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from ..acquisition import ACQUISITIONS, AcquisitionContext, select_batch
from ..data import DataConfig, DataError, Screen, Split, split_screen
from ..errors import OptionError, OutputError
from ..estimator import ARCHITECTURE, ModelConfig, SynergyBNN
from ..outputs import prepare_folder, record, write_json
from ..runs import TRANSFERS, load_fit, load_state, model_from_state, save_state

BATCH_AWARE = ("q-ei", "q-ucb", "thompson-batch")
"""Strategies that choose the batch jointly from the draws (acquisition.select_batch)."""
STRATEGIES = (*ACQUISITIONS, *BATCH_AWARE)
"""Valid ``--acquisition`` names: a score ranked top-q, or a batch-aware method."""
MARGINAL = {"q-ei": "ei", "q-ucb": "ucb", "thompson-batch": "greedy"}
"""The per-candidate score reported next to a batch-aware strategy's choices."""
PRETRAIN_KINDS = ("none", "other-cell-lines")
"""``--pretrain`` values besides a path to a fitted run directory."""
EMPTY = np.array([], dtype=int)
ROUND_MODEL = ModelConfig(
    epochs=100, batch_size=512, num_samples=100, dropout=0.1, drug_effects=0.3, trunk_anchor=10.0
)
"""``simulate``'s model fitted each round (its CLI defaults and the benchmark's). A round's fit
sees 30-330 rows: full batches (100 steps; minibatches of 32 found as much in 4x the time),
light dropout (0.3 suits thousands of rows; on MCF7 it found 0.73 vs 0.75 over 10 seeds),
drug effects, whose uncertainty guides the search, and a pretrained trunk that 30 rows cannot
drag away (``benchmarks/active_learning.py``). The learning rate stays fit's 1e-3, the best on
MCF7 (5e-4 to 3e-3 tried); a pool of many cell lines found more with 3e-3 (README)."""

Proposer = Callable[[np.ndarray, int], np.ndarray]
"""``(revealed pool indices in reveal order, round >= 1) -> pool indices of the next batch``."""


# ------------------------------------------------------------------------ batch choice


def check_strategy(name: str) -> str:
    """Return ``name`` if it is a strategy, else raise naming the valid ones."""
    if name not in STRATEGIES:
        raise OptionError(f"unknown acquisition '{name}'; choose from {', '.join(STRATEGIES)}")
    return name


def choose(
    samples: torch.Tensor,
    strategy: str,
    q: int,
    *,
    exclude: torch.Tensor,
    best_f: float,
    kappa: float = 1.0,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Indices ``(<= q,)`` of the next batch from joint draws ``samples`` ``(S, N)``.

    A score of :data:`~synergy_ppl.acquisition.ACQUISITIONS` is ranked top-q; a batch-aware
    strategy is its own method. ``best_f`` is the best score measured so far (EI, PI, q-EI).
    """
    check_strategy(strategy)
    method, acquisition = (strategy, "ucb") if strategy in BATCH_AWARE else ("top-q", strategy)
    return select_batch(
        samples,
        q,
        method,
        acquisition=acquisition,
        exclude=exclude,
        best_f=best_f,
        kappa=kappa,
        generator=generator,
    )


# ------------------------------------------------------------------------- recommend


def canonical_pairs(table: pd.DataFrame) -> pd.DataFrame:
    """``drug_a, drug_b, cell_line`` with ``drug_a <= drug_b``, duplicates dropped."""
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


def untested_candidates(measured: pd.DataFrame, candidates: pd.DataFrame | None = None):
    """Candidate triples that are not in ``measured`` (canonical order, no duplicates).

    Without ``candidates``: every pair of two different drugs of ``measured`` in every one of
    its cell lines. Pairs of a drug with itself are never candidates.
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
    merged = candidates.merge(tested, on=["drug_a", "drug_b", "cell_line"], how="left")
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
) -> pd.DataFrame:
    """The next ``batch_size`` untested triples to measure, best first.

    ``measured`` holds the screen's measured rows (``drug_a, drug_b, cell_line, score``);
    already-measured triples are never recommended. Returns ``rank, drug_a, drug_b,
    cell_line, mean, std, q05, q95`` (of the synergy function, original scale: the
    uncertainty acquisition acts on) and ``score``, the strategy's per-candidate score (for a
    batch-aware strategy the score of :data:`MARGINAL`).
    """
    check_strategy(strategy)
    pool = untested_candidates(measured, candidates)
    if batch_size < 1 or batch_size > len(pool):
        raise OptionError(
            f"--batch-size {batch_size} must be between 1 and the {len(pool)} untested "
            "candidate(s); lower it or give more candidates."
        )
    samples = bnn.sample(pool, num_samples, seed, noise=False)
    best_f = float(measured["score"].max())
    generator = torch.Generator().manual_seed(seed)
    exclude = torch.zeros(len(pool), dtype=torch.bool)
    chosen = choose(
        samples,
        strategy,
        batch_size,
        exclude=exclude,
        best_f=best_f,
        kappa=kappa,
        generator=generator,
    )
    context = AcquisitionContext(best_f, kappa, generator=torch.Generator().manual_seed(seed))
    scores = ACQUISITIONS[MARGINAL.get(strategy, strategy)](samples, context)
    picked = samples[:, chosen]
    out = pool.iloc[chosen.numpy()].reset_index(drop=True)
    out.insert(0, "rank", np.arange(1, len(out) + 1))
    out["mean"] = picked.mean(0).numpy()
    out["std"] = picked.std(0).numpy()
    out["q05"] = torch.quantile(picked, 0.05, dim=0).numpy()
    out["q95"] = torch.quantile(picked, 0.95, dim=0).numpy()
    out["score"] = scores[chosen].numpy()
    return out


# ------------------------------------------------------------------------------ pool


@dataclass
class Pool:
    """The rows whose scores a simulation hides, and what its records need to know.

    Attributes
    ----------
    table : DataFrame
        The pool's rows (``drug_a <= drug_b``, replicates averaged), index ``0..N-1``.
    scores : ndarray ``(N,)``
        The hidden scores.
    top : ndarray of bool ``(N,)``
        The ``ceil(fraction * N)`` highest scores (ties broken by row order).
    """

    table: pd.DataFrame
    scores: np.ndarray
    top: np.ndarray

    @classmethod
    def of(cls, table: pd.DataFrame, top_fraction: float = 0.01) -> Pool:
        if not 0 < top_fraction < 1:
            raise OptionError(f"top fraction must be in (0, 1), not {top_fraction}.")
        table = table.reset_index(drop=True)
        scores = table["score"].to_numpy(dtype=float)
        top = np.zeros(len(scores), dtype=bool)
        top[np.argsort(-scores, kind="stable")[: math.ceil(top_fraction * len(scores))]] = True
        return cls(table, scores, top)


def round_record(
    pool: Pool, revealed: np.ndarray, batch: np.ndarray, round_index: int, seconds: float
) -> dict:
    """One round's evidence after ``batch`` joined ``revealed`` (which includes it).

    ``recall`` is the fraction of the pool's top set found; ``random`` its expectation under
    random testing (tested / pool); ``oracle`` the best possible (min(tested, |top|) / |top|);
    ``regret`` = best score in the pool - best found (NaN while nothing is tested).
    """
    n_top = int(pool.top.sum())
    best = float(pool.scores[revealed].max()) if len(revealed) else math.nan
    batch_rows = pool.table.iloc[batch]
    return {
        "round": round_index,
        "tested": len(revealed),
        "found_top": int(pool.top[revealed].sum()),
        "recall": float(pool.top[revealed].sum() / n_top),
        "random": len(revealed) / len(pool.scores),
        "oracle": min(len(revealed), n_top) / n_top,
        "best_found": best,
        "regret": float(pool.scores.max() - best),
        "distinct_drugs": len(set(batch_rows["drug_a"]) | set(batch_rows["drug_b"])),
        "seconds": seconds,
    }


# ------------------------------------------------------------------------ the loop


@dataclass
class ArmState:
    """Progress of one arm: pool indices in reveal order and one record per finished round."""

    revealed: list[int] = field(default_factory=list)
    rounds: list[dict] = field(default_factory=list)


def initial_draw(n_pool: int, n_initial: int, seed: int) -> np.ndarray:
    """The ``n_initial`` rows revealed before round 1; depends on the seed only."""
    return np.random.default_rng([seed, 0]).permutation(n_pool)[:n_initial]


def check_budget(
    n_pool: int, initial: int, rounds: int, batch_size: int, pretrained: bool = False
) -> None:
    """Raise unless ``initial + rounds * batch_size`` rows fit in the pool.

    ``initial`` may be 0 only with a ``pretrained`` model, which then chooses the first batch.
    """
    if initial < 0 or rounds < 0 or batch_size < 1:
        raise OptionError(
            f"need --initial >= 0, --rounds >= 0, --batch-size >= 1; got {initial}, "
            f"{rounds}, {batch_size}."
        )
    if initial == 0 and not pretrained:
        raise OptionError(
            "--initial 0 needs --pretrain: without a pretrained model nothing can choose the "
            "first batch. Reveal some pairs at random first (--initial 30)."
        )
    needed = initial + rounds * batch_size
    if needed > n_pool:
        raise OptionError(
            f"--initial {initial} + --rounds {rounds} x --batch-size {batch_size} = {needed} "
            f"rows, but the pool has {n_pool}; lower them."
        )


def run_arm(
    pool: Pool,
    propose: Proposer,
    state: ArmState,
    *,
    initial: int,
    rounds: int,
    seed: int,
    save: Callable[[ArmState], None],
    tick: Callable[[dict], None] = lambda record: None,
) -> ArmState:
    """Continue ``state`` up to ``rounds`` rounds, calling ``save`` after every round."""
    if not state.rounds:
        first = initial_draw(len(pool.scores), initial, seed)
        state = ArmState(first.tolist(), [round_record(pool, first, first, 0, 0.0)])
        save(state)
    for round_index in range(len(state.rounds), rounds + 1):
        start = time.perf_counter()
        revealed = np.asarray(state.revealed, dtype=int)
        batch = np.asarray(propose(revealed, round_index), dtype=int)
        seconds = time.perf_counter() - start
        if np.isin(batch, revealed).any() or len(set(batch.tolist())) != len(batch):
            raise RuntimeError(f"round {round_index}: the proposer chose a revealed row twice")
        revealed = np.concatenate([revealed, batch])
        record = round_record(pool, revealed, batch, round_index, seconds)
        state = ArmState(revealed.tolist(), [*state.rounds, record])
        save(state)
        tick(record)
    return state


def round_generator(seed: int, round_index: int) -> torch.Generator:
    """The selection RNG of a round (ties, Thompson rows, random scores)."""
    entropy = np.random.SeedSequence([seed, round_index, 1]).generate_state(1)[0]
    return torch.Generator().manual_seed(int(entropy))


def random_proposer(pool: Pool, batch_size: int, seed: int) -> Proposer:
    """Uniformly random unrevealed rows (no model)."""

    def propose(revealed: np.ndarray, round_index: int) -> np.ndarray:
        exclude = torch.zeros(len(pool.scores), dtype=torch.bool)
        exclude[torch.as_tensor(revealed)] = True
        scores = torch.rand(len(pool.scores), generator=round_generator(seed, round_index))
        return _top_unrevealed(scores, batch_size, exclude).numpy()

    return propose


def _top_unrevealed(scores: torch.Tensor, q: int, exclude: torch.Tensor) -> torch.Tensor:
    order = torch.argsort(scores.masked_fill(exclude, -math.inf), descending=True, stable=True)
    return order[: min(q, int((~exclude).sum()))]


@dataclass
class BNNProposer:
    """Each round: fit a SynergyBNN on the revealed rows and choose from its joint draws.

    ``start`` (pretrained) is the starting point of every round's fit; with ``warm_start``
    a round starts from the previous round's fit instead (saved as ``<checkpoints>-r<k>.pt``
    so a resumed run continues from the same state). ``priors`` replace the configured prior
    of those sites.
    """

    screen: Screen
    pool: Pool
    strategy: str
    batch_size: int
    model_config: ModelConfig
    seed: int
    kappa: float = 1.0
    start: SynergyBNN | None = None
    priors: dict | None = None
    warm_start: bool = False
    checkpoints: Path | None = None

    def __call__(self, revealed: np.ndarray, round_index: int) -> np.ndarray:
        if len(revealed):
            config = replace(self.model_config, seed=self.model_seed(round_index))
            split = Split(revealed, EMPTY, EMPTY, "revealed")
            bnn = SynergyBNN(config).fit(
                self.screen, split, progress=False, init=self.init(round_index), priors=self.priors
            )
        else:  # --initial 0: the pretrained model chooses the first batch as it is
            bnn = self.start
        if self.warm_start:
            record(self.checkpoints.parent, self.checkpoint(round_index).name)
            save_state(bnn.state(), self.checkpoint(round_index))
            self.checkpoint(round_index - 2).unlink(missing_ok=True)
        samples = bnn.sample(self.pool.table, seed=self.model_seed(round_index), noise=False)
        exclude = torch.zeros(len(self.pool.scores), dtype=torch.bool)
        exclude[torch.as_tensor(revealed)] = True
        # with nothing measured there is no incumbent: EI and PI then rank by the draws' level
        best_f = self.pool.scores[revealed].max() if len(revealed) else samples.min()
        chosen = choose(
            samples,
            self.strategy,
            self.batch_size,
            exclude=exclude,
            best_f=float(best_f),
            kappa=self.kappa,
            generator=round_generator(self.seed, round_index),
        )
        return chosen.numpy()

    def model_seed(self, round_index: int) -> int:
        """Model seed of a round: the configured seed, offset per arm seed and round."""
        return self.model_config.seed + 1000 * self.seed + round_index

    def checkpoint(self, round_index: int) -> Path:
        if self.checkpoints is None:
            raise ValueError("warm_start needs a checkpoints path prefix")
        return self.checkpoints.with_name(f"{self.checkpoints.name}-r{round_index}.pt")

    def init(self, round_index: int) -> SynergyBNN | None:
        """The previous round's fit (warm start) or the pretrained model (or None)."""
        if self.warm_start and round_index > 1:
            path = self.checkpoint(round_index - 1)
            return model_from_state(load_state(path), path)
        return self.start


# ----------------------------------------------------------------------- simulation


@dataclass
class SimulationConfig:
    """Options of a simulation besides the data and the per-round model.

    With a pretrained model, ``initial=0`` lets that model choose the first batch instead of
    revealing ``initial`` rows at random.

    ``rounds``, ``seeds`` and ``strategies`` may grow when a run is resumed; everything else
    must match the folder's ``config.json``.
    """

    strategies: tuple[str, ...] = ("ucb",)
    rounds: int = 10
    batch_size: int = 30
    initial: int = 30
    seeds: int = 3
    first_seed: int = 0
    """Arms use seeds ``first_seed .. first_seed + seeds - 1`` (initial draw, tie-breaks,
    model seeds), so a sweep can spread one simulation's seeds over several trials."""
    kappa: float = 1.0
    top_fraction: float = 0.01
    pretrain: str = "none"
    transfer: str = "prior"
    widen: float = 1.0
    warm_start: bool = False
    pretrain_epochs: int = 30
    pretrain_batch_size: int = 256
    """SVI minibatch of the pretraining fit (tens of thousands of rows), independent of the
    per-round model's (``ROUND_MODEL.batch_size``: the whole 30-330 revealed rows)."""
    pretrain_dropout: float = ModelConfig.dropout
    """Trunk dropout of the pretraining fit, ``synergy-ppl fit``'s default: the rounds' light
    dropout (``ROUND_MODEL.dropout``) suits 30-330 rows, but a pretrained trunk fitted with
    it ranked so sharply that fine-tuning stopped exploring (MCF7: 10 of the 15 best pairs,
    then nothing in 210 more tests)."""

    def check(self) -> None:
        for name in self.strategies:
            check_strategy(name)
        if self.transfer not in TRANSFERS:
            raise OptionError(f"unknown transfer '{self.transfer}'; choose from {TRANSFERS}")
        if self.seeds < 1:
            raise OptionError(f"--seeds must be >= 1, not {self.seeds}.")
        if self.first_seed < 0:
            raise OptionError(f"--first-seed must be >= 0, not {self.first_seed}.")
        if not 0 <= self.pretrain_dropout < 1:
            raise OptionError(f"--pretrain-dropout must be in [0, 1), not {self.pretrain_dropout}.")
        if not self.widen > 0:
            raise OptionError(f"--widen must be > 0, not {self.widen}.")
        for name in ("pretrain_epochs", "pretrain_batch_size"):
            if getattr(self, name) < 1:
                flag = "--" + name.replace("_", "-")
                raise OptionError(f"{flag} must be >= 1, not {getattr(self, name)}.")
        if not (math.isfinite(self.kappa) and self.kappa >= 0):
            raise OptionError(f"--kappa must be a finite number >= 0, not {self.kappa}.")
        if not 0 < self.top_fraction < 1:
            raise OptionError(f"--top-fraction must be in (0, 1), not {self.top_fraction}.")
        if self.pretrain not in PRETRAIN_KINDS and not Path(self.pretrain).exists():
            raise OptionError(
                f"--pretrain {self.pretrain}: no such run directory or model file; give "
                f"one, or one of {list(PRETRAIN_KINDS)}."
            )


EXTENDABLE = ("rounds", "seeds", "strategies")


def _identity(config: dict) -> dict:
    """The part of a saved config that a resumed run must share."""
    sim = {k: v for k, v in config["simulation"].items() if k not in EXTENDABLE}
    return {**config, "simulation": sim}


SIMULATION_WRITES = (
    "config.json",
    "progress.json",
    "results.csv",
    "results.json",
    "recall.png",
    "pretrain.pt",
    "pretrain_metrics.json",
    "models",
)
"""Everything ``simulate`` writes into its folder."""


def prepare_out_dir(out: Path, config: dict, overwrite: bool) -> None:
    """Create ``out``, or check that an existing one holds the same simulation (resume).

    ``overwrite`` starts afresh: what an earlier simulation wrote there is removed, the
    user's own files stay.
    """
    saved = out / "config.json"
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        try:  # a config.json equal to this one can only be this simulation's own
            same = _identity(json.loads(saved.read_text())) == _identity(
                json.loads(json.dumps(config))
            )
        except (OSError, json.JSONDecodeError, KeyError, TypeError, AttributeError):
            same = False
        if not same:
            raise OutputError(
                f"{out} holds another simulation or other files; rerun with its options to "
                "resume, choose another --out, or pass --overwrite (which replaces only what "
                "synergy-ppl wrote there)."
            )
    else:
        prepare_folder(out, overwrite, SIMULATION_WRITES)
    record(out, *SIMULATION_WRITES)
    write_json(saved, config)


def load_pool_and_pretraining(data: DataConfig, sim: SimulationConfig):
    """The target screen and pool, and for ``other-cell-lines`` the whole screen + split.

    The pretraining split holds out 5% + 5% of the other lines' rows at random (early
    stopping, held-out metrics), not whole pairs: the point of pretraining is to carry each
    pair's behaviour in other lines over to the target line.

    Returns ``(target screen, pool, pretraining (screen, split) or None)``.
    """
    if sim.pretrain != "other-cell-lines":
        screen = data.load()
        return screen, Pool.of(screen.table, sim.top_fraction), None
    if not data.cell_line or "," in data.cell_line:
        raise DataError("--pretrain other-cell-lines needs one target --cell-line NAME.")
    whole = replace(data, cell_line=None).load()
    if data.cell_line not in whole.cell_lines:
        raise DataError(f"cell line '{data.cell_line}' is not in {data.data}.")
    target = (whole.table["cell_line"] == data.cell_line).to_numpy()
    others = np.flatnonzero(~target)
    if len(others) == 0:
        raise DataError(f"{data.data} has no cell line besides {data.cell_line} to pretrain on.")
    part = split_screen(
        whole.table.iloc[others].reset_index(drop=True),
        "random",
        seed=data.split_seed,
        test_fraction=0.05,
        val_fraction=0.05,
    )
    split = Split(others[part.train], others[part.val], others[part.test], "other-cell-lines")
    return (
        whole.subset(target),
        Pool.of(whole.subset(target).table, sim.top_fraction),
        (
            whole,
            split,
        ),
    )


def pretrained_model(
    sim: SimulationConfig, model_config: ModelConfig, pretraining, out: Path, progress: bool
) -> SynergyBNN | None:
    """The pretrained model: fitted once (cached as ``pretrain.pt``), or read from a run
    directory or a saved state (a ``pretrain.pt`` of another simulation)."""
    if sim.pretrain == "none":
        return None
    if sim.pretrain != "other-cell-lines":
        path = Path(sim.pretrain)
        if path.is_file():
            return model_from_state(load_state(path), path)
        return load_fit(path)[0]
    cache = out / "pretrain.pt"
    if cache.exists():
        return model_from_state(load_state(cache), cache)
    screen, split = pretraining
    config = replace(
        model_config,
        epochs=sim.pretrain_epochs,
        batch_size=sim.pretrain_batch_size,
        dropout=sim.pretrain_dropout,
    )
    bnn = SynergyBNN(config).fit(screen, split, progress=progress)
    metrics = bnn.evaluate(screen.table.iloc[split.test])
    metrics.update(
        rows=len(split.train), seconds=bnn.history.seconds, epochs_run=len(bnn.history.elbo)
    )
    write_json(out / "pretrain_metrics.json", metrics)
    save_state(bnn.state(), cache)
    return bnn


def simulate(
    data: DataConfig,
    sim: SimulationConfig,
    model_config: ModelConfig,
    out: str | Path,
    *,
    overwrite: bool = False,
    progress: bool = True,
    extra_proposers: dict[str, Callable[[Pool, Screen, int], Proposer]] | None = None,
) -> dict:
    """Run (or resume) the simulation into ``out``; returns the summary written there.

    Writes ``config.json``, ``progress.json`` (after every round), ``results.csv`` (one row
    per strategy, seed and round), ``results.json`` (rows and per-strategy summary) and
    ``recall.png``. ``extra_proposers`` adds named non-BNN strategies (benchmarks):
    ``name -> factory(pool, screen, seed) -> proposer``.
    """
    sim.check()
    out = Path(out)
    extra = extra_proposers or {}
    config = {
        "data": asdict(data),
        "model": asdict(model_config),
        "simulation": {**asdict(sim), "strategies": list(sim.strategies)},
        "extra": sorted(extra),
    }
    screen, pool, pretraining = load_pool_and_pretraining(data, sim)
    check_budget(len(pool.scores), sim.initial, sim.rounds, sim.batch_size, sim.pretrain != "none")
    prepare_out_dir(out, config, overwrite)
    start = pretrained_model(sim, model_config, pretraining, out, progress)
    if start is not None:  # rounds fit the pretrained architecture
        model_config = replace(model_config, **{n: getattr(start.config, n) for n in ARCHITECTURE})
    priors = start.posterior_priors(sim.widen) if start and sim.transfer == "prior" else None

    progress_path = out / "progress.json"
    states = json.loads(progress_path.read_text()) if progress_path.exists() else {}
    names = [*sim.strategies, *extra]
    seeds = range(sim.first_seed, sim.first_seed + sim.seeds)
    arms = [(name, seed) for name in names for seed in seeds]
    remaining = sum(sim.rounds + 1 - len(states.get(_key(*a), {}).get("rounds", [])) for a in arms)
    bar = tqdm(
        total=max(remaining, 0), desc="simulate", unit="round", disable=None if progress else True
    )
    if sim.warm_start and not (out / "models").is_dir():
        prepare_folder(out / "models")
    for name, seed in arms:
        key = _key(name, seed)

        def save(state: ArmState, key: str = key) -> None:
            states[key] = asdict(state)
            write_json(progress_path, states)

        if name in extra:
            propose = extra[name](pool, screen, seed)
        elif name == "random":
            propose = random_proposer(pool, sim.batch_size, seed)
        else:
            propose = BNNProposer(
                screen,
                pool,
                name,
                sim.batch_size,
                model_config,
                seed,
                sim.kappa,
                start,
                priors,
                sim.warm_start,
                out / "models" / f"{name}-seed{seed}",
            )

        def tick(record: dict, key: str = key) -> None:
            bar.update(1)
            bar.set_postfix_str(f"{key} tested={record['tested']} recall={record['recall']:.2f}")

        run_arm(
            pool,
            propose,
            ArmState(**states[key]) if key in states else ArmState(),
            initial=sim.initial,
            rounds=sim.rounds,
            seed=seed,
            save=save,
            tick=tick,
        )
    bar.close()
    rows = results_table(states, arms, sim.rounds)
    summary = summarise_runs(rows)
    rows.to_csv(out / "results.csv", index=False)
    write_json(out / "results.json", {"summary": summary, "rounds": rows.to_dict("records")})
    plot_recall(rows, out / "recall.png", len(pool.scores), int(pool.top.sum()), _title(data, pool))
    return summary


def _key(name: str, seed: int) -> str:
    return f"{name}/seed{seed}"


def _title(data: DataConfig, pool: Pool) -> str:
    where = f"{data.data}" + (f" {data.cell_line}" if data.cell_line else "")
    return f"{where}: pool of {len(pool.scores)} pairs"


# -------------------------------------------------------------------------- results


def results_table(states: dict, arms: list[tuple[str, int]], rounds: int) -> pd.DataFrame:
    """One row per (strategy, seed, round <= rounds) of the given arms."""
    frames = [
        pd.DataFrame(states[_key(name, seed)]["rounds"][: rounds + 1]).assign(
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
    """Per strategy: final recall (mean, SD, min, max over seeds), tested rows needed for 50%
    and 80% of the top set (mean over the seeds that got there, and how many did), final best
    found and regret, and the median seconds per round (rounds >= 1)."""
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
        }
        for level in (0.5, 0.8):
            per_seed = [pairs_to_reach(g, level) for _, g in group.groupby("seed")]
            hit = [v for v in per_seed if not math.isnan(v)]
            tag = f"{int(level * 100)}"
            entry[f"tested_to_{tag}"] = float(np.mean(hit)) if hit else None
            entry[f"seeds_reaching_{tag}"] = len(hit)
        summary[name] = entry
    return summary


def plot_recall(rows: pd.DataFrame, path: Path, n_pool: int, n_top: int, title: str = "") -> None:
    """Top-set recall vs tested rows: mean +- SD over seeds per strategy, with the random
    expectation (tested / ``n_pool``) and the oracle (min(tested, ``n_top``) / ``n_top``)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for name, group in rows.groupby("strategy", sort=False):
        stats = group.groupby("tested")["recall"].agg(["mean", "std"]).fillna(0.0)
        x = stats.index.to_numpy()
        ax.plot(x, stats["mean"], marker="o", ms=3, label=name)
        ax.fill_between(x, stats["mean"] - stats["std"], stats["mean"] + stats["std"], alpha=0.2)
    tested = np.arange(0, rows["tested"].max() + 1)
    ax.plot(tested, tested / n_pool, "k--", lw=1, label="random (expected)")
    ax.plot(tested, np.minimum(tested, n_top) / n_top, "k:", lw=1, label="oracle (best possible)")
    ax.set_xlabel("pairs tested")
    ax.set_ylabel(f"fraction of the pool's top {n_top} pairs found")
    ax.set_ylim(0, 1.02)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
