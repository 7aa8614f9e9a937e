"""P2D solver speed: jaxbatt (Diffrax) against PyBaMM's DFN (IDAKLU) on the same cell, one run.

Prints jaxbatt's compile time, single-solve time after compile and the throughput of a
vmapped batch of parameter sets, next to PyBaMM's DFN at a comparable mesh and at its
default (finer) mesh, as ratios; also the voltage difference between the two codes at the
timed point, so that speed is compared at a stated accuracy.

    python benchmarks/bench_p2d_solver.py [--batch 100] [--c-rate 2]
"""

import argparse
import datetime

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from _common import machine, once, table, timed

from jaxbatt._simulate import _traced, make_solver
from jaxbatt.reference import PybammSolver


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--c-rate", type=float, default=2.0)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--pybamm-sequential", type=int, default=20)
    args = parser.parse_args()

    t = np.linspace(10.0, 1350.0, 100)  # the calibration grid: 100 points
    rng = np.random.default_rng(0)
    solver = make_solver("p2d")
    thetas = solver.space.from_unit(rng.uniform(size=(args.batch, len(solver.space))))
    mesh = (solver.n_x_anode, solver.n_x_separator, solver.n_x_cathode)
    print(f"# P2D solver benchmark, {datetime.date.today()}\n# machine: {machine()}")
    print(
        f"# {args.c_rate:g}C discharge, 100 output times in [10, 1350] s; jaxbatt default mesh "
        f"{mesh[0]}/{mesh[1]}/{mesh[2]} cells in x, {solver.n_r_anode}/{solver.n_r_cathode} "
        f"shells, {type(solver.method).__name__}, rtol {solver.rtol:g}, atol {solver.atol:g}, "
        f"algebraic={solver.algebraic!r}"
    )

    single = jax.jit(lambda th: solver.solve(th, t, args.c_rate).voltage)
    batched = jax.jit(jax.vmap(lambda th: solver.solve(th, t, args.c_rate).voltage))
    theta0 = jnp.array([1.7, 6.3])
    compile_single, v_ours = once(lambda: single(theta0).block_until_ready())
    ours_single = timed(lambda: single(theta0).block_until_ready(), repeats=args.repeats)
    steps = int(jax.jit(lambda th: solver.solve(th, t, args.c_rate).num_steps)(theta0))
    compile_batch, _ = once(lambda: batched(jnp.asarray(thetas)).block_until_ready())
    ours_batch = timed(lambda: batched(jnp.asarray(thetas)).block_until_ready(), repeats=1)

    # looser time tolerances, same compiled program (tolerances traced)
    traced = _traced(solver)

    @eqx.filter_jit
    def with_tolerances(solver, th):
        return solver.solve(th, t, args.c_rate).voltage

    loose_rows = []
    for rtol, atol in ((1e-3, 1e-5),):
        loose = eqx.tree_at(lambda s: (s.rtol, s.atol), traced, (jnp.asarray(rtol), jnp.asarray(atol)))
        v_loose = with_tolerances(loose, theta0).block_until_ready()
        ours_loose = timed(lambda loose=loose: with_tolerances(loose, theta0).block_until_ready(),
                           repeats=args.repeats)  # fmt: skip
        loose_rows.append((rtol, atol, ours_loose, np.max(np.abs(np.asarray(v_loose) - np.asarray(v_ours)))))

    newton = make_solver("p2d", algebraic="newton")
    newton_single = jax.jit(lambda th: newton.solve(th, t, args.c_rate).voltage)
    compile_newton, v_newton = once(lambda: newton_single(theta0).block_until_ready())
    ours_newton = timed(lambda: newton_single(theta0).block_until_ready(), repeats=args.repeats)

    rows = []
    anchors = [
        (f"PyBaMM DFN IDAKLU, {mesh[0]}/{mesh[0]}/{mesh[0]} x, {solver.n_r_anode} shells, rtol 1e-6",
         dict(n_x=mesh[0], n_r=solver.n_r_anode, rtol=1e-6, atol=1e-8)),
        ("PyBaMM DFN IDAKLU, 30/30/30 x, 30 shells, rtol 1e-8 (the tests' reference)",
         dict(n_x=30, n_r=30, rtol=1e-8, atol=1e-10)),
    ]  # fmt: skip
    for label, options in anchors:
        ref = PybammSolver("dfn", c_rate=args.c_rate, **options)
        build, v_ref = once(lambda ref=ref: ref.solve(t, 1.7, 6.3))
        their_single = timed(lambda ref=ref: ref.solve(t, 1.7, 6.3), repeats=args.repeats)
        n_seq = min(args.pybamm_sequential, args.batch)
        their_seq, _ = once(lambda ref=ref: [ref.solve(t, a, d) for a, d in thetas[:n_seq]])
        their_per_curve = their_seq / n_seq
        gap = np.max(np.abs(np.asarray(v_ours) - np.asarray(v_ref))) * 1e3
        rows.append(
            [label, f"{build:.2f}", f"{their_single * 1e3:.1f}", f"{their_per_curve * 1e3:.1f}",
             f"{their_single / ours_single:.2f}x", f"{their_per_curve / (ours_batch / args.batch):.2f}x",
             f"{gap:.3f}"]
        )  # fmt: skip
    print(
        f"\njaxbatt P2D: compile {compile_single:.1f} s (single), {compile_batch:.1f} s (vmapped "
        f"batch of {args.batch}); single solve {ours_single * 1e3:.1f} ms ({steps} steps); "
        f"batch {ours_batch:.2f} s = {ours_batch / args.batch * 1e3:.1f} ms per curve\n"
    )
    print(
        f"algebraic='newton' (Newton inside every right-hand side): compile {compile_newton:.1f} s, "
        f"single solve {ours_newton * 1e3:.1f} ms ({ours_newton / ours_single:.2f}x the default), "
        f"max |V_newton - V_default| {np.max(np.abs(np.asarray(v_newton) - np.asarray(v_ours))) * 1e3:.4f} mV\n"
    )
    for rtol, atol, ours_loose, gap in loose_rows:
        print(
            f"rtol {rtol:g}, atol {atol:g}: single solve {ours_loose * 1e3:.1f} ms "
            f"({ours_single / ours_loose:.2f}x faster than the default), max |dV| to the default "
            f"{gap * 1e3:.3f} mV; against the first anchor below: "
            f"{rows[0][2]} ms -> anchor/jaxbatt {float(rows[0][2]) / (ours_loose * 1e3):.2f}x\n"
        )
    print(
        table(
            rows,
            ["anchor", "build+first [s]", "single [ms]", "sequential per curve [ms]",
             "single: anchor/jaxbatt", "throughput: jaxbatt batch vs anchor sequential",
             "max |dV| vs jaxbatt [mV]"],
        )  # fmt: skip
    )


if __name__ == "__main__":
    main()
