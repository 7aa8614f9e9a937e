import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxbatt import InputError
from jaxbatt.physics import (
    butler_volmer_flux,
    galvanostatic_fluxes,
    initial_potentials,
    interfacial_flux,
    kinetics_residual,
    linear_flux,
    overpotential_for_flux,
    spherical_diffusion_residual,
    spm_kinetics_residuals,
    surface_flux_residual,
    symmetry_residual,
)

T = 303.15


@pytest.mark.parametrize("kinetics", ["butler_volmer", "linear"])
def test_overpotential_inverts_the_kinetics(kinetics):
    i0 = jnp.array([0.5, 6.46, 20.0])
    j = jnp.array([-2e-5, 1e-6, 3e-5])
    eta = overpotential_for_flux(j, i0, T, kinetics)
    np.testing.assert_allclose(interfacial_flux(i0, eta, T, 0.5, kinetics), j, rtol=1e-12)
    np.testing.assert_allclose(kinetics_residual(j, i0, eta, T, 0.5, kinetics), 0.0, atol=1e-18)


def test_linear_kinetics_is_the_small_overpotential_limit():
    eta = 1e-5
    np.testing.assert_allclose(butler_volmer_flux(6.0, eta, T), linear_flux(6.0, eta, T), rtol=1e-8)
    assert float(butler_volmer_flux(6.0, 0.1, T)) > 1.5 * float(linear_flux(6.0, 0.1, T))


def test_unknown_kinetics_is_rejected():
    with pytest.raises(InputError, match="unknown kinetics 'tafel'"):
        interfacial_flux(1.0, 0.01, T, kinetics="tafel")


def test_galvanostatic_fluxes_carry_the_applied_current(cell):
    i = cell.current_density(2.0)
    assert float(i) == pytest.approx(27.0)
    j_a, j_c = galvanostatic_fluxes(cell, i)
    assert float(j_a) > 0 > float(j_c)
    # a_s F j L integrated over each electrode equals the applied current density.
    for e, j, sign in [(cell.anode, j_a, 1.0), (cell.cathode, j_c, -1.0)]:
        assert float(sign * e.specific_area * 96485.3321 * j * e.thickness) == pytest.approx(27.0)


@pytest.mark.parametrize("kinetics", ["butler_volmer", "linear"])
def test_initial_potentials_satisfy_the_kinetics(cell, kinetics):
    i = cell.current_density(2.0)
    phi_e, phi_s = initial_potentials(cell, i, kinetics)
    r_a, r_c = spm_kinetics_residuals(
        cell, phi_e, phi_s, cell.anode.initial_concentration, cell.cathode.initial_concentration,
        i, kinetics,
    )  # fmt: skip
    assert abs(float(r_a)) < 1e-18 and abs(float(r_c)) < 1e-18
    assert 4.0 < float(phi_s) < 4.102652  # below the OCV on discharge


def test_initial_potentials_depend_on_k_i0(cell, space):
    i = cell.current_density(2.0)
    v1 = initial_potentials(space.apply(cell, jnp.array([1.0, 1.0])), i, "butler_volmer")[1]
    v4 = initial_potentials(space.apply(cell, jnp.array([4.0, 1.0])), i, "butler_volmer")[1]
    assert float(v4) > float(v1)


def test_spherical_residual_vanishes_on_an_exact_solution():
    # c = 6 D t + r^2 solves dc/dt = D (c'' + 2c'/r) for constant D.
    d, t = 2.0, 0.7
    r = jnp.linspace(0.0, 1.0, 11)

    def c(t, r):
        return 6 * d * t + r**2

    dc_dt = jax.vmap(jax.grad(c, 0), (None, 0))(t, r)
    dc_dr = jax.vmap(jax.grad(c, 1), (None, 0))(t, r)
    d2c = jax.vmap(jax.grad(jax.grad(c, 1), 1), (None, 0))(t, r)
    res = spherical_diffusion_residual(c(t, r), dc_dt, dc_dr, d2c, r, d, 0.0)
    np.testing.assert_allclose(res, 0.0, atol=1e-12)
    # a concentration-dependent D adds D'(c) c'^2
    res = spherical_diffusion_residual(c(t, r), dc_dt, dc_dr, d2c, r, d, 0.5)
    np.testing.assert_allclose(res, -0.5 * dc_dr**2, atol=1e-12)
    assert float(symmetry_residual(dc_dr[0])) == 0.0
    assert float(surface_flux_residual(d, dc_dr[-1], -2 * d)) == pytest.approx(0.0)
