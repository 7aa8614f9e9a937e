"""Experiment design: `jaxbatt.design` (Fisher information, the pulse-train family, the
optimiser) and ``jaxbatt design``. Coarse meshes and short tests: the full-size design and
its validation by calibration are benchmarks/bench_design.py."""

import json

import jax
import numpy as np
import pytest

import jaxbatt
from jaxbatt import InputError, ParameterError, design
from jaxbatt._cli import main
from jaxbatt._simulate import make_solver

AT = {"k_i0": 2.0, "k_Ds": 2.0}
OPTIONS = dict(n_r_anode=8, n_r_cathode=8, rtol=1e-9, atol=1e-11)


@pytest.fixture(scope="module")
def solver():
    return make_solver("spm", **OPTIONS)


def test_fisher_information_is_the_sensitivity_gram_matrix(solver):
    """F = J^T J / sigma^2 with J from forward-mode autodiff equals the same from central
    finite differences of the solver's voltages; the covariance is (F + prior)^-1, and with
    uninformative data the sds are the prior box's width / sqrt(12)."""
    protocol = jaxbatt.Protocol(["Discharge at 3C for 100 seconds", "Rest for 50 seconds",
                                 "Discharge at 1C for 100 seconds"])  # fmt: skip
    t = np.linspace(20.0, 250.0, 10)
    info = design.fisher_information(protocol, at=AT, t=t, sigma=3e-3, solver=solver)
    theta = np.array([2.0, 2.0])

    solve = jax.jit(lambda th: solver.solve_protocol(th, t, protocol).voltage)

    def voltage(th):
        return np.asarray(solve(th))

    jac = np.zeros((t.size, 2))
    for k, h in enumerate((1e-4, 1e-3)):
        e = np.zeros(2)
        e[k] = h
        jac[:, k] = (voltage(theta + e) - voltage(theta - e)) / (2 * h)
    np.testing.assert_allclose(info.fisher, jac.T @ jac / 3e-3**2, rtol=1e-5)
    np.testing.assert_allclose(info.voltage, voltage(theta), atol=1e-12)
    np.testing.assert_allclose(info.current, [3 * 0.0189] * 4 + [0.0] * 2 + [0.0189] * 4,
                               atol=1e-12)  # fmt: skip
    np.testing.assert_allclose(info.covariance @ (info.fisher + np.diag(info.prior_precision)),
                               np.eye(2), atol=1e-9)  # fmt: skip
    assert np.allclose(np.diag(info.correlation), 1.0) and -1 < info.correlation[0, 1] < 0
    vague = design.fisher_information(protocol, at=AT, t=t, sigma=1e3, solver=solver)
    box = {"k_i0": 3.5 / np.sqrt(12), "k_Ds": 9.0 / np.sqrt(12)}
    for name in box:
        assert vague.sd[name] == pytest.approx(box[name], rel=1e-6)
        assert info.sd[name] < box[name]
    assert info.sd["k_Ds"] < 0.5 * box["k_Ds"]  # 250 s at up to 3C: k_i0 is barely informed


def test_fisher_information_refuses_bad_input(solver):
    with pytest.raises(InputError, match="either a protocol or a c_rate"):
        design.fisher_information(at=AT)
    with pytest.raises(InputError, match="sigma must be positive"):
        design.fisher_information(c_rate=2.0, sigma=0.0, solver=solver)
    with pytest.raises(ParameterError, match="outside its range"):
        design.fisher_information(c_rate=2.0, at={"k_i0": 9.0}, solver=solver)
    with pytest.raises(ParameterError, match="unknown parameter"):
        design.fisher_information(c_rate=2.0, at={"k_io": 2.0}, solver=solver)
    with pytest.raises(InputError, match="either a solver or solver options"):
        design.fisher_information(c_rate=2.0, solver=solver, n_r_anode=4)


def test_fisher_information_says_when_the_protocol_ends_early(solver):
    """A discharge that reaches the cut-off before the last measurement: a clear error."""
    with pytest.raises(jaxbatt.SolverError, match="does not reach the measurement at t = 860 s"
                       " at k_i0=2, k_Ds=2: lower cut-off voltage 3 V reached at t = "):
        design.fisher_information(["Discharge at 5C for 1200 seconds"], at=AT, solver=solver,
                                  t=np.linspace(10.0, 1200.0, 8))  # fmt: skip


