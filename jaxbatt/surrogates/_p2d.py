"""The parametric PINN surrogate of the P2D (Doyle-Fuller-Newman) model.

Inputs: time t, position x through the cell, particle radius r and the degradation parameters,
non-dimensionalised (2 t/t_max - 1 and 2 sqrt(t/t_max) - 1, 2 x/L - 1, 2 r/R_s - 1, the
parameters mapped to [-1, 1]). The network is separable (DeepONet-style, as the SPM's
``separable`` architecture): a branch of the parameters times a (t, x) trunk for the
x-resolved fields and a (t, x, r) trunk for the particle concentrations; every output is
sum_j b_kj(params) T_kj(t, x[, r]) / sqrt(width) + bias_k. Under `jax.vmap` over parameter
sets at shared points the trunks are evaluated once, so a batch of voltage curves costs one
branch evaluation (of the single output row the voltage needs) and a contraction per curve.

Fields (each region has its own electrolyte outputs, so the electrolyte flux may jump at the
electrode/separator interfaces, where eps_e does; continuity is in the loss):

- c_e = c_e0 exp(ramp(t) s_ce z): positive, exactly c_e0 at t = 0;
- phi_e = phi_e,0 + s_pe z, with phi_e,0 the SPM's initial value (a reference offset);
- phi_s,a = (x / L_a) s_psa z, so phi_s = 0 at x = 0 exactly (the reference), with
  s_psa = i L_a / sigma_a the ohmic drop's natural size;
- phi_s,c = V_0 + s_V z, with V_0 the SPM's initial voltage;
- j = j_avg (1 + z), with j_avg = +-i / (F a_s L) the uniform pore-wall flux;
- c_s = c_max sigmoid(logit(x_0) + ramp(t) z): in (0, c_max), exactly c_0 at t = 0;

with ramp(t) = 1 - exp(-t / tau). The terminal voltage is phi_s,c(t, x = L).
"""

import dataclasses
import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .._constants import FARADAY
from .._errors import InputError
from .._voltage_model import AbstractVoltageModel
from ..cells import Cell, Parameter, ParameterSpace
from ..cells._registry import check_space
from ..physics import check_kinetics, initial_potentials
from ._networks import ModifiedMLP, NetworkConfig, make_block
from ._surrogate import _as_float_array, _logit, _traced, parameter_vector, resolve_cell

# the (t, x) outputs, by name; region suffixes a(node), s(eparator), c(athode)
FIELDS = ("c_e_a", "c_e_s", "c_e_c", "phi_e_a", "phi_e_s", "phi_e_c", "phi_s_a", "phi_s_c", "j_a", "j_c")
F = {name: k for k, name in enumerate(FIELDS)}
REGIONS = ("a", "s", "c")
VOLTAGE_OUTPUT = F["phi_s_c"]
CONCENTRATION_SCALE_E = 0.3  # s_ce: ln(c_e / c_e0) per unit output
ELECTROLYTE_POTENTIAL_SCALE = 0.05  # s_pe [V]
VOLTAGE_SCALE = 0.5  # s_V [V]


