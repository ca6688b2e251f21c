"""``simulate``: its options, its output folder, pretraining, and the arms run to the end."""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from ..config import ModelConfig
from ..data import DataConfig, DataError, Screen, Split, split_screen
from ..errors import OptionError, OptionWarning, OutputError
from ..estimator import SynergyBNN
from ..model.families import own_options
from ..options import check_range
from ..outputs import prepare_folder, record, write_json, write_output
from ..runs import load_fit, load_state, model_from_state, save_state
from ..transfer import Transfer
from .lab import LabRules
from .loop import (
    ArmState,
    BatchChoice,
    BNNProposer,
    Proposer,
    RoundStart,
    arm_key,
    random_proposer,
    run_arm,
)
from .picture import write_recommendation_report
from .pool import Pool, check_budget
from .recommendation import check_strategy
from .results import plot_recall, read_progress, results_table, summarise_runs

PRETRAIN_KINDS = ("none", "other-cell-lines")
"""``pretrain`` values besides a path to a fitted run directory."""
ROUND_OPTIONS = {
    "model": "recover",
    "epochs": 100,
    "batch_size": 512,
    "num_samples": 100,
    "dropout": 0.1,
    "drug_effects": 0.3,
    "noise_effects": 0.0,
    "trunk_anchor": 10.0,
}
"""The options in which ``simulate``'s round model differs from ``fit``'s defaults; the
others (inputs, learning rates, patience) are the family's."""
ROUND_MODEL = ModelConfig(**ROUND_OPTIONS)
"""``simulate``'s model fitted each round (its CLI defaults and the benchmark's), made for fits
on the 30-330 rows a simulation reveals: full batches, light dropout, drug effects (whose
uncertainty guides the search), one noise width (per-drug and per-line widths explain the
few large scores away as noise, the very rows the search is after), a trunk anchored to a
pretrained one, and ``fit``'s learning rate. ``benchmarks/README.md`` gives the measurements
behind each choice."""


def round_options(model: str | None = None) -> dict:
    """:data:`ROUND_OPTIONS` for rounds fitted with the family ``model`` (None: the rounds'
    default), the options that belong to another family (e.g. recover's ``dropout`` for
    ``factorization``) left out, since a config refuses them."""
    return own_options(model or ROUND_OPTIONS["model"], ROUND_OPTIONS)


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
    pairs_per_round: int = 30
    initial: int = 30
    seeds: int = 3
    first_seed: int = 0
    """Arms use seeds ``first_seed .. first_seed + seeds - 1`` (initial draw, tie-breaks,
    model seeds), so a sweep can spread one simulation's seeds over several trials."""
    kappa: float = 1.0
    top_fraction: float = 0.01
    pretrain: str = "none"
    transfer: Transfer = field(default_factory=Transfer)
    """How the pretrained model enters each round's fit (with ``pretrain``)."""
    lab: LabRules = field(default_factory=LabRules)
    """What each round's batch may hold (cell lines, drug uses, drugs in stock, cost); the
    initial random draw stands for earlier measurements and ignores it."""
    warm_start: bool = False
    pretrain_epochs: int = 30
    pretrain_batch_size: int = 256
    """SVI minibatch of the pretraining fit (tens of thousands of rows), independent of the
    per-round model's (``ROUND_MODEL.batch_size``: the whole 30-330 revealed rows)."""
    pretrain_dropout: float | None = None
    """Trunk dropout of the pretraining fit; None: ``synergy-ppl fit``'s default for the
    family (``ModelConfig`` fills it when the pretraining config is made). The rounds' light
    dropout (``ROUND_MODEL.dropout``) suits 30-330 rows, but a pretrained trunk fitted with
    it ranked so sharply that fine-tuning stopped exploring (``benchmarks/README.md``)."""

    def check(self) -> None:
        """Raise :class:`~synergy_ppl.errors.OptionError` naming the first invalid option."""
        if isinstance(self.strategies, str) or not isinstance(self.strategies, tuple | list):
            raise TypeError(
                f"strategies must be a tuple of names, e.g. ('ucb',), not {self.strategies!r}."
            )
        if not self.strategies:
            raise OptionError(
                "strategies names no strategy; give one or more, e.g. ucb,random.",
                parameter="strategies",
            )
        for name in self.strategies:
            check_strategy(name)
        twice = sorted({name for name in self.strategies if self.strategies.count(name) > 1})
        if twice:
            raise OptionError(
                f"strategies names {', '.join(repr(n) for n in twice)} more than once; "
                "give each strategy once (seeds repeats them).",
                parameter=("strategies", "seeds"),
            )
        if not isinstance(self.transfer, Transfer):
            raise OptionError(f"transfer must be a Transfer, not {self.transfer!r}.")
        if not isinstance(self.lab, LabRules):
            raise OptionError(f"lab must be LabRules, not {self.lab!r}.")
        self.lab.check()
        for name, low in (("seeds", 1), ("first_seed", 0)):
            check_range(name, getattr(self, name), low)
        if self.pretrain_dropout is not None:
            check_range("pretrain_dropout", self.pretrain_dropout, 0, 1, high_open=True)
        for name, low in (("pretrain_epochs", 1), ("pretrain_batch_size", 1), ("kappa", 0)):
            check_range(name, getattr(self, name), low)
        check_range("top_fraction", self.top_fraction, 0, 1, low_open=True, high_open=True)
        if self.pretrain not in PRETRAIN_KINDS and not Path(self.pretrain).exists():
            raise OptionError(
                f"pretrain {self.pretrain}: no such run directory or model file; give "
                f"one, or one of {list(PRETRAIN_KINDS)}.",
                parameter="pretrain",
            )


