"""`simulate`: the checked entry point to the numerical solvers."""

import warnings
from collections.abc import Mapping

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optimistix as optx

from ._errors import DischargeEndedWarning, InputError, SolverError
from ._validation import check_c_rate, check_model, check_times
from .cells import Cell, ParameterSpace, nrel_cell, nrel_parameter_space
from .physics import check_kinetics
from .protocols import Protocol, Step
from .solvers import P2DSolver, Solution, SPMSolver, Termination

DEFAULT_TIMES = np.linspace(0.0, 1350.0, 271)


def _traced(tree):
    """`tree` with its Python floats as 0-d arrays: traced under `eqx.filter_jit`, so one
    compiled program serves every cell value, tolerance and C-rate of a given mesh."""
    return jax.tree.map(lambda x: jnp.asarray(x) if isinstance(x, float) else x, tree)


@eqx.filter_jit
def _solve(solver, theta, t, c_rate):
    if theta.ndim == 1:
        return solver.solve(theta, t, c_rate)
    return jax.vmap(solver.solve, in_axes=(0, None, None))(theta, t, c_rate)


@eqx.filter_jit
def _solve_protocol(solver, theta, t, protocol):
    if theta.ndim == 1:
        return solver.solve_protocol(theta, t, protocol)
    return jax.vmap(solver.solve_protocol, in_axes=(0, None, None))(theta, t, protocol)


def check_protocol(protocol) -> Protocol:
    """A `Protocol` (a list of PyBaMM-style step strings or `Step` s is converted)."""
    if isinstance(protocol, Protocol):
        return protocol
    if isinstance(protocol, (str, Step)) or (
        isinstance(protocol, (list, tuple)) and all(isinstance(s, (str, Step)) for s in protocol)
    ):
        return Protocol(protocol)
    raise InputError(
        f"protocol must be a jaxbatt.Protocol or a list of steps such as ['Discharge at 2C for "
        f"150 seconds', 'Rest for 60 seconds'], got {type(protocol).__name__}"
    )


def protocol_times(protocol: Protocol, cell: Cell, n: int = 1001) -> np.ndarray:
    """Default output times of a protocol: `n` points over its nominal duration (every
    until-voltage step at its cap; the solution is NaN after the protocol's real end)."""
    return np.linspace(0.0, protocol.nominal_duration(cell.one_c_current), n)


def make_solver(
    model: str,
    *,
    cell: Cell | None = None,
    space: ParameterSpace | None = None,
    kinetics: str = "butler_volmer",
    **options,
):
    """Build the numerical solver of `model` for `cell` (default: the nrel cell).

    `options` are the solver's mesh and tolerance fields (e.g. ``n_r_anode=40``,
    ``rtol=1e-8``, ``max_steps=4096``; P2D also ``n_x_anode``, ``n_x_separator``,
    ``n_x_cathode``), see `SPMSolver` and `P2DSolver`.
    """
    check_model(model)
    check_kinetics(kinetics)
    cell = nrel_cell() if cell is None else cell
    space = nrel_parameter_space() if space is None else space
    solver_class = P2DSolver if model == "p2d" else SPMSolver
    try:
        return solver_class(cell=cell, space=space, kinetics=kinetics, **options)
    except TypeError as e:
        raise InputError(f"invalid option for the {model.upper()} solver: {e}") from e


