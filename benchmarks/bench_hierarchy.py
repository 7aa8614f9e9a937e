"""Does the multi-fidelity hierarchy beat one level at equal training compute?

Trains, from the same seed and physics residuals only (no solver data, as in the paper's
claim), (a) one level for S Adam + L L-BFGS steps and (b) a two-level hierarchy with S/2 + L/2
steps per level, then compares their voltage error on 32 held-out parameter sets and their
wall times. `--data` repeats it with the solver data term; `--architecture separable
--parameter-grid 16` uses the bundled model's network and tensor-grid batches.

    python benchmarks/bench_hierarchy.py [--adam 2000] [--lbfgs 2000] [--data]
        [--architecture merged] [--width 24] [--parameter-grid 0]
"""

import argparse
import dataclasses
import datetime
import tempfile
import time

import jax
import numpy as np
from _common import machine, table

import jaxbatt  # noqa: F401
from jaxbatt.surrogates import (
    LossConfig, NetworkConfig, TrainConfig, solver_data, train_hierarchy, voltage_errors_mV,
)  # fmt: skip


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--adam", type=int, default=2000)
    parser.add_argument("--lbfgs", type=int, default=2000)
    parser.add_argument("--width", type=int, default=24)
    parser.add_argument("--data", action="store_true", help="add the solver data term")
    parser.add_argument("--architecture", default="merged", help="merged, split or separable")
    parser.add_argument("--parameter-grid", type=int, default=0, help="tensor-grid batches")
    args = parser.parse_args()
    network = NetworkConfig(architecture=args.architecture, width=args.width, depth=3)
    grid = args.parameter_grid
    loss = LossConfig(n_data=(64 if grid else 256) if args.data else 0, parameter_grid=grid)
    base = TrainConfig(
        adam_steps=args.adam, lbfgs_steps=args.lbfgs, lbfgs_round=1000, loss=loss,
        n_data_parameters=64 if args.data else 0, validate_every=500,
    )  # fmt: skip
    half = dataclasses.replace(
        base, adam_steps=args.adam // 2, lbfgs_steps=args.lbfgs // 2, lbfgs_round=500
    )
    print(f"# hierarchy benchmark, {datetime.date.today()}\n# machine: {machine()}")
    print(
        f"# {'physics + data' if args.data else 'physics residuals only'}, {args.architecture} "
        f"width {args.width}, parameter grid {grid}"
    )
    rows = []
    tmp = tempfile.mkdtemp()
    held_out = None
    for label, levels, cfg in [("one level", 1, base), ("two-level hierarchy", 2, half)]:
        start = time.perf_counter()
        result = train_hierarchy(levels, f"{tmp}/{levels}.eqx", network=network, config=cfg, progress=False)
        wall = time.perf_counter() - start
        s = result.surrogate
        if held_out is None:
            theta = s.space.from_unit(np.random.default_rng(99).uniform(size=(32, 2)))
            # t > 0: the surrogate is exact at t = 0, the solver's surface extrapolation is not
            held_out = solver_data(s, theta, t=np.linspace(0, 1350, 136)[1:])
        err = np.asarray(voltage_errors_mV(s, held_out))
        steps = levels * (cfg.adam_steps + cfg.lbfgs_steps)
        rows.append([label, steps, f"{wall:.0f}", f"{err.mean():.2f}", f"{err.max():.2f}"])
        print(rows[-1], flush=True)
    print(table(rows, ["model", "total steps", "wall [s]", "mean |dV| [mV]", "max |dV| [mV]"]))
    better = float(rows[1][3]) < float(rows[0][3])
    print(f"hierarchy {'beats' if better else 'does not beat'} one level at equal steps here")


if __name__ == "__main__":
    main()
