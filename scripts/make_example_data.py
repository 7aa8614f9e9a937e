"""Make the bundled calibration example: a noisy 2C discharge of the numerical SPM.

Writes ``jaxbatt/data/examples/spm_2c_example.csv`` (header ``time_s,voltage_V``; s, V) and
``spm_2c_example.json`` (the truth, the noise and how the data were made). The truth follows
Hassanaly et al. Part II's calibration study: k_i0 = 2, k_Ds = 2, 100 times from 10 s to
1350 s, Gaussian noise of 3 mV.

    python scripts/make_example_data.py [--out-dir jaxbatt/data/examples]
"""

import argparse
import json
import os

import numpy as np

import jaxbatt
from jaxbatt.solvers import SPM_REFERENCE_SETTINGS as REFERENCE_SETTINGS

NAME = "spm_2c_example"
TRUTH = {"k_i0": 2.0, "k_Ds": 2.0}
NOISE_STD = 3e-3  # V
SEED = 20240517
C_RATE = 2.0
TIMES = np.linspace(10.0, 1350.0, 100)  # s


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default = os.path.join(os.path.dirname(jaxbatt.__file__), "data", "examples")
    parser.add_argument("--out-dir", default=default)
    args = parser.parse_args()
    os.makedirs(args.out_dir, exist_ok=True)

    sol = jaxbatt.simulate(
        "spm", TRUTH, t=TIMES, c_rate=C_RATE, kinetics="butler_volmer", **REFERENCE_SETTINGS
    )
    clean = np.asarray(sol.voltage)
    noisy = clean + NOISE_STD * np.random.default_rng(SEED).standard_normal(TIMES.size)

    csv = os.path.join(args.out_dir, f"{NAME}.csv")
    np.savetxt(csv, np.column_stack([TIMES, noisy]), delimiter=",", header="time_s,voltage_V",
               comments="", fmt="%.10g")  # fmt: skip
    meta = {
        "description": "Synthetic 2C discharge of the nrel cell by jaxbatt's numerical SPM "
        "(Butler-Volmer kinetics) at the stated truth, with Gaussian noise added.",
        "model": "spm",
        "kinetics": "butler_volmer",
        "c_rate": C_RATE,
        "truth": TRUTH,
        "noise_std_V": NOISE_STD,
        "seed": SEED,
        "num_points": int(TIMES.size),
        "t_first_s": float(TIMES[0]),
        "t_last_s": float(TIMES[-1]),
        "solver": "jaxbatt.simulate with jaxbatt.solvers.SPM_REFERENCE_SETTINGS (30 shells per "
        "particle, Kvaerno4, rtol 1e-6, atol 1e-8)",
        "generator": "scripts/make_example_data.py",
        "jaxbatt_version": jaxbatt.__version__,
        "reference": "Hassanaly et al., PINN surrogate of Li-ion battery models for parameter "
        "inference, Part II (arXiv 2312.17336): the same truth, grid and noise level.",
    }
    with open(os.path.join(args.out_dir, f"{NAME}.json"), "w", encoding="utf-8") as f:
        json.dump(meta, f, indent=2)
        f.write("\n")
    residual = noisy - clean
    print(f"wrote {csv}: {TIMES.size} points, V from {noisy[0]:.4f} to {noisy[-1]:.4f} V, "
          f"noise std {residual.std() * 1e3:.2f} mV (target {NOISE_STD * 1e3:g} mV)")  # fmt: skip


if __name__ == "__main__":
    main()
