"""Pseudo-two-dimensional (Doyle-Fuller-Newman) model, as pointwise residuals and laws.

The cell is x in [0, L_a + L_sep + L_c]: anode, separator, cathode. At every x of each
electrode sits a spherical particle (`jaxbatt.physics._particle`) whose pore-wall flux j
[mol/(m^2 s), positive out of the particle] obeys the same kinetics as the SPM
(`jaxbatt.physics._kinetics`), now with the local electrolyte concentration and potentials.

Equations (i = I/A > 0 on discharge; i_e, i_s are current densities in +x):

- electrolyte mass balance  eps_e dc_e/dt = d/dx(D_e,eff dc_e/dx) + (1 - t+) a_s j;
- electrolyte charge        di_e/dx = F a_s j, with the concentrated-solution current
  i_e = -kappa_eff (dphi_e/dx - (2RT/F)(1 - t+) TDF dln(c_e)/dx);
- solid charge              di_s/dx = -F a_s j, with Ohm's law i_s = -sigma dphi_s/dx;
- a_s = 3 eps_s / R_s (`Electrode.specific_area`); effective electrolyte properties eps_e^b x bulk (Bruggeman);
- boundary conditions: dc_e/dx = 0 and i_e = 0 at both current collectors, i_s = i there
  and i_s = 0 at the separator faces, phi_s = 0 at x = 0 (the reference); c_e, its flux,
  phi_e and i_e are continuous across the electrode/separator interfaces;
- terminal voltage V = phi_s(x = L) - phi_s(x = 0).

Every function is pointwise and pure (jit/vmap/grad-compatible); the numerical P2D solver,
the verification tests and the PINN losses call these.
"""

import jax.numpy as jnp

from .._constants import FARADAY, GAS_CONSTANT
from ..cells import Cell, Electrode
from ._kinetics import kinetics_residual, overpotential


def effective_transport(bulk, volume_fraction, bruggeman):
    """Bruggeman-corrected transport property eps_e^b x bulk (same unit as `bulk`)."""
    return volume_fraction**bruggeman * bulk


def volumetric_reaction_rate(specific_area, pore_wall_flux):
    """Molar reaction rate per electrode volume a_s j [mol/(m^3 s)]."""
    return specific_area * pore_wall_flux


def diffusion_potential_coefficient(transference_number, thermodynamic_factor, temperature):
    """(2RT/F)(1 - t+)(1 + dln f/dln c_e) [V]: phi_e's response to dln(c_e) at zero current."""
    return (
        2.0 * GAS_CONSTANT * temperature / FARADAY
        * (1.0 - transference_number) * thermodynamic_factor
    )  # fmt: skip


def electrolyte_current_density(
    kappa_eff, dphi_e_dx, c_e, dc_e_dx, transference_number, thermodynamic_factor, temperature
):
    """Concentrated-solution electrolyte current
    i_e = -kappa_eff (dphi_e/dx - (2RT/F)(1 - t+) TDF (dc_e/dx) / c_e) [A/m^2]."""
    coefficient = diffusion_potential_coefficient(
        transference_number, thermodynamic_factor, temperature
    )
    return -kappa_eff * (dphi_e_dx - coefficient * dc_e_dx / c_e)


def electrolyte_potential_gradient(
    i_e, kappa_eff, c_e, dc_e_dx, transference_number, thermodynamic_factor, temperature
):
    """dphi_e/dx [V/m] that carries electrolyte current `i_e`: the inverse of
    `electrolyte_current_density`."""
    coefficient = diffusion_potential_coefficient(
        transference_number, thermodynamic_factor, temperature
    )
    return -i_e / kappa_eff + coefficient * dc_e_dx / c_e


def solid_current_density(conductivity, dphi_s_dx):
    """Ohm's law in the solid, i_s = -sigma dphi_s/dx [A/m^2] (sigma already effective)."""
    return -conductivity * dphi_s_dx


def solid_potential_gradient(i_s, conductivity):
    """dphi_s/dx = -i_s / sigma [V/m]: the inverse of `solid_current_density`."""
    return -i_s / conductivity


def electrolyte_reaction_source(transference_number, specific_area, pore_wall_flux):
    """Lithium the reaction puts into the electrolyte, (1 - t+) a_s j [mol/(m^3 s)]."""
    return (1.0 - transference_number) * volumetric_reaction_rate(specific_area, pore_wall_flux)


