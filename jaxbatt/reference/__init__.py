"""Independent numerical references (PyBaMM) used by jaxbatt's tests and benchmarks.

PyBaMM is imported lazily by these functions; install it with ``pip install jaxbatt[test]``.
"""

from ._pybamm import PybammSolver as PybammSolver
from ._pybamm import pybamm_dfn_voltage as pybamm_dfn_voltage
from ._pybamm import pybamm_parameter_values as pybamm_parameter_values
from ._pybamm import pybamm_spm_voltage as pybamm_spm_voltage
from ._pybamm import pybamm_protocol_voltage as pybamm_protocol_voltage
from ._pybamm import pybamm_set_discharge as pybamm_set_discharge
