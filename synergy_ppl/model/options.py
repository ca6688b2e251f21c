"""The options of a model's parts: the drug and cell-line features it reads, and the base of
every family's network options.

A family's options dataclass (``RecoverOptions``, ``PairMLPOptions``,
``FactorizationOptions``, beside each network class) is the one place of that family's
defaults: its own fields' defaults, :attr:`NetworkOptions.input_defaults` (the features it
reads unless told otherwise) and :attr:`NetworkOptions.training_defaults` (its learning
rates, weight decay and patience). ``ModelConfig`` fills its None fields from them (through
the network class's ``defaults``), and so does ``SynergyBNN`` for the None fields of
:class:`FeatureOptions` and ``TrainingConfig``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import ClassVar

from pyro.nn import PyroModule

from ..data.features import FeatureSet, build_features
from ..data.screen import Screen
from .priors import Prior, normal

__all__ = ["FeatureOptions", "NetworkOptions"]


@dataclass(frozen=True, kw_only=True)
class FeatureOptions:
    """How a screen's drugs and cell lines become the network's input (:func:`build_features`).

    ``n_bits`` and ``cell_components`` left None take the family's
    (:attr:`NetworkOptions.input_defaults`).

    Parameters
    ----------
    radius : int
        Morgan fingerprint radius.
    n_bits : int or None
        Morgan fingerprint bits; 0: the drugs' one-hot identities only.
    one_hot_drugs : bool
        Append each drug's one-hot identity to its fingerprint.
    cell_components : int or None
        Principal components of a cell-line table (as many as there are lines keep all of
        it); 0: one-hot cell lines, the table ignored.
    """

    radius: int = 2
    n_bits: int | None = None
    one_hot_drugs: bool = True
    cell_components: int | None = None

    def build(self, screen: Screen) -> FeatureSet:
        """The features of ``screen``: drug rows ``(D, F)`` and line rows ``(C, G)``."""
        unset = [f.name for f in fields(self) if getattr(self, f.name) is None]
        if unset:
            raise ValueError(f"feature options {unset} are unset; fill them with the family's.")
        return build_features(
            screen,
            radius=self.radius,
            n_bits=self.n_bits,
            one_hot_drugs=self.one_hot_drugs,
            cell_components=self.cell_components,
        )


@dataclass(frozen=True, kw_only=True)
class NetworkOptions:
    """Base of a family's options: what every family takes, and its defaults elsewhere.

    A family's options dataclass subclasses this, adds its own fields (its layer sizes: the
    ``ModelConfig`` fields that only it reads, ``NetworkBase.options``), may override a
    default, and builds its network with :meth:`build`. Every field is a ``ModelConfig``
    field of the same name.

    Parameters
    ----------
    drug_effects : float or None
        Prior SD of the latent per-drug effects (``NetworkBase``); 0: none; None: the
        family's choice for the screen's number of lines (:meth:`drug_effects_for`).
    pair_effects : float
        Prior SD of the latent per-pair effects, shared by all lines; 0: none.
    noise_effects : float
        Prior SD of each line's and drug's log noise scale, read by the ``SynergyModel``
        around the network; 0: one noise width for every row.
    """

    drug_effects: float | None = 0.0
    pair_effects: float = 0.0
    noise_effects: float = 0.0

    point_layers_with: ClassVar[tuple[str, ...]] = ()
    """The ``bayesian`` values with which the family keeps point-estimate layers (a trunk
    that ``lr``, ``weight_decay`` and ``trunk_anchor`` act on); none: every weight is
    Bayesian."""
    input_defaults: ClassVar[Mapping[str, int]] = {"n_bits": 0, "cell_components": 0}
    """:class:`FeatureOptions` fields left None -> the family's value."""
    training_defaults: ClassVar[Mapping[str, float | int]] = {
        "lr": 1e-3,
        "guide_lr": 1e-2,
        "weight_decay": 0.05,
        "patience": 30,
        "members": 1,
    }
    """``TrainingConfig`` fields left None -> the family's value."""

    def build(self, features: FeatureSet, prior: Prior = normal) -> PyroModule:
        """The family's network (a ``NetworkBase``) over ``features``, every Bayesian weight
        under ``prior``."""
        raise NotImplementedError

    def drug_effects_for(self, n_lines: int) -> float:
        """The prior SD of the latent drug effects on a screen of ``n_lines`` lines:
        ``drug_effects``, none where it is None."""
        return self.drug_effects or 0.0

    def values(self) -> dict[str, object]:
        """Field name -> value (the network class's keyword arguments)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def own(cls) -> tuple[str, ...]:
        """The fields of this family alone (not :class:`NetworkOptions`')."""
        shared = {f.name for f in fields(NetworkOptions)}
        return tuple(f.name for f in fields(cls) if f.name not in shared)

    @classmethod
    def defaults(cls) -> dict[str, object]:
        """Every default of the family: its fields', its inputs' and its training's."""
        own = {f.name: f.default for f in fields(cls)}
        return {**cls.input_defaults, **own, **cls.training_defaults}
