"""Train an SPM surrogate of a PyBaMM parameter set with the command line, and score it the
way the bundled one is scored (64 held-out parameter sets against the 60-shell solver).

    python scripts/train_own_cell.py [--cell pybamm:Chen2020] [--c-rate 1] [--out chen.eqx]
        [--param k_i0=0.5:4 --param k_Ds=1:10] [--resume]

It runs ``jaxbatt train spm --cell CELL --param ... --c-rate C --out OUT`` (the default
recipe: the bundled SPM surrogate's network and training, 20,000 Adam steps, solver data at
256 parameter sets), times it, then prints and writes OUT.train.json with the wall time and
the accuracy by time window (`benchmarks/bench_spm_surrogate.accuracy`).
"""

import argparse
import json
import pathlib
import platform
import sys
import time

import jax
import numpy as np

import jaxbatt
from jaxbatt._cli import main as cli

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "benchmarks"))
from bench_spm_surrogate import accuracy  # noqa: E402


def run():
    parser = argparse.ArgumentParser()
    parser.add_argument("--cell", default="pybamm:Chen2020")
    parser.add_argument("--c-rate", default="1")
    parser.add_argument("--param", action="append")
    parser.add_argument("--out", default="chen2020_1c.eqx")
    parser.add_argument("--resume", action="store_true")
    args = parser.parse_args()
    params = args.param or ["k_i0=0.5:4", "k_Ds=1:10"]
    argv = ["train", "spm", "--cell", args.cell, "--c-rate", args.c_rate, "--out", args.out]
    argv += [a for p in params for a in ("--param", p)] + (["--resume"] if args.resume else [])
    start = time.perf_counter()
    rc = cli(argv, compilation_cache=False)
    wall = time.perf_counter() - start
    if rc != 0:
        raise SystemExit(rc)
    surrogate = jaxbatt.load_surrogate(args.out)
    err, early, late, rel_fields, _ = accuracy(surrogate)
    summary = {
        "date": time.strftime("%Y-%m-%d"),
        "machine": f"{platform.processor() or platform.machine()}, {jax.device_count()} x "
        f"{jax.devices()[0].device_kind}",
        "command": "jaxbatt " + " ".join(argv),
        "wall_s_training_command": wall,
        "t_max_s": surrogate.t_max,
        "held_out_sets": int(err.shape[0]),
        "mean_mV": float(err.mean()), "max_mV": float(err.max()),
        "mean_mV_t_ge_10s": float(late.mean()), "max_mV_t_ge_10s": float(late.max()),
        "max_mV_t_lt_10s": float(early.max()),
        "p99_mV": float(np.percentile(err, 99)),
        "relative_l2_fields": rel_fields,
    }
    pathlib.Path(args.out).with_suffix(".train.json").write_text(json.dumps(summary, indent=1))
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    run()
