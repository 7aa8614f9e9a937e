"""Current protocols: sequences of steps (constant current, rest, measured current profile),
written as PyBaMM writes its experiments.

A `Protocol` is an Equinox module of arrays, one row per step, so that the solvers can run it
under `jit` and differentiate with respect to its numbers (amplitudes, durations, voltage
limits). Currents are positive on discharge, as in PyBaMM. Each step is a piecewise-linear
current in time over `K` knots (a constant-current step has all its knots at one value; a
measured profile is linearly interpolated between its samples, as PyBaMM interpolates a
drive cycle), scaled by the cell's 1C current where the step is given in C.
"""

import re
from collections.abc import Sequence

import equinox as eqx
import jax.numpy as jnp
import numpy as np

from .._errors import InputError

# An until-voltage step without a duration runs at most this long at its rate (1.5 h at 1C,
# 45 min at 2C): past a full discharge or charge of the cell at that rate.
UNTIL_CAP_AT_1C = 1.5 * 3600.0

_TIME_UNITS = {
    "s": 1.0, "sec": 1.0, "second": 1.0, "seconds": 1.0,
    "min": 60.0, "minute": 60.0, "minutes": 60.0,
    "h": 3600.0, "hr": 3600.0, "hour": 3600.0, "hours": 3600.0,
}  # fmt: skip
_NUMBER = r"[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?"
_CURRENT = rf"(?:(?P<c_over>C/(?P<div>{_NUMBER}))|(?P<value>{_NUMBER})\s*(?P<unit>C|A|mA))"
_DURATION = rf"(?P<duration>{_NUMBER})\s*(?P<time_unit>[a-zA-Z]+)"
_UNTIL = rf"(?P<until>{_NUMBER})\s*V"
_STEP = re.compile(
    rf"^\s*(?:(?P<action>discharge|charge)\s+at\s+{_CURRENT}"
    rf"(?:\s+for\s+{_DURATION})?(?:\s+(?:or\s+)?until\s+{_UNTIL})?"
    rf"|rest\s+for\s+(?P<rest>{_NUMBER})\s*(?P<rest_unit>[a-zA-Z]+))\s*$",
    re.IGNORECASE,
)


