"""Single-agent responses as an input: each drug's embedding shifted by its activity alone in
the line, so a pair's main effects and its interaction can both follow how active each drug
is on its own."""

from __future__ import annotations

import torch
from pyro.nn import PyroModule

from .layers import Linear
from .priors import Prior

SHIFT_SCALE = 0.2
"""The shift's inputs are scaled by this, so that under a unit prior its weights are a fifth
of an embedding's: single-agent responses are a weak signal of synergy on some screens, and a
shift as large a priori as the embedding itself cost accuracy there."""

INPUTS = ("response", "missing", "curvature")
"""The shift's inputs per drug and line, the columns of its weight ``W``."""


class SingleAgentShift(PyroModule):
    """``s(d, c) = W [m_dc, o_dc, q_dc] * SHIFT_SCALE``: a drug's shift in line c, ``(..., N, R)``.

    ``m_dc`` is the drug's standardised single-agent response in the line (higher = more
    active; 0 where it was never run alone there), ``o_dc`` is 1 where it is missing, so a
    missing value is modelled (its own learned shift) rather than dropped or imputed as
    average, and ``q_dc = m_dc^2 - 1`` (0 where missing) its curvature: synergy is not
    monotone in a drug's activity alone (a drug that kills nearly every cell on its own
    leaves a partner nothing to add), which a shift linear in ``m`` cannot follow. ``W``
    ``(R, 3)`` is Bayesian under ``prior``. Added to the drug embedding e_d of a
    factorisation, the main effect ``(e_a + e_b) . k_c`` gains a line-specific function of
    each drug's activity and the interaction ``e_a diag(l_c) e_b`` products of the two
    drugs' terms, each weighed by the line's factors.

    The responses are buffers taken from the features (not saved with the weights): a model
    rebuilt over grown features (new drugs, a new table) reads theirs.

    Parameters
    ----------
    monotherapy : Tensor ``(D, C)``
        Standardised responses, NaN where missing.
    rank : int
        R, the embedding width.
    prior : Prior
        Prior of ``W``.
    """

    def __init__(self, monotherapy: torch.Tensor, rank: int, prior: Prior):
        super().__init__()
        missing = torch.isnan(monotherapy)
        self.register_buffer("values", torch.where(missing, 0.0, monotherapy), persistent=False)
        self.register_buffer("missing", missing.float(), persistent=False)
        self.weight_map = Linear(len(INPUTS), rank, prior, bias=False)

    def forward(self, drug: torch.Tensor, cell: torch.Tensor | int) -> torch.Tensor:
        """The shifts of drugs ``drug`` ``(N,)`` in lines ``cell`` (``(N,)`` or one line)."""
        value, missing = self.values[drug, cell], self.missing[drug, cell]
        curvature = (value.square() - 1.0) * (1.0 - missing)
        inputs = torch.stack([value, missing, curvature], dim=-1)
        return self.weight_map(inputs * SHIFT_SCALE)
