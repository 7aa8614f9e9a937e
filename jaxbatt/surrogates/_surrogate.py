"""The parametric PINN surrogate of the SPM, and its multi-fidelity hierarchy."""

import dataclasses
from collections.abc import Mapping

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .._errors import InputError, ParameterError
from .._voltage_model import AbstractVoltageModel
from ..cells import Cell, Parameter, ParameterSpace
from ..cells._registry import cell_from_name, check_space
from ..physics import check_kinetics, initial_potentials, spm_potentials, terminal_voltage
from ._ansatz import ANSATZ_CONSTRAINTS, ANSATZES, conservative_concentrations
from ._networks import NetworkConfig, make_network, zero_outputs

def resolve_cell(name: str, cell: Cell | None = None) -> Cell:
    """The cell a configuration names: `cell` when given (it must carry that name), else
    `cell_from_name(name)`; a cell that cannot be rebuilt by name (a converted
    `pybamm.ParameterValues`) must be given."""
    if cell is not None:
        if not isinstance(cell, Cell):
            raise InputError(f"cell must be a jaxbatt Cell, got {type(cell).__name__}")
        if cell.name != name:
            raise InputError(
                f"this surrogate was trained for cell {name!r}, not {cell.name!r}"
            )
        return cell
    try:
        return cell_from_name(name)
    except InputError as e:
        raise InputError(
            f"{e}. A surrogate of a cell jaxbatt cannot rebuild by name is loaded with its "
            "cell: load_surrogate(path, cell=cell)"
        ) from None


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

    With `c_rate_range` = (lo, hi) the C-rate is an input too (a discharge from the initial
    state at any rate in [lo, hi]): the branch network sees the log-rate beside the
    parameters, times are scaled by the rate's window t_max * c_rate / rate (the same depth
    of discharge at every rate; `c_rate` and `t_max` are then the reference rate and its
    window), and every method takes ``c_rate=`` (default: the reference rate).

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
    c_rate_range: tuple[float, float] | None = eqx.field(static=True, default=None)

    # -- the C-rate ------------------------------------------------------------------------
    @property
    def rate_input(self) -> bool:
        """Whether the C-rate is an input (`c_rate_range` set)."""
        return self.c_rate_range is not None

    def window(self, c_rate=None):
        """The end of the time window [s] at `c_rate` (default: the reference rate): the
        depth of discharge of t_max at the reference rate, t_max * c_rate / rate."""
        return self.t_max if c_rate is None else self.t_max * self.c_rate / c_rate

    def times_at(self, t_ref, c_rate):
        """Times [s] at the reference rate mapped to `c_rate` at the same depth of discharge,
        t_ref c_ref / c_rate (how training data and collocation points are drawn once for
        every rate)."""
        return t_ref * (self.c_rate / c_rate)

    def covers(self, c_rate):
        """Whether this surrogate describes a discharge at `c_rate` (elementwise, concrete
        values): inside `c_rate_range` for a rate-input surrogate, its own rate otherwise."""
        c = np.asarray(c_rate, dtype=float)
        if not self.rate_input:
            return np.isclose(c, self.c_rate, rtol=1e-9, atol=0.0)
        lo, hi = self.c_rate_range
        return np.isfinite(c) & (c >= lo * (1 - 1e-9)) & (c <= hi * (1 + 1e-9))

    def _rate(self, c_rate):
        """The C-rate a call runs at: the reference rate for None; concrete values checked
        (a fixed-rate surrogate only at its rate, a rate-input one inside its range)."""
        if c_rate is None:
            return self.c_rate
        if _traced(c_rate):
            return c_rate
        c = _as_float_array(c_rate, "c_rate")
        bad = ~self.covers(c)
        if self.rate_input:
            lo, hi = self.c_rate_range
            if bad.any():
                raise InputError(
                    f"c_rate = {c[bad].flat[0]:g}{_at(bad)} is outside this surrogate's range "
                    f"[{lo:g}, {hi:g}]C; use the numerical solver (jaxbatt.simulate) there"
                )
        elif bad.any():
            raise InputError(
                f"c_rate = {c[bad].flat[0]:g}{_at(bad)}: this surrogate was trained at "
                f"{self.c_rate:g}C only; use a surrogate with the C-rate as an input "
                "(jaxbatt.load_surrogate('spm-rates')) or the numerical solver"
            )
        return jnp.asarray(c) if c.ndim else float(c)

    def at_c_rate(self, c_rate):
        """This surrogate as the voltage model of one discharge at `c_rate` (the
        `AbstractVoltageModel` calibration uses); a fixed-rate surrogate returns itself at its
        own rate and refuses any other (`InputError`)."""
        rate = self._rate(float(c_rate))
        if not self.rate_input:
            return self
        return RateSurrogate(self, float(rate))

    # -- features -------------------------------------------------------------------------
    def _time_features(self, t, c_rate=None, tn=None):
        # tn: the normalised time t / window(c_rate) when the caller has it free of the rate
        # (the losses: then the separable trunks are evaluated once per time, not per rate)
        tn = t / self.window(c_rate) if tn is None else tn
        tn = jnp.clip(tn, 0.0, None)
        return jnp.stack([2.0 * tn - 1.0, 2.0 * jnp.sqrt(tn + 1e-12) - 1.0])

    def _rate_feature(self, c_rate):
        lo, hi = self.c_rate_range
        return 2.0 * (jnp.log(c_rate) - np.log(lo)) / (np.log(hi) - np.log(lo)) - 1.0

    def _parameter_features(self, theta, level, c_rate=None):
        fixed = self.level_parameters[level]
        if fixed is not None:
            theta = jnp.asarray(fixed)
        features = 2.0 * self.space.to_unit(theta) - 1.0
        if self.rate_input:
            rate = self.c_rate if c_rate is None else c_rate
            features = jnp.append(features, self._rate_feature(rate))
        return features

    def _ramp(self, t):
        return -jnp.expm1(-t / self.tau)

    def _linear_readout(self) -> bool:
        """Whether the concentrations are one separable level (outputs linear in the trunk)."""
        from ._networks import SeparableNetwork  # noqa: PLC0415

        return len(self.networks) == 1 and isinstance(self.networks[0], SeparableNetwork)

    def _levels(self):
        # frozen lower levels do not receive gradients
        last = len(self.networks) - 1
        return [
            (k, net if k == last else _frozen(net))
            for k, net in enumerate(self.networks)
        ]

    # -- raw outputs ----------------------------------------------------------------------
    def raw_concentrations(self, t, r_hat, theta, c_rate=None, tn=None):
        """Network output z (before the hard initial condition) at one point; unchecked."""
        tf, r = self._time_features(t, c_rate, tn), 2.0 * r_hat - 1.0
        return sum(
            self.level_scales[k][1]
            * net.concentrations(tf, r, self._parameter_features(theta, k, c_rate))
            for k, net in self._levels()
        )

    def raw_potentials(self, t, theta, c_rate=None, tn=None):
        """Potential-head output at one time; unchecked."""
        tf = self._time_features(t, c_rate, tn)
        return sum(
            self.level_scales[k][0] * net.potentials(tf, self._parameter_features(theta, k, c_rate))
            for k, net in self._levels()
        )

    # -- physical fields, one point (pure, unchecked) -------------------------------------
    def _concentrations_at(self, t, r_hat, theta, c_rate=None, tn=None):
        # tn, when given, must equal t / window(c_rate) (see _time_features)
        rate = self.c_rate if c_rate is None else c_rate
        if self.ansatz == "conservative" and self._linear_readout():
            # one level of a separable network: combine trunks, contract once (same numbers)
            net, scale = self.networks[0], self.level_scales[0][1]
            tf = self._time_features(t, c_rate, tn)
            weights = scale * net.concentration_branch(self._parameter_features(theta, 0, c_rate))
            return conservative_concentrations(
                lambda s: net.concentration_trunk_features(tf, 2.0 * s - 1.0),
                self.space.apply(self.cell, theta), rate, self._ramp(t), t, r_hat,
                readout=lambda f: jnp.sum(weights * f, axis=-1),
            )  # fmt: skip
        if self.ansatz != "sigmoid":
            return conservative_concentrations(
                lambda s: self.raw_concentrations(t, s, theta, c_rate, tn),
                self.space.apply(self.cell, theta), rate, self._ramp(t), t, r_hat,
                **ANSATZ_CONSTRAINTS[self.ansatz],
            )  # fmt: skip
        z = self.raw_concentrations(t, r_hat, theta, c_rate, tn)
        ramp = self._ramp(t)
        cell = self.space.apply(self.cell, theta)  # a parameter may set c_max or x0
        out = []
        for k, electrode in enumerate((cell.anode, cell.cathode)):
            c_max, x0 = electrode.max_concentration, electrode.initial_stoichiometry
            # c_max sigmoid(logit(x0)) equals c0 only up to rounding: shift by the difference
            # so that c(t = 0) = c0 exactly.
            offset = electrode.initial_concentration - c_max * jax.nn.sigmoid(_logit(x0))
            x = jax.nn.sigmoid(_logit(x0) + ramp * z[k])
            out.append(jnp.clip(c_max * x + offset, 0.0, c_max))
        return tuple(out)

    def _potentials_at(self, t, theta, c_rate=None, tn=None):
        cell = self.space.apply(self.cell, theta)
        i = cell.current_density(self.c_rate if c_rate is None else c_rate)
        if self.potentials_from == "kinetics":
            c_a, c_c = self._concentrations_at(t, 1.0, theta, c_rate, tn)
            return spm_potentials(cell, c_a, c_c, i, self.kinetics)
        phi0 = initial_potentials(cell, i, self.kinetics)
        z = self.raw_potentials(t, theta, c_rate, tn)
        ramp = self._ramp(t)
        return tuple(p0 + ramp * self.potential_scale * zk for p0, zk in zip(phi0, z))

    # -- input checks (concrete values only) ----------------------------------------------
    def check_times(self, t, c_rate=None):
        """Raise `InputError` unless every time in `t` [s] is finite and inside this
        surrogate's window [0, t_max] (at `c_rate`, `window(c_rate)`; for an array of rates,
        the shortest window). Traced values (under jit/vmap/grad) are not checked."""
        if _traced(t):
            return
        t = _as_float_array(t, "times t")
        rate = None if c_rate is None or _traced(c_rate) else float(np.max(c_rate))
        end = self.window(rate)
        at = f" at {rate:g}C" if self.rate_input and rate is not None else ""
        window = f"[0, {end:g}] s{at}"
        bad = ~np.isfinite(t)
        if bad.any():
            raise InputError(
                f"time t = {t[bad].flat[0]}{_at(bad)} is not finite; "
                f"this surrogate covers t in {window}"
            )
        trained = (
            f"trained over [{self.c_rate_range[0]:g}, {self.c_rate_range[1]:g}]C to "
            f"{self.t_max * self.c_rate:g} s x C" if self.rate_input
            else f"trained at {self.c_rate:g}C"
        )  # fmt: skip
        for mask, what in ((t < 0, "negative"), (t > end * (1 + 1e-12), "beyond the window")):
            if mask.any():
                raise InputError(
                    f"time t = {t[mask].flat[0]:g} s{_at(mask)} is {what}: this "
                    f"surrogate covers t in {window} only ({trained}); use the "
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
    def concentrations(self, t, r_hat, theta, c_rate=None):
        """(c_s,a, c_s,c) [mol/m^3] at times t [s] and normalised radii r/R_s, parameters theta
        (and, for a rate-input surrogate, discharge rate `c_rate`: a scalar or an array of the
        parameters' batch shape; default the reference rate).

        `t` and `r_hat` are scalars or arrays that broadcast together to a shape S (numpy
        rules); `theta` is a vector (P,) ordered as `space`, a batch (B..., P), or a mapping
        name -> value(s) as in `voltage`. Each returned array has shape B + S. Concrete
        values are checked: times in [0, t_max], r/R in [0, 1], parameters in the box
        (`InputError`, `ParameterError`, a subclass of it). Traced calls (jit, vmap, grad) are
        not checked.
        """
        theta = self._theta(theta)
        rate = self._rate(c_rate)
        self.check_times(t, rate)
        self._check_radii(r_hat)
        if jnp.ndim(t) == 0 and jnp.ndim(r_hat) == 0 and theta.ndim == 1 and jnp.ndim(rate) == 0:
            return self._concentrations_at(t, r_hat, theta, rate)
        try:
            shape = jnp.broadcast_shapes(jnp.shape(t), jnp.shape(r_hat))
        except ValueError as e:
            raise InputError(
                f"times t (shape {jnp.shape(t)}) and radii r/R (shape {jnp.shape(r_hat)}) do "
                "not broadcast together"
            ) from e
        t, r_hat = (jnp.broadcast_to(jnp.asarray(x, dtype=float), shape) for x in (t, r_hat))
        return _fields(self, "concentrations", theta, _batch_rates(rate, theta), t, r_hat)

    def potentials(self, t, theta, c_rate=None):
        """(phi_e, phi_s,c) [V] at times t [s] for parameters theta (and `c_rate` as in
        `concentrations`).

        `t` has any shape S; `theta` is (P,), a batch (B..., P) or a mapping as in `voltage`;
        each returned array has shape B + S. Checked like `concentrations`.
        """
        theta = self._theta(theta)
        rate = self._rate(c_rate)
        self.check_times(t, rate)
        if jnp.ndim(t) == 0 and theta.ndim == 1 and jnp.ndim(rate) == 0:
            return self._potentials_at(t, theta, rate)
        rates = _batch_rates(rate, theta)
        return _fields(self, "potentials", theta, rates, jnp.asarray(t, dtype=float))

    def voltage_vector(self, theta, t, c_rate=None):
        """Terminal voltage [V], shape t.shape, for one parameter vector theta (P,) (at
        `c_rate`, a scalar, for a rate-input surrogate; default the reference rate).

        Pure and unchecked (the path calibration jits, vmaps and differentiates): the caller
        keeps t inside [0, window(c_rate)] and theta inside the box.
        """
        t = jnp.asarray(t, dtype=float)
        flat = jax.vmap(lambda s: terminal_voltage(self._potentials_at(s, theta, c_rate)[1]))(
            t.reshape(-1)
        )
        return flat.reshape(t.shape)

    def voltage(self, t, params=None, c_rate=None):
        """Terminal voltage [V] at times t [s] for parameters by name.

        `params` values are scalars (result shape ``t.shape``) or arrays of one common batch
        shape B (result ``B + t.shape``); missing parameters take their defaults. `c_rate`
        (rate-input surrogates: any rate in `c_rate_range`, a scalar or an array of shape B;
        others: their own rate only) defaults to the reference rate `c_rate`. Concrete values
        are checked: parameters against the box (`ParameterError`, an `InputError`), the rate
        against the range, times finite and inside [0, window(c_rate)] (`InputError`). The
        method is jit- and vmap-compatible; traced values are not checked.
        """
        theta = parameter_vector(self.space, params)
        rate = self._rate(c_rate)
        self.check_times(t, rate)
        t = jnp.asarray(t, dtype=float)
        if c_rate is None:
            return _voltage(self, theta, t)
        return _voltage_at_rates(self, theta, _batch_rates(rate, theta), t)

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
            # only when set, so that fixed-rate configurations stay as they were written
            **({} if self.c_rate_range is None else {"c_rate_range": list(self.c_rate_range)}),
        }


