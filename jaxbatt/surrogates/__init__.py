"""PINN surrogates: Equinox networks, physics-residual losses, Optax training, hierarchy."""

from ._checkpoint import load_checkpoint as load_checkpoint
from ._checkpoint import save_checkpoint as save_checkpoint
from ._data import SolverData as SolverData
from ._data import solver_data as solver_data
from ._data import voltage_errors_mV as voltage_errors_mV
from ._losses import REFERENCE_WEIGHTS as REFERENCE_WEIGHTS
from ._losses import LossConfig as LossConfig
from ._losses import loss_terms as loss_terms
from ._losses import physics_terms as physics_terms
from ._networks import MergedNetwork as MergedNetwork
from ._networks import ModifiedMLP as ModifiedMLP
from ._networks import NetworkConfig as NetworkConfig
from ._networks import SeparableNetwork as SeparableNetwork
from ._networks import SplitNetwork as SplitNetwork
from ._surrogate import SPMSurrogate as SPMSurrogate
from ._surrogate import add_level as add_level
from ._surrogate import build_surrogate as build_surrogate
from ._surrogate import spm_surrogate as spm_surrogate
from ._training import TrainConfig as TrainConfig
from ._training import TrainResult as TrainResult
from ._training import load_surrogate_file as load_surrogate_file
from ._training import save_surrogate as save_surrogate
from ._training import train as train
from ._hierarchy import level_path as level_path
from ._hierarchy import train_hierarchy as train_hierarchy
from ._training import make_data as make_data
