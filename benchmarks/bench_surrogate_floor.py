"""SPM surrogates against their floor on this CPU (issue 14 item 5).

For each bundled surrogate: the per-curve time of 100-point voltage curves in a vmapped batch
of `--n-sets` parameter sets (float64, jitted, compile excluded and reported), beside its
floor, the time the same arithmetic would take at this machine's measured throughputs: XLA's
own count of the compiled batch program's floating-point operations (`cost_analysis()`:
"flops") at the measured dense float64 matrix-multiply rate, plus its transcendental
operations (exp, log, tanh, ...) at the measured rate of a large elementwise tanh. Both rates
are measured here in the same run. The ratio measured / floor says how far the program is
from what its arithmetic costs; PyBaMM's SPM at its defaults (IDAKLU, sequential, built
once) is timed in the same run for the ratio a user sees.

    python benchmarks/bench_surrogate_floor.py [--n-sets 10000] [--n-pybamm 200]
"""

import argparse
import datetime

import jax
import jax.numpy as jnp
import numpy as np
from _common import machine, once, table, timed

import jaxbatt


def matmul_rate(n=1024):
    a = jnp.asarray(np.random.default_rng(0).normal(size=(n, n)))
    f = jax.jit(lambda x: x @ x)
    f(a).block_until_ready()
    return 2 * n**3 / timed(lambda: f(a).block_until_ready(), repeats=5)


def transcendental_rate(n=4_000_000):
    x = jnp.linspace(-3.0, 3.0, n)
    f = jax.jit(jnp.tanh)
    f(x).block_until_ready()
    return n / timed(lambda: f(x).block_until_ready(), repeats=5)


def compiled_with_cost(fn, *args):
    """(compiled program, compile time [s], flops, transcendentals) of jit(fn) at args."""
    compile_s, compiled = once(lambda: jax.jit(fn).lower(*args).compile())
    analysis = compiled.cost_analysis()
    analysis = analysis[0] if isinstance(analysis, (list, tuple)) else analysis
    flops, trans = (float(analysis.get(k, 0.0)) for k in ("flops", "transcendentals"))
    return compiled, compile_s, flops, trans


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--n-sets", type=int, default=10_000)
    parser.add_argument("--n-pybamm", type=int, default=200)
    parser.add_argument("--models", default="spm,spm-rates,spm-physics")
    args = parser.parse_args()
    print(f"# SPM surrogates against their floor, {datetime.date.today()}\n# machine: {machine()}\n")
    flop_rate, trans_rate = matmul_rate(), transcendental_rate()
    print(f"dense float64 matmul (1024^3): {flop_rate / 1e9:.1f} GFLOP/s; "
          f"float64 tanh: {trans_rate / 1e6:.0f} M/s\n")  # fmt: skip

    from jaxbatt.reference import PybammSolver

    pybamm = PybammSolver("spm", c_rate=2.0, n_r=20, rtol=1e-4, atol=1e-6)  # its defaults
    t_np = np.linspace(10.0, 1350.0, 100)
    pybamm.solve(t_np, 1.7, 6.3)
    rng = np.random.default_rng(0)
    pb_theta = rng.uniform([0.5, 1.0], [4.0, 10.0], size=(args.n_pybamm, 2))
    pybamm_s, _ = once(lambda: [pybamm.solve(t_np, a, d) for a, d in pb_theta])
    pybamm_per = pybamm_s / args.n_pybamm

    rows = []
    for name in args.models.split(","):
        s = jaxbatt.load_surrogate(name)
        theta = jnp.asarray(s.space.from_unit(rng.uniform(size=(args.n_sets, len(s.space)))))
        t = jnp.linspace(10.0, s.t_max, 100)
        batch = jax.vmap(s.voltage_vector, (0, None))
        f, compile_s, flops, trans = compiled_with_cost(batch, theta, t)
        per = timed(lambda f=f: f(theta, t).block_until_ready(), repeats=3) / args.n_sets
        floor = (flops / flop_rate + trans / trans_rate) / args.n_sets
        rows.append([
            name, f"{compile_s:.1f}", f"{flops / args.n_sets / 1e3:.0f}",
            f"{trans / args.n_sets / 1e3:.1f}", f"{floor * 1e6:.2f}", f"{per * 1e6:.2f}",
            f"{per / floor:.1f}x", f"{pybamm_per / per:.0f}x",
        ])  # fmt: skip
    print(table(rows, ["model", "compile [s]", "kflop / curve", "k transc. / curve",
                       "floor [us]", "measured [us]", "measured / floor",
                       "vs PyBaMM defaults"]))  # fmt: skip
    print(f"PyBaMM SPM at its defaults: {pybamm_per * 1e6:.0f} us per curve "
          f"(sequential, {args.n_pybamm} sets)")  # fmt: skip


if __name__ == "__main__":
    main()
