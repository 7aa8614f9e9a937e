"""Cells and parameter spaces: data, no code paths."""

from ._cell import Cell as Cell
from ._cell import Electrode as Electrode
from ._cell import Electrolyte as Electrolyte
from ._cell import Separator as Separator
from ._nrel import nrel_cell as nrel_cell
from ._parameter_space import Parameter as Parameter
from ._parameter_space import ParameterSpace as ParameterSpace
from ._parameter_space import nrel_parameter_space as nrel_parameter_space
from ._pybamm import from_bpx as from_bpx
from ._pybamm import from_pybamm as from_pybamm