class Step(eqx.Module):
    """One step of a protocol: a current [C-rate or A, positive on discharge] over time.

    Build with `Step.parse` (a PyBaMM-style string), `Step.constant`, `Step.rest` or
    `Step.profile`. ``duration`` [s] is the step's length, or for a step with
    ``until_voltage`` [V] its cap (the step ends at whichever comes first).
    """

    knot_times: np.ndarray  # (K,) [s] from the start of the step
    currents: np.ndarray  # (K,) in `unit`
    duration: np.ndarray  # () [s]; NaN: until-voltage step with the default cap
    until_voltage: np.ndarray  # () [V]; NaN: none
    unit: str = eqx.field(static=True)  # "C" or "A"
    description: str = eqx.field(static=True)

    @staticmethod
    def constant(current, unit="C", duration=None, until_voltage=None, description=None):
        """A constant current `current` in `unit` ("C" or "A"; positive on discharge) for
        `duration` s and/or until the terminal voltage reaches `until_voltage` V."""
        if unit not in ("C", "A"):
            raise InputError(f"a step's current unit must be 'C' or 'A', got {unit!r}")
        value = _finite(current, "step current")
        if duration is None and until_voltage is None:
            raise InputError("a constant-current step needs a duration, an until-voltage, or both")
        if until_voltage is not None and value == 0.0:
            raise InputError(
                "a rest cannot end on a voltage (the voltage relaxes without a direction); "
                "give the rest a duration"
            )
        d = np.nan if duration is None else _positive(duration, "step duration [s]")
        v = np.nan if until_voltage is None else _positive(until_voltage, "until-voltage [V]")
        if description is None:
            description = _describe(value, unit, duration, until_voltage)
        return Step(
            knot_times=np.array([0.0, 1.0]),
            currents=np.array([value, value]),
            duration=np.asarray(d),
            until_voltage=np.asarray(v),
            unit=unit,
            description=description,
        )

    @staticmethod
    def rest(duration):
        """Zero current for `duration` s."""
        return Step.constant(0.0, "C", duration, description=f"Rest for {float(duration):g} s")

    @staticmethod
    def profile(t, current, unit="A"):
        """A measured current profile: `current` (positive on discharge) at times `t` [s],
        linearly interpolated between them; the step lasts t[-1] - t[0]."""
        t = np.asarray(t, dtype=float)
        current = np.asarray(current, dtype=float)
        if t.ndim != 1 or t.size < 2:
            raise InputError(f"a current profile needs a 1-D time array of >= 2 points, got {t.shape}")
        if current.shape != t.shape:
            raise InputError(
                f"current profile: {current.size} currents for {t.size} times (mismatched lengths)"
            )
        for name, values in (("time", t), ("current", current)):
            bad = np.flatnonzero(~np.isfinite(values))
            if bad.size:
                raise InputError(f"current profile: {name}[{bad[0]}] is not finite ({values[bad[0]]})")
        step = np.flatnonzero(np.diff(t) <= 0)
        if step.size:
            raise InputError(
                f"current profile: times must be strictly increasing, t[{step[0]}] = {t[step[0]]} "
                f">= t[{step[0] + 1}] = {t[step[0] + 1]}"
            )
        if unit not in ("C", "A"):
            raise InputError(f"a step's current unit must be 'C' or 'A', got {unit!r}")
        return Step(
            knot_times=t - t[0],
            currents=current,
            duration=np.asarray(t[-1] - t[0]),
            until_voltage=np.asarray(np.nan),
            unit=unit,
            description=f"Current profile of {t.size} points over {t[-1] - t[0]:g} s",
        )

    @staticmethod
    def parse(text: str) -> "Step":
        """A step from PyBaMM's experiment syntax, e.g. ``"Discharge at 2C for 150 seconds"``,
        ``"Rest for 1 minute"``, ``"Charge at 1C until 4.2 V"``, ``"Discharge at 0.5 A for
        10 minutes"``, ``"Discharge at C/2 for 1 hour or until 3.0 V"``."""
        if not isinstance(text, str):
            raise InputError(f"a protocol step must be a string or a Step, got {type(text).__name__}")
        if text.strip().lower().startswith("hold"):
            raise InputError(
                f"{text!r}: voltage holds are not supported (jaxbatt's solvers are "
                "current-driven); use 'Charge at ... until <V>' and a rest instead"
            )
        m = _STEP.match(text)
        if m is None:
            raise InputError(
                f"cannot read the protocol step {text!r}; write e.g. 'Discharge at 2C for 150 "
                "seconds', 'Rest for 60 seconds', 'Charge at 1C until 4.2 V' or 'Discharge at "
                "0.5 A for 10 minutes'"
            )
        if m["rest"] is not None:
            return Step.constant(
                0.0, "C", float(m["rest"]) * _time_unit(m["rest_unit"], text), description=text.strip()
            )
        if m["c_over"] is not None:
            value, unit = 1.0 / float(m["div"]), "C"
        else:
            value, unit = float(m["value"]), m["unit"]
            if unit.lower() == "ma":
                value, unit = value / 1000.0, "A"
            unit = unit.upper()
        if value <= 0:
            raise InputError(f"{text!r}: the current must be positive (the action gives its sign)")
        sign = 1.0 if m["action"].lower() == "discharge" else -1.0
        duration = None
        if m["duration"] is not None:
            duration = float(m["duration"]) * _time_unit(m["time_unit"], text)
        until = None if m["until"] is None else float(m["until"])
        return Step.constant(sign * value, unit, duration, until, description=text.strip())


