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

    x-resolved fields (P2D only; None for the SPM), on the x cell centres of the whole cell
    (anode, separator, cathode); solid-phase fields are NaN in the separator:
        x: cell-centre positions [m], shape (N,).
        c_e: electrolyte concentration [mol/m^3], shape (T, N).
        phi_e_x: electrolyte potential [V], shape (T, N).
        phi_s_x: solid potential [V], shape (T, N).
        c_s_x: solid concentration [mol/m^3], shape (T, N, n_r) (n_r the larger of the two
            electrodes' shell counts; the other is NaN-padded), at radii `r_anode` /
            `r_cathode`.
        j_x: pore-wall flux [mol/(m^2 s)], positive out of the particle, shape (T, N).
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
    x: Array | None = None
    c_e: Array | None = None
    phi_e_x: Array | None = None
    phi_s_x: Array | None = None
    c_s_x: Array | None = None
    j_x: Array | None = None

    @property
    def success(self):
        """True where the solver reached the end time with finite voltages."""
        return (self.result == diffrax.RESULTS.successful) & jnp.all(
            jnp.isfinite(self.voltage), axis=-1
        )
