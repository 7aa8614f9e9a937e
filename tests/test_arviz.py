"""`CalibrationResult.to_arviz`: groups, shapes, chains, ArviZ's summary against jaxbatt's,
and the netCDF file written by ``save(..., netcdf=True)``.

One tiny calibration (2 chains x (50 + 50), the settings of test_outputs.py) serves every test.
"""

import dataclasses
import json
import warnings

import numpy as np
import pytest

import jaxbatt
from jaxbatt.inference import load_example

with warnings.catch_warnings():
    warnings.simplefilter("ignore", FutureWarning)  # ArviZ's notice of its coming refactor
    import arviz as az

TINY = dict(num_chains=2, num_warmup=50, num_samples=50, seed=0, progress_bar=False)
SITES = ("k_i0", "k_Ds", "sigma")
# jaxbatt's R-hat and ESS are NumPyro's: the classic split Gelman-Rubin R-hat and Geyer's ESS
# per chain. `az.summary` reports the rank-normalised split R-hat (the larger of bulk and
# folded) and the rank-normalised bulk ESS (Vehtari et al. 2021), which differ by design.
# Measured on the bundled example: ArviZ's split R-hat equals jaxbatt's to 2e-16; its "mean"
# ESS (split chains) is 0.4-3 % above jaxbatt's on the default 4 x (500 + 500) run and
# 0.62-1.08 times it on this short 2 x 50 one (sigma's R-hat is 1.12 there). The rank R-hat
# of az.summary is above jaxbatt's by 0.017-0.047 here and by 0.0002-0.0044 on the default
# run (k_i0 1.0140 against 1.0096); ess_bulk / ess is 0.47-1.14 here, 1.00-1.13 there.
SUMMARY_R_HAT_ATOL = 0.06
SUMMARY_ESS_RTOL = 0.6
ESS_MEAN_RTOL = 0.45


@pytest.fixture(scope="module")
def result():
    ex = load_example()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # convergence/misfit at 50 draws
        return jaxbatt.calibrate(ex.t, ex.v, **TINY)


@pytest.fixture(scope="module")
def idata(result):
    return result.to_arviz()


def test_groups_shapes_and_chains(result, idata):
    assert set(idata.groups()) == {
        "posterior", "sample_stats", "observed_data", "posterior_predictive"
    }  # fmt: skip
    post = idata.posterior
    assert set(post.data_vars) == set(SITES)
    assert dict(post.sizes) == {"chain": 2, "draw": 50}
    for name in SITES:  # chains kept apart, in order
        np.testing.assert_array_equal(post[name].values, result.samples_by_chain[name])
    stats = idata.sample_stats
    assert stats["diverging"].dtype == bool and stats["diverging"].shape == (2, 50)
    np.testing.assert_array_equal(stats["n_steps"].values, result.num_steps)
    assert stats["tree_depth"].min() >= 1 and stats["tree_depth"].max() <= 10
    data = idata.observed_data
    np.testing.assert_array_equal(data["voltage"].values, result.curves[0].v)
    np.testing.assert_array_equal(data["time"].values, result.curves[0].t)
    pp = idata.posterior_predictive["voltage"]
    assert pp.dims == ("chain", "draw", "time") and pp.shape == (2, 50, 100)
    residual = pp.values - result.curves[0].v
    # new data scatter around the curve by about sigma (3 mV): a sanity check of the noise
    assert 1.5e-3 < residual.std() < 6e-3
    json.loads(post.attrs["settings_json"])
    assert post.attrs["inference_library"] == "numpyro"


def test_thinned_predictive_names_the_draws_it_used(result):
    pp = result.to_arviz(predictive_draws=5).posterior_predictive
    np.testing.assert_array_equal(pp["draw"].values, [0, 12, 24, 36, 49])
    assert pp["voltage"].shape == (2, 5, 100)


def test_several_curves_get_a_curve_axis_and_nan_padding(result):
    """A fleet result made from the tiny one (two curves, the second shorter)."""
    c0 = result.curves[0]
    c1 = dataclasses.replace(c0, t=c0.t[:60], v=c0.v[:60])
    fleet = dataclasses.replace(
        result, samples_by_chain={k: np.stack([x, x], -1) for k, x in
                                  result.samples_by_chain.items()},
        curves=(c0, c1), is_fleet=True,
    )  # fmt: skip
    idata = fleet.to_arviz(predictive_draws=3)
    assert idata.posterior["k_i0"].dims == ("chain", "draw", "curve")
    data = idata.observed_data
    assert data["voltage"].dims == ("curve", "point") and data["voltage"].shape == (2, 100)
    assert np.isnan(data["voltage"].values[1, 60:]).all()
    np.testing.assert_array_equal(data["time"].values[1, :60], c1.t)
    pp = idata.posterior_predictive["voltage"].values
    assert pp.shape == (2, 3, 2, 100) and np.isnan(pp[:, :, 1, 60:]).all()
    assert np.isfinite(pp[:, :, 1, :60]).all()


def test_az_summary_agrees_with_jaxbatts_summary(result, idata):
    table = az.summary(idata, var_names=list(SITES), round_to="none")
    split_r_hat = az.rhat(idata, var_names=list(SITES), method="split")
    mean_ess = az.ess(idata, var_names=list(SITES), method="mean")
    for name in SITES:
        ours, theirs = result.summary[name], table.loc[name]
        assert theirs["mean"] == pytest.approx(ours["mean"], rel=1e-12)
        assert theirs["sd"] == pytest.approx(ours["std"], rel=1e-12)  # both ddof = 1
        # the same estimators: equal, or nearly
        assert float(split_r_hat[name]) == pytest.approx(ours["r_hat"], abs=1e-12)
        assert float(mean_ess[name]) == pytest.approx(ours["ess"], rel=ESS_MEAN_RTOL)
        # az.summary's own (rank-normalised) columns: close, not equal
        assert abs(theirs["r_hat"] - ours["r_hat"]) <= SUMMARY_R_HAT_ATOL, (name, theirs)
        assert theirs["ess_bulk"] == pytest.approx(ours["ess"], rel=SUMMARY_ESS_RTOL), name


def test_netcdf_round_trip(result, tmp_path):
    paths = result.save(tmp_path / "cal", plots=False, netcdf=True)
    assert set(paths) == {"summary.json", "summary.txt", "samples.npz", "posterior.nc"}
    loaded = az.from_netcdf(paths["posterior.nc"])
    for name in SITES:
        np.testing.assert_array_equal(loaded.posterior[name].values, result.samples_by_chain[name])
    np.testing.assert_array_equal(loaded.sample_stats["diverging"].values, result.diverging)
    np.testing.assert_array_equal(loaded.observed_data["voltage"].values, result.curves[0].v)
    assert loaded.posterior_predictive["voltage"].shape == (2, 50, 100)
    assert json.loads(loaded.posterior.attrs["settings_json"])["num_samples"] == 50
