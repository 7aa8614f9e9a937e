"""Experiment design (issue 13, item 4): does the designed test identify k_i0 better than the
2C discharge of the same length, by actual calibration?

1. `jaxbatt.design.optimise` designs a pulse train over 1350 s (<= 5C discharge, rests, the
   cell's 3.0-4.2 V window), averaged over design points spread over the middle of the box
   (not at the truth: a user designs before knowing it).
2. For each true parameter set and noise seed, a synthetic curve under the designed protocol
   and one under the 2C discharge (the SPM solver, 100 points over the test, 3 mV Gaussian
   noise) are each calibrated with the exact-solver likelihood (`SolverVoltageModel`, NUTS,
   noise inferred); the posterior sds are compared with each other and with the expected
   sds of the Fisher information.

    python benchmarks/bench_design.py            # about 30 min on a 2-core CPU
    python benchmarks/bench_design.py --quick    # one truth, one seed, short chains
"""

import argparse
import datetime
import json
import time
import warnings

import numpy as np
from _common import machine, table

from jaxbatt import design, simulate
from jaxbatt.inference import ConvergenceWarning, SolverVoltageModel, calibrate

NOISE = 3e-3  # V
DESIGN_POINTS = [
    {"k_i0": a, "k_Ds": b} for a in (1.5, 3.0) for b in (1.5, 3.0)
] + [{"k_i0": 2.0, "k_Ds": 2.0}]
TRUTHS = [{"k_i0": 2.0, "k_Ds": 2.0}, {"k_i0": 1.2, "k_Ds": 4.0}, {"k_i0": 3.2, "k_Ds": 1.6}]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--steps", type=int, default=100, help="Optax iterations")
    parser.add_argument("--out", default="benchmarks/design", help="design result folder")
    parser.add_argument("--json", default=None, help="write the rows here")
    parser.add_argument("--design-only", action="store_true", help="stop after the design")
    parser.add_argument("--seeds", type=int, default=1, help="noise seeds per truth")
    parser.add_argument("--chains", type=int, default=2)
    parser.add_argument("--warmup", type=int, default=300)
    parser.add_argument("--samples", type=int, default=300)
    args = parser.parse_args()
    truths = TRUTHS[:1] if args.quick else TRUTHS
    seeds = tuple(range(1 if args.quick else args.seeds))
    chains, warmup, samples = (1, 150, 200) if args.quick else (args.chains, args.warmup,
                                                                 args.samples)  # fmt: skip

    start = time.perf_counter()
    result = design.optimise(at=DESIGN_POINTS, steps=args.steps, sigma=NOISE)
    design_time = time.perf_counter() - start
    print(result.summary())
    print(f"design: {design_time:.0f} s, compile included")
    result.save(args.out, k=len(DESIGN_POINTS) - 1)  # the figure at (2, 2)
    if args.design_only:
        return
    t = result.designed[0].t
    protocol = result.protocol
    models = {
        "2C": SolverVoltageModel(c_rate=2.0, t_max=float(t[-1])),
        "designed": SolverVoltageModel(protocol=protocol),
    }
    rows, records = [], []
    for truth in truths:
        expected = {
            "2C": design.fisher_information(c_rate=2.0, at=truth, t=t, sigma=NOISE).sd,
            "designed": design.fisher_information(protocol, at=truth, t=t, sigma=NOISE).sd,
        }
        for seed in seeds:
            sd = {}
            for name, model in models.items():
                kwargs = dict(protocol=protocol) if name == "designed" else dict(c_rate=2.0)
                clean = np.asarray(simulate("spm", truth, t=t, **kwargs).voltage)
                rng = np.random.default_rng(1000 + seed)
                v = clean + NOISE * rng.standard_normal(t.size)
                tic = time.perf_counter()
                with warnings.catch_warnings(record=True) as caught:
                    warnings.simplefilter("always", ConvergenceWarning)
                    fit = calibrate(t, v, voltage_model=model, likelihood="solver",
                                    num_chains=chains, num_warmup=warmup, num_samples=samples,
                                    seed=seed, progress_bar=False)  # fmt: skip
                wall = time.perf_counter() - tic
                s = fit.samples
                sd[name] = {k: float(np.std(s[k])) for k in ("k_i0", "k_Ds")}
                rec = dict(truth=truth, seed=seed, protocol=name, wall_s=wall,
                           mean={k: float(np.mean(s[k])) for k in ("k_i0", "k_Ds")},
                           sd=sd[name], expected_sd=expected[name],
                           sigma_mV=float(1e3 * np.mean(s["sigma"])),
                           warnings=[str(w.message) for w in caught])  # fmt: skip
                records.append(rec)
                print(json.dumps(rec), flush=True)
            rows.append([
                f"({truth['k_i0']:g}, {truth['k_Ds']:g})", seed,
                f"{sd['2C']['k_i0']:.3f} ({expected['2C']['k_i0']:.3f})",
                f"{sd['designed']['k_i0']:.3f} ({expected['designed']['k_i0']:.3f})",
                f"{sd['2C']['k_i0'] / sd['designed']['k_i0']:.2f}x",
                f"{sd['2C']['k_Ds']:.3f} ({expected['2C']['k_Ds']:.3f})",
                f"{sd['designed']['k_Ds']:.4f} ({expected['designed']['k_Ds']:.4f})",
                f"{sd['2C']['k_Ds'] / sd['designed']['k_Ds']:.1f}x",
            ])  # fmt: skip
    print()
    print(f"# Experiment design, {datetime.date.today()}, {machine()}")
    print(f"design {design_time:.0f} s ({args.steps} Adam steps, {len(DESIGN_POINTS)} design "
          f"points); NUTS {chains} x ({warmup} + {samples}), exact SPM likelihood, noise "
          "inferred; posterior sd (expected sd from the Fisher information)")  # fmt: skip
    print(table(rows, ["truth", "seed", "k_i0 sd 2C", "k_i0 sd designed", "gain",
                       "k_Ds sd 2C", "k_Ds sd designed", "gain"]))  # fmt: skip
    if args.json:
        with open(args.json, "w") as f:
            json.dump(dict(design=result.to_dict(), calibrations=records), f, indent=1)


if __name__ == "__main__":
    main()