class RateSurrogate(AbstractVoltageModel):
    """A rate-input `SPMSurrogate` bound to one discharge rate: the voltage model of a
    constant-current curve at `c_rate` (made by `SPMSurrogate.at_c_rate`)."""

    surrogate: SPMSurrogate
    c_rate: float = eqx.field(static=True)

    def __init__(self, surrogate: SPMSurrogate, c_rate: float):
        self.surrogate, self.c_rate = surrogate, float(c_rate)

    @property
    def space(self):
        return self.surrogate.space

    @property
    def t_max(self):
        return self.surrogate.window(self.c_rate)

    @property
    def error_std(self):
        return self.surrogate.error_std

    @property
    def name(self):
        return self.surrogate.name

    def voltage_vector(self, theta, t):
        return self.surrogate.voltage_vector(theta, t, self.c_rate)

    def voltage(self, t, params=None):
        """Terminal voltage [V] at times t [s] (see `SPMSurrogate.voltage`) at this rate."""
        return self.surrogate.voltage(t, params, c_rate=self.c_rate)

    def check_times(self, t):
        self.surrogate.check_times(t, self.c_rate)


def _batch_rates(rate, theta):
    """`rate` (a scalar, or one per set) broadcast to the batch shape B of theta (B..., P)."""
    batch = theta.shape[:-1]
    try:
        rates = jnp.broadcast_to(jnp.asarray(rate, dtype=float), batch)
    except ValueError as e:
        raise InputError(
            f"c_rate (shape {jnp.shape(rate)}) does not match the parameters' batch shape {batch}"
        ) from e
    return rates


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
def _voltage_at_rates(surrogate, theta, rates, t):
    if theta.ndim == 1:
        return surrogate.voltage_vector(theta, t, rates)
    batch = theta.shape[:-1]
    flat = jax.vmap(surrogate.voltage_vector, (0, None, 0))(
        theta.reshape(-1, theta.shape[-1]), t, rates.reshape(-1)
    )
    return flat.reshape(batch + t.shape)


