"""``SynergyBNN``: the fit / predict / save / load object that ties the pipeline together.

data (Screen, Split) -> features -> SynergyModel + guide -> SVI -> predictive samples.
Scores are standardised with the training part's mean and SD for fitting, z = (score - mean)
/ sd; everything the object returns is on the original score scale. :class:`ModelConfig`
lives in :mod:`synergy_ppl.config` and is re-exported here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace

import numpy as np
import pandas as pd
import pyro.distributions as dist
import torch

from .config import ARCHITECTURE, ModelConfig
from .data import DataError, Screen, Split, check_pairs
from .data.config import check_fit_data
from .data.features import FeatureSet, build_features, encode_pairs
from .errors import TrainingDiverged
from .inference.metrics import regression_metrics
from .inference.predictive import draw_posterior, network_samples, observation_samples, summarise
from .inference.svi import History, TrainData, batches_per_epoch, learning_rate_advice, train
from .inference.unseen import (
    borrowed_draws,
    entity_sites,
    pool_guide,
    pooled_unseen,
    with_new_drugs,
)
from .model.families import FAMILIES
from .model.guides import make_guide
from .model.network import (
    CELL_EFFECT_SITE,
    SynergyModel,
    dummy_triples,
)
from .model.priors import is_real, set_priors
from .state_format import FORMAT, migrate

__all__ = [
    "Scaling",
    "SynergyBNN",
    "summarise",
]

DIVERGED_RMSE = 3.0
"""Training RMSE of the predictive mean, in score SDs, above which a fit counts as diverged:
predicting the mean scores 1, and a fit three times worse on its own training rows has been
thrown off by its learning rate (its guide scales exploded), not merely stopped early."""
CONVERGENCE_DRAWS = 50
"""Most posterior draws of the divergence check: enough for the predictive mean to within a
small fraction of the threshold, cheap next to the fit."""


@dataclass
class Scaling:
    """``z = (score - mean) / sd`` on the training part."""

    mean: float
    sd: float


class SynergyBNN:
    """A Bayesian model of drug-combination synergy: fit, predict, sample, save.

    Composed, as in TyXe, from a network, a prior, a likelihood and a guide, each named in
    its :class:`~synergy_ppl.config.ModelConfig` and looked up in its registry.

    >>> from synergy_ppl import ModelConfig, make_demo_screen, split_screen
    >>> screen = make_demo_screen(n_drugs=6, n_cell_lines=2, n_bits=16)
    >>> small = dict(rank=8, n_bits=16, epochs=5)
    >>> split = split_screen(screen.table, "pair")
    >>> bnn = SynergyBNN(ModelConfig(prior="laplace", **small)).fit(screen, split, False)
    >>> pairs = screen.table.head(3)
    >>> list(bnn.predict(pairs).columns[-7:])  # the predictive per row
    ['mean', 'std', 'q05', 'q25', 'q50', 'q75', 'q95']
    >>> bnn.sample(pairs, num_samples=10).shape  # (S, N) draws of a new measurement
    torch.Size([10, 3])
    """

    def __init__(self, config: ModelConfig | None = None):
        self.config = ModelConfig.of(config)  # a dict or other object: one clear error
        self.features: FeatureSet | None = None
        self.model: SynergyModel | None = None
        self.guide = None
        self.scaling: Scaling | None = None
        self.history: History | None = None
        self.cell_lines_seen: list[str] | None = None
        """Cell lines with training rows (this fit's and its ``init``'s); None: not recorded."""
        self.without_rows: dict[str, list[str]] = {"drugs": [], "cell_lines": []}
        """Drugs and lines that no training row named (a fit without ``init``): their
        posterior draws are the measured ones' population (:meth:`posterior_draws`)."""
        self.validation_metrics: dict | None = None
        """With ``config.refit``: the early-stopped fit's metrics on the validation rows, which
        the refitted model has trained on."""
        self._draws: dict[str, torch.Tensor] | None = None

    # ------------------------------------------------------------------ building
    def _build(self, features: FeatureSet) -> None:
        cfg = self.config
        net = FAMILIES[cfg.model].from_config(features, cfg)
        self.features = features
        # eval mode (no dropout) except while training steps run
        self.model = SynergyModel(net, cfg.likelihood_fn(), cfg.noise_effects).to(cfg.device).eval()
        self.guide = make_guide(self.model, cfg.guide_name)
        self.without_rows = {"drugs": [], "cell_lines": []}
        self._draws = None

    def _create_guide_params(self) -> None:
        """Run the guide once on a dummy row so its parameters exist (before loading them).

        The row is observed, as in training: with ``y=None`` the guide would treat ``obs`` as
        a latent site and create parameters that no fitted state has.
        """
        self.guide(*dummy_triples(self.config.device), torch.zeros(1, device=self.config.device))

    def triples(self, table: pd.DataFrame, source: str = "pairs"):
        """``table``'s rows as the model's ``(drug_a, drug_b, cell_line)`` index tensors."""
        return tuple(t.to(self.config.device) for t in encode_pairs(self.features, table, source))

    def _standardise(self, scores) -> torch.Tensor:
        y = torch.as_tensor(np.asarray(scores, dtype=np.float32), device=self.config.device)
        return (y - self.scaling.mean) / self.scaling.sd

    # ------------------------------------------------------------------ fitting
    def fit(
        self,
        screen: Screen,
        split: Split | None = None,
        progress: bool = True,
        *,
        init: SynergyBNN | None = None,
        priors: Mapping[str, dist.Distribution] | None = None,
    ) -> SynergyBNN:
        """Featurise ``screen``, build the model and guide, and train.

        Parameters
        ----------
        screen : Screen
            The measured rows (and the drugs' SMILES for fingerprints).
        split : Split, optional
            Rows to train on (``split.train``) and to early-stop on (``split.val``); its test
            rows are not used here. With ``config.refit`` (the default) the model is then
            trained afresh on both parts together, for the optimizer steps of the epochs early
            stopping kept, and ``validation_metrics`` are the early-stopped fit's.
            None (the default) trains on every row of ``screen`` with no validation part:
            every one of ``config.epochs`` epochs runs (no early stopping) and the last one
            is kept.
        progress : bool
            Show a progress bar.
        init : SynergyBNN, optional
            A fitted model (e.g. pretrained on other cell lines) to warm-start from: its
            features (grown by the screen's new drugs), score scaling and parameters are the
            starting point, and ``config.trunk_anchor`` applies.
        priors : mapping of str to Distribution, optional
            Site name -> distribution (e.g. ``init.posterior_priors()``) replacing the
            configured prior of those sites: the pretrained posterior as prior.

        Returns
        -------
        SynergyBNN
            ``self``, fitted.
        """
        check_fit_data(screen, split)  # a DataFrame says how to make a Screen
        cfg = self.config
        if init is None:
            features = build_features(
                screen,
                radius=cfg.radius,
                n_bits=cfg.n_bits,
                one_hot_drugs=cfg.one_hot_drugs,
                cell_components=cfg.cell_components,
            )
        else:
            smiles = {drug: screen.smiles.get(drug) for drug in screen.drugs}
            features = init.features.with_new_drugs(smiles)  # grown by the drugs it lacks
        self._start(features, init, priors)
        every_row = np.arange(len(screen.table))
        train_rows = screen.table.iloc[every_row if split is None else split.train]
        val_rows = screen.table.iloc[every_row[:0] if split is None else split.val]
        self._take_rows(train_rows, init)
        data = self._train_data(train_rows, val_rows)
        training = cfg.training(anchored=init is not None)
        self.history = train(self.model, self.guide, data, training, progress)
        self.validation_metrics = None
        if init is None:
            self._pool_unseen(train_rows)
        if cfg.refit and len(val_rows):
            self.validation_metrics = self.evaluate(val_rows)
            # as many optimizer steps as the kept epochs took: more rows, fewer epochs
            per_epoch = batches_per_epoch(len(train_rows), training.batch_size)
            train_rows = pd.concat([train_rows, val_rows])
            self._start(features, init, priors)
            self._take_rows(train_rows, init)
            data = self._train_data(train_rows, val_rows.iloc[:0])
            again = replace(training, epochs=1, min_steps=(self.history.best_epoch + 1) * per_epoch)
            refitted = train(self.model, self.guide, data, again, progress)
            self.history.refit_epochs = len(refitted.elbo)
            self.history.seconds += refitted.seconds
            if init is None:
                self._pool_unseen(train_rows)
        self._check_converged(data)
        return self

    def _start(
        self,
        features: FeatureSet,
        init: SynergyBNN | None,
        priors: Mapping[str, dist.Distribution] | None,
    ) -> None:
        """Build the model and guide afresh: seeded initial weights, ``init``'s parameters
        as the starting point, ``priors`` in place of the configured prior."""
        torch.manual_seed(self.config.seed)  # the trunk's initial weights
        self._build(features)
        if init is not None:
            self._start_from(init)
        if priors:
            set_priors(self.model, priors)

    def _take_rows(self, train_rows: pd.DataFrame, init: SynergyBNN | None) -> None:
        """Record the lines trained on and, without ``init``, standardise by these rows."""
        seen = set(train_rows["cell_line"].astype(str))
        if init is not None:
            seen |= set(init.cell_lines_seen or init.features.cell_lines)
        self.cell_lines_seen = sorted(seen)
        if init is None:
            mean, sd = float(train_rows["score"].mean()), float(train_rows["score"].std())
            self.scaling = Scaling(mean, sd)
        if not self.scaling.sd > 0:
            raise DataError("all training scores are equal; there is nothing to learn.")

    def _train_data(self, train_rows: pd.DataFrame, val_rows: pd.DataFrame) -> TrainData:
        return TrainData(
            self.triples(train_rows),
            self._standardise(train_rows["score"]),
            self.triples(val_rows),
            self._standardise(val_rows["score"]),
        )

    def _pool_unseen(self, train_rows: pd.DataFrame) -> None:
        """Give every drug and line without training rows the measured ones' population.

        Such a drug (line) keeps its one-hot embedding column (the family's
        ``drug_identity_site`` / ``line_identity_site``) and its noise effect at their priors,
        wider than anything the screen suggests. It is recorded in ``without_rows``, and the
        guide's parameters get the measured ones' population, matched in moments
        (:func:`~.inference.unseen.pool_guide`; guides without scales, MAP, are left as is);
        an unseen drug's posterior draws are that population's exact draws
        (:func:`~.inference.unseen.borrowed_draws`, :meth:`posterior_draws`).
        """
        features = self.features
        drugs = set(train_rows["drug_a"]) | set(train_rows["drug_b"])
        lines = set(train_rows["cell_line"])
        self.without_rows = {
            "drugs": [d for d in features.drugs if d not in drugs],
            "cell_lines": [c for c in features.cell_lines if c not in lines],
        }
        self._draws = None
        if not self.guide.has_spread:
            return
        for sites, seen in zip(entity_sites(self.model, features), self._seen_masks(), strict=True):
            pool_guide(self.guide, sites, seen)

    def _seen_masks(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``(D,)`` and ``(C,)``: which drugs and lines had training rows."""
        masks = []
        entities = {"drugs": self.features.drugs, "cell_lines": self.features.cell_lines}
        for kind, names in entities.items():
            unseen = set(self.without_rows[kind])
            masks.append(torch.tensor([name not in unseen for name in names], dtype=torch.bool))
        return masks[0], masks[1]

    def _check_converged(self, data: TrainData) -> None:
        """Raise :class:`TrainingDiverged` if the predictive mean misses the training rows by
        more than :data:`DIVERGED_RMSE` score SDs."""
        num_samples = min(self.config.num_samples, CONVERGENCE_DRAWS)
        draws = draw_posterior(self.model, self.guide, num_samples, 0)
        mean = network_samples(self.model, draws, data.train).mean(0)
        rmse = torch.sqrt(torch.mean((mean - data.y_train) ** 2)).item()
        if not rmse <= DIVERGED_RMSE:
            raise TrainingDiverged(
                f"training diverged: the fitted model's training RMSE is {rmse:.3g} score SDs "
                f"(predicting the mean gives 1); "
                f"{learning_rate_advice(self.config.lr, self.config.guide_lr)}."
            )

    def _start_from(self, init: SynergyBNN) -> None:
        """Copy ``init``'s parameters and score scaling into the freshly built model and guide."""
        init._require_fitted()
        ours, theirs = self.config.architecture(), init.config.architecture()
        differ = [name for name in ARCHITECTURE if ours[name] != theirs[name]]
        if differ:
            raise DataError(
                f"cannot start from a model with other {differ}: "
                f"{ {n: theirs[n] for n in differ} }. Use the same settings."
            )
        state = init.with_features(self.features).state()
        self.model.load_state_dict(state["model"])
        self._create_guide_params()
        self.guide.load_state_dict(state["guide"])
        self.scaling = Scaling(**state["scaling"])

    def posterior_priors(self, widen: float = 1.0) -> dict[str, dist.Distribution]:
        """The fitted posterior of every network weight site, as priors for another fit.

        Site name -> Normal(guide loc, widen * guide scale), event shape the site's. ``widen``
        > 1 lets the next fit move further from this one. A cell line this fit had no rows
        of (the target line after pretraining on the others) has per-line drug effects that
        are still at their prior; they get the population prior of the seen lines instead
        (:func:`~.inference.unseen.pooled_unseen`), so that a drug whose effect varies from
        line to line is uncertain in the new line and one that behaves alike everywhere is not.
        """
        self._require_fitted()
        if not widen > 0:
            raise DataError(f"widen must be > 0, not {widen}.")
        if not self.guide.has_spread:
            raise DataError(
                f"a fit with the point-estimate guide ({self.config.guide_name!r}) has no "
                "posterior width to serve as a prior; start from it with transfer mode "
                "'warm-start', or fit the pretrained model with a Bayesian guide."
            )
        priors = {}
        for name, site in self.guide.prototype_trace.iter_stochastic_nodes():
            # a positive hyperparameter (a learned prior scale) keeps its own prior
            if name.startswith("net.") and is_real(site["fn"].support):
                loc, scale = (t.detach() for t in self.guide.loc_and_scale(name))
                if name == CELL_EFFECT_SITE and self.cell_lines_seen is not None:
                    seen = torch.tensor(
                        [c in self.cell_lines_seen for c in self.features.cell_lines],
                        device=loc.device,
                    )
                    if seen.any() and not seen.all():
                        loc, scale = pooled_unseen(loc, scale, seen)
                priors[name] = dist.Normal(loc, widen * scale).to_event(loc.dim())
        return priors

    def _require_fitted(self) -> None:
        if self.model is None or self.scaling is None:
            raise RuntimeError("this SynergyBNN is not fitted; call fit() or load() first.")

    # ------------------------------------------------------------------ prediction
    def posterior_draws(self, num_samples: int | None = None, seed: int = 0) -> dict:
        """Joint draws of all latent sites, ``name -> (S, ...)``; cached per (S, seed).

        In each draw a drug without training rows (``without_rows``) takes a random measured
        drug's values, so its draws are the measured drugs' population.
        """
        self._require_fitted()
        num_samples = num_samples or self.config.num_samples
        key = (num_samples, seed)
        if self._draws is None or self._draws.get("_key") != key:
            draws = draw_posterior(self.model, self.guide, num_samples, seed)
            # drugs only: a held-out line's moment-matched population is the better
            # calibrated one (benchmarks/README.md, "Uncertainty where nothing was measured")
            drug_sites, _ = entity_sites(self.model, self.features)
            draws = borrowed_draws(draws, drug_sites, self._seen_masks()[0], seed)
            self._draws = {**draws, "_key": key}
        return {k: v for k, v in self._draws.items() if k != "_key"}

    def noise_sd(self, num_samples: int | None = None, seed: int = 0) -> float:
        """The posterior mean of the noise's scale site (``sigma``) on the score scale: the
        measurement noise's SD of a row whose noise effects are zero."""
        draws = self.posterior_draws(num_samples, seed)
        return float(draws[self.model.likelihood.scale_site].mean()) * self.scaling.sd

    def sample(
        self,
        pairs: pd.DataFrame,
        num_samples: int | None = None,
        seed: int = 0,
        noise: bool = True,
        progress: bool = False,
    ) -> torch.Tensor:
        """Predictive draws ``(S, N)`` on the original scale for ``pairs``' rows.

        ``noise=False`` gives draws of the synergy function itself (epistemic only), as
        acquisition wants; ``noise=True`` adds measurement noise (predictive intervals).
        """
        draws = self.posterior_draws(num_samples, seed)
        triples = self.triples(pairs)
        means = network_samples(self.model, draws, triples, progress=progress)
        if noise:
            means = observation_samples(self.model, draws, means, seed, triples)
        return (means * self.scaling.sd + self.scaling.mean).cpu()

    def predict(
        self,
        pairs: pd.DataFrame,
        num_samples: int | None = None,
        seed: int = 0,
        progress: bool = True,
    ) -> pd.DataFrame:
        """``pairs`` with ``mean, std`` and quantiles ``q05 ... q95``; a long one shows progress."""
        check_pairs(pairs, "pairs", self_pairs=True)  # no rows or a missing column, named
        samples = self.sample(pairs, num_samples, seed, progress=progress)
        return summarise(pairs, samples)

    def evaluate(self, rows: pd.DataFrame, num_samples: int | None = None) -> dict:
        """Regression and calibration metrics of the predictive on measured ``rows``."""
        samples = self.sample(rows, num_samples)
        return regression_metrics(
            samples, torch.tensor(rows["score"].to_numpy(), dtype=torch.float32)
        )

    # ------------------------------------------------------------------ persistence
    def state(self) -> dict:
        """Everything needed to rebuild the fitted object, ``torch.save``-able."""
        self._require_fitted()
        return {
            "format": FORMAT,
            "config": asdict(self.config),
            "features": self.features.to_dict(),
            "scaling": asdict(self.scaling),
            "cell_lines_seen": self.cell_lines_seen,
            "without_rows": self.without_rows,
            "model": self.model.state_dict(),
            "guide": self.guide.state_dict(),
        }

    @classmethod
    def from_state(cls, state: dict) -> SynergyBNN:
        """Rebuild a fitted object from :meth:`state` (an older layout migrated first)."""
        state = migrate(state)
        bnn = cls(ModelConfig.from_dict(state["config"]))
        bnn._build(FeatureSet.from_dict(state["features"]))
        bnn.model.load_state_dict(state["model"])
        bnn._create_guide_params()
        bnn.guide.load_state_dict(state["guide"])
        bnn.scaling = Scaling(**state["scaling"])
        bnn.cell_lines_seen = state.get("cell_lines_seen")
        bnn.without_rows = state["without_rows"]
        return bnn

    def with_features(self, features: FeatureSet) -> SynergyBNN:
        """The same fitted model over a grown drug table (new drugs for prediction)."""
        if features is self.features:
            return self
        state = self.state()
        state["features"] = features.to_dict()
        state["model"] = {
            k: (features.drug_matrix if k == "net.drug_matrix" else v)
            for k, v in state["model"].items()
        }
        new_drugs = len(features.drugs) - len(self.features.drugs)
        state["guide"] = with_new_drugs(state["guide"], new_drugs, self.guide.state_keys)
        return SynergyBNN.from_state(state)
