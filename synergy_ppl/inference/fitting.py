"""Fitting a composed model to a screen: features, a fresh model and guide, SVI with early
stopping, the refit on all rows, a warm start from another fit, and the divergence check.

screen -> ``FeatureOptions.build`` -> :class:`~.posterior.Posterior` (``Parts.build``) ->
:func:`~.svi.train` -> the posterior, fitted. Scores are standardised with the training
rows' mean and SD, ``z = (score - mean) / sd`` (a warm start keeps its start's).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pyro.distributions as dist
import torch

from ..data import DataError, Screen, Split
from ..data.config import check_fit_data
from ..data.features import FeatureSet
from ..data.monotherapy_join import same_kind
from ..errors import TrainingDiverged
from ..model.priors import set_priors
from .members import train_members
from .posterior import Posterior, Scaling
from .predictive import network_samples
from .svi import (
    History,
    TrainData,
    TrainingConfig,
    batches_per_epoch,
    learning_rate_advice,
    train,
)

if TYPE_CHECKING:
    from ..parts import Parts

__all__ = ["CONVERGENCE_DRAWS", "DIVERGED_RMSE", "Fitting"]

DIVERGED_RMSE = 3.0
"""Training RMSE of the predictive mean, in score SDs, above which a fit counts as diverged:
predicting the mean scores 1, and a fit three times worse on its own training rows has been
thrown off by its learning rate (its guide scales exploded), not merely stopped early."""
CONVERGENCE_DRAWS = 50
"""Most posterior draws of the divergence check: enough for the predictive mean to within a
small fraction of the threshold, cheap next to the fit."""


class Fitting:
    """One fit of ``parts``, optionally from a fitted ``init`` with ``priors``.

    :meth:`run` trains; ``posterior``, ``history`` and ``validation_metrics`` are what it
    has reached, also when it stops with an error (the model of a diverged fit keeps the
    parameters of its last finite epoch).

    Parameters
    ----------
    parts : Parts
        What the model is made of.
    init : Posterior, optional
        A fitted posterior (e.g. pretrained on other cell lines) to warm-start from: its
        features (grown by the screen's new drugs), score scaling and parameters are the
        starting point, and ``training.trunk_anchor`` applies.
    priors : mapping of str to Distribution, optional
        Site name -> distribution (e.g. ``init.priors()``) replacing the configured prior of
        those sites: the pretrained posterior as prior.
    """

    def __init__(
        self,
        parts: Parts,
        init: Posterior | None = None,
        priors: Mapping[str, dist.Distribution] | None = None,
    ):
        self.parts, self.init, self.priors = parts, init, priors
        self.posterior: Posterior | None = None
        self.history: History | None = None
        self.validation_metrics: dict | None = None
        """With ``training.refit``: the early-stopped fit's metrics on the validation rows,
        which the refitted model has trained on."""

    def run(self, screen: Screen, split: Split | None = None, progress: bool = True) -> None:
        """Featurise ``screen``, build the model and guide, and train (see
        ``SynergyBNN.fit``): on ``split.train``, early-stopping on ``split.val``, then with
        ``training.refit`` afresh on both for the optimizer steps early stopping kept; on
        every row for every epoch without ``split``. With ``training.members`` > 1 each of
        these fits is one member of a mixture, from its own seed; the noise is calibrated
        on the mixture of the early-stopped members."""
        check_fit_data(screen, split)  # a DataFrame says how to make a Screen
        init = self.init
        if init is None:
            features = self.parts.features.build(screen)
        else:
            smiles = {drug: screen.smiles.get(drug) for drug in screen.drugs}
            single = None  # the screen's single-agent responses, where the start reads them
            if init.features.monotherapy is not None and screen.monotherapy is not None:
                same_kind(init.features.monotherapy_info, screen.monotherapy_info, "screen")
                single = screen.monotherapy
            # grown by the drugs it lacks
            features = init.features.with_new_drugs(smiles, monotherapy=single)
        every_row = np.arange(len(screen.table))
        train_rows = screen.table.iloc[every_row if split is None else split.train]
        val_rows = screen.table.iloc[every_row[:0] if split is None else split.val]
        training = self.parts.training
        if init is None:  # the anchor ties point layers to a start's values
            training = replace(training, trunk_anchor=0.0)
        self._seconds = 0.0
        posteriors, histories = self._fit_members(
            features, train_rows, val_rows, training, progress
        )
        self.history = histories[0]
        self.history.member_best_epochs = [history.best_epoch for history in histories]
        posterior = mixture(posteriors)
        factor = posterior.calibrate(val_rows) if training.calibrate and len(val_rows) else 1.0
        if training.refit and len(val_rows):
            # the metrics of the rows the factor was chosen on are the uncalibrated ones
            self.validation_metrics = posterior.evaluate(val_rows)
            # as many optimizer steps as the kept epochs took: more rows, fewer epochs
            per_epoch = batches_per_epoch(len(train_rows), training.batch_size)
            steps = [(history.best_epoch + 1) * per_epoch for history in histories]
            train_rows, val_rows = pd.concat([train_rows, val_rows]), val_rows.iloc[:0]
            posteriors, refits = self._fit_members(
                features, train_rows, val_rows, replace(training, epochs=1), progress, steps
            )
            self.history.refit_epochs = len(refits[0].elbo)
            self.history.member_refit_epochs = [len(history.elbo) for history in refits]
            posterior = mixture(posteriors)
        self.history.seconds = self._seconds
        self.posterior = posterior
        posterior.noise_factor = factor
        self._check_converged(self._train_data(train_rows, val_rows))

    def _fit_members(
        self,
        features: FeatureSet,
        train_rows: pd.DataFrame,
        val_rows: pd.DataFrame,
        training: TrainingConfig,
        progress: bool,
        min_steps: list[int] | None = None,
    ) -> tuple[list[Posterior], list[History]]:
        """The ``training.members`` members of the mixture, each a fresh fit from seed
        ``training.seed + k`` (of at least ``min_steps[k]`` optimizer steps) early-stopping on
        ``val_rows`` if there are any, and each one's history. Trained together as one
        vectorised fit (:func:`~.members.train_members`) where they can be, they stop together
        (one history, their mixture's); else one after another, each at its own epoch."""
        count = training.members
        steps = min_steps or [training.min_steps] * count
        posteriors = [self._start(features, train_rows, training.seed + k) for k in range(count)]
        data = self._train_data(train_rows, val_rows)
        start = time.perf_counter()
        if count > 1 and training.num_particles == 1:
            guides = [posterior.guide for posterior in posteriors]
            together = replace(training, min_steps=max(steps))  # equal: one best epoch
            histories = [train_members(posteriors[0].model, guides, data, together, progress)]
            histories *= count
        else:
            histories = [
                train(
                    posterior.model,
                    posterior.guide,
                    data,
                    replace(training, seed=training.seed + k, min_steps=steps[k]),
                    progress,
                )
                for k, posterior in enumerate(posteriors)
            ]
        self._seconds += time.perf_counter() - start
        if self.init is None:
            for posterior in posteriors:
                posterior.pool_unseen(train_rows)
        return posteriors, histories

    def _start(self, features: FeatureSet, train_rows: pd.DataFrame, seed: int) -> Posterior:
        """A fresh posterior: initial weights seeded ``seed``, ``init``'s parameters as the
        starting point (its member ``seed - training.seed``, cyclically), ``priors`` in
        place of the configured prior; the lines trained on recorded and, without ``init``,
        the scores standardised by ``train_rows``."""
        torch.manual_seed(seed)  # the trunk's initial weights
        self.posterior = posterior = Posterior(self.parts, features)
        if self.init is not None:
            self._start_from(self.init, seed - self.parts.training.seed)
        if self.priors:
            set_priors(posterior.model, self.priors)
        seen = set(train_rows["cell_line"].astype(str))
        if self.init is not None:
            seen |= set(self.init.cell_lines_seen or self.init.features.cell_lines)
        posterior.cell_lines_seen = sorted(seen)
        if self.init is None:
            mean, sd = float(train_rows["score"].mean()), float(train_rows["score"].std())
            posterior.scaling = Scaling(mean, sd)
        if not posterior.scaling.sd > 0:
            raise DataError("all training scores are equal; there is nothing to learn.")
        return posterior

    def _start_from(self, init: Posterior, member: int) -> None:
        """Copy ``init``'s parameters (its member ``member``, cyclically) and score scaling
        into the freshly built posterior."""
        ours, theirs = self.parts.config.architecture(), init.parts.config.architecture()
        differ = [name for name in ours if ours[name] != theirs[name]]
        if differ:
            raise DataError(
                f"cannot start from a fitted model with other {differ}: "
                f"{ {n: theirs[n] for n in differ} }. Use the same settings.",
                parameter=tuple(differ),
            )
        state = init.parameters_over(self.posterior.features)
        guides = state["guides"]
        self.posterior.load({**state, "guides": [guides[member % len(guides)]]})

    def _train_data(self, train_rows: pd.DataFrame, val_rows: pd.DataFrame) -> TrainData:
        posterior = self.posterior
        return TrainData(
            posterior.triples(train_rows),
            posterior.standardise(train_rows["score"]),
            posterior.triples(val_rows),
            posterior.standardise(val_rows["score"]),
        )

    def _check_converged(self, data: TrainData) -> None:
        """Raise :class:`TrainingDiverged` if the predictive mean misses the training rows by
        more than :data:`DIVERGED_RMSE` score SDs."""
        posterior, training = self.posterior, self.parts.training
        num_samples = min(self.parts.num_samples, CONVERGENCE_DRAWS)
        draws = posterior.draws(max(num_samples, len(posterior.guides)), 0)
        mean = network_samples(posterior.model, draws, data.train).mean(0)
        rmse = torch.sqrt(torch.mean((mean - data.y_train) ** 2)).item()
        if not rmse <= DIVERGED_RMSE:
            raise TrainingDiverged(
                f"training diverged: the fitted model's training RMSE is {rmse:.3g} score SDs "
                f"(predicting the mean gives 1); "
                f"{learning_rate_advice(training.lr, training.guide_lr)}."
            )


def mixture(members: list[Posterior]) -> Posterior:
    """The first of ``members`` with the others' guides added: their equal-weight mixture."""
    first, *others = members
    for other in others:
        first.add_member(other)
    return first
