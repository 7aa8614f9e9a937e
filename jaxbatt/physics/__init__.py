"""Physics as pure, pointwise JAX functions: the one place each equation lives.

The numerical solvers, the PINN losses and the verification tests all call these.
"""

from ._kinetics import KINETICS as KINETICS
from ._kinetics import butler_volmer_flux as butler_volmer_flux
from ._kinetics import check_kinetics as check_kinetics
from ._kinetics import interfacial_flux as interfacial_flux
from ._kinetics import kinetics_residual as kinetics_residual
from ._kinetics import linear_flux as linear_flux
from ._kinetics import overpotential as overpotential
from ._kinetics import overpotential_for_flux as overpotential_for_flux
from ._particle import solid_flux as solid_flux
from ._particle import spherical_diffusion_residual as spherical_diffusion_residual
from ._particle import surface_flux_residual as surface_flux_residual
from ._particle import symmetry_residual as symmetry_residual
from ._spm import exchange_current_densities as exchange_current_densities
from ._spm import galvanostatic_fluxes as galvanostatic_fluxes
from ._spm import initial_potentials as initial_potentials
from ._spm import pore_wall_flux as pore_wall_flux
from ._spm import spm_kinetics_residuals as spm_kinetics_residuals
from ._spm import spm_potentials as spm_potentials
from ._spm import terminal_voltage as terminal_voltage
from ._p2d import diffusion_potential_coefficient as diffusion_potential_coefficient
from ._p2d import effective_transport as effective_transport
from ._p2d import electrode_charge_residual as electrode_charge_residual
from ._p2d import electrolyte_charge_residual as electrolyte_charge_residual
from ._p2d import electrolyte_current_boundary_residual as electrolyte_current_boundary_residual
from ._p2d import electrolyte_current_density as electrolyte_current_density
from ._p2d import electrolyte_flux_boundary_residual as electrolyte_flux_boundary_residual
from ._p2d import electrolyte_mass_balance_residual as electrolyte_mass_balance_residual
from ._p2d import electrolyte_potential_gradient as electrolyte_potential_gradient
from ._p2d import electrolyte_reaction_source as electrolyte_reaction_source
from ._p2d import initial_electrolyte_concentration as initial_electrolyte_concentration
from ._p2d import interface_continuity_residual as interface_continuity_residual
from ._p2d import p2d_initial_state as p2d_initial_state
from ._p2d import p2d_kinetics_residual as p2d_kinetics_residual
from ._p2d import reference_potential_residual as reference_potential_residual
from ._p2d import solid_charge_residual as solid_charge_residual
from ._p2d import solid_current_boundary_residual as solid_current_boundary_residual
from ._p2d import solid_current_density as solid_current_density
from ._p2d import solid_potential_gradient as solid_potential_gradient
from ._p2d import volumetric_reaction_rate as volumetric_reaction_rate
