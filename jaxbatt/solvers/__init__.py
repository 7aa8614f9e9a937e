"""Numerical solvers (method of lines with Diffrax): the reference the surrogates are judged by."""

from ._solution import Solution as Solution
from ._spm import SPMSolver as SPMSolver
