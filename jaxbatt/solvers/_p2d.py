"""Numerical P2D (Doyle-Fuller-Newman): finite volumes in x and r, the algebraic part
eliminated by an inner Newton solve, Diffrax stiff time integration.

Mesh. Uniform cells in each of the anode, separator and cathode (`n_x_*` cells each, cell
centres carry the unknowns). Face fluxes use the harmonic average of the two adjacent
half-cells, 1 / (dx_L / (2 p_L) + dx_R / (2 p_R)), for both the effective electrolyte
diffusivity and the effective conductivity, so the electrode/separator interfaces (where
dx and, in general, eps_e jump) need no special case. Each electrode cell holds one particle
of `n_r_*` spherical shells (`jaxbatt.solvers._particle`, the SPM's finite volumes, refined
towards the surface by default).

Differential state: c_e at every x cell and c_s at every shell of every particle, scaled to
O(1) (by c_e0 and c_s,max). Algebraic state: the pore-wall fluxes j at the electrode cells,
from which every potential follows. Given the concentrations, the two electrodes decouple:
with j known, i_e at each face is the running integral of F a_s j dx, i_s = i - i_e, and the
potential differences between neighbouring cells follow from Ohm's law in each phase.
So per electrode the unknowns are the n_x values of j, and the equations are

    (Delta_{k+1} - Delta_k) - [(phi_s,k+1 - phi_s,k) - (phi_e,k+1 - phi_e,k)] = 0,
    int F a_s j dx = +-i,

with Delta = phi_s - phi_e = U(c_s,surf) + eta(j) from the kinetics inverted in closed form
(`overpotential_for_flux`) and c_s,surf(j) the particle's flux-aware surface extrapolation.
Their Jacobian is tridiagonal in the charge through each face, so a Newton step costs O(n).
Two ways to honour them (`P2DSolver.algebraic`): the default keeps the fluxes as states
relaxed onto G = 0 with a microsecond time constant (a semi-explicit index-1 DAE that the
L-stable ESDIRK integrator resolves at no cost; consistent initial fluxes from a Newton solve
at t = 0); the alternative solves G = 0 by Newton inside every right-hand-side evaluation,
differentiated by the implicit function theorem, leaving an ODE in the concentrations alone.
"""

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optimistix as optx

from .._constants import FARADAY, GAS_CONSTANT
from .._errors import InputError
from ..cells import Cell, Electrode, ParameterSpace
from ..physics import (
    electrolyte_potential_gradient,
    electrolyte_reaction_source,
    effective_transport,
    overpotential_for_flux,
    p2d_initial_state,
    pore_wall_flux,
    solid_potential_gradient,
    terminal_voltage,
    volumetric_reaction_rate,
)
from ..protocols import Protocol
from ..protocols._protocol import step_currents_in_amperes
from ._limits import end_of_solve, limit_event, limit_margins, save_at
from ._linear import CondensedLU
from ._particle import (
    SURFACE_REFINEMENT,
    check_refinement,
    particle_rate,
    shell_centres,
    surface_concentration,
)
from ._protocol import current_at, run_protocol
from ._solution import Solution, Termination, after_end, blank_after
from ._steps import check_fixed_steps, fixed_step_times


def _harmonic_face_values(values, dx):
    """Effective face coefficient between adjacent cells: (dx_L + dx_R)/2 divided by the
    series resistance dx_L / (2 p_L) + dx_R / (2 p_R); exact harmonic mean on a uniform mesh."""
    resistance = 0.5 * dx[:-1] / values[:-1] + 0.5 * dx[1:] / values[1:]
    return 0.5 * (dx[:-1] + dx[1:]) / resistance


class _Mesh(eqx.Module):
    """The x mesh of one cell: widths, centres, and per-cell material data (all (N,))."""

    dx: jax.Array
    x: jax.Array
    volume_fraction: jax.Array  # eps_e
    bruggeman: jax.Array  # the Bruggeman exponent of each cell's domain
    specific_area: jax.Array  # a_s, zero in the separator
    n_anode: int = eqx.field(static=True)
    n_separator: int = eqx.field(static=True)
    n_cathode: int = eqx.field(static=True)

    @property
    def anode(self):
        return slice(0, self.n_anode)

    @property
    def cathode(self):
        return slice(self.n_anode + self.n_separator, None)


def _mesh(cell: Cell, n_a: int, n_s: int, n_c: int) -> _Mesh:
    a, s, c = cell.anode, cell.separator, cell.cathode
    dx = jnp.concatenate(
        [
            jnp.full(n_a, a.thickness / n_a),
            jnp.full(n_s, s.thickness / n_s),
            jnp.full(n_c, c.thickness / n_c),
        ]
    )
    faces = jnp.concatenate([jnp.zeros(1), jnp.cumsum(dx)])
    eps = jnp.concatenate(
        [
            jnp.full(n_a, a.electrolyte_volume_fraction),
            jnp.full(n_s, s.electrolyte_volume_fraction),
            jnp.full(n_c, c.electrolyte_volume_fraction),
        ]
    )
    area = jnp.concatenate(
        [jnp.full(n_a, a.specific_area), jnp.zeros(n_s), jnp.full(n_c, c.specific_area)]
    )
    b_a, b_s, b_c = cell.bruggeman_exponents
    bruggeman = jnp.concatenate([jnp.full(n_a, b_a), jnp.full(n_s, b_s), jnp.full(n_c, b_c)])
    return _Mesh(
        dx=dx,
        x=0.5 * (faces[1:] + faces[:-1]),
        volume_fraction=eps,
        bruggeman=bruggeman,
        specific_area=area,
        n_anode=n_a,
        n_separator=n_s,
        n_cathode=n_c,
    )


def _reaction_current_per_cell(mesh: _Mesh, j_a, j_c):
    """F a_s j dx [A/m^2] of every x cell (zero in the separator)."""
    n_s = mesh.n_separator
    j = jnp.concatenate([j_a, jnp.zeros(n_s, j_a.dtype), j_c])
    return FARADAY * volumetric_reaction_rate(mesh.specific_area, j) * mesh.dx


def _electrolyte_current_at_faces(mesh: _Mesh, j_a, j_c):
    """i_e [A/m^2] at the N - 1 interior faces: the running integral of F a_s j from x = 0
    (where i_e = 0)."""
    return jnp.cumsum(_reaction_current_per_cell(mesh, j_a, j_c))[:-1]


