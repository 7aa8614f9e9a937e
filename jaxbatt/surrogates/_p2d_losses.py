"""Physics-informed losses and solver data of the P2D surrogate.

Every residual is a function of `jaxbatt.physics` (the ones the numerical P2D solver's
verification uses), evaluated with forward-mode derivatives at random collocation points on a
tensor grid of parameter sets, and rescaled by its natural size so that a term is O(1) when
the error is of the order of the solution:

- ``electrolyte_mass``, ``electrolyte_charge`` (each region), ``solid_charge`` and
  ``kinetics`` (each electrode), scaled by the reaction source i / (F L_k) (charge:
  i / L_k; kinetics: |j_avg|);
- ``particle_diffusion`` (interior of the particles, t_max / c_max), ``symmetry`` (r = 0)
  and ``surface_flux`` (-D dc/dr = j at r = R_s, / |j_avg|);
- ``collectors``: no electrolyte flux, i_e = 0 and i_s = i at x = 0 and x = L;
  ``interfaces``: i_s = 0 at the separator faces, continuity of c_e, of the electrolyte flux,
  of phi_e and of i_e across both electrode/separator interfaces;
- integral regularisation (the reference's "hooks"): ``charge_integral`` (int F a_s j dx =
  +-i over each electrode, `electrode_charge_residual`), ``electrolyte_balance`` (d/dt int
  eps_e c_e dx = int (1 - t+) a_s j dx, the x-integral of the mass balance, in units of i / F;
  not conservation: with t+(c_e) the two electrodes' sources do not cancel) and
  ``solid_inventory`` (int c_bar dx = L c_0 -+
  i t / (F eps_s) per electrode, c_bar the particle's volume mean; in units of the lithium
  a whole window moves);
- ``data``: P2D solver fields at the solved parameter sets (c_e in 1e-3 c_e0, potentials in
  mV, j in 1 % of j_avg, solid stoichiometry in 1e-3), ``voltage``: their voltage in mV.
"""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .._constants import FARADAY
from ..physics import (
    effective_transport,
    electrode_charge_residual,
    electrolyte_charge_residual,
    electrolyte_current_boundary_residual,
    electrolyte_current_density,
    electrolyte_flux_boundary_residual,
    electrolyte_mass_balance_residual,
    electrolyte_reaction_source,
    interface_continuity_residual,
    p2d_kinetics_residual,
    solid_charge_residual,
    solid_current_boundary_residual,
    solid_current_density,
    spherical_diffusion_residual,
    surface_flux_residual,
    symmetry_residual,
    volumetric_reaction_rate,
)
from ..solvers import P2DSolver
from ..solvers._particle import shell_centres
from ._ansatz import MEAN_NODES_S, MEAN_WEIGHTS
from ._data import training_times
from ._p2d import ELECTROLYTE_POTENTIAL_SCALE, F, REGIONS

# Default weights of the P2D loss terms (the recipe's; see benchmarks/RESULTS.md).
P2D_WEIGHTS = {
    "electrolyte_mass": 1.0,
    "electrolyte_charge": 1.0,
    "solid_charge": 1.0,
    "kinetics": 1.0,
    "particle_diffusion": 1.0,
    "symmetry": 1.0,
    "surface_flux": 10.0,
    "collectors": 1.0,
    "interfaces": 1.0,
    "charge_integral": 10.0,
    "electrolyte_balance": 1.0,
    "solid_inventory": 10.0,
    "data": 1.0,
    "voltage": 10.0,
}
QUADRATURE_X = 8  # Gauss-Legendre nodes per electrode for the integral terms
_xq, _wq = np.polynomial.legendre.leggauss(QUADRATURE_X)
UNIT_NODES, UNIT_WEIGHTS = 0.5 * (_xq + 1.0), 0.5 * _wq  # on [0, 1], sum 1
DEFAULT_GRID = 8


class P2DData(eqx.Module):
    """P2D solutions at `theta` (M, P) on times `t` (T,), on the solver's x cell centres
    `x` (N,) and shell centres `r_hat` (n_r,): c_e, phi_e, phi_s, j (M, T, N; the solid
    fields NaN in the separator), c_s (M, T, N, n_r) [SI units] and voltage (M, T) [V]."""

    theta: jax.Array
    t: jax.Array
    x: jax.Array
    r_hat: jax.Array
    region: jax.Array  # (N,) 0 anode, 1 separator, 2 cathode
    c_e: jax.Array
    phi_e: jax.Array
    phi_s: jax.Array
    j: jax.Array
    c_s: jax.Array
    voltage: jax.Array
    c_rate: None = None


