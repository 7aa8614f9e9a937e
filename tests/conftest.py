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

import gc  # noqa: E402

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


# -- compiled programs and the process's memory maps ------------------------------------------
# Every program XLA compiles for the CPU maps its code and data into the process (hundreds of
# memory maps for a solver), and JAX keeps compiled programs for the life of the functions
# that made them. One worker of the suite compiles thousands of programs; near Linux's limit
# on memory maps per process (vm.max_map_count, 65530 by default) an XLA compilation fails
# inside LLVM with a segmentation fault (a suite worker crashed this way in
# backend_compile_and_load, in a different test each time, never when that test ran alone).
# After each test module, when the maps pass 40 % of the limit (the heaviest module,
# test_p2d_solver, adds about 21,500), the compiled programs are released
# (`jax.clear_caches`); later modules compile what they need again.


def _count_lines(path):
    try:
        with open(path, "rb") as f:
            return sum(1 for _ in f)
    except OSError:  # not Linux
        return None


def _map_limit():
    try:
        with open("/proc/sys/vm/max_map_count") as f:
            return int(f.read())
    except (OSError, ValueError):
        return None


MAP_LIMIT = _map_limit()


@pytest.fixture(scope="module", autouse=True)
def _release_compiled_programs_near_the_map_limit(request):
    yield
    maps = _count_lines("/proc/self/maps")
    log = os.environ.get("JAXBATT_TEST_MAPS_LOG")
    if log:
        with open(log, "a") as f:
            f.write(f"{os.getpid()} {request.module.__name__} maps {maps}\n")
    if maps is not None and MAP_LIMIT is not None and maps > 0.4 * MAP_LIMIT:
        jax.clear_caches()
        gc.collect()
        if log:
            with open(log, "a") as f:
                f.write(f"{os.getpid()} cleared: maps {_count_lines('/proc/self/maps')}\n")