def _electrolyte_potential_steps(cell: Cell, mesh: _Mesh, c_e, i_e_faces):
    """phi_e(cell k+1) - phi_e(cell k) [V] across the N - 1 interior faces."""
    el, t = cell.electrolyte, cell.temperature
    kappa = effective_transport(el.conductivity(c_e, t), mesh.volume_fraction, mesh.bruggeman)
    kappa_face = _harmonic_face_values(kappa, mesh.dx)
    distance = 0.5 * (mesh.dx[:-1] + mesh.dx[1:])
    c_face = 0.5 * (c_e[:-1] + c_e[1:])
    gradient = electrolyte_potential_gradient(
        i_e_faces,
        kappa_face,
        c_face,
        (c_e[1:] - c_e[:-1]) / distance,
        el.transference_number(c_face, t),
        el.thermodynamic_factor(c_face, t),
        t,
    )
    return distance * gradient


def _surface_concentrations(electrode: Electrode, c_s, j, temperature, refinement):
    return jax.vmap(surface_concentration, (0, 0, None, None, None))(
        c_s, j, electrode, temperature, refinement
    )


def _interface_potential_difference(electrode: Electrode, c_e, c_s, j, temperature, kinetics,
                                    refinement):  # fmt: skip
    """Delta = phi_s - phi_e = U(c_s,surf) + eta(j) [V] at every cell of one electrode."""
    c_surf = _surface_concentrations(electrode, c_s, j, temperature, refinement)
    i0 = electrode.exchange_current_density(c_e, c_surf, temperature)
    eta = overpotential_for_flux(
        j, i0, temperature, kinetics, electrode.charge_transfer_coefficient
    )
    return electrode.open_circuit_potential(c_surf) + eta


def _flux_scales(cell: Cell):
    """Uniform (SPM) pore-wall fluxes at 1C [mol/(m^2 s)]: the Newton unknowns' units."""
    i_1c = cell.current_density(1.0)
    return pore_wall_flux(i_1c, cell.anode, 1.0), pore_wall_flux(i_1c, cell.cathode, -1.0)


def _block_jacobians(linear, like):
    """The diagonal blocks of a linear map on a tuple of vectors whose blocks are uncoupled
    (each electrode's equations involve only its own fluxes)."""

    def block(b, x):
        def column(e_k):
            basis = tuple(e_k if c == b else jnp.zeros_like(y) for c, y in enumerate(like))
            return linear(basis)[b]

        return jax.vmap(column, out_axes=1)(jnp.eye(x.shape[0], dtype=x.dtype))

    return tuple(block(b, x) for b, x in enumerate(like))


class _ElectrodeEquations(eqx.Module):
    """The algebraic equations of one electrode at fixed concentrations, in the scaled
    fluxes u = j / j_1C of its n cells (all in volts):

        r_m = (Delta_{m+1} - Delta_m) - [(phi_s,m+1 - phi_s,m) - (phi_e,m+1 - phi_e,m)],
              m = 0 .. n-2, with Ohm's law in each phase across the face between them;
        r_{n-1} = (RT/F) (i_e,in + sum F a_s j dx - i_e,out) / i_1C  (charge balance).

    i_e at the interior faces is i_e,in plus the running sum of F a_s j dx; it enters the
    potential steps linearly, which gives the Newton step in closed form (`newton_step`).
    """

    electrode: Electrode
    c_e: jax.Array  # (n,) at the electrode's cells
    c_s: jax.Array  # (n, n_r)
    temperature: jax.Array
    kinetics: str = eqx.field(static=True)
    flux_scale: jax.Array  # j_1C [mol/(m^2 s)]
    charge_per_u: jax.Array  # F a_s dx j_1C [A/m^2] per unit u, per cell (n,)
    face_resistance: jax.Array  # dx/sigma + distance/kappa_face [Ohm m^2], (n-1,)
    zero_current_steps: jax.Array  # (phi_s - phi_e) steps at i_e = 0 [V], (n-1,)
    current_in: jax.Array  # i_e entering the electrode [A/m^2]
    current_out: jax.Array  # i_e leaving it [A/m^2]
    current_unit: jax.Array  # RT/F / i_1C [V m^2/A]
    refinement: float = eqx.field(static=True)  # the particles' radial mesh

    def delta(self, u):
        """Delta = phi_s - phi_e [V] at each cell for fluxes u."""
        return _interface_potential_difference(
            self.electrode, self.c_e, self.c_s, u * self.flux_scale, self.temperature,
            self.kinetics, self.refinement,
        )  # fmt: skip

    def _residual(self, u, delta):
        i_e = self.current_in + jnp.cumsum(self.charge_per_u * u)[:-1]
        drops = (delta[1:] - delta[:-1]) - (self.zero_current_steps + self.face_resistance * i_e)
        balance = self.current_in + jnp.sum(self.charge_per_u * u) - self.current_out
        return jnp.concatenate([drops, jnp.reshape(self.current_unit * balance, (1,))])

    def residual(self, u):
        return self._residual(u, self.delta(u))

    def newton_step(self, u, *, frozen=False):
        """(G(u), J(u)^{-1} G(u)): the residual and the Newton step, in O(n).

        With S_m = sum_{k<=m} q_k x_k (the charge through face m of a step x) and
        g_k = dDelta_k/du_k / q_k > 0, J x = b becomes the tridiagonal system
        g_m S_{m-1} - (g_m + g_{m+1} + w_m) S_m + g_{m+1} S_{m+1} = b_m with S_{-1} = 0 and
        S_{n-1} fixed by the charge balance; it is diagonally dominant (w_m > 0 is the face
        resistance), so elimination without pivoting is stable. One JVP gives every
        dDelta_k/du_k (Delta_k depends on u_k alone). With `frozen`, J is held constant under
        differentiation (the relaxation form).
        """
        delta, d_delta = jax.jvp(self.delta, (u,), (jnp.ones_like(u),))
        residual = self._residual(u, delta)
        q, w, unit = self.charge_per_u, self.face_resistance, self.current_unit
        if frozen:
            d_delta, q, w, unit = jax.lax.stop_gradient((d_delta, q, w, unit))
        g = d_delta / q
        charge_total = residual[-1] / unit
        rhs = residual[:-1].at[-1].add(-g[-1] * charge_total)
        zero = jnp.zeros(1, g.dtype)
        charge = jax.lax.linalg.tridiagonal_solve(
            jnp.concatenate([zero, g[1:-1]]),
            -(g[:-1] + g[1:] + w),
            jnp.concatenate([g[1:-1], zero]),
            rhs[:, None],
        )[:, 0]
        charge = jnp.concatenate([zero, charge, jnp.reshape(charge_total, (1,))])
        return residual, jnp.diff(charge) / q


