"""Experiment design: which test identifies the parameters.

For a protocol run on a cell with parameters `at`, the voltages measured at times t with
Gaussian noise sigma carry the Fisher information ``F = J^T J / sigma^2``, J = dV/dtheta the
(T, P) sensitivity of the voltages to the parameters, computed by forward-mode autodiff
through the solver (``diffrax.ForwardMode``). With the uniform prior box represented by a
Gaussian of the box's variance, ``(F + diag(12 / width^2))^-1`` is the expected posterior
covariance of a calibration on such a curve (the Laplace / Cramer-Rao approximation, local to
`at`). `optimise` maximises the information of a parametrised pulse train over its pulse
amplitudes, lengths and rest currents with Optax, within a maximum current, a voltage window
and a total test time, by forward-over-forward differentiation of the expected sds.
"""

import dataclasses
import math
import time
from collections.abc import Mapping, Sequence

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax

from .._errors import InputError, SolverError
from .._simulate import check_protocol, make_solver
from ..protocols import Protocol, Step

DEFAULT_SIGMA = 3e-3  # V, the bundled example's noise
DEFAULT_POINTS = 100  # measurement times over the test, as in the bundled example
BASELINE_C_RATE = 2.0


@dataclasses.dataclass(frozen=True)
class Information:
    """What one curve measured under a protocol tells about the parameters, locally at `at`.

    Attributes:
        label: what was measured (a protocol's summary or ``"2C discharge"``).
        names: the parameter names, in the order of the matrices.
        at: the parameter values the information is computed at.
        fisher: (P, P) Fisher information of the data [1 / parameter unit^2].
        prior_precision: (P,) precision of the Gaussian stand-in for the uniform prior box.
        sigma: noise sd [V]; t: measurement times [s]; voltage: the noise-free voltages [V];
        current: the applied current at t [A].
    """

    label: str
    names: tuple[str, ...]
    at: dict
    fisher: np.ndarray
    prior_precision: np.ndarray
    sigma: float
    t: np.ndarray
    voltage: np.ndarray
    current: np.ndarray

    @property
    def covariance(self) -> np.ndarray:
        """(P, P) expected posterior covariance: (fisher + diag(prior_precision))^-1."""
        return np.linalg.inv(self.fisher + np.diag(self.prior_precision))

    @property
    def sd(self) -> dict[str, float]:
        """Expected posterior standard deviation of each parameter."""
        return dict(zip(self.names, np.sqrt(np.diag(self.covariance)).tolist()))

    @property
    def correlation(self) -> np.ndarray:
        cov = self.covariance
        s = np.sqrt(np.diag(cov))
        return cov / np.outer(s, s)

    def to_dict(self) -> dict:
        return dict(
            label=self.label,
            at=self.at,
            sigma_V=self.sigma,
            n_points=int(self.t.size),
            voltage_range_V=[float(self.voltage.min()), float(self.voltage.max())],
            sd=self.sd,
            correlation=self.correlation.tolist(),
            fisher=self.fisher.tolist(),
        )


def prior_precision(space) -> np.ndarray:
    """(P,) 12 / width^2: the precision of a Gaussian with the variance of the uniform box."""
    return 12.0 / (np.asarray(space.upper) - np.asarray(space.lower)) ** 2


def forward_solver(model="spm", solver=None, **solver_options):
    """The solver with ``adjoint=diffrax.ForwardMode()`` (for `jax.jacfwd` through it)."""
    if solver is None:
        solver = make_solver(model, **solver_options)
    elif solver_options:
        raise InputError("give either a solver or solver options, not both")
    return dataclasses.replace(solver, adjoint=diffrax.ForwardMode())


def measurement_times(duration, n_points=DEFAULT_POINTS) -> np.ndarray:
    """`n_points` equally spaced times over (0, duration] [s] (none at t = 0, where every
    curve starts at the same open-circuit voltage)."""
    if not duration > 0:
        raise InputError(f"the test duration must be positive (s), got {duration}")
    if int(n_points) < 2:
        raise InputError(f"n_points must be at least 2, got {n_points}")
    return np.linspace(0.0, float(duration), int(n_points) + 1)[1:]


def _theta(space, at) -> np.ndarray:
    theta = np.asarray(space.validate(dict(at) if at is not None else {}), dtype=float)
    if theta.ndim != 1:
        raise InputError(f"a design point is one value per parameter, got shapes {theta.shape}")
    return theta


