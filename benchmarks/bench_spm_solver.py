"""SPM solver: jaxbatt (Diffrax) against PyBaMM (IDAKLU) at PyBaMM's defaults and at equal
accuracy, side by side in one run (issue 14).

Every configuration, of either code, is scored by its max |dV| against one fine reference
(PyBaMM's SPM with 400 shells, rtol 1e-10) over a few parameter sets including the box's
corners, and timed on one solve after compile and on a batch (jaxbatt: one vmapped call;
PyBaMM: sequential solves of a model built once with the parameters as inputs, which is how a
PyBaMM user would run many sets). Ratios are PyBaMM time / jaxbatt time (> 1: jaxbatt faster).

    python benchmarks/bench_spm_solver.py [--batch 1000] [--pybamm-sequential 100]
"""

import argparse
import datetime

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from _anchors import THETA0, compare
from _common import machine, once, timed

import jaxbatt  # noqa: F401
from jaxbatt._simulate import make_solver
from jaxbatt.solvers import SPM_REFERENCE_SETTINGS as REFERENCE_SETTINGS
from jaxbatt.reference import PybammSolver

T = np.linspace(10.0, 1350.0, 100)  # the calibration grid: 100 points
T_EARLY = np.geomspace(0.25, 10.0, 12)  # the sqrt(t) transient, scored separately
# accuracy sets: the timed point, the four corners of the (k_i0, k_Ds) box, the centre
ACCURACY_SETS = np.array([[1.7, 6.3], [0.5, 1.0], [4.0, 1.0], [0.5, 10.0], [4.0, 10.0], [2.25, 5.5]])

# PyBaMM's defaults first (its SPM's default mesh is 20 shells per particle; IDAKLUSolver()
# has rtol 1e-4, atol 1e-6), then settings tighter than its defaults
PYBAMM = [
    ("PyBaMM defaults (20 shells, rtol 1e-4, atol 1e-6)", dict(n_r=20, rtol=1e-4, atol=1e-6)),
    ("PyBaMM 30 shells, rtol 1e-6, atol 1e-8", dict(n_r=30, rtol=1e-6, atol=1e-8)),
    ("PyBaMM 60 shells, rtol 1e-6, atol 1e-8", dict(n_r=60, rtol=1e-6, atol=1e-8)),
    ("PyBaMM 100 shells, rtol 1e-8, atol 1e-10", dict(n_r=100, rtol=1e-8, atol=1e-10)),
]
# jaxbatt's defaults first
PREVIOUS = {"n_r_anode": 15, "n_r_cathode": 15, "radial_refinement": 1.0, "structured_solve": False}
JAXBATT = [
    ("jaxbatt defaults (18 refined shells, Kvaerno3, rtol 1e-4, atol 1e-6, structured solve)", {}),
    ("jaxbatt 12 refined shells, structured solve", {"n_r_anode": 12, "n_r_cathode": 12}),
    ("jaxbatt 18 refined shells, dense solve", {"structured_solve": False}),
    ("jaxbatt previous defaults (15 uniform shells, dense solve)", PREVIOUS),
    ("jaxbatt REFERENCE_SETTINGS (30 uniform shells, Kvaerno4, rtol 1e-6, atol 1e-8)", REFERENCE_SETTINGS),
]  # fmt: skip


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--pybamm-sequential", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--skip-likelihood", action="store_true")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    space = make_solver("spm").space
    thetas = space.from_unit(rng.uniform(size=(args.batch, len(space))))
    print(f"# SPM solver benchmark, {datetime.date.today()}\n# machine: {machine()}")
    print(
        "# 2C discharge, 100 output times in [10, 1350] s (early: 12 in [0.25, 10] s); single "
        f"solves at (k_i0, k_Ds) = {THETA0}; accuracy over {len(ACCURACY_SETS)} sets against "
        "PyBaMM's SPM with 400 shells, rtol 1e-10"
    )
    fine = PybammSolver("spm", c_rate=2.0, n_r=400, rtol=1e-10, atol=1e-12)
    compare("spm", fine, ACCURACY_SETS, thetas, PYBAMM, JAXBATT, args, t=T, t_early=T_EARLY, floor_mV=0.3)
    if not args.skip_likelihood:
        likelihood_gradients()


def likelihood_gradients():
    """The exact-solver likelihood's cost: value and gradient of a Gaussian log-likelihood of
    100 points through `SolverVoltageModel` (forward-mode Jacobian, what NUTS with
    ``likelihood="solver"`` calls once per leapfrog step), at the defaults and at the previous
    defaults (15 uniform shells, dense Newton solve)."""
    from jaxbatt.inference import SolverVoltageModel  # noqa: PLC0415

    print("\n## exact-solver likelihood value + gradient (100 points, one parameter set)")
    times = {}
    for label, options in [("defaults", {}), ("previous defaults (15 uniform shells, dense solve)", PREVIOUS)]:
        model = SolverVoltageModel("spm", **options)
        v_obs = model.voltage_vector(jnp.array([2.0, 2.0]), jnp.asarray(T))

        def log_likelihood(th, model=model, v_obs=v_obs):
            return -0.5 * jnp.sum(((model.voltage_vector(th, jnp.asarray(T)) - v_obs) / 3e-3) ** 2)

        grad = eqx.filter_jit(jax.value_and_grad(log_likelihood))
        theta = jnp.array([1.7, 6.3])
        compile_s, _ = once(lambda g=grad: jax.block_until_ready(g(theta)))
        times[label] = timed(lambda g=grad: jax.block_until_ready(g(theta)), repeats=10)
        print(f"{label}: {times[label] * 1e3:.2f} ms per value+gradient (compile {compile_s:.1f} s)")
    (_, new), (_, old) = times.items()
    print(f"ratio previous / defaults: {old / new:.1f}x (a NUTS iteration is a fixed number of these)")


if __name__ == "__main__":
    main()
