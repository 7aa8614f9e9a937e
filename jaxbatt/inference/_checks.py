"""Posterior predictive checks of a calibration: does the model describe the data at all?

NUTS diagnostics (R-hat, ESS, divergences) say whether the sampler explored the posterior,
not whether the model fits: a curve the voltage model cannot describe (data at another
C-rate, times in hours, a constant voltage, another cell) still gives a well-mixed,
confident posterior, with the misfit absorbed into a large noise level. Two checks per
curve catch it:

- **noise against its prior**: the posterior median of the inferred noise sigma lies far in
  the tail of its HalfNormal prior (prior probability of a sigma at least that large below
  `SIGMA_TAIL_PROBABILITY`); with a fixed sigma, the residuals' RMS is far above the fixed
  noise (chi-square test at `WHITENESS_P_VALUE`);
- **residuals against white noise**: the residuals (data minus the posterior-mean model
  curve) of a well-specified fit are white noise; a misfit leaves a smooth, strongly
  autocorrelated residual. The Ljung-Box statistic Q = n (n + 2) sum_{k=1}^{h} r_k^2 / (n - k)
  of the residuals' autocorrelations r_k over h = `LJUNG_BOX_LAGS` lags is chi-square with h
  degrees of freedom under white noise; a p-value below `WHITENESS_P_VALUE` flags the curve,
  unless the correlated part of the residuals, sqrt(max(r_1, 0)) x RMS, is within
  `MODEL_ERROR_FACTOR` x the voltage model's stated error (a surrogate's own smooth error
  is expected, and is not a misfit of the data).

With ``surrogate_error="correlated"`` the residuals are taken after the fitted discrepancy
and the discrepancy coefficients are also checked against their prior (posterior mean beyond
`DISCREPANCY_MAX_Z` prior standard deviations).
"""

import dataclasses
import math

import numpy as np
from scipy import stats

# Thresholds, measured on well-specified synthetic curves (numerical SPM curves with 1-5 mV
# noise fitted with the bundled surrogate) and on misfits (1C data with the 2C model, times
# in hours, a constant voltage); the table is in the README section "Bayesian calibration".
SIGMA_TAIL_PROBABILITY = 1e-3  # HalfNormal(s0): a median above 3.29 s0 (16.5 mV at 5 mV)
LJUNG_BOX_LAGS = 10
WHITENESS_P_VALUE = 1e-4
MODEL_ERROR_FACTOR = 2.0
DISCREPANCY_MAX_Z = 4.0

WHAT_TO_CHECK = (
    "check that the data are at the model's C-rate (c_rate=..., CLI --c-rate), that times "
    "are in seconds and voltages in volts, that the data come from the cell the model "
    "describes, and that the curve lies in the model's time window"
)


class MisfitWarning(UserWarning):
    """The voltage model does not describe the data (a posterior predictive check failed):
    the posterior is then not a meaningful estimate of the parameters."""


@dataclasses.dataclass(frozen=True)
class MisfitCheck:
    """The posterior predictive checks of one curve (see `jaxbatt.inference._checks`).

    Attributes:
        curve: index of the curve.
        num_points: data points.
        residual_rms_V: RMS of the residuals, data minus the posterior-mean model curve [V].
        noise_std_V: the noise level the fit assumes: the posterior median of sigma (or the
            fixed sigma), combined with the model's error_std when it counts as white noise.
        sigma_median_V: posterior median of the inferred sigma [V] (None when fixed).
        sigma_prior_V: scale of its HalfNormal prior [V] (None when fixed).
        sigma_tail_probability: prior probability of a sigma at least the posterior median
            (None when fixed).
        rms_p_value: with a fixed sigma, the chi-square p-value of the residuals' RMS
            against it (None when sigma is inferred).
        lag1_autocorrelation: r_1 of the residuals.
        ljung_box_q, ljung_box_lags, ljung_box_p_value: the Ljung-Box statistic, its lags h
            and its chi-square(h) p-value.
        correlated_rms_V: RMS of the correlated part of the residuals, sqrt(max(r_1, 0)) x
            residual RMS [V].
        model_error_std_V: the voltage model's stated error [V].
        discrepancy_max_z: largest |posterior mean| of a discrepancy coefficient in prior
            standard deviations (``surrogate_error="correlated"`` only, else None).
        problems: what failed, one sentence each (empty: the fit looks consistent).
    """

    curve: int
    num_points: int
    residual_rms_V: float
    noise_std_V: float
    sigma_median_V: float | None
    sigma_prior_V: float | None
    sigma_tail_probability: float | None
    rms_p_value: float | None
    lag1_autocorrelation: float
    ljung_box_q: float
    ljung_box_lags: int
    ljung_box_p_value: float
    correlated_rms_V: float
    model_error_std_V: float
    discrepancy_max_z: float | None
    problems: tuple[str, ...]

    @property
    def misfit(self) -> bool:
        return bool(self.problems)

    def to_dict(self) -> dict:
        out = dataclasses.asdict(self)
        out["problems"] = list(self.problems)
        out["misfit"] = self.misfit
        return out


def autocorrelations(x, lags: int) -> np.ndarray:
    """Sample autocorrelations r_1 .. r_lags of x (mean removed, biased normalisation)."""
    x = np.asarray(x, dtype=float) - np.mean(x)
    denominator = float(np.dot(x, x))
    if denominator == 0.0:
        return np.zeros(lags)
    return np.array([np.dot(x[:-k], x[k:]) / denominator for k in range(1, lags + 1)])