def _voltage_and_jacobian(solver, protocol, theta, t):
    def voltage(th):
        sol = solver.solve_protocol(th, t, protocol)
        # NaN after the protocol's end, everywhere if the solve failed
        v = jnp.where(sol.failed, jnp.nan, sol.voltage)
        return v, (v, sol.current)

    jac, (v, current) = jax.jacfwd(voltage, has_aux=True)(theta)
    return v, jac, current


_voltage_and_jacobian_jit = eqx.filter_jit(_voltage_and_jacobian)


@eqx.filter_jit
def _solution_jit(solver, protocol, theta, t):
    return solver.solve_protocol(theta, t, protocol)


def fisher_information(
    protocol=None,
    *,
    c_rate: float | None = None,
    at: Mapping | None = None,
    t=None,
    n_points: int = DEFAULT_POINTS,
    sigma: float = DEFAULT_SIGMA,
    model: str = "spm",
    solver=None,
    label: str | None = None,
    **solver_options,
) -> Information:
    """The Fisher information of one curve measured under `protocol` (a `jaxbatt.Protocol` or
    a list of PyBaMM-style steps) or a constant-current discharge at `c_rate` (then for
    1350 s unless `t` says otherwise), at parameters `at` (default the space's defaults),
    with `n_points` measurements over the protocol (or at times `t` [s]) of noise sd
    `sigma` [V].

    Raises `SolverError` if the protocol ends (at a cell limit) before the last time."""
    if (protocol is None) == (c_rate is None):
        raise InputError("give either a protocol or a c_rate")
    if not sigma > 0:
        raise InputError(f"sigma must be positive (V), got {sigma}")
    solver = forward_solver(model, solver, **solver_options)
    if protocol is None:
        duration = 1350.0 if t is None else float(np.max(t))
        protocol = Protocol.constant_current(float(c_rate), duration)
        label = label or f"{float(c_rate):g}C discharge"
    protocol = check_protocol(protocol)
    if t is None:
        t = measurement_times(protocol.nominal_duration(solver.cell.one_c_current), n_points)
    t = np.asarray(t, dtype=float)
    theta = _theta(solver.space, at)
    v, jac, current = (np.asarray(x) for x in _voltage_and_jacobian_jit(solver, anonymous(protocol), theta, t))
    if not np.all(np.isfinite(v)):
        first = int(np.flatnonzero(~np.isfinite(v))[0])
        reason = _solution_jit(solver, anonymous(protocol), theta, t).termination_reason()
        at_text = ", ".join(f"{n}={x:g}" for n, x in zip(solver.space.names, theta))
        raise SolverError(
            f"the protocol does not reach the measurement at t = {t[first]:g} s at {at_text}: "
            f"{reason}; shorten the test, lower its currents, or measure only up to its end"
        )
    fisher = jac.T @ jac / sigma**2
    return Information(
        label=label or _protocol_label(protocol),
        names=tuple(solver.space.names),
        at=dict(zip(solver.space.names, theta.tolist())),
        fisher=fisher,
        prior_precision=prior_precision(solver.space),
        sigma=float(sigma),
        t=t,
        voltage=v,
        current=current,
    )


def _protocol_label(protocol) -> str:
    n = protocol.n_steps
    return protocol.descriptions[0] if n == 1 else f"{n}-step protocol"


