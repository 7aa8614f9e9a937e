"""`simulate`: the checked entry point to the numerical solvers."""

from collections.abc import Mapping

import diffrax
import equinox as eqx
import jax
import numpy as np

from ._errors import InputError, SolverError
from ._validation import check_c_rate, check_model, check_times
from .cells import Cell, ParameterSpace, nrel_cell, nrel_parameter_space
from .physics import check_kinetics
from .solvers import Solution, SPMSolver

DEFAULT_TIMES = np.linspace(0.0, 1350.0, 271)


@eqx.filter_jit
def _solve(solver, theta, t, c_rate):
    if theta.ndim == 1:
        return solver.solve(theta, t, c_rate)
    return jax.vmap(solver.solve, in_axes=(0, None, None))(theta, t, c_rate)


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
    ``rtol=1e-8``, ``max_steps=4096``).
    """
    check_model(model)
    check_kinetics(kinetics)
    cell = nrel_cell() if cell is None else cell
    space = nrel_parameter_space() if space is None else space
    if model == "p2d":
        raise InputError("the P2D solver is not implemented yet (issue 3); use model='spm'")
    return SPMSolver(cell=cell, space=space, kinetics=kinetics, **options)


def simulate(
    model: str = "spm",
    params: Mapping[str, object] | None = None,
    *,
    t=None,
    c_rate: float = 2.0,
    kinetics: str = "butler_volmer",
    cell: Cell | None = None,
    space: ParameterSpace | None = None,
    **options,
) -> Solution:
    """Simulate a constant-current discharge with the numerical solver of `model`.

    Args:
        model: ``"spm"`` (single-particle model) or ``"p2d"``.
        params: degradation parameters by name, e.g. ``{"k_i0": 1.7, "k_Ds": 6.3}``;
            missing ones take their default (a fresh cell). Arrays of one common shape
            ``(B,)`` simulate a batch (vmapped, one compiled program).
        t: output times [s], strictly increasing from t >= 0 (default 0..1350 s, 5 s apart).
        c_rate: discharge rate in C (1C = the cell's `one_c_current`), > 0.
        kinetics: ``"butler_volmer"`` (default) or ``"linear"``.
        cell, space: the cell and parameter space (default: nrel cell and its space).
        **options: solver mesh and tolerance settings, see `SPMSolver`.

    Returns:
        A `Solution`; ``.voltage`` has shape ``t.shape`` (``(B,) + t.shape`` for a batch).

    Raises:
        InputError: unknown model or kinetics, bad times, non-positive C-rate.
        ParameterError: unknown, non-finite or out-of-range parameter.
        SolverError: the time integration failed (step limit, non-finite state).

    Example:
        >>> import numpy as np, jaxbatt
        >>> sol = jaxbatt.simulate("spm", {"k_i0": 1.7, "k_Ds": 6.3}, t=np.linspace(0, 1350, 5))
        >>> sol.voltage.shape
        (5,)
    """
    solver = make_solver(model, cell=cell, space=space, kinetics=kinetics, **options)
    t = DEFAULT_TIMES if t is None else check_times(t)
    c_rate = check_c_rate(c_rate)
    theta = solver.space.validate({} if params is None else params)
    solution = _solve(solver, theta, t, c_rate)
    ok = np.asarray(solution.success)
    if not np.all(ok):
        where = "" if ok.ndim == 0 else f" for batch member(s) {np.flatnonzero(~ok)[:10].tolist()}"
        first = np.unravel_index(np.flatnonzero(~ok.reshape(-1))[0], ok.shape)
        result = jax.tree.map(lambda x: x[first], solution.result)
        failed = result != diffrax.RESULTS.successful
        message = diffrax.RESULTS[result].rstrip(".") if bool(failed) else "non-finite voltage"
        raise SolverError(
            f"{model.upper()} solve failed{where}: {message}. Options: raise max_steps "
            f"(now {solver.max_steps}) or loosen rtol/atol (now {solver.rtol}/{solver.atol})."
        )
    return solution