class Protocol(eqx.Module):
    """A sequence of steps run one after the other from the cell's initial state.

    ``Protocol(["Discharge at 2C for 150 seconds", "Rest for 60 seconds"] * 3)`` takes
    PyBaMM-style strings or `Step` objects; ``Protocol.from_current(t, current_A)`` is a
    measured current profile (a drive cycle), and ``Protocol.constant_current(c_rate)`` the
    discharge `jaxbatt.simulate(c_rate=...)` runs.

    A step ending on a voltage ends there (an event located by root finding); a cell limit
    (cut-off voltage, stoichiometry leaving [0, 1]) ends the whole protocol. The arrays are
    traced under `jit`: durations, currents and voltage limits can be differentiated and
    vmapped; the number of steps and knots is static.

    Attributes:
        knot_times, currents: (S, K) each step's piecewise-linear current (see `Step`).
        durations, until_voltages: (S,) [s], [V] (NaN: default cap / no voltage limit).
        per_c: (S,) 1.0 where the step's current is in C, 0.0 where in A.
        descriptions: the steps as text.
    """

    knot_times: np.ndarray
    currents: np.ndarray
    durations: np.ndarray
    until_voltages: np.ndarray
    per_c: np.ndarray
    descriptions: tuple[str, ...] = eqx.field(static=True)

    def __init__(self, steps: Sequence):
        if isinstance(steps, (str, Step)):
            steps = [steps]
        steps = [s if isinstance(s, Step) else Step.parse(s) for s in steps]
        if not steps:
            raise InputError("a protocol needs at least one step")
        n_knots = max(s.knot_times.shape[0] for s in steps)

        def padded(values):
            # repeats of the last knot: interpolation clamps there, and the integrator's
            # forced steps at the knots (`solvers._protocol`) are not multiplied
            extra = n_knots - values.shape[0]
            return np.concatenate([values, np.full(extra, values[-1])])

        self.knot_times = np.stack([padded(np.asarray(s.knot_times)) for s in steps])
        self.currents = np.stack([padded(np.asarray(s.currents)) for s in steps])
        self.durations = np.array([s.duration for s in steps], dtype=float)
        self.until_voltages = np.array([s.until_voltage for s in steps], dtype=float)
        self.per_c = np.array([1.0 if s.unit == "C" else 0.0 for s in steps])
        self.descriptions = tuple(s.description for s in steps)

    @staticmethod
    def from_current(t, current_A) -> "Protocol":
        """A measured current profile [A, positive on discharge] at times `t` [s]."""
        return Protocol([Step.profile(t, current_A, "A")])

    @staticmethod
    def constant_current(c_rate, duration=None, until_voltage=None) -> "Protocol":
        """One discharge at `c_rate` for `duration` s and/or until `until_voltage`."""
        return Protocol([Step.constant(c_rate, "C", duration, until_voltage)])

    @property
    def n_steps(self) -> int:
        return len(self.descriptions)

    @property
    def has_voltage_ends(self) -> bool:
        return bool(np.any(np.isfinite(np.asarray(self.until_voltages))))

    def nominal_duration(self, one_c_current: float) -> float:
        """Total length [s] with every until-voltage step at its cap (an upper bound)."""
        return float(np.sum(step_lengths(self, one_c_current, np)))

    def current(self, t, one_c_current: float):
        """The current [A] at times `t` (NumPy) if every step ran to its duration or cap;
        for a plot of what the protocol asks (the solution's ``current`` is what ran)."""
        caps = step_lengths(self, one_c_current, np)
        starts = np.concatenate([[0.0], np.cumsum(caps)[:-1]])
        t = np.asarray(t, dtype=float)
        k = np.clip(np.searchsorted(starts, t, side="right") - 1, 0, self.n_steps - 1)
        out = np.empty_like(t)
        for s in range(self.n_steps):
            sel = k == s
            scale = one_c_current if self.per_c[s] else 1.0
            out[sel] = scale * np.interp(t[sel] - starts[s], self.knot_times[s], self.currents[s])
        return out

    def __repr__(self):
        return "Protocol([" + ", ".join(repr(d) for d in self.descriptions) + "])"


def step_currents_in_amperes(protocol: Protocol, one_c_current, xp=jnp):
    """(S, K) knot currents [A]."""
    per_c = xp.asarray(protocol.per_c)[:, None]
    scale = per_c * one_c_current + (1.0 - per_c)
    return xp.asarray(protocol.currents) * scale


def step_lengths(protocol: Protocol, one_c_current, xp=jnp):
    """(S,) each step's length [s]: its duration, or for an until-voltage step without one
    `UNTIL_CAP_AT_1C` scaled by its C-rate."""
    amps = step_currents_in_amperes(protocol, one_c_current, xp)
    rate = xp.max(xp.abs(amps), axis=1) / one_c_current
    default = UNTIL_CAP_AT_1C / xp.maximum(rate, 1e-3)
    durations = xp.asarray(protocol.durations)
    return xp.where(xp.isnan(durations), default, durations)



def _time_unit(unit: str, text: str) -> float:
    try:
        return _TIME_UNITS[unit.lower()]
    except KeyError:
        raise InputError(
            f"{text!r}: unknown time unit {unit!r}; use seconds, minutes or hours"
        ) from None


def _finite(value, name):
    try:
        value = float(value)
    except (TypeError, ValueError) as e:
        raise InputError(f"{name} must be a number, got {value!r}") from e
    if not np.isfinite(value):
        raise InputError(f"{name} must be finite, got {value}")
    return value


def _positive(value, name):
    value = _finite(value, name)
    if value <= 0:
        raise InputError(f"{name} must be positive, got {value}")
    return value


def _describe(value, unit, duration, until):
    if value == 0.0:
        text = "Rest"
    else:
        text = f"{'Discharge' if value > 0 else 'Charge'} at {abs(value):g}{' A' if unit == 'A' else 'C'}"
    if duration is not None:
        text += f" for {float(duration):g} s"
    if until is not None:
        text += f"{' or' if duration is not None else ''} until {float(until):g} V"
    return text
