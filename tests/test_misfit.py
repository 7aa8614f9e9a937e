"""Misfit detection (issue 15, item 2) and the main job's default settings (item 6).

A posterior predictive check after sampling compares the inferred noise with its prior and
the residuals with white noise; a curve the model cannot describe raises `MisfitWarning`.
The realistic cases use the bundled surrogate with one compiled sampler (one chain, the same
settings and data shape throughout); the structural cases (several curves, a fixed sigma,
the correlated discrepancy) use a cheap closed-form voltage model.
"""

import inspect
import math
import warnings

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import special

import jaxbatt
from jaxbatt._voltage_model import AbstractVoltageModel
from jaxbatt.cells import ParameterSpace, nrel_parameter_space
from jaxbatt.inference import ConvergenceWarning, MisfitWarning, _checks, calibrate, load_example

TINY = dict(num_chains=1, num_warmup=100, num_samples=100, seed=1, progress_bar=False)


def _fit(t, v, **kwargs):
    """calibrate with the tiny settings; returns (result, the MisfitWarnings raised). Tiny
    runs are expected to trip the convergence thresholds: ConvergenceWarning is ignored."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warnings.simplefilter("ignore", ConvergenceWarning)
        result = calibrate(t, v, **{**TINY, **kwargs})
    return result, [w for w in caught if issubclass(w.category, MisfitWarning)]


@pytest.fixture(scope="module")
def example():
    return load_example()


@pytest.fixture(scope="module")
def well_specified(example):
    return _fit(example.t, example.v)


def test_misfit_warning_is_public():
    assert jaxbatt.MisfitWarning is MisfitWarning is jaxbatt.inference.MisfitWarning
    assert issubclass(MisfitWarning, UserWarning)


def test_well_specified_curve_passes(well_specified):
    result, caught = well_specified
    assert caught == []
    assert not result.misfit and len(result.checks) == 1
    check = result.checks[0]
    assert check.problems == () and check.ljung_box_lags == 10
    assert 2e-3 < check.sigma_median_V < 4e-3  # the example's noise is 3 mV
    assert "MISFIT" not in result.table() and "consistent" in result.table()
    assert result.to_dict()["diagnostics"]["misfit"] is False


def test_statistics_match_an_independent_computation(well_specified, example):
    """Ljung-Box Q, its p-value, r_1 and the prior tail probability recomputed from the
    draws with other formulas (np.correlate, the regularised incomplete gamma, erfc)."""
    result, _ = well_specified
    check = result.checks[0]
    theta = result.theta_samples(0)  # 100 draws: the check averages all of them
    curves = jax.vmap(lambda th: result.voltage_model.voltage_vector(th, jnp.asarray(example.t)))(
        jnp.asarray(theta)
    )
    residual = example.v - np.asarray(curves).mean(axis=0)
    e = residual - residual.mean()
    n = e.size
    acf = np.correlate(e, e, mode="full")[n - 1 :] / np.sum(e * e)
    q = n * (n + 2) * sum(acf[k] ** 2 / (n - k) for k in range(1, 11))
    assert check.ljung_box_q == pytest.approx(q, rel=1e-9)
    assert check.ljung_box_p_value == pytest.approx(special.gammaincc(5.0, q / 2.0), rel=1e-9)
    assert check.lag1_autocorrelation == pytest.approx(acf[1], rel=1e-9)
    assert check.residual_rms_V == pytest.approx(np.sqrt(np.mean(residual**2)), rel=1e-9)
    median = np.median(result.samples["sigma"])
    assert check.sigma_tail_probability == pytest.approx(
        math.erfc(median / (5e-3 * math.sqrt(2.0))), rel=1e-9
    )


def test_ljung_box_separates_white_noise_from_a_smooth_residual():
    rng = np.random.default_rng(0)
    white = rng.standard_normal(271)
    _, _, p_white = _checks.ljung_box(white)
    smooth = np.sin(np.linspace(0, 3, 271)) + 0.1 * rng.standard_normal(271)
    _, lags, p_smooth = _checks.ljung_box(smooth)
    assert p_white > 1e-2 and p_smooth < 1e-30 and lags == 10
    assert _checks.ljung_box(np.ones(20))[1] == 4  # lags capped at n // 5


@pytest.mark.parametrize("case", ["1C data", "times in hours", "constant voltage"])
def test_curves_the_model_cannot_describe_warn(case, example):
    rng = np.random.default_rng(3)
    if case == "1C data":
        sol = jaxbatt.simulate("spm", {"k_i0": 2.0, "k_Ds": 2.0}, t=example.t, c_rate=1.0)
        t, v = example.t, np.asarray(sol.voltage) + 3e-3 * rng.standard_normal(example.t.size)
    elif case == "times in hours":
        t, v = example.t / 3600.0, example.v
    else:
        t, v = example.t, 3.7 + 3e-3 * rng.standard_normal(example.t.size)
    result, caught = _fit(t, v)
    assert len(caught) == 1, case
    text = str(caught[0].message)
    assert "does not describe the data" in text
    for hint in ("C-rate", "seconds", "volts", "cell", "time window"):
        assert hint in text
    assert "/" not in text and ".py" not in text  # no file path in the message
    assert caught[0].filename == __file__  # stacklevel: the warning points at the caller
    check = result.checks[0]
    assert result.misfit and check.misfit
    # both checks fire, far beyond their thresholds (see the README's table)
    assert check.sigma_tail_probability < 1e-20 and check.ljung_box_p_value < 1e-50
    assert check.lag1_autocorrelation > 0.8 and check.residual_rms_V > 0.03
    assert f"{check.sigma_median_V * 1e3:.3g} mV" in text
    table = result.table()
    assert "look fine" not in table and "MODEL DOES NOT FIT" in table
    assert result.to_dict()["diagnostics"]["checks"][0]["misfit"] is True


class ClosedFormModel(AbstractVoltageModel):
    """V(t) = 4.1 - 0.4 s - 0.03 / k_i0 - 0.08 s^2 / sqrt(k_Ds), s = t / t_max [V]."""

    space: ParameterSpace = eqx.field(static=True)
    c_rate: float = eqx.field(static=True, default=2.0)
    t_max: float = eqx.field(static=True, default=1350.0)
    error_std: float = eqx.field(static=True, default=5e-4)
    name: str = eqx.field(static=True, default="closed-form")

    def voltage_vector(self, theta, t):
        s = t / self.t_max
        return 4.1 - 0.4 * s - 0.03 / theta[0] - 0.08 * s**2 / jnp.sqrt(theta[1])


@pytest.fixture(scope="module")
def closed_form():
    model = ClosedFormModel(space=nrel_parameter_space())
    t = np.linspace(10.0, 1350.0, 120)
    rng = np.random.default_rng(5)
    good = np.asarray(model.voltage_vector(jnp.array([2.0, 2.0]), jnp.asarray(t)))
    good = good + 3e-3 * rng.standard_normal(t.size)
    bent = good + 0.05 * np.sin(np.pi * t / 1350.0) ** 2  # a 50 mV bump the model lacks
    return model, t, good, bent


def test_fleet_checks_each_curve(closed_form):
    model, t, good, bent = closed_form
    result, caught = _fit(t, np.stack([good, bent]), voltage_model=model)
    assert [c.misfit for c in result.checks] == [False, True]
    assert len(caught) == 1 and "1 of 2 curves" in str(caught[0].message)
    assert "curve 1:" in str(caught[0].message) and "curve 0:" not in str(caught[0].message)
    assert "curve 1: residual RMS" in result.table()


def test_fixed_sigma_and_correlated_discrepancy(closed_form):
    model, t, good, bent = closed_form
    result, caught = _fit(t, good, voltage_model=model, sigma=3e-3)
    assert caught == [] and result.checks[0].rms_p_value > 1e-3
    result, caught = _fit(t, bent, voltage_model=model, sigma=3e-3)
    assert len(caught) == 1 and "x the fixed noise" in str(caught[0].message)
    # the discrepancy (prior std 2 x 0.5 mV) cannot absorb a 50 mV bump: its coefficients
    # are pushed far into their prior's tail and the residuals stay correlated
    result, caught = _fit(t, bent, voltage_model=model, surrogate_error="correlated")
    check = result.checks[0]
    assert len(caught) == 1 and check.discrepancy_max_z > _checks.DISCREPANCY_MAX_Z
    result, caught = _fit(t, good, voltage_model=model, surrogate_error="correlated")
    assert caught == [] and result.checks[0].discrepancy_max_z < _checks.DISCREPANCY_MAX_Z


def test_misfit_check_can_be_turned_off(closed_form):
    model, t, _, bent = closed_form
    # the fixed-sigma program of the test above: no new compilation
    result, caught = _fit(t, bent, voltage_model=model, sigma=3e-3, misfit_check=False)
    assert caught == [] and result.checks == () and not result.misfit


def test_default_settings_are_the_converging_ones():
    """The defaults chosen on the bundled example (README, "Bayesian calibration"), and the
    CLI's agree with the API's."""
    from jaxbatt._cli import build_parser  # noqa: PLC0415

    defaults = {k: p.default for k, p in inspect.signature(calibrate).parameters.items()}
    assert (defaults["num_chains"], defaults["num_warmup"], defaults["num_samples"]) == (
        4, 500, 1000
    )  # fmt: skip
    assert defaults["dense_mass"] is False and defaults["misfit_check"] is True
    args = build_parser().parse_args(["calibrate"])
    assert (args.num_chains, args.num_warmup, args.num_samples, args.seed) == (
        defaults["num_chains"], defaults["num_warmup"], defaults["num_samples"], defaults["seed"]
    )  # fmt: skip


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_defaults_converge_on_the_bundled_example(seed, example):
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        warnings.simplefilter("error", MisfitWarning)
        result = calibrate(example.t, example.v, seed=seed, progress_bar=False)
    assert result.convergence_problems() == [] and not result.misfit
