"""``SynergyBNN``: the public object of a model, composed of its parts, that fits, predicts,
samples and is saved and loaded.

parts (:mod:`.parts`) -> fit (:mod:`.inference.fitting`) -> posterior
(:mod:`.inference.posterior`) -> predictions on the score scale; a saved state
(:mod:`.persistence`) -> the same posterior. :class:`ModelConfig` lives in
:mod:`synergy_ppl.config`; :meth:`SynergyBNN.from_config` builds a model from one.
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd
import pyro.distributions as dist
import torch

from .config import ModelConfig
from .data import Screen, Split, check_pairs
from .data.features import FeatureSet
from .inference.fitting import Fitting
from .inference.posterior import Posterior, Scaling
from .inference.predictive import DEVICE, NUM_SAMPLES, summarise
from .inference.svi import History, TrainingConfig
from .model.guides import Guide, GuideBuilder
from .model.likelihoods import Likelihood
from .model.network import SynergyModel, Triples
from .model.options import FeatureOptions, NetworkOptions
from .model.priors import Prior
from .parts import Parts, compose
from .persistence import restore, state_of, with_features

__all__ = ["Scaling", "SynergyBNN", "summarise"]


class SynergyBNN:
    """A Bayesian model of drug-combination synergy: fit, predict, sample, save.

    Composed, as TyXe's ``VariationalBNN``, of a network, a prior, a likelihood and a guide,
    with the options of its features and its training; each part left None takes its
    default (the model ``synergy-ppl fit`` fits). Every part is one a registry names, so
    :attr:`config` is the equivalent flat :class:`~synergy_ppl.config.ModelConfig`, and
    :meth:`from_config` builds a model from one.

    Parameters
    ----------
    net : NetworkOptions, optional
        A family's options (``FactorizationOptions(rank=64)``, ``RecoverOptions``,
        ``PairMLPOptions``): the network it builds over the fitted features, and the family's
        defaults for the features and training left None.
    prior : Prior, optional
        A function of :data:`~synergy_ppl.model.priors.PRIORS`, hyperparameters bound by
        keyword with ``functools.partial`` (``partial(priors.laplace, scale=0.5)``).
    likelihood : Likelihood, optional
        An instance of a class of :data:`~synergy_ppl.model.likelihoods.LIKELIHOODS`.
    guide : GuideBuilder, optional
        A builder of :data:`~synergy_ppl.model.guides.GUIDES` (``guides.mean_field``); None:
        the prior's default.
    features : FeatureOptions, optional
        How the drugs and lines become the network's input.
    training : TrainingConfig, optional
        How SVI runs (and whether a fit with validation rows refits on all of them).
    num_samples : int
        Posterior draws of a prediction unless a call asks for another number.
    device : str
        ``cpu``, ``cuda`` or ``cuda:N``.

    >>> from functools import partial
    >>> import synergy_ppl as sp
    >>> screen = sp.make_demo_screen(n_drugs=6, n_cell_lines=2, n_bits=16)
    >>> bnn = SynergyBNN(
    ...     net=sp.FactorizationOptions(rank=8),
    ...     prior=partial(sp.priors.laplace, scale=0.5),
    ...     features=sp.FeatureOptions(n_bits=16),
    ...     training=sp.TrainingConfig(epochs=5),
    ... ).fit(screen, progress=False)
    >>> pairs = screen.table.head(3)
    >>> list(bnn.predict(pairs).columns[-7:])  # the predictive per row
    ['mean', 'std', 'q05', 'q25', 'q50', 'q75', 'q95']
    >>> bnn.sample(pairs, num_samples=10).shape  # (S, N) draws of a new measurement
    torch.Size([10, 3])
    >>> bnn.config.prior, bnn.config.prior_kwargs, bnn.config.rank
    ('laplace', {'scale': 0.5}, 8)
    """

    def __init__(
        self,
        net: NetworkOptions | None = None,
        prior: Prior | None = None,
        likelihood: Likelihood | None = None,
        guide: GuideBuilder | None = None,
        features: FeatureOptions | None = None,
        training: TrainingConfig | None = None,
        *,
        num_samples: int = NUM_SAMPLES,
        device: str = DEVICE,
    ):
        parts = compose(
            net,
            prior,
            likelihood,
            guide,
            features,
            training,
            num_samples=num_samples,
            device=device,
        )
        self._use(parts)

    @classmethod
    def from_config(cls, config: ModelConfig) -> SynergyBNN:
        """The model a flat :class:`~synergy_ppl.config.ModelConfig` describes (the command
        line's, a config file's, a saved run's); ``from_config(c).config == c``."""
        bnn = cls.__new__(cls)
        bnn._use(Parts.of_config(config))
        return bnn

    def _use(self, parts: Parts) -> None:
        self.parts = parts
        """The parts, each default filled (:class:`~synergy_ppl.parts.Parts`)."""
        self.posterior: Posterior | None = None
        """The fitted posterior; None before :meth:`fit` or :meth:`from_state`."""
        self.history: History | None = None
        self.validation_metrics: dict | None = None
        """With ``training.refit``: the early-stopped fit's metrics on the validation rows,
        which the refitted model has trained on."""

    @property
    def config(self) -> ModelConfig:
        """The equivalent flat config (what a saved model records)."""
        return self.parts.config

    # ------------------------------------------------------------------ the fitted state
    @property
    def features(self) -> FeatureSet | None:
        """The fitted features: drug rows ``(D, F)``, line rows ``(C, G)``."""
        return None if self.posterior is None else self.posterior.features

    @property
    def model(self) -> SynergyModel | None:
        return None if self.posterior is None else self.posterior.model

    @property
    def guide(self) -> Guide | None:
        """The fitted guide (the :class:`~synergy_ppl.model.guides.NormalSites` interface)."""
        return None if self.posterior is None else self.posterior.guide

    @property
    def scaling(self) -> Scaling | None:
        return None if self.posterior is None else self.posterior.scaling

    @property
    def cell_lines_seen(self) -> list[str] | None:
        """Cell lines with training rows (this fit's and its ``init``'s); None: not recorded."""
        return None if self.posterior is None else self.posterior.cell_lines_seen

    @property
    def without_rows(self) -> dict[str, list[str]]:
        """Drugs and lines that no training row named (a fit without ``init``): their
        posterior draws are the measured ones' population (:meth:`posterior_draws`)."""
        if self.posterior is None:
            return {"drugs": [], "cell_lines": []}
        return self.posterior.without_rows

    def _require_fitted(self) -> Posterior:
        if self.posterior is None or self.posterior.scaling is None:
            raise RuntimeError("this SynergyBNN is not fitted; call fit() or load() first.")
        return self.posterior

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
            rows are not used here. With ``training.refit`` (the default) the model is then
            trained afresh on both parts together, for the optimizer steps of the epochs
            early stopping kept, and ``validation_metrics`` are the early-stopped fit's.
            None (the default) trains on every row of ``screen`` with no validation part:
            every one of ``training.epochs`` epochs runs (no early stopping) and the last one
            is kept.
        progress : bool
            Show a progress bar.
        init : SynergyBNN, optional
            A fitted model (e.g. pretrained on other cell lines) to warm-start from: its
            features (grown by the screen's new drugs), score scaling and parameters are the
            starting point, and ``training.trunk_anchor`` applies.
        priors : mapping of str to Distribution, optional
            Site name -> distribution (e.g. ``init.posterior_priors()``) replacing the
            configured prior of those sites: the pretrained posterior as prior.

        Returns
        -------
        SynergyBNN
            ``self``, fitted.
        """
        if init is not None and not isinstance(init, SynergyBNN):
            raise TypeError(f"init must be a fitted SynergyBNN, not {type(init).__name__}.")
        fitting = Fitting(self.parts, None if init is None else init._require_fitted(), priors)
        try:
            fitting.run(screen, split, progress)
        finally:  # a failed fit leaves what it reached (a diverged model's last finite epoch)
            self.posterior, self.history = fitting.posterior, fitting.history
            self.validation_metrics = fitting.validation_metrics
        return self

    def posterior_priors(self, widen: float = 1.0) -> dict[str, dist.Distribution]:
        """The fitted posterior of every network weight site, as priors for another fit.

        Site name -> Normal(guide loc, widen * guide scale), event shape the site's. ``widen``
        > 1 lets the next fit move further from this one. A cell line this fit had no rows
        of (the target line after pretraining on the others) has per-line drug effects that
        are still at their prior; they get the population prior of the seen lines instead
        (:func:`~.inference.unseen.pooled_unseen`), so that a drug whose effect varies from
        line to line is uncertain in the new line and one that behaves alike everywhere is not.
        """
        return self._require_fitted().priors(widen)

    # ------------------------------------------------------------------ prediction
    def posterior_draws(self, num_samples: int | None = None, seed: int = 0) -> dict:
        """Joint draws of all latent sites, ``name -> (S, ...)``; cached per (S, seed).

        In each draw a drug without training rows (``without_rows``) takes a random measured
        drug's values, so its draws are the measured drugs' population.
        """
        return self._require_fitted().draws(num_samples, seed)

    def noise_sd(self, num_samples: int | None = None, seed: int = 0) -> float:
        """The posterior mean of the noise's scale site (the likelihood's ``scale_site``) on
        the score scale: the measurement noise's SD of a row whose noise effects are zero."""
        return self._require_fitted().noise_sd(num_samples, seed)

    def triples(self, table: pd.DataFrame, source: str = "pairs") -> Triples:
        """``table``'s rows as the model's ``(drug_a, drug_b, cell_line)`` index tensors."""
        return self._require_fitted().triples(table, source)

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
        posterior = self._require_fitted()
        return posterior.sample(posterior.triples(pairs), num_samples, seed, noise, progress)

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
        return self._require_fitted().evaluate(rows, num_samples)

    # ------------------------------------------------------------------ persistence
    def state(self) -> dict:
        """Everything needed to rebuild the fitted object, ``torch.save``-able."""
        return state_of(self._require_fitted())

    @classmethod
    def from_state(cls, state: dict) -> SynergyBNN:
        """Rebuild a fitted object from :meth:`state` (an older layout migrated first)."""
        return cls._fitted(restore(state))

    def with_features(self, features: FeatureSet) -> SynergyBNN:
        """The same fitted model over a grown drug table (new drugs for prediction)."""
        posterior = self._require_fitted()
        if features is posterior.features:
            return self
        return SynergyBNN._fitted(with_features(posterior, features))

    @classmethod
    def _fitted(cls, posterior: Posterior) -> SynergyBNN:
        bnn = cls.__new__(cls)
        bnn._use(posterior.parts)
        bnn.posterior = posterior
        return bnn
