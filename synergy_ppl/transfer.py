"""Transfer: a fit that starts from a pretrained model, e.g. one fitted on other cell lines.

The new fit takes the pretrained model's architecture (``estimator.ARCHITECTURE``), features,
score scaling and parameters as its starting point. ``mode="prior"`` also makes the pretrained
posterior, its scales multiplied by ``widen``, the prior of the Bayesian weights;
``mode="warm-start"`` keeps the configured prior (plain fine-tuning). ``fit --prior-from`` and
``simulate --pretrain`` both use it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import pyro.distributions as dist

from .config import ARCHITECTURE, ModelConfig
from .errors import OptionError
from .estimator import SynergyBNN
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
    """

    mode: str = "prior"
    widen: float = 1.0

    def __post_init__(self) -> None:
        if self.mode not in TRANSFERS:
            raise OptionError(f"--transfer '{self.mode}' is not one of {list(TRANSFERS)}.")
        check_range("--widen", self.widen, 0, low_open=True)

    def model_config(self, config: ModelConfig, start: SynergyBNN) -> ModelConfig:
        """``config`` with ``start``'s architecture; the training options stay ``config``'s."""
        return replace(config, **{name: getattr(start.config, name) for name in ARCHITECTURE})

    def priors(self, start: SynergyBNN) -> dict[str, dist.Distribution] | None:
        """Site name -> prior of the new fit (``mode="prior"``), or None (keep the configured
        prior)."""
        return start.posterior_priors(self.widen) if self.mode == "prior" else None