@dataclasses.dataclass(frozen=True)
class PulseTrain:
    """A family of test protocols: `n_pulses` periods of equal length over `duration` [s],
    each a discharge pulse at amplitude a (0 < a <= `max_c_rate`) for a fraction f of the
    period, then a rest, or with ``max_charge_c_rate > 0`` a charge at up to that rate, for
    the remainder. Every step lasts at least `min_step` s. The design variables are
    unconstrained (P = 2 or 3 per pulse), so any value is a protocol inside the limits.
    """

    duration: float = 1350.0
    n_pulses: int = 6
    max_c_rate: float = 5.0
    max_charge_c_rate: float = 0.0
    min_step: float = 5.0

    def __post_init__(self):
        if not self.duration > 0:
            raise InputError(f"duration must be positive (s), got {self.duration}")
        if int(self.n_pulses) < 1:
            raise InputError(f"n_pulses must be at least 1, got {self.n_pulses}")
        if not self.max_c_rate > 0:
            raise InputError(f"max_c_rate must be positive, got {self.max_c_rate}")
        if not self.max_charge_c_rate >= 0:
            raise InputError(f"max_charge_c_rate must be >= 0, got {self.max_charge_c_rate}")
        if not 0 < self.min_step < self.period / 2:
            raise InputError(
                f"min_step {self.min_step} s must be positive and below half a period "
                f"({self.period:g} s)"
            )

    @property
    def period(self) -> float:
        return float(self.duration) / int(self.n_pulses)

    @property
    def n_variables(self) -> int:
        return (3 if self.max_charge_c_rate > 0 else 2) * int(self.n_pulses)

    def _template(self) -> Protocol:
        pulse = Step.constant(1.0, "C", 1.0)
        rest = Step.constant(0.0, "C", 1.0)
        return Protocol([pulse, rest] * int(self.n_pulses))

    def values(self, u, xp=jnp):
        """(amplitudes [C], pulse lengths [s], rest currents [C, negative: charge]) of
        design variables `u` (n_variables,)."""
        n = int(self.n_pulses)
        u = xp.reshape(xp.asarray(u, dtype=float), (-1, n))
        sig = (lambda x: 1 / (1 + xp.exp(-x)))
        lo = self.min_step / self.period
        amplitude = self.max_c_rate * sig(u[0])
        length = self.period * (lo + (1 - 2 * lo) * sig(u[1]))
        rest_current = -self.max_charge_c_rate * sig(u[2]) if u.shape[0] > 2 else 0.0 * u[0]
        return amplitude, length, rest_current

    def protocol(self, u) -> Protocol:
        """The protocol of design variables `u` (traceable: for `jax` transformations)."""
        amplitude, length, rest_current = self.values(u)
        currents = jnp.stack([amplitude, rest_current], axis=1).reshape(-1)
        durations = jnp.stack([length, self.period - length], axis=1).reshape(-1)
        return _with_arrays(self._template(), jnp.stack([currents, currents], axis=1), durations)

    def steps(self, u) -> list[str]:
        """The protocol of `u` as PyBaMM-style step strings (rounded to 0.01C and 0.1 s, the
        precision a cycler is programmed with)."""
        amplitude, length, rest_current = (np.asarray(x) for x in self.values(np.asarray(u), np))
        out = []
        for a, d, b in zip(amplitude, length, rest_current):
            d = round(float(d), 1)
            if round(float(a), 2) > 0:
                out.append(f"Discharge at {float(a):.2f}C for {d:g} seconds")
            else:
                out.append(f"Rest for {d:g} seconds")
            rest = round(self.period - d, 1)
            if round(float(b), 2) < 0:
                out.append(f"Charge at {-float(b):.2f}C for {rest:g} seconds")
            else:
                out.append(f"Rest for {rest:g} seconds")
        return out

    def initial(self, mean_c_rate: float = BASELINE_C_RATE) -> np.ndarray:
        """Design variables of pulses that pass the charge of a `mean_c_rate` discharge: at
        twice that rate (capped at max_c_rate) for the matching fraction of each period, with
        rests (charge rate at 1 % of its maximum)."""
        n = int(self.n_pulses)
        a = min(2.0 * mean_c_rate, 0.95 * self.max_c_rate)
        f = min(max(mean_c_rate / a, 0.06), 0.94)
        lo = self.min_step / self.period
        s = np.clip((f - lo) / (1 - 2 * lo), 0.02, 0.98)
        rows = [np.full(n, _logit(a / self.max_c_rate)), np.full(n, _logit(s))]
        if self.max_charge_c_rate > 0:
            rows.append(np.full(n, _logit(0.01)))
        return np.concatenate(rows)


def _logit(p):
    return math.log(p / (1 - p))


def _with_arrays(template: Protocol, currents, durations) -> Protocol:
    return eqx.tree_at(lambda p: (p.currents, p.durations), template, (currents, durations))


def anonymous(protocol: Protocol) -> Protocol:
    """`protocol` with placeholder step descriptions: the descriptions are static in its
    pytree, so protocols of one shape then share one compiled solve."""
    template = Protocol([Step.constant(1.0, "C", 1.0, description="")] * protocol.n_steps)
    fields = ("knot_times", "currents", "durations", "until_voltages", "per_c")
    return eqx.tree_at(
        lambda p: tuple(getattr(p, f) for f in fields),
        template,
        tuple(getattr(protocol, f) for f in fields),
    )