def ljung_box(x, lags: int = LJUNG_BOX_LAGS) -> tuple[float, int, float]:
    """Ljung-Box statistic of x over `lags` lags (capped at n // 5, at least 1), the lags used
    and the chi-square(lags) p-value."""
    n = np.size(x)
    lags = max(1, min(lags, n // 5))
    r = autocorrelations(x, lags)
    q = float(n * (n + 2) * np.sum(r**2 / (n - np.arange(1, lags + 1))))
    return q, lags, float(stats.chi2.sf(q, lags))


def _mV(x):
    return f"{x * 1e3:.3g} mV"


def check_curve(
    curve: int,
    v,
    mean_prediction,
    *,
    sigma_draws=None,
    sigma_fixed: float | None = None,
    sigma_prior: float | None = None,
    white_model_error: float = 0.0,
    model_error_std: float = 0.0,
    discrepancy_z=None,
) -> MisfitCheck:
    """The posterior predictive checks of one curve.

    Args:
        curve: its index (for the messages).
        v: measured voltages (T,) [V].
        mean_prediction: posterior-mean model curve (T,) [V], discrepancy included.
        sigma_draws: posterior draws of the inferred sigma [V], or None when fixed.
        sigma_fixed: the fixed sigma [V] (when `sigma_draws` is None).
        sigma_prior: scale of the HalfNormal prior of sigma [V].
        white_model_error: the model error counted as white noise [V] (0 unless "white").
        model_error_std: the voltage model's stated error [V].
        discrepancy_z: posterior mean of the discrepancy coefficients in prior standard
            deviations (K,), or None.
    """
    residual = np.asarray(v, dtype=float) - np.asarray(mean_prediction, dtype=float)
    n = residual.size
    rms = float(np.sqrt(np.mean(residual**2)))
    r = autocorrelations(residual, 1)
    r1 = float(r[0])
    q, lags, p_value = ljung_box(residual)
    correlated_rms = math.sqrt(max(r1, 0.0)) * rms
    problems = []
    sigma_median = tail = rms_p = None
    if sigma_draws is not None:
        sigma_median = float(np.median(sigma_draws))
        tail = float(2.0 * stats.norm.sf(sigma_median / sigma_prior))  # HalfNormal survival
        noise = math.hypot(sigma_median, white_model_error)
        if tail < SIGMA_TAIL_PROBABILITY:
            problems.append(
                f"the inferred noise sigma = {_mV(sigma_median)} (posterior median) lies far "
                f"in the tail of its HalfNormal({_mV(sigma_prior)}) prior (prior probability "
                f"of a sigma this large: {tail:.2g}); the model misses the data by about "
                f"{_mV(rms)} RMS (if the data really are this noisy, raise sigma_prior_mV)"
            )
    else:
        noise = math.hypot(sigma_fixed, white_model_error)
        rms_p = float(stats.chi2.sf(n * (rms / noise) ** 2, n))
        if rms_p < WHITENESS_P_VALUE:
            problems.append(
                f"the residuals' RMS {_mV(rms)} is {rms / noise:.3g} x the fixed noise "
                f"{_mV(noise)} (chi-square p = {rms_p:.2g})"
            )
    if p_value < WHITENESS_P_VALUE and correlated_rms > MODEL_ERROR_FACTOR * model_error_std:
        problems.append(
            f"the residuals are not white noise: lag-1 autocorrelation {r1:.2f}, Ljung-Box "
            f"Q = {q:.3g} over {lags} lags (p = {p_value:.2g}); their correlated part "
            f"({_mV(correlated_rms)} RMS) is a systematic misfit, beyond the model's stated "
            f"error ({_mV(model_error_std)})"
        )
    z_max = None
    if discrepancy_z is not None:
        z_max = float(np.max(np.abs(discrepancy_z)))
        if z_max > DISCREPANCY_MAX_Z:
            problems.append(
                f"the model discrepancy is pushed to {z_max:.3g} prior standard deviations"
            )
    return MisfitCheck(
        curve=int(curve), num_points=int(n), residual_rms_V=rms, noise_std_V=float(noise),
        sigma_median_V=sigma_median, sigma_prior_V=sigma_prior if sigma_draws is not None
        else None, sigma_tail_probability=tail, rms_p_value=rms_p, lag1_autocorrelation=r1,
        ljung_box_q=q, ljung_box_lags=int(lags), ljung_box_p_value=p_value,
        correlated_rms_V=float(correlated_rms), model_error_std_V=float(model_error_std),
        discrepancy_max_z=z_max, problems=tuple(problems),
    )  # fmt: skip


def misfit_message(checks, is_fleet: bool) -> str:
    """The `MisfitWarning` text: what was found (numbers) and what to check."""
    bad = [c for c in checks if c.misfit]
    parts = []
    for c in bad:
        where = f"curve {c.curve}: " if is_fleet else ""
        parts.append(where + "; ".join(c.problems))
    head = (
        f"the model does not describe {len(bad)} of {len(checks)} curves"
        if is_fleet
        else "the model does not describe the data"
    )
    return (
        f"{head} (posterior predictive check): " + ". ".join(parts) + ". The posterior is "
        f"then not a meaningful estimate: {WHAT_TO_CHECK}."
    )
