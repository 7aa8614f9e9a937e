"""The solution object returned by jaxbatt's solvers."""

import diffrax
import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array


class Solution(eqx.Module):
    """A simulated discharge on the user's time grid (SI units).

    Attributes:
        t: times [s], shape (T,).
        voltage: terminal voltage [V], shape (T,).
        phi_e: electrolyte potential [V] (SPM: uniform, shape (T,)).
        phi_s_cathode: cathode solid potential [V], shape (T,).
        c_s_anode, c_s_cathode: solid concentration [mol/m^3], shape (T, n_r).
        r_anode, r_cathode: radii of the shell centres [m], shape (n_r,).
        c_surf_anode, c_surf_cathode: surface concentrations [mol/m^3], shape (T,).
        result: the diffrax result code (`successful` unless the solver failed).
        num_steps: accepted time steps.
        model: ``"spm"`` or ``"p2d"``.
    """

    t: Array
    voltage: Array
    phi_e: Array
    phi_s_cathode: Array
    c_s_anode: Array
    c_s_cathode: Array
    r_anode: Array
    r_cathode: Array
    c_surf_anode: Array
    c_surf_cathode: Array
    result: diffrax.RESULTS
    num_steps: Array
    model: str = eqx.field(static=True, default="spm")

    @property
    def success(self):
        """True where the solver reached the end time with finite voltages."""
        return (self.result == diffrax.RESULTS.successful) & jnp.all(
            jnp.isfinite(self.voltage), axis=-1
        )