@eqx.filter_jit
def _fields(surrogate, which, theta, rates, *xs):
    """`which` ("concentrations" or "potentials") at points xs (arrays of one shape S) for
    parameters theta (B..., P) at rates (B...): a tuple of arrays B + S. Parameters outside,
    points inside, so the separable trunks are evaluated once per point."""
    point = surrogate._concentrations_at if which == "concentrations" else surrogate._potentials_at
    shape, batch = xs[0].shape, theta.shape[:-1]
    flat = [x.reshape(-1) for x in xs]
    theta = theta.reshape(-1, theta.shape[-1])
    rates = jnp.broadcast_to(rates, batch).reshape(-1)
    over_points = jax.vmap(lambda th, c, *p: point(*p, th, c), (None, None) + (0,) * len(xs))
    out = jax.vmap(over_points, (0, 0) + (None,) * len(xs))(theta, rates, *flat)
    return tuple(o.reshape(batch + shape) for o in out)


def parameter_vector(space: ParameterSpace, params):
    """Stack a name -> value mapping into vector(s) (..., P), checking concrete values."""
    params = {} if params is None else params
    if not isinstance(params, Mapping):
        raise InputError(
            f"params must be a mapping name -> value ({', '.join(space.names)}), got "
            f"{type(params).__name__}; a parameter vector goes to voltage_vector(theta, t)"
        )
    concrete = not any(isinstance(v, jax.core.Tracer) for v in params.values())
    if concrete:
        return jnp.asarray(space.validate(params))
    unknown = [k for k in params if k not in space.names]
    if unknown:
        raise ParameterError(f"unknown parameter(s) {unknown}; this space has {list(space.names)}")
    values = [jnp.asarray(params.get(p.name, p.default), dtype=float) for p in space.parameters]
    return jnp.stack(jnp.broadcast_arrays(*values), axis=-1)


