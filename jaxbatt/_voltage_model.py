"""The interface calibration needs from a model: voltage as a pure function of parameters."""

import abc

import equinox as eqx

from .cells import ParameterSpace


class AbstractVoltageModel(eqx.Module):
    """Anything that maps a parameter vector and times to a terminal-voltage curve.

    Implemented by the PINN surrogates (`jaxbatt.surrogates`) and by `SolverVoltageModel`
    (the numerical solver, for the exact likelihood). `voltage_vector` must be pure and
    traceable: calibration jits it, vmaps it over curves and differentiates it in NUTS.

    Attributes:
        space: the `ParameterSpace` (order of `theta`, and the prior box).
        c_rate: the discharge C-rate the model describes.
        t_max: the end of the time window the model is valid on [s].
        error_std: the model's own voltage error (standard deviation) [V]; 0 for the solver.
        name: short label (``"spm"``, ``"spm-solver"``, ...).
    """

    space: eqx.AbstractVar[ParameterSpace]
    c_rate: eqx.AbstractVar[float]
    t_max: eqx.AbstractVar[float]
    error_std: eqx.AbstractVar[float]
    name: eqx.AbstractVar[str]

    @abc.abstractmethod
    def voltage_vector(self, theta, t):
        """Terminal voltage [V], shape t.shape, for parameter vector theta (P,) in physical
        units (ordered as `space`) at times t [s]."""