class P2DNetwork(eqx.Module):
    """A parameter branch times a (t, x) trunk (the ten fields of `FIELDS`) and a (t, x, r)
    trunk (the anode and cathode particle concentrations)."""

    branch: eqx.Module
    field_trunk: eqx.Module
    particle_trunk: eqx.Module
    bias: jax.Array
    width: int = eqx.field(static=True)

    def __init__(self, n_params: int, config: NetworkConfig, *, key):
        k_b, k_f, k_p = jax.random.split(key, 3)
        w = self.width = config.width
        n = len(FIELDS) + 2
        self.branch = make_block(n_params, n * w, config, key=k_b)
        self.field_trunk = make_block(3, len(FIELDS) * w, config, key=k_f)
        self.particle_trunk = make_block(4, 2 * w, config, key=k_p)
        self.bias = jnp.zeros(n)

    def _contract(self, b, trunk, n):
        return jnp.sum(b.reshape(n, self.width) * trunk.reshape(n, self.width), 1) / math.sqrt(
            self.width
        )

    def fields(self, t_features, x_feature, p):
        """Raw (t, x) outputs (10,), ordered as `FIELDS`."""
        n, w = len(FIELDS), self.width
        trunk = self.field_trunk(jnp.append(t_features, x_feature))
        return self._contract(self.branch(p)[: n * w], trunk, n) + self.bias[:n]

    def particles(self, t_features, x_feature, r_feature, p):
        """Raw (t, x, r) outputs (2,): anode, cathode."""
        n, w = len(FIELDS), self.width
        trunk = self.particle_trunk(jnp.concatenate([t_features, jnp.stack([x_feature, r_feature])]))
        return self._contract(self.branch(p)[n * w :], trunk, 2) + self.bias[n:]

    def field_branch_row(self, p, k):
        """The branch's weights of output `k` alone (width,): with a modified-MLP branch only
        that row of its output layer is evaluated (the voltage path's per-curve work)."""
        w = self.width
        if isinstance(self.branch, ModifiedMLP):
            hidden = self.branch.hidden(p)
            out = self.branch.output
            return out.weight[k * w : (k + 1) * w] @ hidden + out.bias[k * w : (k + 1) * w]
        return self.branch(p)[k * w : (k + 1) * w]

    def field_trunk_row(self, t_features, x_feature, k):
        """The (t, x) trunk's features of output `k` (width,)."""
        w = self.width
        return self.field_trunk(jnp.append(t_features, x_feature))[k * w : (k + 1) * w]


