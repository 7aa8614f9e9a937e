"""Bundle a small copy of the measured Enertech discharges (PyBaMM's Ai2020 cell).

Reads the measured 0.5C, 1C and 2C constant-current discharges (``<rate>C_discharge_U.txt``:
time [s], voltage [V], 1 s sampling; ``_T.txt``: surface temperature rise [K]) and writes
``jaxbatt/data/measured/enertech/<rate>C_discharge.csv`` (``time_s,voltage_V,current_A``):
every `--every`-th sample from t = `--start` s on (the sample at t = 0 is the rested voltage
before the current step), the current the nominal 2.28 Ah times the rate. ``enertech.json``
records the selection, the temperature rise at the end of each discharge and the source.
No value is interpolated, smoothed or altered.

    python scripts/make_enertech_example.py --source ../shared/data/enertech
"""

import argparse
import json
import os

import numpy as np

import jaxbatt
from jaxbatt._io import atomic_write_text

RATES = (0.5, 1.0, 2.0)
NOMINAL_CAPACITY_AH = 2.28  # Enertech pouch cell (PyBaMM Ai2020: "Nominal cell capacity [A.h]")
ATTRIBUTION = (
    "Measured by Ai, Kraft, Sturm, Jossen and Wu (2020), J. Electrochem. Soc. 167(1) 013512, "
    "doi 10.1149/2.0122001JES, and Rieger et al. (2016), J. Electrochem. Soc. 163(8) "
    "A1566-A1575; distributed with PyBaMM (pybamm-team/PyBaMM, "
    "pybamm/input/discharge_data/Enertech_cells/, BSD-3-Clause, copyright the PyBaMM team)."
)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", required=True, help="folder of the measured *_U.txt files")
    default = os.path.join(os.path.dirname(jaxbatt.__file__), "data", "measured", "enertech")
    parser.add_argument("--out-dir", default=default)
    parser.add_argument("--every", type=int, default=20, help="keep every N-th 1 s sample")
    parser.add_argument("--start", type=float, default=10.0, help="first time kept [s]")
    args = parser.parse_args()
    os.makedirs(args.out_dir, exist_ok=True)
    files = {}
    for rate in RATES:
        tag = f"{rate:g}C"
        raw = np.loadtxt(os.path.join(args.source, f"{tag}_discharge_U.txt"))
        temperature = np.loadtxt(os.path.join(args.source, f"{tag}_discharge_T.txt"))
        kept = raw[raw[:, 0] >= args.start][:: args.every]
        if kept[-1, 0] != raw[-1, 0]:
            kept = np.vstack([kept, raw[-1]])  # keep the last sample (the cut-off)
        current = rate * NOMINAL_CAPACITY_AH
        lines = ["time_s,voltage_V,current_A"]
        lines += [f"{t:.10g},{v:.10g},{current:.10g}" for t, v in kept]
        name = f"{tag}_discharge.csv"
        atomic_write_text(os.path.join(args.out_dir, name), "\n".join(lines) + "\n")
        end = raw[-1, 0]
        rise_at_end = float(np.interp(end, temperature[:, 0], temperature[:, 1]))
        files[name] = {
            "c_rate": rate, "current_A": current, "points": int(len(kept)),
            "t_first_s": float(kept[0, 0]), "t_last_s": float(end),
            "v_last_V": float(raw[-1, 1]), "raw_points": int(len(raw)),
            "temperature_rise_at_end_K": round(rise_at_end, 2),
            "temperature_rise_max_K": round(float(temperature[:, 1].max()), 2),
        }  # fmt: skip
    meta = {
        "description": "Measured constant-current discharges of an Enertech 2.28 Ah pouch cell "
        "(graphite / LiCoO2, 3.0-4.2 V) from 4.2 V at room temperature; the cell of PyBaMM's "
        "Ai2020 parameter set.",
        "attribution": ATTRIBUTION,
        "selection": f"every {args.every}th 1 s sample from t = {args.start:g} s, plus the last; "
        "values unaltered",
        "nominal_capacity_Ah": NOMINAL_CAPACITY_AH,
        "pybamm_parameter_set": "Ai2020",
        "files": files,
        "made_by": "scripts/make_enertech_example.py",
    }
    atomic_write_text(os.path.join(args.out_dir, "enertech.json"), json.dumps(meta, indent=2) + "\n")
    print(json.dumps(files, indent=1))


if __name__ == "__main__":
    main()
