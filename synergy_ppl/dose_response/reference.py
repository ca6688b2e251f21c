"""Reference (null-interaction) models and the Hill fits they rest on.

All responses are **% inhibition** ``E`` (0 = untreated control, 100 = no viable cells). A
reference model predicts the response of a combination ``(d_a, d_b)`` if the drugs did not
interact, from the responses ``E_A``, ``E_B`` of each drug alone:

* Bliss independence, ``E_AB = E_A + E_B - E_A E_B / 100`` (fractions multiply);
* highest single agent (HSA), ``E_AB = max(E_A, E_B)``;
* Loewe additivity, ``d_a / D_A(E_AB) + d_b / D_B(E_AB) = 1`` with ``D_X`` the inverse of a Hill
  fit of drug X alone;
* zero interaction potency (ZIP, Yadav et al. 2015), which compares Hill curves of each drug
  refitted at every fixed dose of the other drug with the Bliss surface of the single-drug fits.

Bliss and HSA take the measured single-agent responses at the same doses; Loewe and ZIP take
4-parameter log-logistic (Hill) fits, :func:`fit_hill`, made with
:func:`scipy.optimize.curve_fit`. For NCI-ALMANAC data, :func:`nci_expected_growth` is NCI's own
Bliss variant on percent growth (the ``EXPECTEDGROWTH`` column of its files). Nothing here knows
about wells or blocks: the functions take arrays.
"""

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy.optimize import OptimizeWarning, curve_fit
from scipy.special import expit, logit

MODELS = ("bliss", "hsa", "loewe", "zip")

# Hill-fit bounds: the slope of real dose-response curves lies well inside [0.1, 10], and an EC50
# more than three decades outside the tested doses cannot be told apart from "inactive".
_SLOPE_BOUNDS = (0.1, 10.0)
_EC50_DECADES = 3.0
# Responses are in percent: a relative tolerance of 1e-6 is far below assay noise and needs a
# third of the iterations of scipy's default 1e-8 on the sparse, flat designs of real screens.
_FIT_TOLERANCES = {"ftol": 1e-6, "xtol": 1e-6, "gtol": 1e-6}
_LOEWE_BISECTIONS = 64  # halves the effect bracket to below double precision


def bliss_expected(effect_a: ArrayLike, effect_b: ArrayLike) -> np.ndarray:
    """Bliss-independence expectation, ``E_A + E_B - E_A E_B / 100``.

    Parameters
    ----------
    effect_a, effect_b
        Single-agent responses in % inhibition, broadcastable shapes.

    Returns
    -------
    numpy.ndarray
        Expected combination response in % inhibition: the surviving fractions multiply,
        ``1 - E_AB/100 = (1 - E_A/100)(1 - E_B/100)``.
    """
    effect_a, effect_b = np.asarray(effect_a, float), np.asarray(effect_b, float)
    return effect_a + effect_b - effect_a * effect_b / 100.0


def hsa_expected(effect_a: ArrayLike, effect_b: ArrayLike) -> np.ndarray:
    """Highest-single-agent expectation, ``max(E_A, E_B)`` (% inhibition, broadcast)."""
    return np.maximum(np.asarray(effect_a, float), np.asarray(effect_b, float))


def nci_expected_growth(growth_a: ArrayLike, growth_b: ArrayLike) -> np.ndarray:
    """NCI-ALMANAC expected percent growth of a combination (its ``EXPECTEDGROWTH``).

    Holbeck et al. 2017 apply Bliss independence to the NCI-60 percent growth ``G`` (100 =
    untreated growth, 0 = no growth over the assay, -100 = all cells killed)::

        G_AB = min(G_A, 100) * min(G_B, 100) / 100     if G_A >= 0 and G_B >= 0
        G_AB = min(G_A, G_B)                           otherwise (a single agent kills cells)

    With ``G = 100 - E`` the first case is :func:`bliss_expected` of the inhibitions clipped at
    0, i.e. a single agent that stimulates growth counts as inactive.

    Parameters
    ----------
    growth_a, growth_b
        Single-agent percent growth at the combination's doses, broadcastable shapes.

    Returns
    -------
    numpy.ndarray
        Expected percent growth of the combination.
    """
    growth_a, growth_b = np.asarray(growth_a, float), np.asarray(growth_b, float)
    independent = np.minimum(growth_a, 100.0) * np.minimum(growth_b, 100.0) / 100.0
    cytotoxic = (growth_a < 0) | (growth_b < 0)
    return np.where(cytotoxic, np.minimum(growth_a, growth_b), independent)


