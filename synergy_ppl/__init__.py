"""synergy_ppl: Bayesian neural networks in Pyro for drug-combination synergy.

The public API, in the order the data flows::

    screen  = screen_from_frame(table, smiles)      # or load_screen("oneil"), make_demo_screen()
    bnn     = SynergyBNN(net=FactorizationOptions(rank=64)).fit(screen)  # no split: all rows
    table   = bnn.predict(pairs)                    # mean, std, q05 ... q95 per row
    draws   = bnn.sample(pairs, noise=False)        # (S, N) joint draws for acquisition
    batch   = recommend(bnn, screen.table, batch_size=30)     # the next untested triples

A model is composed of its parts (:class:`SynergyBNN`: a family's options such as
:class:`FactorizationOptions`, a prior of :mod:`priors`, a :class:`Likelihood`, a guide
builder of :mod:`guides`, :class:`FeatureOptions`, :class:`TrainingConfig`), or made from
the flat :class:`ModelConfig` that the command line and config files use
(:meth:`SynergyBNN.from_config`).

Runs on disk (what the command line writes and reads): :func:`fit_run`, :func:`load_fit`,
:func:`predict_run`, :func:`recommend_run`, :func:`simulate`, :func:`diagnose`,
:func:`score_wells`, :func:`run_sweep`. Bad input raises a :class:`UserError`.

>>> import synergy_ppl as sp
>>> screen = sp.make_demo_screen(n_drugs=6, n_cell_lines=2, n_bits=16)
>>> config = sp.ModelConfig(rank=8, n_bits=16, epochs=5)
>>> bnn = sp.SynergyBNN.from_config(config).fit(screen, progress=False)
>>> sp.recommend(bnn, screen.table, batch_size=2)[["rank", "drug_a", "drug_b"]].shape
(2, 3)
"""

from __future__ import annotations

from importlib import import_module

from .acquisition import SCORES, STRATEGIES, make_strategy
from .active import (
    ROUND_MODEL,
    LabRules,
    SimulationConfig,
    recommend,
    recommend_run,
    simulate,
)
from .config import ModelConfig
from .data import (
    DataConfig,
    Screen,
    Split,
    load_screen,
    make_demo_screen,
    screen_from_frame,
    split_screen,
)
from .dose_response import score_wells
from .errors import DataError, OptionError, OutputError, TrainingDiverged, UserError
from .estimator import SynergyBNN
from .inference.svi import TrainingConfig
from .model import guides, priors
from .model.factorization import FactorizationOptions
from .model.guides import GUIDES
from .model.hierarchical import HierarchicalOptions
from .model.likelihoods import LIKELIHOODS, Likelihood, NormalLikelihood, StudentTLikelihood
from .model.network import RecoverOptions
from .model.options import FeatureOptions
from .model.pair_mlp import PairMLPOptions
from .model.priors import PRIORS
from .runs import fit_run, load_fit, predict_run
from .settings import Settings, resolve
from .transfer import Transfer

__version__ = "0.1.0"

_LAZY = {
    "diagnose": "diagnostics",
    "to_inference_data": "diagnostics",
    "load_sweep_config": "sweep",
    "run_sweep": "sweep",
}
"""Names whose modules import ArviZ / Matplotlib / Ray machinery: loaded on first use."""

__all__ = [
    "GUIDES",
    "LIKELIHOODS",
    "PRIORS",
    "ROUND_MODEL",
    "SCORES",
    "STRATEGIES",
    "DataConfig",
    "DataError",
    "FactorizationOptions",
    "FeatureOptions",
    "HierarchicalOptions",
    "LabRules",
    "Likelihood",
    "ModelConfig",
    "NormalLikelihood",
    "OptionError",
    "OutputError",
    "PairMLPOptions",
    "RecoverOptions",
    "Screen",
    "Settings",
    "SimulationConfig",
    "Split",
    "StudentTLikelihood",
    "SynergyBNN",
    "TrainingConfig",
    "TrainingDiverged",
    "Transfer",
    "UserError",
    "diagnose",
    "fit_run",
    "guides",
    "load_fit",
    "load_screen",
    "load_sweep_config",
    "make_demo_screen",
    "make_strategy",
    "predict_run",
    "priors",
    "recommend",
    "recommend_run",
    "resolve",
    "run_sweep",
    "score_wells",
    "screen_from_frame",
    "simulate",
    "split_screen",
    "to_inference_data",
]


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'synergy_ppl' has no attribute '{name}'")
