"""Sweeps: run ``fit`` or ``simulate`` over a search space, on Ray Tune or one after another.

A sweep config (YAML) names the base command, its fixed options and a search space over
others; option names are the command's long options (``head_layers`` or ``head-layers``)::

    command: fit              # or simulate
    metric: test.pearson      # fit: dotted path in metrics.json; simulate: in results.json
    mode: max                 # max or min
    num_samples: 4            # draws of the sampled options (choice / uniform / loguniform)
    seed: 0                   # seed of those draws: the trial list is reproducible
    report: [test.rmse]       # optional: more metrics to put in the table
    fixed:                    # options every trial shares
      data: demo
      epochs: 3
    search:                   # options that vary
      prior: {grid: [normal, laplace]}           # every value (cartesian product)
      lr: {loguniform: [1.0e-4, 1.0e-2]}         # sampled num_samples times
      head_layers: {choice: [[64], [128, 32]]}
      prior_scale: {uniform: [0.5, 2.0]}

The config is checked before any trial runs: its keys and their types, the option names and
the ``fixed:`` values (resolved by :mod:`synergy_ppl.settings`, as the command line resolves
its options), and that some trial can report the ``metric:`` and each ``report:`` entry
(:func:`check_metrics`). A ``search:`` value is checked when its trial runs: a bad one fails
that trial only. Mistakes raise
:class:`~synergy_ppl.errors.OptionError` naming the file and the key.

Trials are the grid's cartesian product times ``num_samples`` draws of the sampled options
(one draw if there are none). Each trial has a stable id (a hash of the command and all its
options) and a folder ``<out>/trials/<id>/`` holding ``trial.json`` (status, metrics, error,
seconds), ``trial.log`` (its output and, if it failed, the traceback) and ``run/``, the
ordinary run directory of ``fit`` or ``simulate``. The sweep writes ``summary.csv``,
``summary.json`` (one row per trial and the best trial) and ``sweep.png`` into ``<out>``.
Everything it writes is listed in the folders' manifests (:mod:`synergy_ppl.outputs`).

Resuming: a folder whose ``sweep.json`` holds the same config is resumed: trials whose
``trial.json`` says ``finished`` are skipped; failed and unfinished trials run again (a
``simulate`` trial continues from its last finished round). A folder holding another sweep
(or anything else) is refused unless ``overwrite``, which removes only what a sweep wrote
there and starts afresh.

The modules, in the order of the flow: :mod:`.metrics` (the metrics a trial reports),
:mod:`.config` (the config, its checks and its trials), :mod:`.trials` (running one trial),
:mod:`.engines` (sequential and Ray Tune), :mod:`.report` (summary files and lines) and
:mod:`.runner` (:func:`run_sweep`).
"""

from __future__ import annotations

from .config import (
    CONFIG_KEYS,
    RESERVED,
    SAMPLERS,
    SweepConfig,
    check_metrics,
    expand,
    load_sweep_config,
    trial_hash,
    trial_strategies,
)
from .engines import ray_available, run_ray, run_sequential
from .metrics import (
    FIT_EXTRAS,
    FIT_PARTS,
    fit_metric_names,
    lookup,
    metric_problem,
    regression_metric_names,
    simulate_metric_names,
)
from .report import SweepResult, gather, plot_sweep, summary_lines
from .runner import SWEEP_WRITES, prepare_sweep_folder, run_sweep
from .trials import (
    FAILED,
    FINISHED,
    PENDING,
    TRIAL_WRITES,
    read_record,
    run_trial,
    trial_specs,
)

__all__ = [
    "CONFIG_KEYS",
    "FAILED",
    "FINISHED",
    "FIT_EXTRAS",
    "FIT_PARTS",
    "PENDING",
    "RESERVED",
    "SAMPLERS",
    "SWEEP_WRITES",
    "TRIAL_WRITES",
    "SweepConfig",
    "SweepResult",
    "check_metrics",
    "expand",
    "fit_metric_names",
    "gather",
    "load_sweep_config",
    "lookup",
    "metric_problem",
    "plot_sweep",
    "prepare_sweep_folder",
    "ray_available",
    "read_record",
    "regression_metric_names",
    "run_ray",
    "run_sequential",
    "run_sweep",
    "run_trial",
    "simulate_metric_names",
    "summary_lines",
    "trial_hash",
    "trial_specs",
    "trial_strategies",
]