def test_pulse_train_stays_inside_its_limits():
    """Any design variables give a protocol inside the family's limits; its steps as text
    are the same protocol to the stated rounding; the initial design passes the charge of
    the 2C discharge."""
    family = design.PulseTrain(duration=900.0, n_pulses=3, max_c_rate=4.0,
                               max_charge_c_rate=1.5, min_step=10.0)  # fmt: skip
    assert family.n_variables == 9 and family.period == 300.0
    rng = np.random.default_rng(0)
    for u in [rng.normal(0, 6, 9) for _ in range(20)] + [np.full(9, 50.0), np.full(9, -50.0)]:
        protocol = family.protocol(u)
        currents = np.asarray(protocol.currents)
        durations = np.asarray(protocol.durations)
        assert np.all(currents[0::2] >= 0) and np.all(currents[0::2] <= 4.0)
        assert np.all(currents[1::2] <= 0) and np.all(currents[1::2] >= -1.5)
        assert np.all(durations >= 10.0 - 1e-9)
        assert np.sum(durations) == pytest.approx(900.0, rel=1e-12)
        text = jaxbatt.Protocol(family.steps(u))
        np.testing.assert_allclose(np.asarray(text.durations), durations, atol=0.051)
        np.testing.assert_allclose(np.asarray(text.currents), currents, atol=0.0051)
    u0 = family.initial(2.0)
    amplitude, length, rest = family.values(u0, np)
    charge = np.sum(amplitude * length + rest * (family.period - length))
    assert charge == pytest.approx(2.0 * 900.0, rel=0.02)
    for bad, match in (
        (dict(n_pulses=0), "n_pulses"), (dict(max_c_rate=-1.0), "max_c_rate"),
        (dict(min_step=200.0), "min_step"), (dict(duration=0.0), "duration"),
        (dict(max_charge_c_rate=-1.0), "max_charge_c_rate"),
    ):  # fmt: skip
        with pytest.raises(InputError, match=match):
            design.PulseTrain(**bad)


def test_design_command_improves_on_the_2c_discharge(tmp_path, monkeypatch, capsys):
    """``jaxbatt design`` on a short test (coarse mesh): a few Adam steps lower the objective,
    the designed test is expected to identify both parameters better than the 2C
    discharge, stays inside the voltage window, and the folder holds the protocol (as steps
    `jaxbatt.Protocol` reads), the summary and the plot."""
    real = design.optimise

    def coarse(*args, **kwargs):
        return real(*args, **kwargs, progress=False, **OPTIONS)

    monkeypatch.setattr(design, "optimise", coarse)
    out = tmp_path / "design"
    code = main(["design", "--out", str(out), "--duration", "400", "--pulses", "2",
                 "--steps", "8", "--n-points", "20", "--at", "k_i0=2,k_Ds=2"])  # fmt: skip
    printed = capsys.readouterr()
    assert code == 0, printed.err
    assert "Expected posterior sd at k_i0=2, k_Ds=2" in printed.out
    summary = json.loads((out / "summary.json").read_text())
    objective = np.array(summary["history"]["objective"])
    accepted = np.array(summary["history"]["accepted"])
    assert accepted.sum() >= 4 and objective.min() < objective[0] - 0.05
    gain = summary["gain"][0]
    assert gain["k_i0"] > 1.3 and gain["k_Ds"] > 1.3
    steps = (out / "protocol.txt").read_text().splitlines()
    assert steps == summary["steps"] and len(steps) == 4
    protocol = jaxbatt.Protocol(steps)
    assert protocol.nominal_duration(0.0189) == pytest.approx(400.0, abs=0.2)
    assert np.max(np.asarray(protocol.currents)) <= 5.0
    lo, hi = summary["settings"]["voltage_window_V"]
    v_min, v_max = summary["designed"][0]["voltage_range_V"]
    assert lo + 0.05 <= v_min < v_max <= hi
    assert (lo, hi) == (3.0, 4.2) and (out / "design.png").stat().st_size > 10_000
    # an earlier result is replaced as a whole; bad input is refused before any work
    assert main(["design", "--out", str(out), "--at", "k_io=2"]) == 2
    assert "unknown parameter" in capsys.readouterr().err
    assert main(["design", "--out", str(out), "--target", "k_x"]) == 2
    assert "unknown target" in capsys.readouterr().err
    assert (out / "summary.json").exists()
