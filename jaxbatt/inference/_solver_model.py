"""`SolverVoltageModel`: the numerical SPM solver behind the `AbstractVoltageModel` interface.

This is the exact likelihood (``calibrate(..., likelihood="solver")``) against which a
surrogate posterior is checked.
"""

import collections
import dataclasses
import functools
import threading

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .._errors import InputError
from .._validation import check_c_rate, check_model
from .._voltage_model import AbstractVoltageModel
from ..cells import Cell, ParameterSpace
from ..solvers import SPMSolver

GRADIENTS = ("forward", "reverse")


class Drive:
    """What a solve runs: a constant-current discharge at `c_rate` or a `Protocol`. A static
    argument of the compiled solves: equal (and hashed) by C-rate, or by the identity of the
    protocol, so one model's calls share one compiled program."""

    def __init__(self, c_rate=None, protocol=None):
        self.c_rate, self.protocol = c_rate, protocol

    def _key(self):
        return ("protocol", id(self.protocol)) if self.protocol is not None else ("c", self.c_rate)

    def __eq__(self, other):
        return isinstance(other, Drive) and self._key() == other._key()

    def __hash__(self):
        return hash(self._key())

    def voltage(self, solver, theta, t):
        """Voltage [V] at `t` (NaN where the solve failed or ended before t[-1])."""
        if self.protocol is None:
            sol = solver.solve(theta, t, self.c_rate)
        else:
            sol = solver.solve_protocol(theta, t, self.protocol)
        return jnp.where(sol.success, sol.voltage, jnp.nan)


