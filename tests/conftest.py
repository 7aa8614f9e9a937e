import os

os.environ.setdefault("PYBAMM_DISABLE_TELEMETRY", "true")
os.environ.setdefault("MPLBACKEND", "Agg")
# the suite runs in two pytest-xdist workers: on a GPU they must not each grab most of its memory
os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")

import warnings  # noqa: E402

# ArviZ writes a once-a-day stamp file when first imported on a day; two xdist workers importing
# it at once on a fresh machine (CI) race on that file and one fails to collect. The controller
# loads this conftest before the workers start, so importing it here writes the stamp first.
with warnings.catch_warnings():
    warnings.simplefilter("ignore", FutureWarning)
    import arviz  # noqa: E402,F401

import jax  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import jaxbatt  # noqa: E402,F401  (enables float64)


@pytest.fixture(scope="session")
def cell():
    return jaxbatt.cells.nrel_cell()


@pytest.fixture(scope="session")
def space():
    return jaxbatt.cells.nrel_parameter_space()


@pytest.fixture(scope="session")
def times():
    return np.linspace(0.0, 1350.0, 136)