def _electrode_equations(cell, mesh, electrode, cells, c_e, c_s, i, current_in, current_out,
                         zero_current_steps, electrolyte_resistance, flux_scale, kinetics,
                         refinement):  # fmt: skip
    dx = mesh.dx[cells]
    face_resistance = dx[:-1] / electrode.solid_conductivity + electrolyte_resistance
    # Ohm's law in the solid at i_e = 0 carries the whole current i
    solid_steps = dx[:-1] * solid_potential_gradient(i, electrode.solid_conductivity)
    return _ElectrodeEquations(
        electrode=electrode,
        c_e=c_e[cells],
        c_s=c_s,
        temperature=cell.temperature,
        kinetics=kinetics,
        flux_scale=flux_scale,
        charge_per_u=FARADAY * volumetric_reaction_rate(electrode.specific_area, flux_scale) * dx,
        face_resistance=face_resistance,
        zero_current_steps=solid_steps - zero_current_steps,
        current_in=current_in,
        current_out=current_out,
        current_unit=GAS_CONSTANT * cell.temperature / FARADAY / cell.current_density(1.0),
        refinement=refinement,
    )


def _newton(equations, u0, tol, max_steps):
    """Newton on the block-diagonal system (one block per electrode) with closed-form
    Jacobians; stops when every update is below tol (1 + |u|). Returns (u, converged)."""

    def update(us):
        return tuple(eq.newton_step(u)[1] for eq, u in zip(equations, us))

    def small(us, steps):
        return jnp.all(
            jnp.stack([jnp.max(jnp.abs(s) / (1.0 + jnp.abs(u))) for u, s in zip(us, steps)])
            <= tol
        )

    def cond(carry):
        _, k, done = carry
        return (k < max_steps) & ~done

    def body(carry):
        us, k, _ = carry
        steps = update(us)
        new = tuple(u - s for u, s in zip(us, steps))
        return new, k + 1, small(us, steps)

    us, _, done = jax.lax.while_loop(cond, body, (u0, jnp.array(0), jnp.array(False)))
    finite = jnp.all(jnp.stack([jnp.all(jnp.isfinite(u)) for u in us]))
    # a float flag: lax.custom_root cannot carry a boolean auxiliary output through its JVP
    return us, jnp.where(done & finite, 1.0, 0.0)


def jacobian_sparsity(
    n_a: int, n_s: int, n_c: int, n_r_a: int, n_r_c: int, *, flux_states: bool
) -> np.ndarray:
    """Boolean (M, M) pattern of d(rate)/d(state) for the state layout of `P2DSolver`:
    [c_e (n_a + n_s + n_c), c_s,a (n_a x n_r_a), c_s,c (n_c x n_r_c)] followed, if
    `flux_states`, by the scaled pore-wall fluxes [u_a (n_a), u_c (n_c)].

    Each concentration couples to its neighbours (three-point stencils in x and r). The
    algebraic equations of one electrode involve its c_e, the two outer shells of each of
    its particles (the surface extrapolation) and, in the relaxation form, its own fluxes;
    the flux j at an electrode cell drives that cell's c_e and its particle's outer shell.
    With the fluxes eliminated (Newton inside the right-hand side), every c_e and outer
    shell row of an electrode depends on all of the electrode's algebraic inputs.
    """
    n_x = n_a + n_s + n_c
    n_y = n_x + n_a * n_r_a + n_c * n_r_c
    size = n_y + (n_a + n_c if flux_states else 0)
    pattern = np.eye(size, dtype=bool)
    for k in range(n_x - 1):
        pattern[k, k + 1] = pattern[k + 1, k] = True
    start, flux_start = n_x, n_y
    electrodes = ((n_a, n_r_a, np.arange(n_a)), (n_c, n_r_c, np.arange(n_x - n_c, n_x)))
    for n_cells, n_r, cells in electrodes:
        shells = start + np.arange(n_cells * n_r).reshape(n_cells, n_r)
        for row in shells:
            for k in range(n_r - 1):
                pattern[row[k], row[k + 1]] = pattern[row[k + 1], row[k]] = True
        inputs = np.concatenate([cells, shells[:, -2:].ravel()])
        driven = np.stack([cells, shells[:, -1]], axis=1)  # rows driven by each cell's j
        if flux_states:
            fluxes = flux_start + np.arange(n_cells)
            inputs = np.concatenate([inputs, fluxes])
            pattern[np.ix_(fluxes, inputs)] = True
            for k in range(n_cells):
                pattern[driven[k], fluxes[k]] = True
            flux_start += n_cells
        else:
            pattern[np.ix_(driven.ravel(), inputs)] = True
        start += n_cells * n_r
    return pattern


ALGEBRAIC = ("relaxation", "newton")

# A coarse, fast configuration for batches (`P2DSolver(**P2D_FAST_SETTINGS)`): 6/3/6 cells,
# 6 surface-refined shells, rtol 2e-3. On the nrel cell at 2C it is 0.80 mV from t = 10 s
# (1.5 mV earlier) off PyBaMM's fine DFN, and its vmapped batch ran 2.1-2.9x PyBaMM's DFN
# at its defaults (`benchmarks/bench_p2d_solver.py`). Sized for the nrel cell: converted
# PyBaMM sets need the default mesh (README, "Your own cell").
FAST_SETTINGS = {
    "n_x_anode": 6, "n_x_separator": 3, "n_x_cathode": 6, "n_r_anode": 6, "n_r_cathode": 6,
    "rtol": 2e-3, "atol": 2e-5,
}  # fmt: skip


