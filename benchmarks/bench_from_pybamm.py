"""PyBaMM parameter sets converted by `jaxbatt.cells.from_pybamm`: jaxbatt's SPM (or P2D) of
the converted cell against PyBaMM's SPM (or DFN) of the same set (IDAKLU rtol 1e-9 unless
--reference-rtol; 200 shells, 40 cells per domain for the DFN), discharges at the given C-rates
down to the set's cut-off; max |dV| overall and from t = 10 s, and each side's end time.

    python benchmarks/bench_from_pybamm.py Chen2020 0.5,1,2
    python benchmarks/bench_from_pybamm.py Ai2020 0.5,1,2 --model p2d [--pybamm-default]
    python benchmarks/bench_from_pybamm.py Ecker2015 0.5,1,2 --model p2d --reference-rtol 1e-8
    python benchmarks/bench_from_pybamm.py jaxbatt/data/bpx/nmc_pouch_cell_BPX.json 0.5,1,2
    python benchmarks/bench_from_pybamm.py Mohtat2020 0.5,1,2 --initial-soc 1
    python benchmarks/bench_from_pybamm.py Chen2020 0.5,1,2 "dict(n_r_anode=60, n_r_cathode=60, rtol=1e-7, atol=1e-9)"
"""

import argparse
import ast
import os
import time
import warnings

os.environ.setdefault("PYBAMM_DISABLE_TELEMETRY", "true")

import numpy as np  # noqa: E402
import pybamm  # noqa: E402

import jaxbatt  # noqa: E402
from jaxbatt.cells import from_bpx, from_pybamm  # noqa: E402
from jaxbatt.reference import pybamm_set_discharge  # noqa: E402


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("name")
    parser.add_argument("rates")
    parser.add_argument("options", nargs="?", default="dict()",
                        help='jaxbatt solver options, e.g. "dict(n_r_anode=60, rtol=1e-7)"')
    parser.add_argument("--model", choices=("spm", "p2d"), default="spm")
    parser.add_argument("--reference-rtol", type=float, default=1e-9,
                        help="IDAKLU rtol of the fine reference (Ecker2015's DFN fails at 1e-9)")
    parser.add_argument("--pybamm-default", action="store_true",
                        help="also score PyBaMM's own model at its default mesh and solver")
    parser.add_argument("--initial-soc", type=float, default=None,
                        help="start both codes at this state of charge (PyBaMM's set_initial_state)")
    args = parser.parse_args()
    call = ast.parse(args.options, mode="eval").body
    options = {k.arg: ast.literal_eval(k.value) for k in call.keywords}
    if args.name.endswith(".json"):  # a BPX file
        base = pybamm.ParameterValues.create_from_bpx(args.name)
        cell = from_bpx(args.name)
    else:
        base = pybamm.ParameterValues(args.name)
        if args.initial_soc is not None:
            base.set_initial_state(args.initial_soc)
        cell = from_pybamm(base, name=args.name)  # the same values PyBaMM runs
    reference = "spm" if args.model == "spm" else "dfn"
    for c in [float(x) for x in args.rates.split(",")]:
        start = time.perf_counter()
        try:
            tp, vp = pybamm_set_discharge(base, c, model=reference, rtol=args.reference_rtol)
        except pybamm.SolverError as error:  # the fine reference itself (IDA) can fail
            print(f"{args.name} {args.model} {c}C: PyBaMM's fine {reference} reference failed: {error}",
                  flush=True)
            continue
        t_pybamm = time.perf_counter() - start
        t = tp[tp < tp[-1] - 1.0]
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            js = jaxbatt.simulate(args.model, {}, t=t, c_rate=c, cell=cell, **options)
        t_jaxbatt = time.perf_counter() - start
        vj = np.asarray(js.voltage)
        ok = np.isfinite(vj)
        d = np.abs(vj[ok] - np.interp(t[ok], tp, vp))
        late = t[ok] >= 10
        print(f"{args.name} {args.model} {c}C: pybamm {reference} end {tp[-1]:.1f} s, jaxbatt end "
              f"{float(js.t_end):.1f} s ({js.termination_reason()}), max|dV| {1e3 * d.max():.3f} mV, "
              f"t>=10 s {1e3 * d[late].max():.3f} mV, V0 {vj[0]:.4f}/{vp[0]:.4f} "
              f"[wall: pybamm fine {t_pybamm:.1f} s, jaxbatt {t_jaxbatt:.1f} s incl. compile]",
              flush=True)  # fmt: skip
        if args.pybamm_default:
            td, vd = _pybamm_default(base, c, reference)
            keep = (td >= 10.0) & (td < min(td[-1], tp[-1]) - 1.0)
            dd = np.abs(vd[keep] - np.interp(td[keep], tp, vp))
            print(f"{args.name} PyBaMM {reference} at its defaults {c}C: t>=10 s {1e3 * dd.max():.3f} mV "
                  "against the same fine reference", flush=True)


def _pybamm_default(base, c_rate, model):
    """(t, V) of PyBaMM's SPM or DFN of the set at PyBaMM's default mesh and solver."""
    values = base.copy()
    values["Current function [A]"] = c_rate * values["Nominal cell capacity [A.h]"]
    models = {"spm": pybamm.lithium_ion.SPM, "dfn": pybamm.lithium_ion.DFN}
    t_end = 1.3 * 3600.0 / c_rate
    sol = pybamm.Simulation(models[model](), parameter_values=values).solve(
        [0.0, t_end], t_interp=np.linspace(0.0, t_end, 4001)
    )
    return sol["Time [s]"].entries, sol["Voltage [V]"].entries


if __name__ == "__main__":
    main()
