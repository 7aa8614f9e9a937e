import numpy as np

from jaxbatt._cli import main


def test_simulate_writes_csv_and_plot(tmp_path, capsys):
    out, png = tmp_path / "curve.csv", tmp_path / "curve.png"
    rc = main(
        ["simulate", "--model", "spm", "--param", "k_i0=1.7", "--param", "k_Ds=6.3",
         "--c-rate", "2", "--n-points", "28", "--out", str(out), "--plot", str(png)]
    )  # fmt: skip
    assert rc == 0
    assert out.read_text().splitlines()[0] == "time_s,voltage_V"
    data = np.loadtxt(out, delimiter=",", skiprows=1)
    assert data.shape == (28, 2) and np.all(np.diff(data[:, 1]) < 0)
    assert png.stat().st_size > 1000
    assert "V(1350 s)" in capsys.readouterr().out


def test_simulate_reports_bad_parameters(capsys):
    assert main(["simulate", "--param", "k_i0=9"]) == 2
    assert "'k_i0' = 9.0 is outside its range [0.5, 4.0]" in capsys.readouterr().err
    assert main(["simulate", "--model", "xyz"]) == 2
    assert "unknown model 'xyz'" in capsys.readouterr().err


def test_simulate_past_the_cut_off_reports_it_and_writes_the_simulated_part(tmp_path, capsys):
    """`jaxbatt simulate --c-rate 50` used to print V(1350 s) = -0.07 V and exit 0; now the
    discharge ends at the 3.0 V cut-off (measured t = 31.109 s at the default 15 shells) and the CSV stops there."""
    import warnings

    from jaxbatt._cli import main

    out = tmp_path / "c50.csv"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert main(["simulate", "--c-rate", "50", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "ended at t = 31.109" in printed and "lower cut-off voltage 3 V" in printed
    data = np.loadtxt(out, delimiter=",", skiprows=1)
    assert np.all(np.isfinite(data)) and data[-1, 0] < 31.9 and data[-1, 1] > 3.0
