"""SPM solver: jaxbatt (Diffrax) against PyBaMM (IDAKLU) at PyBaMM's defaults and at equal
accuracy, side by side in one run (issue 14).

Every configuration, of either code, is scored by its max |dV| against one fine reference
(PyBaMM's SPM with 400 shells, rtol 1e-10) over a few parameter sets including the box's
corners, and timed on one solve after compile and on a batch (jaxbatt: one vmapped call;
PyBaMM: sequential solves of a model built once with the parameters as inputs, which is how a
PyBaMM user would run many sets). Ratios are PyBaMM time / jaxbatt time (> 1: jaxbatt faster).

    python benchmarks/bench_spm_solver.py [--batch 1000] [--pybamm-sequential 100]
"""

import argparse
import datetime

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from _common import machine, once, table, timed

import jaxbatt  # noqa: F401
from jaxbatt._simulate import make_solver
from jaxbatt.solvers._spm import REFERENCE_SETTINGS
from jaxbatt.reference import PybammSolver

T = np.linspace(10.0, 1350.0, 100)  # the calibration grid: 100 points
T_EARLY = np.geomspace(0.25, 10.0, 12)  # the sqrt(t) transient, scored separately
# accuracy sets: the timed point, the four corners of the (k_i0, k_Ds) box, the centre
ACCURACY_SETS = np.array([[1.7, 6.3], [0.5, 1.0], [4.0, 1.0], [0.5, 10.0], [4.0, 10.0], [2.25, 5.5]])

# (label, shells, rtol, atol): PyBaMM's defaults first (its SPM's default mesh is 20 shells per
# particle; IDAKLUSolver() has rtol 1e-4, atol 1e-6), then settings tighter than its defaults
PYBAMM = [
    ("PyBaMM defaults (20 shells, rtol 1e-4, atol 1e-6)", 20, 1e-4, 1e-6),
    ("PyBaMM 30 shells, rtol 1e-6, atol 1e-8", 30, 1e-6, 1e-8),
    ("PyBaMM 60 shells, rtol 1e-6, atol 1e-8", 60, 1e-6, 1e-8),
    ("PyBaMM 100 shells, rtol 1e-8, atol 1e-10", 100, 1e-8, 1e-10),
]
# (label, solver options): jaxbatt's defaults first
JAXBATT = [
    ("jaxbatt defaults (15 shells, Kvaerno3, rtol 1e-4, atol 1e-6)", {}),
    ("jaxbatt 10 shells, Kvaerno3, rtol 1e-4, atol 1e-6", {"n_r_anode": 10, "n_r_cathode": 10}),
    ("jaxbatt 20 shells, Kvaerno3, rtol 1e-4, atol 1e-6", {"n_r_anode": 20, "n_r_cathode": 20}),
    ("jaxbatt 15 shells, Kvaerno4, rtol 1e-4, atol 1e-6", {"method": diffrax.Kvaerno4()}),
    ("jaxbatt REFERENCE_SETTINGS (30 shells, Kvaerno4, rtol 1e-6, atol 1e-8)", REFERENCE_SETTINGS),
]  # fmt: skip


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--pybamm-sequential", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    space = make_solver("spm").space
    thetas = space.from_unit(rng.uniform(size=(args.batch, len(space))))
    print(f"# SPM solver benchmark, {datetime.date.today()}\n# machine: {machine()}")
    print("# 2C discharge, 100 output times in [10, 1350] s; single solves at (k_i0, k_Ds) = (1.7, 6.3)")

    fine = PybammSolver("spm", c_rate=2.0, n_r=400, rtol=1e-10, atol=1e-12)
    reference = np.stack([fine.solve(T, a, d) for a, d in ACCURACY_SETS])
    reference_early = np.stack([fine.solve(T_EARLY, a, d) for a, d in ACCURACY_SETS])

    def error_mV(voltages, early=False):
        return 1e3 * float(np.max(np.abs(np.asarray(voltages) - (reference_early if early else reference))))

    rows, pybamm_default = [], None
    for label, n_r, rtol, atol in PYBAMM:
        ref = PybammSolver("spm", c_rate=2.0, n_r=n_r, rtol=rtol, atol=atol)
        build, _ = once(lambda ref=ref: ref.solve(T, 1.7, 6.3))
        err = error_mV([ref.solve(T, a, d) for a, d in ACCURACY_SETS])
        early = error_mV([ref.solve(T_EARLY, a, d) for a, d in ACCURACY_SETS], early=True)
        single = timed(lambda ref=ref: ref.solve(T, 1.7, 6.3), repeats=args.repeats)
        n_seq = args.pybamm_sequential
        seq, _ = once(lambda ref=ref: [ref.solve(T, a, d) for a, d in thetas[:n_seq]])
        rows.append({"label": label, "compile": build, "single": single, "per_curve": seq / n_seq, "err": err, "early": early})
        pybamm_default = pybamm_default or rows[-1]
        print(f"{label}: {single * 1e3:.2f} ms single, {seq / n_seq * 1e3:.2f} ms/curve sequential, max |dV| {err:.3f} mV", flush=True)  # fmt: skip

    for label, options in JAXBATT:
        solver = make_solver("spm", **options)
        single_fn = eqx.filter_jit(lambda th, s=solver: s.solve(th, T, 2.0).voltage)
        batch_fn = eqx.filter_jit(jax.vmap(lambda th, s=solver: s.solve(th, T, 2.0).voltage))
        theta0 = jnp.array([1.7, 6.3])
        compile_single, _ = once(lambda f=single_fn: f(theta0).block_until_ready())
        err = error_mV(batch_fn(jnp.asarray(ACCURACY_SETS)))
        early_fn = eqx.filter_jit(jax.vmap(lambda th, s=solver: s.solve(th, T_EARLY, 2.0).voltage))
        early = error_mV(early_fn(jnp.asarray(ACCURACY_SETS)), early=True)
        single = timed(lambda f=single_fn: f(theta0).block_until_ready(), repeats=args.repeats)
        compile_batch, _ = once(lambda f=batch_fn: f(jnp.asarray(thetas)).block_until_ready())
        batch = timed(lambda f=batch_fn: f(jnp.asarray(thetas)).block_until_ready(), repeats=3)
        rows.append({
            "label": label, "compile": compile_single, "compile_batch": compile_batch,
            "single": single, "per_curve": batch / args.batch, "err": err, "early": early,
        })  # fmt: skip
        print(f"{label}: {single * 1e3:.2f} ms single, {batch / args.batch * 1e3:.2f} ms/curve batched, max |dV| {err:.3f} mV", flush=True)  # fmt: skip

    base = pybamm_default
    out = [
        [
            r["label"], f"{r['compile']:.2f}" + (f" / {r['compile_batch']:.1f}" if "compile_batch" in r else ""),
            f"{r['err']:.3f}", f"{r['early']:.2f}", f"{r['single'] * 1e3:.2f}", f"{r['per_curve'] * 1e3:.2f}",
            f"{base['single'] / r['single']:.2f}x", f"{base['per_curve'] / r['per_curve']:.2f}x",
        ]
        for r in rows
    ]  # fmt: skip
    print()
    print(
        table(
            out,
            ["configuration", "compile / batch compile [s]", "max |dV| vs fine, t >= 10 s [mV]",
             "max |dV|, 0.25-10 s [mV]", "single [ms]",
             f"per curve, batch of {args.batch} (PyBaMM: sequential {args.pybamm_sequential}) [ms]",
             "single: PyBaMM default / this", "throughput: this / PyBaMM default"],
        )  # fmt: skip
    )
    budget = max(base["err"], 0.3)
    ok = [r for r in rows if r["label"].startswith("jaxbatt") and r["err"] <= budget]
    print(f"\nequal accuracy: max |dV| <= max(PyBaMM default's {base['err']:.3f} mV, 0.3 mV) = {budget:.3f} mV")
    for r in ok:
        print(
            f"  {r['label']}: single {base['single'] / r['single']:.2f}x PyBaMM default, "
            f"batch throughput {base['per_curve'] / r['per_curve']:.2f}x PyBaMM default sequential"
        )  # fmt: skip
    if not ok:
        print("  no jaxbatt configuration above reaches it")
    likelihood_gradients()


