"""Protocols in the solvers (issue 13, item 1): steps, events, PyBaMM agreement, derivatives."""

import warnings

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxbatt
from jaxbatt import InputError, Protocol, Step
from jaxbatt.solvers import SPMSolver, Termination

ONE_C = 18.9e-3  # A, the nrel cell
PULSES = ["Discharge at 2C for 150 seconds", "Rest for 60 seconds"] * 2 + [
    "Charge at 1C until 4.1 V",
    "Rest for 1 minute",
]


# -- steps -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, current, unit, duration, until",
    [
        ("Discharge at 2C for 150 seconds", 2.0, "C", 150.0, None),
        ("Rest for 1 minute", 0.0, "C", 60.0, None),
        ("Charge at 1C until 4.2 V", -1.0, "C", None, 4.2),
        ("Discharge at 0.5 A for 10 minutes", 0.5, "A", 600.0, None),
        ("Discharge at 50 mA for 1 hour", 0.05, "A", 3600.0, None),
        ("Discharge at C/2 for 2 hours or until 3.0 V", 0.5, "C", 7200.0, 3.0),
        ("charge at 0.7 C for 30 s", -0.7, "C", 30.0, None),
    ],
)
def test_steps_read_as_pybamm_writes_them(text, current, unit, duration, until):
    step = Step.parse(text)
    assert step.currents[0] == pytest.approx(current) and step.unit == unit
    assert (np.isnan(step.duration) if duration is None else step.duration == duration)
    assert (np.isnan(step.until_voltage) if until is None else step.until_voltage == until)


@pytest.mark.parametrize(
    "text, message",
    [
        ("Hold at 4.2 V until C/20", "voltage holds are not supported"),
        ("Discharge at 2C for 5 fortnights", "unknown time unit 'fortnights'"),
        ("Rest until 3.5 V", "cannot read the protocol step"),
        ("Discharge at 2C", "needs a duration, an until-voltage, or both"),
        ("Discharge at 0C for 10 s", "must be positive"),
        ("Discharge quickly", "cannot read the protocol step"),
    ],
)
def test_unreadable_steps_are_refused_by_name(text, message):
    with pytest.raises(InputError, match=message):
        Step.parse(text)


def test_a_current_profile_is_checked():
    with pytest.raises(InputError, match="mismatched lengths"):
        Protocol.from_current([0.0, 1.0, 2.0], [0.1, 0.2])
    with pytest.raises(InputError, match="not finite"):
        Protocol.from_current([0.0, 1.0, 2.0], [0.1, np.nan, 0.2])
    with pytest.raises(InputError, match="strictly increasing"):
        Protocol.from_current([0.0, 2.0, 1.0], [0.1, 0.1, 0.2])
    with pytest.raises(InputError, match="protocol must be"):
        jaxbatt.simulate("spm", protocol=42)


def test_protocol_current_and_nominal_duration():
    p = Protocol(PULSES)
    # the charge until 4.1 V at 1C is capped at 1.5 h
    assert p.nominal_duration(ONE_C) == pytest.approx(2 * 210 + 5400 + 60)
    i = p.current(np.array([10.0, 200.0, 300.0, 500.0]), ONE_C)
    np.testing.assert_allclose(i, [2 * ONE_C, 0.0, 2 * ONE_C, -ONE_C])


# -- against PyBaMM -------------------------------------------------------------------------


def _away_from_steps(t, boundaries, gap):
    """Times more than `gap` s from every step instant (both codes' values jump there)."""
    return np.all(np.abs(t[:, None] - np.asarray(boundaries)[None, :]) > gap, axis=1)


@pytest.fixture(scope="module")
def pybamm_pulses():
    pytest.importorskip("pybamm")
    from jaxbatt.reference import pybamm_protocol_voltage

    t = np.linspace(0.0, 1100.0, 2201) + 0.1
    v, solution = pybamm_protocol_voltage(t, PULSES, n_r=200, period=0.25)
    boundaries = [sub.t[0] for sub in solution.sub_solutions] + [solution.t[-1]]
    return t, v, np.asarray(boundaries, dtype=float)


def test_pulses_rests_and_a_charge_match_pybamm_spm(pybamm_pulses):
    t, v_pybamm, boundaries = pybamm_pulses
    sol = jaxbatt.simulate("spm", t=t, protocol=PULSES)
    assert int(sol.termination) == Termination.END_OF_PROTOCOL
    # the charge until 4.1 V is an event; PyBaMM's ends it at the same instant
    assert float(sol.t_end) == pytest.approx(boundaries[-1], abs=0.3)
    far = _away_from_steps(t, boundaries, 2.0) & (t < float(sol.t_end))
    error = np.max(np.abs(np.asarray(sol.voltage)[far] - v_pybamm[far]))
    print(f"SPM pulses + charge vs PyBaMM (>= 2 s from steps): {error * 1e3:.3f} mV")
    assert error <= 0.4e-3
    before_charge = far & (t < 420.0)  # `Protocol.current` runs an until-step to its cap
    np.testing.assert_allclose(
        np.asarray(sol.current)[before_charge], Protocol(PULSES).current(t[before_charge], ONE_C)
    )


