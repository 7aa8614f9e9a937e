"""Physics-informed losses of the SPM surrogate.

Every residual comes from `jaxbatt.physics` (the functions the numerical solver and the
verification use), evaluated with derivatives from forward-mode autodiff at collocation
points, rescaled by its characteristic size so that each term is O(1) when the error is of
the order of the solution itself.
"""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from ..physics import (
    galvanostatic_fluxes,
    spherical_diffusion_residual,
    spm_kinetics_residuals,
    surface_flux_residual,
    symmetry_residual,
)
from ._data import SolverData, data_rates

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
RATE_SAMPLINGS = ("log-uniform", "uniform")  # of the C-rate of a rate-input surrogate


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
    rate_sampling: str = "log-uniform"

    def __post_init__(self):
        if self.rate_sampling not in RATE_SAMPLINGS:
            raise ValueError(f"rate_sampling must be one of {RATE_SAMPLINGS}, got {self.rate_sampling!r}")

    @property
    def weight(self) -> dict[str, float]:
        return dict(self.weights)


def rates_from_unit(surrogate, u, sampling: str = "log-uniform"):
    """C-rates over a rate-input surrogate's range from unit coordinates u in [0, 1]: log-
    uniform or uniform (`sampling`; uniform puts more of them at the high rates)."""
    xp = np if isinstance(u, np.ndarray) else jnp  # numpy in, numpy out
    lo, hi = surrogate.c_rate_range
    if sampling == "uniform":
        return lo + (hi - lo) * u
    lo, hi = xp.log(lo), xp.log(hi)
    return xp.exp(lo + (hi - lo) * u)


def sample_rates(key, surrogate, shape, sampling: str = "log-uniform"):
    """Random C-rates (`rates_from_unit`) for a rate-input surrogate; its reference rate for
    a fixed-rate one."""
    if not surrogate.rate_input:
        return jnp.full(shape, surrogate.c_rate)
    return rates_from_unit(surrogate, jax.random.uniform(key, shape), sampling)


def sample_collocation(key, surrogate, config: LossConfig):
    """Random collocation points: dict of t [s] (at the reference rate; at rate c the point's
    time is t c_ref / c, the same depth of discharge), r_hat [-], theta (physical) and the
    rates c ("c_rate", one per parameter set)."""
    space = surrogate.space
    t_end = surrogate.t_max if config.t_window is None else config.t_window
    n = config.n_interior + config.n_boundary
    k_t, k_e, k_r, k_p, k_c = jax.random.split(key, 5)
    u = jax.random.uniform(k_t, (n,))
    early = jax.random.uniform(k_e, (n,)) < config.early_fraction
    t = t_end * jnp.where(early, u**2, u)
    r_hat = jax.random.uniform(k_r, (config.n_interior,))
    m = config.n_interior
    if config.parameter_grid:
        g = config.parameter_grid
        theta = space.from_unit(jax.random.uniform(k_p, (g, len(space))))
        rates = sample_rates(k_c, surrogate, (g,), config.rate_sampling)
        return {
            "t": t[:m], "r_hat": r_hat, "theta": theta, "c_rate": rates,
            "t_boundary": t[m:], "grid": True,
        }  # fmt: skip
    theta = space.from_unit(jax.random.uniform(k_p, (n, len(space))))
    rates = sample_rates(k_c, surrogate, (n,), config.rate_sampling)
    return {
        "t": t[:m], "r_hat": r_hat, "theta": theta[:m], "c_rate": rates[:m],
        "t_boundary": t[m:], "theta_boundary": theta[m:], "c_rate_boundary": rates[m:],
    }  # fmt: skip


def _at_points(fn, points, theta, grid: bool):
    """fn(*point, theta) at each point with its own parameters, or (grid) at every point for
    every parameter set: shape (G, n) (the outer vmap leaves parameter-free work unbatched).
    `theta` may be a pytree (parameters and rates) whose leaves share the leading axis."""
    if grid:
        return jax.vmap(lambda th: jax.vmap(lambda *a: fn(*a, th))(*points))(theta)
    return jax.vmap(fn)(*points, theta)


def _at_rate(surrogate, t_ref, rate):
    """(t, tn) of a time drawn at the reference rate, run at `rate`: the physical time
    t_ref c_ref / rate [s] and the normalised time t_ref / t_max, which does not depend on the
    rate (so the separable trunks see one time per point, not one per rate)."""
    return surrogate.times_at(t_ref, rate), t_ref / surrogate.t_max


def _concentration_derivatives(surrogate, k, t_ref, r, theta, c_rate):
    """c, dc/dt, dc/dr, d2c/dr2 of electrode k at time t_ref (drawn at the reference rate,
    run at `c_rate`: see `_at_rate`) and radius r [m], by forward mode; d/dt is along the
    physical time t. The radius R_s is the one of the cell at `theta` (it may be a parameter)."""
    radius = _electrode(surrogate, k, theta).particle_radius
    t, tn = _at_rate(surrogate, t_ref, c_rate)

    def c_of(t, tn, r):
        return surrogate._concentrations_at(t, r / radius, theta, c_rate, tn)[k]

    # d/dt moves t and tn = t / window(c_rate) together
    c, dc_dt = jax.jvp(
        lambda s, sn: c_of(s, sn, r), (t, tn),
        (jnp.ones_like(t), jnp.ones_like(t) / surrogate.window(c_rate)),
    )  # fmt: skip

    def first(r):
        return jax.jvp(lambda q: c_of(t, tn, q), (r,), (jnp.ones_like(r),))

    (_, dc_dr), (_, d2c_dr2) = jax.jvp(first, (r,), (jnp.ones_like(r),))
    return c, dc_dt, dc_dr, d2c_dr2


