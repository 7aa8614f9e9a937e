"""Calibrate PyBaMM's Ai2020 cell to the measured Enertech discharges with an exact solver.

Three parameters of the converted cell (`jaxbatt.cells.from_pybamm("Ai2020")`): the anode
exchange-current scaling ``k_i0``, the cathode solid-diffusivity scaling ``k_Ds`` and the
cathode active-material volume fraction ``eps_c`` (the cell's capacity), uniform priors; the
likelihood is the numerical P2D (coarse mesh, see `P2D_OPTIONS`; ``--model spm``: the
numerical SPM at its default mesh, about 20x cheaper per solve) with a smooth model
discrepancy (``surrogate_error="correlated"``: Legendre terms in time, prior std
`--discrepancy-mV` per coefficient) and inferred white noise. Data: every measured point
above `--min-voltage` (the end-of-discharge knee, where an isothermal model's timing error
dominates, is left out). ``--curves 0.5C`` fits the 0.5C discharge alone; ``--curves all``
fits 0.5C, 1C and 2C jointly (shared parameters, each curve its own noise and discrepancy).
Writes the result folder (summary, samples, plots) and prints the posterior table, the
residual RMS of the posterior median with and without the discrepancy, and the discrepancy's
size.

    python scripts/calibrate_enertech.py --curves 0.5C --out enertech_0.5C
    python scripts/calibrate_enertech.py --curves all --out enertech_joint
    python scripts/calibrate_enertech.py --model spm --curves all --out enertech_spm

The README's runs name their sampler settings (the P2D's 0.5C run: ``--warmup 150 --samples 150
--max-tree-depth 5 --k-i0-max 10``, about 90 min on a 2-core CPU).
"""

import argparse
import json
import os
import time

os.environ.setdefault("PYBAMM_DISABLE_TELEMETRY", "true")

import numpy as np  # noqa: E402

import jaxbatt  # noqa: E402
from jaxbatt.cells import Parameter, ParameterSpace, from_pybamm  # noqa: E402
from jaxbatt.inference import Curve, SolverVoltageModel, load_measured  # noqa: E402
from jaxbatt.solvers import P2D_CALIBRATION_SETTINGS  # noqa: E402

# 6/3/6 cells, 6 surface-refined shells on a fixed sequence of 60 steps: a likelihood smooth in
# the parameters (adaptive steps made it scatter by 0.19 nats along k_i0 and froze NUTS); on the
# 0.5C curve 0.77 mV from the same mesh at rtol 1e-8, value and gradient 1.5x the adaptive
# coarse setting's (benchmarks/bench_p2d_smoothness.py, 2026-12-07)
P2D_OPTIONS = P2D_CALIBRATION_SETTINGS


def enertech_space(cell, k_i0_max=5.0):
    eps = cell.cathode.active_volume_fraction
    return ParameterSpace((
        Parameter("k_i0", 0.2, k_i0_max, "anode.exchange_current_scale",
                  description="anode exchange-current density scaling"),
        Parameter("k_Ds", 0.2, 5.0, "cathode.diffusivity_scale",
                  description="cathode solid diffusivity scaling"),
        Parameter("eps_c", 0.9 * eps, 1.02 * eps, "cathode.active_volume_fraction", default=eps,
                  description="cathode active-material volume fraction"),
    ))  # fmt: skip


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--curves", choices=("0.5C", "all"), default="0.5C")
    parser.add_argument("--model", choices=("p2d", "spm"), default="p2d",
                        help="the exact solver in the likelihood (default: the coarse P2D)")
    parser.add_argument("--out", required=True, help="result folder")
    parser.add_argument("--min-voltage", type=float, default=3.3)
    parser.add_argument("--discrepancy-mV", type=float, default=20.0)
    parser.add_argument("--k-i0-max", type=float, default=5.0,
                        help="upper bound of k_i0's uniform prior (default 5; the P2D's 0.5C "
                        "posterior presses against 5)")
    parser.add_argument("--chains", type=int, default=4)
    parser.add_argument("--warmup", type=int, default=300)
    parser.add_argument("--samples", type=int, default=300)
    parser.add_argument("--max-tree-depth", type=int, default=6,
                        help="NUTS tree depth limit (each leapfrog step is a solve with its "
                        "forward-mode Jacobian: 0.18-0.35 s for the P2D's 0.5C curve on a "
                        "2-core CPU, benchmarks/bench_p2d_smoothness.py)")
    args = parser.parse_args()

    cell = from_pybamm("Ai2020")
    space = enertech_space(cell, args.k_i0_max)
    measured = load_measured("enertech")
    if args.curves == "0.5C":
        measured = measured[:1]
    curves, models = [], []
    for c in measured:
        keep = c.v >= args.min_voltage
        curves.append(Curve(c.t[keep], c.v[keep], c_rate=c.c_rate, label=c.label))
        options = P2D_OPTIONS if args.model == "p2d" else {}
        models.append(SolverVoltageModel(args.model, c_rate=c.c_rate, cell=cell, space=space,
                                         t_max=1.05 * float(c.t[-1]), **options))  # fmt: skip
    start = time.perf_counter()
    result = jaxbatt.calibrate(
        curves, voltage_model=models if len(models) > 1 else models[0], joint=len(models) > 1,
        surrogate_error="correlated", discrepancy_prior_mV=args.discrepancy_mV,
        num_chains=args.chains, num_warmup=args.warmup, num_samples=args.samples,
        max_tree_depth=args.max_tree_depth,
    )  # fmt: skip
    wall = time.perf_counter() - start
    print(result.table())
    report = {"model": args.model, "wall_time_s": round(wall, 1), "k_i0_max": args.k_i0_max,
              "curves": {}}
    median = {n: float(np.median(result.samples[n])) for n in space.names}
    theta = np.array([median[n] for n in space.names])
    for k, c in enumerate(curves):
        v_model = np.asarray(result.model_of(k).voltage_vector(theta, c.t))
        delta = np.median(result.discrepancy_at(c.t, k), axis=0)
        published = np.asarray(result.model_of(k).voltage_vector(
            np.array([1.0, 1.0, cell.cathode.active_volume_fraction]), c.t))  # fmt: skip
        rms = lambda r: float(1e3 * np.sqrt(np.nanmean(r**2)))  # noqa: E731
        report["curves"][c.label] = {
            "points": int(c.t.size),
            "rms_published_mV": rms(published - c.v),
            "rms_median_parameters_mV": rms(v_model - c.v),
            "rms_with_discrepancy_mV": rms(v_model + delta - c.v),
            "discrepancy_rms_mV": rms(delta),
            "discrepancy_max_mV": float(1e3 * np.max(np.abs(delta))),
            "sigma_median_mV": float(1e3 * np.median(result.sigma_samples(k))),
        }
    report["posterior_median"] = median
    print(json.dumps(report, indent=1))
    result.save(args.out)
    with open(os.path.join(args.out, "enertech_report.json"), "w", encoding="utf-8") as f:
        json.dump(report, f, indent=1)


if __name__ == "__main__":
    main()