@dataclasses.dataclass(frozen=True)
class DesignResult:
    """A designed test and what it is expected to tell, against the 2C discharge.

    Attributes:
        family: the `PulseTrain`; variables: its optimised design variables.
        steps: the designed protocol as PyBaMM-style steps; protocol: the `Protocol`.
        designed, baseline: an `Information` per design point `at`, of the designed protocol
            and of the baseline constant-current discharge over the same time and points.
        targets: the parameters whose expected sds were minimised.
        history: per Optax iteration, ``objective`` (mean sum of log sd / box width, plus
            the voltage-window penalty) and ``accepted`` (False: a rejected step).
        wall_time_s: optimisation time, compilation included.
    """

    family: PulseTrain
    variables: np.ndarray
    steps: list
    protocol: Protocol
    designed: list
    baseline: list
    targets: tuple
    history: dict
    wall_time_s: float
    settings: dict

    def gain(self, k: int = 0) -> dict[str, float]:
        """Baseline sd / designed sd per parameter, at design point `k`."""
        d, b = self.designed[k].sd, self.baseline[k].sd
        return {n: b[n] / d[n] for n in d}

    def summary(self) -> str:
        lines = [
            f"Designed test: {self.family.n_pulses} pulses over {self.family.duration:g} s "
            f"(<= {self.family.max_c_rate:g}C discharge"
            + (f", <= {self.family.max_charge_c_rate:g}C charge" if self.family.max_charge_c_rate
               else "")
            + f"), {len(self.history['objective'])} Optax steps, {self.wall_time_s:.0f} s",
            "  " + "; ".join(self.steps),
        ]
        for k, (d, b) in enumerate(zip(self.designed, self.baseline)):
            at = ", ".join(f"{n}={x:g}" for n, x in d.at.items())
            lines.append(f"Expected posterior sd at {at} (sigma {1e3 * d.sigma:g} mV, "
                         f"{d.t.size} points):")  # fmt: skip
            lines.append(f"  {'parameter':<10} {b.label:>16} {'designed':>10} {'gain':>6}")
            gain = self.gain(k)
            for n in d.names:
                lines.append(f"  {n:<10} {b.sd[n]:>16.4g} {d.sd[n]:>10.4g} {gain[n]:>5.2f}x")
            lines.append(f"  correlation {b.correlation[0, 1]:+.2f} -> {d.correlation[0, 1]:+.2f}"
                         if len(d.names) > 1 else "")  # fmt: skip
        return "\n".join(line for line in lines if line)

    def to_dict(self) -> dict:
        from .. import __version__  # noqa: PLC0415

        return dict(
            jaxbatt_version=__version__,
            steps=self.steps,
            targets=list(self.targets),
            family=dataclasses.asdict(self.family),
            variables=np.asarray(self.variables).tolist(),
            designed=[i.to_dict() for i in self.designed],
            baseline=[i.to_dict() for i in self.baseline],
            gain=[self.gain(k) for k in range(len(self.designed))],
            history={k: np.asarray(v).tolist() for k, v in self.history.items()},
            wall_time_s=self.wall_time_s,
            settings=self.settings,
        )

    def plot(self, k: int = 0):
        """Figure: the currents and voltages of the designed test and the baseline, and the
        expected 95 % posterior ellipses of the first two parameters in the prior box."""
        from ._plots import plot_design  # noqa: PLC0415

        return plot_design(self, k)

    def save(self, directory, k: int = 0) -> list:
        """Write the result folder `directory`: ``protocol.txt`` (one step per line, as
        ``jaxbatt simulate --step`` takes them), ``summary.json`` (everything in `to_dict`)
        and ``design.png`` (`plot` at design point `k`). The folder is written atomically: it holds the complete result or
        is left as it was (an earlier jaxbatt result there is replaced as a whole). Returns
        the paths."""
        import json  # noqa: PLC0415

        from .._io import atomic_folder, atomic_savefig, check_output_dir  # noqa: PLC0415

        directory = check_output_dir(directory, create_parents=True)
        names = ("protocol.txt", "summary.json", "design.png")
        with atomic_folder(directory) as tmp:
            (tmp / names[0]).write_text("\n".join(self.steps) + "\n")
            (tmp / names[1]).write_text(json.dumps(self.to_dict(), indent=2) + "\n")
            atomic_savefig(self.plot(k), tmp / names[2])
        return [directory / n for n in names]


PENALTY_WEIGHT = 10.0  # per (margin-sized violation)^2 of the voltage window, per point


