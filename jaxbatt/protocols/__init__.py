"""Current protocols (constant current, rests, pulses, charge, measured current profiles)."""

from ._protocol import Protocol as Protocol
from ._protocol import Step as Step
