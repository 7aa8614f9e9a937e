"""The "nrel" reference cell (graphite anode / NMC-type cathode).

Parameter values and constitutive-law fits from the public repository NREL/PINNSTRIPES
(folder ``Data/stateEqRef``), BSD 3-Clause License, Copyright (c) 2023, Alliance for
Sustainable Energy, LLC. Used by Hassanaly et al., "PINN surrogate of Li-ion battery
models for parameter inference", Parts I and II (arXiv 2312.17329, 2312.17336).

The laws are written in the source's units (kmol/m^3) and converted at their boundary:
every function here takes and returns SI (mol/m^3, m^2/s, A/m^2, S/m).
"""

import jax.numpy as jnp

from .._constants import GAS_CONSTANT, KMOL_PER_M3
from ._cell import Cell, Electrode, Electrolyte, Separator

REFERENCE_TEMPERATURE = 303.15  # K
ACTIVATION_ENERGY = 30.0e3  # J/mol, every Arrhenius law of this cell
LOWER_CUTOFF_VOLTAGE = 3.0  # V, see `nrel_cell`
UPPER_CUTOFF_VOLTAGE = 4.2  # V

ANODE_OCP_COEFFICIENTS = (
    1878.6244900261463, -4981.580023016213, 516.2941996957871, 6452.38177755237,
    -436.0524457974526, 1264.0514576769442, -20918.656956191975, 12954.334261316431,
    28871.72866007402, -37943.83286204571, 34.11141793217983, 29363.16490602074,
    -25774.496334571464, 11073.868226559767, -2702.638445370805, 375.62895901410747,
    -28.064663950113868, 1.1265244540945243,
)  # fmt: skip
CATHODE_OCP_COEFFICIENTS = (
    -43309.69063512314, 122888.63938515769, -69735.99554716503, -59749.183217994185,
    25744.002733171154, 15730.398058573825, 54021.915506318735, -44566.03206954511,
    64.32177924593454, -7780.173422833786, 1117.4042221859695, 7387.492376558274,
    -7237.289515884936, -705.4465901574707, 17170.20236584321, -42.60228181558803,
    -23266.56994359366, 10810.92851132453, 2545.4065429021307, 1.6554268823619098,
    751.3515882152476, -4447.12851190078, 3727.268889820381, -1331.1791971457515,
    227.4712483170547, -17.646894926746256, 0.8568207255402533, -2.34505930698951,
    5.059010555584711,
)  # fmt: skip
CATHODE_I0_COEFFICIENTS = (
    16.50452829641290, -75.23567141488800, 124.0524690073040,
    -94.16571081287610, 32.49768821737960, -3.585290065824760,
)  # fmt: skip
CATHODE_LOG10_DIFFUSIVITY_COEFFICIENTS = (
    -250.901084347927, 2391.02672525997, -4868.42026761136, -83.3110410292107,
    10576.36028329, -12683.2454834812, 5016.27216777553, 982.489665964948,
    -1502.43933907090, 472.370930424770, -65.2609204639709,
)  # fmt: skip

# The cathode i0 polynomial turns negative below x ~ 0.19 (outside the discharge
# window); flooring it keeps i0 > 0 so the kinetics stay finite there.
_CATHODE_I0_POLYNOMIAL_FLOOR = 1e-4


def arrhenius(temperature):
    """Arrhenius factor exp(-(E_a/R)(1/T - 1/T_ref)) of this cell [-]; 1 at 303.15 K."""
    return jnp.exp(
        -(ACTIVATION_ENERGY / GAS_CONSTANT) * (1.0 / temperature - 1.0 / REFERENCE_TEMPERATURE)
    )


def _floored_sqrt(x):
    # sqrt with negative arguments floored at 0, and a finite gradient there.
    return jnp.sqrt(jnp.maximum(x, 1e-30))


def anode_open_circuit_potential(x):
    """Graphite OCP [V] at stoichiometry x (degree-17 polynomial fit)."""
    return jnp.polyval(jnp.asarray(ANODE_OCP_COEFFICIENTS), x)