def _electrode(surrogate, k, theta):
    """Electrode k (0 anode, 1 cathode) of the surrogate's cell at parameters `theta`."""
    cell = surrogate.space.apply(surrogate.cell, theta)
    return (cell.anode, cell.cathode)[k]


def physics_terms(surrogate, batch) -> dict:
    """Mean squared, rescaled residuals: diffusion (interior), symmetry (r = 0), surface
    flux (r = R_s) and, when the potentials come from network heads, kinetics."""
    cell = surrogate.cell
    temperature = cell.temperature
    reference = surrogate.c_rate
    grid = batch.get("grid", False)
    # each point's parameters travel with its rate; times are drawn at the reference rate
    # and mapped to t c_ref / c (a no-op for a fixed-rate surrogate)
    rates = batch.get("c_rate", jnp.full(batch["theta"].shape[:1], reference))
    cond = (batch["theta"], rates)
    if grid:
        cond_boundary = cond
    else:
        rates_b = batch.get("c_rate_boundary", jnp.full(batch["theta_boundary"].shape[:1], reference))
        cond_boundary = (batch["theta_boundary"], rates_b)

    def fluxes_at(c, theta):
        applied = surrogate.space.apply(cell, theta)  # geometry and capacity may be parameters
        return galvanostatic_fluxes(applied, applied.current_density(c))

    # every size below is the cell's at the point's parameters: any scalar field of the cell
    # (radius, c_max, eps_s, thickness, x0, ...) may be one (`ParameterSpace`)
    terms = {"diffusion": 0.0, "symmetry": 0.0, "surface_flux": 0.0}
    for k in range(2):

        def diffusivity(c, theta, k=k):
            return _electrode(surrogate, k, theta).solid_diffusivity(c, temperature)

        d_diffusivity = jax.grad(diffusivity)

        def interior(t, r_hat, cond, k=k, diffusivity=diffusivity, dd=d_diffusivity):
            theta, rate = cond
            electrode = _electrode(surrogate, k, theta)
            r = r_hat * electrode.particle_radius
            c, c_t, c_r, c_rr = _concentration_derivatives(surrogate, k, t, r, theta, rate)
            residual = spherical_diffusion_residual(
                c, c_t, c_r, c_rr, r, diffusivity(c, theta), dd(c, theta)
            )
            return residual * surrogate.window(rate) / electrode.max_concentration

        res = _at_points(interior, (batch["t"], batch["r_hat"]), cond, grid)
        terms["diffusion"] += jnp.mean(res**2) / 2

        def boundary(t, cond, k=k, diffusivity=diffusivity):
            theta, rate = cond
            electrode = _electrode(surrogate, k, theta)
            radius, c_max = electrode.particle_radius, electrode.max_concentration
            fluxes = fluxes_at(rate, theta)
            _, _, slope_0, _ = _concentration_derivatives(surrogate, k, t, 0.0, theta, rate)
            c_s, _, slope_s, _ = _concentration_derivatives(surrogate, k, t, radius, theta, rate)
            return (
                symmetry_residual(slope_0) * radius / c_max,
                surface_flux_residual(diffusivity(c_s, theta), slope_s, fluxes[k])
                / jnp.abs(fluxes[0]),
            )

        sym, flux = _at_points(boundary, (batch["t_boundary"],), cond_boundary, grid)
        terms["symmetry"] += jnp.mean(sym**2) / 2
        terms["surface_flux"] += jnp.mean(flux**2) / 2
    if surrogate.potentials_from == "network":

        def kinetics(t, cond):
            theta, rate = cond
            t, tn = _at_rate(surrogate, t, rate)
            applied = surrogate.space.apply(cell, theta)
            i = applied.current_density(rate)
            phi_e, phi_s = surrogate._potentials_at(t, theta, rate, tn)
            c_a, c_c = surrogate._concentrations_at(t, 1.0, theta, rate, tn)
            r_a, r_c = spm_kinetics_residuals(applied, phi_e, phi_s, c_a, c_c, i, surrogate.kinetics)
            scale = jnp.abs(fluxes_at(rate, theta)[0])
            return r_a / scale, r_c / scale

        r_a, r_c = _at_points(kinetics, (batch["t_boundary"],), cond_boundary, grid)
        terms["kinetics"] = jnp.mean(r_a**2 + r_c**2) / 2
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
    cond = (theta, data_rates(surrogate, data)[m.reshape(-1)])

    def fields(t, r_hat, cond):  # data times are at the reference rate, like collocation's
        theta, rate = cond
        t, tn = _at_rate(surrogate, t, rate)
        return surrogate._concentrations_at(t, r_hat, theta, rate, tn)

    def voltage(t, cond):
        theta, rate = cond
        t, tn = _at_rate(surrogate, t, rate)
        return surrogate._potentials_at(t, theta, rate, tn)[1]

    c_a, c_c = _at_points(fields, (t, r_hat), cond, bool(grid))
    err_a = (c_a / surrogate.cell.anode.max_concentration - target_a) / DATA_STOICHIOMETRY_SCALE
    err_c = (c_c / surrogate.cell.cathode.max_concentration - target_c) / DATA_STOICHIOMETRY_SCALE
    v = _at_points(voltage, (t,), cond, bool(grid))
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