def p2d_solver(surrogate, **settings) -> P2DSolver:
    """The numerical P2D solver of `surrogate`'s cell (default mesh and tolerances: the
    solver `calibrate(..., model="p2d", likelihood="solver")` uses)."""
    return P2DSolver(cell=surrogate.cell, space=surrogate.space, kinetics=surrogate.kinetics, **settings)


@eqx.filter_jit
def _solve_sets(solver, theta, t, c_rate):
    # module level: calls with the same solver settings and shapes reuse one compiled program
    return jax.vmap(lambda th: solver.solve(th, t, c_rate))(theta)


def p2d_solver_data(surrogate, theta, t=None, *, chunk: int = 32, **settings) -> P2DData:
    """Solve the P2D of `surrogate`'s cell at every row of `theta` (vmapped, in chunks) at
    times `t` (default `training_times`, as the SPM's data)."""
    t = training_times(surrogate.t_max) if t is None else np.asarray(t, float)
    solver = p2d_solver(surrogate, **settings)
    theta = np.atleast_2d(np.asarray(theta, float))
    t_j = jnp.asarray(t)
    parts = [
        _solve_sets(solver, jnp.asarray(theta[i : i + chunk]), t_j, surrogate.c_rate)
        for i in range(0, len(theta), chunk)
    ]
    sol = jax.tree.map(lambda *xs: jnp.concatenate(xs), *parts)
    if not bool(jnp.all(sol.termination == 0)):
        raise RuntimeError("the P2D solver failed or stopped early while generating surrogate data")
    n_a, n_s = solver.n_x_anode, solver.n_x_separator
    region = np.concatenate([np.zeros(n_a), np.ones(n_s), np.full(solver.n_x_cathode, 2)]).astype(int)
    n_r = min(solver.n_r_anode, solver.n_r_cathode)
    if solver.n_r_anode != solver.n_r_cathode:
        raise ValueError("p2d_solver_data needs equal shell counts in both electrodes")
    return P2DData(
        theta=jnp.asarray(theta), t=jnp.asarray(t), x=sol.x[0], r_hat=shell_centres(1.0, n_r, solver.radial_refinement),
        region=jnp.asarray(region), c_e=sol.c_e, phi_e=sol.phi_e_x, phi_s=sol.phi_s_x, j=sol.j_x,
        c_s=sol.c_s_x, voltage=sol.voltage,
    )  # fmt: skip


def _parameter_samples(space, n, key):
    return np.asarray(space.from_unit(jax.random.uniform(key, (n, len(space)))))


def make_p2d_data(surrogate, config):
    """(training data or None, validation data) from the P2D solver, seeded by `config` (a
    `TrainConfig`): training sets are the box's corners then random draws (or
    `config.data_parameters`), validation sets random."""
    k_train, k_val = jax.random.split(jax.random.key(config.seed + 10_000))
    space = surrogate.space
    validation = p2d_solver_data(surrogate, _parameter_samples(space, config.n_validation, k_val))
    if config.loss.n_data == 0 or config.n_data_parameters == 0:
        return None, validation
    if config.data_parameters:
        theta = np.asarray(space.validate(space.as_dict(np.asarray(config.data_parameters, float)),
                                          fill_defaults=False))  # fmt: skip
    else:
        dims = len(space)
        corners = space.from_unit(np.array(np.meshgrid(*[[0.0, 1.0]] * dims)).reshape(dims, -1).T)
        n_random = max(config.n_data_parameters - len(corners), 0)
        theta = np.concatenate([corners, _parameter_samples(space, n_random, k_train)])
        theta = theta[: config.n_data_parameters]
    return p2d_solver_data(surrogate, theta), validation


# -- collocation -------------------------------------------------------------------------


def sample_p2d_collocation(key, surrogate, config):
    """Random points: times t [s] and unit positions u in [0, 1] of n_interior (t, x) points
    (each region maps u onto itself) and of n_interior (t, x, r) particle points, n_boundary
    boundary times, and a grid of parameter sets."""
    t_end = surrogate.t_max if config.t_window is None else config.t_window
    n, m = config.n_interior, config.n_boundary
    keys = jax.random.split(key, 8)

    def times(k, size):
        u = jax.random.uniform(k, (size,))
        early = jax.random.uniform(jax.random.fold_in(k, 1), (size,)) < config.early_fraction
        return t_end * jnp.where(early, u**2, u)

    g = config.parameter_grid or DEFAULT_GRID
    space = surrogate.space
    return {
        "t": times(keys[0], n), "u": jax.random.uniform(keys[1], (n,)),
        "t_p": times(keys[2], n), "u_p": jax.random.uniform(keys[3], (n,)),
        "r_p": jax.random.uniform(keys[4], (n,)),
        "t_b": times(keys[5], m), "u_b": jax.random.uniform(keys[6], (m,)),
        "theta": space.from_unit(jax.random.uniform(keys[7], (g, len(space)))),
    }  # fmt: skip


