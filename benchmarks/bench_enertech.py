"""The measured Enertech discharges (`jaxbatt.inference.load_measured("enertech")`) against
PyBaMM's Ai2020 DFN at its published parameters (IDAKLU at its default settings) and against
jaxbatt's SPM and P2D of the converted set (`jaxbatt.cells.from_pybamm("Ai2020")`, default
meshes), at 0.5C, 1C and 2C: RMS and max residual [mV] over each curve while the model runs
(and above 3.3 V), and each model's end time against the measured one.

    python benchmarks/bench_enertech.py
"""

import os
import time
import warnings

os.environ.setdefault("PYBAMM_DISABLE_TELEMETRY", "true")

import numpy as np  # noqa: E402
import pybamm  # noqa: E402

import jaxbatt  # noqa: E402
from jaxbatt.cells import from_pybamm  # noqa: E402
from jaxbatt.inference import load_measured  # noqa: E402

KNEE_V = 3.3  # the window above the end-of-discharge knee


def pybamm_dfn(values, c_rate, t):
    values = values.copy()
    values["Current function [A]"] = c_rate * values["Nominal cell capacity [A.h]"]
    sim = pybamm.Simulation(pybamm.lithium_ion.DFN(), parameter_values=values,
                            solver=pybamm.IDAKLUSolver())  # fmt: skip
    sol = sim.solve([0.0, 1.2 * 3600.0 / c_rate])
    tp, vp = sol["Time [s]"].entries, sol["Voltage [V]"].entries
    return np.where(t <= tp[-1], np.interp(t, tp, vp), np.nan), float(tp[-1])


def scores(curve, v_model, t_end):
    ok = np.isfinite(v_model)
    r = (v_model - curve.v)[ok]
    above = (curve.v >= KNEE_V)[ok]
    return (f"RMS {1e3 * np.sqrt(np.mean(r**2)):6.2f} mV, max {1e3 * np.abs(r).max():6.1f} mV "
            f"(above {KNEE_V} V: RMS {1e3 * np.sqrt(np.mean(r[above]**2)):5.2f}, max "
            f"{1e3 * np.abs(r[above]).max():5.1f} mV), end {t_end:7.1f} s vs measured "
            f"{curve.t[-1]:7.1f} s")  # fmt: skip


def main():
    values = pybamm.ParameterValues("Ai2020")
    cell = from_pybamm("Ai2020")
    for curve in load_measured("enertech"):
        c = curve.c_rate
        start = time.perf_counter()
        v, t_end = pybamm_dfn(values, c, curve.t)
        print(f"{curve.label:>4} PyBaMM DFN (defaults): {scores(curve, v, t_end)} "
              f"[{time.perf_counter() - start:.1f} s]", flush=True)  # fmt: skip
        for model in ("spm", "p2d"):
            start = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", jaxbatt.DischargeEndedWarning)
                sol = jaxbatt.simulate(model, {}, t=curve.t, c_rate=c, cell=cell)
            print(f"{curve.label:>4} jaxbatt {model.upper():>3}:            "
                  f"{scores(curve, np.asarray(sol.voltage), float(sol.t_end))} "
                  f"[{time.perf_counter() - start:.1f} s]", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
