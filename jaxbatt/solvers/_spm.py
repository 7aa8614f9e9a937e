"""Numerical SPM: finite volumes in r, Diffrax stiff time integration."""

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .._errors import InputError
from ..cells import Cell, ParameterSpace
from ..physics import galvanostatic_fluxes, spm_potentials, terminal_voltage
from ._limits import end_of_solve, limit_event, limit_margins, save_at
from ._linear import CondensedLU
from ..protocols import Protocol
from ._particle import (
    SURFACE_REFINEMENT,
    check_refinement,
    particle_rate,
    shell_centres,
    surface_concentration,
)
from ._protocol import current_at, run_protocol
from ._solution import Solution, after_end, blank_after


# The accurate configuration (0.03 mV max against a 400-shell PyBaMM reference at 2C):
# surrogate training and validation data, and the checks that need the solver's own accuracy.
# Uniform shells, as when the bundled surrogates' data were made.
REFERENCE_SETTINGS = {
    "n_r_anode": 30, "n_r_cathode": 30, "radial_refinement": 1.0, "rtol": 1e-6, "atol": 1e-8,
    "method": diffrax.Kvaerno4(),
}  # fmt: skip


class SPMSolver(eqx.Module):
    """Method-of-lines SPM solver for a constant-current discharge.

    Each particle is `n_r` finite-volume shells (`jaxbatt.solvers._particle`); the
    stoichiometries are integrated with an implicit Diffrax solver (an L-stable ESDIRK method)
    under a PID step-size controller. `solve` is pure: jit it, vmap it over parameter vectors
    or C-rates, differentiate it with respect to either.

    The defaults (18 shells refined towards the surface, ``Kvaerno3``, rtol 1e-4, atol 1e-6)
    are sub-mV against PyBaMM's fine SPM for every converted PyBaMM set checked, at 0.5C to 2C
    from t = 10 s (`benchmarks/bench_from_pybamm.py`), and within PyBaMM's own default
    accuracy for the nrel cell (`benchmarks/bench_spm_solver.py`). Each implicit step's
    Newton matrix is formed from three JVPs and solved in O(n) (`integrator`).
    `REFERENCE_SETTINGS` (30 uniform shells, ``Kvaerno4``, rtol 1e-6, atol 1e-8: 0.03 mV) is
    what surrogate training data and the verification use.

    Attributes:
        cell: the `Cell`.
        space: the `ParameterSpace` that maps parameter vectors into the cell.
        kinetics: ``"butler_volmer"`` or ``"linear"``.
        n_r_anode, n_r_cathode: shells per particle.
        radial_refinement: exponent p of the shells' surface-refining map r = R (1 - (1 - u)^p)
            (`jaxbatt.solvers._particle`); 1 is the uniform mesh.
        rtol, atol: step-size controller tolerances (on stoichiometry, dimensionless).
        method: the Diffrax solver.
        structured_solve: form and solve the Newton matrices by their tridiagonal structure
            (`CondensedLU`, default); False gives Diffrax's dense solve (same iterates).
        adjoint: how Diffrax differentiates the solve (default reverse mode;
            ``diffrax.ForwardMode()`` for forward-mode Jacobians).
        max_steps: step limit; reaching it marks the solution unsuccessful.
    """

    cell: Cell
    space: ParameterSpace = eqx.field(static=True)
    kinetics: str = eqx.field(static=True, default="butler_volmer")
    n_r_anode: int = eqx.field(static=True, default=18)
    n_r_cathode: int = eqx.field(static=True, default=18)
    radial_refinement: float = eqx.field(static=True, default=SURFACE_REFINEMENT)
    rtol: float = eqx.field(static=True, default=1e-4)
    atol: float = eqx.field(static=True, default=1e-6)
    method: diffrax.AbstractSolver = diffrax.Kvaerno3()
    structured_solve: bool = eqx.field(static=True, default=True)
    adjoint: diffrax.AbstractAdjoint = diffrax.RecursiveCheckpointAdjoint()
    max_steps: int = eqx.field(static=True, default=4096)

    def __check_init__(self):
        for name in ("n_r_anode", "n_r_cathode"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 2:
                raise InputError(f"{name} must be an integer >= 2, got {value!r}")
        check_refinement(self.radial_refinement)

    def rate(self, t, y, args):
        """d(stoichiometry)/dt of the stacked shells [anode (n_a), cathode (n_c)];
        `args` = (cell, j_a, j_c, current density)."""
        cell, j_a, j_c, _ = args
        na = self.n_r_anode
        a, c = cell.anode, cell.cathode
        p = self.radial_refinement
        rate_a = particle_rate(y[:na] * a.max_concentration, j_a, a, cell.temperature, p)
        rate_c = particle_rate(y[na:] * c.max_concentration, j_c, c, cell.temperature, p)
        return jnp.concatenate([rate_a / a.max_concentration, rate_c / c.max_concentration])

    def initial_state(self, cell):
        return jnp.concatenate(
            [
                jnp.full(self.n_r_anode, cell.anode.initial_stoichiometry),
                jnp.full(self.n_r_cathode, cell.cathode.initial_stoichiometry),
            ]
        )

    def observables(self, cell, y, j_a, j_c, i):
        """(c_a, c_c, c_surf_a, c_surf_c, phi_e, phi_s_c, V) of scaled states `y` (..., n):
        the output fields, and what the discharge limits are judged on."""
        na = self.n_r_anode
        c_a = y[..., :na] * cell.anode.max_concentration
        c_c = y[..., na:] * cell.cathode.max_concentration
        p = self.radial_refinement
        surf_a = surface_concentration(c_a, j_a, cell.anode, cell.temperature, p)
        surf_c = surface_concentration(c_c, j_c, cell.cathode, cell.temperature, p)
        phi_e, phi_s_c = spm_potentials(cell, surf_a, surf_c, i, self.kinetics)
        return c_a, c_c, surf_a, surf_c, phi_e, phi_s_c, terminal_voltage(phi_s_c)

    def limit_margins(self, cell, y, j_a, j_c, i):
        """(4,) margins of state `y` from the discharge limits (`_limits.limit_margins`)."""
        _, _, surf_a, surf_c, _, _, voltage = self.observables(cell, y, j_a, j_c, i)
        return limit_margins(
            cell,
            voltage,
            surf_a / cell.anode.max_concentration,
            surf_c / cell.cathode.max_concentration,
        )

    def solve(self, theta, t, c_rate) -> Solution:
        """Discharge at `c_rate` with parameter vector `theta` (ordered as `space`), saved
        at times `t` [s] (increasing, t >= 0). Inputs are not validated here: see
        `jaxbatt.simulate` for the checked entry point.

        The solve stops at the cell's cut-off voltages or when a surface stoichiometry
        leaves [0, 1] (`jaxbatt.solvers._limits`); the `Solution` says when and why
        (`termination`, `t_end`) and is NaN at the requested times after the end."""
        cell = self.space.apply(self.cell, theta)
        t = jnp.asarray(t, dtype=float)
        i = cell.current_density(c_rate)
        j_a, j_c = galvanostatic_fluxes(cell, i)
        y0 = self.initial_state(cell)
        sol = diffrax.diffeqsolve(
            diffrax.ODETerm(self.rate),
            self.integrator(),
            t0=0.0,
            t1=t[-1],
            dt0=None,
            y0=y0,
            args=(cell, j_a, j_c, i),
            saveat=save_at(t),
            stepsize_controller=diffrax.PIDController(rtol=self.rtol, atol=self.atol),
            max_steps=self.max_steps,
            throw=False,
            adjoint=self.adjoint,
            event=limit_event(lambda y, args: self.limit_margins(args[0], y, *args[1:])),
        )
        (_, ys), (t_final, y_final) = (sol.ts[0], sol.ys[0]), (sol.ts[1][0], sol.ys[1][0])
        # states the integrator did not reach (inf in Diffrax's output) are replaced by the
        # final one before any arithmetic, so no inf or NaN reaches the derivatives
        reached = t <= t_final
        ys = jnp.where(reached[:, None], ys, y_final)
        voltage = self.observables(cell, ys, j_a, j_c, i)[-1]
        code, t_end = end_of_solve(
            t,
            sol.result,
            t_final,
            self.limit_margins(cell, y0, j_a, j_c, i),
            self.limit_margins(cell, y_final, j_a, j_c, i),
            voltage,
        )
        i_t = jnp.broadcast_to(i, t.shape)
        return self._solution(cell, t, ys, i_t, y_final, i, sol.result,
                              sol.stats["num_accepted_steps"], code, t_end)  # fmt: skip

    # -- protocols -------------------------------------------------------------------------

    def integrator(self) -> diffrax.AbstractSolver:
        """`method`, with (if implicit) a VeryChord root finder whose Newton matrices are
        formed from three JVPs and solved in O(n) (`CondensedLU`): under a given current the
        two particles are independent tridiagonal chains, each condensed onto its outer
        shell. The same iterates as the default dense solve, to round-off."""
        if not self.structured_solve or not isinstance(self.method, diffrax.AbstractImplicitSolver):
            return self.method
        na, nc = self.n_r_anode, self.n_r_cathode
        pattern = np.zeros((na + nc, na + nc), dtype=bool)
        for first, n in ((0, na), (na, nc)):
            k = np.arange(first, first + n)
            pattern[k, k] = True
            pattern[k[1:], k[:-1]] = pattern[k[:-1], k[1:]] = True
        chains = (np.arange(na - 1)[None], na + np.arange(nc - 1)[None])
        # tolerances and norm from the step-size controller, as for the default root finder
        root_finder = diffrax.with_stepsize_controller_tols(diffrax.VeryChord)(
            linear_solver=CondensedLU(pattern, chains)
        )
        return eqx.tree_at(lambda m: m.root_finder, self.method, root_finder)

    def controller(self):
        return diffrax.PIDController(rtol=self.rtol, atol=self.atol)

    def protocol_rate(self, t, y, args):
        """`rate` under the current of a protocol step, ``args = (cell, knot_times, amps)``."""
        cell, knot_times, amps = args
        i = current_at(t, knot_times, amps) / cell.area
        return self.rate(t, y, (cell, *galvanostatic_fluxes(cell, i), i))

    def protocol_margins(self, cell, y, i):
        return self.limit_margins(cell, y, *galvanostatic_fluxes(cell, i), i)

    def protocol_start(self, cell, y, i):
        del cell, i
        return y

    def solve_protocol(self, theta, t, protocol: Protocol) -> Solution:
        """Run `protocol` (a `jaxbatt.Protocol`) with parameter vector `theta`, saved at
        times `t` [s]. The `Solution` carries the applied ``current`` [A]; it ends at the
        protocol's end (`Termination.END_OF_PROTOCOL`, NaN after), at a cell limit, or at
        t[-1]. Inputs are not validated here: see `jaxbatt.simulate`."""
        cell = self.space.apply(self.cell, theta)
        t = jnp.asarray(t, dtype=float)
        run = run_protocol(self, cell, protocol, t, self.initial_state(cell))
        return self._solution(
            cell, t, run.ys, run.current / cell.area, run.y_final, run.current_final / cell.area,
            run.result, run.num_steps, run.termination, run.t_end, current=run.current,
        )  # fmt: skip

    def _solution(self, cell, t, ys, i_t, y_final, i_final, result, num_steps, code, t_end,
                  current=None) -> Solution:  # fmt: skip
        """The `Solution` of states `ys` (T, n) under current densities `i_t` (T,)."""

        def observe(y, i):
            return self.observables(cell, y, *galvanostatic_fluxes(cell, i), i)

        c_a, c_c, surf_a, surf_c, phi_e, phi_s_c, voltage = jax.vmap(observe)(ys, i_t)
        *_, surf_a_end, surf_c_end, _, _, voltage_end = observe(y_final, i_final)
        x_end = jnp.stack(
            [surf_a_end / cell.anode.max_concentration, surf_c_end / cell.cathode.max_concentration]
        )
        after = after_end(t, t_end)
        na = self.n_r_anode
        return Solution(
            t=t,
            voltage=blank_after(after, voltage),
            phi_e=blank_after(after, phi_e),
            phi_s_cathode=blank_after(after, phi_s_c),
            c_s_anode=blank_after(after, c_a),
            c_s_cathode=blank_after(after, c_c),
            r_anode=shell_centres(cell.anode.particle_radius, na, self.radial_refinement),
            r_cathode=shell_centres(cell.cathode.particle_radius, self.n_r_cathode,
                                    self.radial_refinement),
            c_surf_anode=blank_after(after, surf_a),
            c_surf_cathode=blank_after(after, surf_c),
            result=result,
            num_steps=num_steps,
            termination=code,
            t_end=t_end,
            voltage_end=voltage_end,
            stoichiometry_end=jnp.stack([x_end, x_end], axis=-1),
            model="spm",
            cutoff_voltages=(cell.lower_cutoff_voltage, cell.upper_cutoff_voltage),
            current=None if current is None else blank_after(after, current),
        )
