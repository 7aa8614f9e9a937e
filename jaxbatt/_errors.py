"""Exceptions raised by jaxbatt. Every one names the cause in its message."""


class JaxbattError(Exception):
    """Base class of every jaxbatt exception."""


class ParameterError(JaxbattError, ValueError):
    """A parameter is unknown, missing, not finite, or outside its bounds."""


class InputError(JaxbattError, ValueError):
    """User data (times, voltages, C-rate, model name, ...) is malformed."""


class SolverError(JaxbattError, RuntimeError):
    """A numerical solver failed (step limit reached, Newton failure, non-finite state)."""


class CheckpointError(JaxbattError, ValueError):
    """A checkpoint file is missing, corrupted, or does not match the model it is loaded into."""