@dataclass(frozen=True)
class HillCurve:
    """A 4-parameter log-logistic dose-response curve in % inhibition.

    ``E(d) = bottom + (top - bottom) / (1 + (ec50 / d) ** slope)``, so ``E(0) = bottom`` and
    ``E(ec50)`` is halfway between ``bottom`` and ``top``.

    Attributes
    ----------
    bottom, top
        Response at zero and at infinite dose, % inhibition (``top < bottom`` for a drug that
        makes cells grow).
    ec50
        Dose of the half-maximal effect, in the units of the doses it was fitted to.
    slope
        Hill coefficient, > 0.
    """

    bottom: float
    top: float
    ec50: float
    slope: float

    def effect(self, dose: ArrayLike) -> np.ndarray:
        """Response ``E(d)`` at doses ``d >= 0`` (any shape)."""
        return _hill(np.asarray(dose, float), self.bottom, self.top, np.log(self.ec50), self.slope)

    def dose(self, effect: ArrayLike) -> np.ndarray:
        """Inverse ``D(E) = ec50 * ((E - bottom) / (top - E)) ** (1 / slope)``.

        Returns 0 for effects at ``bottom`` or on its far side from ``top`` (no drug needed),
        and ``inf`` for effects at ``top`` or past it (never reached).
        """
        fraction = (np.asarray(effect, float) - self.bottom) / (self.top - self.bottom)
        with np.errstate(over="ignore"):
            return self.ec50 * np.exp(logit(np.clip(fraction, 0.0, 1.0)) / self.slope)


def _hill(dose: np.ndarray, bottom: float, top: float, log_ec50: float, slope: float) -> np.ndarray:
    with np.errstate(divide="ignore"):  # log(0) = -inf gives E(0) = bottom
        return bottom + (top - bottom) * expit(slope * (np.log(dose) - log_ec50))


def fit_hill(dose: ArrayLike, response: ArrayLike) -> HillCurve:
    """Least-squares fit of a :class:`HillCurve` to one drug's single-agent responses.

    Uses :func:`scipy.optimize.curve_fit` (trust-region reflective) on
    ``(bottom, top, log ec50, slope)`` within bounds that keep sparse designs (NCI-ALMANAC has
    three doses per drug) well-posed: ``bottom`` and ``top`` within
    ``[min(0, min E), max(100, max E)]``, ``ec50`` within three decades of the tested doses and
    ``slope`` in ``[0.1, 10]``.

    Parameters
    ----------
    dose
        Doses, shape ``(n,)``, at least two distinct positive ones. Zero doses (untreated
        controls) anchor ``bottom``; when there are none, the untreated response is 0 %
        inhibition by definition and is added as the point ``(0, 0)``.
    response
        Responses in % inhibition, shape ``(n,)``.

    Returns
    -------
    HillCurve
    """
    dose, response = np.asarray(dose, float), np.asarray(response, float)
    if not (dose == 0).any():
        dose, response = np.append(dose, 0.0), np.append(response, 0.0)
    low, high = min(0.0, response.min()), max(100.0, response.max())
    log_ec50_low, log_ec50_high = _log_ec50_bounds(dose)
    lower = [low, low, log_ec50_low, _SLOPE_BOUNDS[0]]
    upper = [high, high, log_ec50_high, _SLOPE_BOUNDS[1]]
    start = [
        response[dose == 0].mean(),
        response[dose == dose.max()].mean(),
        np.log(dose[dose > 0]).mean(),
        1.0,
    ]
    params = _curve_fit(_hill, dose, response, np.clip(start, lower, upper), (lower, upper))
    bottom, top, log_ec50, slope = params
    return HillCurve(float(bottom), float(top), float(np.exp(log_ec50)), float(slope))


def _log_ec50_bounds(dose: np.ndarray) -> tuple[float, float]:
    """log EC50 within ``_EC50_DECADES`` of the positive doses tested."""
    log_dose = np.log(dose[dose > 0])
    margin = _EC50_DECADES * np.log(10.0)
    return float(log_dose.min() - margin), float(log_dose.max() + margin)


def _curve_fit(
    model: Callable[..., np.ndarray],
    x: np.ndarray,
    y: np.ndarray,
    start: np.ndarray,
    bounds: tuple[Sequence[float], Sequence[float]],
) -> np.ndarray:
    with warnings.catch_warnings():
        # The covariance is not used, and it is undefined when there are as many points as
        # parameters (a 3-dose NCI-ALMANAC drug plus its control).
        warnings.simplefilter("ignore", OptimizeWarning)
        params, _ = curve_fit(
            model, x, y, p0=start, bounds=bounds, max_nfev=10_000, **_FIT_TOLERANCES
        )
    return params


