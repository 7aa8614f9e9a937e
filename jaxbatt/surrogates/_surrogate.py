"""The parametric PINN surrogate of the SPM, and its multi-fidelity hierarchy."""

import dataclasses
from collections.abc import Mapping

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .._errors import InputError, ParameterError
from .._voltage_model import AbstractVoltageModel
from ..cells import Cell, Parameter, ParameterSpace, nrel_cell
from ..physics import check_kinetics, initial_potentials, spm_potentials, terminal_voltage
from ._ansatz import ANSATZ_CONSTRAINTS, ANSATZES, conservative_concentrations
from ._networks import NetworkConfig, make_network, zero_outputs

CELLS = {"nrel": nrel_cell}


def _frozen(module):
    arrays, static = eqx.partition(module, eqx.is_array)
    return eqx.combine(jax.lax.stop_gradient(arrays), static)


def _logit(x):
    return jnp.log(x) - jnp.log1p(-x)


class SPMSurrogate(AbstractVoltageModel):
    """PINN surrogate of the SPM over (t, r, degradation parameters).

    Outputs, in physical units: the electrolyte potential phi_e and cathode solid potential
    phi_s,c [V] (functions of t and the parameters) and the solid concentrations c_s,a and
    c_s,c [mol/m^3] (functions of t, r and the parameters).

    Hard initial conditions, with ramp(t) = 1 - exp(-t / tau):
    - concentrations: x = sigmoid(logit(x_0) + ramp(t) z), c = c_s,max x. So c(0) = c_0
      exactly and 0 < c < c_s,max always (bounds valid for discharge and charge alike).
    - potentials, ``potentials="network"``: phi = phi(0; params) + ramp(t) s z, with phi(0)
      from the kinetics at the initial state (it depends on k_i0) and s = `potential_scale`.
    - potentials, ``potentials="kinetics"``: phi_e and phi_s,c follow in closed form from the
      predicted surface concentrations through the SPM kinetics (`spm_potentials`), so the
      kinetics equations hold exactly and the potential heads are not used.

    A multi-fidelity hierarchy is the same object with several `networks`: level k adds
    `level_scales[k]` times its output to the raw output of the frozen levels below it
    (under the same hard initial condition). `level_parameters[k]`, when not None, evaluates
    level k at that fixed parameter vector (the reference's "fixed parameter set" variant).
    """

    networks: tuple[eqx.Module, ...]
    cell: Cell
    space: ParameterSpace = eqx.field(static=True)
    level_scales: tuple[tuple[float, float], ...] = eqx.field(static=True)
    level_parameters: tuple[tuple[float, ...] | None, ...] = eqx.field(static=True)
    network_configs: tuple[NetworkConfig, ...] = eqx.field(static=True)
    c_rate: float = eqx.field(static=True, default=2.0)
    t_max: float = eqx.field(static=True, default=1350.0)
    tau: float = eqx.field(static=True, default=1.0)
    kinetics: str = eqx.field(static=True, default="butler_volmer")
    potentials_from: str = eqx.field(static=True, default="kinetics")
    potential_scale: float = eqx.field(static=True, default=0.5)
    error_std: float = eqx.field(static=True, default=0.0)
    name: str = eqx.field(static=True, default="spm")
    ansatz: str = eqx.field(static=True, default="sigmoid")

    # -- features -------------------------------------------------------------------------
    def _time_features(self, t):
        tn = jnp.clip(t / self.t_max, 0.0, None)
        return jnp.stack([2.0 * tn - 1.0, 2.0 * jnp.sqrt(tn + 1e-12) - 1.0])

    def _parameter_features(self, theta, level):
        fixed = self.level_parameters[level]
        if fixed is not None:
            theta = jnp.asarray(fixed)
        return 2.0 * self.space.to_unit(theta) - 1.0

    def _ramp(self, t):
        return -jnp.expm1(-t / self.tau)

    def _levels(self):
        # frozen lower levels do not receive gradients
        last = len(self.networks) - 1
        return [
            (k, net if k == last else _frozen(net))
            for k, net in enumerate(self.networks)
        ]

    # -- raw outputs ----------------------------------------------------------------------
    def raw_concentrations(self, t, r_hat, theta):
        """Network output z (before the hard initial condition) at one point; unchecked."""
        tf, r = self._time_features(t), 2.0 * r_hat - 1.0
        return sum(
            self.level_scales[k][1] * net.concentrations(tf, r, self._parameter_features(theta, k))
            for k, net in self._levels()
        )

    def raw_potentials(self, t, theta):
        """Potential-head output at one time; unchecked."""
        tf = self._time_features(t)
        return sum(
            self.level_scales[k][0] * net.potentials(tf, self._parameter_features(theta, k))
            for k, net in self._levels()
        )

    # -- physical fields, one point (pure, unchecked) -------------------------------------
    def _concentrations_at(self, t, r_hat, theta):
        if self.ansatz != "sigmoid":
            return conservative_concentrations(
                lambda s: self.raw_concentrations(t, s, theta),
                self.space.apply(self.cell, theta), self.c_rate, self._ramp(t), t, r_hat,
                **ANSATZ_CONSTRAINTS[self.ansatz],
            )  # fmt: skip
        z = self.raw_concentrations(t, r_hat, theta)
        ramp = self._ramp(t)
        out = []
        for k, electrode in enumerate((self.cell.anode, self.cell.cathode)):
            c_max, x0 = electrode.max_concentration, electrode.initial_stoichiometry
            # c_max sigmoid(logit(x0)) equals c0 only up to rounding: shift by the difference
            # so that c(t = 0) = c0 exactly.
            offset = electrode.initial_concentration - c_max * jax.nn.sigmoid(_logit(x0))
            x = jax.nn.sigmoid(_logit(x0) + ramp * z[k])
            out.append(jnp.clip(c_max * x + offset, 0.0, c_max))
        return tuple(out)

    def _potentials_at(self, t, theta):
        cell = self.space.apply(self.cell, theta)
        i = cell.current_density(self.c_rate)
        if self.potentials_from == "kinetics":
            c_a, c_c = self._concentrations_at(t, 1.0, theta)
            return spm_potentials(cell, c_a, c_c, i, self.kinetics)
        phi0 = initial_potentials(cell, i, self.kinetics)
        z = self.raw_potentials(t, theta)
        ramp = self._ramp(t)
        return tuple(p0 + ramp * self.potential_scale * zk for p0, zk in zip(phi0, z))

    # -- input checks (concrete values only) ----------------------------------------------
    def check_times(self, t):
        """Raise `InputError` unless every time in `t` [s] is finite and inside this
        surrogate's window [0, t_max]. Traced values (under jit/vmap/grad) are not checked."""
        if _traced(t):
            return
        t = _as_float_array(t, "times t")
        window = f"[0, {self.t_max:g}] s"
        bad = ~np.isfinite(t)
        if bad.any():
            raise InputError(
                f"time t = {t[bad].flat[0]}{_at(bad)} is not finite; "
                f"this surrogate covers t in {window}"
            )
        for mask, what in ((t < 0, "negative"), (t > self.t_max, "beyond the window")):
            if mask.any():
                raise InputError(
                    f"time t = {t[mask].flat[0]:g} s{_at(mask)} is {what}: this "
                    f"surrogate covers t in {window} only (trained at {self.c_rate:g}C); use the "
                    "numerical solver (jaxbatt.simulate) outside it"
                )

    def _check_radii(self, r_hat):
        if _traced(r_hat):
            return
        r = _as_float_array(r_hat, "radii r/R")
        bad = ~(np.isfinite(r) & (r >= 0.0) & (r <= 1.0))
        if bad.any():
            raise InputError(
                f"normalised radius r/R = {r[bad].flat[0]}{_at(bad)} is outside "
                "[0, 1] (0: particle centre, 1: surface)"
            )

    def _theta(self, theta):
        """Parameters as a vector batch (..., P): a mapping name -> value(s) or an array whose
        last axis is ordered as `space`; concrete values are checked against the box."""
        if isinstance(theta, Mapping):
            return parameter_vector(self.space, theta)
        shape = jnp.shape(theta)
        if len(shape) == 0 or shape[-1] != len(self.space):
            raise InputError(
                f"parameter vector(s) theta must have shape (..., {len(self.space)}) "
                f"(last axis: {', '.join(self.space.names)}), got shape {shape}"
            )
        if _traced(theta):
            return jnp.asarray(theta, dtype=float)
        values = _as_float_array(theta, "parameter vector theta")
        self.space.validate(self.space.as_dict(values))  # ParameterError (an InputError)
        return jnp.asarray(values)

    # -- physical fields ------------------------------------------------------------------
    def concentrations(self, t, r_hat, theta):
        """(c_s,a, c_s,c) [mol/m^3] at times t [s] and normalised radii r/R_s, parameters theta.

        `t` and `r_hat` are scalars or arrays that broadcast together to a shape S (numpy
        rules); `theta` is a vector (P,) ordered as `space`, a batch (B..., P), or a mapping
        name -> value(s) as in `voltage`. Each returned array has shape B + S. Concrete
        values are checked: times in [0, t_max], r/R in [0, 1], parameters in the box
        (`InputError`, `ParameterError`, a subclass of it). Traced calls (jit, vmap, grad) are
        not checked.
        """
        theta = self._theta(theta)
        self.check_times(t)
        self._check_radii(r_hat)
        if jnp.ndim(t) == 0 and jnp.ndim(r_hat) == 0 and theta.ndim == 1:
            return self._concentrations_at(t, r_hat, theta)
        try:
            shape = jnp.broadcast_shapes(jnp.shape(t), jnp.shape(r_hat))
        except ValueError as e:
            raise InputError(
                f"times t (shape {jnp.shape(t)}) and radii r/R (shape {jnp.shape(r_hat)}) do "
                "not broadcast together"
            ) from e
        t, r_hat = (jnp.broadcast_to(jnp.asarray(x, dtype=float), shape) for x in (t, r_hat))
        return _fields(self, "concentrations", theta, t, r_hat)

    def potentials(self, t, theta):
        """(phi_e, phi_s,c) [V] at times t [s] for parameters theta.

        `t` has any shape S; `theta` is (P,), a batch (B..., P) or a mapping as in `voltage`;
        each returned array has shape B + S. Checked like `concentrations`.
        """
        theta = self._theta(theta)
        self.check_times(t)
        if jnp.ndim(t) == 0 and theta.ndim == 1:
            return self._potentials_at(t, theta)
        return _fields(self, "potentials", theta, jnp.asarray(t, dtype=float))

    def voltage_vector(self, theta, t):
        """Terminal voltage [V], shape t.shape, for one parameter vector theta (P,).

        Pure and unchecked (the path calibration jits, vmaps and differentiates): the caller
        keeps t inside [0, t_max] and theta inside the box.
        """
        t = jnp.asarray(t, dtype=float)
        flat = jax.vmap(lambda s: terminal_voltage(self._potentials_at(s, theta)[1]))(t.reshape(-1))
        return flat.reshape(t.shape)

    def voltage(self, t, params=None):
        """Terminal voltage [V] at times t [s] for parameters by name.

        `params` values are scalars (result shape ``t.shape``) or arrays of one common batch
        shape B (result ``B + t.shape``); missing parameters take their defaults. Concrete
        values are checked: parameters against the box (`ParameterError`, an `InputError`),
        times finite and inside [0, t_max] (`InputError`). The method is jit- and
        vmap-compatible; traced values are not checked.
        """
        theta = parameter_vector(self.space, params)
        self.check_times(t)
        return _voltage(self, theta, jnp.asarray(t, dtype=float))

    # -- structure ------------------------------------------------------------------------
    @property
    def n_levels(self):
        return len(self.networks)

    def trainable(self):
        """Filter spec: True on the inexact arrays of the top level only."""
        spec = jax.tree.map(lambda _: False, self)
        top = jax.tree.map(eqx.is_inexact_array, self.networks[-1])
        return eqx.tree_at(lambda s: s.networks[-1], spec, top)

    def config(self) -> dict:
        """JSON-serialisable description from which `build_surrogate` rebuilds this model."""
        return {
            "model": "spm",
            "cell": self.cell.name,
            "space": [dataclasses.asdict(p) for p in self.space.parameters],
            "networks": [dataclasses.asdict(c) for c in self.network_configs],
            "level_scales": [list(s) for s in self.level_scales],
            "level_parameters": [None if p is None else list(p) for p in self.level_parameters],
            "c_rate": self.c_rate,
            "t_max": self.t_max,
            "tau": self.tau,
            "kinetics": self.kinetics,
            "potentials_from": self.potentials_from,
            "potential_scale": self.potential_scale,
            "error_std": self.error_std,
            "name": self.name,
            "ansatz": self.ansatz,
        }