def _design_objective(u, family, solver, t, thetas, sigma, precision, targets, width, window,
                      margin):  # fmt: skip
    """(value, (value, penalty, sds)) of design variables `u`: the mean over the design points
    `thetas` of the sum of log(sd / width) of the `targets`, plus the voltage-window
    penalty. `family`, `targets` (indices), `window` and `margin` are static."""
    n_meas = t.shape[0]
    period = family.period
    starts = period * jnp.arange(int(family.n_pulses))
    protocol = family.protocol(u)
    _, length, _ = family.values(u)
    # the voltage's extremes: at the end of each pulse and of each rest or charge
    extra = jax.lax.stop_gradient(jnp.concatenate([starts + length, starts + period]) - 1e-3)
    t_all = jnp.concatenate([t, extra])
    order = jnp.argsort(t_all)
    back = jnp.argsort(order)
    index = jnp.asarray(targets)

    def one(theta):
        v, jac, _ = _voltage_and_jacobian(solver, protocol, theta, t_all[order])
        v, jac = v[back], jac[back]
        fisher = jac[:n_meas].T @ jac[:n_meas] / sigma**2 + jnp.diag(precision)
        sd = jnp.sqrt(jnp.diag(jnp.linalg.inv(fisher)))
        criterion = jnp.sum(jnp.log(sd[index] / width[index]))
        low = jax.nn.relu(window[0] + margin - v) / margin
        high = jax.nn.relu(v - window[1] + margin) / margin
        return criterion, jnp.sum(low**2 + high**2), sd

    criterion, penalty, sd = jax.vmap(one)(thetas)
    value = jnp.mean(criterion) + PENALTY_WEIGHT * jnp.mean(penalty)
    return value, (value, jnp.mean(penalty), sd)


@eqx.filter_jit
def _objective_gradient(u, *args):
    """Forward-over-forward gradient of `_design_objective` (one compiled program per family,
    solver configuration and shapes: repeated designs reuse it)."""
    return jax.jacfwd(_design_objective, has_aux=True)(u, *args)