def _grid(fn, theta, *points):
    """fn(*point, theta) at every point for every parameter set: leaves (G, n, ...)."""
    return jax.vmap(lambda th: jax.vmap(lambda *p: fn(*p, th))(*points))(theta)


def _material(cell, region):
    """(eps_e, a_s, electrode or None) of a region."""
    if region == "s":
        return cell.separator.electrolyte_volume_fraction, 0.0, None
    electrode = cell.anode if region == "a" else cell.cathode
    return electrode.electrolyte_volume_fraction, electrode.specific_area, electrode


def _field_jets(surrogate, cell, region, t, x, theta):
    """Fields F (10,), dF/dt, and the currents (i_e, dc_e/dx[, i_s]) with their x-derivatives
    in `region` at (t, x)."""
    r = REGIONS.index(region)
    eps, _, electrode = _material(cell, region)
    el, temp = cell.electrolyte, cell.temperature

    def fields(tt, xx):
        return surrogate.field_values(tt, xx, theta)

    values, d_dt = jax.jvp(lambda tt: fields(tt, x), (t,), (jnp.ones_like(t),))

    def currents(xx):
        g, g_x = jax.jvp(lambda q: fields(t, q), (xx,), (jnp.ones_like(xx),))
        c_e = g[F["c_e_" + region]]
        kappa = effective_transport(el.conductivity(c_e, temp), eps, _bruggeman(cell, region))
        i_e = electrolyte_current_density(
            kappa, g_x[F["phi_e_" + region]], c_e, g_x[F["c_e_" + region]],
            el.transference_number(c_e, temp), el.thermodynamic_factor(c_e, temp), temp,
        )  # fmt: skip
        out = [i_e, g_x[F["c_e_" + region]]]
        if electrode is not None:
            out.append(solid_current_density(electrode.solid_conductivity, g_x[F["phi_s_" + region]]))
        return jnp.stack(out)

    current, d_dx = jax.jvp(currents, (x,), (jnp.ones_like(x),))
    del r
    return values, d_dt, current, d_dx


def _bruggeman(cell, region):
    """The Bruggeman exponent of a region's pores."""
    return cell.bruggeman_exponents[REGIONS.index(region)]


def _effective_diffusivity(cell, region):
    """c_e -> eps_e^b D_e(c_e) [m^2/s] in a region."""
    el, eps, b = cell.electrolyte, _material(cell, region)[0], _bruggeman(cell, region)
    return lambda c: effective_transport(el.diffusivity(c, cell.temperature), eps, b)


def _region_residuals(surrogate, region, t, x, theta):
    cell = surrogate.space.apply(surrogate.cell, theta)
    scales = surrogate.scales(cell)
    i, el, temp = scales["i"], cell.electrolyte, cell.temperature
    eps, a_s, electrode = _material(cell, region)
    start, end = surrogate.region_bounds(region)
    thickness = end - start
    values, d_dt, current, d_dx = _field_jets(surrogate, cell, region, t, x, theta)
    c_e = values[F["c_e_" + region]]
    j = values[F["j_" + region]] if electrode is not None else 0.0
    d_eff = _effective_diffusivity(cell, region)
    mass = electrolyte_mass_balance_residual(
        d_dt[F["c_e_" + region]], current[1], d_dx[1], eps, d_eff(c_e), jax.grad(d_eff)(c_e),
        el.transference_number(c_e, temp), a_s, j,
    )  # fmt: skip
    source = i / (FARADAY * thickness)
    out = {
        "electrolyte_mass": mass / source,
        "electrolyte_charge": electrolyte_charge_residual(d_dx[0], a_s, j) * thickness / i,
    }
    if electrode is not None:
        k = 0 if region == "a" else 1
        out["solid_charge"] = solid_charge_residual(d_dx[2], a_s, j) * thickness / i
        c_surf = surrogate.particle_values(t, x, 1.0, theta)[k]
        kin = p2d_kinetics_residual(
            electrode, c_e, c_surf, values[F["phi_s_" + region]], values[F["phi_e_" + region]],
            j, temp, surrogate.kinetics,
        )  # fmt: skip
        out["kinetics"] = kin / jnp.abs(scales["j_" + region])
    return out