class P2DSurrogate(AbstractVoltageModel):
    """PINN surrogate of the P2D over (t, x, r, degradation parameters) at one C-rate.

    See the module docstring for the fields and their hard constraints. `voltage(t, params)`
    and `voltage_vector` give the terminal voltage [V]; `fields(t, x, params)` the x-resolved
    fields and `particle_concentration(t, x, r_hat, params)` the solid concentrations.
    """

    network: P2DNetwork
    cell: Cell
    space: ParameterSpace = eqx.field(static=True)
    network_config: NetworkConfig = eqx.field(static=True)
    c_rate: float = eqx.field(static=True, default=2.0)
    t_max: float = eqx.field(static=True, default=1350.0)
    tau: float = eqx.field(static=True, default=1.0)
    kinetics: str = eqx.field(static=True, default="butler_volmer")
    error_std: float = eqx.field(static=True, default=0.0)
    name: str = eqx.field(static=True, default="p2d")

    # what the SPM surrogate's training loop asks of a surrogate
    rate_input = False
    level_parameters = (None,)

    # -- geometry ---------------------------------------------------------------------------
    @property
    def thicknesses(self):
        """(L_a, L_s, L_c) [m]."""
        c = self.cell
        return c.anode.thickness, c.separator.thickness, c.cathode.thickness

    @property
    def length(self):
        return sum(self.thicknesses)

    def region_bounds(self, region: str):
        """(x_start, x_end) [m] of region ``"a"``, ``"s"`` or ``"c"``."""
        la, ls, lc = self.thicknesses
        return {"a": (0.0, la), "s": (la, la + ls), "c": (la + ls, la + ls + lc)}[region]

    # -- scales -----------------------------------------------------------------------------
    def scales(self, cell: Cell):
        """Natural sizes of the fields at the discharge current (dict of scalars)."""
        i = cell.current_density(self.c_rate)
        a, c = cell.anode, cell.cathode
        phi_e0, v0 = initial_potentials(cell, i, self.kinetics)
        return {
            "i": i,
            "j_a": i / (FARADAY * a.specific_area * a.thickness),
            "j_c": -i / (FARADAY * c.specific_area * c.thickness),
            "phi_e0": phi_e0,
            "v0": v0,
            "phi_s_a": i * a.thickness / a.solid_conductivity,
        }

    # -- features ---------------------------------------------------------------------------
    def _time_features(self, t):
        tn = jnp.clip(t / self.t_max, 0.0, None)
        return jnp.stack([2.0 * tn - 1.0, 2.0 * jnp.sqrt(tn + 1e-12) - 1.0])

    def _parameter_features(self, theta):
        return 2.0 * self.space.to_unit(theta) - 1.0

    def _ramp(self, t):
        return -jnp.expm1(-t / self.tau)

    # -- physical fields at one point (pure, unchecked) -------------------------------------
    def field_values(self, t, x, theta):
        """The ten (t, x) fields of `FIELDS` at time t [s] and position x [m] (each region's
        outputs evaluated at x, inside or not): c_e [mol/m^3], phi_e, phi_s [V], j
        [mol/(m^2 s)]."""
        cell = self.space.apply(self.cell, theta)
        z = self.network.fields(
            self._time_features(t), 2.0 * x / self.length - 1.0, self._parameter_features(theta)
        )
        s = self.scales(cell)
        ramp = self._ramp(t)
        c_e0 = cell.electrolyte.initial_concentration
        la = cell.anode.thickness
        c_e = c_e0 * jnp.exp(ramp * CONCENTRATION_SCALE_E * z[0:3])
        phi_e = s["phi_e0"] + ELECTROLYTE_POTENTIAL_SCALE * z[3:6]
        phi_s_a = (x / la) * s["phi_s_a"] * z[6]
        phi_s_c = s["v0"] + VOLTAGE_SCALE * z[7]
        j = jnp.stack([s["j_a"], s["j_c"]]) * (1.0 + z[8:10])
        return jnp.concatenate([c_e, phi_e, jnp.stack([phi_s_a, phi_s_c]), j])

    def particle_values(self, t, x, r_hat, theta):
        """(c_s,a, c_s,c) [mol/m^3] of the particles at position x [m] (each electrode's
        output at x), normalised radius r / R_s."""
        z = self.network.particles(
            self._time_features(t), 2.0 * x / self.length - 1.0, 2.0 * r_hat - 1.0,
            self._parameter_features(theta),
        )  # fmt: skip
        ramp = self._ramp(t)
        out = []
        for k, electrode in enumerate((self.cell.anode, self.cell.cathode)):
            c_max, x0 = electrode.max_concentration, electrode.initial_stoichiometry
            offset = electrode.initial_concentration - c_max * jax.nn.sigmoid(_logit(x0))
            out.append(jnp.clip(c_max * jax.nn.sigmoid(_logit(x0) + ramp * z[k]) + offset, 0.0, c_max))
        return jnp.stack(out)

    def _voltage_curve(self, theta, t):
        # phi_s,c(t, L): the trunk row at x = L for every time (parameter-free), one branch row
        cell = self.space.apply(self.cell, theta)
        b = self.network.field_branch_row(self._parameter_features(theta), VOLTAGE_OUTPUT)
        trunk = jax.vmap(
            lambda s: self.network.field_trunk_row(self._time_features(s), 1.0, VOLTAGE_OUTPUT)
        )(t)
        z = trunk @ b / math.sqrt(self.network.width) + self.network.bias[VOLTAGE_OUTPUT]
        return self.scales(cell)["v0"] + VOLTAGE_SCALE * z

    # -- public -----------------------------------------------------------------------------
    def voltage_vector(self, theta, t):
        """Terminal voltage [V], shape t.shape, for one parameter vector theta (P,); pure and
        unchecked (the path calibration jits, vmaps and differentiates)."""
        t = jnp.asarray(t, dtype=float)
        return self._voltage_curve(theta, t.reshape(-1)).reshape(t.shape)

    def check_times(self, t, c_rate=None):
        """Raise `InputError` unless every time is finite and in [0, t_max] and the rate, if
        given, is this surrogate's."""
        if c_rate is not None and not _traced(c_rate) and not self.covers(c_rate).all():
            raise InputError(
                f"c_rate = {float(np.max(c_rate)):g}: the P2D surrogate was trained at "
                f"{self.c_rate:g}C only; use the numerical P2D solver (jaxbatt.simulate(..., "
                "model='p2d')) at other rates"
            )
        if _traced(t):
            return
        t = _as_float_array(t, "times t")
        bad = ~np.isfinite(t) | (t < 0) | (t > self.t_max * (1 + 1e-12))
        if bad.any():
            raise InputError(
                f"time t = {t[bad].flat[0]:g} s is outside this surrogate's window [0, "
                f"{self.t_max:g}] s (trained at {self.c_rate:g}C); use the numerical P2D solver "
                "outside it"
            )

    def covers(self, c_rate):
        return np.isclose(np.asarray(c_rate, float), self.c_rate, rtol=1e-9, atol=0.0)

    def at_c_rate(self, c_rate):
        self.check_times(0.0, c_rate)
        return self

    def _theta(self, params):
        return parameter_vector(self.space, params)

    def voltage(self, t, params=None, c_rate=None):
        """Terminal voltage [V] at times t [s] for parameters by name (scalars: shape
        ``t.shape``; arrays of a common batch shape B: ``B + t.shape``); missing parameters
        take their defaults. Concrete values are checked (parameters in the box, times in
        [0, t_max], the rate this surrogate's)."""
        theta = self._theta(params)
        self.check_times(t, c_rate)
        return _voltages(self, theta, jnp.asarray(t, dtype=float))

    def fields(self, t, x, params=None):
        """The x-resolved fields at times t [s] and positions x [m] (broadcast together to a
        shape S), as a dict name -> array B + S: ``c_e`` [mol/m^3], ``phi_e``, ``phi_s`` [V]
        and ``j`` [mol/(m^2 s)] (the solid fields are NaN in the separator)."""
        theta = self._theta(params)
        self.check_times(t)
        x = np.asarray(x, dtype=float)
        if not np.all(np.isfinite(x) & (x >= 0) & (x <= self.length * (1 + 1e-12))):
            raise InputError(f"positions x must lie in [0, {self.length:g}] m (the cell)")
        t, x = np.broadcast_arrays(np.asarray(t, dtype=float), x)
        values = _field_grid(self, theta, jnp.asarray(t), jnp.asarray(x))  # B + S + (10,)
        region = np.where(x <= self.thicknesses[0], 0, np.where(x < self.region_bounds("c")[0], 1, 2))
        pick = lambda base: jnp.take_along_axis(  # noqa: E731
            values[..., base : base + 3], jnp.broadcast_to(region[..., None], values.shape[:-1] + (1,)), -1
        )[..., 0]
        solid = np.where(region == 0, 0, 1)
        phi_s = jnp.where(solid == 0, values[..., F["phi_s_a"]], values[..., F["phi_s_c"]])
        j = jnp.where(solid == 0, values[..., F["j_a"]], values[..., F["j_c"]])
        sep = region == 1
        return {
            "c_e": pick(0), "phi_e": pick(3),
            "phi_s": jnp.where(sep, jnp.nan, phi_s), "j": jnp.where(sep, jnp.nan, j),
        }  # fmt: skip

    def particle_concentration(self, t, x, r_hat, params=None):
        """Solid concentration [mol/m^3] at times t [s], positions x [m] inside an electrode
        and normalised radii r / R_s (broadcast together); NaN in the separator."""
        theta = self._theta(params)
        self.check_times(t)
        t, x, r = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in (t, x, r_hat)))
        if not np.all(np.isfinite(r) & (r >= 0) & (r <= 1)):
            raise InputError("normalised radii r/R must lie in [0, 1]")
        values = _particle_grid(self, theta, *(jnp.asarray(v) for v in (t, x, r)))
        c_start = self.region_bounds("c")[0]
        anode = x <= self.thicknesses[0]
        out = jnp.where(anode, values[..., 0], values[..., 1])
        return jnp.where(anode | (x >= c_start), out, jnp.nan)

    # -- structure --------------------------------------------------------------------------
    def trainable(self):
        """Filter spec: True on the network's inexact arrays."""
        spec = jax.tree.map(lambda _: False, self)
        return eqx.tree_at(lambda s: s.network, spec, jax.tree.map(eqx.is_inexact_array, self.network))

    def config(self) -> dict:
        """JSON-serialisable description from which `build_p2d_surrogate` rebuilds it."""
        return {
            "model": "p2d",
            "cell": self.cell.name,
            "space": [dataclasses.asdict(p) for p in self.space.parameters],
            "network": dataclasses.asdict(self.network_config),
            "c_rate": self.c_rate,
            "t_max": self.t_max,
            "tau": self.tau,
            "kinetics": self.kinetics,
            "error_std": self.error_std,
            "name": self.name,
        }


