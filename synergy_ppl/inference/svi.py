"""Stochastic variational inference: minibatch SVI with early stopping on the validation split.

Early stopping watches one of :data:`STOPPING_LOSSES` on the validation rows (``stop_on``):
the posterior predictive's negative log density (the default) or the posterior median's RMSE.

Parameters live in the model and guide modules (:mod:`~synergy_ppl.model.isolation`), not in Pyro's
global param store; the ELBO is used as a ``torch.nn.Module`` with one torch optimizer,
which also removes most of Pyro's per-step overhead.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields

import pyro
import torch
from pyro import poutine
from pyro.infer import TraceMeanField_ELBO
from pyro.infer.autoguide import AutoGuide
from tqdm.auto import tqdm

from ..errors import TrainingDiverged
from ..model.network import SynergyModel, Triples
from .predictive import log_predictive_density, mixture_draws, network_samples


@dataclass
class TrainData:
    """Index tensors and standardised targets of the training and validation parts.

    ``train`` and ``val`` are ``(drug_a, drug_b, cell)`` index tensors, each ``(N,)``;
    ``y_train`` and ``y_val`` are the standardised scores ``(N,)``.
    """

    train: Triples
    y_train: torch.Tensor
    val: Triples
    y_val: torch.Tensor


@dataclass
class History:
    """Per-epoch training record."""

    elbo: list[float] = field(default_factory=list)
    """Mean negative ELBO per training row (loss, lower is better)."""
    validation: dict[str, list[float]] = field(default_factory=dict)
    """Name of :data:`STOPPING_LOSSES` -> that validation loss per epoch (standardised scale);
    empty without validation rows."""
    best_epoch: int = 0
    refit_epochs: int = 0
    """Epochs of the fit afresh on the training and validation rows (``ModelConfig.refit``)
    after these; 0: none."""
    member_best_epochs: list[int] = field(default_factory=list)
    """Each member's ``best_epoch`` in a mixture (``TrainingConfig.members``), the first's
    this one's."""
    member_refit_epochs: list[int] = field(default_factory=list)
    """Epochs of each member's refit, the first's ``refit_epochs``."""
    seconds: float = 0.0
    """Training seconds, the refits' and the other members' included."""


def point_prediction(model: SynergyModel, guide: AutoGuide, triples: Triples) -> torch.Tensor:
    """Network output ``(N,)`` with every latent weight at its guide median."""
    with torch.no_grad():
        return poutine.condition(model.net, data=guide.median())(*triples)


@dataclass(frozen=True)
class TrainingConfig:
    """How SVI runs: the optimizer, the minibatches and early stopping, and whether a fit
    with validation rows trains again on all of its rows.

    ``lr``, ``guide_lr``, ``patience``, ``weight_decay`` and ``members`` left None take the
    model family's (its options' ``training_defaults``; ``SynergyBNN`` and ``ModelConfig``
    fill them), and :func:`train` needs them set.

    Parameters
    ----------
    epochs : int
        Most passes over the training rows.
    min_steps : int
        Raises the number of epochs so that at least this many optimizer steps run: on a few
        dozen rows an epoch is a step or two, too few for the guide's scales to grow from
        their small initial value to the posterior's width, which would leave the
        uncertainty far too narrow.
    batch_size : int
        Rows per minibatch (per optimizer step).
    lr : float
        Learning rate of the point-estimate layers (AdamW).
    guide_lr : float
        Learning rate of the variational parameters: their scales and the noise scale live on
        a log scale and need more room to move than the trunk's weights in the few steps a
        small data set gives.
    patience : int
        Epochs without a better validation loss before training stops.
    stop_on : str
        The validation loss early stopping watches, a key of :data:`STOPPING_LOSSES`:
        ``"nll"`` (the predictive's negative log density, which weighs the means, the
        function's spread and the noise together) or ``"rmse"`` (the posterior median's
        error, blind to the spread).
    num_particles : int
        ELBO samples per step (vectorised when > 1).
    weight_decay : float
        Decoupled (AdamW) weight decay of the point-estimate layers only; the Bayesian
        weights are regularised by their KL term.
    trunk_anchor : float
        tau > 0 adds tau/2 ||theta - theta_0||^2 over the point-estimate layers, theta_0
        their values when training starts (L2-SP, Li et al. 2018): a Gaussian prior centred
        at a pretrained trunk, which the likelihood outweighs as the data grow.
    refit : bool
        With validation rows: once early stopping has chosen the epoch, ``SynergyBNN.fit``
        trains afresh on the training and validation rows together for the optimizer steps
        those epochs took (:func:`train` itself does not read it).
    calibrate : bool
        With validation rows: widen (or narrow) the measurement noise by the factor under
        which the early-stopped fit's predictive is most likely on them
        (:mod:`~synergy_ppl.inference.calibration`), for the fitted model's predictions.
    members : int
        Variational fits whose equal-weight mixture is the posterior (``SynergyBNN.fit``;
        :func:`train` runs one): each a whole fit (early stopping, refit) from its own
        initial weights (seeds ``seed``, ``seed + 1``, ...), the noise calibrated on the
        mixture. A mean-field guide settles on one mode of the weights; several fits find
        different ones, and their mixture predicts better than any. The members train
        together as one vectorised fit, sharing the minibatch order, and stop where their
        mixture is best on the validation rows (:func:`~.members.train_members`); with
        ``num_particles`` > 1 one after another, each with its own order and epoch.
    seed : int
        Seeds the initial weights, Pyro's sampling and the minibatch order.
    """

    epochs: int = 300
    min_steps: int = 0
    batch_size: int = 256
    lr: float | None = None
    guide_lr: float | None = None
    patience: int | None = None
    stop_on: str = "nll"
    num_particles: int = 1
    weight_decay: float | None = None
    trunk_anchor: float = 0.0
    refit: bool = True
    calibrate: bool = True
    members: int | None = None
    seed: int = 0

    def unset(self) -> list[str]:
        """The fields left None (to take the family's)."""
        return [f.name for f in fields(self) if getattr(self, f.name) is None]


