"""The round loop of one arm, the seeds of a round, and the proposers that choose batches.

A *proposer* ``(revealed indices, round) -> next batch`` is all a strategy is to the loop, so
non-Bayesian baselines (the benchmark's random forest) run through the same machinery.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from ..acquisition import make_strategy, random_scores, top_q
from ..config import ModelConfig
from ..data import Screen, Split
from ..estimator import SynergyBNN
from ..outputs import record
from ..runs import load_state, model_from_state, save_state
from .pool import Pool, initial_draw, round_record

Proposer = Callable[[np.ndarray, int], np.ndarray]
"""``(revealed pool indices in reveal order, round >= 1) -> pool indices of the next batch``."""
EMPTY = np.array([], dtype=int)


# ----------------------------------------------------------------------------------- seeds


def round_seed(seed: int, round_index: int) -> int:
    """The model seed of round ``round_index`` of the arm with seed ``seed`` (before any
    configured offset): ``1000 * seed + round_index``, distinct for fewer than 1000 rounds."""
    return 1000 * seed + round_index


def round_generator(seed: int, round_index: int) -> torch.Generator:
    """The selection RNG of a round (ties, Thompson rows, random scores)."""
    entropy = np.random.SeedSequence([seed, round_index, 1]).generate_state(1)[0]
    return torch.Generator().manual_seed(int(entropy))


# -------------------------------------------------------------------------------- the loop


@dataclass
class ArmState:
    """Progress of one arm: pool indices in reveal order and one record per finished round."""

    revealed: list[int] = field(default_factory=list)
    rounds: list[dict] = field(default_factory=list)


def arm_key(name: str, seed: int) -> str:
    """The arm's key in ``progress.json``."""
    return f"{name}/seed{seed}"


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
    batch_size: int | None = None,
) -> ArmState:
    """Continue ``state`` up to ``rounds`` rounds, calling ``save`` after every round.

    Parameters
    ----------
    pool : Pool
    propose : Proposer
        Chooses each round's batch.
    state : ArmState
        Where the arm stands (empty: start with the initial draw of ``seed``).
    initial : int
        Rows revealed at random before round 1.
    rounds : int
        The last round to run.
    seed : int
        The arm's seed.
    save : callable
        Called with the state after the initial draw and every round.
    tick : callable
        Called with each round's record (progress display).
    batch_size : int, optional
        The rows a round asks for: each record then says by how many its batch fell
        ``short`` (the lab's rules, or too few untested rows in stock), 0 for the initial draw.

    Returns
    -------
    ArmState
    """
    if not state.rounds:
        first = initial_draw(len(pool.scores), initial, seed)
        record = round_record(pool, first, first, 0, 0.0)
        if batch_size is not None:
            record["short"] = 0
        state = ArmState(first.tolist(), [record])
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
        if batch_size is not None:
            record["short"] = max(batch_size - len(batch), 0)
        state = ArmState(revealed.tolist(), [*state.rounds, record])
        save(state)
        tick(record)
    return state


# ------------------------------------------------------------------------------- proposers


def random_proposer(pool: Pool, batch_size: int, seed: int) -> Proposer:
    """Uniformly random unrevealed rows (no model): top-q of random scores, whose (rare) ties
    fall in index order; within the lab's rules, the random order filled greedily."""
    n = len(pool.scores)

    def propose(revealed: np.ndarray, round_index: int) -> np.ndarray:
        scores = random_scores(n, round_generator(seed, round_index))
        closed = pool.closed(revealed)
        return top_q(scores, batch_size, closed, constraints=pool.lab.constraints).numpy()

    return propose


@dataclass(frozen=True)
class BatchChoice:
    """How a round chooses its batch from the draws.

    Attributes
    ----------
    strategy : str
        A name of :data:`~synergy_ppl.acquisition.STRATEGIES`.
    batch_size : int
        Rows per round.
    kappa : float
        Exploration weight of ``ucb`` and ``q-ucb``.
    """

    strategy: str
    batch_size: int
    kappa: float = 1.0


