"""Electrode kinetics: overpotential and the Butler-Volmer law, full and linearized.

Pore-wall fluxes j are molar, in mol/(m^2 s), positive out of the particle.
"""

import jax.numpy as jnp

from .._constants import FARADAY, GAS_CONSTANT
from .._errors import InputError

KINETICS = ("butler_volmer", "linear")


def check_kinetics(kinetics: str) -> str:
    """Return `kinetics` if it names a known law, else raise `InputError`."""
    if kinetics not in KINETICS:
        raise InputError(f"unknown kinetics {kinetics!r}; choose one of {KINETICS}")
    return kinetics


def overpotential(phi_s, phi_e, open_circuit_potential):
    """Surface overpotential eta = phi_s - phi_e - U [V]."""
    return phi_s - phi_e - open_circuit_potential


def butler_volmer_flux(i0, eta, temperature, alpha=0.5):
    """Butler-Volmer pore-wall flux (i0/F)[exp((1-a) F eta/RT) - exp(-a F eta/RT)]."""
    f = FARADAY / (GAS_CONSTANT * temperature)
    return (i0 / FARADAY) * (jnp.exp((1.0 - alpha) * f * eta) - jnp.exp(-alpha * f * eta))


def linear_flux(i0, eta, temperature):
    """Linearized Butler-Volmer pore-wall flux j = i0 eta / (R T)."""
    return i0 * eta / (GAS_CONSTANT * temperature)


def interfacial_flux(i0, eta, temperature, alpha=0.5, kinetics="butler_volmer"):
    """Pore-wall flux j [mol/(m^2 s)] for overpotential eta [V] under `kinetics`."""
    if check_kinetics(kinetics) == "linear":
        return linear_flux(i0, eta, temperature)
    return butler_volmer_flux(i0, eta, temperature, alpha)


def overpotential_for_flux(j, i0, temperature, kinetics="butler_volmer"):
    """Invert the kinetics: the overpotential [V] that drives pore-wall flux j.

    Butler-Volmer uses the closed form for symmetric transfer (alpha = 0.5):
    eta = (2RT/F) asinh(F j / (2 i0)).
    """
    rt = GAS_CONSTANT * temperature
    if check_kinetics(kinetics) == "linear":
        return j * rt / i0
    return (2.0 * rt / FARADAY) * jnp.arcsinh(FARADAY * j / (2.0 * i0))


def kinetics_residual(j, i0, eta, temperature, alpha=0.5, kinetics="butler_volmer"):
    """Residual j - j_kinetics(i0, eta) of the kinetics equation [mol/(m^2 s)]."""
    return j - interfacial_flux(i0, eta, temperature, alpha, kinetics)