def _particle_derivatives(surrogate, k, t, x, r, theta):
    electrode = (surrogate.cell.anode, surrogate.cell.cathode)[k]
    radius = electrode.particle_radius

    def c_of(tt, rr):
        return surrogate.particle_values(tt, x, rr / radius, theta)[k]

    c, c_t = jax.jvp(lambda tt: c_of(tt, r), (t,), (jnp.ones_like(t),))

    def first(rr):
        return jax.jvp(lambda q: c_of(t, q), (rr,), (jnp.ones_like(rr),))

    (_, c_r), (_, c_rr) = jax.jvp(first, (r,), (jnp.ones_like(r),))
    return c, c_t, c_r, c_rr


def _diffusivity(surrogate, k, theta):
    cell = surrogate.space.apply(surrogate.cell, theta)
    electrode = (cell.anode, cell.cathode)[k]
    return lambda c: electrode.solid_diffusivity(c, cell.temperature)


def _electrode_x(surrogate, k, u):
    start, end = surrogate.region_bounds("ac"[k])
    return start + u * (end - start)


def _particle_interior(surrogate, k, t, u, r_hat, theta):
    electrode = (surrogate.cell.anode, surrogate.cell.cathode)[k]
    r = r_hat * electrode.particle_radius
    c, c_t, c_r, c_rr = _particle_derivatives(surrogate, k, t, _electrode_x(surrogate, k, u), r, theta)
    diffusivity = _diffusivity(surrogate, k, theta)
    res = spherical_diffusion_residual(c, c_t, c_r, c_rr, r, diffusivity(c), jax.grad(diffusivity)(c))
    return res * surrogate.t_max / electrode.max_concentration


def _particle_boundary(surrogate, k, t, u, theta):
    electrode = (surrogate.cell.anode, surrogate.cell.cathode)[k]
    radius, c_max = electrode.particle_radius, electrode.max_concentration
    x = _electrode_x(surrogate, k, u)
    _, _, slope_0, _ = _particle_derivatives(surrogate, k, t, x, 0.0, theta)
    c_s, _, slope_s, _ = _particle_derivatives(surrogate, k, t, x, radius, theta)
    cell = surrogate.space.apply(surrogate.cell, theta)
    j_scale = surrogate.scales(cell)["j_" + "ac"[k]]
    j = surrogate.field_values(t, x, theta)[F["j_" + "ac"[k]]]
    flux = surface_flux_residual(_diffusivity(surrogate, k, theta)(c_s), slope_s, j)
    return symmetry_residual(slope_0) * radius / c_max, flux / jnp.abs(j_scale)


def _boundary_conditions(surrogate, t, theta):
    """(collector residuals (6,), interface residuals (10,)) at time t."""
    cell = surrogate.space.apply(surrogate.cell, theta)
    scales = surrogate.scales(cell)
    i, c_e0 = scales["i"], cell.electrolyte.initial_concentration
    length = surrogate.length
    la, ls, _ = surrogate.thicknesses

    def at(region, x):
        values, _, current, _ = _field_jets(surrogate, cell, region, t, jnp.asarray(x), theta)
        c_e = values[F["c_e_" + region]]
        flux = electrolyte_flux_boundary_residual(_effective_diffusivity(cell, region)(c_e), current[1])
        return values, current, flux

    flux_scale = _effective_diffusivity(cell, "s")(c_e0) * c_e0 / length
    collectors, interfaces = [], []
    for region, x in (("a", 0.0), ("c", length)):
        _, current, flux = at(region, x)
        collectors += [
            flux / flux_scale,
            electrolyte_current_boundary_residual(current[0]) / i,
            solid_current_boundary_residual(current[2], i) / i,
        ]
    for electrode_region, x in (("a", la), ("c", la + ls)):
        values_e, current_e, flux_e = at(electrode_region, x)
        values_s, current_s, flux_s = at("s", x)
        left, right = (
            ((values_e, current_e, flux_e, "a"), (values_s, current_s, flux_s, "s"))
            if electrode_region == "a"
            else ((values_s, current_s, flux_s, "s"), (values_e, current_e, flux_e, "c"))
        )
        (vl, cl, fl, rl), (vr, cr, fr, rr) = left, right
        interfaces += [
            solid_current_boundary_residual(current_e[2], 0.0) / i,
            interface_continuity_residual(vl[F["c_e_" + rl]], vr[F["c_e_" + rr]]) / c_e0,
            interface_continuity_residual(fl, fr) / flux_scale,
            interface_continuity_residual(vl[F["phi_e_" + rl]], vr[F["phi_e_" + rr]])
            / ELECTROLYTE_POTENTIAL_SCALE,
            interface_continuity_residual(cl[0], cr[0]) / i,
        ]
    return jnp.stack(collectors), jnp.stack(interfaces)