@dataclass(frozen=True)
class RoundStart:
    """Where each round's fit starts.

    Attributes
    ----------
    model : SynergyBNN or None
        The pretrained model every round's fit starts from (None: from scratch). With
        nothing revealed it chooses the first batch as it is.
    priors : dict or None
        Site name -> prior that replaces the configured one (the pretrained posterior).
    warm_start : bool
        Start round ``k > 1`` from round ``k - 1``'s fit instead, saved as
        ``<checkpoints>-r<k>.pt`` so that a resumed run continues from the same state.
    checkpoints : Path or None
        Path prefix of those files (needed with ``warm_start``).
    """

    model: SynergyBNN | None = None
    priors: dict | None = None
    warm_start: bool = False
    checkpoints: Path | None = None

    def for_arm(self, checkpoints: Path) -> RoundStart:
        """This start with the arm's own checkpoint prefix."""
        return replace(self, checkpoints=checkpoints)

    def init(self, round_index: int) -> SynergyBNN | None:
        """The model the fit of round ``round_index`` starts from (None: from scratch)."""
        if self.warm_start and round_index > 1:
            path = self.checkpoint(round_index - 1)
            return model_from_state(load_state(path), path)
        return self.model

    def keep(self, bnn: SynergyBNN, round_index: int) -> None:
        """With ``warm_start``, save round ``round_index``'s fit and drop the one before last."""
        if not self.warm_start:
            return
        path = self.checkpoint(round_index)
        record(path.parent, path.name)
        save_state(bnn.state(), path)
        self.checkpoint(round_index - 2).unlink(missing_ok=True)

    def checkpoint(self, round_index: int) -> Path:
        """The file of round ``round_index``'s fit."""
        if self.checkpoints is None:
            raise ValueError("warm_start needs a checkpoints path prefix")
        return self.checkpoints.with_name(f"{self.checkpoints.name}-r{round_index}.pt")


@dataclass
class BNNProposer:
    """Each round: fit a SynergyBNN on the revealed rows and choose from its joint draws.

    Attributes
    ----------
    screen : Screen
        The screen the pool's rows come from (features of the fit).
    pool : Pool
    choice : BatchChoice
        The strategy, batch size and kappa.
    model_config : ModelConfig
        The model fitted each round; its seed is offset by :func:`round_seed`.
    seed : int
        The arm's seed.
    start : RoundStart
        Where each round's fit starts (default: from scratch).
    """

    screen: Screen
    pool: Pool
    choice: BatchChoice
    model_config: ModelConfig
    seed: int
    start: RoundStart = field(default_factory=RoundStart)
    last: tuple[SynergyBNN, np.ndarray, np.ndarray] | None = field(default=None, init=False)
    """The latest round's fitted model, revealed rows and batch (what ``simulate`` draws)."""

    def __call__(self, revealed: np.ndarray, round_index: int) -> np.ndarray:
        seed = self.model_config.seed + round_seed(self.seed, round_index)
        if len(revealed):
            bnn = SynergyBNN.from_config(replace(self.model_config, seed=seed)).fit(
                self.screen,
                Split(revealed, EMPTY, EMPTY, "revealed"),
                progress=False,
                init=self.start.init(round_index),
                priors=self.start.priors,
            )
        else:  # --initial 0: the pretrained model chooses the first batch as it is
            bnn = self.start.model
        self.start.keep(bnn, round_index)
        samples = bnn.sample(self.pool.table, seed=seed, noise=False)
        # with nothing measured there is no incumbent: EI and PI then rank by the draws' level
        best_f = float(self.pool.scores[revealed].max() if len(revealed) else samples.min())
        strategy = make_strategy(
            self.choice.strategy,
            kappa=self.choice.kappa,
            best_f=best_f,
            noise_sd=bnn.noise_sd(seed=seed),
        )
        closed = self.pool.closed(revealed)
        generator = round_generator(self.seed, round_index)
        batch = strategy.select(
            samples, self.choice.batch_size, closed, generator, self.pool.lab.constraints
        )
        self.last = (bnn, revealed, batch.numpy())
        return batch.numpy()
