"""Exceptions raised by jaxbatt. Every one names the cause in its message."""


class JaxbattError(Exception):
    """Base class of every jaxbatt exception."""


class InputError(JaxbattError, ValueError):
    """User data (times, voltages, C-rate, model name, ...) is malformed."""


class ParameterError(InputError):
    """A parameter is unknown, missing, not finite, or outside its bounds.

    A kind of `InputError` (parameters are input), so ``except InputError`` catches it too.
    """


class SolverError(JaxbattError, RuntimeError):
    """A numerical solver failed (step limit reached, Newton failure, non-finite state)."""


class CheckpointError(JaxbattError, ValueError):
    """A checkpoint file is missing, corrupted, or does not match the model it is loaded into."""


class DischargeEndedWarning(UserWarning):
    """A discharge ended before the last requested time at a physical limit (the cell's
    cut-off voltage, or an electrode's surface stoichiometry leaving [0, 1]). The solution
    is valid up to its ``t_end`` and NaN after it; the message names the limit and time."""
