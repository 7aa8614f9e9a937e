"""Numerical SPM: finite volumes in r, Diffrax stiff time integration."""

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp

from ..cells import Cell, ParameterSpace
from ..physics import galvanostatic_fluxes, spm_potentials, terminal_voltage
from ._particle import particle_rate, shell_centres, surface_concentration
from ._solution import Solution


class SPMSolver(eqx.Module):
    """Method-of-lines SPM solver for a constant-current discharge.

    Each particle is `n_r` finite-volume shells (`jaxbatt.solvers._particle`); the
    stoichiometries are integrated with an implicit Diffrax solver (default ``Kvaerno4``, an
    L-stable ESDIRK method; fastest of Kvaerno3/4/5 here at equal accuracy) under a PID
    step-size controller. `solve` is pure: jit it, vmap it over parameter vectors or
    C-rates, differentiate it with respect to either.

    Attributes:
        cell: the `Cell`.
        space: the `ParameterSpace` that maps parameter vectors into the cell.
        kinetics: ``"butler_volmer"`` or ``"linear"``.
        n_r_anode, n_r_cathode: shells per particle.
        rtol, atol: step-size controller tolerances (on stoichiometry, dimensionless).
        method: the Diffrax solver.
        adjoint: how Diffrax differentiates the solve (default reverse mode;
            ``diffrax.ForwardMode()`` for forward-mode Jacobians).
        max_steps: step limit; reaching it marks the solution unsuccessful.
    """

    cell: Cell
    space: ParameterSpace = eqx.field(static=True)
    kinetics: str = eqx.field(static=True, default="butler_volmer")
    n_r_anode: int = eqx.field(static=True, default=30)
    n_r_cathode: int = eqx.field(static=True, default=30)
    rtol: float = eqx.field(static=True, default=1e-6)
    atol: float = eqx.field(static=True, default=1e-8)
    method: diffrax.AbstractSolver = diffrax.Kvaerno4()
    adjoint: diffrax.AbstractAdjoint = diffrax.RecursiveCheckpointAdjoint()
    max_steps: int = eqx.field(static=True, default=4096)

    def rate(self, t, y, args):
        """d(stoichiometry)/dt of the stacked shells [anode (n_a), cathode (n_c)]."""
        cell, j_a, j_c = args
        na = self.n_r_anode
        a, c = cell.anode, cell.cathode
        rate_a = particle_rate(y[:na] * a.max_concentration, j_a, a, cell.temperature)
        rate_c = particle_rate(y[na:] * c.max_concentration, j_c, c, cell.temperature)
        return jnp.concatenate([rate_a / a.max_concentration, rate_c / c.max_concentration])

    def initial_state(self, cell):
        return jnp.concatenate(
            [
                jnp.full(self.n_r_anode, cell.anode.initial_stoichiometry),
                jnp.full(self.n_r_cathode, cell.cathode.initial_stoichiometry),
            ]
        )

    def solve(self, theta, t, c_rate) -> Solution:
        """Discharge at `c_rate` with parameter vector `theta` (ordered as `space`), saved
        at times `t` [s] (increasing, t >= 0). Inputs are not validated here: see
        `jaxbatt.simulate` for the checked entry point."""
        cell = self.space.apply(self.cell, theta)
        t = jnp.asarray(t, dtype=float)
        i = cell.current_density(c_rate)
        j_a, j_c = galvanostatic_fluxes(cell, i)
        sol = diffrax.diffeqsolve(
            diffrax.ODETerm(self.rate),
            self.method,
            t0=0.0,
            t1=t[-1],
            dt0=None,
            y0=self.initial_state(cell),
            args=(cell, j_a, j_c),
            saveat=diffrax.SaveAt(ts=t),
            stepsize_controller=diffrax.PIDController(rtol=self.rtol, atol=self.atol),
            max_steps=self.max_steps,
            throw=False,
            adjoint=self.adjoint,
        )
        na = self.n_r_anode
        c_a = sol.ys[:, :na] * cell.anode.max_concentration
        c_c = sol.ys[:, na:] * cell.cathode.max_concentration
        surf_a = jax.vmap(surface_concentration, (0, None, None, None))(
            c_a, j_a, cell.anode, cell.temperature
        )
        surf_c = jax.vmap(surface_concentration, (0, None, None, None))(
            c_c, j_c, cell.cathode, cell.temperature
        )
        phi_e, phi_s_c = spm_potentials(cell, surf_a, surf_c, i, self.kinetics)
        return Solution(
            t=t,
            voltage=terminal_voltage(phi_s_c),
            phi_e=phi_e,
            phi_s_cathode=phi_s_c,
            c_s_anode=c_a,
            c_s_cathode=c_c,
            r_anode=shell_centres(cell.anode.particle_radius, na),
            r_cathode=shell_centres(cell.cathode.particle_radius, self.n_r_cathode),
            c_surf_anode=surf_a,
            c_surf_cathode=surf_c,
            result=sol.result,
            num_steps=sol.stats["num_accepted_steps"],
            model="spm",
        )