def _traced(x):
    return any(isinstance(leaf, jax.core.Tracer) for leaf in jax.tree.leaves(x))


def _as_float_array(x, what):
    try:
        return np.asarray(x, dtype=float)
    except (TypeError, ValueError) as e:
        raise InputError(f"{what} must be numbers, got {x!r}") from e


def _at(mask):
    """The text ' (at index i)' for the first True of `mask`; '' for a scalar."""
    if mask.ndim == 0:
        return ""
    index = tuple(int(i) for i in np.unravel_index(np.argmax(mask), mask.shape))
    return f" (at index {index[0] if len(index) == 1 else index})"


@eqx.filter_jit
def _voltage(surrogate, theta, t):
    if theta.ndim == 1:
        return surrogate.voltage_vector(theta, t)
    batch = theta.shape[:-1]
    flat = jax.vmap(surrogate.voltage_vector, (0, None))(theta.reshape(-1, theta.shape[-1]), t)
    return flat.reshape(batch + t.shape)


@eqx.filter_jit
def _fields(surrogate, which, theta, *xs):
    """`which` ("concentrations" or "potentials") at points xs (arrays of one shape S) for
    parameters theta (B..., P): a tuple of arrays B + S. Parameters outside, points inside,
    so the separable trunks are evaluated once per point."""
    point = surrogate._concentrations_at if which == "concentrations" else surrogate._potentials_at
    shape, batch = xs[0].shape, theta.shape[:-1]
    flat = [x.reshape(-1) for x in xs]
    theta = theta.reshape(-1, theta.shape[-1])
    over_points = jax.vmap(lambda th, *p: point(*p, th), (None,) + (0,) * len(xs))
    out = jax.vmap(over_points, (0,) + (None,) * len(xs))(theta, *flat)
    return tuple(o.reshape(batch + shape) for o in out)


