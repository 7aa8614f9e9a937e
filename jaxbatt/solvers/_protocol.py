"""Running a `Protocol` through a solver: one Diffrax solve per step, scanned.

Each step is one `diffeqsolve` from where the previous one ended (so a step's start and end
are differentiable, and the integrator never steps across a jump in the current), in a
`lax.scan` over the steps: one traced solve serves any number of steps. A step's event is
the first of the cell's limits (`_limits.limit_margins`: those end the whole protocol) and,
for an until-voltage step, the voltage reaching its limit (that ends the step only). A step
after the end of the protocol, or past the last requested time, has zero length.

A solver supplies: ``protocol_rate(t, y, args)`` with ``args = (cell, knot_times, amps)``
(absolute knot times [s] and currents [A] of the step), ``protocol_margins(cell, y, i)``
(the four limit margins of state `y` under current density `i`), ``protocol_start(cell, y,
i)`` (the state a step starts from: the P2D re-solves its algebraic variables at the new
current), ``integrator()`` and ``controller()``.
"""

from typing import NamedTuple

import diffrax
import jax
import jax.numpy as jnp
import optimistix as optx

from ..protocols._protocol import Protocol, step_currents_in_amperes, step_lengths
from ._limits import EVENT_ROOT_TOLERANCE, event_margin
from ._solution import Termination

# An inactive step margin (no voltage limit): larger than any limit margin.
_INACTIVE = 1e3
# A protocol that ends less than this before the last requested time [s] reaches it: steps
# written with rounded durations ("33.3333 seconds" x 12 for 400 s) fall short by round-off,
# and the state at the end stands for those last instants.
END_SLACK = 1e-3
# A step's voltage limit and a cell limit reached together (a charge until the upper cut-off
# voltage): the step's wins within this margin [V].
_TIE = 1e-6


class ProtocolRun(NamedTuple):
    ys: jax.Array  # (T, n) states at the requested times (the final state after the end)
    current: jax.Array  # (T,) [A]
    t_final: jax.Array  # () where the run ended
    y_final: jax.Array  # (n,)
    current_final: jax.Array  # () [A]
    result: diffrax.RESULTS  # the first failure of a step, else successful / event
    num_steps: jax.Array  # accepted steps, all protocol steps together
    termination: jax.Array  # `Termination` code
    t_end: jax.Array  # () [s]
    step_ends: jax.Array  # (S,) when each step ended [s]


def current_at(t, knot_times, amps):
    """Piecewise-linear current [A] of one step at time(s) `t`."""
    return jnp.interp(t, knot_times, amps)


