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