def build_surrogate(config: dict, *, key=None, cell: Cell | None = None) -> SPMSurrogate:
    """Build an `SPMSurrogate` from `config` (as written by `SPMSurrogate.config`).

    With `key=None` the networks are initialised from a fixed key: use this to build the
    skeleton a checkpoint is deserialised into. The cell is the one `config["cell"]` names
    (`resolve_cell`), or `cell` when given.
    """
    if config.get("model") != "spm":
        raise ValueError(f"unknown surrogate model {config.get('model')!r}")
    cell = resolve_cell(config["cell"], cell)
    check_kinetics(config["kinetics"])
    if config["potentials_from"] not in ("kinetics", "network"):
        raise ValueError("potentials_from must be 'kinetics' or 'network'")
    ansatz = config.get("ansatz", "sigmoid")  # checkpoints before the option: sigmoid
    if ansatz not in ANSATZES:
        raise ValueError(f"unknown concentration ansatz {ansatz!r}; choose one of {ANSATZES}")
    space = ParameterSpace(tuple(Parameter(**p) for p in config["space"]))
    check_space(space, cell)
    rate_range = config.get("c_rate_range")  # checkpoints before the option: fixed rate
    if rate_range is not None:
        rate_range = _check_rate_range(rate_range, float(config["c_rate"]))
    net_configs = tuple(NetworkConfig(**c) for c in config["networks"])
    keys = jax.random.split(jax.random.key(0) if key is None else key, len(net_configs))
    n_inputs = len(space) + (rate_range is not None)
    networks = tuple(make_network(n_inputs, c, key=k) for c, k in zip(net_configs, keys))
    return SPMSurrogate(
        networks=networks,
        cell=cell,
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
        c_rate_range=rate_range,
    )