# --------------------------------------------------------------------------- output folder

EXTENDABLE = ("rounds", "seeds", "strategies")
"""Simulation options a resumed run may increase."""
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


def _identity(config: dict) -> dict:
    """The part of a saved config that a resumed run must share."""
    sim = {k: v for k, v in config["simulation"].items() if k not in EXTENDABLE}
    return {**config, "simulation": sim}


def prepare_out_dir(out: Path, config: dict, overwrite: bool) -> None:
    """Create ``out``, or check that an existing one holds the same simulation (resume).

    ``overwrite`` starts afresh: what an earlier simulation wrote there is removed, the
    user's own files stay.

    Raises
    ------
    OutputError
        When ``out`` holds another simulation or other files (without ``overwrite``).
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
                "resume, choose another out, or pass overwrite (which replaces only what "
                "synergy-ppl wrote there).",
                parameter=("out", "overwrite"),
            )
    else:
        prepare_folder(out, overwrite, SIMULATION_WRITES)
    record(out, *SIMULATION_WRITES)
    write_json(saved, config)


def check_fills(pool: Pool, sim: SimulationConfig) -> None:
    """Refuse, before any work, lab rules that can never fill a round's batch, in
    ``recommend``'s words; without a budget (which ``recommend`` lets cut a batch short).
    Rounds that fall short later, as the pool shrinks, are each reported by a warning and
    the record's ``short`` column."""
    if sim.lab.budget is not None or not sim.lab.limits() or sim.rounds < 1:
        return
    most = sim.lab.capacity(pool.table, pool.lab.out_of_stock)
    if most < sim.pairs_per_round:
        raise sim.lab.short_batch(most, sim.pairs_per_round, "pairs_per_round")


# ----------------------------------------------------------------------------- pretraining


def load_pool_and_pretraining(
    data: DataConfig, sim: SimulationConfig
) -> tuple[Screen, Pool, tuple[Screen, Split] | None]:
    """The target screen and pool, and for ``other-cell-lines`` the whole screen + split.

    The pretraining split holds out 5% + 5% of the other lines' rows at random (early
    stopping, held-out metrics), not whole pairs: the point of pretraining is to carry each
    pair's behaviour in other lines over to the target line.

    Returns
    -------
    tuple
        ``(target screen, pool, pretraining (screen, split) or None)``.
    """
    if sim.pretrain != "other-cell-lines":
        screen = data.load()
        return screen, Pool.of(screen.table, sim.top_fraction, sim.lab), None
    if not data.cell_line or "," in data.cell_line:
        raise DataError(
            "pretrain other-cell-lines needs one target cell_line NAME.",
            parameter=("pretrain", "cell_line"),
        )
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
    screen = whole.subset(target)
    return screen, Pool.of(screen.table, sim.top_fraction, sim.lab), (whole, split)


def pretrained_model(
    sim: SimulationConfig,
    model_config: ModelConfig,
    pretraining: tuple[Screen, Split] | None,
    out: Path,
    progress: bool,
) -> SynergyBNN | None:
    """The pretrained model, or None without ``sim.pretrain``.

    Fitted once on ``pretraining`` (cached as ``out/pretrain.pt``), or read from a run
    directory or a saved state (a ``pretrain.pt`` of another simulation).
    """
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
        refit=False,  # the active-learning benchmarks measured the early-stopped pretraining
    )
    bnn = SynergyBNN.from_config(config).fit(screen, split, progress=progress)
    metrics = bnn.evaluate(screen.table.iloc[split.test])
    metrics.update(
        rows=len(split.train), seconds=bnn.history.seconds, epochs_run=len(bnn.history.elbo)
    )
    write_json(out / "pretrain_metrics.json", metrics)
    save_state(bnn.state(), cache)
    return bnn


# -------------------------------------------------------------------------------- simulate


