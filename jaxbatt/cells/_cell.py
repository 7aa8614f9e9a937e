"""Cells as data: electrodes, separator, electrolyte and their constitutive laws.

Units are SI throughout: m, s, A, V, K and **mol/m^3** for every concentration.
Constitutive laws are plain functions stored as static fields; the per-electrode
`*_scale` fields are ordinary (traceable) leaves, which is how degradation
parameters enter the physics (see `ParameterSpace`).
"""

from collections.abc import Callable

import equinox as eqx
import jax.numpy as jnp

from .._errors import InputError

# Signatures of the constitutive laws (concentrations in mol/m^3, T in K):
#   open_circuit_potential(stoichiometry) -> V
#   exchange_current_density(c_e, c_s_surf, c_s_max, T) -> A/m^2
#   solid_diffusivity(stoichiometry, T) -> m^2/s
#   electrolyte laws (c_e, T) -> SI value


class Electrode(eqx.Module):
    """One porous electrode and the laws of its active material.

    Attributes:
        thickness: electrode thickness L [m].
        particle_radius: active-particle radius R_s [m].
        max_concentration: c_s,max [mol/m^3].
        active_volume_fraction: eps_s [-].
        binder_volume_fraction: carbon-binder volume fraction [-].
        electrolyte_volume_fraction: eps_e [-] (P2D).
        initial_stoichiometry: c_s(t=0) / c_s,max [-].
        charge_transfer_coefficient: alpha [-].
        solid_conductivity: effective electronic conductivity sigma [S/m] (P2D).
        open_circuit_potential, exchange_current_density, solid_diffusivity: the laws.
        exchange_current_scale, diffusivity_scale: multiplicative degradation scalings
            (1 for a fresh cell).
        bruggeman: Bruggeman exponent b of the electrolyte in this electrode's pores
            (effective transport eps_e^b x bulk, P2D); None: the electrolyte's exponent.
    """

    thickness: float
    particle_radius: float
    max_concentration: float
    active_volume_fraction: float
    binder_volume_fraction: float
    electrolyte_volume_fraction: float
    initial_stoichiometry: float
    charge_transfer_coefficient: float
    solid_conductivity: float
    open_circuit_potential_law: Callable = eqx.field(static=True)
    exchange_current_density_law: Callable = eqx.field(static=True)
    solid_diffusivity_law: Callable = eqx.field(static=True)
    exchange_current_scale: float = 1.0
    diffusivity_scale: float = 1.0
    bruggeman: float | None = None

    @property
    def specific_area(self):
        """Active surface area per electrode volume a_s = 3 eps_s / R_s [1/m]."""
        return 3.0 * self.active_volume_fraction / self.particle_radius

    @property
    def initial_concentration(self):
        """Initial uniform solid concentration [mol/m^3]."""
        return self.initial_stoichiometry * self.max_concentration

    def open_circuit_potential(self, c_s_surf):
        """OCP [V] at surface concentration `c_s_surf` [mol/m^3]."""
        x = jnp.clip(c_s_surf / self.max_concentration, 0.0, 1.0)
        return self.open_circuit_potential_law(x)

    def exchange_current_density(self, c_e, c_s_surf, temperature):
        """Scaled exchange current density i0 [A/m^2]."""
        i0 = self.exchange_current_density_law(
            c_e, c_s_surf, self.max_concentration, temperature
        )
        return self.exchange_current_scale * i0

    def solid_diffusivity(self, c_s, temperature):
        """Scaled solid diffusivity D_s(c_s) [m^2/s]."""
        x = jnp.clip(c_s / self.max_concentration, 0.0, 1.0)
        return self.diffusivity_scale * self.solid_diffusivity_law(x, temperature)


class Separator(eqx.Module):
    """The separator: thickness [m], electrolyte volume fraction [-] and the Bruggeman
    exponent of its pores (None: the electrolyte's)."""

    thickness: float
    electrolyte_volume_fraction: float
    bruggeman: float | None = None


class Electrolyte(eqx.Module):
    """Binary electrolyte: initial concentration [mol/m^3], Bruggeman exponent (of every
    domain that does not set its own, see `Cell.bruggeman_exponents`), and laws
    `diffusivity` [m^2/s], `conductivity` [S/m], `transference_number` [-] and
    `thermodynamic_factor` (1 + dln f/dln c_e) [-], each a function of (c_e [mol/m^3], T [K])."""

    initial_concentration: float
    bruggeman: float
    diffusivity: Callable = eqx.field(static=True)
    conductivity: Callable = eqx.field(static=True)
    transference_number: Callable = eqx.field(static=True)
    thermodynamic_factor: Callable = eqx.field(static=True)


class Cell(eqx.Module):
    """A Li-ion cell: two electrodes, separator, electrolyte and operating data.

    Attributes:
        name: short identifier, e.g. ``"nrel"``.
        anode, cathode: `Electrode`.
        separator: `Separator`.
        electrolyte: `Electrolyte`.
        area: electrode area [m^2].
        one_c_current: the 1C current [A].
        temperature: cell temperature [K] (isothermal).
        reference: citation of the parameter set.
        lower_cutoff_voltage: a discharge stops when the terminal voltage falls to this
            value [V] (default 0 V: only the bare physical limit).
        upper_cutoff_voltage: the solvers stop when the terminal voltage rises to this
            value [V] (the end of a charge; default inf: none).

    The cut-off voltages are operating limits, not physics to calibrate: they are static
    fields (not pytree leaves), so checkpoints, which store a cell's leaves, are unchanged
    by them, and `ParameterSpace` cannot target them.
    """

    name: str = eqx.field(static=True)
    anode: Electrode
    cathode: Electrode
    separator: Separator
    electrolyte: Electrolyte
    area: float
    one_c_current: float
    temperature: float
    reference: str = eqx.field(static=True, default="")
    lower_cutoff_voltage: float = eqx.field(static=True, default=0.0)
    upper_cutoff_voltage: float = eqx.field(static=True, default=float("inf"))

    def __check_init__(self):
        if not float(self.lower_cutoff_voltage) < float(self.upper_cutoff_voltage):
            raise InputError(
                f"cell {self.name!r}: lower_cutoff_voltage {self.lower_cutoff_voltage} V must be "
                f"below upper_cutoff_voltage {self.upper_cutoff_voltage} V"
            )

    @property
    def bruggeman_exponents(self):
        """Bruggeman exponents (anode, separator, cathode) of the electrolyte's effective
        transport eps_e^b x bulk: each domain's own, or the electrolyte's where it sets none."""
        default = self.electrolyte.bruggeman
        return tuple(
            default if domain.bruggeman is None else domain.bruggeman
            for domain in (self.anode, self.separator, self.cathode)
        )

    def current_density(self, c_rate):
        """Applied current density i = I/A [A/m^2] for a C-rate (positive on discharge)."""
        return c_rate * self.one_c_current / self.area
