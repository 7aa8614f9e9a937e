"""Physical limits of a discharge as a Diffrax event, shared by the SPM and P2D solvers.

A solve stops, as PyBaMM's do, when the terminal voltage reaches the cell's lower or upper
cut-off voltage or when a particle's surface stoichiometry leaves [0, 1] in either
electrode. The four margins, positive inside the limits,

    V - V_min,  V_max - V,  min(x_a, 1 - x_a),  min(x_c, 1 - x_c)

(x the surface stoichiometries, minimised over the electrode's particles) are computed by
each solver from its state with the same functions as its output voltage; the event's
condition is their minimum, a real-valued function whose first zero is the earliest limit.
Diffrax flags the step in which it changes sign and a bisection on the step's dense
interpolant locates the time; which limit it was is the margin that is (nearly) zero
there. A limit already violated at t = 0 (say, the voltage under the cut-off at once at a
high C-rate) ends the solve at t = 0.
"""

import diffrax
import jax.numpy as jnp
import optimistix as optx

from ..cells import Cell
from ._solution import Termination

# Bisection of the event time on the step in which the margin changed sign, down to an
# interval below 1e-9 s and |margin| below 1e-9 (V or stoichiometry). Bisection, not Newton:
# the sign change brackets the root, while Newton (from the step's end, clipped to the step)
# did not converge on the P2D's 3.0 V crossing at 2C (measured). The event time is that of the integrator's interpolant, whose own error
# is within the step controller's tolerance.
EVENT_ROOT_TOLERANCE = 1e-9


def limit_margins(cell: Cell, voltage, x_anode, x_cathode):
    """(4,) distances from the limits, positive inside them (order of `Termination` 1..4):
    V - V_min [V], V_max - V [V], and per electrode min(min x, 1 - max x) over its
    surface stoichiometries `x_anode`, `x_cathode` (any shape)."""

    def electrode(x):
        return jnp.minimum(jnp.min(x), 1.0 - jnp.max(x))

    return jnp.stack(
        [
            voltage - cell.lower_cutoff_voltage,
            cell.upper_cutoff_voltage - voltage,
            electrode(x_anode),
            electrode(x_cathode),
        ]
    )


def event_margin(margins):
    """The smallest margin, with a NaN margin counted as a limit passed (-1): a state whose
    voltage is undefined (an exchange current sqrt(c_max - c_s) past a full particle, say)
    lies beyond the limits, so the event fires and its root is located before it, where
    a NaN would have hidden the crossing and the integration run on to a failure."""
    return jnp.min(jnp.where(jnp.isnan(margins), -1.0, margins))


def limit_event(margins_of_state) -> diffrax.Event:
    """The terminating event: `margins_of_state(y, args)` -> (4,) margins."""

    def cond_fn(t, y, args, **kwargs):
        del t, kwargs
        return event_margin(margins_of_state(y, args))

    # flip=True: the margin decreases through its root (as does Diffrax's stand-in for the
    # batch members without an event, t_next - t); a fixed flip skips the bracket check
    root_finder = optx.Bisection(rtol=0.0, atol=EVENT_ROOT_TOLERANCE, flip=True)
    return diffrax.Event(cond_fn, root_finder=root_finder, direction=False)


def save_at(t) -> diffrax.SaveAt:
    """Save at the requested times `t` and at the end of the solve (event time, t1, or
    where the solver stopped): ``sol.ts``/``sol.ys`` are then pairs."""
    return diffrax.SaveAt(subs=(diffrax.SubSaveAt(ts=t), diffrax.SubSaveAt(t1=True)))


def end_of_solve(t, result, t_final, margins_start, margins_end, voltage):
    """(termination code, t_end [s]) of a solve.

    `result` is the (possibly promoted) diffrax result, `t_final` where the integrator
    stopped (the event time, t1, or the last time reached on failure), the margins are
    those at t = 0 and at `t_final`, `voltage` (T,) the voltages at the requested times
    `t`. In order of precedence: a limit violated at t = 0 ends the solve at t = 0; a
    solver failure, or a non-finite voltage up to the end, is `FAILED`; an event ends it at
    the limit whose margin is smallest at `t_final`; else it reached t[-1].
    """
    event = result == diffrax.RESULTS.event_occurred
    failed = (result != diffrax.RESULTS.successful) & ~event
    at_start = jnp.min(margins_start) <= 0.0
    code = jnp.where(
        failed,
        Termination.FAILED,
        jnp.where(event, 1 + jnp.argmin(margins_end), Termination.END_TIME),
    )
    t_end = jnp.where(code == Termination.END_TIME, t[-1], t_final)
    finite = jnp.all(jnp.isfinite(voltage) | (t > t_end))
    code = jnp.where(finite, code, Termination.FAILED)
    code = jnp.where(at_start, 1 + jnp.argmin(margins_start), code)
    t_end = jnp.where(at_start, jnp.zeros_like(t_end), t_end)
    return code, t_end
