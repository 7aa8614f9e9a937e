"""A fixed step sequence for the stiff solvers: a voltage that is smooth in the parameters.

Under an adaptive step-size controller the accepted steps change with the parameters, so the
voltage, and an exact likelihood built on it, jumps by about the local error whenever the
controller takes a different path (measured on the coarse P2D of the Enertech cell: the
log-likelihood along one parameter scattered by 0.19 nats RMS around its trend, enough to
freeze NUTS). On a fixed step sequence the discrete solution is a smooth function of the
parameters, up to the tolerance of the stage solves (full Newton in the fixed-step mode;
`P2D_CALIBRATION_SETTINGS` sets it to rtol 1e-6).
"""

import jax.numpy as jnp

from .._errors import InputError

# the sequence: `RAMP_FRACTION` of the steps grow geometrically from `FIRST_STEP_FRACTION` of
# the window to its first `RAMP_SPAN` (the transient after the current is switched on: the
# surface concentrations move as sqrt(t)), the rest are uniform over the remainder
RAMP_FRACTION = 0.25
RAMP_SPAN = 0.05
FIRST_STEP_FRACTION = 1e-5


def check_fixed_steps(fixed_steps):
    if fixed_steps is not None and (not isinstance(fixed_steps, int) or fixed_steps < 8):
        raise InputError(f"fixed_steps must be None (adaptive steps) or an integer >= 8, "
                         f"got {fixed_steps!r}")  # fmt: skip


def fixed_step_times(t_end, n_steps: int):
    """The n_steps + 1 step times [s] on [0, t_end]: a geometric ramp over the first
    `RAMP_SPAN` of the window, then uniform steps (`t_end` may be traced)."""
    n_ramp = max(int(RAMP_FRACTION * n_steps), 2)
    ramp = jnp.geomspace(FIRST_STEP_FRACTION, RAMP_SPAN, n_ramp)
    uniform = jnp.linspace(RAMP_SPAN, 1.0, n_steps - n_ramp + 1)[1:]
    return t_end * jnp.concatenate([jnp.zeros(1), ramp, uniform])
