"""`calibrate` on `Curve` objects (times, voltages and the curve's C-rate or protocol in one
object) and with `SamplerSettings` (issue 13 item 3's input reshape)."""

import numpy as np
import pytest

import jaxbatt
from jaxbatt import Curve, InputError, SamplerSettings
from jaxbatt.inference import load_example
from jaxbatt.inference._calibrate import _curves_and_models


@pytest.fixture(scope="module")
def example():
    return load_example()


@pytest.mark.filterwarnings("ignore::jaxbatt.inference.ConvergenceWarning")  # short chains
def test_curve_objects_give_the_same_posterior_as_arrays(example):
    ex = example
    settings = SamplerSettings(num_chains=1, num_warmup=60, num_samples=60, seed=3)
    by_curve = jaxbatt.calibrate(Curve(ex.t, ex.v, c_rate=2.0, label="cell A"), sampler=settings,
                                 progress_bar=False, misfit_check=False)  # fmt: skip
    by_array = jaxbatt.calibrate(ex.t, ex.v, c_rate=2.0, num_chains=1, num_warmup=60,
                                 num_samples=60, seed=3, progress_bar=False, misfit_check=False)  # fmt: skip
    np.testing.assert_array_equal(by_curve.samples["k_i0"], by_array.samples["k_i0"])
    assert by_curve.curves[0].label == "cell A" and by_curve.curves[0].c_rate == 2.0
    assert not by_curve.is_fleet and by_curve.settings["seed"] == 3


def test_each_curve_brings_its_model(example):
    ex = example
    pulses = jaxbatt.Protocol(["Discharge at 2C for 100 seconds", "Rest for 100 seconds"] * 3)
    t = np.linspace(1.0, 590.0, 40)
    curves = [Curve(ex.t, ex.v, c_rate=2.0), Curve(t, np.full(t.size, 3.9), protocol=pulses)]
    got, is_fleet, first, models = _curves_and_models(curves, None, "spm", "surrogate", None,
                                                      None, None, (2.0, 4.5))  # fmt: skip
    assert is_fleet and [c.label for c in got] == ["curve 0", "curve 1"]
    assert [m.name for m in models] == ["spm", "spm-solver"] and models[1].protocol is pulses
    same = [Curve(ex.t, ex.v, c_rate=2.0)] * 2
    *_, shared = _curves_and_models(same, None, "spm", "surrogate", None, None, None, (2.0, 4.5))
    assert shared is None  # one rate for every curve: the one vmapped model
    # one curve under a protocol
    got, is_fleet, model, one = _curves_and_models(curves[1], None, "spm", "surrogate", None,
                                                   None, None, (2.0, 4.5))  # fmt: skip
    assert (not is_fleet, model.protocol, one) == (True, pulses, None)


def test_curves_with_their_rates_take_one_model_each(example):
    # the Enertech joint calibration: each curve carries its C-rate and gets its own model
    ex = example
    rates = jaxbatt.load_surrogate("spm-rates")
    curves = [Curve(ex.t, ex.v, c_rate=2.0), Curve(ex.t, ex.v, c_rate=1.0)]
    _, _, _, models = _curves_and_models(curves, None, "spm", "surrogate",
                                         [rates.at_c_rate(2.0), rates], None, None, (2.0, 4.5))  # fmt: skip
    assert [m.c_rate for m in models] == [2.0, 1.0]  # a rate-input model is fixed at its curve's
    with pytest.raises(InputError, match=r"curve 1: the data are at 1C but the voltage model .* describes 2C"):
        _curves_and_models(curves, None, "spm", "surrogate", [rates.at_c_rate(2.0)] * 2,
                           None, None, (2.0, 4.5))  # fmt: skip
    with pytest.raises(InputError, match="1 voltage models for 2 curves"):
        _curves_and_models(curves, None, "spm", "surrogate", [rates], None, None, (2.0, 4.5))
    pulses = jaxbatt.Protocol(["Discharge at 2C for 100 seconds", "Rest for 100 seconds"])
    t = np.linspace(1.0, 190.0, 20)
    with pytest.raises(InputError, match="curve 1 follows a protocol but its voltage model"):
        _curves_and_models([curves[0], Curve(t, np.full(t.size, 3.9), protocol=pulses)], None,
                           "spm", "surrogate", [rates.at_c_rate(2.0)] * 2, None, None, (2.0, 4.5))  # fmt: skip


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda ex: jaxbatt.calibrate(Curve(ex.t, ex.v)), r"the C-rate or protocol of curve is unknown"),
        (lambda ex: jaxbatt.calibrate([Curve(ex.t, ex.v, c_rate=2.0), Curve(ex.t, ex.v)]),
         r"curve 1: the curve's C-rate or protocol is unknown"),
        (lambda ex: jaxbatt.calibrate(Curve(ex.t, ex.v, c_rate=2.0), c_rate=2.0),
         "the curves carry their C-rates or protocols"),
        (lambda ex: jaxbatt.calibrate(Curve(ex.t, ex.v, c_rate=2.0), ex.v), "v must be None"),
        (lambda ex: jaxbatt.calibrate([Curve(ex.t, ex.v, c_rate=2.0), (ex.t, ex.v)]),
         "not a mix of both"),
        (lambda ex: jaxbatt.calibrate(Curve(ex.t, ex.v, c_rate=2.0), num_chains=2,
                                      sampler=SamplerSettings()), "keywords given: num_chains"),
        (lambda ex: jaxbatt.calibrate(Curve(ex.t, ex.v, c_rate=2.0), sampler={"num_chains": 2}),
         "sampler must be a SamplerSettings"),
        (lambda ex: jaxbatt.calibrate(Curve(ex.t, ex.v, c_rate=2.0),
                                      sampler=SamplerSettings(num_warmup=0)), "num_warmup must be"),
        (lambda ex: Curve(ex.t, ex.v, c_rate=2.0, protocol=["Rest for 1 s"]), "not both"),
        (lambda ex: Curve(ex.t, ["a"] * 3), "voltages must be numbers"),
        (lambda ex: jaxbatt.calibrate(Curve(ex.t[:3], ex.v[:3], c_rate=2.0)), "too few"),
    ],
)
def test_bad_curve_inputs_are_refused(example, call, message):
    with pytest.raises(InputError, match=message):
        call(example)