def draw_last_round(
    out: Path, pool: Pool, strategy: str, bnn: SynergyBNN, revealed: np.ndarray, batch: np.ndarray
) -> None:
    """The last round of ``strategy``'s first seed as ``recommend`` draws a batch:
    ``last_round_<strategy>_<line>.png`` and ``last_round_<strategy>.html`` in ``out``."""
    picks = pool.table.iloc[batch][["drug_a", "drug_b", "cell_line"]].reset_index(drop=True)
    write_recommendation_report(
        out,
        bnn,
        pool.table.iloc[revealed],
        picks.assign(rank=np.arange(1, len(picks) + 1)),
        settings={"strategy": strategy, "tested before this batch": len(revealed)},
        stem=f"last_round_{strategy}",
        overwrite=True,
    )


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

    Parameters
    ----------
    data : DataConfig
        The screen (and with ``sim.pretrain="other-cell-lines"`` the target cell line).
    sim : SimulationConfig
    model_config : ModelConfig
        The model fitted each round (e.g. :data:`ROUND_MODEL`).
    out : str or Path
        The folder: ``config.json``, ``progress.json`` (after every round), ``results.csv``
        (one row per strategy, seed and round; ``short``: the rows its batch lacked, each such
        round also a warning unless a budget is the reason), ``results.json`` (rows and
        per-strategy summary), ``recall.png``, and each model strategy's last round of the
        first seed drawn as ``recommend`` draws a batch (:func:`draw_last_round`).
    overwrite : bool
        Start afresh in a folder of another simulation.
    progress : bool
        Show a progress bar.
    extra_proposers : dict, optional
        Named non-BNN strategies (benchmarks): ``name -> factory(pool, screen, seed) ->
        proposer``.

    Returns
    -------
    dict
        :func:`~synergy_ppl.active.results.summarise_runs` of the results.
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
    twice = sorted(set(sim.strategies) & set(extra))
    if twice:
        raise OptionError(f"strategies {twice} are also extra proposers; name each arm once.")
    screen, pool, pretraining = load_pool_and_pretraining(data, sim)
    check_budget(
        len(pool.scores),
        sim.initial,
        sim.rounds,
        sim.pairs_per_round,
        sim.pretrain != "none",
        in_stock=int((~pool.lab.out_of_stock).sum()),
    )
    check_fills(pool, sim)
    prepare_out_dir(out, config, overwrite)
    progress_path = out / "progress.json"
    states = read_progress(progress_path, len(pool.scores))  # checked before any fit
    model = pretrained_model(sim, model_config, pretraining, out, progress)
    start = RoundStart(warm_start=sim.warm_start)
    if model is not None:  # rounds fit the pretrained architecture
        model_config = sim.transfer.model_config(model_config, model)
        start = replace(start, model=model, priors=sim.transfer.priors(model))
    if sim.warm_start and not (out / "models").is_dir():
        prepare_folder(out / "models")

    def proposer(name: str, seed: int) -> Proposer:
        if name in extra:
            return extra[name](pool, screen, seed)
        if name == "random":
            return random_proposer(pool, sim.pairs_per_round, seed)
        choice = BatchChoice(name, sim.pairs_per_round, sim.kappa)
        arm_start = start.for_arm(out / "models" / f"{name}-seed{seed}")
        return BNNProposer(screen, pool, choice, model_config, seed, arm_start)

    seeds = range(sim.first_seed, sim.first_seed + sim.seeds)
    arms = [(name, seed) for name in [*sim.strategies, *extra] for seed in seeds]
    left = sum(sim.rounds + 1 - len(states.get(arm_key(*a), {}).get("rounds", [])) for a in arms)
    bar = tqdm(
        total=max(left, 0), desc="simulate", unit="round", disable=None if progress else True
    )
    for name, seed in arms:
        key = arm_key(name, seed)

        def save(state: ArmState, key: str = key) -> None:
            states[key] = asdict(state)
            write_json(progress_path, states)

        def tick(record: dict, key: str = key) -> None:
            bar.update(1)
            bar.set_postfix_str(f"{key} tested={record['tested']} recall={record['recall']:.2f}")
            if record["short"] and sim.lab.budget is None:  # recommend would refuse this batch
                chosen = sim.pairs_per_round - record["short"]
                why = sim.lab.short_batch(chosen, sim.pairs_per_round, "pairs_per_round")
                warnings.warn(
                    OptionWarning(f"{key} round {record['round']}: {why}", why.parameters),
                    stacklevel=2,
                )

        propose = proposer(name, seed)
        run_arm(
            pool,
            propose,
            ArmState(**states[key]) if key in states else ArmState(),
            initial=sim.initial,
            rounds=sim.rounds,
            seed=seed,
            save=save,
            tick=tick,
            batch_size=sim.pairs_per_round,
        )
        if seed == sim.first_seed and getattr(propose, "last", None) is not None:
            draw_last_round(out, pool, name, *propose.last)
    bar.close()
    rows = results_table(states, arms, sim.rounds)
    summary = summarise_runs(rows)
    write_output(out / "results.csv", lambda tmp: rows.to_csv(tmp, index=False))
    write_json(out / "results.json", {"summary": summary, "rounds": rows.to_dict("records")})
    where = f"{data.data}" + (f" {data.cell_line}" if data.cell_line else "")
    title = f"{where}: pool of {len(pool.scores)} pairs"
    plot_recall(rows, out / "recall.png", len(pool.scores), int(pool.top.sum()), title)
    return summary
