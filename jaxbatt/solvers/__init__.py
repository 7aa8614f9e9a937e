"""Numerical solvers (method of lines with Diffrax): the reference the surrogates are judged by."""

from ._p2d import CALIBRATION_SETTINGS as P2D_CALIBRATION_SETTINGS
from ._p2d import FAST_SETTINGS as P2D_FAST_SETTINGS
from ._p2d import P2DSolver as P2DSolver
from ._solution import Solution as Solution
from ._solution import Termination as Termination
from ._spm import SPMSolver as SPMSolver
from ._spm import REFERENCE_SETTINGS as SPM_REFERENCE_SETTINGS