# The coarse mesh on a fixed step sequence, for an exact likelihood (`calibrate` with a
# `SolverVoltageModel`): 60 steps, full Newton stage solves to rtol 1e-6. On the Enertech
# (Ai2020) 0.5C discharge it is 0.77 mV off the same mesh at rtol 1e-8 (FAST_SETTINGS: 0.78)
# and its mean voltage along k_i0 scatters by 0.0014 uV around a smooth trend (FAST_SETTINGS,
# adaptive: 0.77 uV, enough to freeze NUTS); value and gradient cost 1.5x FAST_SETTINGS'
# (2026-12-07, 2-core CPU; `benchmarks/bench_p2d_smoothness.py`).
CALIBRATION_SETTINGS = {
    **{name: size for name, size in FAST_SETTINGS.items() if name.startswith("n_")},
    "fixed_steps": 60, "rtol": 1e-6, "atol": 1e-8,
}  # fmt: skip


class P2DSolver(eqx.Module):
    """Method-of-lines P2D (Doyle-Fuller-Newman) solver for a constant-current discharge.

    Finite volumes in x (anode, separator, cathode; harmonic face averages) and in r (one
    particle per electrode cell), integrated by a stiff Diffrax solver (default ``Kvaerno3``,
    an L-stable, stiffly accurate ESDIRK) under a PID step-size controller, whose Newton
    iterations form the Jacobian by column colouring. See the module docstring for the
    equations. `solve` is pure: jit it, vmap it over parameter vectors, differentiate it
    with respect to them.

    The algebraic part (the pore-wall fluxes j, from which every potential follows) is
    handled in one of two ways, `algebraic`:

    - ``"relaxation"`` (default): the scaled fluxes u = j / j_1C are states with
      du/dt = -(1/tau) G_u^{-1} G(c, u), where G are the algebraic equations and G_u their
      Jacobian (held constant under differentiation, exact on the manifold G = 0). Every
      deviation from G = 0 decays as exp(-t/tau) with tau = `relaxation_time`, which the
      L-stable integrator resolves at no cost, so the solution stays on the constraint
      manifold (the P2D as a semi-explicit index-1 DAE, with an O(tau du/dt) offset: below
      1e-7 of max |j| at the default tau, measured in the tests). The initial fluxes are
      consistent (Newton at t = 0).
    - ``"newton"``: a Newton solve of G = 0 inside every right-hand-side evaluation
      (implicit-function-theorem derivatives); the state is the concentrations only.

    Both give the same solution (tested, slow marker); the relaxation form is about 1.7x
    faster (benchmark).

    Attributes:
        cell: the `Cell`.
        space: the `ParameterSpace` that maps parameter vectors into the cell.
        kinetics: ``"butler_volmer"`` (symmetric, closed-form inverse) or ``"linear"``.
        n_x_anode, n_x_separator, n_x_cathode: finite-volume cells per domain.
        n_r_anode, n_r_cathode: shells per particle.
        radial_refinement: exponent p of the shells' surface-refining map r = R (1 - (1 - u)^p)
            (`jaxbatt.solvers._particle`); default 1.5, the SPM's (1 = uniform shells). At 1C
            against PyBaMM's fine DFN it took the default mesh's error from 7.64 to 1.98 mV
            for Chen2020 and from 3.28 to 1.26 mV for Marquis2019 (README, "Your own cell").
        rtol, atol: step-size controller tolerances (on concentrations scaled by c_e0 and
            c_s,max, and on u; dimensionless).
        method: the Diffrax solver (default ``Kvaerno3``); an implicit one gets a VeryChord
            root finder with the structured linear solver `CondensedLU`.
        max_steps: step limit; reaching it marks the solution unsuccessful.
        algebraic: ``"relaxation"`` or ``"newton"`` (above).
        relaxation_time: tau [s] of the relaxation form.
        newton_tol: tolerance of the Newton solves (on u and on the residuals, in V).
        newton_max_steps: Newton iteration limit; failing to converge within it marks the
            solution unsuccessful (`jaxbatt.simulate` raises a `SolverError` naming it).
        fixed_steps: None (default: adaptive steps under the PID controller) or the number of
            steps of a fixed sequence (`jaxbatt.solvers._steps.fixed_step_times`: a geometric
            ramp, then uniform steps to the last requested time), with full Newton stage
            solves to `rtol`/`atol`. The voltage is then a smooth function of the parameters,
            which an exact likelihood needs (`CALIBRATION_SETTINGS`); the accuracy is the
            caller's to check. Constant-current discharges only (protocols refuse it).
        adjoint: how Diffrax differentiates the solve (default reverse mode through
            checkpoints; ``diffrax.ForwardMode()`` for `jax.jacfwd`, as the exact-solver
            calibration likelihood uses).
    """

    cell: Cell
    space: ParameterSpace = eqx.field(static=True)
    kinetics: str = eqx.field(static=True, default="butler_volmer")
    n_x_anode: int = eqx.field(static=True, default=10)
    n_x_separator: int = eqx.field(static=True, default=5)
    n_x_cathode: int = eqx.field(static=True, default=10)
    n_r_anode: int = eqx.field(static=True, default=10)
    n_r_cathode: int = eqx.field(static=True, default=10)
    radial_refinement: float = eqx.field(static=True, default=SURFACE_REFINEMENT)
    rtol: float = 1e-4
    atol: float = 1e-6
    method: diffrax.AbstractSolver = diffrax.Kvaerno3()
    max_steps: int = eqx.field(static=True, default=4096)
    algebraic: str = eqx.field(static=True, default="relaxation")
    relaxation_time: float = 1e-6
    newton_tol: float = 1e-8
    newton_max_steps: int = eqx.field(static=True, default=32)
    adjoint: diffrax.AbstractAdjoint = diffrax.RecursiveCheckpointAdjoint()
    fixed_steps: int | None = eqx.field(static=True, default=None)

    def __check_init__(self):
        check_fixed_steps(self.fixed_steps)
        if self.algebraic not in ALGEBRAIC:
            raise InputError(f"unknown algebraic {self.algebraic!r}; choose one of {ALGEBRAIC}")
        sizes = {
            "n_x_anode": (self.n_x_anode, 2), "n_x_separator": (self.n_x_separator, 2),
            "n_x_cathode": (self.n_x_cathode, 2), "n_r_anode": (self.n_r_anode, 3),
            "n_r_cathode": (self.n_r_cathode, 3),
        }  # fmt: skip
        for name, (value, least) in sizes.items():
            if not isinstance(value, int) or value < least:
                raise InputError(f"{name} must be an integer >= {least}, got {value!r}")
        check_refinement(self.radial_refinement)

    # -- layout of the state vector ------------------------------------------------------

    def mesh(self, cell: Cell) -> _Mesh:
        """The x mesh (cell widths, centres, eps_e, a_s) of `cell`."""
        return _mesh(cell, self.n_x_anode, self.n_x_separator, self.n_x_cathode)

    @property
    def _n_x(self):
        return self.n_x_anode + self.n_x_separator + self.n_x_cathode

    @property
    def _n_concentrations(self):
        return self._n_x + self.n_x_anode * self.n_r_anode + self.n_x_cathode * self.n_r_cathode

    def _unpack(self, cell: Cell, y):
        """Concentrations [mol/m^3] (c_e (N,), c_s,a (n_a, n_r,a), c_s,c (n_c, n_r,c)) of a
        state vector (any leading axes); the flux states, if any, are ignored."""
        n, na, nc = self._n_x, self.n_x_anode, self.n_x_cathode
        size_a, size_c = na * self.n_r_anode, nc * self.n_r_cathode
        lead = y.shape[:-1]
        c_e = y[..., :n] * cell.electrolyte.initial_concentration
        c_s_a = y[..., n : n + size_a] * cell.anode.max_concentration
        c_s_c = y[..., n + size_a : n + size_a + size_c] * cell.cathode.max_concentration
        return (
            c_e,
            c_s_a.reshape(lead + (na, self.n_r_anode)),
            c_s_c.reshape(lead + (nc, self.n_r_cathode)),
        )

    def _pack(self, cell: Cell, c_e, c_s_a, c_s_c):
        return jnp.concatenate(
            [
                c_e / cell.electrolyte.initial_concentration,
                c_s_a.reshape(-1) / cell.anode.max_concentration,
                c_s_c.reshape(-1) / cell.cathode.max_concentration,
            ]
        )

    def initial_concentrations(self, cell: Cell):
        """(c_e, c_s,a, c_s,c) at t = 0 [mol/m^3]: uniform (`p2d_initial_state`)."""
        c_e0, c_a0, c_c0 = p2d_initial_state(cell)
        return (
            jnp.full(self._n_x, c_e0),
            jnp.full((self.n_x_anode, self.n_r_anode), c_a0),
            jnp.full((self.n_x_cathode, self.n_r_cathode), c_c0),
        )

    # -- the algebraic part ----------------------------------------------------------------

    def algebraic_equations(self, cell: Cell, c_e, c_s_a, c_s_c, current_density):
        """The algebraic equations of the anode and of the cathode at given concentrations,
        as functions of the scaled fluxes u = j / j_1C (see `_ElectrodeEquations`)."""
        mesh, i = self.mesh(cell), current_density
        scale_a, scale_c = _flux_scales(cell)
        n_a, n_c = self.n_x_anode, self.n_x_cathode
        first_c = n_a + self.n_x_separator
        # electrolyte potential steps across the interior faces, split into the part at
        # i_e = 0 (the diffusion potential) and the ohmic part (-resistance * i_e)
        n_faces = c_e.shape[0] - 1
        zero_steps = _electrolyte_potential_steps(cell, mesh, c_e, jnp.zeros(n_faces))
        resistance = _electrolyte_potential_steps(cell, mesh, c_e, -jnp.ones(n_faces)) - zero_steps
        faces_a, faces_c = slice(0, n_a - 1), slice(first_c, first_c + n_c - 1)
        zero = jnp.zeros_like(i)
        anode = _electrode_equations(
            cell, mesh, cell.anode, mesh.anode, c_e, c_s_a, i, zero, i,
            zero_steps[faces_a], resistance[faces_a], scale_a, self.kinetics,
            self.radial_refinement,
        )  # fmt: skip
        cathode = _electrode_equations(
            cell, mesh, cell.cathode, mesh.cathode, c_e, c_s_c, i, i, zero,
            zero_steps[faces_c], resistance[faces_c], scale_c, self.kinetics,
            self.radial_refinement,
        )  # fmt: skip
        return anode, cathode

    def pore_wall_fluxes(self, cell: Cell, c_e, c_s_a, c_s_c, current_density):
        """(j_a (n_a,), j_c (n_c,), result): the pore-wall fluxes [mol/(m^2 s)] that solve
        the algebraic equations at the given concentrations, by Newton from the SPM's
        uniform flux, differentiable by the implicit function theorem; `result` is an
        Optimistix result (``nonlinear_max_steps_reached`` if Newton did not converge)."""
        equations = self.algebraic_equations(cell, c_e, c_s_a, c_s_c, current_density)
        uniform = current_density / cell.current_density(1.0)
        u0 = (jnp.full(self.n_x_anode, uniform), jnp.full(self.n_x_cathode, uniform))

        def residual(us):
            return tuple(eq.residual(u) for eq, u in zip(equations, us))

        def solve(_, guess):
            return _newton(equations, guess, self.newton_tol, self.newton_max_steps)

        def tangent_solve(linear, rhs):
            # derivatives only: the linearised system, materialised block by block
            return jax.tree.map(jnp.linalg.solve, _block_jacobians(linear, rhs), rhs)

        (u_a, u_c), converged = jax.lax.custom_root(
            residual, u0, solve, tangent_solve, has_aux=True
        )
        result = optx.RESULTS.where(
            converged > 0.5, optx.RESULTS.successful, optx.RESULTS.nonlinear_max_steps_reached
        )
        scale_a, scale_c = _flux_scales(cell)
        return u_a * scale_a, u_c * scale_c, result

    def potentials(self, cell: Cell, c_e, c_s_a, c_s_c, j_a, j_c, current_density):
        """(phi_e (N,), phi_s,a (n_a,), phi_s,c (n_c,), V) [V] at the cell centres for given
        concentrations and pore-wall fluxes: Ohm's law in each phase integrated from
        phi_s(x = 0) = 0, and V = phi_s(x = L)."""
        mesh, t, i = self.mesh(cell), cell.temperature, current_density
        a, c = cell.anode, cell.cathode
        reaction = _reaction_current_per_cell(mesh, j_a, j_c)
        i_e = _electrolyte_current_at_faces(mesh, j_a, j_c)
        dx = mesh.dx
        # half cell at each collector: i_e is linear in a cell, so its mean over the half
        # cell is its value a quarter of the cell from the collector
        i_e_first = 0.25 * reaction[0]
        i_e_last = i_e[-1] + 0.75 * reaction[-1]
        phi_s_a_first = 0.5 * dx[0] * solid_potential_gradient(i - i_e_first, a.solid_conductivity)
        dphi_s_a = dx[: self.n_x_anode - 1] * solid_potential_gradient(
            i - i_e[: self.n_x_anode - 1], a.solid_conductivity
        )
        phi_s_a = phi_s_a_first + jnp.concatenate([jnp.zeros(1), jnp.cumsum(dphi_s_a)])
        p = self.radial_refinement
        delta_a = _interface_potential_difference(
            a, c_e[mesh.anode], c_s_a, j_a, t, self.kinetics, p
        )
        delta_c = _interface_potential_difference(
            c, c_e[mesh.cathode], c_s_c, j_c, t, self.kinetics, p
        )
        dphi_e = _electrolyte_potential_steps(cell, mesh, c_e, i_e)
        phi_e = (phi_s_a[0] - delta_a[0]) + jnp.concatenate([jnp.zeros(1), jnp.cumsum(dphi_e)])
        phi_s_c = phi_e[mesh.cathode] + delta_c
        phi_s_collector = phi_s_c[-1] + 0.5 * dx[-1] * solid_potential_gradient(
            i - i_e_last, c.solid_conductivity
        )
        return phi_e, phi_s_a, phi_s_c, terminal_voltage(phi_s_collector)

    # -- the differential part -------------------------------------------------------------

    def electrolyte_rate(self, cell: Cell, c_e, j_a, j_c):
        """dc_e/dt [mol/(m^3 s)] at every x cell: conservative finite volumes of
        eps_e dc_e/dt = d/dx(D_eff dc_e/dx) + (1 - t+) a_s j, no flux at the collectors."""
        mesh, el, t = self.mesh(cell), cell.electrolyte, cell.temperature
        d_eff = effective_transport(el.diffusivity(c_e, t), mesh.volume_fraction, mesh.bruggeman)
        d_face = _harmonic_face_values(d_eff, mesh.dx)
        distance = 0.5 * (mesh.dx[:-1] + mesh.dx[1:])
        interior = -d_face * (c_e[1:] - c_e[:-1]) / distance
        zero = jnp.zeros(1, c_e.dtype)
        flux = jnp.concatenate([zero, interior, zero])
        j = jnp.concatenate([j_a, jnp.zeros(self.n_x_separator, j_a.dtype), j_c])
        source = electrolyte_reaction_source(el.transference_number(c_e, t), mesh.specific_area, j)
        return (-(flux[1:] - flux[:-1]) / mesh.dx + source) / mesh.volume_fraction

    def _concentration_rates(self, cell: Cell, c_e, c_s_a, c_s_c, j_a, j_c):
        temp = cell.temperature
        rate = jax.vmap(particle_rate, (0, 0, None, None, None))
        rate_a = rate(c_s_a, j_a, cell.anode, temp, self.radial_refinement)
        rate_c = rate(c_s_c, j_c, cell.cathode, temp, self.radial_refinement)
        return self._pack(cell, self.electrolyte_rate(cell, c_e, j_a, j_c), rate_a, rate_c)

    def rate(self, t, y, args):
        """d(state)/dt of the scaled state (see `algebraic` for its layout)."""
        del t
        cell, i = args
        c_e, c_s_a, c_s_c = self._unpack(cell, y)
        if self.algebraic == "newton":
            j_a, j_c, result = self.pore_wall_fluxes(cell, c_e, c_s_a, c_s_c, i)
            rates = self._concentration_rates(cell, c_e, c_s_a, c_s_c, j_a, j_c)
            # a failed Newton solve makes the step controller reject the step
            return jnp.where(result == optx.RESULTS.successful, rates, jnp.nan)
        n_y, n_a = self._n_concentrations, self.n_x_anode
        u_a, u_c = y[n_y : n_y + n_a], y[n_y + n_a :]
        relax = []
        for eq, u in zip(self.algebraic_equations(cell, c_e, c_s_a, c_s_c, i), (u_a, u_c)):
            # G_u is held constant under differentiation: exact on G = 0, and it keeps the
            # integrator's Jacobian first-order (d(du/dt) = -(1/tau) G_u^{-1} dG)
            _, step = eq.newton_step(u, frozen=True)
            relax.append(-step / self.relaxation_time)
        scale_a, scale_c = _flux_scales(cell)
        rates = self._concentration_rates(cell, c_e, c_s_a, c_s_c, u_a * scale_a, u_c * scale_c)
        return jnp.concatenate([rates, *relax])

    # -- solve -----------------------------------------------------------------------------

    def integrator(self) -> diffrax.AbstractSolver:
        """`method`, with (if implicit) a VeryChord root finder whose Newton matrices are
        formed by column colouring and solved by static condensation (`CondensedLU`)."""
        if not isinstance(self.method, diffrax.AbstractImplicitSolver):
            return self.method
        pattern = jacobian_sparsity(
            self.n_x_anode, self.n_x_separator, self.n_x_cathode,
            self.n_r_anode, self.n_r_cathode, flux_states=self.algebraic == "relaxation",
        )  # fmt: skip
        linear_solver = CondensedLU(pattern, self._particle_interiors())
        if self.fixed_steps is None:
            root_finder = diffrax.VeryChord(
                rtol=self.rtol, atol=self.atol, norm=self._norm, linear_solver=linear_solver
            )
        else:
            # a fixed step cannot be retried smaller, and the chord iteration (Newton matrix
            # of the step's start) diverged on the long steps of a discharge: full Newton
            root_finder = optx.Newton(
                rtol=self.rtol, atol=self.atol, norm=self._norm, linear_solver=linear_solver
            )
        return eqx.tree_at(lambda m: m.root_finder, self.method, root_finder)

    def _particle_interiors(self):
        """State indices of each particle's shells but the two outer ones, (P, n_r - 2) per
        electrode, centre first."""
        start, chains = self._n_x, []
        for n_cells, n_r in ((self.n_x_anode, self.n_r_anode), (self.n_x_cathode, self.n_r_cathode)):
            shells = start + np.arange(n_cells * n_r).reshape(n_cells, n_r)
            chains.append(shells[:, :-2])
            start += n_cells * n_r
        return tuple(chains)

    def _norm(self, scaled):
        # Norm of the step-size controller and of the stage iterations: the concentrations
        # only (as IDA's "suppress algebraic variables"). In the relaxation form the flux
        # rates are (1/tau) x (distance to the constraint manifold), so round-off in the
        # algebraic equations (~1e-12 V from the OCP polynomials) reaches them amplified by
        # 1/tau; the fluxes themselves stay within ~1e-7 of the manifold and are not an
        # independent error.
        if self.algebraic == "relaxation":
            scaled = scaled[: self._n_concentrations]
        return optx.rms_norm(scaled)

    def initial_state(self, cell: Cell, current_density):
        """(state at t = 0, Newton result): uniform concentrations and, in the relaxation
        form, the consistent scaled fluxes from a Newton solve."""
        c_e, c_s_a, c_s_c = self.initial_concentrations(cell)
        y0 = self._pack(cell, c_e, c_s_a, c_s_c)
        if self.algebraic == "newton":
            return y0, optx.RESULTS.successful
        j_a, j_c, result = self.pore_wall_fluxes(cell, c_e, c_s_a, c_s_c, current_density)
        scale_a, scale_c = _flux_scales(cell)
        return jnp.concatenate([y0, j_a / scale_a, j_c / scale_c]), result

    def solve(self, theta, t, c_rate) -> Solution:
        """Discharge at `c_rate` with parameter vector `theta` (ordered as `space`), saved
        at times `t` [s] (increasing, t >= 0). Inputs are not validated here: see
        `jaxbatt.simulate` for the checked entry point.

        Returns a `Solution` with the x-resolved fields filled: ``x`` (N,), ``c_e``,
        ``phi_e_x``, ``phi_s_x``, ``j_x`` (T, N) and ``c_s_x`` (T, N, n_r) (NaN in the
        separator, where there is no solid phase). Its cell-level fields are averages:
        ``phi_e`` is the x-average of phi_e, ``c_s_anode``/``c_s_cathode`` and the surface
        concentrations are averages over each electrode's particles, ``phi_s_cathode`` is
        phi_s at x = L (= the voltage).

        The solve stops at the cell's cut-off voltages or when the surface stoichiometry
        of any particle leaves [0, 1] (`jaxbatt.solvers._limits`); the `Solution` says when
        and why (`termination`, `t_end`) and is NaN at the requested times after the end.
        """
        cell = self.space.apply(self.cell, theta)
        t = jnp.asarray(t, dtype=float)
        i = cell.current_density(c_rate)
        y0, initial_result = self.initial_state(cell, i)
        sol = diffrax.diffeqsolve(
            diffrax.ODETerm(self.rate),
            self.integrator(),
            t0=0.0,
            t1=t[-1],
            dt0=None,
            y0=y0,
            args=(cell, i),
            saveat=save_at(t),
            stepsize_controller=self.controller(t[-1]),
            max_steps=self.max_steps,
            adjoint=self.adjoint,
            throw=False,
            event=limit_event(lambda y, args: self.limit_margins(*args, y)),
        )
        (_, ys), (t_final, y_final) = (sol.ts[0], sol.ys[0]), (sol.ts[1][0], sol.ys[1][0])
        # states the integrator did not reach (inf in Diffrax's output) are replaced by the
        # final one before any arithmetic, so no inf or NaN reaches the derivatives
        ys = jnp.where((t <= t_final)[:, None], ys, y_final)
        return self._solution(
            cell, t, ys, jnp.broadcast_to(i, t.shape), t_final, y_final, i, sol.result,
            sol.stats["num_accepted_steps"], y0, initial_result,
        )  # fmt: skip

    def controller(self, t_end=None):
        if self.fixed_steps is not None:
            if t_end is None:
                raise InputError("fixed_steps needs the end time of the solve")
            return diffrax.StepTo(fixed_step_times(t_end, self.fixed_steps))
        # PI control (pcoeff = icoeff = 0.3, as Diffrax advises for stiff problems): nearly
        # no rejected steps here, against ~20 % with the default I control
        return diffrax.PIDController(
            rtol=self.rtol, atol=self.atol, norm=self._norm, pcoeff=0.3, icoeff=0.3
        )

    # -- protocols -------------------------------------------------------------------------

    def protocol_rate(self, t, y, args):
        """`rate` under the current of a protocol step, ``args = (cell, knot_times, amps)``."""
        cell, knot_times, amps = args
        return self.rate(t, y, (cell, current_at(t, knot_times, amps) / cell.area))

    def protocol_margins(self, cell, y, i):
        return self.limit_margins(cell, i, y)

    def protocol_start(self, cell, y, i):
        """The state a protocol step starts from: in the relaxation form the fluxes are
        re-solved (Newton) at the step's current, so the step starts on the manifold."""
        if self.algebraic == "newton":
            return y
        c_e, c_s_a, c_s_c = self._unpack(cell, y)
        j_a, j_c, _ = self.pore_wall_fluxes(cell, c_e, c_s_a, c_s_c, i)
        scale_a, scale_c = _flux_scales(cell)
        return jnp.concatenate([y[: self._n_concentrations], j_a / scale_a, j_c / scale_c])

    def solve_protocol(self, theta, t, protocol: Protocol) -> Solution:
        """Run `protocol` (a `jaxbatt.Protocol`) with parameter vector `theta`, saved at
        times `t` [s]; see `SPMSolver.solve_protocol`."""
        if self.fixed_steps is not None:
            raise InputError("fixed_steps applies to constant-current discharges only; "
                             "run protocols with adaptive steps (fixed_steps=None)")  # fmt: skip
        cell = self.space.apply(self.cell, theta)
        t = jnp.asarray(t, dtype=float)
        i0 = step_currents_in_amperes(protocol, cell.one_c_current)[0, 0] / cell.area
        y0, initial_result = self.initial_state(cell, i0)
        run = run_protocol(self, cell, protocol, t, y0)
        return self._solution(
            cell, t, run.ys, run.current / cell.area, run.t_final, run.y_final,
            run.current_final / cell.area, run.result, run.num_steps, y0, initial_result,
            ended=(run.termination, run.t_end), current=run.current,
        )  # fmt: skip

    def state_outputs(self, cell: Cell, y, i):
        """Everything the `Solution` reports of one state `y` (see `_solution`), and the
        Newton result of its fluxes (``"newton"`` form; else successful)."""
        temp = cell.temperature
        n_y, n_a = self._n_concentrations, self.n_x_anode
        scale_a, scale_c = _flux_scales(cell)
        c_e, c_s_a, c_s_c = self._unpack(cell, y)
        if self.algebraic == "newton":
            j_a, j_c, newton = self.pore_wall_fluxes(cell, c_e, c_s_a, c_s_c, i)
        else:
            j_a, j_c = y[n_y : n_y + n_a] * scale_a, y[n_y + n_a :] * scale_c
            newton = optx.RESULTS.successful
        phi_e, phi_s_a, phi_s_c, voltage = self.potentials(cell, c_e, c_s_a, c_s_c, j_a, j_c, i)
        surf_a = _surface_concentrations(cell.anode, c_s_a, j_a, temp, self.radial_refinement)
        surf_c = _surface_concentrations(cell.cathode, c_s_c, j_c, temp, self.radial_refinement)
        ok = (newton == optx.RESULTS.successful) | ~jnp.all(jnp.isfinite(y))
        return (c_e, c_s_a, c_s_c, j_a, j_c, phi_e, phi_s_a, phi_s_c, voltage,
                surf_a, surf_c, ok, newton)  # fmt: skip

    def limit_margins(self, cell: Cell, i, y):
        """(4,) margins of state `y` from the discharge limits (`_limits.limit_margins`):
        the voltage, and the surface stoichiometries of every particle."""
        out = self.state_outputs(cell, y, i)
        voltage, surf_a, surf_c = out[8], out[9], out[10]
        return limit_margins(
            cell,
            voltage,
            surf_a / cell.anode.max_concentration,
            surf_c / cell.cathode.max_concentration,
        )

    def _solution(self, cell: Cell, t, ys, i_t, t_final, y_final, i_final, result, num_steps,
                  y0, initial_result, ended=None, current=None) -> Solution:  # fmt: skip
        """The `Solution` of the states `ys` (T, n) at times `t` under current densities
        `i_t` (T,); `ended` = (termination, t_end) of a protocol run (else judged here)."""
        mesh = self.mesh(cell)
        a, c = cell.anode, cell.cathode
        (c_e, c_s_a, c_s_c, j_a, j_c, phi_e, phi_s_a, phi_s_c, voltage, surf_a, surf_c, ok,
         newton) = jax.vmap(lambda y, i: self.state_outputs(cell, y, i))(ys, i_t)  # fmt: skip
        # a Newton failure (at t = 0 or at a reached output state) is the root cause:
        # report it over the step controller's (which would only say that steps kept failing)
        first_failure = jax.tree.map(lambda code: code[jnp.argmin(ok)], newton)
        newton_result = optx.RESULTS.where(jnp.all(ok), initial_result, first_failure)
        result = diffrax.RESULTS.where(
            newton_result == optx.RESULTS.successful,
            result,
            diffrax.RESULTS.promote(newton_result),
        )
        end = self.state_outputs(cell, y_final, i_final)
        x_a_end, x_c_end = end[9] / a.max_concentration, end[10] / c.max_concentration
        x_end = jnp.stack(
            [
                jnp.stack([jnp.min(x_a_end), jnp.max(x_a_end)]),
                jnp.stack([jnp.min(x_c_end), jnp.max(x_c_end)]),
            ]
        )
        if ended is None:
            code, t_end = end_of_solve(
                t,
                result,
                t_final,
                self.limit_margins(cell, i_t[0], y0),
                limit_margins(cell, end[8], x_a_end, x_c_end),
                voltage,
            )
        else:
            code, t_end = ended
            code = jnp.where(newton_result == optx.RESULTS.successful, code, Termination.FAILED)
        after = after_end(t, t_end)

        n_s, n_r = self.n_x_separator, max(self.n_r_anode, self.n_r_cathode)
        n_t = t.shape[0]

        def on_grid(anode_values, cathode_values):
            gap = jnp.full((n_t, n_s) + anode_values.shape[2:], jnp.nan)
            return jnp.concatenate([anode_values, gap, cathode_values], axis=1)

        def pad_r(values):
            pad = n_r - values.shape[-1]
            return jnp.pad(values, ((0, 0), (0, 0), (0, pad)), constant_values=jnp.nan)

        weights_a = mesh.dx[mesh.anode] / a.thickness
        weights_c = mesh.dx[mesh.cathode] / c.thickness
        def blank(values):
            return blank_after(after, values)

        return Solution(
            t=t,
            voltage=blank(voltage),
            phi_e=blank(phi_e @ mesh.dx / jnp.sum(mesh.dx)),
            phi_s_cathode=blank(voltage),
            c_s_anode=blank(jnp.einsum("txr,x->tr", c_s_a, weights_a)),
            c_s_cathode=blank(jnp.einsum("txr,x->tr", c_s_c, weights_c)),
            r_anode=shell_centres(a.particle_radius, self.n_r_anode, self.radial_refinement),
            r_cathode=shell_centres(c.particle_radius, self.n_r_cathode, self.radial_refinement),
            c_surf_anode=blank(surf_a @ weights_a),
            c_surf_cathode=blank(surf_c @ weights_c),
            result=result,
            num_steps=num_steps,
            termination=code,
            t_end=t_end,
            voltage_end=end[8],
            stoichiometry_end=x_end,
            model="p2d",
            cutoff_voltages=(cell.lower_cutoff_voltage, cell.upper_cutoff_voltage),
            current=None if current is None else blank_after(after, current),
            x=mesh.x,
            c_e=blank(c_e),
            phi_e_x=blank(phi_e),
            phi_s_x=blank(on_grid(phi_s_a, phi_s_c)),
            c_s_x=blank(on_grid(pad_r(c_s_a), pad_r(c_s_c))),
            j_x=blank(on_grid(j_a, j_c)),
        )
