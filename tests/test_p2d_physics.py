"""The P2D's pointwise physics (jaxbatt.physics._p2d): laws, inverses, residuals."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxbatt._constants import FARADAY, GAS_CONSTANT
from jaxbatt.physics import (
    diffusion_potential_coefficient,
    effective_transport,
    electrode_charge_residual,
    electrolyte_charge_residual,
    electrolyte_current_boundary_residual,
    electrolyte_current_density,
    electrolyte_flux_boundary_residual,
    electrolyte_mass_balance_residual,
    electrolyte_potential_gradient,
    galvanostatic_fluxes,
    interface_continuity_residual,
    p2d_initial_state,
    p2d_kinetics_residual,
    reference_potential_residual,
    solid_charge_residual,
    solid_current_boundary_residual,
    solid_current_density,
    solid_potential_gradient,
    spm_kinetics_residuals,
    spm_potentials,
    volumetric_reaction_rate,
)

T = 303.15


def test_bruggeman_and_diffusion_potential_at_the_check_values(cell):
    el = cell.electrolyte
    c_e = 1200.0
    # SPEC check values: D_e = 1.35e-10, kappa = 0.973, t+ = 0.463, TDF = 2.87
    assert float(effective_transport(el.diffusivity(c_e, T), 0.4, el.bruggeman)) == pytest.approx(
        0.16 * 1.35e-10, rel=5e-3
    )
    coefficient = diffusion_potential_coefficient(
        el.transference_number(c_e, T), el.thermodynamic_factor(c_e, T), T
    )
    expected = 2 * GAS_CONSTANT * T / FARADAY * (1 - 0.463) * 2.87
    assert float(coefficient) == pytest.approx(expected, rel=3e-3)


def test_current_laws_and_their_inverses_agree():
    rng = np.random.default_rng(0)
    kappa, c_e, dc_dx, t_plus, tdf, i_e = rng.uniform(0.1, 2.0, size=(6, 20))
    c_e, dc_dx = 1000.0 * c_e, 1e6 * (dc_dx - 1.0)
    grad = electrolyte_potential_gradient(i_e, kappa, c_e, dc_dx, t_plus / 2, tdf, T)
    back = electrolyte_current_density(kappa, grad, c_e, dc_dx, t_plus / 2, tdf, T)
    np.testing.assert_allclose(back, i_e, rtol=1e-12)
    sigma = 6.0
    np.testing.assert_allclose(
        solid_current_density(sigma, solid_potential_gradient(i_e, sigma)), i_e, rtol=1e-14
    )
    # zero current: phi_e follows the diffusion potential, (2RT/F)(1-t+) TDF dln c_e
    zero = electrolyte_potential_gradient(0.0, kappa, c_e, dc_dx, t_plus / 2, tdf, T)
    np.testing.assert_allclose(
        zero, diffusion_potential_coefficient(t_plus / 2, tdf, T) * dc_dx / c_e, rtol=1e-14
    )


def test_charge_balances_on_a_manufactured_solution(cell):
    """Independent expectation (review finding: this test used to feed the residual its own
    formula). In the anode at uniform c_e, take phi_e(x) = -i x^2 / (2 kappa L) and
    phi_s(x) = -i (x - x^2 / (2L)) / sigma: by hand, i_e = i x / L and i_s = i (1 - x / L), so
    both charge balances hold exactly for the SPM's uniform flux j = i R_s / (3 eps_s F L)
    (computed by `galvanostatic_fluxes`), the collector and separator-face conditions hold,
    and the electrode's reaction current integrates to i. Any other j leaves a residual."""
    anode, i = cell.anode, cell.current_density(2.0)
    length, kappa, sigma, c_e = anode.thickness, 0.9, anode.solid_conductivity, 1200.0
    j, _ = galvanostatic_fluxes(cell, i)
    a_s = anode.specific_area

    def i_e(x):
        dphi_e = jax.grad(lambda y: -i * y**2 / (2 * kappa * length))(x)
        return electrolyte_current_density(kappa, dphi_e, c_e, 0.0, 0.4, 2.8, T)

    def i_s(x):
        dphi_s = jax.grad(lambda y: -i * (y - y**2 / (2 * length)) / sigma)(x)
        return solid_current_density(sigma, dphi_s)

    x = jnp.linspace(0.0, length, 9)
    di_e, di_s = jax.vmap(jax.grad(i_e))(x), jax.vmap(jax.grad(i_s))(x)
    scale = float(i / length)  # the size of each divergence [A/m^3]
    np.testing.assert_allclose(electrolyte_charge_residual(di_e, a_s, j), 0.0, atol=1e-12 * scale)
    np.testing.assert_allclose(solid_charge_residual(di_s, a_s, j), 0.0, atol=1e-12 * scale)
    np.testing.assert_allclose(
        electrolyte_charge_residual(di_e, a_s, 1.1 * j), -0.1 * scale, rtol=1e-10
    )
    np.testing.assert_allclose(di_e + di_s, 0.0, atol=1e-12 * scale)  # total current is uniform
    assert float(electrolyte_current_boundary_residual(i_e(0.0))) == 0.0
    assert abs(float(solid_current_boundary_residual(i_s(0.0), i))) < 1e-12 * float(i)
    assert abs(float(solid_current_boundary_residual(i_s(length), 0.0))) < 1e-12 * float(i)
    reaction = jnp.full_like(x, FARADAY * volumetric_reaction_rate(a_s, j))  # [A/m^3]
    integral = float(jnp.trapezoid(reaction, x))
    assert abs(float(electrode_charge_residual(integral, i, 1.0))) < 1e-12 * float(i)
    # the separator carries no reaction: its residual is the divergence itself
    assert float(electrolyte_charge_residual(di_e[0], 0.0, j)) == pytest.approx(scale)