@eqx.filter_jit
def _voltages(surrogate, theta, t):
    if theta.ndim == 1:
        return surrogate.voltage_vector(theta, t)
    batch = theta.shape[:-1]
    flat = jax.vmap(surrogate.voltage_vector, (0, None))(theta.reshape(-1, theta.shape[-1]), t)
    return flat.reshape(batch + t.shape)


def _over(fn, theta, *points):
    shape, batch = points[0].shape, theta.shape[:-1]
    flat = [p.reshape(-1) for p in points]
    inner = jax.vmap(lambda th, *p: fn(*p, th), (None,) + (0,) * len(points))
    out = jax.vmap(inner, (0,) + (None,) * len(points))(theta.reshape(-1, theta.shape[-1]), *flat)
    return out.reshape(batch + shape + out.shape[-1:])


@eqx.filter_jit
def _field_grid(surrogate, theta, t, x):
    return _over(surrogate.field_values, theta, t, x)


@eqx.filter_jit
def _particle_grid(surrogate, theta, t, x, r):
    return _over(surrogate.particle_values, theta, t, x, r)


# fields the P2D surrogate takes from the cell as it is (its x coordinate is scaled by the
# thicknesses, its particle radius and hard initial condition by the cell's values), so a
# parameter may not set them
P2D_FIXED_FIELDS = tuple(
    f"{domain}.{name}"
    for domain in ("anode", "cathode")
    for name in ("thickness", "particle_radius", "max_concentration", "initial_stoichiometry")
) + ("separator.thickness",)


