"""``jaxbatt calibrate``: the command-line main job."""

import argparse
import inspect
import json

import numpy as np
import pytest

import jaxbatt
from jaxbatt import InputError
from jaxbatt.inference import load_example
from jaxbatt.inference._command import run_calibrate_command


def _args(**overrides):
    values = dict(
        data=[], model="spm", likelihood="surrogate", num_chains=1, num_warmup=15,
        num_samples=10, seed=0, sigma=None, c_rate=None, hierarchical=False, out="out",
        no_plots=False,
    )  # fmt: skip
    values.update(overrides)
    return argparse.Namespace(**values)


@pytest.mark.filterwarnings("ignore::jaxbatt.inference.ConvergenceWarning")
def test_calibrates_the_bundled_example_and_writes_everything(tmp_path, capsys):
    paths = run_calibrate_command(_args(out=str(tmp_path / "cal")))
    out = capsys.readouterr().out
    assert "no data given: calibrating the bundled example spm_2c_example.csv" in out
    assert "truth: k_i0 = 2" in out and "k_Ds" in out and "sigma [mV]" in out
    for name in ("summary.json", "samples.npz", "pairs.png", "traces.png", "predictive.png"):
        assert (tmp_path / "cal" / name).is_file(), name
    summary = json.loads((tmp_path / "cal" / "summary.json").read_text())
    assert summary["settings"]["likelihood"] == "surrogate"
    assert set(paths) >= {"summary.json", "samples.npz"}


def test_several_csv_files_are_fitted_together(tmp_path, capsys, monkeypatch):
    """The files become one fleet call of `calibrate` (the sampling itself is tested in
    test_calibrate.py; here `calibrate` is replaced by a recorder)."""
    import jaxbatt.inference._command as command  # noqa: PLC0415

    calls = []

    class Stop(Exception):
        pass

    def record(t, v, **kwargs):
        calls.append((t, v, kwargs))
        raise Stop

    monkeypatch.setattr(command, "calibrate", record)
    ex = load_example()
    files = []
    for k, rows in enumerate((slice(0, 100, 2), slice(1, 100, 3))):
        path = tmp_path / f"cell{k}.csv"
        np.savetxt(path, np.column_stack([ex.t[rows], ex.v[rows]]), delimiter=",",
                   header="time_s,voltage_V", comments="")  # fmt: skip
        files.append(str(path))
    with pytest.raises(Stop):
        run_calibrate_command(
            _args(data=files, sigma=3e-3, hierarchical=True, likelihood="solver", c_rate=2.0)
        )
    assert "calibrating cell0.csv, cell1.csv (83 points)" in capsys.readouterr().out
    (t, v, kwargs), = calls
    assert [x.size for x in t] == [50, 33] and np.array_equal(v[1], ex.v[1::3])
    assert kwargs["sigma"] == 3e-3 and kwargs["hierarchical"] and kwargs["likelihood"] == "solver"


