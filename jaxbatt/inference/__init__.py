"""Bayesian calibration: NumPyro NUTS over a voltage model's parameter space.

`calibrate` infers degradation parameters (and the noise level) from measured discharge
curves, with a PINN surrogate or the numerical solver (`SolverVoltageModel`) as the voltage
model. `jaxbatt.calibrate` is the same function.
"""

from ._calibrate import calibrate as calibrate
from ._calibrate import CalibrationResult as CalibrationResult
from ._calibrate import ConvergenceWarning as ConvergenceWarning
from ._calibrate import SamplerSettings as SamplerSettings
from ._checks import MisfitCheck as MisfitCheck
from ._checks import MisfitWarning as MisfitWarning
from ._calibrate import DEFAULT_CHAIN_METHOD as DEFAULT_CHAIN_METHOD
from ._calibrate import PredictiveBand as PredictiveBand
from ._calibrate import resolve_voltage_model as resolve_voltage_model
from ._data import check_curve as check_curve
from ._data import Curve as Curve
from ._data import example_path as example_path
from ._data import ExampleCurve as ExampleCurve
from ._data import load_curve_csv as load_curve_csv
from ._data import load_example as load_example
from ._data import load_measured as load_measured
from ._data import read_curve_csv as read_curve_csv
from ._data import VOLTAGE_RANGE as VOLTAGE_RANGE
from ._model import calibration_model as calibration_model
from ._plots import plot_pairs as plot_pairs
from ._plots import plot_predictive as plot_predictive
from ._plots import plot_traces as plot_traces
from ._solver_model import SolverVoltageModel as SolverVoltageModel
