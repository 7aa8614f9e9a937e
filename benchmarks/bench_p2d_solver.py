"""P2D solver: jaxbatt (Diffrax) against PyBaMM's DFN (IDAKLU) at PyBaMM's defaults and at
equal accuracy, side by side in one run (issue 14).

Every configuration, of either code, is scored by its max |dV| against one fine reference
(PyBaMM's DFN with 40 cells per domain in x, 40 shells, rtol 1e-8; SPEC's electrolyte source,
the model jaxbatt solves) over a few parameter sets including the box's corners, and timed on
one solve after compile and on a batch (jaxbatt: one vmapped call; PyBaMM: sequential solves of
a model built once with the parameters as inputs). Ratios are PyBaMM-default time / this time.

    python benchmarks/bench_p2d_solver.py [--batch 100] [--pybamm-sequential 20] [--only 0,3]
"""

import argparse
import datetime

import numpy as np
from _anchors import THETA0, compare
from _common import machine

import jaxbatt  # noqa: F401
from jaxbatt._simulate import make_solver
from jaxbatt.solvers import P2D_FAST_SETTINGS
from jaxbatt.reference import PybammSolver

T = np.linspace(10.0, 1350.0, 100)  # the calibration grid: 100 points
T_EARLY = np.geomspace(0.25, 10.0, 12)
ACCURACY_SETS = np.array([[1.7, 6.3], [0.5, 1.0], [4.0, 1.0], [0.5, 10.0], [4.0, 10.0]])

# PyBaMM's DFN defaults first (20 cells per domain in x, 20 shells; IDAKLUSolver() rtol 1e-4,
# atol 1e-6)
PYBAMM = [
    ("PyBaMM defaults (20/20/20 x, 20 shells, rtol 1e-4, atol 1e-6)", dict(n_x=20, n_r=20, rtol=1e-4, atol=1e-6)),
    ("PyBaMM 10/10/10 x, 10 shells, rtol 1e-4, atol 1e-6", dict(n_x=10, n_r=10, rtol=1e-4, atol=1e-6)),
    ("PyBaMM 30/30/30 x, 30 shells, rtol 1e-6, atol 1e-8", dict(n_x=30, n_r=30, rtol=1e-6, atol=1e-8)),
]
MESH = lambda a, s, c, r: dict(n_x_anode=a, n_x_separator=s, n_x_cathode=c, n_r_anode=r, n_r_cathode=r)  # noqa: E731
JAXBATT = [
    ("jaxbatt defaults (10/5/10 x, 10 refined shells, Kvaerno3, rtol 1e-4, atol 1e-6)", {}),
    ("jaxbatt previous defaults (10/5/10 x, 10 uniform shells)", dict(radial_refinement=1.0)),
    ("jaxbatt 8/4/8 x, 6 refined shells, rtol 1e-3, atol 1e-5", dict(MESH(8, 4, 8, 6), rtol=1e-3, atol=1e-5)),
    ("jaxbatt 6/3/6 x, 6 refined shells, rtol 1e-3, atol 1e-5", dict(MESH(6, 3, 6, 6), rtol=1e-3, atol=1e-5)),
    ("jaxbatt 8/4/8 x, 8 uniform shells, rtol 1e-3, atol 1e-5", dict(MESH(8, 4, 8, 8), radial_refinement=1.0, rtol=1e-3, atol=1e-5)),
    ("jaxbatt 6/3/6 x, 5 refined shells, rtol 1e-3, atol 1e-5", dict(MESH(6, 3, 6, 5), rtol=1e-3, atol=1e-5)),
    ("jaxbatt 6/3/6 x, 6 refined shells, rtol 2e-3, atol 2e-5 (P2D_FAST_SETTINGS)", P2D_FAST_SETTINGS),
]  # fmt: skip


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--pybamm-sequential", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--only", default=None,
                        help="comma-separated indices of the jaxbatt rows to run (PyBaMM's always run)")
    args = parser.parse_args()
    rows = JAXBATT if args.only is None else [JAXBATT[int(i)] for i in args.only.split(",")]
    rng = np.random.default_rng(0)
    space = make_solver("p2d").space
    thetas = space.from_unit(rng.uniform(size=(args.batch, len(space))))
    print(f"# P2D solver benchmark, {datetime.date.today()}\n# machine: {machine()}")
    print(
        "# 2C discharge, 100 output times in [10, 1350] s (early: 12 in [0.25, 10] s); single "
        f"solves at (k_i0, k_Ds) = {THETA0}; accuracy over {len(ACCURACY_SETS)} sets against "
        "PyBaMM's DFN with 40/40/40 x, 40 shells, rtol 1e-8"
    )
    fine = PybammSolver("dfn", c_rate=2.0, n_x=40, n_r=40, rtol=1e-8, atol=1e-10)
    compare("dfn", fine, ACCURACY_SETS, thetas, PYBAMM, rows, args, t=T, t_early=T_EARLY, floor_mV=1.0)


if __name__ == "__main__":
    main()