def _check_rate_range(rate_range, reference):
    try:
        lo, hi = (float(x) for x in rate_range)
    except (TypeError, ValueError) as e:
        raise InputError(f"c_rate_range must be (lowest, highest) C-rate, got {rate_range!r}") from e
    if not (np.isfinite(lo) and np.isfinite(hi) and 0 < lo < hi):
        raise InputError(f"c_rate_range must satisfy 0 < lowest < highest, got ({lo:g}, {hi:g})")
    if not lo <= reference <= hi:
        raise InputError(f"the reference c_rate {reference:g} is outside c_rate_range ({lo:g}, {hi:g})")
    return (lo, hi)


def spm_surrogate(
    network: NetworkConfig | None = None,
    *,
    key,
    cell: str | Cell = "nrel",
    space: ParameterSpace | None = None,
    c_rate: float = 2.0,
    t_max: float = 1350.0,
    tau: float = 1.0,
    kinetics: str = "butler_volmer",
    potentials_from: str = "kinetics",
    potential_scale: float = 0.5,
    fixed_parameters=None,
    ansatz: str = "sigmoid",
    c_rate_range: tuple[float, float] | None = None,
) -> SPMSurrogate:
    """A new, untrained single-level SPM surrogate (see `SPMSurrogate`).

    `cell` is a `Cell` or a name (``"nrel"``, ``"pybamm:Chen2020"``: `cell_from_name`);
    `space` may target any scalar field of it (default: the nrel cell's k_i0, k_Ds box);
    `t_max` [s] must end before the discharge at `c_rate` reaches the cell's cut-off anywhere
    in the box (`discharge_window` finds the longest such window).

    `c_rate_range` = (lo, hi) makes the C-rate an input over [lo, hi] (`c_rate` is then the
    reference rate, inside the range, and `t_max` its window).

    `fixed_parameters` (a vector or None) trains and evaluates this level at one parameter
    set, the lowest level of the reference's "fixed parameter" hierarchy variant.
    """
    from ..cells import nrel_parameter_space  # noqa: PLC0415

    space = nrel_parameter_space() if space is None else space
    cell_object = cell if isinstance(cell, Cell) else None
    name = cell.name if isinstance(cell, Cell) else cell
    config = {
        "model": "spm",
        "cell": name,
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
        **({} if c_rate_range is None else {"c_rate_range": list(c_rate_range)}),
    }
    return build_surrogate(config, key=key, cell=cell_object)


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
    fresh = build_surrogate(config, key=key, cell=lower.cell)
    networks = lower.networks + (zero_outputs(fresh.networks[-1]),)
    return eqx.tree_at(lambda s: s.networks, fresh, networks)
