"""Physics-informed losses of the SPM surrogate.

Every residual comes from `jaxbatt.physics` (the functions the numerical solver and the
verification use), evaluated with derivatives from forward-mode autodiff at collocation
points, rescaled by its characteristic size so that each term is O(1) when the error is of
the order of the solution itself.
"""

import dataclasses

import jax
import jax.numpy as jnp

from ..physics import (
    galvanostatic_fluxes,
    spherical_diffusion_residual,
    spm_kinetics_residuals,
    surface_flux_residual,
    symmetry_residual,
)
from ._data import SolverData

# Reference weights (Hassanaly et al.): concentration residuals 10, surface flux 250, others 1.
REFERENCE_WEIGHTS = {
    "diffusion": 10.0,
    "symmetry": 1.0,
    "surface_flux": 250.0,
    "kinetics": 1.0,
    "data": 1.0,
}
DATA_STOICHIOMETRY_SCALE = 1e-3  # a data loss of 1 is a 1e-3 stoichiometry error
DATA_VOLTAGE_SCALE = 1e-3  # ... or a 1 mV voltage error


@dataclasses.dataclass(frozen=True)
class LossConfig:
    """Collocation and weighting of the surrogate loss.

    Attributes:
        n_interior: interior collocation points (t, r, params) per step.
        n_boundary: boundary points (t, params) per step, used at r = 0 and r = R_s.
        n_data: solver data points per step (0: physics only).
        weights: weight of each term (missing terms: 0).
        t_window: train on t in [0, t_window] s (None: the surrogate's whole window). The
            reference's "lower level up to t*" hierarchy variant.
        early_fraction: fraction of time samples drawn as t = t_end u^2 (dense near t = 0).
        parameter_grid: 0 (default): every collocation and data point draws its own parameter
            set. G > 0: the points form a tensor grid with G parameter sets (each physics
            point is evaluated at all G sets, and the data term takes `n_data` time/radius
            samples at G of the solved sets), so a batch holds G times more residuals. With
            the ``separable`` architecture that costs little more than the pointwise batch,
            because the trunks are evaluated once per point and the branch once per set.
    """

    n_interior: int = 128
    n_boundary: int = 64
    n_data: int = 256
    weights: tuple[tuple[str, float], ...] = tuple(REFERENCE_WEIGHTS.items())
    t_window: float | None = None
    early_fraction: float = 0.5
    parameter_grid: int = 0

    @property
    def weight(self) -> dict[str, float]:
        return dict(self.weights)


def sample_collocation(key, surrogate, config: LossConfig):
    """Random collocation points: dict of t [s], r_hat [-] and theta (physical)."""
    space = surrogate.space
    t_end = surrogate.t_max if config.t_window is None else config.t_window
    n = config.n_interior + config.n_boundary
    k_t, k_e, k_r, k_p = jax.random.split(key, 4)
    u = jax.random.uniform(k_t, (n,))
    early = jax.random.uniform(k_e, (n,)) < config.early_fraction
    t = t_end * jnp.where(early, u**2, u)
    r_hat = jax.random.uniform(k_r, (config.n_interior,))
    m = config.n_interior
    if config.parameter_grid:
        theta = space.from_unit(jax.random.uniform(k_p, (config.parameter_grid, len(space))))
        return {"t": t[:m], "r_hat": r_hat, "theta": theta, "t_boundary": t[m:], "grid": True}
    theta = space.from_unit(jax.random.uniform(k_p, (n, len(space))))
    return {
        "t": t[:m], "r_hat": r_hat, "theta": theta[:m],
        "t_boundary": t[m:], "theta_boundary": theta[m:],
    }  # fmt: skip


def _at_points(fn, points, theta, grid: bool):
    """fn(*point, theta) at each point with its own parameters, or (grid) at every point for
    every parameter set: shape (G, n) (the outer vmap leaves parameter-free work unbatched)."""
    if grid:
        return jax.vmap(lambda th: jax.vmap(lambda *a: fn(*a, th))(*points))(theta)
    return jax.vmap(fn)(*points, theta)


def _concentration_derivatives(surrogate, k, t, r, theta):
    """c, dc/dt, dc/dr, d2c/dr2 of electrode k at physical (t [s], r [m]) by forward mode."""
    electrode = (surrogate.cell.anode, surrogate.cell.cathode)[k]
    radius = electrode.particle_radius

    def c_of(t, r):
        return surrogate.concentrations(t, r / radius, theta)[k]

    c, dc_dt = jax.jvp(lambda s: c_of(s, r), (t,), (jnp.ones_like(t),))

    def first(r):
        return jax.jvp(lambda q: c_of(t, q), (r,), (jnp.ones_like(r),))

    (_, dc_dr), (_, d2c_dr2) = jax.jvp(first, (r,), (jnp.ones_like(r),))
    return c, dc_dt, dc_dr, d2c_dr2