def parameter_vector(space: ParameterSpace, params):
    """Stack a name -> value mapping into vector(s) (..., P), checking concrete values."""
    params = {} if params is None else params
    concrete = not any(isinstance(v, jax.core.Tracer) for v in params.values())
    if concrete:
        return jnp.asarray(space.validate(params))
    unknown = [k for k in params if k not in space.names]
    if unknown:
        raise ParameterError(f"unknown parameter(s) {unknown}; this space has {list(space.names)}")
    values = [jnp.asarray(params.get(p.name, p.default), dtype=float) for p in space.parameters]
    return jnp.stack(jnp.broadcast_arrays(*values), axis=-1)


def build_surrogate(config: dict, *, key=None) -> SPMSurrogate:
    """Build an `SPMSurrogate` from `config` (as written by `SPMSurrogate.config`).

    With `key=None` the networks are initialised from a fixed key: use this to build the
    skeleton a checkpoint is deserialised into.
    """
    if config.get("model") != "spm":
        raise ValueError(f"unknown surrogate model {config.get('model')!r}")
    if config["cell"] not in CELLS:
        raise ValueError(f"unknown cell {config['cell']!r}; known: {sorted(CELLS)}")
    check_kinetics(config["kinetics"])
    if config["potentials_from"] not in ("kinetics", "network"):
        raise ValueError("potentials_from must be 'kinetics' or 'network'")
    ansatz = config.get("ansatz", "sigmoid")  # checkpoints before the option: sigmoid
    if ansatz not in ANSATZES:
        raise ValueError(f"unknown concentration ansatz {ansatz!r}; choose one of {ANSATZES}")
    space = ParameterSpace(tuple(Parameter(**p) for p in config["space"]))
    net_configs = tuple(NetworkConfig(**c) for c in config["networks"])
    keys = jax.random.split(jax.random.key(0) if key is None else key, len(net_configs))
    networks = tuple(make_network(len(space), c, key=k) for c, k in zip(net_configs, keys))
    return SPMSurrogate(
        networks=networks,
        cell=CELLS[config["cell"]](),
        space=space,
        level_scales=tuple(tuple(float(x) for x in s) for s in config["level_scales"]),
        level_parameters=tuple(
            None if p is None else tuple(float(x) for x in p) for p in config["level_parameters"]
        ),
        network_configs=net_configs,
        c_rate=float(config["c_rate"]),
        t_max=float(config["t_max"]),
        tau=float(config["tau"]),
        kinetics=config["kinetics"],
        potentials_from=config["potentials_from"],
        potential_scale=float(config["potential_scale"]),
        error_std=float(config["error_std"]),
        name=config["name"],
        ansatz=ansatz,
    )


