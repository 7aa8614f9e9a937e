"""SPM solver speed: jaxbatt (Diffrax) against PyBaMM (IDAKLU) on the same cell, one run.

Prints compile time, single-solve time after compile, and the throughput of a vmapped batch of
1000 parameter sets, next to PyBaMM's single solve and sequential throughput, as ratios.

    python benchmarks/bench_spm_solver.py [--batch 1000] [--n-r 30]
"""

import argparse
import datetime

import jax
import jax.numpy as jnp
import numpy as np
from _common import machine, once, table, timed

from jaxbatt._simulate import make_solver
from jaxbatt.reference import PybammSolver


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--n-r", type=int, default=30, help="shells per particle, both codes")
    parser.add_argument("--pybamm-sequential", type=int, default=100)
    args = parser.parse_args()

    t = np.linspace(10.0, 1350.0, 100)  # the calibration grid: 100 points
    rng = np.random.default_rng(0)
    space = make_solver("spm").space
    thetas = space.from_unit(rng.uniform(size=(args.batch, len(space))))
    print(f"# SPM solver benchmark, {datetime.date.today()}\n# machine: {machine()}")
    print(f"# 2C discharge, 100 output times in [10, 1350] s, {args.n_r} shells per particle")

    solver = make_solver("spm", n_r_anode=args.n_r, n_r_cathode=args.n_r)
    single = jax.jit(lambda th: solver.solve(th, t, 2.0).voltage)
    batched = jax.jit(jax.vmap(lambda th: solver.solve(th, t, 2.0).voltage))
    theta0 = jnp.array([1.7, 6.3])
    compile_single, _ = once(lambda: single(theta0).block_until_ready())
    ours_single = timed(lambda: single(theta0).block_until_ready(), repeats=20)
    compile_batch, _ = once(lambda: batched(jnp.asarray(thetas)).block_until_ready())
    ours_batch = timed(lambda: batched(jnp.asarray(thetas)).block_until_ready(), repeats=3)

    rows = []
    for label, n_r in [(f"PyBaMM IDAKLU, {args.n_r} shells", args.n_r), ("PyBaMM IDAKLU, 100 shells", 100)]:
        ref = PybammSolver("spm", c_rate=2.0, n_r=n_r)
        build, _ = once(lambda ref=ref: ref.solve(t, 1.7, 6.3))
        their_single = timed(lambda ref=ref: ref.solve(t, 1.7, 6.3), repeats=20)
        n_seq = args.pybamm_sequential
        their_seq, _ = once(lambda ref=ref: [ref.solve(t, a, d) for a, d in thetas[:n_seq]])
        their_per_curve = their_seq / n_seq
        rows.append(
            [label, f"{build:.2f}", f"{their_single * 1e3:.1f}", f"{their_per_curve * 1e3:.1f}",
             f"{their_single / ours_single:.2f}x", f"{their_per_curve / (ours_batch / args.batch):.2f}x"]
        )  # fmt: skip
    print(
        f"\njaxbatt SPM: compile {compile_single:.2f} s (single), {compile_batch:.2f} s (batch of "
        f"{args.batch}); single solve {ours_single * 1e3:.1f} ms; batch {ours_batch:.2f} s = "
        f"{ours_batch / args.batch * 1e3:.2f} ms per curve\n"
    )
    print(
        table(
            rows,
            ["anchor", "build+first [s]", "single [ms]", "sequential per curve [ms]",
             "single: anchor/jaxbatt", "throughput: jaxbatt batch vs anchor sequential"],
        )  # fmt: skip
    )


if __name__ == "__main__":
    main()
