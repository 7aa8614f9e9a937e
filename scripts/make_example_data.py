"""Make a bundled calibration example: a noisy 2C discharge of the numerical SPM or P2D.

Writes ``jaxbatt/data/examples/<model>_2c_example.csv`` (header ``time_s,voltage_V``; s, V)
and ``<model>_2c_example.json`` (the truth, the noise and how the data were made). The truth
follows Hassanaly et al. Part II's calibration study: k_i0 = 2, k_Ds = 2, 100 times from 10 s
to 1350 s, Gaussian noise of 3 mV. The SPM's comes from its reference settings (30 shells,
Kvaerno4, rtol 1e-6); the P2D's from the P2D solver's defaults (10/5/10 cells, 10 shells,
Kvaerno3, rtol 1e-4: the exact likelihood ``likelihood="solver"`` uses).

    python scripts/make_example_data.py [--model spm|p2d] [--out-dir jaxbatt/data/examples]
"""

import argparse
import json
import os

import numpy as np

import jaxbatt
from jaxbatt.solvers import SPM_REFERENCE_SETTINGS as REFERENCE_SETTINGS

TRUTH = {"k_i0": 2.0, "k_Ds": 2.0}
NOISE_STD = 3e-3  # V
SEEDS = {"spm": 20240517, "p2d": 20261203}
SOLVERS = {
    "spm": "jaxbatt.simulate with jaxbatt.solvers.SPM_REFERENCE_SETTINGS (30 shells per "
    "particle, Kvaerno4, rtol 1e-6, atol 1e-8)",
    "p2d": "jaxbatt.simulate(model='p2d') with the defaults of 2026-12-03 (10/5/10 cells in x, 10 "
    "uniform shells per particle (radial_refinement=1.0), Kvaerno3, rtol 1e-4, atol 1e-6)",
}
C_RATE = 2.0
TIMES = np.linspace(10.0, 1350.0, 100)  # s


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default = os.path.join(os.path.dirname(jaxbatt.__file__), "data", "examples")
    parser.add_argument("--out-dir", default=default)
    parser.add_argument("--model", choices=("spm", "p2d"), default="spm")
    args = parser.parse_args()
    os.makedirs(args.out_dir, exist_ok=True)
    model, name = args.model, f"{args.model}_2c_example"

    # the P2D example was made on uniform shells, the P2D's default until 2026-12-07
    settings = REFERENCE_SETTINGS if model == "spm" else {"radial_refinement": 1.0}
    sol = jaxbatt.simulate(model, TRUTH, t=TIMES, c_rate=C_RATE, kinetics="butler_volmer", **settings)
    clean = np.asarray(sol.voltage)
    noisy = clean + NOISE_STD * np.random.default_rng(SEEDS[model]).standard_normal(TIMES.size)

    csv = os.path.join(args.out_dir, f"{name}.csv")
    np.savetxt(csv, np.column_stack([TIMES, noisy]), delimiter=",", header="time_s,voltage_V",
               comments="", fmt="%.10g")  # fmt: skip
    meta = {
        "description": f"Synthetic 2C discharge of the nrel cell by jaxbatt's numerical "
        f"{model.upper()} (Butler-Volmer kinetics) at the stated truth, with Gaussian noise added.",
        "model": model,
        "kinetics": "butler_volmer",
        "c_rate": C_RATE,
        "truth": TRUTH,
        "noise_std_V": NOISE_STD,
        "seed": SEEDS[model],
        "num_points": int(TIMES.size),
        "t_first_s": float(TIMES[0]),
        "t_last_s": float(TIMES[-1]),
        "solver": SOLVERS[model],
        "generator": "scripts/make_example_data.py",
        "jaxbatt_version": jaxbatt.__version__,
        "reference": "Hassanaly et al., PINN surrogate of Li-ion battery models for parameter "
        "inference, Part II (arXiv 2312.17336): the same truth, grid and noise level.",
    }
    with open(os.path.join(args.out_dir, f"{name}.json"), "w", encoding="utf-8") as f:
        json.dump(meta, f, indent=2)
        f.write("\n")
    residual = noisy - clean
    print(f"wrote {csv}: {TIMES.size} points, V from {noisy[0]:.4f} to {noisy[-1]:.4f} V, "
          f"noise std {residual.std() * 1e3:.2f} mV (target {NOISE_STD * 1e3:g} mV)")  # fmt: skip


if __name__ == "__main__":
    main()
