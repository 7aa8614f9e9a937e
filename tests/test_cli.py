import numpy as np

from jaxbatt._cli import main


def test_simulate_writes_csv_and_plot(tmp_path, capsys):
    out, png = tmp_path / "curve.csv", tmp_path / "curve.png"
    rc = main(
        ["simulate", "--model", "spm", "--param", "k_i0=1.7", "--param", "k_Ds=6.3",
         "--c-rate", "2", "--n-points", "28", "--out", str(out), "--plot", str(png)]
    )  # fmt: skip
    assert rc == 0
    # the file carries its current, so `jaxbatt calibrate` knows the curve's rate
    assert out.read_text().splitlines()[0] == "time_s,voltage_V,current_A"
    data = np.loadtxt(out, delimiter=",", skiprows=1)
    assert data.shape == (28, 3) and np.all(np.diff(data[:, 1]) < 0)
    assert np.all(data[:, 2] == 2 * 18.9e-3)
    assert png.stat().st_size > 1000
    assert "V(1350 s)" in capsys.readouterr().out


def test_simulate_reports_bad_parameters(capsys):
    assert main(["simulate", "--param", "k_i0=9"]) == 2
    assert "'k_i0' = 9.0 is outside its range [0.5, 4.0]" in capsys.readouterr().err
    assert main(["simulate", "--model", "xyz"]) == 2
    assert "unknown model 'xyz'" in capsys.readouterr().err


def test_simulate_past_the_cut_off_reports_it_and_writes_the_simulated_part(tmp_path, capsys):
    """`jaxbatt simulate --c-rate 50` used to print V(1350 s) = -0.07 V and exit 0; now the
    discharge ends at the 3.0 V cut-off (measured t = 32.142 s at the default mesh; 32.125 s on 60
    shells, 31.109 s on the previous default of 15 uniform shells) and the CSV stops there."""
    import warnings

    from jaxbatt._cli import main

    out = tmp_path / "c50.csv"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert main(["simulate", "--c-rate", "50", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "ended at t = 32.14" in printed and "lower cut-off voltage 3 V" in printed
    data = np.loadtxt(out, delimiter=",", skiprows=1)
    assert np.all(np.isfinite(data)) and data[-1, 0] < 32.9 and data[-1, 1] > 3.0


def test_simulate_runs_a_protocol(tmp_path, capsys):
    out = tmp_path / "pulses.csv"
    steps = ["Discharge at 2C for 100 seconds", "Rest for 50 seconds", "Charge at 1C for 30 s"]
    rc = main(["simulate", *[a for s in steps for a in ("--step", s)], "--n-points", "37",
               "--out", str(out)])  # fmt: skip
    assert rc == 0
    assert "SPM 3-step protocol (defaults)" in capsys.readouterr().out
    data = np.loadtxt(out, delimiter=",", skiprows=1)
    t, v, i = data.T
    assert t[-1] == 180.0 and t.size == 37
    np.testing.assert_allclose(i[t < 100], 2 * 18.9e-3)
    np.testing.assert_allclose(i[(t > 100) & (t < 150)], 0.0)
    np.testing.assert_allclose(i[t > 150], -18.9e-3)
    assert np.all(np.diff(v[(t > 100) & (t < 150)]) > 0)  # relaxes on rest
    assert main(["simulate", "--step", "Rest for 5 s", "--c-rate", "1"]) == 2
    assert "either --c-rate or --step" in capsys.readouterr().err
    assert main(["simulate", "--step", "Hold at 4.2 V until C/20"]) == 2
    assert "voltage holds are not supported" in capsys.readouterr().err