def simulate(
    model: str = "spm",
    params: Mapping[str, object] | None = None,
    *,
    t=None,
    c_rate: float | None = None,
    protocol=None,
    kinetics: str = "butler_volmer",
    cell: Cell | None = None,
    space: ParameterSpace | None = None,
    **options,
) -> Solution:
    """Simulate a constant-current discharge, or a `Protocol`, with the numerical solver of
    `model`.

    Args:
        model: ``"spm"`` (single-particle model) or ``"p2d"``.
        params: degradation parameters by name, e.g. ``{"k_i0": 1.7, "k_Ds": 6.3}``;
            missing ones take their default (a fresh cell). Arrays of one common shape
            ``(B,)`` simulate a batch (vmapped, one compiled program).
        t: output times [s], strictly increasing from t >= 0 (default 0..1350 s, 5 s apart).
        c_rate: constant-current discharge rate in C (1C = the cell's `one_c_current`),
            > 0; default 2C. The shorthand for one discharge; not with `protocol`.
        protocol: a `jaxbatt.Protocol`, or a list of PyBaMM-style steps (``["Discharge at 2C
            for 150 seconds", "Rest for 60 seconds", "Charge at 1C until 4.1 V"]``). The
            solution then carries the applied ``current`` [A] and is NaN after the
            protocol's end (``termination`` `END_OF_PROTOCOL`, no warning); default times:
            1001 points over the protocol's nominal duration.
        kinetics: ``"butler_volmer"`` (default) or ``"linear"``.
        cell, space: the cell and parameter space (default: nrel cell and its space).
        **options: solver mesh and tolerance settings, see `SPMSolver` and `P2DSolver`.

    Returns:
        A `Solution`; ``.voltage`` has shape ``t.shape`` (``(B,) + t.shape`` for a batch).
        A discharge stops at the cell's cut-off voltage or when an electrode's surface
        stoichiometry leaves [0, 1]: then the solution is NaN after ``sol.t_end``,
        ``sol.termination_reason()`` says which limit, and a `DischargeEndedWarning`
        (naming the limit, the time and, for a batch, the members) is issued.

    Raises:
        InputError: unknown model or kinetics, bad times, non-positive C-rate.
        ParameterError: unknown, non-finite or out-of-range parameter.
        SolverError: the time integration failed (step limit, non-finite state) or, for the
            P2D, the Newton solve of its algebraic equations did not converge; when an
            electrode's surface stoichiometry is near or beyond 0 or 1 where it failed,
            the message names that electrode and the time instead.

    Example:
        >>> import numpy as np, jaxbatt
        >>> sol = jaxbatt.simulate("spm", {"k_i0": 1.7, "k_Ds": 6.3}, t=np.linspace(0, 1350, 5))
        >>> sol.voltage.shape
        (5,)
    """
    solver = make_solver(model, cell=cell, space=space, kinetics=kinetics, **options)
    theta = solver.space.validate({} if params is None else params)
    if protocol is not None:
        if c_rate is not None:
            raise InputError(
                "give either c_rate (one constant-current discharge) or protocol, not both"
            )
        protocol = check_protocol(protocol)
        t = protocol_times(protocol, solver.cell) if t is None else check_times(t)
        solution = _solve_protocol(_traced(solver), theta, t, protocol)
    else:
        t = DEFAULT_TIMES if t is None else check_times(t)
        c_rate = check_c_rate(2.0 if c_rate is None else c_rate)
        solution = _solve(_traced(solver), theta, t, jnp.asarray(c_rate, dtype=float))
    _raise_on_failure(solution, model, solver)
    _warn_if_ended_early(solution, model)
    return solution


def _members(mask) -> str:
    """The text " for batch member(s) [...]" naming the (first ten) members in `mask`."""
    if mask.ndim == 0:
        return ""
    return f" for batch member(s) {np.flatnonzero(mask)[:10].tolist()}"


def _raise_on_failure(solution: Solution, model: str, solver):
    failed = np.asarray(solution.failed)
    if not np.any(failed):
        return
    where = _members(failed)
    first = np.unravel_index(np.flatnonzero(failed.reshape(-1))[0], failed.shape)
    t_end = float(np.asarray(solution.t_end)[first])
    at = f" at t = {t_end:.6g} s"
    emptied = solution.emptied_electrode(first)
    if emptied is not None:
        raise SolverError(
            f"{model.upper()} solve failed{where}{at}: {emptied}, so the discharge cannot "
            "go on (the electrode's surface stoichiometry is leaving [0, 1]). Ask for times "
            "up to the end of the discharge, or a lower C-rate; raising max_steps or "
            "newton_max_steps does not help."
        )
    result = jax.tree.map(lambda x: x[first], solution.result)
    failed_code = result != diffrax.RESULTS.successful
    failed_code &= result != diffrax.RESULTS.event_occurred
    message = diffrax.RESULTS[result].rstrip(".") if bool(failed_code) else "non-finite voltage"
    newton_failures = (
        optx.RESULTS.nonlinear_max_steps_reached, optx.RESULTS.nonlinear_divergence
    )  # fmt: skip
    if model == "p2d" and any(
        bool(result == diffrax.RESULTS.promote(code)) for code in newton_failures
    ):
        raise SolverError(
            f"{model.upper()} solve failed{where}{at}: the Newton iteration for the potentials "
            f"and pore-wall fluxes did not converge (newton_max_steps = "
            f"{solver.newton_max_steps}, newton_tol = {solver.newton_tol}). The state may "
            "have left the physical range; check the parameters and C-rate, or raise "
            "newton_max_steps."
        )
    raise SolverError(
        f"{model.upper()} solve failed{where}{at}: {message}. Options: raise max_steps "
        f"(now {solver.max_steps}) or loosen rtol/atol (now {solver.rtol}/{solver.atol})."
    )


def _warn_if_ended_early(solution: Solution, model: str):
    # a protocol that ran to its end is not a surprise: only a limit is worth a warning
    ended = np.asarray(solution.ended_early)
    ended = ended & (np.asarray(solution.termination) != Termination.END_OF_PROTOCOL)
    if not np.any(ended):
        return
    reasons = solution.termination_reason()
    if ended.ndim == 0:
        detail = reasons
    else:
        members = np.flatnonzero(ended.reshape(-1))
        listed = "; ".join(f"member {k}: {reasons[k]}" for k in members[:10])
        more = f" (and {members.size - 10} more)" if members.size > 10 else ""
        detail = f"{members.size} of {ended.size} batch members ended early: {listed}{more}"
    warnings.warn(
        f"{model.upper()} discharge ended before the last requested time: {detail}. "
        "Voltages and fields after the end (Solution.t_end) are NaN.",
        DischargeEndedWarning,
        stacklevel=3,
    )
