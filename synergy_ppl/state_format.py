"""The layout of a saved model state (``model.pt``): its version, and the explicit migration
of every older layout to the current one.

A state records ``format``; one without it is version 1, written before the version was
recorded. :func:`migrate` turns an older state into the current layout one version at a
time, each step a function of :data:`MIGRATIONS` that says what changed, and refuses a state
newer than this code reads.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from pyro.infer.autoguide import AutoNormal

from .errors import DataError
from .model.families import own_options

FORMAT = 5
"""The layout :meth:`SynergyBNN.state` writes."""


def _from_1(state: dict) -> dict:
    """Version 1 (no ``format`` key): a config without ``model`` is RECOVER's (the only family
    then); without ``noise_effects``, one noise width; a config of those days held every
    family's options, so another family's are dropped; ``without_rows`` missing: the guide
    of such a run was pooled only, and no drug borrows draws."""
    config = {"model": "recover", "noise_effects": 0.0, **state["config"]}
    return {
        **state,
        "config": own_options(config["model"], config),
        "without_rows": state.get("without_rows", {"drugs": [], "cell_lines": []}),
        "format": 2,
    }


def _from_2(state: dict) -> dict:
    """Version 2: no ``noise_factor``; the noise was not calibrated, a factor of 1."""
    return {**state, "noise_factor": 1.0, "format": 3}


def _from_3(state: dict) -> dict:
    """Version 3: one ``guide``; a posterior of one member, ``guides`` holding it."""
    rest = {key: value for key, value in state.items() if key != "guide"}
    return {**rest, "guides": [state["guide"]], "format": 4}


SHIFT_WEIGHT = "single_agent.weight_map.weight"
"""Part of the guides' state keys of the single-agent shift's weight ``W``."""


def _from_4(state: dict) -> dict:
    """Version 4: the single-agent shift read a drug's response and its missing flag, not the
    response's curvature (``SingleAgentShift``). ``W`` gains that column at 0 in every
    guide's location and a width of 1e-6 in its scale (stored unconstrained, through the
    scale constraint of the guides that have scales, ``AutoNormal``'s), so the run predicts
    as it did."""
    tiny = torch.distributions.transform_to(AutoNormal.scale_constraint).inv(torch.tensor(1e-6))
    guides = []
    for guide in state["guides"]:
        guide = dict(guide)
        for key, value in guide.items():
            if SHIFT_WEIGHT in key:
                fill = tiny.item() if key.startswith("scales.") else 0.0
                guide[key] = torch.cat([value, value.new_full((*value.shape[:-1], 1), fill)], -1)
        guides.append(guide)
    return {**state, "guides": guides, "format": 5}


MIGRATIONS: dict[int, Callable[[dict], dict]] = {1: _from_1, 2: _from_2, 3: _from_3, 4: _from_4}
"""Version v -> the function that turns a state of version v into one of version v + 1."""


def migrate(state: dict) -> dict:
    """``state`` in the current layout (:data:`FORMAT`), migrated step by step if older.

    Raises
    ------
    DataError
        A ``format`` that is not a whole number, or newer than :data:`FORMAT`.
    """
    version = state.get("format", 1)
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise DataError(f"the model state's format {version!r} is not a version; refit it.")
    if version > FORMAT:
        raise DataError(
            f"the model state has format {version}, newer than this synergy-ppl reads "
            f"({FORMAT}); upgrade synergy-ppl or refit the run."
        )
    while version < FORMAT:
        state, version = MIGRATIONS[version](state), version + 1
    return state