def _integrals(surrogate, t, theta):
    """(charge (2,), electrolyte balance (), solid inventory (2,)) residuals at time t."""
    cell = surrogate.space.apply(surrogate.cell, theta)
    i, el, temp = surrogate.scales(cell)["i"], cell.electrolyte, cell.temperature
    nodes, weights = jnp.asarray(UNIT_NODES), jnp.asarray(UNIT_WEIGHTS)
    r_nodes, r_weights = jnp.sqrt(jnp.asarray(MEAN_NODES_S)), jnp.asarray(MEAN_WEIGHTS)
    charge, solid, balance = [], [], 0.0
    for region in REGIONS:
        start, end = surrogate.region_bounds(region)
        xs = start + nodes * (end - start)
        values, rates = jax.vmap(
            lambda x: jax.jvp(lambda s: surrogate.field_values(s, x, theta), (t,), (jnp.ones_like(t),))
        )(xs)
        eps, a_s, electrode = _material(cell, region)
        c_e = values[:, F["c_e_" + region]]
        # lithium balance of the electrolyte (the x-integral of the mass balance; no flux at
        # the collectors, continuous flux at the interfaces): d/dt int eps c_e dx =
        # int (1 - t+(c_e)) a_s j dx. Not conservation: with t+ depending on c_e the
        # reaction sources of the two electrodes do not cancel (see the solver's tests).
        balance += (end - start) * eps * weights @ rates[:, F["c_e_" + region]]
        if electrode is None:
            continue
        j = values[:, F["j_" + region]]
        source = electrolyte_reaction_source(el.transference_number(c_e, temp), a_s, j)
        balance -= (end - start) * weights @ source
        k, sign = (0, 1.0) if region == "a" else (1, -1.0)
        reaction = FARADAY * volumetric_reaction_rate(a_s, j)
        charge.append(electrode_charge_residual((end - start) * weights @ reaction, i, sign) / i)
        c_bar = jax.vmap(
            lambda x: r_weights @ jax.vmap(lambda r: surrogate.particle_values(t, x, r, theta)[k])(r_nodes)
        )(xs)
        moved = i * t / (FARADAY * electrode.active_volume_fraction)
        window = i * surrogate.t_max / (FARADAY * electrode.active_volume_fraction)
        expected = (end - start) * electrode.initial_concentration - sign * moved
        solid.append(((end - start) * weights @ c_bar - expected) / window)
    # in units of the rate at which the reaction moves lithium through either electrode, i / F
    return jnp.stack(charge), balance / (i / FARADAY), jnp.stack(solid)


