"""Physical limits of a discharge: cut-off voltages and surface stoichiometry bounds end a
solve as Diffrax events; the Solution says where and why, and is NaN after the end."""

import dataclasses
import warnings

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxbatt
from jaxbatt import DischargeEndedWarning, SolverError
from jaxbatt._simulate import _raise_on_failure
from jaxbatt.cells import nrel_cell, nrel_parameter_space
from jaxbatt.solvers import SPMSolver, Termination

# one coarse mesh and one time-grid length for every SPM call through simulate, so they
# share one compiled program (the C-rate and the times are traced)
# the solver settings these figures were measured with (not the defaults, which may change)
# uniform shells: the event times below were measured on them
COARSE = {"n_r_anode": 10, "n_r_cathode": 10, "radial_refinement": 1.0, "rtol": 1e-6, "atol": 1e-8,
          "method": diffrax.Kvaerno4()}
N_T = 271
CUTOFF = nrel_cell().lower_cutoff_voltage  # 3.0 V


def spm(params=None, *, t_end=1350.0, c_rate=2.0, cell=None):
    return jaxbatt.simulate(
        "spm", params or {}, t=np.linspace(0.0, t_end, N_T), c_rate=c_rate, cell=cell, **COARSE
    )


def assert_nan_after_end(sol):
    t, t_end = np.asarray(sol.t), float(sol.t_end)
    for field in ("voltage", "phi_e", "c_surf_anode", "c_surf_cathode", "c_s_anode"):
        values = np.asarray(getattr(sol, field))
        assert np.all(np.isfinite(values[t <= t_end])), field
        assert np.all(np.isnan(values[t > t_end])), field


def test_nrel_cutoffs():
    cell = nrel_cell()
    assert (cell.lower_cutoff_voltage, cell.upper_cutoff_voltage) == (3.0, 4.2)
    # static fields: not leaves, so parameter vectors and checkpoints are unchanged
    assert len(jax.tree.leaves(cell)) == len(
        jax.tree.leaves(dataclasses.replace(cell, lower_cutoff_voltage=2.5))
    )
    with pytest.raises(jaxbatt.InputError, match="lower_cutoff_voltage 4.5 V must be below"):
        dataclasses.replace(cell, lower_cutoff_voltage=4.5)


def test_spm_high_rate_stops_at_cutoff():
    # 50C: V falls from 3.86 V to 3.0 V in 31 s (and, without the event, to -0.07 V by 1350 s)
    with pytest.warns(
        DischargeEndedWarning, match=r"lower cut-off voltage 3 V reached at t = 30\.89"
    ):
        sol = spm(c_rate=50.0)
    assert int(sol.termination) == Termination.LOWER_CUTOFF_VOLTAGE
    assert sol.termination_reason() == "lower cut-off voltage 3 V reached at t = 30.8904 s"
    assert bool(sol.ended_early) and not bool(sol.success) and not bool(sol.failed)
    assert float(sol.t_end) == pytest.approx(30.8904, abs=1e-3)
    # the event time is located on the interpolant: V(t_end) is the cut-off (1.1e-10 measured)
    assert abs(float(sol.voltage_end) - CUTOFF) < 1e-9
    assert_nan_after_end(sol)
    assert np.nanmin(np.asarray(sol.voltage)) > CUTOFF


