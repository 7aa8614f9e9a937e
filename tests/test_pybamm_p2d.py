"""Independent check of the P2D against PyBaMM's DFN (issue 3, item 5)."""

import numpy as np
import pytest

pytest.importorskip("pybamm")
from jaxbatt.reference import PybammSolver  # noqa: E402
from test_p2d_solver import BATCH_C_RATES, BATCH_THETAS, C_RATES, T, reference_batch  # noqa: E402

TOLERANCE_V = 2e-3


@pytest.mark.parametrize("c_rate", C_RATES)
def test_p2d_voltage_matches_pybamm_dfn(c_rate):
    """jaxbatt's default mesh (10/5/10 cells in x, 10 shells) against PyBaMM's DFN at its
    default mesh (30 cells per domain, 30 shells; IDAKLU, rtol 1e-8), SPEC's electrolyte."""
    reference = PybammSolver("dfn", c_rate=c_rate)
    _, batch = reference_batch()
    ours = np.asarray(batch.voltage)
    window = T >= 10.0
    worst = 0.0
    for b in np.flatnonzero(BATCH_C_RATES == c_rate):
        k_i0, k_ds = BATCH_THETAS[b]
        theirs = reference.solve(T, k_i0=k_i0, k_Ds=k_ds)
        worst = max(worst, float(np.max(np.abs(ours[b, window] - theirs[window]))))
    print(f"P2D {c_rate}C: max |dV| vs PyBaMM DFN over t >= 10 s = {worst * 1e3:.3f} mV")
    assert worst <= TOLERANCE_V