def spm_surrogate(
    network: NetworkConfig | None = None,
    *,
    key,
    cell: str = "nrel",
    space: ParameterSpace | None = None,
    c_rate: float = 2.0,
    t_max: float = 1350.0,
    tau: float = 1.0,
    kinetics: str = "butler_volmer",
    potentials_from: str = "kinetics",
    potential_scale: float = 0.5,
    fixed_parameters=None,
    ansatz: str = "sigmoid",
) -> SPMSurrogate:
    """A new, untrained single-level SPM surrogate (see `SPMSurrogate`).

    `fixed_parameters` (a vector or None) trains and evaluates this level at one parameter
    set, the lowest level of the reference's "fixed parameter" hierarchy variant.
    """
    from ..cells import nrel_parameter_space  # noqa: PLC0415

    space = nrel_parameter_space() if space is None else space
    config = {
        "model": "spm",
        "cell": cell,
        "space": [dataclasses.asdict(p) for p in space.parameters],
        "networks": [dataclasses.asdict(network or NetworkConfig())],
        "level_scales": [[1.0, 1.0]],
        "level_parameters": [None if fixed_parameters is None else list(np.asarray(fixed_parameters, float))],
        "c_rate": c_rate,
        "t_max": t_max,
        "tau": tau,
        "kinetics": kinetics,
        "potentials_from": potentials_from,
        "potential_scale": potential_scale,
        "error_std": 0.0,
        "name": "spm",
        "ansatz": ansatz,
    }
    return build_surrogate(config, key=key)


def add_level(
    lower: SPMSurrogate,
    network: NetworkConfig | None = None,
    *,
    key,
    potential_scale: float = 0.1,
    concentration_scale: float = 0.01,
    kinetics: str | None = None,
) -> SPMSurrogate:
    """Freeze `lower` and return a hierarchy one level higher: its output is the lower
    level's raw output plus a scaled learned correction (about 10 % of the potential scale and
    1 % of the concentration scale by default), under the same hard initial condition.

    `kinetics` may switch the physics fidelity between levels (for example linearized
    Butler-Volmer at level 1, full Butler-Volmer at level 2).
    """
    config = lower.config()
    config["networks"].append(dataclasses.asdict(network or lower.network_configs[-1]))
    config["level_scales"].append([potential_scale, concentration_scale])
    config["level_parameters"].append(None)
    if kinetics is not None:
        config["kinetics"] = kinetics
    fresh = build_surrogate(config, key=key)
    networks = lower.networks + (zero_outputs(fresh.networks[-1]),)
    return eqx.tree_at(lambda s: s.networks, fresh, networks)
