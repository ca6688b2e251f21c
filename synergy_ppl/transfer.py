"""Transfer: a fit that starts from a pretrained model, e.g. one fitted on other cell lines.

The new fit takes the pretrained model's architecture (``config.ARCHITECTURE``), features,
score scaling and parameters as its starting point. ``mode="prior"`` also makes the pretrained
posterior, its scales multiplied by ``widen``, the prior of the Bayesian weights;
``mode="warm-start"`` keeps the configured prior (plain fine-tuning). ``fit --prior-from`` and
``simulate --pretrain`` both use it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import InitVar, dataclass, replace
from typing import ClassVar

import pyro.distributions as dist

from .config import ARCHITECTURE, ModelConfig
from .errors import OptionError
from .estimator import SynergyBNN
from .model.families import FAMILIES, FAMILY_OPTIONS
from .options import check_range

TRANSFERS = ("prior", "warm-start")
"""The transfer modes: the pretrained posterior as prior, or plain fine-tuning."""


@dataclass(frozen=True)
class Transfer:
    """How a fit starts from a pretrained model.

    Parameters
    ----------
    mode : {"prior", "warm-start"}
        ``prior``: the pretrained posterior N(loc, (widen * scale)^2) is the new prior of
        every Bayesian weight site; ``warm-start``: the configured prior stays.
    widen : float
        Multiplies the pretrained posterior's scales (``> 1`` lets the new fit move further).
    given : iterable of str, optional
        The model options the user gave (``--model``, ``--rank`` ...; not saved with the
        run). The new fit takes the pretrained architecture, so an architecture option given
        with another value than the pretrained model's, or an option the pretrained family
        does not read (``--lr`` for ``factorization``), is refused, not silently replaced.
    """

    mode: str = "prior"
    widen: float = 1.0
    given: InitVar[Iterable[str] | None] = None
    given_options: ClassVar[frozenset[str]] = frozenset()
    """``given`` as a set (set per instance; not a field, so not compared or saved)."""

    def __post_init__(self, given: Iterable[str] | None) -> None:
        if self.mode not in TRANSFERS:
            raise OptionError(
                f"mode '{self.mode}' is not one of {list(TRANSFERS)}.", parameter="mode"
            )
        check_range("widen", self.widen, 0, low_open=True)
        object.__setattr__(self, "given_options", frozenset(given or ()))  # frozen dataclass

    def model_config(self, config: ModelConfig, start: SynergyBNN) -> ModelConfig:
        """``config`` with ``start``'s architecture; the training options stay ``config``'s,
        but for ``members``, ``start``'s unless given.

        Raises :class:`OptionError` if an option in ``given`` disagrees with ``start``."""
        ours, theirs = config.architecture(), start.config.architecture()
        for name in (n for n in ARCHITECTURE if n in self.given_options):
            if ours[name] != theirs[name]:
                raise OptionError(
                    f"{name} {_text(ours[name])}, but the pretrained model has {name} "
                    f"{_text(theirs[name])}; a fit from it keeps its architecture: drop "
                    f"{name} or pretrain with {name} {_text(ours[name])}.",
                    parameter=name,
                )
        taken = {name: getattr(start.config, name) for name in ARCHITECTURE}
        # options of the config's family that the pretrained family lacks (recover's
        # dropout for a factorization): that family refuses them
        owned = FAMILIES[start.config.model].options
        taken |= {name: None for name in FAMILY_OPTIONS if name not in owned}
        if "members" not in self.given_options:  # as many as the start has, unless given
            taken["members"] = start.config.members
        new = replace(config, **taken)
        new.refuse_unread(self.given_options)
        return new

    def priors(self, start: SynergyBNN) -> dict[str, dist.Distribution] | None:
        """Site name -> prior of the new fit (``mode="prior"``), or None (keep the configured
        prior)."""
        return start.posterior_priors(self.widen) if self.mode == "prior" else None


def _text(value) -> str:
    """An option's value as the command line writes it (``64,32`` for a tuple)."""
    if isinstance(value, tuple):
        return ",".join(map(str, value))
    return "none" if value is None else str(value)
