"""The solution object returned by jaxbatt's solvers."""

import enum

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array

# A failed solve whose last reached state has a surface stoichiometry this close to 0 or 1
# (or beyond) is reported as caused by that electrode emptying or filling.
NEAR_STOICHIOMETRY_LIMIT = 0.02


class Termination(enum.IntEnum):
    """Why a solve ended: the values of `Solution.termination`.

    ``END_TIME``: reached the last requested time. ``LOWER_CUTOFF_VOLTAGE`` /
    ``UPPER_CUTOFF_VOLTAGE``: the terminal voltage reached the cell's cut-off.
    ``ANODE_STOICHIOMETRY`` / ``CATHODE_STOICHIOMETRY``: a surface stoichiometry of that
    electrode reached 0 or 1 (left [0, 1]). ``FAILED``: the solver failed (step limit,
    Newton failure, non-finite state) before the end time and before any limit.
    ``END_OF_PROTOCOL``: a `Protocol` ran to its end before the last requested time.
    """

    END_TIME = 0
    LOWER_CUTOFF_VOLTAGE = 1
    UPPER_CUTOFF_VOLTAGE = 2
    ANODE_STOICHIOMETRY = 3
    CATHODE_STOICHIOMETRY = 4
    FAILED = 5
    END_OF_PROTOCOL = 6


