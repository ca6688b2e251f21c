"""Training a mixture's members together: K variational fits of one model as one vectorised fit.

The members of a mixture (``TrainingConfig.members``) are independent fits of the same model
from their own initial weights. Stacked, every guide parameter gains a leading ``(K, 1)``
dimension, and the ELBO's vectorised particle plate of size K (at dim -2, outside the data
plate) gives particle k member k's location and scale, so that one trace of the model and the
guide per optimizer step trains all K:

    loss = (1/K) sum_k -ELBO_k(phi_k),

whose gradient in member k's parameters phi_k is its own fit's, scaled by 1/K (which Adam's
normalisation undoes). A step on a small screen costs mostly Pyro's tracing, which is paid
once instead of K times. The members share the minibatch order, and they stop together, at
the epoch where their mixture, the posterior that is delivered, is best on the validation
rows.
"""

from __future__ import annotations

import copy
import math
import time
import warnings
from collections.abc import Sequence

import pyro
import torch
from pyro.infer import TraceMeanField_ELBO
from pyro.infer.autoguide import AutoGuide
from tqdm.auto import tqdm

from ..model.network import SynergyModel
from .svi import (
    EarlyStopping,
    History,
    TrainData,
    TrainingConfig,
    diverged,
    epochs_for,
    guarded_epoch,
    optimizer_for,
    snapshot,
    validation_losses,
)

__all__ = ["stack", "train_members", "unstack"]


def stack(model: SynergyModel, guides: Sequence[AutoGuide]) -> AutoGuide:
    """A copy of ``guides[0]`` whose every parameter is the ``guides``' stacked, ``(K, 1, ...)``
    (the guides' parameters must exist: each called once)."""
    stacked = copy.deepcopy(guides[0], memo={id(model): model})
    members = [dict(guide.named_parameters()) for guide in guides]
    with torch.no_grad():
        for name, param in stacked.named_parameters():
            param.data = torch.stack([member[name].detach() for member in members])[:, None]
    return stacked


def unstack(stacked: AutoGuide, guides: Sequence[AutoGuide]) -> None:
    """Copy member k's slice of every parameter of ``stacked`` into ``guides[k]``."""
    members = [dict(guide.named_parameters()) for guide in guides]
    with torch.no_grad():
        for name, param in stacked.named_parameters():
            for k, member in enumerate(members):
                member[name].copy_(param[k, 0])


def train_members(
    model: SynergyModel,
    guides: Sequence[AutoGuide],
    data: TrainData,
    training: TrainingConfig,
    progress: bool = True,
) -> History:
    """Fit the K ``guides`` of ``model`` together, as :func:`~.svi.train` fits one.

    Early stopping watches the validation loss (``training.stop_on``) of the members'
    equal-weight mixture, the posterior that is delivered, and restores every member to the
    mixture's best epoch; without validation rows every epoch runs (``training.epochs``,
    raised to ``training.min_steps`` optimizer steps) and the last is kept. The model must have
    no point-estimate parameters (they would be shared by the members), and each guide takes
    one particle a step (``training.num_particles`` 1).

    Returns
    -------
    History
        The stack's epochs: ``elbo`` the members' mean loss per row, ``validation`` the
        mixture's.

    Raises
    ------
    TrainingDiverged
        At once when the loss is not finite (every member at its last finite epoch).
    ValueError
        Unset settings, several particles, or point-estimate parameters in ``model``.
    """
    if training.unset():
        raise ValueError(f"training settings {training.unset()} are unset; give them.")
    if training.num_particles != 1:
        raise ValueError("members are trained together with one particle each.")
    if any(True for _ in model.parameters()):
        raise ValueError("members cannot be trained together beside point-estimate layers.")
    n_train = len(data.y_train)
    for k, guide in enumerate(guides):  # member k's initial parameters, from seed + k
        pyro.set_rng_seed(training.seed + k)
        guide(*(t[:2] for t in data.train), data.y_train[:2], n_train)
    pyro.set_rng_seed(training.seed)
    stacked = stack(model, guides)
    elbo = TraceMeanField_ELBO(
        num_particles=len(guides), vectorize_particles=True, max_plate_nesting=1
    )
    loss_fn = elbo(model, stacked)
    optimizer, _ = optimizer_for(loss_fn, stacked, training)
    generator = torch.Generator().manual_seed(training.seed)
    history = History()
    stopping = EarlyStopping(history, training)
    start = time.perf_counter()
    bar = tqdm(
        range(epochs_for(n_train, training)),
        desc=f"fit {len(guides)} members",
        unit="epoch",
        disable=None if progress else True,
        leave=False,
    )
    with pyro.validation_enabled(False), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Encountered NaN")
        for epoch in bar:
            loss = guarded_epoch(model, loss_fn, optimizer, data, generator, training)
            if not math.isfinite(loss):
                unstack(stacked, guides)
                history.seconds = time.perf_counter() - start
                raise diverged(epoch, loss, training, history)
            history.elbo.append(loss / n_train)
            unstack(stacked, guides)
            if not len(data.y_val):
                history.best_epoch = epoch
                continue
            losses = validation_losses(model, guides, data, training.seed)
            bar.set_postfix(
                loss=f"{history.elbo[-1]:.3f}",
                **{f"val_{k}": f"{v:.3f}" for k, v in losses.items()},
            )
            if stopping.update(epoch, losses, lambda: [snapshot(g) for g in guides]):
                break
    if stopping.best_state is not None:
        for guide, state in zip(guides, stopping.best_state, strict=True):
            guide.load_state_dict(state)
    history.seconds = time.perf_counter() - start
    return history