def test_curve_from_csv_reads_its_drive(tmp_path, example):
    ex = example
    one_c = jaxbatt.cells.nrel_cell().one_c_current

    def write(name, current=None):
        path = tmp_path / name
        cols = [ex.t, ex.v] + ([current] if current is not None else [])
        header = "time_s,voltage_V" + (",current_A" if current is not None else "")
        np.savetxt(path, np.column_stack(cols), delimiter=",", header=header, comments="")
        return path

    at_1c = Curve.from_csv(write("one_c.csv", np.full(ex.t.size, one_c)))
    assert at_1c.c_rate == pytest.approx(1.0) and at_1c.label == "one_c.csv"
    pulses = Curve.from_csv(write("pulses.csv", np.where(ex.t % 200 < 100, 2 * one_c, 0.0)))
    assert pulses.c_rate is None and isinstance(pulses.protocol, jaxbatt.Protocol)
    bare = write("bare.csv")
    assert Curve.from_csv(bare).drive is None and Curve.from_csv(bare, c_rate=2.0).c_rate == 2.0
    with pytest.raises(InputError, match=r"one_c.csv: its current_A column is a 1C discharge"):
        Curve.from_csv(tmp_path / "one_c.csv", c_rate=2.0)
    with pytest.raises(InputError, match="varies"):
        Curve.from_csv(tmp_path / "pulses.csv", c_rate=2.0)


def test_curve_weights_are_relative_precisions(example):
    """Point i's noise sd is sigma / sqrt(w_i): the calibration model's log density with
    weights 4 everywhere and sigma 6 mV equals the unweighted one with sigma 3 mV; weights of 1
    equal no weights; weight 0 drops a point (corrupting it changes nothing, and the density
    equals that of the curve without those points). Bad weights are refused by name."""
    from numpyro.infer.util import log_density

    from jaxbatt.inference._model import calibration_model, pad_curves, unit_site

    ex = example
    model = jaxbatt.load_surrogate("spm")
    point = {unit_site("k_i0"): np.array([0.3]), unit_site("k_Ds"): np.array([0.6])}

    def density(curve, sigma):
        t, v, mask = pad_curves([curve])
        kwargs = dict(voltage_model=model, priors={}, sigma=sigma, sigma_prior_std=5e-3,
                      surrogate_error="none", hierarchical=False)  # fmt: skip
        return float(log_density(calibration_model, (t, v, mask), kwargs, point)[0])

    plain = density(Curve(ex.t, ex.v, c_rate=2.0), 3e-3)
    ones = density(Curve(ex.t, ex.v, c_rate=2.0, weights=np.ones(ex.t.size)), 3e-3)
    fours = density(Curve(ex.t, ex.v, c_rate=2.0, weights=np.full(ex.t.size, 4.0)), 6e-3)
    assert ones == pytest.approx(plain, rel=1e-13) and fours == pytest.approx(plain, rel=1e-12)
    halves = density(Curve(ex.t, ex.v, c_rate=2.0, weights=np.full(ex.t.size, 0.5)), 3e-3)
    assert halves != pytest.approx(plain, rel=1e-6)  # the weights do enter
    w = np.ones(ex.t.size)
    w[::3] = 0.0
    corrupted = np.where(w == 0, ex.v + 0.2, ex.v)
    dropped = density(Curve(ex.t, corrupted, c_rate=2.0, weights=w), 3e-3)
    kept = density(Curve(ex.t[w > 0], ex.v[w > 0], c_rate=2.0), 3e-3)
    assert dropped == pytest.approx(kept, rel=1e-12)
    for weights, match in ((np.ones(3), "one weight per point"),
                           (np.r_[-1.0, np.ones(ex.t.size - 1)], r"weights\[0\] = -1.0"),
                           (np.zeros(ex.t.size), "at least 5")):  # fmt: skip
        with pytest.raises(InputError, match=match):
            Curve(ex.t, ex.v, c_rate=2.0, weights=weights)


@pytest.mark.filterwarnings("ignore::jaxbatt.inference.ConvergenceWarning")  # short chains
def test_weighted_curve_calibrates_and_checks_in_weighted_units(example):
    """A calibration of a weighted curve runs end to end; its misfit check measures residuals
    in units of a weight-1 point's noise (points at weight 0.25 with 2x the noise are not a
    misfit) and leaves weight-0 points out."""
    ex = example
    rng = np.random.default_rng(0)
    w = np.where(np.arange(ex.t.size) % 2 == 0, 1.0, 0.25)
    v = ex.v + np.where(w < 1, rng.normal(0.0, 3e-3, ex.t.size), 0.0)  # those points noisier
    w[-3:] = 0.0
    v[-3:] += 0.3  # dropped outliers
    result = jaxbatt.calibrate(
        Curve(ex.t, v, c_rate=2.0, weights=w),
        sampler=SamplerSettings(num_chains=1, num_warmup=60, num_samples=60, seed=1),
        progress_bar=False,
    )  # fmt: skip
    check = result.checks[0]
    assert check.num_points == ex.t.size - 3
    assert check.residual_rms_V < 6e-3 and not check.problems