def p2d_physics_terms(surrogate, batch) -> dict:
    """Mean squared, rescaled residuals of every P2D equation at the collocation batch."""
    theta = batch["theta"]
    terms = {}

    def add(name, values):
        terms[name] = terms.get(name, 0.0) + jnp.mean(values**2) / 2

    for region in REGIONS:
        start, end = surrogate.region_bounds(region)
        x = start + batch["u"] * (end - start)
        res = _grid(lambda t, x, th, region=region: _region_residuals(surrogate, region, t, x, th),
                    theta, batch["t"], x)  # fmt: skip
        for name, values in res.items():
            add(name, values)
    for k in range(2):
        res = _grid(lambda t, u, r, th, k=k: _particle_interior(surrogate, k, t, u, r, th),
                    theta, batch["t_p"], batch["u_p"], batch["r_p"])  # fmt: skip
        add("particle_diffusion", res)
        sym, flux = _grid(lambda t, u, th, k=k: _particle_boundary(surrogate, k, t, u, th),
                          theta, batch["t_b"], batch["u_b"])  # fmt: skip
        add("symmetry", sym)
        add("surface_flux", flux)
    collectors, interfaces = _grid(lambda t, th: _boundary_conditions(surrogate, t, th), theta, batch["t_b"])
    add("collectors", collectors)
    add("interfaces", interfaces)
    n_int = max(batch["t_b"].shape[0] // 4, 1)
    charge, balance, solid = _grid(lambda t, th: _integrals(surrogate, t, th), theta, batch["t_b"][:n_int])
    add("charge_integral", charge)
    add("electrolyte_balance", balance)
    add("solid_inventory", solid)
    return terms


DATA_SCALES = {"c_e": 1e-3, "potential": 1e-3, "j": 1e-2, "stoichiometry": 1e-3}


def p2d_data_term(surrogate, data: P2DData, key, n: int, grid: int):
    """(fields, voltage): mean squared errors against solver data at `n` random (time,
    x cell, shell) samples for each of `grid` random solved sets, in the units of
    `DATA_SCALES` (the voltage's at the samples' times, in mV)."""
    k_m, k_t, k_x, k_r = jax.random.split(key, 4)
    g = grid or DEFAULT_GRID
    m = jax.random.randint(k_m, (g,), 0, data.theta.shape[0])
    ti = jax.random.randint(k_t, (n,), 0, data.t.shape[0])
    xi = jax.random.randint(k_x, (n,), 0, data.x.shape[0])
    ri = jax.random.randint(k_r, (n,), 0, data.r_hat.shape[0])
    region = data.region[xi]  # (n,)
    solid = region != 1
    ks = jnp.where(region == 2, 1, 0)  # the electrode of a solid point
    t, x, r_hat = data.t[ti], data.x[xi], data.r_hat[ri]
    cell = surrogate.cell
    c_e0 = cell.electrolyte.initial_concentration
    c_max = jnp.where(ks == 0, cell.anode.max_concentration, cell.cathode.max_concentration)

    def predict(t, x, r, theta):
        return surrogate.field_values(t, x, theta), surrogate.particle_values(t, x, r, theta)

    values, particles = _grid(predict, data.theta[m], t, x, r_hat)  # (g, n, 10), (g, n, 2)
    pick = lambda base, idx: jnp.take_along_axis(values[..., base : base + 3], idx[None, :, None], -1)[..., 0]  # noqa: E731
    c_e, phi_e = pick(F["c_e_a"], region), pick(F["phi_e_a"], region)
    phi_s = jnp.where(ks == 0, values[..., F["phi_s_a"]], values[..., F["phi_s_c"]])
    j = jnp.where(ks == 0, values[..., F["j_a"]], values[..., F["j_c"]])
    c_s = jnp.where(ks == 0, particles[..., 0], particles[..., 1])
    mi, tix = m[:, None], ti[None, :]
    target = lambda field: field[mi, tix, xi[None, :]]  # noqa: E731
    j_scale = jnp.abs(jnp.where(ks == 0, surrogate.scales(cell)["j_a"], surrogate.scales(cell)["j_c"]))

    def masked(err):
        return jnp.where(solid, jnp.nan_to_num(err), 0.0)

    errors = [
        (c_e - target(data.c_e)) / (DATA_SCALES["c_e"] * c_e0),
        (phi_e - target(data.phi_e)) / DATA_SCALES["potential"],
        masked((phi_s - target(data.phi_s)) / DATA_SCALES["potential"]),
        masked((j - target(data.j)) / (DATA_SCALES["j"] * j_scale)),
        masked((c_s - data.c_s[mi, tix, xi[None, :], ri[None, :]]) / (DATA_SCALES["stoichiometry"] * c_max)),
    ]
    v = jax.vmap(lambda th: surrogate.voltage_vector(th, t))(data.theta[m])
    n_solid = jnp.maximum(jnp.sum(solid), 1) * g
    fields = sum(jnp.sum(e**2) for e in errors[:2]) / (n * g)
    fields += sum(jnp.sum(e**2) for e in errors[2:]) / n_solid
    voltage = jnp.mean(((v - data.voltage[mi, tix]) / DATA_SCALES["potential"]) ** 2)
    return fields / len(errors), voltage


def p2d_loss_terms(surrogate, key, config, data: P2DData | None) -> dict:
    """All terms (unweighted) at a fresh collocation batch drawn from `key`."""
    k_col, k_data = jax.random.split(key)
    weight = config.weight
    terms = {}
    if any(weight.get(name, 0.0) for name in P2D_WEIGHTS if name not in ("data", "voltage")):
        terms = p2d_physics_terms(surrogate, sample_p2d_collocation(k_col, surrogate, config))
    if data is not None and config.n_data > 0:
        terms["data"], terms["voltage"] = p2d_data_term(
            surrogate, data, k_data, config.n_data, config.parameter_grid
        )
    return terms
