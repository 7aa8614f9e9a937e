"""Measured-curve input: CSV reading, value checks naming the bad entry, the bundled example."""

import numpy as np
import pytest

from jaxbatt import InputError
from jaxbatt.inference import check_curve, load_curve_csv, load_example, read_curve_csv
from jaxbatt.inference._data import as_curves

T_MAX = 1350.0


def _curve(n=20):
    t = np.linspace(10.0, 1350.0, n)
    return t, 4.1 - 0.5 * t / T_MAX


def _write(tmp_path, text, name="data.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_reads_csv_and_skips_blank_lines(tmp_path):
    path = _write(tmp_path, "time_s,voltage_V\n0,4.1\n\n10,4.0\n20,3.9\n30,3.8\n40,3.7\n")
    t, v = read_curve_csv(path)
    np.testing.assert_array_equal(t, [0, 10, 20, 30, 40])
    np.testing.assert_array_equal(v, [4.1, 4.0, 3.9, 3.8, 3.7])
    curve = load_curve_csv(path, t_max=T_MAX)
    assert curve.label == "data.csv" and curve.t.size == 5


@pytest.mark.parametrize(
    "text, message",
    [
        ("time,voltage\n0,4.1\n", "line 1: header is 'time,voltage', expected 'time_s,voltage_V'"),
        ("", "is empty"),
        ("time_s,voltage_V\n0,4.1,7\n", "line 2: expected 2 comma-separated values"),
        ("time_s,voltage_V\n0,4.1\n10,abc\n", "line 3: '10,abc' is not two numbers"),
    ],
)
def test_csv_format_errors_name_the_line(tmp_path, text, message):
    with pytest.raises(InputError, match=message):
        read_curve_csv(_write(tmp_path, text))


def test_missing_file():
    with pytest.raises(InputError, match="cannot read /no/such/file.csv"):
        read_curve_csv("/no/such/file.csv")


@pytest.mark.parametrize(
    "rows, message",
    [
        ([(0, 4.1), (10, "nan"), (20, 3.9), (30, 3.8), (40, 3.7)], r"line 3: voltage is nan"),
        ([(0, 4.1), (20, 4.0), (10, 3.9), (30, 3.8), (40, 3.7)], r"line 4: time = 10 s comes after 20 s"),  # noqa: E501
        ([(0, 4.1), (10, 4.0), (10, 3.9), (30, 3.8), (40, 3.7)], r"line 4: time = 10 s duplicates"),
        ([(0, 4.1), (10, 4.0), (20, 3.9), (30, 3.8), (1400, 3.7)], r"line 6: time = 1400 s is outside the model's window \[0, 1350\] s"),  # noqa: E501
        ([(0, 4.1), (10, 4.0), (20, 3.9), (30, 3800), (40, 3.7)], r"line 5: voltage = 3800 V is outside the physical range \[2, 4.5\] V \(is it in mV"),  # noqa: E501
        ([(0, 4.1), (10, 4.0), (20, 3.9), (30, 3.8)], r"4 points is too few for a calibration; give at least 5"),  # noqa: E501
    ],
)  # fmt: skip
def test_csv_value_errors_name_the_line(tmp_path, rows, message):
    text = "time_s,voltage_V\n" + "".join(f"{a},{b}\n" for a, b in rows)
    with pytest.raises(InputError, match=message):
        load_curve_csv(_write(tmp_path, text), t_max=T_MAX)


def test_array_checks_name_the_index():
    t, v = _curve()
    with pytest.raises(InputError, match=r"curve: time\[3\] is nan"):
        check_curve(np.where(np.arange(20) == 3, np.nan, t), v, t_max=T_MAX)
    with pytest.raises(InputError, match=r"curve: voltage\[0\] = 1.5 V is outside"):
        check_curve(t, np.where(np.arange(20) == 0, 1.5, v), t_max=T_MAX)
    with pytest.raises(InputError, match=r"curve: time\[0\] = -1 s is outside"):
        check_curve(np.concatenate([[-1.0], t[1:]]), v, t_max=T_MAX)
    with pytest.raises(InputError, match="20 times but 19 voltages"):
        check_curve(t, v[:-1], t_max=T_MAX)
    with pytest.raises(InputError, match="must be 1-D"):
        check_curve(t[None], v[None], t_max=T_MAX)
    with pytest.raises(InputError, match=r"curve: voltage\[5\] is inf"):
        check_curve(t, np.where(np.arange(20) == 5, np.inf, v), t_max=T_MAX)


def test_data_forms_for_one_or_several_curves():
    t, v = _curve()
    curves, fleet = as_curves(t, v, t_max=T_MAX)
    assert not fleet and len(curves) == 1
    curves, fleet = as_curves(t, np.stack([v, v - 0.01]), t_max=T_MAX)
    assert fleet and len(curves) == 2 and curves[1].label == "curve 1"
    curves, fleet = as_curves(np.stack([t, t]), np.stack([v, v]), t_max=T_MAX)
    assert fleet and len(curves) == 2
    curves, fleet = as_curves([t, t[:10]], [v, v[:10]], t_max=T_MAX)
    assert [c.t.size for c in curves] == [20, 10]
    curves, fleet = as_curves([(t, v), (t[:7], v[:7])], None, t_max=T_MAX)
    assert fleet and [c.t.size for c in curves] == [20, 7]


def test_fleet_errors_name_the_curve():
    t, v = _curve()
    bad = v.copy()
    bad[4] = np.nan
    with pytest.raises(InputError, match=r"curve 1: voltage\[4\] is nan"):
        as_curves(t, np.stack([v, bad]), t_max=T_MAX)
    with pytest.raises(InputError, match=r"t has shape \(2, 20\) but v has shape \(2, 19\)"):
        as_curves(np.stack([t, t]), np.stack([v[:-1], v[:-1]]), t_max=T_MAX)
    with pytest.raises(InputError, match="list of 2 time arrays, so v must be a list of as many"):
        as_curves([t, t], v, t_max=T_MAX)
    with pytest.raises(InputError, match=r"with v=None, t must be a list of \(t, v\) pairs"):
        as_curves(t, None, t_max=T_MAX)
    with pytest.raises(InputError, match="cannot read t of shape"):
        as_curves(t[None, None], v, t_max=T_MAX)


def test_bundled_example_matches_its_description():
    # that it is the solver's curve plus 3 mV noise: tests/test_calibrate_solver.py
    ex = load_example()
    assert ex.truth == {"k_i0": 2.0, "k_Ds": 2.0} and ex.noise_std == 0.003 and ex.c_rate == 2.0
    assert ex.t.size == 100 and ex.t[0] == 10.0 and ex.t[-1] == 1350.0
    check_curve(ex.t, ex.v, t_max=T_MAX)
    assert 3.4 < ex.v[-1] < ex.v[0] < 4.2
    with pytest.raises(InputError, match="unknown example 'nope'"):
        load_example("nope")