def test_spm_long_discharge_ends_on_voltage_then_on_cathode():
    # 2C to 10000 s: the voltage reaches 3.0 V at 2037.7 s (k_i0 = k_Ds = 1) while the
    # cathode surface is still at x = 0.9949
    with pytest.warns(DischargeEndedWarning):
        sol = spm(t_end=10000.0)
    assert int(sol.termination) == Termination.LOWER_CUTOFF_VOLTAGE
    assert float(sol.t_end) == pytest.approx(2037.72, abs=0.05)
    x = np.asarray(sol.stoichiometry_end)
    assert 0.99 < x[1, 1] < 0.996 and 0.1 < x[0, 0] < 0.13
    assert_nan_after_end(sol)
    # with a 2.5 V cut-off the cathode surface saturates first
    cell = dataclasses.replace(nrel_cell(), lower_cutoff_voltage=2.5)
    with pytest.warns(
        DischargeEndedWarning, match=r"cathode surface stoichiometry left \[0, 1\] \(reached 1\)"
    ):
        sol = spm(t_end=10000.0, cell=cell)
    assert int(sol.termination) == Termination.CATHODE_STOICHIOMETRY
    assert abs(float(np.asarray(sol.stoichiometry_end)[1, 1]) - 1.0) < 1e-9
    assert float(sol.t_end) == pytest.approx(2055.42, abs=0.05)
    assert 2.7 < float(sol.voltage_end) < 2.9
    assert_nan_after_end(sol)


def test_event_time_matches_a_dense_crossing():
    # The nrel cell's event time at 3.0 V against the crossing of 3.0 V by the voltage of a
    # solve that does not stop there (cut-off 2.5 V: it ends at 2055 s on the cathode) on a
    # 0.056 s grid around it, interpolated by a parabola through the three nearest points.
    # Same t1, so both integrate the same steps. Measured: 1.1e-9 s apart.
    with pytest.warns(DischargeEndedWarning):
        event = spm(t_end=2050.0)
    fine = np.concatenate([[0.0], np.linspace(2030.0, 2045.0, N_T - 2), [2050.0]])
    cell = dataclasses.replace(nrel_cell(), lower_cutoff_voltage=2.5)
    free = jaxbatt.simulate("spm", {}, t=fine, cell=cell, **COARSE)
    v, t = np.asarray(free.voltage)[1:-1], fine[1:-1]
    k = np.flatnonzero(v < CUTOFF)[0]
    near = slice(k - 1, k + 2)
    crossing = np.roots(np.polyfit(t[near] - t[k], v[near] - CUTOFF, 2))
    crossing = crossing[np.argmin(np.abs(crossing))].real + t[k]
    assert abs(float(event.t_end) - crossing) < 1e-7


BOX = {"k_i0": np.array([0.5, 0.5, 4.0, 4.0]), "k_Ds": np.array([1.0, 10.0, 1.0, 10.0])}


def test_batch_names_the_members_that_ended():
    # over 2100 s at 2C, k_Ds = 1 reaches 3.0 V at 2037.7 s, k_Ds = 10 only at ~2131 s
    with pytest.warns(
        DischargeEndedWarning,
        match=r"2 of 4 batch members ended early: member 0: lower cut-off voltage 3 V reached at t = 2037.*; member 2: lower cut-off",
    ):
        batch = spm(BOX, t_end=2100.0)
    low, end = Termination.LOWER_CUTOFF_VOLTAGE, Termination.END_TIME
    assert np.asarray(batch.termination).tolist() == [low, end, low, end]
    assert np.asarray(batch.success).tolist() == [False, True, False, True]
    assert np.asarray(batch.ended_early).tolist() == [True, False, True, False]
    v = np.asarray(batch.voltage)
    assert np.all(np.isfinite(v[1])) and np.isnan(v[0, -1]) and np.isfinite(v[0, 0])
    assert batch.termination_reason()[1] == "reached the end time 2100 s"


