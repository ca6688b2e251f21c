"""The strategies by command-line name: ``make_strategy(name, kappa=..., best_f=...)``.

A strategy is a :class:`~synergy_ppl.acquisition.batch.Strategy`. :data:`STRATEGIES` maps
each name to its constructor, which reads only its own settings from a
:class:`~synergy_ppl.acquisition.scores.AcquisitionSettings`: every score of
:data:`~synergy_ppl.acquisition.scores.SCORES` ranked top-q, then the batch-aware methods.
"""

from __future__ import annotations

from collections.abc import Callable

from .batch import QExpectedImprovement, QUpperConfidenceBound, Strategy, ThompsonBatch, TopQ
from .information import TopSetInformation
from .scores import SCORES, AcquisitionSettings


def _top_q_of(name: str) -> Callable[[AcquisitionSettings], Strategy]:
    """The constructor of the top-q strategy of score ``name``."""
    return lambda settings: TopQ(SCORES[name](settings))


STRATEGIES: dict[str, Callable[[AcquisitionSettings], Strategy]] = {
    **{name: _top_q_of(name) for name in SCORES},
    "q-ei": lambda s: QExpectedImprovement(s.incumbent("q-ei")),
    "q-ucb": lambda s: QUpperConfidenceBound(s.kappa),
    "thompson-batch": lambda s: ThompsonBatch(),
    "top-set-info": lambda s: TopSetInformation(s.noise("top-set-info")),
}
"""Command-line name -> constructor of the strategy from its settings."""


def make_strategy(
    name: str, *, kappa: float = 1.0, best_f: float | None = None, noise_sd: float | None = None
) -> Strategy:
    """The strategy ``name`` with its settings.

    Parameters
    ----------
    name : str
        A key of :data:`STRATEGIES`.
    kappa : float
        Exploration weight (``ucb``, ``q-ucb``).
    best_f : float, optional
        The incumbent, the best score measured so far (``ei``, ``pi``, ``q-ei``).
    noise_sd : float, optional
        The measurement noise's SD on the score scale (``top-set-info``).

    Returns
    -------
    Strategy
    """
    if name not in STRATEGIES:
        raise ValueError(f"unknown acquisition {name!r}; valid: {', '.join(STRATEGIES)}")
    return STRATEGIES[name](AcquisitionSettings(kappa=kappa, best_f=best_f, noise_sd=noise_sd))
