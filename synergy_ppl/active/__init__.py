"""Active learning: recommend the next batch from a fitted run, and simulate RECOVER's
sequential model optimisation on a screen whose scores are hidden and revealed batch by batch.

Simulation, per strategy and seed (an *arm*)::

    pool (the screen's averaged canonical rows, scores hidden)
      | reveal N0 rows at random (the same rows for every strategy of a seed; with a
      | pretrained model N0 may be 0: it chooses the first batch itself)
      v
    round r = 1..R:  fit a BNN on the revealed rows (from scratch, or from a pretrained model,
                     whose posterior may also be the prior) -> joint (S, N) draws of the pool
                     -> choose Q unrevealed rows (synergy_ppl.acquisition) -> reveal them
                     -> record

A *proposer* ``(revealed indices, round) -> next batch`` is all a strategy is to the loop, so
non-Bayesian baselines (the benchmark's random forest) run through the same machinery. Every
finished round is written to ``progress.json`` at once; rerunning the same command continues
where it stopped, and the randomness of a round depends only on (seed, round), so a resumed
run gives the same result as an uninterrupted one.

The modules, each importing only those before it:

``lab``
    :class:`LabRules`, what a lab can run in one round, applied to a table of candidates.
``pool``
    :class:`Pool`, the initial draw, the budget check and one round's record.
``recommendation``
    :func:`recommend` (and :func:`check_strategy`, the strategy names a user may give).
``loop``
    :func:`run_arm`, the seeds of a round (:func:`round_seed`, :func:`round_generator`) and
    the proposers (:func:`random_proposer`, :class:`BNNProposer`).
``results``
    The per-round table, its per-strategy summary and the recall plot.
``simulation``
    :class:`SimulationConfig`, :data:`ROUND_MODEL`, the output folder, pretraining and
    :func:`simulate`.
"""

from ..acquisition import STRATEGIES
from .lab import LabConstraints, LabRules
from .loop import (
    ArmState,
    BatchChoice,
    BNNProposer,
    Proposer,
    RoundStart,
    arm_key,
    random_proposer,
    round_generator,
    round_seed,
    run_arm,
)
from .pool import Pool, check_budget, initial_draw, round_record
from .recommendation import (
    canonical_pairs,
    check_strategy,
    recommend,
    recommend_run,
    untested_candidates,
)
from .results import pairs_to_reach, plot_recall, results_table, summarise_runs
from .simulation import (
    PRETRAIN_KINDS,
    ROUND_MODEL,
    ROUND_OPTIONS,
    SIMULATION_WRITES,
    SimulationConfig,
    load_pool_and_pretraining,
    prepare_out_dir,
    pretrained_model,
    round_options,
    simulate,
)

__all__ = [
    "PRETRAIN_KINDS",
    "ROUND_MODEL",
    "ROUND_OPTIONS",
    "round_options",
    "SIMULATION_WRITES",
    "STRATEGIES",
    "ArmState",
    "BNNProposer",
    "BatchChoice",
    "LabConstraints",
    "LabRules",
    "Pool",
    "Proposer",
    "RoundStart",
    "SimulationConfig",
    "arm_key",
    "canonical_pairs",
    "check_budget",
    "check_strategy",
    "initial_draw",
    "load_pool_and_pretraining",
    "pairs_to_reach",
    "plot_recall",
    "prepare_out_dir",
    "pretrained_model",
    "random_proposer",
    "recommend",
    "recommend_run",
    "results_table",
    "round_generator",
    "round_record",
    "round_seed",
    "run_arm",
    "simulate",
    "summarise_runs",
    "untested_candidates",
]