def test_a_drive_cycle_matches_pybamm_spm():
    pytest.importorskip("pybamm")
    from jaxbatt.reference import pybamm_protocol_voltage

    rng = np.random.default_rng(0)
    t_cycle = np.arange(0.0, 601.0)  # a 1 Hz current record, charge and discharge
    current = np.interp(t_cycle, np.linspace(0, 600, 31), rng.uniform(-1, 3, 31) * ONE_C)
    t = np.linspace(0.0, 599.8, 1200) + 0.1
    v_pybamm, _ = pybamm_protocol_voltage(t, [(t_cycle, current)], n_r=200, period=0.25)
    sol = jaxbatt.simulate("spm", t=t, protocol=Protocol.from_current(t_cycle, current))
    late = t > 2.0
    error = np.max(np.abs(np.asarray(sol.voltage)[late] - v_pybamm[late]))
    print(f"SPM drive cycle vs PyBaMM (t > 2 s): {error * 1e3:.3f} mV")
    assert error <= 0.3e-3
    np.testing.assert_allclose(np.asarray(sol.current), np.interp(t, t_cycle, current), atol=1e-15)


def test_pulses_rests_and_a_charge_match_pybamm_dfn(pybamm_pulses):
    from jaxbatt.reference import pybamm_protocol_voltage

    t = pybamm_pulses[0]
    v_pybamm, solution = pybamm_protocol_voltage(t, PULSES, model="dfn", period=0.5)
    boundaries = [sub.t[0] for sub in solution.sub_solutions] + [solution.t[-1]]
    sol = jaxbatt.simulate("p2d", t=t, protocol=PULSES)
    assert float(sol.t_end) == pytest.approx(boundaries[-1], abs=1.0)
    far = _away_from_steps(t, boundaries, 2.0) & (t < float(sol.t_end)) & (t > 2.0)
    error = np.max(np.abs(np.asarray(sol.voltage)[far] - v_pybamm[far]))
    print(f"P2D pulses + charge vs PyBaMM DFN (>= 2 s from steps): {error * 1e3:.3f} mV")
    assert error <= 1.5e-3


def test_a_drive_cycle_matches_pybamm_dfn():
    """The P2D under a measured current record (charge and discharge, linearly interpolated
    between 1 Hz samples) against PyBaMM's DFN under the same record."""
    pytest.importorskip("pybamm")
    from jaxbatt.reference import pybamm_protocol_voltage

    rng = np.random.default_rng(1)
    t_cycle = np.arange(0.0, 301.0)
    current = np.interp(t_cycle, np.linspace(0, 300, 16), rng.uniform(-1, 3, 16) * ONE_C)
    t = np.linspace(0.0, 299.5, 300) + 0.1
    v_pybamm, _ = pybamm_protocol_voltage(t, [(t_cycle, current)], model="dfn", period=0.5)
    sol = jaxbatt.simulate("p2d", t=t, protocol=Protocol.from_current(t_cycle, current))
    late = t > 2.0
    error = np.max(np.abs(np.asarray(sol.voltage)[late] - v_pybamm[late]))
    print(f"P2D drive cycle vs PyBaMM DFN (t > 2 s): {error * 1e3:.3f} mV")
    assert error <= 1.5e-3


# -- events and limits ------------------------------------------------------------------------


def test_one_constant_current_step_is_the_constant_current_solve():
    t = np.linspace(0.0, 1350.0, 271)
    ours = jaxbatt.simulate("spm", {"k_i0": 0.7}, t=t, protocol=["Discharge at 2C for 1350 s"])
    theirs = jaxbatt.simulate("spm", {"k_i0": 0.7}, t=t, c_rate=2.0)
    assert int(ours.termination) == Termination.END_TIME
    np.testing.assert_allclose(ours.voltage, theirs.voltage, atol=2e-5)


def test_a_step_ends_on_its_voltage_and_the_next_one_runs():
    protocol = ["Discharge at 2C until 3.8 V", "Rest for 100 seconds"]
    sol = jaxbatt.simulate("spm", t=np.linspace(0.0, 1500.0, 3001), protocol=protocol)
    assert int(sol.termination) == Termination.END_OF_PROTOCOL
    # the constant-current discharge crosses 3.8 V where the step ended
    dense = np.linspace(0.0, 1350.0, 13501)
    v = np.asarray(jaxbatt.simulate("spm", t=dense, c_rate=2.0).voltage)
    k = np.flatnonzero(v < 3.8)[0]
    crossing = np.interp(3.8, [v[k], v[k - 1]], [dense[k], dense[k - 1]])
    assert float(sol.t_end) - 100.0 == pytest.approx(crossing, abs=0.05)
    voltage, current = np.asarray(sol.voltage), np.asarray(sol.current)
    resting = (sol.t > crossing + 1.0) & (sol.t < float(sol.t_end))
    assert np.all(current[resting] == 0.0) and np.all(voltage[resting] > 3.8)  # relaxes up
    after = sol.t > float(sol.t_end)
    assert np.all(np.isnan(voltage[after])) and np.all(np.isnan(current[after]))