def physics_terms(surrogate, batch) -> dict:
    """Mean squared, rescaled residuals: diffusion (interior), symmetry (r = 0), surface
    flux (r = R_s) and, when the potentials come from network heads, kinetics."""
    cell = surrogate.cell
    temperature = cell.temperature
    i = cell.current_density(surrogate.c_rate)
    fluxes = galvanostatic_fluxes(cell, i)
    flux_scale = jnp.abs(fluxes[0])
    grid = batch.get("grid", False)
    theta_boundary = batch["theta"] if grid else batch["theta_boundary"]
    terms = {"diffusion": 0.0, "symmetry": 0.0, "surface_flux": 0.0}
    for k, electrode in enumerate((cell.anode, cell.cathode)):
        radius = electrode.particle_radius
        c_max = electrode.max_concentration

        def diffusivity(c, theta, k=k):
            applied = surrogate.space.apply(cell, theta)  # k_Ds scales the cathode's
            return (applied.anode, applied.cathode)[k].solid_diffusivity(c, temperature)

        d_diffusivity = jax.grad(diffusivity)

        def interior(t, r_hat, theta, k=k, radius=radius, diffusivity=diffusivity, dd=d_diffusivity):
            r = r_hat * radius
            c, c_t, c_r, c_rr = _concentration_derivatives(surrogate, k, t, r, theta)
            return spherical_diffusion_residual(
                c, c_t, c_r, c_rr, r, diffusivity(c, theta), dd(c, theta)
            )

        res = _at_points(interior, (batch["t"], batch["r_hat"]), batch["theta"], grid)
        terms["diffusion"] += jnp.mean((res * surrogate.t_max / c_max) ** 2) / 2

        def boundary(t, theta, k=k, radius=radius, c_max=c_max, diffusivity=diffusivity):
            _, _, slope_0, _ = _concentration_derivatives(surrogate, k, t, 0.0, theta)
            c_s, _, slope_s, _ = _concentration_derivatives(surrogate, k, t, radius, theta)
            return (
                symmetry_residual(slope_0) * radius / c_max,
                surface_flux_residual(diffusivity(c_s, theta), slope_s, fluxes[k]) / flux_scale,
            )

        sym, flux = _at_points(boundary, (batch["t_boundary"],), theta_boundary, grid)
        terms["symmetry"] += jnp.mean(sym**2) / 2
        terms["surface_flux"] += jnp.mean(flux**2) / 2
    if surrogate.potentials_from == "network":

        def kinetics(t, theta):
            phi_e, phi_s = surrogate.potentials(t, theta)
            c_a, c_c = surrogate.concentrations(t, 1.0, theta)
            applied = surrogate.space.apply(cell, theta)
            return spm_kinetics_residuals(applied, phi_e, phi_s, c_a, c_c, i, surrogate.kinetics)

        r_a, r_c = _at_points(kinetics, (batch["t_boundary"],), theta_boundary, grid)
        terms["kinetics"] = jnp.mean((r_a / flux_scale) ** 2 + (r_c / flux_scale) ** 2) / 2
    return terms


def data_term(surrogate, data: SolverData, key, n: int, grid: int = 0):
    """Mean squared error against solver data at `n` random (parameter, time, radius)
    samples — or, with `grid` = G > 0, at `n` random (time, radius) samples for each of G
    random solved parameter sets: stoichiometries in units of 1e-3 and voltage in mV."""
    k_m, k_t, k_r = jax.random.split(key, 3)
    m = jax.random.randint(k_m, (grid or n,), 0, data.theta.shape[0])
    ti = jax.random.randint(k_t, (n,), 0, data.t.shape[0])
    n_r = data.r_hat.shape[0]
    ri = jax.random.randint(k_r, (n,), 0, n_r + 1)  # index n_r means the surface
    r_hat = jnp.where(ri < n_r, data.r_hat[jnp.minimum(ri, n_r - 1)], 1.0)
    surf = ri == n_r
    rc = jnp.minimum(ri, n_r - 1)
    if grid:  # (G, n) targets
        m, ti, rc = m[:, None], ti[None, :], rc[None, :]
    target_a = jnp.where(surf, data.x_surface[m, ti, 0], data.x_anode[m, ti, rc])
    target_c = jnp.where(surf, data.x_surface[m, ti, 1], data.x_cathode[m, ti, rc])
    theta, t = data.theta[m.reshape(-1)], data.t[ti.reshape(-1)]
    c_a, c_c = _at_points(surrogate.concentrations, (t, r_hat), theta, bool(grid))
    err_a = (c_a / surrogate.cell.anode.max_concentration - target_a) / DATA_STOICHIOMETRY_SCALE
    err_c = (c_c / surrogate.cell.cathode.max_concentration - target_c) / DATA_STOICHIOMETRY_SCALE
    v = _at_points(lambda s, th: surrogate.potentials(s, th)[1], (t,), theta, bool(grid))
    err_v = (v - data.voltage[m, ti]) / DATA_VOLTAGE_SCALE
    return jnp.mean(err_a**2 + err_c**2 + err_v**2) / 3


def loss_terms(surrogate, key, config: LossConfig, data: SolverData | None) -> dict:
    """All loss terms (unweighted) at a fresh random collocation batch drawn from `key`."""
    k_col, k_data = jax.random.split(key)
    terms = physics_terms(surrogate, sample_collocation(k_col, surrogate, config))
    if data is not None and config.n_data > 0:
        terms["data"] = data_term(surrogate, data, k_data, config.n_data, config.parameter_grid)
    return terms


def total_loss(terms: dict, config: LossConfig, multipliers: dict | None = None):
    """sum_i w_i L_i over the terms, or sum_i lambda_i w_i L_i with adaptive `multipliers`
    (dimensionless, by term name; a term without one keeps lambda = 1)."""
    weight = config.weight
    if multipliers is None:
        return sum(weight.get(name, 0.0) * value for name, value in terms.items())
    return sum(
        multipliers.get(name, 1.0) * weight.get(name, 0.0) * value for name, value in terms.items()
    )
