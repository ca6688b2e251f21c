r"""Acquisition scores and batch selection over posterior predictive samples.

Every function here is a pure function of tensors; no model is involved. The common input is a
sample matrix ``samples`` of shape ``(S, N)``: ``S`` posterior draws (rows) for ``N`` candidate
drug pairs (columns), on the original synergy-score scale, where higher means more synergistic.
The samples are *joint*: all entries of row ``s`` come from the same weight draw, so each row is
one coherent function draw :math:`f^{(s)}`. Batch-aware methods rely on this.

Two families of functions:

- *Scores* map ``samples`` to one value per candidate, shape ``(N,)``. They are registered in
  :data:`ACQUISITIONS` under their command-line names and share one calling convention,
  ``score(samples, context)``, with an :class:`AcquisitionContext` carrying the settings.
- *Batch selectors* return a ``LongTensor`` of shape ``(q,)`` with the indices of the ``q``
  candidates to test next, in selection order, never an excluded index and never a duplicate.
  :func:`select_batch` is the single entry point.

Randomness always comes from an explicit ``generator: torch.Generator | None``; ``None`` falls
back to torch's global generator.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

__all__ = [
    "ACQUISITIONS",
    "BATCH_METHODS",
    "AcquisitionContext",
    "acquisition_scores",
    "capped_top_q",
    "decayed_kappa",
    "expected_improvement",
    "greedy",
    "per_draw_incumbent",
    "probability_of_improvement",
    "random_scores",
    "select_batch",
    "sequential_q_ei",
    "sequential_q_ucb",
    "thompson",
    "thompson_batch",
    "top_q",
    "ucb",
]


# ----------------------------------------------------------------------------------------------
# Validation
# ----------------------------------------------------------------------------------------------


def _check_samples(samples: Tensor) -> None:
    """Raise ``ValueError`` unless ``samples`` is a finite floating ``(S, N)`` tensor."""
    if not isinstance(samples, Tensor) or samples.dim() != 2:
        shape = tuple(samples.shape) if isinstance(samples, Tensor) else type(samples).__name__
        raise ValueError(f"samples must be a 2-D tensor of shape (S, N); got {shape}")
    if not samples.is_floating_point():
        raise ValueError(f"samples must be a floating-point tensor; got dtype {samples.dtype}")
    if samples.shape[0] < 1 or samples.shape[1] < 1:
        raise ValueError(f"samples needs at least one draw and one candidate; got {samples.shape}")
    if not torch.isfinite(samples).all():
        raise ValueError("samples contains NaN or infinite values")


def _check_scores(scores: Tensor) -> None:
    """Raise ``ValueError`` unless ``scores`` is a NaN-free floating ``(N,)`` tensor."""
    if not isinstance(scores, Tensor) or scores.dim() != 1 or not scores.is_floating_point():
        raise ValueError("scores must be a 1-D floating-point tensor of shape (N,)")
    if torch.isnan(scores).any():
        raise ValueError("scores contains NaN values")


def _check_q(q: int) -> None:
    """Raise ``ValueError`` unless the batch size ``q`` is a positive integer."""
    if isinstance(q, bool) or not isinstance(q, int) or q < 1:
        raise ValueError(f"batch size q must be an integer >= 1; got {q!r}")


def _check_mask(mask: Tensor | None, n: int, name: str = "exclude") -> Tensor:
    """Return ``mask`` as a bool tensor of shape ``(n,)`` (all ``False`` when ``None``)."""
    if mask is None:
        return torch.zeros(n, dtype=torch.bool)
    if mask.dtype != torch.bool or tuple(mask.shape) != (n,):
        raise ValueError(
            f"{name} must be a bool tensor of shape ({n},); "
            f"got dtype {mask.dtype} and shape {tuple(mask.shape)}"
        )
    return mask


def _incumbent(best_f: float | Tensor, samples: Tensor) -> Tensor:
    """Return the incumbent broadcastable against ``samples``: shape ``()`` or ``(S, 1)``."""
    best = torch.as_tensor(best_f, dtype=samples.dtype, device=samples.device)
    if best.dim() == 1 and best.shape[0] == samples.shape[0]:
        best = best.unsqueeze(-1)
    elif best.dim() != 0:
        raise ValueError(
            f"best_f must be a float or a tensor of shape (S,) = ({samples.shape[0]},); "
            f"got shape {tuple(best.shape)} for samples of shape {tuple(samples.shape)}"
        )
    if not torch.isfinite(best).all():
        raise ValueError("best_f contains NaN or infinite values")
    return best


# ----------------------------------------------------------------------------------------------
# Scores: (S, N) -> (N,)
# ----------------------------------------------------------------------------------------------


def greedy(samples: Tensor) -> Tensor:
    r"""Posterior mean (pure exploitation).

    .. math:: \alpha(x_j) = \hat\mu_j = \frac{1}{S} \sum_{s=1}^S f^{(s)}_j

    Args:
        samples: ``(S, N)`` joint posterior predictive draws.

    Returns:
        ``(N,)`` posterior mean per candidate.
    """
    _check_samples(samples)
    return samples.mean(dim=0)


def ucb(samples: Tensor, kappa: float = 1.0) -> Tensor:
    r"""Upper confidence bound.

    .. math:: \alpha(x_j) = \hat\mu_j + \kappa \, \hat\sigma_j

    with :math:`\hat\mu_j` the mean and :math:`\hat\sigma_j` the (Bessel-corrected) standard
    deviation of the draws of candidate :math:`j`. ``kappa = 0`` reduces to :func:`greedy`.

    Args:
        samples: ``(S, N)`` joint posterior predictive draws, ``S >= 2``.
        kappa: weight of the standard deviation (exploration).

    Returns:
        ``(N,)`` upper confidence bound per candidate.
    """
    _check_samples(samples)
    if samples.shape[0] < 2:
        raise ValueError(f"ucb needs at least 2 draws to estimate a std; got S={samples.shape[0]}")
    return samples.mean(dim=0) + kappa * samples.std(dim=0)


def decayed_kappa(kappa0: float, round_index: int, decay: float) -> float:
    r"""UCB exploration weight for round ``t``, decayed geometrically.

    .. math:: \kappa_t = \kappa_0 \, d^{\,t}

    Args:
        kappa0: weight in round 0.
        round_index: round :math:`t \ge 0`.
        decay: factor :math:`d > 0` per round (``d < 1`` shifts towards exploitation).

    Returns:
        :math:`\kappa_t`.
    """
    if round_index < 0:
        raise ValueError(f"round_index must be >= 0; got {round_index}")
    if decay <= 0:
        raise ValueError(f"decay must be > 0; got {decay}")
    return kappa0 * decay**round_index


def per_draw_incumbent(samples: Tensor, tested: Tensor) -> Tensor:
    r"""Noisy incumbent: each draw's best prediction over already-measured candidates.

    .. math:: f^{*(s)} = \max_{j \in T} f^{(s)}_j

    where :math:`T` is the set of tested candidates. Pass the result as ``best_f`` to
    :func:`expected_improvement` or :func:`probability_of_improvement` for their noisy variants.

    Args:
        samples: ``(S, N)`` joint posterior predictive draws that include the tested candidates.
        tested: ``(N,)`` bool mask of the candidates already measured (at least one).

    Returns:
        ``(S,)`` incumbent per draw.
    """
    _check_samples(samples)
    tested = _check_mask(tested, samples.shape[1], "tested")
    if not tested.any():
        raise ValueError("per_draw_incumbent needs at least one tested candidate")
    return samples[:, tested].max(dim=1).values


def expected_improvement(samples: Tensor, best_f: float | Tensor) -> Tensor:
    r"""Monte Carlo expected improvement over an incumbent.

    .. math:: \alpha(x_j) = \frac{1}{S} \sum_{s=1}^S \max\bigl(0,\ f^{(s)}_j - f^{*(s)}\bigr)

    The incumbent :math:`f^*` is either a float, the best score *measured* so far (classic EI),
    or a ``(S,)`` tensor with one incumbent per draw (noisy EI), typically the maximum of each
    draw's predictions at the already-measured pairs (:func:`per_draw_incumbent`). It must not
    be the candidates' own per-draw maximum :math:`\max_k f^{(s)}_k`: then no candidate can ever
    improve on it and the score is identically zero.

    Args:
        samples: ``(S, N)`` joint posterior predictive draws.
        best_f: incumbent, a float or a ``(S,)`` tensor.

    Returns:
        ``(N,)`` expected improvement per candidate, ``>= 0``.
    """
    _check_samples(samples)
    return (samples - _incumbent(best_f, samples)).clamp_min(0).mean(dim=0)


def probability_of_improvement(
    samples: Tensor, best_f: float | Tensor, tau: float | None = None
) -> Tensor:
    r"""Monte Carlo probability of improvement over an incumbent.

    With ``tau=None`` the exceedance fraction, otherwise BoTorch's smoothed qPI:

    .. math::
        \alpha(x_j) = \frac{1}{S} \sum_{s=1}^S \mathbb{1}\bigl[f^{(s)}_j > f^{*(s)}\bigr]
        \quad\text{or}\quad
        \alpha(x_j) = \frac{1}{S} \sum_{s=1}^S \sigma\!\Bigl(\frac{f^{(s)}_j - f^{*(s)}}{\tau}\Bigr)

    with :math:`\sigma` the logistic sigmoid. The incumbent is as in
    :func:`expected_improvement` (float or per-draw ``(S,)`` tensor).

    Args:
        samples: ``(S, N)`` joint posterior predictive draws.
        best_f: incumbent, a float or a ``(S,)`` tensor.
        tau: temperature :math:`\tau > 0` of the sigmoid, or ``None`` for the hard indicator.

    Returns:
        ``(N,)`` probability of improvement per candidate, in ``[0, 1]``.
    """
    _check_samples(samples)
    delta = samples - _incumbent(best_f, samples)
    if tau is None:
        return (delta > 0).to(samples.dtype).mean(dim=0)
    if tau <= 0:
        raise ValueError(f"tau must be > 0 or None; got {tau}")
    return torch.sigmoid(delta / tau).mean(dim=0)


def thompson(samples: Tensor, generator: torch.Generator | None = None) -> Tensor:
    r"""Thompson sampling: the values of one posterior draw chosen uniformly at random.

    .. math:: \alpha(x_j) = f^{(r)}_j, \qquad r \sim \mathcal{U}\{1, \dots, S\}

    Its argmax is a draw from the posterior of the maximiser. For batches use
    :func:`thompson_batch`, which takes one distinct draw per slot.

    Args:
        samples: ``(S, N)`` joint posterior predictive draws.
        generator: source of randomness for the row index.

    Returns:
        ``(N,)`` the chosen draw's values.
    """
    _check_samples(samples)
    row = int(torch.randint(samples.shape[0], (1,), generator=generator))
    return samples[row]


def random_scores(n: int, generator: torch.Generator | None = None) -> Tensor:
    r"""Uniform random scores, the model-free baseline.

    .. math:: \alpha(x_j) \sim \mathcal{U}(0, 1) \ \text{i.i.d.}

    Args:
        n: number of candidates ``N``.
        generator: source of randomness.

    Returns:
        ``(N,)`` random scores.
    """
    return torch.rand(n, generator=generator)


# ----------------------------------------------------------------------------------------------
# Registry of scores under their command-line names
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AcquisitionContext:
    """Settings shared by all registered scores; each score reads only what it needs.

    Attributes:
        best_f: incumbent for ``ei`` and ``pi``: a float or a ``(S,)`` per-draw tensor.
        kappa: exploration weight for ``ucb``.
        tau: sigmoid temperature for ``pi`` (``None``: hard indicator).
        generator: source of randomness for ``thompson`` and ``random``.
    """

    best_f: float | Tensor | None = None
    kappa: float = 1.0
    tau: float | None = None
    generator: torch.Generator | None = None

    def require_best_f(self, name: str) -> float | Tensor:
        """Return ``best_f``, raising ``ValueError`` naming ``name`` when it is missing."""
        if self.best_f is None:
            raise ValueError(f"acquisition {name!r} needs best_f (the incumbent); got None")
        return self.best_f


ScoreFn = Callable[[Tensor, AcquisitionContext], Tensor]

ACQUISITIONS: dict[str, ScoreFn] = {
    "greedy": lambda s, ctx: greedy(s),
    "ucb": lambda s, ctx: ucb(s, ctx.kappa),
    "ei": lambda s, ctx: expected_improvement(s, ctx.require_best_f("ei")),
    "pi": lambda s, ctx: probability_of_improvement(s, ctx.require_best_f("pi"), ctx.tau),
    "thompson": lambda s, ctx: thompson(s, ctx.generator),
    "random": lambda s, ctx: random_scores(s.shape[1], ctx.generator).to(s),
}
"""Command-line name -> score function ``(samples (S, N), context) -> (N,)``."""


def acquisition_scores(
    samples: Tensor, name: str, context: AcquisitionContext | None = None
) -> Tensor:
    """Score every candidate with the registered acquisition ``name``.

    Args:
        samples: ``(S, N)`` joint posterior predictive draws.
        name: a key of :data:`ACQUISITIONS`.
        context: settings for the score (defaults: no incumbent, ``kappa=1``, global RNG).

    Returns:
        ``(N,)`` scores, higher is better.
    """
    if name not in ACQUISITIONS:
        raise ValueError(f"unknown acquisition {name!r}; valid: {', '.join(ACQUISITIONS)}")
    _check_samples(samples)
    return ACQUISITIONS[name](samples, context or AcquisitionContext())


# ----------------------------------------------------------------------------------------------
# Batch selection: -> LongTensor (q,)
# ----------------------------------------------------------------------------------------------


def _candidate_order(exclude: Tensor, generator: torch.Generator | None) -> Tensor:
    """Indices of the non-excluded candidates in a random order (for random tie-breaking)."""
    perm = torch.randperm(exclude.shape[0], generator=generator)
    return perm[~exclude[perm]]


def _ranked(scores: Tensor, exclude: Tensor, generator: torch.Generator | None) -> Tensor:
    """Non-excluded indices sorted by decreasing score, ties in random order."""
    order = _candidate_order(exclude, generator)
    return order[torch.sort(scores.cpu()[order], descending=True, stable=True).indices]


def top_q(
    scores: Tensor,
    q: int,
    exclude: Tensor | None = None,
    generator: torch.Generator | None = None,
) -> Tensor:
    r"""The ``q`` highest-scoring candidates that are not excluded.

    .. math:: B = \operatorname{arg\,top\text{-}q}_{j \notin E} \ \alpha(x_j)

    Ties are broken uniformly at random with ``generator``, not by index order. When fewer than
    ``q`` candidates remain, all of them are returned (possibly none).

    Args:
        scores: ``(N,)`` acquisition scores, higher is better.
        q: batch size, ``>= 1``.
        exclude: ``(N,)`` bool mask of candidates that must not be chosen (already tested).
        generator: source of randomness for tie-breaking.

    Returns:
        ``(min(q, N_remaining),)`` LongTensor of indices, best first.
    """
    _check_scores(scores)
    _check_q(q)
    exclude = _check_mask(exclude, scores.shape[0]).cpu()
    return _ranked(scores, exclude, generator)[:q]


def _greedy_max_batch(
    utility: Tensor, q: int, exclude: Tensor, generator: torch.Generator | None
) -> Tensor:
    r"""Sequential greedy maximisation of :math:`U(B) = \frac{1}{S}\sum_s \max_{j\in B} u_{sj}`.

    Keeps each draw's running maximum :math:`m_s` over the points chosen so far and adds the
    candidate maximising :math:`\frac{1}{S}\sum_s \max(m_s, u_{sj})`. Candidates whose
    utilities move together with an already chosen point add little.

    Args:
        utility: ``(S, N)`` per-draw utilities :math:`u_{sj}`.
        q: batch size.
        exclude: ``(N,)`` bool mask of candidates that must not be chosen.
        generator: source of randomness for tie-breaking.

    Returns:
        ``(min(q, N_remaining),)`` LongTensor of indices in selection order.
    """
    utility = utility.cpu()
    remaining = _candidate_order(exclude, generator)
    running = torch.full((utility.shape[0], 1), -math.inf, dtype=utility.dtype)
    chosen: list[int] = []
    for _ in range(min(q, remaining.shape[0])):
        value = torch.maximum(running, utility[:, remaining]).mean(dim=0)
        k = int(value.argmax())
        chosen.append(int(remaining[k]))
        running = torch.maximum(running, utility[:, remaining[k]].unsqueeze(-1))
        remaining = torch.cat([remaining[:k], remaining[k + 1 :]])
    return torch.tensor(chosen, dtype=torch.long)


def sequential_q_ei(
    samples: Tensor,
    q: int,
    best_f: float | Tensor,
    exclude: Tensor | None = None,
    generator: torch.Generator | None = None,
) -> Tensor:
    r"""Batch by sequential greedy maximisation of Monte Carlo q-expected improvement.

    BoTorch's qEI of a batch :math:`B` over joint draws:

    .. math::
        \mathrm{qEI}(B) = \frac{1}{S} \sum_{s=1}^S
            \max\Bigl(0,\ \max_{j \in B} f^{(s)}_j - f^{*(s)}\Bigr)

    Candidates are added one at a time, each maximising qEI of the batch so far plus itself.
    A near-duplicate of a chosen point (its draws move together with it) adds almost nothing,
    so the batch diversifies. ``best_f`` is a float or ``(S,)`` tensor as in
    :func:`expected_improvement`.

    Args:
        samples: ``(S, N)`` joint posterior predictive draws.
        q: batch size, ``>= 1``.
        best_f: incumbent, a float or a ``(S,)`` tensor.
        exclude: ``(N,)`` bool mask of candidates that must not be chosen.
        generator: source of randomness for tie-breaking.

    Returns:
        ``(min(q, N_remaining),)`` LongTensor of indices in selection order.
    """
    _check_samples(samples)
    _check_q(q)
    exclude = _check_mask(exclude, samples.shape[1]).cpu()
    improvement = (samples - _incumbent(best_f, samples)).clamp_min(0)
    return _greedy_max_batch(improvement, q, exclude, generator)


def sequential_q_ucb(
    samples: Tensor,
    q: int,
    kappa: float = 1.0,
    exclude: Tensor | None = None,
    generator: torch.Generator | None = None,
) -> Tensor:
    r"""Batch by sequential greedy maximisation of Monte Carlo q-upper confidence bound.

    BoTorch's qUCB of a batch :math:`B` over joint draws:

    .. math::
        \mathrm{qUCB}(B) = \frac{1}{S} \sum_{s=1}^S \max_{j \in B}
            \Bigl(\hat\mu_j + \sqrt{\beta\pi/2}\,\bigl|f^{(s)}_j - \hat\mu_j\bigr|\Bigr)

    with :math:`\hat\mu_j` the mean of the draws. For a Gaussian posterior
    :math:`\mathbb{E}|f_j - \mu_j| = \sigma_j\sqrt{2/\pi}`, so with :math:`q = 1` it equals
    :math:`\mu_j + \sqrt{\beta}\,\sigma_j`: the mapping to :func:`ucb` is
    :math:`\kappa = \sqrt{\beta}`, i.e. :math:`\beta = \kappa^2`. Candidates are added greedily
    as in :func:`sequential_q_ei`.

    Args:
        samples: ``(S, N)`` joint posterior predictive draws.
        q: batch size, ``>= 1``.
        kappa: exploration weight, as in :func:`ucb`.
        exclude: ``(N,)`` bool mask of candidates that must not be chosen.
        generator: source of randomness for tie-breaking.

    Returns:
        ``(min(q, N_remaining),)`` LongTensor of indices in selection order.
    """
    _check_samples(samples)
    _check_q(q)
    exclude = _check_mask(exclude, samples.shape[1]).cpu()
    mean = samples.mean(dim=0)
    utility = mean + kappa * math.sqrt(math.pi / 2) * (samples - mean).abs()
    return _greedy_max_batch(utility, q, exclude, generator)


def thompson_batch(
    samples: Tensor,
    q: int,
    exclude: Tensor | None = None,
    generator: torch.Generator | None = None,
) -> Tensor:
    r"""Batch Thompson sampling: one distinct posterior draw per batch slot.

    Draw rows :math:`r_1, \dots, r_q` without replacement and set

    .. math:: b_t = \operatorname{arg\,max}_{j \notin E \cup \{b_1, \dots, b_{t-1}\}} f^{(r_t)}_j

    Args:
        samples: ``(S, N)`` joint posterior predictive draws, ``S >= min(q, N_remaining)``.
        q: batch size, ``>= 1``.
        exclude: ``(N,)`` bool mask of candidates that must not be chosen.
        generator: source of randomness for the rows and for tie-breaking.

    Returns:
        ``(min(q, N_remaining),)`` LongTensor of distinct indices in selection order.
    """
    _check_samples(samples)
    _check_q(q)
    exclude = _check_mask(exclude, samples.shape[1]).cpu()
    remaining = _candidate_order(exclude, generator)
    n_pick = min(q, remaining.shape[0])
    if n_pick > samples.shape[0]:
        raise ValueError(
            f"thompson-batch needs one distinct draw per slot: q={n_pick} but S={samples.shape[0]}"
        )
    rows = torch.randperm(samples.shape[0], generator=generator)[:n_pick]
    draws = samples.cpu()
    chosen: list[int] = []
    for row in rows.tolist():
        k = int(draws[row, remaining].argmax())
        chosen.append(int(remaining[k]))
        remaining = torch.cat([remaining[:k], remaining[k + 1 :]])
    return torch.tensor(chosen, dtype=torch.long)


def capped_top_q(
    scores: Tensor,
    q: int,
    drug_a: Tensor,
    drug_b: Tensor,
    max_per_drug: int,
    exclude: Tensor | None = None,
    generator: torch.Generator | None = None,
) -> Tensor:
    r"""Top-q with at most ``max_per_drug`` appearances of any single drug in the batch.

    Walks the candidates by decreasing score (ties in random order) and accepts pair
    :math:`(a_j, b_j)` when, after adding it, every drug :math:`d` satisfies

    .. math:: \#\{i \in B : a_i = d\} + \#\{i \in B : b_i = d\} \le c

    This spreads a batch over drugs instead of spending it on one promising compound. When
    fewer than ``q`` candidates fit the cap, all that fit are returned.

    Args:
        scores: ``(N,)`` acquisition scores, higher is better.
        q: batch size, ``>= 1``.
        drug_a: ``(N,)`` integer index of each candidate's first drug.
        drug_b: ``(N,)`` integer index of each candidate's second drug.
        max_per_drug: cap :math:`c \ge 1`.
        exclude: ``(N,)`` bool mask of candidates that must not be chosen.
        generator: source of randomness for tie-breaking.

    Returns:
        ``(<= q,)`` LongTensor of indices, best first.
    """
    _check_scores(scores)
    _check_q(q)
    n = scores.shape[0]
    for name, drugs in (("drug_a", drug_a), ("drug_b", drug_b)):
        if drugs.dtype.is_floating_point or drugs.dtype == torch.bool or drugs.shape != (n,):
            raise ValueError(
                f"{name} must be an integer tensor of shape ({n},) like scores; "
                f"got dtype {drugs.dtype} and shape {tuple(drugs.shape)}"
            )
    if max_per_drug < 1:
        raise ValueError(f"max_per_drug must be >= 1; got {max_per_drug}")
    exclude = _check_mask(exclude, n).cpu()
    a, b = drug_a.tolist(), drug_b.tolist()
    counts: Counter[int] = Counter()
    chosen: list[int] = []
    for j in _ranked(scores, exclude, generator).tolist():
        pair = Counter((a[j], b[j]))
        if all(counts[d] + k <= max_per_drug for d, k in pair.items()):
            counts.update(pair)
            chosen.append(j)
            if len(chosen) == q:
                break
    return torch.tensor(chosen, dtype=torch.long)


BATCH_METHODS: tuple[str, ...] = ("top-q", "q-ei", "q-ucb", "thompson-batch", "capped")
"""Names accepted by :func:`select_batch` for ``method``."""


def select_batch(
    samples: Tensor,
    q: int,
    method: str,
    *,
    acquisition: str = "ucb",
    exclude: Tensor | None = None,
    best_f: float | Tensor | None = None,
    kappa: float = 1.0,
    tau: float | None = None,
    drug_a: Tensor | None = None,
    drug_b: Tensor | None = None,
    max_per_drug: int | None = None,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Choose the next ``q`` candidates to test.

    Methods:

    - ``top-q``: :func:`top_q` of the scores of ``acquisition``.
    - ``capped``: :func:`capped_top_q` of the scores of ``acquisition``; needs ``drug_a``,
      ``drug_b`` and ``max_per_drug``.
    - ``q-ei``: :func:`sequential_q_ei`; needs ``best_f``.
    - ``q-ucb``: :func:`sequential_q_ucb` with ``kappa``.
    - ``thompson-batch``: :func:`thompson_batch`.

    The batch-aware methods (``q-ei``, ``q-ucb``, ``thompson-batch``) define their own utility
    and ignore ``acquisition``, which is still checked to be a valid name.

    Args:
        samples: ``(S, N)`` joint posterior predictive draws on the original score scale.
        q: batch size, ``>= 1``.
        method: one of :data:`BATCH_METHODS`.
        acquisition: one of :data:`ACQUISITIONS`, for ``top-q`` and ``capped``.
        exclude: ``(N,)`` bool mask of candidates that must not be chosen (already tested).
        best_f: incumbent, float or ``(S,)`` tensor, for ``ei``, ``pi`` and ``q-ei``.
        kappa: exploration weight for ``ucb`` and ``q-ucb``.
        tau: sigmoid temperature for ``pi``.
        drug_a: ``(N,)`` first-drug index per candidate, for ``capped``.
        drug_b: ``(N,)`` second-drug index per candidate, for ``capped``.
        max_per_drug: cap per drug in the batch, for ``capped``.
        generator: source of randomness (Thompson draws, random scores, tie-breaking).

    Returns:
        ``(<= q,)`` LongTensor of distinct, non-excluded candidate indices in selection order;
        shorter than ``q`` only when fewer candidates remain (or fit the cap).
    """
    if method not in BATCH_METHODS:
        raise ValueError(f"unknown batch method {method!r}; valid: {', '.join(BATCH_METHODS)}")
    if acquisition not in ACQUISITIONS:
        raise ValueError(f"unknown acquisition {acquisition!r}; valid: {', '.join(ACQUISITIONS)}")
    _check_samples(samples)
    _check_q(q)
    if method == "q-ei":
        if best_f is None:
            raise ValueError("method 'q-ei' needs best_f (the incumbent); got None")
        return sequential_q_ei(samples, q, best_f, exclude, generator)
    if method == "q-ucb":
        return sequential_q_ucb(samples, q, kappa, exclude, generator)
    if method == "thompson-batch":
        return thompson_batch(samples, q, exclude, generator)
    if method == "capped" and (drug_a is None or drug_b is None or max_per_drug is None):
        raise ValueError("method 'capped' needs drug_a, drug_b and max_per_drug")
    context = AcquisitionContext(best_f=best_f, kappa=kappa, tau=tau, generator=generator)
    scores = ACQUISITIONS[acquisition](samples, context)
    if method == "top-q":
        return top_q(scores, q, exclude, generator)
    return capped_top_q(scores, q, drug_a, drug_b, max_per_drug, exclude, generator)