MIN_IMPROVEMENT = 1e-4
"""Validation loss (standardised scale) an epoch must gain to count as better: smaller gains
are noise of the minibatch order and would keep a converged fit running."""
VALIDATION_DRAWS = 32
"""Posterior draws behind the validation NLL of each epoch."""


def validation_rmse(
    model: SynergyModel, guides: Sequence[AutoGuide], data: TrainData, seed: int
) -> float:
    """RMSE on the validation rows (standardised scale) of the posterior-median network, the
    members' medians averaged for a mixture of ``guides``."""
    pred = torch.stack([point_prediction(model, guide, data.val) for guide in guides]).mean(0)
    return torch.sqrt(torch.mean((pred - data.y_val) ** 2)).item()


def validation_nll(
    model: SynergyModel, guides: Sequence[AutoGuide], data: TrainData, seed: int
) -> float:
    """Mean negative log predictive density of the validation rows (standardised scale).

    -1/N sum_i log (1/S sum_s p(y_i | f_si, theta_s)) over :data:`VALIDATION_DRAWS` draws of
    the equal-weight mixture of ``guides`` (one guide: its own draws); the same ``seed``
    every epoch, so that epochs differ by the guides alone.
    """
    draws = mixture_draws(model, guides, VALIDATION_DRAWS, seed)
    means = network_samples(model, draws, data.val)
    return -log_predictive_density(model, draws, means, data.y_val, data.val).mean().item()


STOPPING_LOSSES = {"nll": validation_nll, "rmse": validation_rmse}
"""``--stop-on`` name -> validation loss ``(model, guides, data, seed) -> float`` of the
mixture of ``guides`` (a list of one for one fit), lower better."""


def validation_losses(
    model: SynergyModel, guides: Sequence[AutoGuide], data: TrainData, seed: int
) -> dict[str, float]:
    """Every loss of :data:`STOPPING_LOSSES` on the validation rows, by name."""
    return {name: loss_of(model, guides, data, seed) for name, loss_of in STOPPING_LOSSES.items()}


class EarlyStopping:
    """The early stopping of one fit: each epoch's validation losses go into ``history``, and
    the state of the epoch best in ``training.stop_on`` is kept (``best_state``)."""

    def __init__(self, history: History, training: TrainingConfig):
        self.history, self.training = history, training
        self.best_loss, self.stale = float("inf"), 0
        self.best_state: object = None

    def update(self, epoch: int, losses: dict[str, float], snapshot: Callable[[], object]) -> bool:
        """Record ``losses`` of ``epoch`` (0-based), keeping ``snapshot()`` if the watched one
        improved by :data:`MIN_IMPROVEMENT`; True once ``training.patience`` epochs in a row
        have not."""
        for name, value in losses.items():
            self.history.validation.setdefault(name, []).append(value)
        watched = losses[self.training.stop_on]
        if watched < self.best_loss - MIN_IMPROVEMENT:
            self.best_loss, self.stale, self.history.best_epoch = watched, 0, epoch
            self.best_state = snapshot()
            return False
        self.stale += 1
        return self.stale >= self.training.patience