class SolverVoltageModel(AbstractVoltageModel):
    """Terminal voltage from the numerical SPM solver (`jaxbatt.solvers.SPMSolver`).

    `voltage_vector(theta, t)` solves a constant-current discharge at `c_rate` (default 2C)
    from t = 0, or with ``protocol=`` any `jaxbatt.Protocol`, and returns the voltage [V] at
    times `t` [s] (non-decreasing, ``0 <= t <= t_max``). A failed solve (step limit,
    non-finite state, or a discharge or protocol that ended before t[-1]) returns NaN
    voltages, which NUTS treats as a divergent, rejected proposal.

    Gradients: with ``gradient="forward"`` (default) the derivative with respect to `theta`
    is the forward-mode Jacobian (T, P), computed with the primal in one pass and applied in
    the reverse pass, which on a 2-core CPU costs 51 ms per value-and-gradient of a 100-point
    curve against 83 ms for reverse mode through Diffrax's checkpointed adjoint (P = 2). It
    differentiates with respect to `theta` only (the cell and `t` get zero cotangents).
    ``gradient="reverse"`` calls `SPMSolver.solve` as is.

    Compilation: with ``host_callback=True`` (default, forward gradient only) the solve is its
    own compiled program, reached from the caller's program through `jax.pure_callback`. A
    NUTS program otherwise inlines the stiff solve and its Jacobian several times (start-point
    search, step-size search, trajectory) and compiles for minutes; this way it compiles the
    solve once per process and shape (while the caller's program is traced, never inside the
    callback), and reuses it across calibrations. Under `jax.vmap` the callback receives the
    whole batch and solves it member by member. Only first-order reverse-mode
    derivatives (`jax.grad`, `jax.vjp`) pass through the callback; set ``host_callback=False``
    for forward mode or higher orders (and it is used automatically when the solver's own
    arrays are being traced).
    Attributes:
        solver: the `SPMSolver` (cell, parameter space, kinetics, mesh, tolerances).
        c_rate: discharge rate in C (None when the model runs a protocol).
        drive: the C-rate or protocol (`Drive`); ``protocol`` the `Protocol` or None.
        t_max: end of the window the data may cover [s] (default 1350 s, or the protocol's
            nominal length).
        error_std: 0 V: the solver is the reference.
        name: ``"spm-solver"``.
        gradient: ``"forward"`` or ``"reverse"``.
        host_callback: solve in a separately compiled program (see above).
    """

    solver: SPMSolver
    c_rate: float | None = eqx.field(static=True)
    drive: "Drive" = eqx.field(static=True)
    t_max: float = eqx.field(static=True)
    error_std: float = eqx.field(static=True)
    name: str = eqx.field(static=True)
    gradient: str = eqx.field(static=True)
    host_callback: bool = eqx.field(static=True)

    def __init__(
        self,
        model: str = "spm",
        *,
        c_rate: float | None = None,
        protocol=None,
        t_max: float | None = None,
        cell: Cell | None = None,
        space: ParameterSpace | None = None,
        kinetics: str = "butler_volmer",
        gradient: str = "forward",
        host_callback: bool = True,
        solver: SPMSolver | None = None,
        **options,
    ):
        """Build the solver of `model` (see `jaxbatt._simulate.make_solver`; `options` are its
        mesh and tolerance fields, e.g. ``n_r_anode=20, rtol=1e-5``), or wrap a given
        `solver`."""
        from .._simulate import make_solver  # noqa: PLC0415  (avoids an import cycle)

        check_model(model)
        if solver is None:
            solver = make_solver(model, cell=cell, space=space, kinetics=kinetics, **options)
        if gradient not in GRADIENTS:
            raise InputError(f"unknown gradient {gradient!r}; choose one of {GRADIENTS}")
        if protocol is not None:
            from .._simulate import check_protocol  # noqa: PLC0415

            if c_rate is not None:
                raise InputError("give either c_rate or protocol, not both")
            protocol = check_protocol(protocol)
            self.c_rate = None
            self.drive = Drive(protocol=protocol)
            if t_max is None:
                t_max = protocol.nominal_duration(solver.cell.one_c_current)
        else:
            self.c_rate = check_c_rate(2.0 if c_rate is None else c_rate)
            self.drive = Drive(c_rate=self.c_rate)
        t_max = 1350.0 if t_max is None else float(t_max)
        if not t_max > 0:
            raise InputError(f"t_max must be positive (s), got {t_max}")
        self.solver = solver
        self.t_max = t_max
        self.error_std = 0.0
        self.name = f"{model}-solver"
        self.gradient = gradient
        self.host_callback = bool(host_callback)

    @property
    def space(self) -> ParameterSpace:
        return self.solver.space

    @property
    def protocol(self):
        """The `Protocol` the model runs (None: a constant-current discharge at `c_rate`)."""
        return self.drive.protocol

    def voltage_vector(self, theta, t):
        """Terminal voltage [V], shape t.shape, at parameter vector `theta` (P,) and times
        `t` [s]; NaN where the solve failed."""
        theta = jnp.asarray(theta, dtype=float)
        t = jnp.asarray(t, dtype=float)
        if self.gradient == "reverse":
            return self.drive.voltage(self.solver, theta, t)
        dynamic, static = eqx.partition(self.solver, eqx.is_array)
        traced = any(isinstance(x, jax.core.Tracer) for x in jax.tree.leaves(dynamic))
        if self.host_callback and not traced:
            return _callback_voltage(_SolverCallback(self.solver, self.drive), theta, t)
        return _voltage_forward_jacobian(static, self.drive, dynamic, theta, t)


def _solver_voltage_forward_mode(solver: SPMSolver, theta, t, drive):
    """The voltage of `drive` (NaN on failure), integrated with
    ``adjoint=diffrax.ForwardMode()`` so that it admits forward-mode differentiation."""
    forward = dataclasses.replace(solver, adjoint=diffrax.ForwardMode())
    return drive.voltage(forward, theta, t)


@functools.partial(jax.custom_vjp, nondiff_argnums=(0, 1))
def _voltage_forward_jacobian(static, drive, dynamic, theta, t):
    return _member_voltage_impl(static, drive, dynamic, theta, t)


