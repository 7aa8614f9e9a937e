"""jaxbatt: differentiable Li-ion battery physics, PINN surrogates and Bayesian calibration in JAX.

Importing jaxbatt enables float64 in JAX (``jax_enable_x64``): the physics needs it.
"""

import jax

jax.config.update("jax_enable_x64", True)

from . import cells as cells  # noqa: E402
from . import design as design  # noqa: E402
from . import inference as inference  # noqa: E402
from . import physics as physics  # noqa: E402
from . import solvers as solvers  # noqa: E402
from . import surrogates as surrogates  # noqa: E402
from ._errors import CheckpointError as CheckpointError  # noqa: E402
from ._errors import DischargeEndedWarning as DischargeEndedWarning  # noqa: E402
from ._errors import InputError as InputError  # noqa: E402
from ._errors import JaxbattError as JaxbattError  # noqa: E402
from ._errors import ParameterError as ParameterError  # noqa: E402
from ._errors import SolverError as SolverError  # noqa: E402
from ._load import load_surrogate as load_surrogate  # noqa: E402
from .protocols import Protocol as Protocol  # noqa: E402
from .protocols import Step as Step  # noqa: E402
from .inference import calibrate as calibrate  # noqa: E402
from .inference import Curve as Curve  # noqa: E402
from .inference import SamplerSettings as SamplerSettings  # noqa: E402
from .inference import MisfitWarning as MisfitWarning  # noqa: E402
from ._simulate import simulate as simulate  # noqa: E402

__version__ = "0.1.0"