def test_inside_the_box_no_event_and_gradients_unchanged():
    # the default experiment (2C, [0, 1350] s) at the corners of the parameter box: no limit
    with warnings.catch_warnings():
        warnings.simplefilter("error", DischargeEndedWarning)
        box = spm(BOX)
    assert np.all(np.asarray(box.success))
    assert np.all(np.asarray(box.t_end) == 1350.0)
    assert np.nanmin(np.asarray(box.voltage)) > 3.57
    # d(sum V)/d(theta) at (1.7, 6.3), reverse mode and ForwardMode, as before the events
    # (measured with the solver of the previous commit: equal to 1e-15)
    solver = SPMSolver(cell=nrel_cell(), space=nrel_parameter_space(), **COARSE)
    forward = dataclasses.replace(solver, adjoint=diffrax.ForwardMode())
    t, theta = jnp.linspace(0.0, 1350.0, N_T), jnp.array([1.7, 6.3])
    grad = jax.jit(jax.grad(lambda th, c: jnp.nansum(solver.solve(th, t, c).voltage)))

    def voltage(th, c):
        v = forward.solve(th, t, c).voltage
        return v, v

    jac = jax.jit(jax.jacfwd(voltage, has_aux=True))
    before = np.array([0.3666359679267366, 0.11759615083788466])
    np.testing.assert_allclose(np.asarray(grad(theta, 2.0)), before, rtol=1e-10)
    np.testing.assert_allclose(np.asarray(jac(theta, 2.0)[0]).sum(axis=0), before, rtol=1e-10)
    # at 50C an event ends the solve early: derivatives stay finite, zero after the end
    g = np.asarray(grad(theta, 50.0))
    j, v = (np.asarray(x) for x in jac(theta, 50.0))
    ended = np.isnan(v)
    assert 0 < ended.sum() < N_T - 5
    assert np.all(np.isfinite(g)) and np.all(g != 0) and np.all(np.isfinite(j))
    assert np.all(j[ended] == 0) and np.all(j[1:][~ended[1:]] != 0)


def test_emptied_electrode_failure_is_named():
    # a failed solve whose last state has the anode surface nearly empty: the SolverError
    # names the anode and the time, not max_steps
    sol = spm()
    failed = eqx.tree_at(
        lambda s: (s.termination, s.t_end, s.stoichiometry_end, s.result),
        sol,
        (
            jnp.asarray(Termination.FAILED),
            jnp.asarray(2345.0),
            jnp.array([[0.004, 0.01], [0.9, 0.95]]),
            diffrax.RESULTS.max_steps_reached,
        ),
    )
    assert "anode surface stoichiometry is 0.004" in failed.termination_reason()
    solver = jaxbatt._simulate.make_solver("spm")
    with pytest.raises(
        SolverError,
        match=r"at t = 2345 s: the anode surface stoichiometry is 0\.004 there: the anode is emptied",
    ) as info:
        _raise_on_failure(failed, "p2d", solver)
    assert "max_steps or newton_max_steps does not help" in str(info.value)
    # far from the bounds: the usual message
    ordinary = eqx.tree_at(
        lambda s: s.stoichiometry_end, failed, jnp.array([[0.3, 0.4], [0.7, 0.8]])
    )
    with pytest.raises(SolverError, match="raise max_steps"):
        _raise_on_failure(ordinary, "spm", solver)


def test_p2d_long_discharge_names_the_limit():
    # P2D (coarse mesh) at 2C to 4000 s: before the events it failed with "raise max_steps";
    # now it stops at 3.0 V (default mesh: 2034.0 s at k_i0 = k_Ds = 1)
    with pytest.warns(
        DischargeEndedWarning,
        match=r"P2D discharge ended .* lower cut-off voltage 3 V reached at t = 20",
    ):
        sol = jaxbatt.simulate(
            "p2d", {}, t=np.linspace(0.0, 4000.0, 101),
            n_x_anode=5, n_x_separator=3, n_x_cathode=5, n_r_anode=5, n_r_cathode=5,
        )  # fmt: skip
    assert int(sol.termination) == Termination.LOWER_CUTOFF_VOLTAGE
    assert abs(float(sol.voltage_end) - CUTOFF) < 1e-9
    assert 2000.0 < float(sol.t_end) < 2070.0
    t = np.asarray(sol.t)
    for field in ("voltage", "c_e", "j_x"):
        values = np.asarray(getattr(sol, field))
        assert np.all(np.isnan(values[t > float(sol.t_end)])), field
    assert np.all(np.isfinite(np.asarray(sol.voltage)[t <= float(sol.t_end)]))