def _forward_jacobian_fwd(static, drive, dynamic, theta, t):
    v, jac = _member_voltage_and_jacobian_impl(static, drive, dynamic, theta, t)  # (T,), (T, P)
    return v, (jac, dynamic, t)


def _forward_jacobian_bwd(static, drive, residuals, cotangent):
    jac, dynamic, t = residuals
    return jax.tree.map(jnp.zeros_like, dynamic), cotangent @ jac, jnp.zeros_like(t)


_voltage_forward_jacobian.defvjp(_forward_jacobian_fwd, _forward_jacobian_bwd)


def _member_voltage_impl(static, drive, dynamic, theta, t):
    """Voltage (T,) of one parameter vector theta (P,) at times t (T,)."""
    return _solver_voltage_forward_mode(eqx.combine(dynamic, static), theta, t, drive)


def _member_voltage_and_jacobian_impl(static, drive, dynamic, theta, t):
    """Voltage (T,) and its forward-mode Jacobian (T, P) of one parameter vector."""
    solver = eqx.combine(dynamic, static)

    def voltage(x):
        v = _solver_voltage_forward_mode(solver, x, t, drive)
        return v, v

    jac, v = jax.jacfwd(voltage, has_aux=True)(theta)
    return v, jac


# the solver's static part (mesh, tolerances, laws) and the drive select the compiled program
_member_voltage = jax.jit(_member_voltage_impl, static_argnums=(0, 1))
_member_voltage_and_jacobian = jax.jit(_member_voltage_and_jacobian_impl, static_argnums=(0, 1))


class _Static:
    """The static part of a solver as a hashable key: its tree structure and non-array
    leaves (laws, numbers), compared by equality."""

    def __init__(self, static):
        leaves, self.treedef = jax.tree.flatten(static)
        self.leaves = tuple(leaves)
        self.static = static

    def _key(self):
        return (self.treedef, self.leaves)

    def __eq__(self, other):
        return isinstance(other, _Static) and self._key() == other._key()

    def __hash__(self):
        return hash(self._key())


# (static, drive, shapes, P, T, jacobian) -> compiled program, the most recently used last;
# bounded: each compiled solver holds its code in memory
_COMPILED: collections.OrderedDict = collections.OrderedDict()
_MAX_COMPILED = 16
_COMPILED_LOCK = threading.Lock()  # callbacks of parallel chains run in several threads


def _is_solver_check(error: Exception) -> bool:
    """Whether `error` is an Equinox runtime check failing inside a compiled solve (under a
    plain `jax.jit` it arrives as the runtime's error carrying Equinox's message)."""
    return isinstance(error, eqx.EquinoxRuntimeError) or "EquinoxRuntimeError" in str(error)


