"""Single-particle model: galvanostatic fluxes, potentials and terminal voltage.

Conventions: current density i = I/A > 0 on discharge; the anode solid potential is the
reference (phi_s,a = 0); the electrolyte potential phi_e is uniform; V = phi_s,c.
"""

import jax.numpy as jnp

from .._constants import FARADAY
from ..cells import Cell, Electrode
from ._kinetics import interfacial_flux, overpotential, overpotential_for_flux


def pore_wall_flux(current_density, electrode: Electrode, sign):
    """Uniform pore-wall flux sign * i R_s / (3 eps_s F L) [mol/(m^2 s)].

    `sign` is +1 for the anode and -1 for the cathode (positive flux leaves the particle).
    """
    return (
        sign * current_density * electrode.particle_radius
        / (3.0 * electrode.active_volume_fraction * FARADAY * electrode.thickness)
    )  # fmt: skip


def galvanostatic_fluxes(cell: Cell, current_density):
    """(j_a, j_c): the SPM's pore-wall fluxes under applied current density [A/m^2]."""
    return (
        pore_wall_flux(current_density, cell.anode, 1.0),
        pore_wall_flux(current_density, cell.cathode, -1.0),
    )


def exchange_current_densities(cell: Cell, c_surf_anode, c_surf_cathode, c_e=None):
    """(i0_a, i0_c) [A/m^2] at the given surface concentrations and electrolyte c_e."""
    c_e = cell.electrolyte.initial_concentration if c_e is None else c_e
    t = cell.temperature
    return (
        cell.anode.exchange_current_density(c_e, c_surf_anode, t),
        cell.cathode.exchange_current_density(c_e, c_surf_cathode, t),
    )


def spm_potentials(cell: Cell, c_surf_anode, c_surf_cathode, current_density, kinetics):
    """(phi_e, phi_s,c) [V] that satisfy both electrodes' kinetics at the given surface
    concentrations [mol/m^3] and current density [A/m^2]."""
    j_a, j_c = galvanostatic_fluxes(cell, current_density)
    i0_a, i0_c = exchange_current_densities(cell, c_surf_anode, c_surf_cathode)
    t = cell.temperature
    eta_a = overpotential_for_flux(j_a, i0_a, t, kinetics, cell.anode.charge_transfer_coefficient)
    eta_c = overpotential_for_flux(
        j_c, i0_c, t, kinetics, cell.cathode.charge_transfer_coefficient
    )
    # eta_a = 0 - phi_e - U_a and eta_c = phi_s,c - phi_e - U_c.
    phi_e = -cell.anode.open_circuit_potential(c_surf_anode) - eta_a
    phi_s_cathode = phi_e + cell.cathode.open_circuit_potential(c_surf_cathode) + eta_c
    return phi_e, phi_s_cathode


def initial_potentials(cell: Cell, current_density, kinetics):
    """(phi_e(0), phi_s,c(0)) [V]: the kinetics at the uniform initial concentrations."""
    return spm_potentials(
        cell,
        jnp.asarray(cell.anode.initial_concentration),
        jnp.asarray(cell.cathode.initial_concentration),
        current_density,
        kinetics,
    )


def spm_kinetics_residuals(
    cell: Cell, phi_e, phi_s_cathode, c_surf_anode, c_surf_cathode, current_density, kinetics
):
    """(r_a, r_c): kinetics residuals j_galvanostatic - j_kinetics(eta) of both electrodes
    [mol/(m^2 s)], for potentials and surface concentrations given independently (as a
    PINN predicts them)."""
    j_a, j_c = galvanostatic_fluxes(cell, current_density)
    i0_a, i0_c = exchange_current_densities(cell, c_surf_anode, c_surf_cathode)
    t = cell.temperature
    eta_a = overpotential(0.0, phi_e, cell.anode.open_circuit_potential(c_surf_anode))
    eta_c = overpotential(
        phi_s_cathode, phi_e, cell.cathode.open_circuit_potential(c_surf_cathode)
    )
    r_a = j_a - interfacial_flux(i0_a, eta_a, t, cell.anode.charge_transfer_coefficient, kinetics)
    r_c = j_c - interfacial_flux(
        i0_c, eta_c, t, cell.cathode.charge_transfer_coefficient, kinetics
    )
    return r_a, r_c


def terminal_voltage(phi_s_cathode, phi_s_anode=0.0):
    """Terminal voltage V = phi_s,c - phi_s,a [V]."""
    return phi_s_cathode - phi_s_anode