def train(
    model: SynergyModel,
    guide: AutoGuide,
    data: TrainData,
    training: TrainingConfig,
    progress: bool = True,
) -> History:
    """Fit ``guide`` (and the model's point parameters) by maximising the ELBO.

    ELBO = E_q[log p(y | w)] - KL(q(w) || p(w)), estimated per minibatch B of the N
    training rows as (N / |B|) sum_{i in B} log p(y_i | w) - KL. The data plate scales a
    batch's likelihood to the full training set, so the KL term counts once per step as it
    should. ``TraceMeanField_ELBO`` uses the analytic KLs where registered and a Monte Carlo
    estimate otherwise. After every epoch both validation losses of :data:`STOPPING_LOSSES`
    are recorded; training stops after ``training.patience`` epochs without an improvement
    of :data:`MIN_IMPROVEMENT` in the one named by ``training.stop_on``, and the best
    epoch's parameters are restored. Without validation rows every epoch runs and the last
    one is kept.

    Parameters
    ----------
    model, guide
        The Pyro model and its guide; their parameters are trained in place.
    data : TrainData
        Training and validation rows.
    training : TrainingConfig
        Optimizer, minibatch and early-stopping settings.
    progress : bool
        Show a progress bar.

    Returns
    -------
    History
        Per-epoch losses and validation losses.

    Raises
    ------
    TrainingDiverged
        At once when the loss is not finite (the parameters of the last epoch whose loss was
        finite restored, the history in ``err.history``).
    ValueError
        ``training`` leaves a family's setting unset (:meth:`TrainingConfig.unset`).
    """
    if training.unset():
        raise ValueError(f"training settings {training.unset()} are unset; give them.")
    pyro.set_rng_seed(training.seed)
    particles = training.num_particles
    elbo = TraceMeanField_ELBO(
        num_particles=particles, vectorize_particles=particles > 1, max_plate_nesting=1
    )
    loss_fn = elbo(model, guide)
    n_train = len(data.y_train)
    loss_fn(*(t[:2] for t in data.train), data.y_train[:2], n_train)  # creates the guide params
    optimizer, anchor = optimizer_for(loss_fn, guide, training)
    generator = torch.Generator().manual_seed(training.seed)
    history = History()
    stopping = EarlyStopping(history, training)
    start = time.perf_counter()
    epochs = epochs_for(n_train, training)
    bar = tqdm(
        range(epochs), desc="fit", unit="epoch", disable=None if progress else True, leave=False
    )
    # Pyro's argument checks are a sizeable part of a step, and the first call above has
    # passed them; a NaN loss is reported below as one sentence, Pyro's own warning would
    # only repeat it
    with pyro.validation_enabled(False), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Encountered NaN")
        for epoch in bar:
            loss = guarded_epoch(model, loss_fn, optimizer, data, generator, training, anchor)
            if not math.isfinite(loss):
                history.seconds = time.perf_counter() - start
                raise diverged(epoch, loss, training, history)
            history.elbo.append(loss / n_train)
            if not len(data.y_val):
                history.best_epoch = epoch
                continue
            losses = validation_losses(model, [guide], data, training.seed)
            bar.set_postfix(
                loss=f"{history.elbo[-1]:.3f}",
                **{f"val_{k}": f"{v:.3f}" for k, v in losses.items()},
            )
            if stopping.update(epoch, losses, lambda: snapshot(loss_fn)):
                break
    if stopping.best_state is not None:
        loss_fn.load_state_dict(stopping.best_state)
    history.seconds = time.perf_counter() - start
    return history


def optimizer_for(
    loss_fn: torch.nn.Module, guide: AutoGuide, training: TrainingConfig
) -> tuple[torch.optim.Optimizer, Anchor | None]:
    """AdamW over ``loss_fn``'s parameters (the guide's at ``training.guide_lr`` without weight
    decay, the point-estimate trunk's at ``training.lr`` with it) and the trunk's
    :class:`Anchor`, if ``training.trunk_anchor`` asks for one. The guide's parameters must
    exist (the loss called once)."""
    # decoupled weight decay regularises the point-estimate trunk only; the Bayesian
    # weights are regularised by their KL term
    guide_params = {id(p) for p in guide.parameters()}
    trunk = [p for p in loss_fn.parameters() if id(p) not in guide_params]
    optimizer = adamw(
        [
            {"params": trunk, "weight_decay": training.weight_decay},
            {
                "params": list(guide.parameters()),
                "weight_decay": 0.0,
                "lr": training.guide_lr,
            },
        ],
        lr=training.lr,
    )
    anchor = Anchor(trunk, training.trunk_anchor) if training.trunk_anchor > 0 else None
    return optimizer, anchor


