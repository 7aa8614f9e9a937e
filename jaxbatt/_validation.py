"""Checks of user input at the API boundary, each raising an error that names the problem."""

import numpy as np

from ._errors import InputError

MODELS = ("spm", "p2d")


def check_model(model: str) -> str:
    if model not in MODELS:
        raise InputError(f"unknown model {model!r}; choose one of {MODELS}")
    return model


def check_times(t, name: str = "t") -> np.ndarray:
    """A 1-D, finite, strictly increasing, non-negative time grid [s] with t[-1] > 0."""
    t = np.asarray(t, dtype=float)
    if t.ndim != 1 or t.size == 0:
        raise InputError(f"{name} must be a non-empty 1-D array of times in s, got shape {t.shape}")
    bad = np.flatnonzero(~np.isfinite(t))
    if bad.size:
        raise InputError(f"{name}[{bad[0]}] is not finite ({t[bad[0]]})")
    if t[0] < 0:
        raise InputError(f"{name} must start at t >= 0 s, got {name}[0] = {t[0]}")
    step = np.flatnonzero(np.diff(t) <= 0)
    if step.size:
        k = step[0]
        raise InputError(
            f"{name} must be strictly increasing: {name}[{k}] = {t[k]} >= {name}[{k + 1}] = {t[k + 1]}"
        )
    if t[-1] <= 0:
        raise InputError(f"{name} must end after t = 0 s")
    return t


def check_c_rate(c_rate) -> float:
    """A finite, positive discharge C-rate (charge is not supported yet)."""
    try:
        value = float(c_rate)
    except (TypeError, ValueError) as e:
        raise InputError(f"c_rate must be a number, got {c_rate!r}") from e
    if not np.isfinite(value) or value <= 0:
        raise InputError(
            f"c_rate must be a finite positive number (discharge), got {c_rate!r}; "
            "charging protocols are not supported yet"
        )
    return value
