import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxbatt import InputError
from jaxbatt._constants import FARADAY, GAS_CONSTANT
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


def _bisect_overpotential(y, alpha, f):
    # independent reference: bisection on exp((1-a) f eta) - exp(-a f eta) = y in NumPy
    lo, hi = np.full_like(y, -5.0), np.full_like(y, 5.0)
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        below = np.exp((1 - alpha) * f * mid) - np.exp(-alpha * f * mid) < y
        lo, hi = np.where(below, mid, lo), np.where(below, hi, mid)
    return 0.5 * (lo + hi)


@pytest.mark.parametrize("alpha", [0.2, 0.35, 0.5, 0.65, 0.8])
def test_butler_volmer_inverse_for_any_transfer_coefficient(alpha):
    # the solvers' inverse is exact for the alpha the PINN's residual uses (review finding)
    f = FARADAY / (GAS_CONSTANT * T)
    y = np.concatenate([-np.logspace(-8, 5, 60), [0.0], np.logspace(-8, 5, 60)])
    i0 = 2.0
    eta = overpotential_for_flux(y * i0 / FARADAY, i0, T, "butler_volmer", alpha)
    np.testing.assert_allclose(eta, _bisect_overpotential(y, alpha, f), rtol=0, atol=2e-15)
    # its derivative is the implicit one: d eta / d j = 1 / (d j / d eta)
    j0, h = 3e-5, 1e-10
    grad = jax.grad(lambda j: overpotential_for_flux(j, i0, T, "butler_volmer", alpha))(j0)
    fd = (overpotential_for_flux(j0 + h, i0, T, "butler_volmer", alpha)
          - overpotential_for_flux(j0 - h, i0, T, "butler_volmer", alpha)) / (2 * h)  # fmt: skip
    np.testing.assert_allclose(grad, fd, rtol=1e-6)
    e = overpotential_for_flux(j0, i0, T, "butler_volmer", alpha)
    slope = jax.grad(lambda eta: butler_volmer_flux(i0, eta, T, alpha))(e)
    np.testing.assert_allclose(grad, 1.0 / slope, rtol=1e-10)


def test_spm_potentials_use_the_cells_transfer_coefficient(cell):
    import equinox as eqx

    i = cell.current_density(2.0)
    skewed = eqx.tree_at(lambda c: c.anode.charge_transfer_coefficient, cell, 0.3)
    phi_e, phi_s = initial_potentials(skewed, i, "butler_volmer")
    r_a, r_c = spm_kinetics_residuals(
        skewed, phi_e, phi_s, skewed.anode.initial_concentration,
        skewed.cathode.initial_concentration, i, "butler_volmer",
    )  # fmt: skip
    assert abs(float(r_a)) < 1e-18 and abs(float(r_c)) < 1e-18
    assert abs(float(phi_e - initial_potentials(cell, i, "butler_volmer")[0])) > 1e-4


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
