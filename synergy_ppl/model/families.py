"""The model families: networks that map a (drug A, drug B, cell line) triple to the synergy
mean, each composed with any prior, likelihood and guide.

A new family is one network class (a ``NetworkBase``), its options dataclass (a
:class:`~.options.NetworkOptions` with its defaults and ``build(features, prior)``, named as
the class's ``Options``) and one line here."""

from __future__ import annotations

from collections.abc import Mapping

from .factorization import Factorization
from .hierarchical import HierarchicalFactorization
from .network import SynergyNet
from .pair_mlp import PairMLP

FAMILIES = {
    "recover": SynergyNet,
    "pair-mlp": PairMLP,
    "factorization": Factorization,
    "hierarchical": HierarchicalFactorization,
}
"""``--model`` name -> network class (built by its ``Options``)."""
DEFAULT_FAMILY = "hierarchical"
"""The family of a model that names none."""

FAMILY_OPTIONS = tuple(sorted({name for family in FAMILIES.values() for name in family.options}))
"""ModelConfig fields that belong to some families only (``options`` of each class)."""


def own_options(model: str, values: Mapping[str, object]) -> dict[str, object]:
    """``values`` without the options that belong to families other than ``model`` (all of
    them kept for an unknown family, which ``ModelConfig`` reports)."""
    family = FAMILIES.get(model)
    if family is None:
        return dict(values)
    return {k: v for k, v in values.items() if k not in FAMILY_OPTIONS or k in family.options}