def cathode_open_circuit_potential(x):
    """Cathode OCP [V] at stoichiometry x (degree-28 polynomial fit)."""
    return jnp.polyval(jnp.asarray(CATHODE_OCP_COEFFICIENTS), x)


def anode_exchange_current_density(c_e, c_s_surf, c_s_max, temperature):
    """Anode i0 [A/m^2] = 2.5 * 0.27 * Arr * sqrt(c_e (c_max - c_s) c_s), c in kmol/m^3."""
    c_e, c_s_surf, c_s_max = c_e / KMOL_PER_M3, c_s_surf / KMOL_PER_M3, c_s_max / KMOL_PER_M3
    return (
        2.5 * 0.27 * arrhenius(temperature)
        * _floored_sqrt(c_e) * _floored_sqrt(c_s_max - c_s_surf) * _floored_sqrt(c_s_surf)
    )  # fmt: skip


def cathode_exchange_current_density(c_e, c_s_surf, c_s_max, temperature):
    """Cathode i0 [A/m^2] = 9 * P5(x) * sqrt(c_e / 1.2 kmol/m^3) * Arr."""
    x = jnp.clip(c_s_surf / c_s_max, 0.0, 1.0)
    p5 = jnp.maximum(
        jnp.polyval(jnp.asarray(CATHODE_I0_COEFFICIENTS), x), _CATHODE_I0_POLYNOMIAL_FLOOR
    )
    return 9.0 * p5 * _floored_sqrt(c_e / (1.2 * KMOL_PER_M3)) * arrhenius(temperature)


def anode_solid_diffusivity(x, temperature):
    """Graphite solid diffusivity [m^2/s]: 3.0e-14 * Arr, constant in x."""
    return 3.0e-14 * arrhenius(temperature) * jnp.ones_like(x)


def cathode_solid_diffusivity(x, temperature):
    """Cathode solid diffusivity [m^2/s]: 2.25 * 10^P10(x) * Arr."""
    log10_d = jnp.polyval(jnp.asarray(CATHODE_LOG10_DIFFUSIVITY_COEFFICIENTS), x)
    return 2.25 * 10.0**log10_d * arrhenius(temperature)


def _glass_transition_gap(c_e, temperature):
    # T - T_g with T_g = -24.83763 + 64.07366 c_e (c_e in kmol/m^3).
    return temperature - (-24.83763 + 64.07366 * c_e)


def electrolyte_diffusivity(c_e, temperature):
    """Electrolyte diffusivity D_e [m^2/s] (Valoen-Reimers form)."""
    c = c_e / KMOL_PER_M3
    gap = _glass_transition_gap(c, temperature)
    exponent = (
        -0.5688226 - 1607.003 / gap
        + (-0.8108721 + 475.291 / gap) * c
        + (-0.005192312 - 33.43827 / gap) * c**2
    )  # fmt: skip
    return 1e-4 * 10.0**exponent


def electrolyte_conductivity(c_e, temperature):
    """Electrolyte conductivity kappa [S/m]."""
    c, t = c_e / KMOL_PER_M3, temperature
    return c * (
        (1.909446e-4 * t**2 - 0.08038545 * t + 9.00341)
        + c * (-2.887587e-8 * t**4 + 3.483638e-5 * t**3 - 0.01583677 * t**2 + 3.195295 * t - 241.4638)
        + c**2 * (1.653786e-8 * t**4 - 1.99876e-5 * t**3 + 9.071155e-3 * t**2 - 1.828064 * t + 138.0976)
        + c**3 * (-2.791965e-9 * t**4 + 3.377143e-6 * t**3 - 1.532707e-3 * t**2 + 0.3090003 * t - 23.35671)
    )  # fmt: skip


