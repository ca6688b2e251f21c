"""A fitted run as ``arviz.InferenceData``, and the predictive arrays the diagnostics read.

``to_inference_data`` turns a run (or a fitted ``SynergyBNN`` and its screen table) into an
``arviz.InferenceData`` with the groups

- ``posterior``: draws of the Bayesian weights and biases of the head, or of the family's
  ``posterior_summary`` sites (every Bayesian layer with ``all_weights=True``; dims named
  ``<layer>_out``, ``<layer>_in``), ``sigma`` (the
  noise site, standardised scale) and ``noise_scale`` (the same on the original score
  scale); one chain;
- ``posterior_predictive``: ``score`` draws of a new measurement, dim ``pair``;
- ``observed_data``: the measured ``score`` of those rows;
- ``constant_data``: ``drug_a``, ``drug_b`` and ``cell_line`` of each row.

The ``pair`` coordinate is the row number in the run's ``screen.csv``.

The predictive draws use the run's number of samples and seed 0 by default, exactly as
``metrics.json`` was computed, so coverage recomputed from them equals its numbers.
"""

from __future__ import annotations

from pathlib import Path

import arviz as az
import pandas as pd
import torch

from ..data import DataError
from ..estimator import SynergyBNN
from ..model.network import NetworkBase
from ..runs import load_fit, read_screen

PARTS = ("train", "val", "test")

_DIM_ROLES = {
    ("weight", 2): ("out", "in"),
    ("weight", 3): ("out", "in_a", "in_b"),  # the symmetric bilinear merge
    ("bias", 1): ("out",),
}


def site_to_var(site: str) -> str:
    """``net.head.layers.0.weight`` -> ``head_layers_0_weight`` (a valid NetCDF name)."""
    return site.removeprefix("net.").replace(".", "_")


def var_dims(var: str, ndim: int) -> list[str]:
    """Readable dim names of a posterior variable without its (chain, draw) axes.

    Weights get ``<layer>_out`` / ``<layer>_in``, biases share ``<layer>_out``, so a layer's
    weight and bias line up; anything else falls back to ``<var>_dim_<i>``.
    """
    layer, _, kind = var.rpartition("_")
    roles = _DIM_ROLES.get((kind, ndim))
    if roles is None:
        return [f"{var}_dim_{i}" for i in range(ndim)]
    return [f"{layer}_{role}" for role in roles]


def keep_site(
    site: str, all_weights: bool, summary: tuple[str, ...] = NetworkBase.posterior_summary
) -> bool:
    """Whether a latent site goes into the posterior group.

    With ``bayesian="all"`` the trunk holds ~99% of the weights (200 draws: ~240 MB of
    NetCDF), so by default only the noise sites and the network's ``summary`` sites (module
    path prefixes, the family's ``posterior_summary``: the head) are kept.
    """
    if all_weights or not site.startswith("net."):
        return True
    return site.removeprefix("net.").startswith(summary)


def part_rows(table: pd.DataFrame, part: str) -> pd.DataFrame:
    """The rows of a run's screen table in ``part``, index = row number in ``screen.csv``."""
    if part not in PARTS:
        raise DataError(f"unknown part '{part}'; choose one of {PARTS}", parameter="part")
    rows = table[table["part"] == part]
    if rows.empty:
        raise DataError(
            f"the run has no '{part}' rows to diagnose; choose another part.", parameter="part"
        )
    return rows