def run_protocol(solver, cell, protocol: Protocol, t, y0) -> ProtocolRun:
    """Run `protocol` from state `y0` with `solver`, output at times `t` (T,)."""
    one_c = cell.one_c_current
    amps = step_currents_in_amperes(protocol, one_c)
    lengths = step_lengths(protocol, one_c)
    limits = jnp.asarray(protocol.until_voltages)
    has_limit = jnp.isfinite(limits)
    limits = jnp.where(has_limit, limits, 0.0)
    # the voltage falls towards the limit on discharge, rises on charge
    signs = jnp.where(jnp.sum(amps, axis=1) >= 0.0, 1.0, -1.0)
    knots = jnp.asarray(protocol.knot_times)
    t_last = t[-1]
    v_min = cell.lower_cutoff_voltage

    def margins(y, step_args, t_now, has, limit, sign):
        knot_t, amp = step_args
        i = current_at(t_now, knot_t, amp) / cell.area
        cell_margins = solver.protocol_margins(cell, y, i)
        voltage = cell_margins[0] + v_min
        step_margin = jnp.where(has, sign * (voltage - limit), _INACTIVE)
        return cell_margins, step_margin

    root_finder = optx.Bisection(rtol=0.0, atol=EVENT_ROOT_TOLERANCE, flip=True)

    def one_step(carry, xs):
        t0, y, stopped, code = carry
        knot_t, amp, length, has, limit, sign = xs
        step_args = (knot_t + t0, amp)
        t1 = jnp.where(stopped, t0, jnp.minimum(t0 + length, jnp.maximum(t_last, t0)))
        y = solver.protocol_start(cell, y, current_at(t0, *step_args) / cell.area)

        def cond_fn(t, y, args, **kwargs):  # Diffrax passes these by keyword
            del args, kwargs
            cell_margins, step_margin = margins(y, step_args, t, has, limit, sign)
            return event_margin(jnp.append(cell_margins, step_margin))

        sol = diffrax.diffeqsolve(
            diffrax.ODETerm(solver.protocol_rate),
            solver.integrator(),
            t0=t0,
            t1=t1,
            dt0=None,
            y0=y,
            args=(cell, *step_args),
            saveat=diffrax.SaveAt(
                subs=(diffrax.SubSaveAt(ts=jnp.clip(t, t0, t1)), diffrax.SubSaveAt(t1=True))
            ),
            # steps land on a profile's samples (the current's kinks): without that, a drive
            # cycle at the default rtol 1e-4 was 0.58 mV off instead of 0.23 mV (measured)
            stepsize_controller=diffrax.ClipStepSizeController(
                solver.controller(), step_ts=step_args[0]
            ),
            max_steps=solver.max_steps,
            throw=False,
            adjoint=solver.adjoint,
            event=diffrax.Event(cond_fn, root_finder=root_finder, direction=False),
        )
        ts, ys = sol.ts[0], sol.ys[0]
        t_fin, y_fin = sol.ts[1][0], sol.ys[1][0]
        ys = jnp.where((ts <= t_fin)[:, None], ys, y_fin)
        event = sol.result == diffrax.RESULTS.event_occurred
        failed = (sol.result != diffrax.RESULTS.successful) & ~event
        failed |= ~jnp.all(jnp.isfinite(y_fin))
        cell_margins, step_margin = margins(y_fin, step_args, t_fin, has, limit, sign)
        by_step = has & (step_margin <= jnp.min(cell_margins) + _TIE)
        cell_limit = event & ~by_step
        new_code = jnp.where(
            failed, Termination.FAILED, jnp.where(cell_limit, 1 + jnp.argmin(cell_margins), code)
        )
        new_code = jnp.where(stopped, code, new_code)
        stop = stopped | failed | cell_limit
        outputs = (ys, t_fin, sol.result, sol.stats["num_accepted_steps"], step_args)
        return (t_fin, y_fin, stop, new_code), outputs

    start = (jnp.zeros(()), y0, jnp.array(False), jnp.array(Termination.END_TIME))
    xs = (knots, amps, lengths, has_limit, limits, signs)
    (t_final, y_final, stopped, code), per_step = jax.lax.scan(one_step, start, xs)
    ys, ends, results, num_steps, (abs_knots, step_amps) = per_step

    # a limit violated at t = 0 ends the protocol there
    first = (abs_knots[0], step_amps[0])
    margins_0, _ = margins(y0, first, jnp.zeros(()), has_limit[0], limits[0], signs[0])
    at_start = jnp.min(margins_0) <= 0.0
    code = jnp.where(at_start, 1 + jnp.argmin(margins_0), code)

    # not stopped: either the last requested time was reached or the protocol ended first
    finished = ~stopped & ~at_start
    code = jnp.where(
        finished,
        jnp.where(t_final >= t_last - END_SLACK, Termination.END_TIME, Termination.END_OF_PROTOCOL),
        code,
    )
    t_end = jnp.where(code == Termination.END_TIME, t_last, t_final)
    t_end = jnp.where(at_start, jnp.zeros_like(t_end), t_end)

    # each requested time from the step that covers it (the later step at a boundary)
    k = jnp.clip(jnp.searchsorted(ends, t, side="right"), 0, protocol.n_steps - 1)
    idx = jnp.arange(t.shape[0])
    states = ys[k, idx]
    current = jax.vmap(current_at)(t, abs_knots[k], step_amps[k])
    last = jnp.clip(jnp.searchsorted(ends, t_final, side="left"), 0, protocol.n_steps - 1)
    current_final = current_at(t_final, abs_knots[last], step_amps[last])

    failures = (results != diffrax.RESULTS.successful) & (results != diffrax.RESULTS.event_occurred)
    first_failure = jnp.argmax(failures)
    result = jax.tree.map(lambda r: r[first_failure], results)
    result = diffrax.RESULTS.where(
        jnp.any(failures),
        result,
        diffrax.RESULTS.where(code == Termination.END_TIME, diffrax.RESULTS.successful,
                              diffrax.RESULTS.event_occurred),
    )  # fmt: skip
    return ProtocolRun(
        ys=states,
        current=current,
        t_final=t_final,
        y_final=y_final,
        current_final=current_final,
        result=result,
        num_steps=jnp.sum(num_steps),
        termination=code,
        t_end=t_end,
        step_ends=ends,
    )
