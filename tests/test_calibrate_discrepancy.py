"""Model discrepancy in calibration: ``surrogate_error`` "none", "white" (default) and
"correlated" (a smooth Legendre-polynomial discrepancy per curve, Kennedy-O'Hagan style).

Uses the cheap closed-form test double of tests/test_calibrate.py, given a stated error of
1 mV, so NUTS runs in seconds.
"""

import json
import warnings

import jax.numpy as jnp
import numpy as np
import pytest
from numpy.polynomial import legendre
from test_calibrate import TRUTH, ClosedFormVoltageModel, _synthetic

from jaxbatt import InputError
from jaxbatt.cells import nrel_parameter_space
from jaxbatt.inference import ConvergenceWarning, calibrate

ERROR = 1e-3  # V: the test double's stated error
NOISE = 1e-3  # V
DRIFT = 2e-3  # V: a linear bias rising from 0 to 2 error_std over the window
FAST = dict(num_chains=2, num_warmup=300, num_samples=300, progress_bar=False, seed=1)
TINY = dict(num_chains=1, num_warmup=40, num_samples=40, progress_bar=False)


@pytest.fixture(scope="module")
def inexact():
    return ClosedFormVoltageModel(space=nrel_parameter_space(), error_std=ERROR)


def _quiet_calibrate(*args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return calibrate(*args, **kwargs)


@pytest.fixture(scope="module")
def biased(inexact):
    """Data = test double + noise + a smooth linear bias the model does not know about."""
    t, v = _synthetic(inexact, TRUTH, seed=3, noise=NOISE)
    v = v + DRIFT * t / inexact.t_max
    fits = {
        mode: _quiet_calibrate(t, v, voltage_model=inexact, surrogate_error=mode, **FAST)
        for mode in ("white", "correlated")
    }
    return t, v, fits


def test_legendre_basis_is_unit_rms_legendre():
    from jaxbatt.inference._model import legendre_basis  # noqa: PLC0415

    t = np.linspace(0.0, 1350.0, 2001)
    basis = np.asarray(legendre_basis(t, 1350.0, 5))
    assert basis.shape == (2001, 5)
    s = 2 * t / 1350.0 - 1
    for k in range(5):
        expected = np.sqrt(2 * k + 1) * legendre.legval(s, np.eye(5)[k])
        np.testing.assert_allclose(basis[:, k], expected, atol=1e-12)
    rms = np.sqrt(np.mean(basis**2, axis=0))
    np.testing.assert_allclose(rms, 1.0, atol=5e-3)  # unit RMS over [-1, 1]
    assert np.asarray(legendre_basis(t[:3], 1350.0, 1)).shape == (3, 1)


def test_default_and_white_are_the_previous_model(inexact):
    """True, "white" and the default draw identical samples; "none" (and False) differ from
    them because the 1 mV model error is then not counted."""
    t, v = _synthetic(inexact, TRUTH, seed=5, noise=3e-3)
    runs = {
        label: _quiet_calibrate(t, v, voltage_model=inexact, seed=2, **TINY, **kwargs)
        for label, kwargs in {
            "default": {}, "true": {"surrogate_error": True},
            "white": {"surrogate_error": "white"}, "none": {"surrogate_error": "none"},
            "false": {"surrogate_error": False},
        }.items()
    }  # fmt: skip
    for label in ("true", "white"):
        assert set(runs[label].samples) == {"k_i0", "k_Ds", "sigma"}
        for name in ("k_i0", "k_Ds", "sigma"):
            np.testing.assert_array_equal(
                runs[label].samples_by_chain[name], runs["default"].samples_by_chain[name]
            )
    np.testing.assert_array_equal(runs["none"].samples["sigma"], runs["false"].samples["sigma"])
    assert not np.allclose(runs["none"].samples["sigma"], runs["default"].samples["sigma"])
    assert runs["white"].settings["surrogate_error"] == "white"
    assert runs["none"].settings["surrogate_error"] == "none"
    assert runs["white"].settings["discrepancy_terms"] is None
    assert "model error std 1 mV added to the noise" in runs["white"].table()
    assert "added to the noise" not in runs["none"].table()


def test_white_log_density_is_the_quadrature_formula(inexact):
    """The default likelihood is Normal(V, sqrt(sigma^2 + error_std^2)), unchanged."""
    from numpyro.infer.util import log_density  # noqa: PLC0415
    from scipy.stats import norm  # noqa: PLC0415

    from jaxbatt.inference._model import calibration_model, pad_curves  # noqa: PLC0415
    from jaxbatt.inference._data import as_curves  # noqa: PLC0415

    curves, _ = as_curves(*_synthetic(inexact, TRUTH, n=30, seed=1), t_max=1350.0)
    t, v, mask = pad_curves(curves)
    point = {"k_i0_unit": jnp.array([0.4]), "k_Ds_unit": jnp.array([0.2]),
             "sigma": jnp.array([0.004])}  # fmt: skip
    options = dict(voltage_model=inexact, priors={}, sigma=None, sigma_prior_std=5e-3,
                   hierarchical=False)  # fmt: skip
    space = inexact.space
    theta = space.from_unit(np.array([0.4, 0.2]))
    mean = np.asarray(inexact.voltage_vector(jnp.asarray(theta), jnp.asarray(t[0])))
    sigma_prior = norm.logpdf(0.004, scale=5e-3) + np.log(2)  # HalfNormal
    for mode, total in (("white", np.hypot(0.004, ERROR)), ("none", 0.004)):
        expected = norm.logpdf(v[0], mean, total).sum() + sigma_prior  # Uniform(0,1): log 1 = 0
        got = float(log_density(calibration_model, (t, v, mask),
                                dict(options, surrogate_error=mode), point)[0])  # fmt: skip
        assert got == pytest.approx(expected, rel=1e-10), mode


def test_correlated_discrepancy_covers_a_smooth_bias(biased):
    """A bias of up to 2 error_std pulls the white-noise posterior off the truth (it is
    over-confident); the correlated discrepancy widens the posterior so the truth lies
    inside its 90 % intervals."""
    _, _, fits = biased
    white, corr = fits["white"], fits["correlated"]
    for name, truth in zip(("k_i0", "k_Ds"), TRUTH):
        s = corr.summary[name]
        assert s["q05"] <= truth <= s["q95"], (name, s)
        assert corr.summary[name]["std"] > 3 * white.summary[name]["std"], name
    w = white.summary["k_Ds"]
    assert not w["q05"] <= TRUTH[1] <= w["q95"], w  # the bias shifts the white fit
    assert set(corr.summary) == {"k_i0", "k_Ds", "sigma", "discrepancy"}
    assert "discrepancy" not in white.samples
    delta = corr.samples["discrepancy"]
    assert delta.shape == (600, 4) and np.all(np.isfinite(delta))
    assert corr.samples_by_chain["discrepancy"].shape == (2, 300, 4)
    assert corr.summary["discrepancy"]["mean"].shape == (4,)
    assert np.all(np.abs(delta) < 20 * ERROR)  # draws stay within their 2 mV prior's reach
    settings = corr.settings
    assert settings["surrogate_error"] == "correlated" and settings["discrepancy_terms"] == 4
    assert settings["discrepancy_std_V"] == pytest.approx(2 * ERROR)
    table = corr.table()
    assert "discrepancy[3]" in table and "4 Legendre terms" in table and "prior std 2 mV" in table
    assert "integrated out, drawn from their conditional" in table
    assert "added to the noise" not in table
    json.dumps(corr.to_dict())  # JSON-ready with the (K,) discrepancy summary


def test_predictive_includes_the_discrepancy(biased, inexact):
    t, v, fits = biased
    corr = fits["correlated"]
    band = corr.predictive(noise=False, num_draws=50)
    index = np.unique(np.linspace(0, 599, 50).astype(int))
    theta = corr.theta_samples()[index]
    model_only = np.stack(
        [np.asarray(inexact.voltage_vector(jnp.asarray(th), jnp.asarray(t))) for th in theta]
    )
    delta = corr.discrepancy_at(t)[index]
    assert np.max(np.abs(delta)) > 1e-4  # a nonzero discrepancy is being added
    np.testing.assert_allclose(band.draws, model_only + delta, atol=1e-9)
    assert fits["white"].discrepancy_at(t) is None
    # the corrected model curve follows the biased data: residuals average out
    assert abs(np.mean(v - band.median)) < 0.5 * NOISE
    noisy = corr.predictive(noise=True)
    inside = np.mean((v >= noisy.lower) & (v <= noisy.upper))
    assert 0.8 <= inside <= 1.0, inside


def test_correlated_fleet_shapes_and_padding(inexact):
    """Several curves of unequal length: one (K,) discrepancy per curve, and the padded,
    masked log density equals the sum of the curves' own."""
    from numpyro.infer.util import log_density  # noqa: PLC0415

    from jaxbatt.inference._data import as_curves  # noqa: PLC0415
    from jaxbatt.inference._model import calibration_model, pad_curves  # noqa: PLC0415

    data = [_synthetic(inexact, TRUTH, n=50, seed=1), _synthetic(inexact, TRUTH, n=23, seed=2)]
    options = dict(voltage_model=inexact, priors={}, sigma=None, sigma_prior_std=5e-3,
                   surrogate_error="correlated", hierarchical=False,
                   discrepancy_terms=3, marginalise_discrepancy=False)  # fmt: skip
    z = np.array([[0.5, -1.0, 0.3], [-0.2, 0.7, 1.1]])

    def logp(curves, rows):
        t, v, mask = pad_curves(curves)
        n = len(curves)
        params = {"k_i0_unit": jnp.full(n, 0.4), "k_Ds_unit": jnp.full(n, 0.2),
                  "sigma": jnp.full(n, 0.004), "discrepancy_z": jnp.asarray(z[rows])}  # fmt: skip
        return float(log_density(calibration_model, (t, v, mask), options, params)[0])

    curves, _ = as_curves(data, None, t_max=1350.0)
    both = logp(curves, [0, 1])
    assert both == pytest.approx(logp(curves[:1], [0]) + logp(curves[1:], [1]), rel=1e-12)
    assert both != pytest.approx(logp(curves, [1, 0]), rel=1e-6)  # the discrepancy matters

    fleet = _quiet_calibrate(data, None, voltage_model=inexact, surrogate_error="correlated",
                             discrepancy_terms=3, discrepancy_scale=1.5, seed=0, max_tree_depth=5,
                             **TINY)  # fmt: skip
    assert fleet.samples["discrepancy"].shape == (40, 2, 3)
    assert fleet.summary["discrepancy"]["mean"].shape == (2, 3)
    assert fleet.summary["k_i0"]["mean"].shape == (2,) and "sigma" in fleet.summary
    assert fleet.discrepancy_at(data[1][0], curve=1).shape == (40, 23)
    assert fleet.predictive(curve=1).draws.shape == (40, 23)
    assert fleet.settings["discrepancy_std_V"] == pytest.approx(1.5 * ERROR)
    assert "discrepancy[1,2]" in fleet.table()


def test_bad_discrepancy_settings_raise(inexact):
    exact = ClosedFormVoltageModel(space=nrel_parameter_space())  # error_std = 0
    t, v = _synthetic(inexact, TRUTH)
    with pytest.raises(InputError, match="surrogate_error must be .*'correlated', got 'smooth'"):
        calibrate(t, v, voltage_model=inexact, surrogate_error="smooth")
    with pytest.raises(InputError, match="surrogate_error must be"):
        calibrate(t, v, voltage_model=inexact, surrogate_error=1)
    for bad in (0, -2, 2.5, True):
        with pytest.raises(InputError, match="discrepancy_terms must be a positive integer"):
            calibrate(t, v, voltage_model=inexact, surrogate_error="correlated",
                      discrepancy_terms=bad)  # fmt: skip
    for bad in (0.0, -1.0, float("nan"), float("inf"), "big"):
        with pytest.raises(InputError, match="discrepancy_scale must be a positive"):
            calibrate(t, v, voltage_model=inexact, surrogate_error="correlated",
                      discrepancy_scale=bad)  # fmt: skip
    with pytest.raises(InputError, match=r"surrogate_error='correlated' needs a voltage model "
                       r"with a stated error.*error_std = 0 V"):  # fmt: skip
        calibrate(t, v, voltage_model=exact, surrogate_error="correlated")


def test_given_discrepancy_prior_serves_a_model_without_stated_error(inexact):
    """``discrepancy_prior_mV`` sets the coefficients' prior directly (what the exact solver
    against measured data needs); it is refused without the correlated discrepancy and for a
    non-positive value; the log density uses it."""
    from numpyro.infer.util import log_density  # noqa: PLC0415

    from jaxbatt.inference._data import as_curves  # noqa: PLC0415
    from jaxbatt.inference._model import calibration_model, pad_curves  # noqa: PLC0415

    exact = ClosedFormVoltageModel(space=nrel_parameter_space())  # error_std = 0
    t, v = _synthetic(inexact, TRUTH)
    for bad in (0.0, -3.0, float("nan"), "wide"):
        with pytest.raises(InputError, match="discrepancy_prior_mV must be a positive number"):
            calibrate(t, v, voltage_model=exact, surrogate_error="correlated",
                      discrepancy_prior_mV=bad)  # fmt: skip
    with pytest.raises(InputError, match="only surrogate_error='correlated' has"):
        calibrate(t, v, voltage_model=exact, discrepancy_prior_mV=5.0)
    fit = _quiet_calibrate(t, v, voltage_model=exact, surrogate_error="correlated",
                           discrepancy_prior_mV=4.0, discrepancy_terms=2, seed=0, **TINY)  # fmt: skip
    assert fit.settings["discrepancy_std_V"] == pytest.approx(4e-3)
    assert "prior std 4 mV (given)" in fit.table()
    # the coefficient is prior_std * z: at z = 1 the mean shifts by 4 mV x the unit-RMS basis
    curves, _ = as_curves([(t, v)], None, t_max=1350.0)
    tp, vp, mask = pad_curves(curves)
    params = {"k_i0_unit": jnp.full(1, 0.4), "k_Ds_unit": jnp.full(1, 0.2),
              "sigma": jnp.full(1, 0.004), "discrepancy_z": jnp.array([[1.0, 0.0]])}  # fmt: skip
    options = dict(voltage_model=exact, priors={}, sigma=None, sigma_prior_std=5e-3,
                   surrogate_error="correlated", hierarchical=False, discrepancy_terms=2,
                   marginalise_discrepancy=False)  # fmt: skip
    shifted = float(log_density(calibration_model, (tp, vp + 4e-3, mask),
                                {**options, "discrepancy_prior_std": 4e-3}, params)[0])  # fmt: skip
    params["discrepancy_z"] = jnp.zeros((1, 2))
    plain = float(log_density(calibration_model, (tp, vp, mask),
                              {**options, "discrepancy_prior_std": 4e-3}, params)[0])  # fmt: skip
    # same residuals; the latents' standard-normal log density differs by 1/2
    assert shifted == pytest.approx(plain - 0.5, rel=1e-12)


def test_correlated_discrepancy_with_per_curve_models(inexact):
    """Curves with their own models (several protocols) each get their own discrepancy on
    their own model's window: the joint log density equals the sum of the single-curve ones."""
    from numpyro.infer.util import log_density  # noqa: PLC0415

    from jaxbatt.inference._data import as_curves  # noqa: PLC0415
    from jaxbatt.inference._model import calibration_model, pad_curves  # noqa: PLC0415

    long = ClosedFormVoltageModel(space=nrel_parameter_space(), error_std=ERROR, t_max=2000.0)
    data = [_synthetic(inexact, TRUTH, n=40, seed=1), _synthetic(long, TRUTH, n=30, seed=2)]
    curves, _ = as_curves(data, None, t_max=1350.0)
    z = np.array([[0.5, -1.0], [-0.2, 0.7]])

    def logp(rows, models):
        t, v, mask = pad_curves([curves[k] for k in rows])
        options = dict(voltage_model=models[0], priors={}, sigma=None, sigma_prior_std=5e-3,
                       surrogate_error="correlated", hierarchical=False, discrepancy_terms=2,
                       curve_models=tuple(models) if len(models) > 1 else None,
                       marginalise_discrepancy=False)  # fmt: skip
        n = len(rows)
        params = {"k_i0_unit": jnp.full(n, 0.4), "k_Ds_unit": jnp.full(n, 0.2),
                  "sigma": jnp.full(n, 0.004), "discrepancy_z": jnp.asarray(z[rows])}  # fmt: skip
        return float(log_density(calibration_model, (t, v, mask), options, params)[0])

    both = logp([0, 1], [inexact, long])
    assert both == pytest.approx(logp([0], [inexact]) + logp([1], [long]), rel=1e-12)
    # the second curve's basis lives on its own model's window (2000 s, not 1350 s)
    assert both != pytest.approx(logp([0, 1], [inexact, inexact]), rel=1e-9)
    fit = _quiet_calibrate(data, None, voltage_model=[inexact, long], surrogate_error="correlated",
                           discrepancy_terms=2, seed=0, **TINY)  # fmt: skip
    assert fit.samples["discrepancy"].shape == (40, 2, 2)
    assert fit.discrepancy_at(data[1][0], curve=1).shape == (40, 30)


def _dense_marginal(v, mean, keep, noise_sd, basis, prior_std):
    """log N(v; mean, diag(noise_sd^2) + prior_std^2 B B^T) over the kept points, and the
    coefficients' conditional mean and covariance, by dense linear algebra."""
    from scipy.stats import multivariate_normal  # noqa: PLC0415

    r, b, sd = (v - mean)[keep], basis[keep], noise_sd[keep]
    cov = np.diag(sd**2) + prior_std**2 * b @ b.T
    log_density = multivariate_normal(np.zeros(r.size), cov).logpdf(r)
    gain = prior_std**2 * b.T @ np.linalg.inv(cov)  # Cov(a, r) Cov(r)^-1
    return log_density, gain @ r, prior_std**2 * np.eye(b.shape[1]) - gain @ b * prior_std**2


def test_marginalised_discrepancy_is_the_exact_integral(inexact):
    """The default likelihood integrates the discrepancy coefficients out: its log density at
    (theta, sigma) equals the dense Gaussian N(v; V_model, sigma^2 W^-1 + s^2 B B^T) over the
    real points (padding and zero-weight points dropped, weights scaling the noise), plus the
    same priors; and the conditional mean and factor it records are the coefficients' exact
    Gaussian conditional. Per-curve prior scales (per-curve models) enter curve by curve."""
    from numpyro.handlers import substitute, trace  # noqa: PLC0415
    from numpyro.infer.util import log_density  # noqa: PLC0415
    from scipy.stats import halfnorm  # noqa: PLC0415

    from jaxbatt.inference import Curve  # noqa: PLC0415
    from jaxbatt.inference._model import calibration_model, legendre_basis, pad_curves  # noqa: PLC0415

    long = ClosedFormVoltageModel(space=nrel_parameter_space(), error_std=3 * ERROR, t_max=2000.0)
    (t1, v1), (t2, v2) = _synthetic(inexact, TRUTH, n=40, seed=1), _synthetic(long, TRUTH, n=25, seed=2)
    v1 = v1 + 3e-3 * t1 / 1350.0  # a drift the discrepancy has to take
    weights = np.linspace(0.5, 2.0, t2.size)
    weights[3] = 0.0  # a dropped point
    curves = [Curve(t1, v1), Curve(t2, v2, weights=weights)]
    t, v, mask = pad_curves(curves)
    sigma = np.array([0.004, 0.002])
    params = {"k_i0_unit": jnp.array([0.4, 0.6]), "k_Ds_unit": jnp.array([0.2, 0.7]),
              "sigma": jnp.asarray(sigma)}  # fmt: skip
    options = dict(voltage_model=inexact, priors={}, sigma=None, sigma_prior_std=5e-3,
                   surrogate_error="correlated", hierarchical=False, discrepancy_terms=3,
                   curve_models=(inexact, long), discrepancy_scale=2.0)  # fmt: skip
    got = float(log_density(calibration_model, (t, v, mask), options, params)[0])
    sites = trace(substitute(calibration_model, params)).get_trace(t, v, mask, **options)
    expected = float(np.sum(halfnorm.logpdf(sigma, scale=5e-3)))  # Uniform(0, 1): log 1 = 0
    for k, (model, curve) in enumerate(zip((inexact, long), curves)):
        space = model.space
        theta = np.array([p.lower + float(params[f"{p.name}_unit"][k]) * (p.upper - p.lower)
                          for p in space.parameters])  # fmt: skip
        mean = np.asarray(model.voltage_vector(jnp.asarray(theta), jnp.asarray(curve.t)))
        w = np.ones(curve.t.size) if curve.weights is None else curve.weights
        keep = w > 0
        noise_sd = sigma[k] / np.sqrt(np.where(keep, w, 1.0))
        basis = np.asarray(legendre_basis(jnp.asarray(curve.t), model.t_max, 3))
        log_k, cond_mean, cond_cov = _dense_marginal(curve.v, mean, keep, noise_sd, basis,
                                                     2.0 * float(model.error_std))  # fmt: skip
        expected += log_k
        recorded_mean = np.asarray(sites["discrepancy_conditional_mean"]["value"][k])
        factor = np.asarray(sites["discrepancy_conditional_factor"]["value"][k])
        np.testing.assert_allclose(recorded_mean, cond_mean, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(factor @ factor.T, cond_cov, rtol=1e-9, atol=1e-15)
    assert got == pytest.approx(expected, rel=1e-11)
    assert abs(float(sites["discrepancy_conditional_mean"]["value"][0, 1])) > 5e-4  # the drift


def test_marginalised_and_sampled_discrepancy_give_the_same_posterior(biased, inexact):
    """The default (coefficients integrated out, drawn afterwards from their conditional) and
    sampling them with the parameters target the same posterior: same parameter and
    discrepancy summaries within Monte Carlo error on the biased data (measured: means 0.02-0.13
    posterior std apart, std ratios 1.05-1.12)."""
    t, v, fits = biased
    marginal = fits["correlated"]
    assert marginal.settings["marginalise_discrepancy"] is True
    sampled = _quiet_calibrate(t, v, voltage_model=inexact, surrogate_error="correlated",
                               marginalise_discrepancy=False, **FAST)  # fmt: skip
    assert sampled.settings["marginalise_discrepancy"] is False
    for name in ("k_i0", "k_Ds", "sigma"):
        a, b = marginal.summary[name], sampled.summary[name]
        assert abs(a["mean"] - b["mean"]) < 0.3 * max(a["std"], b["std"]), name
        assert 0.8 < a["std"] / b["std"] < 1.25, name
    da, db = marginal.samples["discrepancy"], sampled.samples["discrepancy"]
    assert np.all(np.abs(da.mean(0) - db.mean(0)) < 0.3 * np.maximum(da.std(0), db.std(0)))