def epochs_for(n_train: int, training: TrainingConfig) -> int:
    """``training.epochs``, raised so that at least ``training.min_steps`` optimizer steps run
    over ``n_train`` rows."""
    steps_per_epoch = batches_per_epoch(n_train, training.batch_size)
    return max(training.epochs, -(-training.min_steps // steps_per_epoch))


def diverged(
    epoch: int, loss: float, training: TrainingConfig, history: History
) -> TrainingDiverged:
    """The error of a fit whose loss became ``loss`` in ``epoch`` (0-based), ``history``
    attached."""
    err = TrainingDiverged(
        f"training diverged in epoch {epoch + 1}: the loss became {loss}; "
        f"{learning_rate_advice(training.lr, training.guide_lr)}."
    )
    err.history = history
    return err


def learning_rate_advice(lr: float, guide_lr: float | None) -> str:
    """What to change when a fit diverges: the parameters ``lr`` and ``guide_lr``, which a
    :class:`TrainingDiverged` carries by default."""
    return f"lower lr (now {lr:g}) or guide_lr (now {guide_lr or lr:g})"


def snapshot(module: torch.nn.Module) -> dict:
    """A copy of ``module``'s state, to restore with ``load_state_dict``."""
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def adamw(groups: list[dict], lr: float) -> torch.optim.Optimizer:
    """AdamW with torch's fused kernel where the device supports it (CPU from torch 2.4).

    The fused kernel updates all parameter tensors in one call instead of a handful of small
    kernels per tensor, which matters for a network of many small tensors (timings in
    ``benchmarks/README.md``, from ``benchmarks/training_speed.py``). Older torch falls back
    to the per-tensor loop.
    """
    try:
        return torch.optim.AdamW(groups, lr=lr, fused=True)
    except RuntimeError:
        return torch.optim.AdamW(groups, lr=lr)


class Anchor:
    """tau/2 * sum ||theta - theta_0||^2 over ``params``, theta_0 their values at creation."""

    def __init__(self, params: list[torch.Tensor], tau: float):
        self.params, self.tau = params, tau
        self.start = [p.detach().clone() for p in params]

    def __call__(self) -> torch.Tensor:
        drift = sum(((p - p0) ** 2).sum() for p, p0 in zip(self.params, self.start, strict=True))
        return 0.5 * self.tau * drift


def batches_per_epoch(n_rows: int, batch_size: int) -> int:
    """Minibatches (optimizer steps) in an epoch of ``n_rows``: ceil(n_rows / batch_size),
    of near-equal size. A short last batch (11 rows after 3 x 256) would have its likelihood
    scaled up N / 11 times, one wild step per epoch."""
    return -(-n_rows // batch_size)


def guarded_epoch(
    model: SynergyModel,
    loss_fn: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    data: TrainData,
    generator: torch.Generator,
    training: TrainingConfig,
    anchor: Anchor | None = None,
) -> float:
    """One epoch over the training rows in a fresh random order (``generator``), dropout on
    for its steps only; the mean full-data loss, and when it is not finite ``loss_fn``'s
    parameters are put back to those before the epoch."""
    order = torch.randperm(len(data.y_train), generator=generator)
    model.train()  # dropout on for the steps, off for validation and afterwards
    last_finite = snapshot(loss_fn)
    loss = run_epoch(loss_fn, optimizer, data, order, training.batch_size, anchor)
    model.eval()
    if not math.isfinite(loss):
        loss_fn.load_state_dict(last_finite)
    return loss


def run_epoch(
    loss_fn,
    optimizer,
    data: TrainData,
    order: torch.Tensor,
    batch_size: int,
    anchor: Anchor | None = None,
) -> float:
    """One pass over the training rows in ``order``; returns the mean full-data loss (the
    negative ELBO, without the anchor's penalty)."""
    n_train = len(order)
    total = 0.0
    for batch in order.tensor_split(batches_per_epoch(n_train, batch_size)):
        optimizer.zero_grad()
        loss = loss_fn(*(t[batch] for t in data.train), data.y_train[batch], n_train)
        if not torch.isfinite(loss):
            return math.nan  # stop before a non-finite gradient reaches the parameters
        (loss + anchor() if anchor else loss).backward()
        optimizer.step()
        total += loss.item() * len(batch) / n_train
    return total
