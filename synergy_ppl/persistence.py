"""A fitted posterior as a saved state (``model.pt``) and back, in the layout of
:mod:`~synergy_ppl.state_format` (older layouts migrated first), and the same fitted model
over a grown drug table.

The state holds the flat config (:attr:`~synergy_ppl.parts.Parts.config`), from which the
parts are rebuilt, the features, the score scaling and the parameters of the model and of
each member's guide: tensors, numbers, strings, lists and dicts only, so that it loads with
``torch.load(weights_only=True)``.
"""

from __future__ import annotations

from dataclasses import asdict

from .config import ModelConfig
from .data.features import FeatureSet
from .inference.posterior import Posterior
from .parts import Parts
from .state_format import FORMAT, migrate

__all__ = ["restore", "state_of", "with_features"]


def state_of(posterior: Posterior) -> dict:
    """Everything needed to rebuild the fitted ``posterior``, ``torch.save``-able."""
    return {
        "format": FORMAT,
        "config": asdict(posterior.parts.config),
        "features": posterior.features.to_dict(),
        "scaling": asdict(posterior.scaling),
        "cell_lines_seen": posterior.cell_lines_seen,
        "without_rows": posterior.without_rows,
        "noise_factor": posterior.noise_factor,
        "model": posterior.model.state_dict(),
        "guides": [guide.state_dict() for guide in posterior.guides],
    }


def restore(state: dict) -> Posterior:
    """The fitted posterior of a state from :func:`state_of` (an older layout migrated)."""
    state = migrate(state)
    parts = Parts.of_config(ModelConfig.from_dict(state["config"]))
    posterior = Posterior(parts, FeatureSet.from_dict(state["features"]))
    posterior.load(state)
    posterior.cell_lines_seen = state.get("cell_lines_seen")
    posterior.without_rows = state["without_rows"]
    posterior.noise_factor = state["noise_factor"]
    return posterior


def with_features(posterior: Posterior, features: FeatureSet) -> Posterior:
    """The same fitted posterior over ``features``, a grown drug table (new drugs, added
    after the fit, for prediction): their feature rows, and per-drug guide entries at 0 with
    the widest fitted scale (:func:`~.inference.unseen.with_new_drugs`)."""
    if features is posterior.features:
        return posterior
    state = {**state_of(posterior), **posterior.parameters_over(features)}
    return restore({**state, "features": features.to_dict()})