def build_inference_data(
    draws: dict[str, torch.Tensor],
    samples: torch.Tensor,
    rows: pd.DataFrame,
    score_sd: float,
    attrs: dict,
    scale_site: str = "sigma",
) -> az.InferenceData:
    """Assemble the ``InferenceData`` with ``az.from_dict``.

    Parameters
    ----------
    draws : dict
        Site name -> ``(S, ...)`` posterior draws (``SynergyBNN.posterior_draws``).
    samples : Tensor
        ``(S, N)`` predictive draws of ``rows``' scores, original scale.
    rows : DataFrame
        ``N`` rows with ``drug_a, drug_b, cell_line, score``; the index becomes ``pair``.
    score_sd : float
        Training-score SD, converts the noise scale to the original scale.
    attrs : dict
        Attributes of the ``posterior`` group (prior, likelihood, ...).
    scale_site : str
        The likelihood's noise-width site (``Likelihood.scale_site``), reported as
        ``noise_scale`` on the score scale.
    """
    posterior = {site_to_var(k): v.numpy()[None] for k, v in draws.items()}  # chain axis
    posterior["noise_scale"] = posterior[site_to_var(scale_site)] * score_sd
    dims = {var: var_dims(var, value.ndim - 2) for var, value in posterior.items()}
    identifiers = {
        col: rows[col].astype(str).to_numpy() for col in ("drug_a", "drug_b", "cell_line")
    }
    dims.update({name: ["pair"] for name in ("score", *identifiers)})
    return az.from_dict(
        posterior=posterior,
        posterior_predictive={"score": samples.numpy()[None]},
        observed_data={"score": rows["score"].to_numpy()},
        constant_data=identifiers,
        coords={"pair": rows.index.to_numpy()},
        dims=dims,
        posterior_attrs=attrs,
    )


def to_inference_data(
    run: str | Path | SynergyBNN,
    table: pd.DataFrame | None = None,
    part: str = "test",
    num_samples: int | None = None,
    seed: int = 0,
    all_weights: bool = False,
) -> az.InferenceData:
    """The posterior and the predictive of one part of a run as ``arviz.InferenceData``.

    Parameters
    ----------
    run : path or SynergyBNN
        A run directory, or a fitted model (then ``table`` is required).
    table : DataFrame, optional
        The screen table with a ``part`` column (``runs.read_screen``); read from the run
        directory when ``run`` is a path.
    part : {"test", "val", "train"}
        Whose rows go into the predictive, observed and constant groups.
    num_samples : int, optional
        Posterior draws ``S`` (default: the run's, as ``metrics.json`` used).
    seed : int
        Seed of the draws (``metrics.json`` used 0).
    all_weights : bool
        Also keep the trunk's weights when it is Bayesian (``bayesian="all"``; large).
    """
    if isinstance(run, SynergyBNN):
        if table is None:
            raise TypeError("to_inference_data(bnn, ...) needs the screen table too.")
        bnn = run
    else:
        bnn, _ = load_fit(run)
        table = read_screen(run)
    rows = part_rows(table, part)
    num_samples = num_samples or bnn.config.num_samples
    attrs = {
        "model": bnn.config.model,
        "prior": bnn.config.prior,
        "likelihood": bnn.config.likelihood,
        **({"bayesian": bnn.config.bayesian} if bnn.config.bayesian else {}),
        "part": part,
        "seed": seed,
        "score_mean": bnn.scaling.mean,
        "score_sd": bnn.scaling.sd,
    }
    draws = bnn.posterior_draws(num_samples, seed)
    return build_inference_data(
        {
            k: v
            for k, v in draws.items()
            if keep_site(k, all_weights, bnn.model.net.posterior_summary)
        },
        bnn.sample(rows, num_samples, seed),
        rows,
        bnn.scaling.sd,
        attrs,
        bnn.model.likelihood.scale_site,
    )


def predictive_arrays(idata: az.InferenceData) -> tuple[torch.Tensor, torch.Tensor]:
    """Predictive draws ``(S, N)`` and measured scores ``(N,)`` as ``metrics.py`` sees them.

    Same dtype (float32) as ``SynergyBNN.evaluate``, so coverage computed from them is
    identical to ``metrics.json``'s.
    """
    samples = torch.tensor(idata.posterior_predictive["score"].values[0])
    y = torch.tensor(idata.observed_data["score"].values, dtype=torch.float32)
    return samples, y
