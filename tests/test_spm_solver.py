"""Verification of the numerical SPM (issue 2, item 6) and its jit/vmap/grad contract."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxbatt
from jaxbatt import InputError, ParameterError, SolverError
from jaxbatt._simulate import make_solver
from jaxbatt.physics import (
    galvanostatic_fluxes,
    spherical_diffusion_residual,
    spm_kinetics_residuals,
    surface_flux_residual,
    symmetry_residual,
)
from jaxbatt.solvers._particle import particle_average

THETA = np.array([1.7, 6.3])


@functools.cache
def _jitted(n_r, **options):
    """The solver on `n_r` shells and its jitted solve, made once per setting: the tests that
    solve the same setting (both electrodes' residual tests) share one compiled program (the
    SPM's tolerances and shell refinement are static: each setting compiles its own)."""
    solver = make_solver("spm", n_r_anode=n_r, n_r_cathode=n_r, **options)
    return solver, jax.jit(solver.solve)


def _solve(n_r, t, theta=THETA, **options):
    solver, solve = _jitted(n_r, **options)
    return solver, solve(jnp.asarray(theta), t, 2.0)


def _interior_residual_norm(n_r, electrode_name):
    """RMS of the pointwise diffusion residual on the numerical solution, with derivatives
    from centred differences on a grid whose dr and dt halve together."""
    dt = 40.0 / n_r
    t = np.arange(200.0, 600.0 + dt / 2, dt)
    # uniform shells: the differences below assume them
    solver, sol = _solve(n_r, t, rtol=1e-11, atol=1e-13, max_steps=100_000, radial_refinement=1.0)
    cell = solver.space.apply(solver.cell, THETA)
    electrode = getattr(cell, electrode_name)
    c = np.asarray(getattr(sol, f"c_s_{electrode_name}"))
    r = np.asarray(getattr(sol, f"r_{electrode_name}"))
    dr = r[1] - r[0]
    dc_dt = (c[2:, 1:-1] - c[:-2, 1:-1]) / (2 * dt)
    cc = c[1:-1]
    dc_dr = (cc[:, 2:] - cc[:, :-2]) / (2 * dr)
    d2c = (cc[:, 2:] - 2 * cc[:, 1:-1] + cc[:, :-2]) / dr**2
    mid = cc[:, 1:-1]
    d = electrode.solid_diffusivity(mid, cell.temperature)
    dd = jax.vmap(jax.vmap(jax.grad(electrode.solid_diffusivity), (0, None)), (0, None))(
        jnp.asarray(mid), cell.temperature
    )
    res = spherical_diffusion_residual(mid, dc_dt, dc_dr, d2c, r[1:-1], d, dd)
    # compare on the same physical sub-interval of radii for every mesh
    keep = (r[1:-1] > 0.25 * r[-1]) & (r[1:-1] < 0.75 * r[-1])
    return float(jnp.sqrt(jnp.mean(res[:, keep] ** 2)))


@pytest.mark.parametrize("electrode_name", ["anode", "cathode"])
def test_diffusion_residual_falls_at_second_order(electrode_name):
    norms = [_interior_residual_norm(n, electrode_name) for n in (10, 20, 40)]
    orders = np.log2(np.array(norms[:-1]) / np.array(norms[1:]))
    assert np.all(orders > 1.7), (norms, orders)


def test_boundary_residuals_converge():
    t = np.linspace(0.0, 1350.0, 28)
    out = []
    for n in (10, 20, 40):
        solver, sol = _solve(n, t, rtol=1e-10, atol=1e-12, max_steps=100_000, radial_refinement=1.0)
        cell = solver.space.apply(solver.cell, THETA)
        _, j_c = galvanostatic_fluxes(cell, cell.current_density(2.0))
        c, r = np.asarray(sol.c_s_cathode)[1:], np.asarray(sol.r_cathode)
        dr = r[1] - r[0]
        # slope at r = R_s from the surface value and the two outer shells (second order)
        cs, c1, c2 = np.asarray(sol.c_surf_cathode)[1:], c[:, -1], c[:, -2]
        slope = (8 * cs - 9 * c1 + c2) / (3 * dr)
        d_s = cell.cathode.solid_diffusivity(cs, cell.temperature)
        flux_res = surface_flux_residual(d_s, slope, j_c)
        # slope at r = 0 extrapolated from the first two face gradients (second order)
        g1, g2 = (c[:, 1] - c[:, 0]) / dr, (c[:, 2] - c[:, 1]) / dr
        sym_res = symmetry_residual(2.0 * g1 - g2)
        out.append((float(jnp.max(jnp.abs(flux_res))) / abs(float(j_c)), float(np.max(np.abs(sym_res)))))
    flux, sym = np.array(out).T
    assert np.all(flux < 1e-3) and np.all(np.diff(flux) < 0), flux
    assert np.all(np.diff(np.log2(sym)) < -1.5), sym


def test_kinetics_residuals_vanish_on_the_solution():
    t = np.linspace(0.0, 1350.0, 28)
    solver, sol = _solve(30, t)
    cell = solver.space.apply(solver.cell, THETA)
    r_a, r_c = spm_kinetics_residuals(
        cell, sol.phi_e, sol.phi_s_cathode, sol.c_surf_anode, sol.c_surf_cathode,
        cell.current_density(2.0), "butler_volmer",
    )  # fmt: skip
    j_a, _ = galvanostatic_fluxes(cell, cell.current_density(2.0))
    assert float(jnp.max(jnp.abs(r_a))) < 1e-10 * float(j_a)
    assert float(jnp.max(jnp.abs(r_c))) < 1e-10 * float(j_a)


def test_voltage_converges_under_mesh_refinement():
    t = np.linspace(10.0, 1350.0, 135)
    v = {n: np.asarray(_solve(n, t, rtol=1e-9, atol=1e-11)[1].voltage) for n in (8, 16, 32, 64)}
    errors = [np.max(np.abs(v[n] - v[64])) for n in (8, 16, 32)]
    assert errors[0] > errors[1] > errors[2]
    assert errors[2] < 5e-5  # 32 shells: within 0.05 mV of 64 shells
    assert np.log2(errors[0] / errors[1]) > 1.5


def test_voltage_converges_as_tolerance_tightens():
    t = np.linspace(10.0, 1350.0, 135)
    v = [np.asarray(_solve(10, t, rtol=r, atol=r * 1e-2)[1].voltage) for r in (1e-4, 1e-6, 1e-10)]
    e1, e2 = np.max(np.abs(v[0] - v[2])), np.max(np.abs(v[1] - v[2]))
    assert e2 < e1 and e2 < 1e-5


def test_lithium_is_conserved(cell):
    t = np.linspace(0.0, 1350.0, 136)
    solver, sol = _solve(30, t)
    a, c = cell.anode, cell.cathode
    inventory = a.active_volume_fraction * a.thickness * particle_average(
        sol.c_s_anode, a.particle_radius
    ) + c.active_volume_fraction * c.thickness * particle_average(sol.c_s_cathode, c.particle_radius)
    rel = np.abs(np.asarray(inventory) / float(inventory[0]) - 1.0)
    assert rel.max() < 1e-10
    # and each electrode loses/gains exactly I t / F
    moles_out = a.active_volume_fraction * a.thickness * (
        a.initial_concentration - particle_average(sol.c_s_anode, a.particle_radius)
    )
    np.testing.assert_allclose(moles_out, 27.0 * t / 96485.3321, rtol=1e-8, atol=1e-12)


def test_simulate_api_and_kinetics_option(times):
    sol = jaxbatt.simulate("spm", {"k_i0": 1.7, "k_Ds": 6.3}, t=times, c_rate=2.0)
    assert sol.voltage.shape == times.shape
    v = np.asarray(sol.voltage)
    assert 4.0 < v[0] < 4.102652 and 3.4 < v[-1] < v[0] and np.all(np.diff(v) < 0)
    lin = jaxbatt.simulate("spm", {"k_i0": 1.7, "k_Ds": 6.3}, t=times, kinetics="linear")
    diff = np.max(np.abs(np.asarray(lin.voltage) - v))
    assert 0 < diff < 1e-3


def test_simulate_vmaps_over_parameter_batches(times):
    k_i0 = np.array([0.5, 1.7, 4.0])
    batch = jaxbatt.simulate("spm", {"k_i0": k_i0, "k_Ds": 6.3}, t=times)
    assert batch.voltage.shape == (3,) + times.shape
    single = jaxbatt.simulate("spm", {"k_i0": 4.0, "k_Ds": 6.3}, t=times)
    np.testing.assert_allclose(batch.voltage[2], single.voltage, atol=1e-9)
    assert np.all(np.diff(np.asarray(batch.voltage)[:, 50]) > 0)  # faster kinetics, higher V


def test_gradients_with_respect_to_parameters_match_finite_differences():
    t = np.linspace(0.0, 1350.0, 28)
    solver = make_solver("spm", n_r_anode=15, n_r_cathode=15, rtol=1e-10, atol=1e-12)

    def mean_voltage(theta):
        return jnp.mean(solver.solve(theta, t, 2.0).voltage)

    theta = jnp.asarray(THETA)
    grad = jax.jit(jax.grad(mean_voltage))(theta)
    f = jax.jit(mean_voltage)
    for k, h in enumerate((1e-4, 1e-3)):
        e = jnp.zeros(2).at[k].set(h)
        fd = (f(theta + e) - f(theta - e)) / (2 * h)
        assert float(grad[k]) == pytest.approx(float(fd), rel=1e-4, abs=1e-9)
    assert float(grad[0]) > 0 and float(grad[1]) > 0


def test_bad_input_gives_clear_errors(times):
    with pytest.raises(InputError, match="unknown model 'dfn'"):
        jaxbatt.simulate("dfn", {}, t=times)
    with pytest.raises(ParameterError, match="unknown parameter"):
        jaxbatt.simulate("spm", {"k_io": 1.0}, t=times)
    with pytest.raises(ParameterError, match=r"'k_Ds' = 0.5 is outside its range \[1.0, 10.0\]"):
        jaxbatt.simulate("spm", {"k_Ds": 0.5}, t=times)
    with pytest.raises(InputError, match=r"t\[3\] is not finite"):
        jaxbatt.simulate("spm", {}, t=np.array([0.0, 1.0, 2.0, np.nan]))
    with pytest.raises(InputError, match="strictly increasing"):
        jaxbatt.simulate("spm", {}, t=np.array([0.0, 2.0, 1.0]))
    with pytest.raises(InputError, match="t >= 0"):
        jaxbatt.simulate("spm", {}, t=np.array([-1.0, 2.0]))
    with pytest.raises(InputError, match="c_rate must be a finite positive"):
        jaxbatt.simulate("spm", {}, t=times, c_rate=-1.0)
    with pytest.raises(InputError, match="unknown kinetics"):
        jaxbatt.simulate("spm", {}, t=times, kinetics="tafel")
    with pytest.raises(InputError, match="radial_refinement must be a number >= 1"):
        jaxbatt.simulate("spm", {}, t=times, radial_refinement=0.5)
    with pytest.raises(InputError, match="n_r_cathode must be an integer >= 2"):
        jaxbatt.simulate("spm", {}, t=times, n_r_cathode=1)


def test_step_limit_raises_solver_error(times):
    with pytest.raises(SolverError, match="max_steps"):
        jaxbatt.simulate("spm", {}, t=times, max_steps=5)


def test_fast_defaults_agree_with_the_reference_settings():
    """The defaults (18 surface-refined shells, Kvaerno3, rtol 1e-4) against
    SPM_REFERENCE_SETTINGS (30 uniform shells, Kvaerno4, rtol 1e-6) over the box's corners at
    2C: measured max 0.090 mV for t >= 10 s and 0.252 mV at t = 0.25-4 s (the previous
    defaults, 15 uniform shells: 0.137 and 1.15 mV)."""
    from jaxbatt.solvers import SPM_REFERENCE_SETTINGS  # noqa: PLC0415

    params = {"k_i0": np.array([0.5, 4.0, 0.5, 4.0]), "k_Ds": np.array([1.0, 1.0, 10.0, 10.0])}
    t = np.concatenate([[0.25, 1.0, 4.0], np.linspace(10.0, 1350.0, 68)])
    fast = np.asarray(jaxbatt.simulate("spm", params, t=t).voltage)
    ref = np.asarray(jaxbatt.simulate("spm", params, t=t, **SPM_REFERENCE_SETTINGS).voltage)
    err = 1e3 * np.abs(fast - ref)
    print(f"max |dV| t >= 10 s: {err[:, 3:].max():.3f} mV; t < 10 s: {err[:, :3].max():.3f} mV")
    assert err[:, 3:].max() < 0.11
    assert err[:, :3].max() < 0.3


def test_surface_refined_mesh_and_structured_newton_solve():
    """The default mesh (18 shells refined towards the surface) is closer to a fine solution
    (64 uniform shells) than 18 uniform shells, in the first seconds and after; and the
    structured Newton solve (`CondensedLU`) gives the dense solve's voltage to round-off."""
    t = np.concatenate([[0.25, 1.0, 4.0], np.linspace(10.0, 1350.0, 68)])
    fine = np.asarray(_solve(64, t, rtol=1e-9, atol=1e-11)[1].voltage)
    tight = dict(rtol=1e-9, atol=1e-11)
    refined = np.asarray(_solve(18, t, **tight)[1].voltage)
    uniform = np.asarray(_solve(18, t, radial_refinement=1.0, **tight)[1].voltage)
    err_refined, err_uniform = 1e3 * np.abs(refined - fine), 1e3 * np.abs(uniform - fine)
    print(f"refined {err_refined[:3].max():.4f} / {err_refined[3:].max():.4f} mV, uniform "
          f"{err_uniform[:3].max():.4f} / {err_uniform[3:].max():.4f} mV (t < 10 s / t >= 10 s)")
    assert err_refined[:3].max() < 0.2 * err_uniform[:3].max()  # measured 0.08x
    assert err_refined[3:].max() < 0.4 * err_uniform[3:].max()  # measured 0.29x
    structured = np.asarray(_solve(18, t)[1].voltage)
    dense = np.asarray(_solve(18, t, structured_solve=False)[1].voltage)
    np.testing.assert_allclose(structured, dense, rtol=0, atol=1e-10)
