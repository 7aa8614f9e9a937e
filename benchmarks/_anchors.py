"""Solver comparison at equal accuracy: jaxbatt and PyBaMM configurations, each scored by its
max |dV| against one fine reference and timed on one solve and on a batch, printed side by
side as ratios to PyBaMM at its defaults (issue 14). Shared by the SPM and P2D benchmarks."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from _common import once, table, timed

from jaxbatt._simulate import make_solver
from jaxbatt.reference import PybammSolver

THETA0 = (1.7, 6.3)  # the parameter set of the single solves


class Comparison:
    """Score configurations against `fine` (a PybammSolver) on `accuracy_sets` at times `t`
    (and, separately, `t_early`), time them on `thetas` (PyBaMM: `n_sequential` sequential
    solves; jaxbatt: one vmapped call over all of `thetas`)."""

    def __init__(self, model, fine, t, t_early, accuracy_sets, thetas, c_rate, *, n_sequential, repeats):
        self.model, self.t, self.t_early, self.c_rate = model, t, t_early, c_rate
        self.sets, self.thetas = np.asarray(accuracy_sets), np.asarray(thetas)
        self.n_sequential, self.repeats = n_sequential, repeats
        self.reference = np.stack([fine.solve(t, a, d) for a, d in self.sets])
        self.reference_early = np.stack([fine.solve(t_early, a, d) for a, d in self.sets])
        self.rows = []

    def _error_mV(self, voltages, early=False):
        ref = self.reference_early if early else self.reference
        return 1e3 * float(np.max(np.abs(np.asarray(voltages) - ref)))

    def pybamm(self, label, **options):
        ref = PybammSolver(self.model, c_rate=self.c_rate, **options)
        build, _ = once(lambda: ref.solve(self.t, *THETA0))
        err = self._error_mV([ref.solve(self.t, a, d) for a, d in self.sets])
        early = self._error_mV([ref.solve(self.t_early, a, d) for a, d in self.sets], early=True)
        single = timed(lambda: ref.solve(self.t, *THETA0), repeats=self.repeats)
        n = self.n_sequential
        seq, _ = once(lambda: [ref.solve(self.t, a, d) for a, d in self.thetas[:n]])
        self._add(label, build, None, single, seq / n, err, early, f"sequential {n}")

    def jaxbatt(self, label, **options):
        solver = make_solver("p2d" if self.model == "dfn" else "spm", **options)

        def voltages(t, batched):
            fn = lambda th: solver.solve(th, t, self.c_rate).voltage  # noqa: E731
            return eqx.filter_jit(jax.vmap(fn) if batched else fn)

        single_fn, batch_fn = voltages(self.t, False), voltages(self.t, True)
        theta0, thetas = jnp.asarray(THETA0), jnp.asarray(self.thetas)
        compile_single, _ = once(lambda: single_fn(theta0).block_until_ready())
        err = self._error_mV(batch_fn(jnp.asarray(self.sets)))
        early = self._error_mV(voltages(self.t_early, True)(jnp.asarray(self.sets)), early=True)
        single = timed(lambda: single_fn(theta0).block_until_ready(), repeats=self.repeats)
        compile_batch, _ = once(lambda: batch_fn(thetas).block_until_ready())
        batch = timed(lambda: batch_fn(thetas).block_until_ready(), repeats=2)
        n = len(self.thetas)
        self._add(label, compile_single, compile_batch, single, batch / n, err, early, f"vmapped {n}")

    def _add(self, label, compile_s, compile_batch, single, per_curve, err, early, how):
        self.rows.append(dict(
            label=label, compile=compile_s, compile_batch=compile_batch, single=single,
            per_curve=per_curve, err=err, early=early, how=how,
        ))  # fmt: skip
        print(
            f"{label}: single {single * 1e3:.2f} ms, {per_curve * 1e3:.2f} ms per curve ({how}), "
            f"max |dV| {err:.3f} mV (t >= 10 s), {early:.2f} mV (early)",
            flush=True,
        )

    def report(self, floor_mV):
        """The table, then which jaxbatt configurations reach max(PyBaMM default's error,
        `floor_mV`) and their speed ratios to PyBaMM's defaults (the first PyBaMM row)."""
        base = next(r for r in self.rows if r["label"].startswith("PyBaMM"))
        out = [
            [
                r["label"],
                f"{r['compile']:.2f}" + ("" if r["compile_batch"] is None else f" / {r['compile_batch']:.1f}"),
                f"{r['err']:.3f}", f"{r['early']:.2f}", f"{r['single'] * 1e3:.2f}",
                f"{r['per_curve'] * 1e3:.2f} ({r['how']})",
                f"{base['single'] / r['single']:.2f}x", f"{base['per_curve'] / r['per_curve']:.2f}x",
            ]
            for r in self.rows
        ]  # fmt: skip
        print()
        print(
            table(
                out,
                ["configuration", "build or compile / batch compile [s]",
                 "max |dV| vs fine, t >= 10 s [mV]", "max |dV|, early [mV]", "single [ms]",
                 "per curve [ms]", "single: PyBaMM default / this",
                 "throughput: this / PyBaMM default"],
            )  # fmt: skip
        )
        budget = max(base["err"], floor_mV)
        print(
            f"\nequal accuracy: max |dV| <= max(PyBaMM default's {base['err']:.3f} mV, "
            f"{floor_mV:g} mV) = {budget:.3f} mV"
        )
        ok = [r for r in self.rows if r["label"].startswith("jaxbatt") and r["err"] <= budget]
        for r in ok:
            print(
                f"  {r['label']}: single {base['single'] / r['single']:.2f}x PyBaMM default, "
                f"batch throughput {base['per_curve'] / r['per_curve']:.2f}x PyBaMM default sequential"
            )  # fmt: skip
        if not ok:
            print("  no jaxbatt configuration above reaches it")


def compare(model, fine, accuracy_sets, thetas, pybamm_rows, jaxbatt_rows, args, *, t, t_early, floor_mV):
    """Run every (label, options) of `pybamm_rows` then `jaxbatt_rows` at 2C and print the
    report (`args`: the benchmark's parsed `pybamm_sequential` and `repeats`)."""
    runs = Comparison(
        model, fine, t, t_early, accuracy_sets, thetas, 2.0,
        n_sequential=args.pybamm_sequential, repeats=args.repeats,
    )  # fmt: skip
    for label, options in pybamm_rows:
        runs.pybamm(label, **options)
    for label, options in jaxbatt_rows:
        runs.jaxbatt(label, **options)
    runs.report(floor_mV=floor_mV)