def transference_number(c_e, temperature):
    """Cation transference number t+ [-]."""
    c, t = c_e / KMOL_PER_M3, temperature
    return (
        (-2.876102e-7 * t**2 + 2.077407e-4 * t - 0.03881203) * c**2
        + (1.161463e-6 * t**2 - 8.6825e-4 * t + 0.1777266) * c
        + (-6.766258e-7 * t**2 + 6.389189e-4 * t + 0.3091761)
    )


def thermodynamic_factor(c_e, temperature):
    """Thermodynamic factor 1 + dln f/dln c_e [-]."""
    c, t = c_e / KMOL_PER_M3, temperature
    return 0.54 * c**2 * jnp.exp(329.0 / t) - 0.00225 * c * jnp.exp(1360.0 / t) + 0.341 * jnp.exp(
        261.0 / t
    )


def nrel_cell() -> Cell:
    """The reference cell of Hassanaly et al. (NREL/PINNSTRIPES), isothermal at 303.15 K.

    Default experiment: 2C constant-current discharge (37.8 mA, 27 A/m^2) over [0, 1350] s.

    Cut-off voltages (the source defines none): 3.0 V lower, 4.2 V upper, the usual limits
    of graphite/NMC cells. 3.0 V rather than 2.5 V because this cathode's OCP fit ends at
    x = 1 (3.09 V there, falling 0.56 V over its last 5 %): at 2C anywhere in the default
    parameter box the SPM crosses 3.0 V 25-30 s before the cathode surface reaches x = 1,
    so a discharge ends on the voltage, inside the fit's range, not on the cathode leaving
    it (at 2.5 V it would always end on the cathode). Over the default window [0, 1350] s
    at 2C the voltage stays above 3.57 V. The open-circuit voltage at the initial
    stoichiometries is 4.10 V, below the 4.2 V upper limit.
    """
    anode = Electrode(
        thickness=44e-6,
        particle_radius=4.0e-6,
        max_concentration=30.53 * KMOL_PER_M3,
        active_volume_fraction=0.5430727763,
        binder_volume_fraction=0.0569272237,
        electrolyte_volume_fraction=0.4,
        initial_stoichiometry=0.91,
        charge_transfer_coefficient=0.5,
        solid_conductivity=6.0,
        open_circuit_potential_law=anode_open_circuit_potential,
        exchange_current_density_law=anode_exchange_current_density,
        solid_diffusivity_law=anode_solid_diffusivity,
    )
    cathode = Electrode(
        thickness=42e-6,
        particle_radius=1.8e-6,
        max_concentration=49.6 * KMOL_PER_M3,
        active_volume_fraction=0.47662,
        binder_volume_fraction=0.12338,
        electrolyte_volume_fraction=0.4,
        initial_stoichiometry=0.39,
        charge_transfer_coefficient=0.5,
        solid_conductivity=6.0,
        open_circuit_potential_law=cathode_open_circuit_potential,
        exchange_current_density_law=cathode_exchange_current_density,
        solid_diffusivity_law=cathode_solid_diffusivity,
    )
    electrolyte = Electrolyte(
        initial_concentration=1.2 * KMOL_PER_M3,
        bruggeman=2.0,
        diffusivity=electrolyte_diffusivity,
        conductivity=electrolyte_conductivity,
        transference_number=transference_number,
        thermodynamic_factor=thermodynamic_factor,
    )
    return Cell(
        name="nrel",
        anode=anode,
        cathode=cathode,
        separator=Separator(thickness=20e-6, electrolyte_volume_fraction=0.4),
        electrolyte=electrolyte,
        area=1.4e-3,
        one_c_current=18.9e-3,
        temperature=REFERENCE_TEMPERATURE,
        lower_cutoff_voltage=LOWER_CUTOFF_VOLTAGE,
        upper_cutoff_voltage=UPPER_CUTOFF_VOLTAGE,
        reference=(
            "NREL/PINNSTRIPES Data/stateEqRef (BSD-3, Alliance for Sustainable Energy); "
            "Hassanaly et al., arXiv 2312.17329 and 2312.17336"
        ),
    )