def likelihood_gradients():
    """The exact-solver likelihood's cost: value and gradient of a Gaussian log-likelihood of
    100 points through `SolverVoltageModel` (forward-mode Jacobian, what NUTS with
    ``likelihood="solver"`` calls once per leapfrog step), at the defaults and at the previous
    defaults (`REFERENCE_SETTINGS`)."""
    from jaxbatt.inference import SolverVoltageModel  # noqa: PLC0415

    print("\n## exact-solver likelihood value + gradient (100 points, one parameter set)")
    times = {}
    for label, options in [("defaults", {}), ("REFERENCE_SETTINGS (the previous defaults)", REFERENCE_SETTINGS)]:
        model = SolverVoltageModel("spm", **options)
        v_obs = model.voltage_vector(jnp.array([2.0, 2.0]), jnp.asarray(T))

        def log_likelihood(th, model=model, v_obs=v_obs):
            return -0.5 * jnp.sum(((model.voltage_vector(th, jnp.asarray(T)) - v_obs) / 3e-3) ** 2)

        grad = eqx.filter_jit(jax.value_and_grad(log_likelihood))
        theta = jnp.array([1.7, 6.3])
        compile_s, _ = once(lambda g=grad: jax.block_until_ready(g(theta)))
        times[label] = timed(lambda g=grad: jax.block_until_ready(g(theta)), repeats=10)
        print(f"{label}: {times[label] * 1e3:.2f} ms per value+gradient (compile {compile_s:.1f} s)")
    (_, new), (_, old) = times.items()
    print(f"ratio previous / defaults: {old / new:.1f}x (a NUTS iteration is a fixed number of these)")


if __name__ == "__main__":
    main()