def test_bad_csv_names_the_line(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("time_s,voltage_V\n0,4.1\n10,4.0\n20,3.9\n15,3.8\n40,3.7\n")
    with pytest.raises(InputError, match=r"bad.csv line 5: time = 15 s comes after 20 s"):
        run_calibrate_command(_args(data=[str(path)], out=str(tmp_path / "x"), c_rate=2.0))


def test_registered_in_the_jaxbatt_command(tmp_path, capsys):
    from jaxbatt._cli import build_parser, main  # noqa: PLC0415

    parser = build_parser()
    try:
        args = parser.parse_args(["calibrate", "--out", str(tmp_path)])
    except SystemExit:
        pytest.skip("`jaxbatt calibrate` is not registered in jaxbatt/_cli.py yet")
    defaults = inspect.signature(jaxbatt.calibrate).parameters  # the CLI follows the API
    assert (args.model, args.likelihood, args.num_chains, args.num_warmup, args.num_samples) == (
        "spm", "surrogate", *(defaults[k].default for k in ("num_chains", "num_warmup",
                                                           "num_samples"))
    )  # fmt: skip
    assert args.data == [] and args.sigma is None and args.c_rate is None
    path = tmp_path / "mV.csv"
    path.write_text("time_s,voltage_V\n" + "".join(f"{10 * k},{4100 - k}\n" for k in range(6)))
    assert main(["calibrate", str(path), "--c-rate", "2", "--out", str(tmp_path / "o")]) == 2
    assert "voltage = 4100 V is outside the physical range [2, 4.5] V (is it in mV?" in (
        capsys.readouterr().err
    )  # fmt: skip
    assert main(["calibrate", "--likelihood", "solver", "--c-rate", "0", "--out", "x"]) == 2
    assert "argument --c-rate: must be a finite positive number" in capsys.readouterr().err
    assert jaxbatt.inference.calibrate is not None


def _csv(path, t, v, current=None):
    columns, header = [t, v], "time_s,voltage_V"
    if current is not None:
        columns, header = [t, v, current], header + ",current_A"
    np.savetxt(path, np.column_stack(columns), delimiter=",", header=header, comments="")
    return str(path)


def test_a_curve_without_its_rate_is_refused(tmp_path, capsys):
    """A curve with neither a current_A column nor --c-rate used to be fitted silently with
    the 2C surrogate, whatever its rate."""
    from jaxbatt._cli import main  # noqa: PLC0415

    ex = load_example()
    path = _csv(tmp_path / "unknown.csv", ex.t, ex.v)
    assert main(["calibrate", path, "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "unknown.csv: the curve's C-rate is unknown" in err and "--c-rate" in err
    assert not (tmp_path / "o").exists()


def test_the_current_column_gives_the_rate(tmp_path, monkeypatch):
    import jaxbatt.inference._command as command  # noqa: PLC0415

    calls = []

    class Stop(Exception):
        pass

    def record(t, v, **kwargs):
        calls.append(kwargs)
        raise Stop

    monkeypatch.setattr(command, "calibrate", record)
    ex = load_example()
    one_c = jaxbatt.cells.nrel_cell().one_c_current
    at_1c = _csv(tmp_path / "one_c.csv", ex.t, ex.v, np.full(ex.t.size, one_c))
    with pytest.raises(Stop):
        run_calibrate_command(_args(data=[at_1c], likelihood="solver"))
    assert calls[0]["c_rate"] == pytest.approx(1.0)
    # ... and with the surrogate likelihood a 1C curve gets the rate-input surrogate at 1C
    # (the 2C surrogate used to be refused for it)
    with pytest.raises(Stop):
        run_calibrate_command(_args(data=[at_1c]))
    assert calls[1]["c_rate"] == pytest.approx(1.0) and calls[1]["likelihood"] == "surrogate"
    with pytest.raises(InputError, match=r"one_c.csv: its current_A column is a 1C discharge"):
        run_calibrate_command(_args(data=[at_1c], c_rate=2.0, likelihood="solver"))
    # a varying current is the curve's protocol; curves at different rates get a model each
    pulses = np.where(ex.t % 200 < 100, 2 * one_c, 0.0)
    varying = _csv(tmp_path / "pulses.csv", ex.t, ex.v, pulses)
    at_2c = _csv(tmp_path / "two_c.csv", ex.t, ex.v, np.full(ex.t.size, 2 * one_c))
    calls.clear()
    with pytest.raises(Stop):
        run_calibrate_command(_args(data=[at_1c, at_2c, varying], likelihood="solver", joint=True))
    drives = calls[0]["protocol"]
    assert calls[0]["c_rate"] is None and calls[0]["joint"] is True
    assert drives[:2] == pytest.approx([1.0, 2.0])
    probe = np.array([0.0, ex.t[0], 150.0, 250.0])
    np.testing.assert_allclose(drives[2].current(probe, one_c), [2 * one_c, 2 * one_c, 0.0, 2 * one_c])
    with pytest.raises(InputError, match="pulses.csv: its current_A column varies"):
        run_calibrate_command(_args(data=[varying], c_rate=2.0, likelihood="solver"))
    with pytest.raises(InputError, match="expected 3 comma-separated values"):
        (tmp_path / "short.csv").write_text("time_s,voltage_V,current_A\n0,4.1\n")
        run_calibrate_command(_args(data=[str(tmp_path / "short.csv")], likelihood="solver"))