class _SolverCallback:
    """Host side of the callback: flattens whatever batch the caller's vmaps made and solves
    it member by member with programs compiled ahead of time.

    The programs (one parameter vector, the curve's times; value, or value and Jacobian) are
    compiled by `prepare` while the caller's program is traced, never inside the callback,
    so that a sampler's run only runs them. Member by member, the compiled shapes do not
    depend on the batch the caller's vmaps make."""

    def __init__(self, solver, drive):
        self.drive = drive
        if solver is not None:
            dynamic, static = eqx.partition(solver, eqx.is_array)
            self.dynamic, self.static = dynamic, _Static(static)

    def prepare(self, n_params: int, n_times: int, *, jacobian: bool):
        """The compiled program (one parameter vector of `n_params`, `n_times` times; value,
        or value and Jacobian), compiled once per process, solver structure, drive and
        shapes. Called while the caller's program is traced, so that the callback itself
        only runs it."""
        shapes = tuple((x.shape, x.dtype) for x in jax.tree.leaves(self.dynamic))
        key = (self.static, self.drive, shapes, n_params, n_times, jacobian)
        with _COMPILED_LOCK:
            if key not in _COMPILED:
                member = jax.ShapeDtypeStruct((n_params,), jnp.float64)
                times = jax.ShapeDtypeStruct((n_times,), jnp.float64)
                program = _member_voltage_and_jacobian if jacobian else _member_voltage
                lowered = program.lower(self.static.static, self.drive, self.dynamic, member, times)
                _COMPILED[key] = lowered.compile()
                while len(_COMPILED) > _MAX_COMPILED:
                    _COMPILED.popitem(last=False)
            _COMPILED.move_to_end(key)
            return _COMPILED[key]

    def _solve(self, theta, t, jacobian):
        program = self.prepare(theta.shape[-1], t.shape[-1], jacobian=jacobian)

        def solve(theta_k, t_k):
            out = program(self.dynamic, theta_k, t_k)
            return out if jacobian else (out,)

        return solve

    def _flat(self, theta, t):
        batch = np.broadcast_shapes(theta.shape[:-1], t.shape[:-1])
        theta = np.broadcast_to(theta, batch + theta.shape[-1:]).reshape(-1, theta.shape[-1])
        t = np.broadcast_to(t, batch + t.shape[-1:]).reshape(-1, t.shape[-1])
        return batch, theta, t

    def _guarded(self, solve, theta, t, shapes):
        """`solve(theta_k, t_k)` for each member k of the batch; a member whose solve raises
        a runtime error from inside the solver (Equinox's checks, e.g. a Newton or event
        linear solve that met a non-finite state at an extreme parameter point) gets NaN: a
        failed solve is a rejected proposal, not the end of the sampler."""
        outputs = [[] for _ in shapes]
        for k in range(len(theta)):
            try:
                parts = tuple(np.asarray(x) for x in solve(theta[k], t[k]))
            except Exception as error:  # noqa: BLE001  (re-raised unless a solver check)
                if not _is_solver_check(error):
                    raise
                parts = tuple(np.full(shape, np.nan) for shape in shapes)
            for out, x in zip(outputs, parts):
                out.append(x)
        return tuple(np.stack(out) for out in outputs)

    def value(self, theta, t):
        batch, theta, t = self._flat(np.asarray(theta, dtype=float), np.asarray(t, dtype=float))
        (v,) = self._guarded(self._solve(theta, t, False), theta, t, [t.shape[-1:]])
        return v.reshape(batch + t.shape[-1:])

    def value_and_jacobian(self, theta, t):
        batch, theta, t = self._flat(np.asarray(theta, dtype=float), np.asarray(t, dtype=float))
        v, jac = self._guarded(
            self._solve(theta, t, True), theta, t, [t.shape[-1:], t.shape[-1:] + theta.shape[-1:]]
        )
        return v.reshape(batch + t.shape[-1:]), jac.reshape(batch + jac.shape[-2:])


def _shapes(theta, t, *, jacobian):
    voltage = jax.ShapeDtypeStruct(t.shape, t.dtype)
    if not jacobian:
        return voltage
    return voltage, jax.ShapeDtypeStruct(t.shape + theta.shape, t.dtype)


@functools.partial(jax.custom_vjp, nondiff_argnums=(0,))
def _callback_voltage(host, theta, t):
    host.prepare(theta.shape[-1], t.shape[-1], jacobian=False)
    return jax.pure_callback(
        host.value, _shapes(theta, t, jacobian=False), theta, t, vmap_method="expand_dims"
    )


def _callback_voltage_fwd(host, theta, t):
    host.prepare(theta.shape[-1], t.shape[-1], jacobian=True)
    v, jac = jax.pure_callback(
        host.value_and_jacobian, _shapes(theta, t, jacobian=True), theta, t,
        vmap_method="expand_dims",
    )  # fmt: skip
    return v, (jac, t)


def _callback_voltage_bwd(host, residuals, cotangent):
    jac, t = residuals
    return cotangent @ jac, jnp.zeros_like(t)


_callback_voltage.defvjp(_callback_voltage_fwd, _callback_voltage_bwd)