def test_a_cell_limit_ends_the_whole_protocol_with_a_warning():
    protocol = ["Discharge at 5C for 1 hour", "Rest for 60 seconds", "Discharge at 1C for 60 s"]
    t = np.linspace(0.0, 800.0, 801)
    with pytest.warns(jaxbatt.DischargeEndedWarning, match="lower cut-off voltage 3 V"):
        sol = jaxbatt.simulate("spm", t=t, protocol=protocol)
    assert int(sol.termination) == Termination.LOWER_CUTOFF_VOLTAGE
    with pytest.warns(jaxbatt.DischargeEndedWarning):
        constant = jaxbatt.simulate("spm", t=t, c_rate=5.0)
    # the same event, within the two solves' time-integration error (4.7 ms measured)
    assert float(sol.t_end) == pytest.approx(float(constant.t_end), abs=0.01)


def test_a_charge_to_the_upper_cutoff_ends_the_step_not_the_protocol():
    protocol = ["Discharge at 1C for 300 s", "Charge at 1C until 4.2 V", "Rest for 30 s"]
    with warnings.catch_warnings():
        warnings.simplefilter("error", jaxbatt.DischargeEndedWarning)
        sol = jaxbatt.simulate("spm", t=np.linspace(0.0, 2000.0, 2001), protocol=protocol)
    assert int(sol.termination) == Termination.END_OF_PROTOCOL
    v = np.asarray(sol.voltage)
    assert np.nanmax(v) == pytest.approx(4.2, abs=2e-3)


def test_c_rate_and_protocol_together_are_refused():
    with pytest.raises(InputError, match="either c_rate"):
        jaxbatt.simulate("spm", c_rate=1.0, protocol=["Rest for 10 s"])


# -- jit, vmap, grad ------------------------------------------------------------------------


def test_derivatives_in_parameters_and_protocol_numbers_match_finite_differences(cell, space):
    solver = SPMSolver(cell=cell, space=space)
    protocol = Protocol(PULSES[:4])
    t = jnp.linspace(1.0, 400.0, 50)

    def total(theta, amplitude, duration):
        p = eqx.tree_at(
            lambda p: (p.currents, p.durations),
            protocol,
            (jnp.asarray(protocol.currents).at[2].multiply(amplitude),
             jnp.asarray(protocol.durations).at[0].set(duration)),
        )  # fmt: skip
        return jnp.sum(solver.solve_protocol(theta, t, p).voltage)

    x = (jnp.array([1.0, 1.0]), 1.0, 150.0)
    grads = jax.jit(jax.grad(total, argnums=(0, 1, 2)))(*x)
    f = jax.jit(total)
    for k, h in ((1, 1e-4), (2, 1e-3)):
        up, down = list(x), list(x)
        up[k], down[k] = x[k] + h, x[k] - h
        assert float(grads[k]) == pytest.approx(float(f(*up) - f(*down)) / (2 * h), rel=2e-4)
    e = jnp.array([1e-5, 0.0])
    fd = (f(x[0] + e, *x[1:]) - f(x[0] - e, *x[1:])) / 2e-5
    assert float(grads[0][0]) == pytest.approx(float(fd), rel=1e-4)
    # a batch of parameter sets is one vmapped program
    batch = jaxbatt.simulate("spm", {"k_i0": [0.5, 2.0]}, t=np.asarray(t), protocol=protocol)
    assert batch.voltage.shape == (2, 50) and np.all(np.isfinite(batch.voltage))


def test_a_protocol_short_of_the_last_time_by_round_off_reaches_it():
    """Twelve steps of "33.3333 seconds" end 0.4 ms before 400 s: the last requested time
    still counts as reached (within `END_SLACK`, 1 ms), with the end state's voltage; a
    time 1 s later is after the protocol's end (NaN, END_OF_PROTOCOL)."""
    from jaxbatt.solvers import Termination  # noqa: PLC0415
    from jaxbatt.solvers._protocol import END_SLACK  # noqa: PLC0415

    steps = ["Discharge at 2C for 33.3333 seconds"] * 12
    assert 400.0 - 12 * 33.3333 < END_SLACK
    close = jaxbatt.simulate("spm", {}, t=np.linspace(20.0, 400.0, 5), protocol=steps)
    assert bool(close.success) and np.all(np.isfinite(np.asarray(close.voltage)))
    late = jaxbatt.simulate("spm", {}, t=np.linspace(20.0, 401.0, 5), protocol=steps)
    assert int(late.termination) == Termination.END_OF_PROTOCOL
    assert np.isnan(np.asarray(late.voltage)[-1])
    np.testing.assert_allclose(np.asarray(late.voltage)[:-1], np.asarray(
        jaxbatt.simulate("spm", {}, t=np.linspace(20.0, 401.0, 5)[:-1], protocol=steps).voltage
    ), atol=1e-9)  # fmt: skip
