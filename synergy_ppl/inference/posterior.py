"""The posterior of a composed model: its model and guide over the fitted features, with the
score scaling.

A :class:`Posterior` gives joint draws of every latent site, the predictive on the score
scale, and the priors another fit can start from. Drugs and cell lines without training
rows get the measured ones' population (:mod:`.unseen`): the guide's parameters are pooled
after a fit (:meth:`Posterior.pool_unseen`), and each draw of an unseen drug is a random
measured drug's (:meth:`Posterior.draws`). Scores are standardised with the training rows'
mean and SD for fitting, ``z = (score - mean) / sd``; what a posterior returns is on the
original score scale.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pyro.distributions as dist
import torch

from ..data import DataError
from ..data.features import FeatureSet, encode_pairs
from ..model.guides import Guide
from ..model.network import CELL_EFFECT_SITE, Triples, dummy_triples
from ..model.priors import is_real
from .calibration import noise_factor, widen_noise
from .metrics import regression_metrics
from .predictive import mixture_draws, network_samples, observation_samples
from .unseen import (
    borrowed_draws,
    entity_sites,
    pool_guide,
    pooled_unseen,
    reset_to_prior,
    with_new_drugs,
)

if TYPE_CHECKING:
    from ..parts import Parts

__all__ = ["Posterior", "Scaling", "mixture_moments"]


@dataclass
class Scaling:
    """``z = (score - mean) / sd`` on the training part."""

    mean: float
    sd: float


class Posterior:
    """A model and guide built from ``parts`` over ``features``; fitted once ``scaling`` is set.

    Attributes
    ----------
    parts : Parts
        What the model is made of (its flat config: ``parts.config``).
    features : FeatureSet
        Drug rows ``(D, F)`` and line rows ``(C, G)`` of the fit.
    model, guide
        The ``SynergyModel`` and its guide, freshly built (:meth:`Parts.build`); ``guides``
        the mixture's members, ``guide`` the first.
    scaling : Scaling or None
        The training rows' score mean and SD.
    cell_lines_seen : list of str or None
        Cell lines with training rows (this fit's and its start's); None: not recorded.
    without_rows : dict
        ``{"drugs": [...], "cell_lines": [...]}``: entities that no training row named.
    """

    def __init__(self, parts: Parts, features: FeatureSet):
        self.parts = parts
        self.features = features
        # eval mode (no dropout) except while training steps run
        self.model, guide = parts.build(features)
        self.guides: list[Guide] = [guide]
        """The members of the mixture (``training.members``), one guide each over ``model``."""
        self.scaling: Scaling | None = None
        self.cell_lines_seen: list[str] | None = None
        self.without_rows: dict[str, list[str]] = {"drugs": [], "cell_lines": []}
        self.noise_factor = 1.0
        """The measurement noise's calibration factor (``TrainingConfig.calibrate``)."""
        self._draws: dict[str, torch.Tensor] | None = None

    @property
    def device(self) -> str:
        return self.parts.device

    @property
    def guide(self) -> Guide:
        """The first member's guide: the posterior's, unless ``training.members`` > 1."""
        return self.guides[0]

    def add_member(self, other: Posterior) -> None:
        """Take the guides of ``other``, a fit of the same model over the same features and
        scores, as further members of the mixture."""
        if other.features is not self.features or other.scaling != self.scaling:
            raise ValueError(
                "a member of the mixture must be fitted over the same features and scores."
            )
        self.guides.extend(other.guides)
        self._draws = None

    def load(self, state: dict) -> None:
        """Take a saved state's ``model`` parameters, its ``guides``' (one per member) and
        ``scaling``."""
        self.model.load_state_dict(state["model"])
        builder = self.parts.guide_builder()
        self.guides = [self.guide, *(builder(self.model) for _ in state["guides"][1:])]
        for guide, guide_state in zip(self.guides, state["guides"], strict=True):
            # the guide's parameters exist once it has run: on a dummy row observed as in
            # training (with y=None the guide would treat obs as latent, with parameters
            # that no fitted state has)
            guide(*dummy_triples(self.device), torch.zeros(1, device=self.device))
            guide.load_state_dict(guide_state)
        self.scaling = Scaling(**state["scaling"])
        self._draws = None

    def parameters_over(self, features: FeatureSet) -> dict:
        """The fitted ``model`` and ``guides`` parameters and ``scaling`` (as :meth:`load`
        takes them) over ``features``, a grown drug table: the new drugs' feature rows, and
        per-drug guide entries at 0 with the widest fitted scale
        (:func:`.unseen.with_new_drugs`)."""
        model = self.model.state_dict()
        if features is not self.features:
            model["net.drug_matrix"] = features.drug_matrix
        new_drugs = len(features.drugs) - len(self.features.drugs)
        guides = [with_new_drugs(g.state_dict(), new_drugs, g.state_keys) for g in self.guides]
        return {"model": model, "guides": guides, "scaling": asdict(self.scaling)}

    def triples(self, table: pd.DataFrame, source: str = "pairs") -> Triples:
        """``table``'s rows as ``(drug_a, drug_b, cell_line)`` index tensors, each ``(N,)``."""
        return tuple(t.to(self.device) for t in encode_pairs(self.features, table, source))

    def standardise(self, scores: pd.Series | np.ndarray) -> torch.Tensor:
        """``scores`` ``(N,)`` on the standardised scale."""
        y = torch.as_tensor(np.asarray(scores, dtype=np.float32), device=self.device)
        return (y - self.scaling.mean) / self.scaling.sd

    # ------------------------------------------------------------ entities without rows
    def pool_unseen(self, train_rows: pd.DataFrame) -> None:
        """Give every drug and line without training rows the measured ones' population.

        Such a drug (line) keeps its one-hot embedding column (the family's
        ``drug_identity_site`` / ``line_identity_site``) and its noise effect at their priors,
        wider than anything the screen suggests. It is recorded in ``without_rows``, and the
        guide's parameters get the measured ones' population, matched in moments
        (:func:`~.unseen.pool_guide`; guides without scales, MAP, are left as is); an unseen
        drug's posterior draws are that population's exact draws (:meth:`draws`).
        """
        drugs = set(train_rows["drug_a"]) | set(train_rows["drug_b"])
        lines = set(train_rows["cell_line"])
        self.without_rows = {
            "drugs": [d for d in self.features.drugs if d not in drugs],
            "cell_lines": [c for c in self.features.cell_lines if c not in lines],
        }
        self._draws = None
        if not self.guide.has_spread:
            return
        drug_and_line_sites = entity_sites(self.model, self.features)
        site = self.model.net.prior_identity_site
        for guide in self.guides:
            for sites, seen in zip(drug_and_line_sites, self.seen_masks(), strict=True):
                pool_guide(guide, sites, seen)
            if site is not None:
                prior = guide.prototype_trace.nodes[site]["fn"]
                reset_to_prior(guide, site, prior, self.seen_masks()[0])

    def seen_masks(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``(D,)`` and ``(C,)``: which drugs and lines had training rows."""
        masks = []
        entities = {"drugs": self.features.drugs, "cell_lines": self.features.cell_lines}
        for kind, names in entities.items():
            unseen = set(self.without_rows[kind])
            masks.append(torch.tensor([name not in unseen for name in names], dtype=torch.bool))
        return masks[0], masks[1]

    # ------------------------------------------------------------ draws and predictions
    def draws(self, num_samples: int | None = None, seed: int = 0) -> dict[str, torch.Tensor]:
        """Joint draws of all latent sites, ``name -> (S, ...)``; cached per (S, seed): the
        members' in turn (:func:`mixture_draws`).

        In each draw a drug without training rows (``without_rows``) takes a random measured
        drug's values, so its draws are the measured drugs' population.
        """
        num_samples = num_samples or self.parts.num_samples
        key = (num_samples, seed)
        if self._draws is None or self._draws.get("_key") != key:
            draws = mixture_draws(self.model, self.guides, num_samples, seed)
            # drugs only: a held-out line's moment-matched population is the better
            # calibrated one (benchmarks/README.md, "Uncertainty where nothing was measured")
            drug_sites, _ = entity_sites(self.model, self.features)
            draws = borrowed_draws(draws, drug_sites, self.seen_masks()[0], seed)
            self._draws = {**draws, "_key": key}
        return {k: v for k, v in self._draws.items() if k != "_key"}

    def noise_sd(self, num_samples: int | None = None, seed: int = 0) -> float:
        """The posterior mean of the likelihood's scale site on the score scale, calibrated."""
        draws = self.draws(num_samples, seed)
        scale = float(draws[self.model.likelihood.scale_site].mean())
        return scale * self.noise_factor * self.scaling.sd

    def sample(
        self, triples: Triples, num_samples: int | None, seed: int, noise: bool, progress: bool
    ) -> torch.Tensor:
        """Predictive draws ``(S, N)`` on the original scale for the ``N`` rows ``triples``;
        with ``noise=False`` of the synergy function itself (epistemic only); the noise is
        scaled by the calibration factor ``noise_factor``."""
        draws = self.draws(num_samples, seed)
        means = network_samples(self.model, draws, triples, progress=progress)
        if noise:
            noisy = observation_samples(self.model, draws, means, seed, triples)
            means = widen_noise(means, noisy, self.noise_factor)
        return (means * self.scaling.sd + self.scaling.mean).cpu()

    def calibrate(self, rows: pd.DataFrame, num_samples: int | None = None) -> float:
        """The noise factor under which measured ``rows`` (that the fit did not train on)
        are most likely (:func:`~.calibration.noise_factor`)."""
        triples = self.triples(rows)
        draws = self.draws(num_samples, 0)
        means = network_samples(self.model, draws, triples)
        noise = observation_samples(self.model, draws, means, 0, triples) - means
        return noise_factor(means.cpu(), noise.cpu(), self.standardise(rows["score"]).cpu())

    def evaluate(self, rows: pd.DataFrame, num_samples: int | None = None) -> dict:
        """Regression and calibration metrics of the predictive on measured ``rows``."""
        samples = self.sample(self.triples(rows), num_samples, 0, True, False)
        return regression_metrics(
            samples, torch.tensor(rows["score"].to_numpy(), dtype=torch.float32)
        )

    # ------------------------------------------------------------ as the next fit's prior
    def priors(self, widen: float = 1.0) -> dict[str, dist.Distribution]:
        """The posterior of every network weight site as priors for another fit: site name
        -> Normal(guide loc, widen * guide scale), event shape the site's (a mixture's
        members matched in mean and variance, :func:`mixture_moments`).

        A cell line this fit had no rows of has per-line drug effects still at their prior;
        they get the seen lines' population prior instead (:func:`~.unseen.pooled_unseen`).
        """
        if not widen > 0:
            raise DataError(f"widen must be > 0, not {widen}.", parameter="widen")
        if not self.guide.has_spread:
            raise DataError(
                f"a fit with the point-estimate guide ({self.parts.config.guide_name!r}) has "
                "no posterior width to serve as a prior; start from it with transfer mode "
                "'warm-start', or fit the pretrained model with a Bayesian guide.",
                parameter=("guide", "transfer"),
            )
        priors = {}
        for name, site in self.guide.prototype_trace.iter_stochastic_nodes():
            # a positive hyperparameter (a learned prior scale) keeps its own prior
            if name.startswith("net.") and is_real(site["fn"].support):
                loc, scale = mixture_moments(self.guides, name)
                if name == CELL_EFFECT_SITE and self.cell_lines_seen is not None:
                    seen = torch.tensor(
                        [c in self.cell_lines_seen for c in self.features.cell_lines],
                        device=loc.device,
                    )
                    if seen.any() and not seen.all():
                        loc, scale = pooled_unseen(loc, scale, seen)
                priors[name] = dist.Normal(loc, widen * scale).to_event(loc.dim())
        return priors


def mixture_moments(guides: list[Guide], site: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and SD at ``site`` of the equal-weight mixture of the guides' Normals:
    ``m = mean_k m_k``, ``s^2 = mean_k s_k^2 + mean_k (m_k - m)^2``, each the site's shape
    (one guide: its own)."""
    locs, scales = zip(*(guide.loc_and_scale(site) for guide in guides), strict=True)
    loc, scale = torch.stack(locs).detach(), torch.stack(scales).detach()
    mean = loc.mean(0)
    return mean, (scale.pow(2).mean(0) + (loc - mean).pow(2).mean(0)).sqrt()