def build_p2d_surrogate(config: dict, *, key=None, cell: Cell | None = None) -> P2DSurrogate:
    """Build a `P2DSurrogate` from `config` (as `P2DSurrogate.config` writes it); `key=None`:
    a fixed key (the skeleton a checkpoint is read into). The cell is the one the config
    names (`resolve_cell`), or `cell` when given."""
    if config.get("model") != "p2d":
        raise ValueError(f"not a P2D surrogate configuration: model {config.get('model')!r}")
    cell = resolve_cell(config["cell"], cell)
    check_kinetics(config["kinetics"])
    space = ParameterSpace(tuple(Parameter(**p) for p in config["space"]))
    check_space(space, cell)
    fixed = [p.name for p in space.parameters if p.target in P2D_FIXED_FIELDS]
    if fixed:
        raise InputError(
            f"the P2D surrogate cannot take {fixed} as parameters (targets "
            f"{[space[n].target for n in fixed]}): its mesh, particle radius and hard initial "
            f"condition use the cell's own values; fixed fields: {list(P2D_FIXED_FIELDS)}. "
            "Use the P2D solver (likelihood='solver') for them"
        )
    network_config = NetworkConfig(**config["network"])
    key = jax.random.key(0) if key is None else key
    return P2DSurrogate(
        network=P2DNetwork(len(space), network_config, key=key),
        cell=cell,
        space=space,
        network_config=network_config,
        c_rate=float(config["c_rate"]),
        t_max=float(config["t_max"]),
        tau=float(config["tau"]),
        kinetics=config["kinetics"],
        error_std=float(config["error_std"]),
        name=config["name"],
    )


def p2d_surrogate(
    network: NetworkConfig | None = None,
    *,
    key,
    cell: str = "nrel",
    space: ParameterSpace | None = None,
    c_rate: float = 2.0,
    t_max: float = 1350.0,
    tau: float = 1.0,
    kinetics: str = "butler_volmer",
) -> P2DSurrogate:
    """A new, untrained P2D surrogate (see `P2DSurrogate`); the default network is the
    separable modified-MLP of width 32 and depth 3."""
    from ..cells import nrel_parameter_space  # noqa: PLC0415

    space = nrel_parameter_space() if space is None else space
    network = network or NetworkConfig(architecture="separable", width=32, depth=3)
    return build_p2d_surrogate(
        {
            "model": "p2d", "cell": cell,
            "space": [dataclasses.asdict(p) for p in space.parameters],
            "network": dataclasses.asdict(network), "c_rate": c_rate, "t_max": t_max,
            "tau": tau, "kinetics": kinetics, "error_std": 0.0, "name": "p2d",
        },
        key=key,
    )  # fmt: skip