def loewe_expected(
    dose_a: ArrayLike, dose_b: ArrayLike, curve_a: HillCurve, curve_b: HillCurve
) -> np.ndarray:
    """Loewe-additivity expectation from the single-drug Hill curves.

    The expected effect ``E`` of ``(d_a, d_b)`` solves ``d_a / D_A(E) + d_b / D_B(E) = 1``, where
    ``D_X(E)`` is the dose of drug X alone that gives ``E`` (:meth:`HillCurve.dose`); a drug
    combined with itself (a sham combination) is exactly additive. The left side decreases in
    ``E``, so the root is found by vectorised bisection on the range of effects both curves can
    reach, ``(max(bottom_A, bottom_B), min(top_A, top_B))``.

    Fallback: when the root lies beyond that range -- one drug never reaches the needed effect
    -- the expectation is ``max(E_A(d_a), E_B(d_b))`` of the fitted curves. This is the limit of
    the equation when a drug adds no dose equivalent to effects it cannot reach, so the
    expectation stays continuous across the boundary. The same rule applies when the two curves
    share no effect range (e.g. a drug whose fit decreases).

    Parameters
    ----------
    dose_a, dose_b
        Doses of the combination wells, same shape, in the units of the fitted curves.
    curve_a, curve_b
        Hill fits of drug A and drug B alone (:func:`fit_hill`).

    Returns
    -------
    numpy.ndarray
        Expected response in % inhibition, the shape of ``dose_a``.
    """
    dose_a, dose_b = np.asarray(dose_a, float), np.asarray(dose_b, float)
    fallback = hsa_expected(curve_a.effect(dose_a), curve_b.effect(dose_b))
    low, high = max(curve_a.bottom, curve_b.bottom), min(curve_a.top, curve_b.top)
    if not low < high:
        return fallback

    def combination_index(effect: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore"):
            return dose_a / curve_a.dose(effect) + dose_b / curve_b.dose(effect)

    lower, upper = np.full(dose_a.shape, low), np.full(dose_a.shape, high)
    for _ in range(_LOEWE_BISECTIONS):
        middle = (lower + upper) / 2
        # Index > 1: the doses are more than enough for `middle`, so the expected effect is higher.
        higher = combination_index(middle) > 1
        lower, upper = np.where(higher, middle, lower), np.where(higher, upper, middle)
    unreachable = combination_index(np.full(dose_a.shape, high)) > 1
    return np.where(unreachable, fallback, (lower + upper) / 2)


def zip_delta(
    dose_a: ArrayLike,
    dose_b: ArrayLike,
    response: ArrayLike,
    curve_a: HillCurve,
    curve_b: HillCurve,
) -> np.ndarray:
    """ZIP delta score of Yadav et al. (2015), as implemented in SynergyFinder.

    With ``y_A = E_A(d_a)``, ``y_B = E_B(d_b)`` from the single-drug fits, the ZIP reference is
    the Bliss surface ``y_A + y_B - y_A y_B / 100``. At each dose ``d_a`` the responses along
    ``d_b`` are refitted with a Hill curve that starts at ``y_A`` and saturates at 100 %,
    ``(y_A + 100 (d_b / m)^s) / (1 + (d_b / m)^s)`` (free ``m``, ``s``), and symmetrically along
    ``d_a`` at each ``d_b``; a line with a single combination well keeps its observed response.
    The delta is the mean of the two refitted surfaces minus the reference.

    Parameters
    ----------
    dose_a, dose_b, response
        Combination wells (both doses > 0), shape ``(n,)``; response in % inhibition, replicates
        averaged.
    curve_a, curve_b
        Hill fits of drug A and drug B alone (:func:`fit_hill`).

    Returns
    -------
    numpy.ndarray
        Delta in percentage points, shape ``(n,)``; positive = synergy.
    """
    dose_a, dose_b = np.asarray(dose_a, float), np.asarray(dose_b, float)
    response = np.asarray(response, float)
    alone_a, alone_b = curve_a.effect(dose_a), curve_b.effect(dose_b)
    along_b = _refit_lines(dose_b, response, fixed_dose=dose_a, baseline=alone_a)
    along_a = _refit_lines(dose_a, response, fixed_dose=dose_b, baseline=alone_b)
    return (along_a + along_b) / 2 - bliss_expected(alone_a, alone_b)


def _refit_lines(
    dose: np.ndarray, response: np.ndarray, fixed_dose: np.ndarray, baseline: np.ndarray
) -> np.ndarray:
    """Fitted responses along ``dose`` for each value of ``fixed_dose`` (ZIP)."""
    fitted = response.copy()
    log_m_low, log_m_high = _log_ec50_bounds(dose)
    bounds = ([log_m_low, _SLOPE_BOUNDS[0]], [log_m_high, _SLOPE_BOUNDS[1]])
    for value in np.unique(fixed_dose):
        line = fixed_dose == value
        if line.sum() < 2:
            continue
        bottom = baseline[line][0]

        def curve(x: np.ndarray, log_m: float, slope: float, bottom: float = bottom) -> np.ndarray:
            return _hill(x, bottom, 100.0, log_m, slope)

        start = np.clip([np.log(dose[line]).mean(), 1.0], *bounds)
        params = _curve_fit(curve, dose[line], response[line], start, bounds)
        fitted[line] = curve(dose[line], *params)
    return fitted