def optimise(
    family: PulseTrain | None = None,
    *,
    at: Mapping | Sequence[Mapping] | None = None,
    targets: Sequence[str] | None = None,
    n_points: int = DEFAULT_POINTS,
    sigma: float = DEFAULT_SIGMA,
    voltage_window: tuple[float, float] | None = None,
    voltage_margin: float = 0.05,
    baseline_c_rate: float = BASELINE_C_RATE,
    steps: int = 100,
    learning_rate: float = 0.15,
    model: str = "spm",
    solver=None,
    progress: bool = True,
    **solver_options,
) -> DesignResult:
    """Optimise the pulse train `family` (default `PulseTrain()`: 6 pulses over 1350 s, up to
    5C) so that a curve measured under it (`n_points` voltages of noise `sigma` [V]) gives
    the smallest expected posterior sds of `targets` (default every parameter; the criterion
    is the sum of log(sd / box width)), averaged over the design points `at` (one parameter
    mapping or a list; default the space's defaults), keeping the voltage inside
    `voltage_window` [V] (default the cell's cut-off voltages) with `voltage_margin` [V]
    to spare at every design point (so that a cell somewhat off them stays inside too).

    Adam (`learning_rate` on the unconstrained design variables, `steps` iterations); a step
    to where the solve fails or the protocol reaches a cell limit is rejected and the step
    size halved. The gradient is forward-over-forward autodiff through the solver (Diffrax
    cannot reverse-differentiate its forward-mode sensitivities), so the cost grows with the
    number of design variables: compile about a minute, then about 0.1-1 s a step on a CPU.
    """
    t0 = time.perf_counter()
    family = PulseTrain() if family is None else family
    if not isinstance(family, PulseTrain):
        raise InputError(f"family must be a jaxbatt.design.PulseTrain, got {type(family).__name__}")
    if int(steps) < 1:
        raise InputError(f"steps must be at least 1, got {steps}")
    if not sigma > 0:
        raise InputError(f"sigma must be positive (V), got {sigma}")
    solver = forward_solver(model, solver, **solver_options)
    space, cell = solver.space, solver.cell
    points = [at] if at is None or isinstance(at, Mapping) else list(at)
    if not points:
        raise InputError("at: give at least one design point")
    thetas = np.stack([_theta(space, p) for p in points])
    names = tuple(space.names)
    targets = names if targets is None else tuple(targets)
    unknown = [n for n in targets if n not in names]
    if unknown or not targets:
        raise InputError(f"unknown target parameter(s) {unknown}; the space has {names}")
    if voltage_window is None:
        voltage_window = (float(cell.lower_cutoff_voltage), float(cell.upper_cutoff_voltage))
    lo, hi = (float(x) for x in voltage_window)
    margin = float(voltage_margin)
    if not margin > 0:
        raise InputError(f"voltage_margin must be positive (V), got {voltage_margin}")
    if not lo + 2 * margin < hi:
        raise InputError(f"voltage_window {voltage_window} V: the lower limit must lie "
                         f"more than {2 * margin:g} V below the upper")  # fmt: skip
    t = measurement_times(family.duration, n_points)
    args = (
        family, solver, jnp.asarray(t), jnp.asarray(thetas), jnp.asarray(float(sigma)),
        jnp.asarray(prior_precision(space)), tuple(names.index(n) for n in targets),
        jnp.asarray(np.asarray(space.upper) - np.asarray(space.lower)), (lo, hi), margin,
    )  # fmt: skip

    def evaluate(u):
        grad, (value, penalty, sd) = _objective_gradient(u, *args)
        ok = bool(np.isfinite(value)) and bool(np.all(np.isfinite(grad)))
        return ok, float(value), grad, float(penalty)

    u = jnp.asarray(family.initial(baseline_c_rate))
    ok, value, grad, penalty = evaluate(u)
    if not ok:
        raise SolverError(
            "the initial pulse train (the charge of a "
            f"{baseline_c_rate:g}C discharge) cannot be solved at every design point or "
            "reaches a cell limit: shorten the test or lower max_c_rate"
        )
    optimiser = optax.adam(learning_rate)
    state = optimiser.init(u)
    scale = 1.0
    best = (value, u)
    history = dict(objective=[], penalty=[], accepted=[])
    from tqdm.auto import tqdm  # noqa: PLC0415

    bar = tqdm(range(int(steps)), disable=not progress, desc="design", unit="step")
    for _ in bar:
        updates, new_state = optimiser.update(grad, state, u)
        u_new = u + scale * updates
        ok, v_new, g_new, p_new = evaluate(u_new)
        history["accepted"].append(ok)
        if ok:
            u, state, value, grad, penalty = u_new, new_state, v_new, g_new, p_new
            if value < best[0]:
                best = (value, u)
        else:
            scale *= 0.5
        history["objective"].append(value)
        history["penalty"].append(penalty)
        bar.set_postfix(objective=f"{value:.3f}")
    u = best[1]
    step_texts = family.steps(np.asarray(u))
    protocol = Protocol(step_texts)
    # the baseline discharge cut into as many equal steps as the design has: the same
    # compiled solve serves both
    piece = Step.constant(baseline_c_rate, "C", family.duration / protocol.n_steps)
    base_protocol = Protocol([piece] * protocol.n_steps)
    designed, baseline = [], []
    for p in points:
        designed.append(fisher_information(protocol, at=p, t=t, sigma=sigma, solver=solver,
                                           label="designed"))  # fmt: skip
        baseline.append(fisher_information(base_protocol, at=p, t=t, sigma=sigma, solver=solver,
                                           label=f"{baseline_c_rate:g}C discharge"))  # fmt: skip
    fine = np.arange(1.0, family.duration, 1.0)
    shape_only = anonymous(protocol)
    for info in designed:
        theta = np.array([info.at[n] for n in names])
        sol = _solution_jit(solver, shape_only, theta, fine)
        v = np.where(bool(sol.success), np.asarray(sol.voltage), np.nan)
        if not (np.all(np.isfinite(v)) and v.min() >= lo and v.max() <= hi):
            raise SolverError(
                f"the designed test leaves the voltage window {voltage_window} V at {info.at} "
                f"(between {np.nanmin(v):.3f} and {np.nanmax(v):.3f} V at 1 s resolution)"
            )
    return DesignResult(
        family=family,
        variables=np.asarray(u),
        steps=step_texts,
        protocol=protocol,
        designed=designed,
        baseline=baseline,
        targets=targets,
        history={k: np.asarray(v) for k, v in history.items()},
        wall_time_s=time.perf_counter() - t0,
        settings=dict(n_points=int(n_points), sigma_V=float(sigma), steps=int(steps),
                      learning_rate=float(learning_rate), voltage_window_V=[lo, hi],
                      voltage_margin_V=margin,
                      baseline_c_rate=float(baseline_c_rate), model=model,
                      box=[[float(a), float(b)] for a, b in zip(space.lower, space.upper)]),  # fmt: skip
    )
