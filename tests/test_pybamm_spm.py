"""Independent check of the SPM against PyBaMM (issue 2, item 7)."""

import numpy as np
import pytest

import jaxbatt

pytest.importorskip("pybamm")
from jaxbatt.reference import PybammSolver  # noqa: E402

POINTS = [(0.5, 1.0), (1.7, 6.3), (4.0, 10.0), (2.0, 2.0)]
T = np.linspace(0.0, 1350.0, 136)
TOLERANCE_V = 0.5e-3


@pytest.mark.parametrize("kinetics", ["butler_volmer", "linear"])
@pytest.mark.parametrize("c_rate", [1.0, 2.0])
def test_spm_voltage_matches_pybamm(kinetics, c_rate):
    reference = PybammSolver("spm", c_rate=c_rate, kinetics=kinetics)
    k_i0, k_ds = np.array(POINTS).T
    ours = np.asarray(
        jaxbatt.simulate("spm", {"k_i0": k_i0, "k_Ds": k_ds}, t=T, c_rate=c_rate, kinetics=kinetics).voltage
    )
    window = T >= 10.0
    worst = 0.0
    for b, (a, d) in enumerate(POINTS):
        theirs = reference.solve(T, k_i0=a, k_Ds=d)
        worst = max(worst, float(np.max(np.abs(ours[b, window] - theirs[window]))))
    print(f"SPM {kinetics} {c_rate}C: max |dV| vs PyBaMM over t >= 10 s = {worst * 1e3:.4f} mV")
    assert worst <= TOLERANCE_V
