"""Experiment design: the Fisher information of a test and tests that identify the parameters.

``jaxbatt.design.fisher_information(protocol, at=...)`` gives the expected posterior sds of a
curve measured under a protocol; ``jaxbatt.design.optimise(PulseTrain(...))`` finds the pulse
train that minimises them within a maximum current, a voltage window and a test time.
"""

from ._design import DesignResult as DesignResult
from ._design import Information as Information
from ._design import PulseTrain as PulseTrain
from ._design import fisher_information as fisher_information
from ._design import measurement_times as measurement_times
from ._design import optimise as optimise