class Solution(eqx.Module):
    """A simulated discharge on the user's time grid (SI units).

    A solve ends at the last requested time, at a physical limit (an event: the cell's
    lower or upper cut-off voltage, or a surface stoichiometry of either electrode leaving
    [0, 1]; its time is located by a root find on the integrator's dense output), or where
    the solver failed. Every time-resolved field is NaN at the requested times after the
    end ``t_end``; at and before it, it holds the solution.

    Attributes:
        t: times [s], shape (T,).
        voltage: terminal voltage [V], shape (T,).
        phi_e: electrolyte potential [V] (SPM: uniform, shape (T,)).
        phi_s_cathode: cathode solid potential [V], shape (T,).
        c_s_anode, c_s_cathode: solid concentration [mol/m^3], shape (T, n_r).
        r_anode, r_cathode: radii of the shell centres [m], shape (n_r,).
        c_surf_anode, c_surf_cathode: surface concentrations [mol/m^3], shape (T,).
        result: the diffrax result code: `successful`, `event_occurred` (a limit ended the
            solve) or the failure.
        num_steps: accepted time steps.
        termination: why the solve ended, a `Termination` value (int array, shape ()).
        t_end: when it ended [s]: the last requested time, the event time, or (on failure)
            the last time the integrator reached; shape ().
        voltage_end: terminal voltage at `t_end` [V], shape ().
        stoichiometry_end: surface stoichiometries at `t_end`, ``[[anode min, anode max],
            [cathode min, cathode max]]`` over the electrode's particles (the SPM has one
            per electrode), shape (2, 2).
        cutoff_voltages: the cell's (lower, upper) cut-off voltages [V] the solve used.
        model: ``"spm"`` or ``"p2d"``.
        current: applied current [A] at the requested times (positive on discharge), shape
            (T,); set by a `Protocol` solve (None for a constant-current `solve`).

    Batched solutions (vmapped) carry a leading batch axis on every array field.

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
    termination: Array
    t_end: Array
    voltage_end: Array
    stoichiometry_end: Array
    model: str = eqx.field(static=True, default="spm")
    cutoff_voltages: tuple[float, float] = eqx.field(static=True, default=(0.0, float("inf")))
    current: Array | None = None
    x: Array | None = None
    c_e: Array | None = None
    phi_e_x: Array | None = None
    phi_s_x: Array | None = None
    c_s_x: Array | None = None
    j_x: Array | None = None

    @property
    def failed(self):
        """True where the solver failed (`Termination.FAILED`)."""
        return self.termination == Termination.FAILED

    @property
    def ended_early(self):
        """True where a physical limit (cut-off voltage, stoichiometry) ended the solve
        before the last requested time. Not a failure: the solution is valid up to
        `t_end` and NaN after it."""
        return (self.termination != Termination.END_TIME) & ~self.failed

    @property
    def success(self):
        """True where the solve reached the last requested time (no failure, no limit
        hit), so every requested voltage is finite."""
        return self.termination == Termination.END_TIME

    def termination_reason(self):
        """Why the solve ended, as text (a list of texts, one per member, for a batch).

        E.g. ``"reached the end time 1350 s"``, ``"lower cut-off voltage 3 V reached at
        t = 2041.2 s"``, ``"anode surface stoichiometry left [0, 1] (reached 0) at
        t = 1587.3 s"``, ``"solver failed at t = 2104.5 s: <diffrax's message>"`` (with the
        electrode named when a surface stoichiometry there is near or beyond 0 or 1).
        Python-side: not traceable.
        """
        code = np.asarray(self.termination)
        if code.ndim == 0:
            return self._reason(())
        return [self._reason(index) for index in np.ndindex(code.shape)]

    def _reason(self, index) -> str:
        code = Termination(int(np.asarray(self.termination)[index]))
        t_end = float(np.asarray(self.t_end)[index])
        at = f"at t = {t_end:.6g} s"
        lower, upper = self.cutoff_voltages
        if code == Termination.END_TIME:
            return f"reached the end time {t_end:.6g} s"
        if code == Termination.END_OF_PROTOCOL:
            return f"the protocol ended at t = {t_end:.6g} s"
        if code == Termination.LOWER_CUTOFF_VOLTAGE:
            return f"lower cut-off voltage {lower:g} V reached {at}"
        if code == Termination.UPPER_CUTOFF_VOLTAGE:
            return f"upper cut-off voltage {upper:g} V reached {at}"
        x = np.asarray(self.stoichiometry_end)[index]
        if code in (Termination.ANODE_STOICHIOMETRY, Termination.CATHODE_STOICHIOMETRY):
            k = int(code == Termination.CATHODE_STOICHIOMETRY)
            bound = 0 if x[k, 0] <= 1.0 - x[k, 1] else 1
            return f"{('anode', 'cathode')[k]} surface stoichiometry left [0, 1] (reached {bound}) {at}"
        result = jax.tree.map(lambda r: r[index], self.result)
        if bool(result == diffrax.RESULTS.successful) or bool(
            result == diffrax.RESULTS.event_occurred
        ):
            message = "non-finite voltage"
        else:
            message = diffrax.RESULTS[result].rstrip(".")
        reason = f"solver failed {at}: {message}"
        cause = self.emptied_electrode(index)
        if cause is not None:
            reason += f" ({cause})"
        return reason

    def emptied_electrode(self, index=()):
        """For a failed solve, text naming the electrode whose surface stoichiometry at the
        last reached state is near (within 0.02) or beyond 0 or 1, the likely cause of
        the failure; None otherwise (or if the solve did not fail)."""
        if not bool(np.asarray(self.failed)[index]):
            return None
        x = np.asarray(self.stoichiometry_end)[index]
        for k, name in enumerate(("anode", "cathode")):
            low, high = float(x[k, 0]), float(x[k, 1])
            if low < NEAR_STOICHIOMETRY_LIMIT:
                return (
                    f"the {name} surface stoichiometry is {low:.3g} there: the {name} is "
                    "emptied of lithium"
                )
            if high > 1.0 - NEAR_STOICHIOMETRY_LIMIT:
                return f"the {name} surface stoichiometry is {high:.4g} there: the {name} is full"
        return None


def after_end(t, t_end):
    """Boolean mask of the requested times after the end of the solve."""
    return t > t_end


def blank_after(mask, values):
    """`values` (T, ...) with NaN at the masked (T,) times."""
    return jnp.where(jnp.reshape(mask, mask.shape + (1,) * (values.ndim - 1)), jnp.nan, values)
