"""Training and validation data from the numerical SPM solver."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .._errors import InputError
from ..solvers import SPMSolver
from ..solvers._spm import REFERENCE_SETTINGS
from ..solvers._particle import shell_centres


class SolverData(eqx.Module):
    """Numerical SPM solutions at `theta` (M, P) on times `t` (T,).

    Attributes:
        theta: parameter vectors (M, P).
        t: times [s] (T,).
        r_hat: normalised shell-centre radii (n,) (the same for both electrodes).
        x_anode, x_cathode: stoichiometries (M, T, n).
        x_surface: surface stoichiometries (M, T, 2) (anode, cathode).
        voltage: terminal voltage [V] (M, T).
        c_rate: the discharge rate of each set (M,), or None: the surrogate's (reference)
            rate. Row m's physical times are t * c_ref / c_rate[m] (its window's same depth
            of discharge); `t` holds the times at the reference rate c_ref.
    """

    theta: jax.Array
    t: jax.Array
    r_hat: jax.Array
    x_anode: jax.Array
    x_cathode: jax.Array
    x_surface: jax.Array
    voltage: jax.Array
    c_rate: jax.Array | None = None


def data_rates(surrogate, data: SolverData):
    """The rate of every row of `data` (M,)."""
    if data.c_rate is None:
        return jnp.full(data.theta.shape[:1], surrogate.c_rate)
    return data.c_rate


def training_times(t_max: float, n: int = 136):
    """Uniform times on (0, t_max] plus a geometric cluster in the first 50 s, where the
    diffusion boundary layer is thin.

    t = 0 is left out: there the surrogate is exact by construction (hard initial condition,
    closed-form kinetics), while a finite-volume solver is not: its surface concentration is
    extrapolated from the outer shell with the switched-on flux, a first-order error of
    j dr / (2 D) (1.7 mV of voltage at k_Ds = 1 with 30 shells, measured; 0.2 mV at t = 0.25 s).
    """
    early = np.geomspace(0.25, min(50.0, t_max), 24)
    return np.unique(np.concatenate([np.linspace(0.0, t_max, n)[1:], early]))


def solver_data(
    surrogate, theta, t=None, *, c_rate=None, n_r: int = 30, chunk: int = 64
) -> SolverData:
    """Solve the SPM of `surrogate`'s cell at each row of `theta` (vmapped, in chunks).

    `t`: times at the reference rate (default `training_times`); `c_rate`: one rate per row
    (M,) for a rate-input surrogate, each row solved at times t * c_ref / c_rate (default:
    every row at the reference rate)."""
    t = training_times(surrogate.t_max) if t is None else np.asarray(t, float)
    settings = {**REFERENCE_SETTINGS, "n_r_anode": n_r, "n_r_cathode": n_r}
    solver = SPMSolver(
        cell=surrogate.cell, space=surrogate.space, kinetics=surrogate.kinetics, **settings
    )
    theta = np.atleast_2d(np.asarray(theta, float))
    reference = surrogate.c_rate
    rates = np.full(len(theta), reference) if c_rate is None else np.asarray(c_rate, float)
    if rates.shape != (len(theta),):
        raise ValueError(f"c_rate must hold one rate per parameter set ({len(theta)}), got {rates.shape}")
    solve = jax.jit(jax.vmap(lambda th, c: solver.solve(th, surrogate.times_at(t, c), c)))
    parts = [
        solve(jnp.asarray(theta[i : i + chunk]), jnp.asarray(rates[i : i + chunk]))
        for i in range(0, len(theta), chunk)
    ]
    sol = jax.tree.map(lambda *xs: jnp.concatenate(xs), *parts)
    early = np.asarray(sol.ended_early)
    if early.any():
        m = int(np.argmax(early))
        values = ", ".join(f"{n} = {v:g}" for n, v in zip(surrogate.space.names, theta[m]))
        raise InputError(
            f"the discharge at {values} ({rates[m]:g}C) ends before the surrogate's window: "
            f"{sol.termination_reason()[m]}; train with a shorter window t_max (at most "
            f"{float(sol.t_end[m]):.0f} s there; jaxbatt.surrogates.discharge_window finds "
            "the longest window over the box)"
        )
    if not bool(jnp.all(sol.success)):
        raise RuntimeError("the SPM solver failed while generating surrogate data")
    a, c = surrogate.cell.anode, surrogate.cell.cathode
    return SolverData(
        theta=jnp.asarray(theta),
        t=jnp.asarray(t),
        r_hat=shell_centres(1.0, n_r, solver.radial_refinement),
        x_anode=sol.c_s_anode / a.max_concentration,
        x_cathode=sol.c_s_cathode / c.max_concentration,
        x_surface=jnp.stack(
            [sol.c_surf_anode / a.max_concentration, sol.c_surf_cathode / c.max_concentration], -1
        ),
        voltage=sol.voltage,
        c_rate=None if c_rate is None else jnp.asarray(rates),
    )


def voltage_errors_mV(surrogate, data: SolverData):
    """Absolute voltage errors |V_surrogate - V_solver| [mV], shape (M, T)."""
    if data.c_rate is None:
        pred = jax.jit(jax.vmap(surrogate.voltage_vector, (0, None)))(data.theta, data.t)
    else:
        pred = jax.jit(
            jax.vmap(lambda th, c: surrogate.voltage_vector(th, surrogate.times_at(data.t, c), c))
        )(data.theta, data.c_rate)
    return 1e3 * jnp.abs(pred - data.voltage)


def discharge_window(cell, space, c_rate, *, kinetics="butler_volmer", margin=0.98, n_random=16):
    """The longest surrogate window [s] at `c_rate`: `margin` times the earliest end of a
    discharge (the cell's cut-off voltage or a stoichiometry limit) over the corners and
    the centre of `space`'s box and `n_random` random points (seed 0), by the SPM solver."""
    import itertools  # noqa: PLC0415

    lower, upper = space.lower, space.upper
    corners = np.array(list(itertools.product(*zip(lower, upper))), float)
    random = np.random.default_rng(0).uniform(lower, upper, (n_random, len(space)))
    theta = np.concatenate([corners, (0.5 * (lower + upper))[None], random])
    solver = SPMSolver(cell=cell, space=space, kinetics=kinetics)
    # a discharge from a full cell lasts about 1 / c_rate hours; three times that is ample
    t = jnp.linspace(0.0, 3 * 3600.0 / float(c_rate), 200)
    sol = jax.jit(jax.vmap(lambda th: solver.solve(th, t, c_rate)))(jnp.asarray(theta))
    if bool(jnp.any(sol.failed)):
        raise RuntimeError(f"the SPM solver failed on the {cell.name} cell at {c_rate:g}C")
    if not bool(jnp.all(sol.ended_early)):
        raise InputError(
            f"a {c_rate:g}C discharge of {cell.name!r} does not reach the cut-off in "
            f"{t[-1]:.0f} s somewhere in the box: give the window t_max explicitly"
        )
    return float(margin * np.min(np.asarray(sol.t_end)))