def test_mass_balance_residual_on_a_manufactured_solution(cell):
    """c_e(x, t) = c0 (1 + e^{-t} cos(pi x / L)) with constant D: the residual vanishes with
    the source that the equation implies, and not with any other."""
    c0, length, d_eff, eps, t_plus = 1200.0, 1e-4, 2e-11, 0.4, 0.4

    def c_e(x, t):
        return c0 * (1 + 0.1 * jnp.exp(-t) * jnp.cos(jnp.pi * x / length))

    x, t = jnp.linspace(0.0, length, 7), 0.3
    dc_dt = jax.vmap(jax.grad(c_e, 1), (0, None))(x, t)
    dc_dx = jax.vmap(jax.grad(c_e, 0), (0, None))(x, t)
    d2c = jax.vmap(jax.grad(jax.grad(c_e, 0), 0), (0, None))(x, t)
    a_s = cell.anode.specific_area
    j = (eps * dc_dt - d_eff * d2c) / ((1 - t_plus) * a_s)
    res = electrolyte_mass_balance_residual(dc_dt, dc_dx, d2c, eps, d_eff, 0.0, t_plus, a_s, j)
    np.testing.assert_allclose(res, 0.0, atol=1e-12 * float(jnp.max(jnp.abs(eps * dc_dt))))
    res = electrolyte_mass_balance_residual(dc_dt, dc_dx, d2c, eps, d_eff, 0.0, t_plus, a_s, 2 * j)
    assert float(jnp.max(jnp.abs(res))) > 1e-3
    # no flux at the collectors (x = 0, L) for this profile
    np.testing.assert_allclose(
        electrolyte_flux_boundary_residual(d_eff, dc_dx[jnp.array([0, -1])]), 0.0, atol=1e-18
    )


def test_boundary_and_interface_residuals():
    assert float(electrolyte_current_boundary_residual(0.0)) == 0.0
    assert float(solid_current_boundary_residual(27.0, 27.0)) == 0.0
    assert float(solid_current_boundary_residual(0.0, 0.0)) == 0.0
    assert float(interface_continuity_residual(1.5, 1.5)) == 0.0
    assert float(interface_continuity_residual(1.5, 1.0)) == -0.5
    assert float(reference_potential_residual(0.0)) == 0.0
    assert float(electrode_charge_residual(27.0, 27.0, 1.0)) == 0.0
    assert float(electrode_charge_residual(-27.0, 27.0, -1.0)) == 0.0


@pytest.mark.parametrize("kinetics", ["butler_volmer", "linear"])
def test_p2d_kinetics_reduces_to_the_spm_at_uniform_state(cell, kinetics):
    """At the uniform initial state with uniform potentials, the pointwise P2D kinetics
    residual is the SPM's, electrode by electrode."""
    i = cell.current_density(2.0)
    c_e, c_a, c_c = p2d_initial_state(cell)
    phi_e, phi_s_c = spm_potentials(cell, c_a, c_c, i, kinetics)
    j_a, j_c = galvanostatic_fluxes(cell, i)
    r_a = p2d_kinetics_residual(cell.anode, c_e, c_a, 0.0, phi_e, j_a, T, kinetics)
    r_c = p2d_kinetics_residual(cell.cathode, c_e, c_c, phi_s_c, phi_e, j_c, T, kinetics)
    spm_a, spm_c = spm_kinetics_residuals(cell, phi_e, phi_s_c, c_a, c_c, i, kinetics)
    np.testing.assert_allclose([r_a, r_c], [spm_a, spm_c], atol=1e-20)
    assert abs(float(r_a)) < 1e-12 * float(j_a) and abs(float(r_c)) < 1e-12 * float(j_a)


def test_initial_state_is_the_spec_cell(cell):
    c_e, c_a, c_c = p2d_initial_state(cell)
    assert float(c_e) == 1200.0
    assert float(c_a) == pytest.approx(0.91 * 30530.0)
    assert float(c_c) == pytest.approx(0.39 * 49600.0)


def test_residuals_jit_vmap_and_grad():
    f = jax.jit(jax.vmap(electrolyte_mass_balance_residual))
    args = [jnp.linspace(0.1, 1.0, 5)] * 9
    assert f(*args).shape == (5,)
    g = jax.grad(lambda k: electrolyte_current_density(k, 1.0, 1200.0, 10.0, 0.4, 2.8, T))(1.0)
    assert float(g) == pytest.approx(
        float(electrolyte_current_density(1.0, 1.0, 1200.0, 10.0, 0.4, 2.8, T))
    )