def electrolyte_mass_balance_residual(
    dc_e_dt,
    dc_e_dx,
    d2c_e_dx2,
    volume_fraction,
    diffusivity_eff,
    ddiffusivity_eff_dc,
    transference_number,
    specific_area,
    pore_wall_flux,
):
    """Residual of eps_e dc_e/dt = d/dx(D_eff(c_e) dc_e/dx) + (1 - t+) a_s j [mol/(m^3 s)].

    The divergence is expanded as D_eff c_e'' + D_eff'(c_e) c_e'^2; in the separator pass
    ``specific_area = 0``.
    """
    divergence = diffusivity_eff * d2c_e_dx2 + ddiffusivity_eff_dc * dc_e_dx**2
    source = electrolyte_reaction_source(transference_number, specific_area, pore_wall_flux)
    return volume_fraction * dc_e_dt - divergence - source


def electrolyte_charge_residual(di_e_dx, specific_area, pore_wall_flux):
    """Residual of di_e/dx = F a_s j [A/m^3] (0 = di_e/dx in the separator, a_s = 0)."""
    return di_e_dx - FARADAY * volumetric_reaction_rate(specific_area, pore_wall_flux)


def solid_charge_residual(di_s_dx, specific_area, pore_wall_flux):
    """Residual of di_s/dx = -F a_s j [A/m^3]."""
    return di_s_dx + FARADAY * volumetric_reaction_rate(specific_area, pore_wall_flux)


def p2d_kinetics_residual(
    electrode: Electrode, c_e, c_s_surf, phi_s, phi_e, pore_wall_flux, temperature, kinetics
):
    """Residual j - j_kinetics(eta) [mol/(m^2 s)] at one point of an electrode, with
    eta = phi_s - phi_e - U(c_s,surf) and i0(c_e, c_s,surf): the SPM's kinetics, locally."""
    eta = overpotential(phi_s, phi_e, electrode.open_circuit_potential(c_s_surf))
    i0 = electrode.exchange_current_density(c_e, c_s_surf, temperature)
    return kinetics_residual(
        pore_wall_flux, i0, eta, temperature, electrode.charge_transfer_coefficient, kinetics
    )


def electrolyte_flux_boundary_residual(diffusivity_eff, dc_e_dx):
    """Residual of the no-flux condition D_eff dc_e/dx = 0 at a current collector
    [mol/(m^2 s)]."""
    return diffusivity_eff * dc_e_dx


def electrolyte_current_boundary_residual(i_e):
    """Residual of i_e = 0 at a current collector [A/m^2]."""
    return i_e


def solid_current_boundary_residual(i_s, boundary_current_density):
    """Residual of i_s = `boundary_current_density` [A/m^2]: the applied i at a current
    collector, 0 at an electrode's separator face."""
    return i_s - boundary_current_density


def interface_continuity_residual(left, right):
    """Jump right - left of a quantity across an electrode/separator interface (c_e, the
    electrolyte molar flux, phi_e or i_e); zero when it is continuous."""
    return right - left


def reference_potential_residual(phi_s_anode_at_collector):
    """Residual of phi_s = 0 at x = 0 [V] (the anode collector is the reference)."""
    return phi_s_anode_at_collector


def electrode_charge_residual(integral_reaction_current, current_density, sign):
    """Residual of int_electrode F a_s j dx = sign * i [A/m^2] (charge conservation:
    `sign` is +1 for the anode, -1 for the cathode, i > 0 on discharge)."""
    return integral_reaction_current - sign * current_density


def initial_electrolyte_concentration(cell: Cell):
    """Uniform initial electrolyte concentration c_e0 [mol/m^3]."""
    return jnp.asarray(cell.electrolyte.initial_concentration)


def p2d_initial_state(cell: Cell):
    """(c_e0, c_s,a0, c_s,c0) [mol/m^3]: the P2D's uniform initial concentrations. The
    initial potentials are not free: they follow from these through the algebraic
    equations (see `jaxbatt.solvers.P2DSolver`)."""
    return (
        initial_electrolyte_concentration(cell),
        jnp.asarray(cell.anode.initial_concentration),
        jnp.asarray(cell.cathode.initial_concentration),
    )
