"""The P2D surrogate (issue 11): what its loss terms buy, and its speed.

    python benchmarks/bench_p2d_surrogate.py --study variants [--steps 5000] [--width 32]
    python benchmarks/bench_p2d_surrogate.py --study terms [--steps 5000]
    python benchmarks/bench_p2d_surrogate.py --study speed [--n-sets 10000]
    python benchmarks/bench_p2d_surrogate.py --study log

variants  physics + data (the recipe), data only and physics only, at equal optimiser steps
          on the same network and seed; voltage error on the recipe's 64 held-out parameter
          sets against the numerical P2D solver (jaxbatt's defaults), wall time (compile and
          solver data included).
terms     the recipe without one group of regularisation terms at a time (integral terms;
          interface and collector conditions; kinetics), same budget.
lowdata   solver data at the reference's five parameter sets only (the box's four corners and
          (2, 2)): physics + data against data only, same budget; and data only at the
          recipe's 64 sets and its full step count (what the physics terms cost per step buys
          the data term many more steps at equal wall time).
speed     100-point voltage curves for `--n-sets` parameter sets, per curve: the bundled
          surrogate (one jitted vmapped call), the jaxbatt P2D solver (vmapped batches) and
          PyBaMM's DFN at its defaults (IDAKLU, default mesh and tolerances, inputs varied,
          built once; sequential solves, timed on a subset), each side's max |dV| against one
          fine reference (PyBaMM's DFN, 40 cells per domain, 40 shells, rtol 1e-8) on 5 sets;
          and the gradient of a Gaussian log-likelihood of one curve.
log       the bundled model's training log (jaxbatt/data/surrogates/p2d.train.json): every
          loss term and the validation error at each validation step.
"""

import argparse
import dataclasses
import datetime
import json
import time

import jax
import jax.numpy as jnp
import numpy as np
from _common import machine, table

import jaxbatt
from jaxbatt.surrogates import train, voltage_errors_mV
from jaxbatt.surrogates._p2d import p2d_surrogate
from jaxbatt.surrogates._recipes import P2D_NETWORK, P2D_TRAIN, p2d_variant
from jaxbatt.surrogates._training import make_data

TERM_GROUPS = {
    "no integral terms": ("charge_integral", "electrolyte_balance", "solid_inventory"),
    "no interface/collector terms": ("interfaces", "collectors"),
    "no kinetics term": ("kinetics",),
}


def _run(label, config, width, steps, data_cache):
    config = dataclasses.replace(config, adam_steps=steps, validate_every=steps, chunk=min(500, steps))
    network = dataclasses.replace(P2D_NETWORK, width=width)
    surrogate = p2d_surrogate(network, key=jax.random.key(config.seed))
    start = time.perf_counter()
    key = (config.loss.n_data > 0, config.n_data_parameters)
    if key not in data_cache:
        data_cache[key] = make_data(surrogate, config)
    result = train(surrogate, config, progress=False, data=data_cache[key])
    wall = time.perf_counter() - start
    errors = np.asarray(voltage_errors_mV(result.surrogate, data_cache[key][1]))
    n_sets = 0 if data_cache[key][0] is None else int(data_cache[key][0].theta.shape[0])
    row = [label, n_sets, f"{errors.mean():.2f}", f"{errors.max():.2f}", f"{wall:.0f}"]
    print(" | ".join(map(str, row)), flush=True)
    return row


def study_variants(args):
    cache, rows = {}, []
    for variant in ("physics+data", "data", "physics"):
        rows.append(_run(variant, p2d_variant(P2D_TRAIN, variant), args.width, args.steps, cache))
    return rows


def study_terms(args):
    cache = {}
    rows = [_run("recipe", P2D_TRAIN, args.width, args.steps, cache)]
    for label, names in TERM_GROUPS.items():
        loss = P2D_TRAIN.loss
        weights = tuple((k, 0.0 if k in names else v) for k, v in loss.weights)
        config = dataclasses.replace(P2D_TRAIN, loss=dataclasses.replace(loss, weights=weights))
        rows.append(_run(label, config, args.width, args.steps, cache))
    return rows


def study_speed(args):
    from jaxbatt.reference import PybammSolver  # noqa: PLC0415
    from jaxbatt.surrogates._p2d_losses import p2d_solver  # noqa: PLC0415

    surrogate = jaxbatt.load_surrogate("p2d")
    space = surrogate.space
    rng = np.random.default_rng(0)
    thetas = space.from_unit(rng.uniform(size=(args.n_sets, len(space))))
    t = np.linspace(10.0, 1350.0, 100)
    accuracy_sets = np.array([[1.7, 6.3], [0.5, 1.0], [4.0, 1.0], [0.5, 10.0], [4.0, 10.0]])
    fine = PybammSolver("dfn", c_rate=2.0, n_x=40, n_r=40, rtol=1e-8, atol=1e-10)
    reference = np.array([fine.solve(t, *th) for th in accuracy_sets])
    rows = []

    curves = jax.jit(jax.vmap(surrogate.voltage_vector, (0, None)))
    th, tj = jnp.asarray(thetas), jnp.asarray(t)
    start = time.perf_counter()
    curves(th, tj).block_until_ready()
    compile_s = time.perf_counter() - start
    samples = []
    for _ in range(5):
        start = time.perf_counter()
        curves(th, tj).block_until_ready()
        samples.append(time.perf_counter() - start)
    per_surrogate = float(np.median(samples)) / args.n_sets
    err = 1e3 * np.max(np.abs(np.asarray(curves(jnp.asarray(accuracy_sets), tj)) - reference))
    rows.append(["jaxbatt P2D surrogate (vmapped, all sets)", f"{compile_s:.1f}", f"{1e6 * per_surrogate:.2f}", f"{err:.2f}"])

    solver = p2d_solver(surrogate)
    batch = jax.jit(jax.vmap(lambda th: solver.solve(th, tj, 2.0).voltage))
    n_solver = min(args.n_sets, args.solver_sets)
    start = time.perf_counter()
    batch(th[:n_solver]).block_until_ready()
    compile_solver = time.perf_counter() - start
    start = time.perf_counter()
    batch(th[:n_solver]).block_until_ready()
    per_solver = (time.perf_counter() - start) / n_solver
    err = 1e3 * np.max(np.abs(np.asarray(batch(jnp.asarray(accuracy_sets))) - reference))
    rows.append([f"jaxbatt P2D solver, defaults (vmapped, {n_solver} sets)", f"{compile_solver:.1f}", f"{1e6 * per_solver:.0f}", f"{err:.2f}"])

    # PyBaMM's DFN defaults: 20 cells per domain in x, 20 shells, IDAKLUSolver() rtol 1e-4,
    # atol 1e-6; the model built once with the parameters as inputs
    default = PybammSolver("dfn", c_rate=2.0, n_x=20, n_r=20, rtol=1e-4, atol=1e-6)
    start = time.perf_counter()
    default.solve(t, *thetas[0])
    build = time.perf_counter() - start
    n_pybamm = min(args.n_sets, args.pybamm_sets)
    start = time.perf_counter()
    for theta in thetas[:n_pybamm]:
        default.solve(t, *theta)
    per_pybamm = (time.perf_counter() - start) / n_pybamm
    err = 1e3 * np.max(np.abs(np.array([default.solve(t, *th) for th in accuracy_sets]) - reference))
    rows.append([f"PyBaMM DFN defaults (20/20/20 x, 20 shells, IDAKLU rtol 1e-4; sequential, {n_pybamm} sets)",
                 f"{build:.1f}", f"{1e6 * per_pybamm:.0f}", f"{err:.2f}"])

    coarse = PybammSolver("dfn", c_rate=2.0, n_x=10, n_r=10, rtol=1e-4, atol=1e-6)
    coarse.solve(t, *thetas[0])
    start = time.perf_counter()
    for theta in thetas[:n_pybamm]:
        coarse.solve(t, *theta)
    per_coarse = (time.perf_counter() - start) / n_pybamm
    err = 1e3 * np.max(np.abs(np.array([coarse.solve(t, *th) for th in accuracy_sets]) - reference))
    rows.append([f"PyBaMM DFN 10/10/10 x, 10 shells, rtol 1e-4 (coarser: nearer the surrogate's accuracy; {n_pybamm} sets)",
                 "", f"{1e6 * per_coarse:.0f}", f"{err:.2f}"])

    def log_likelihood(theta, v):
        return -0.5 * jnp.sum(((surrogate.voltage_vector(theta, tj) - v) / 3e-3) ** 2)

    grad = jax.jit(jax.vmap(jax.grad(log_likelihood), (0, None)))
    v_obs = curves(th[:1], tj)[0]
    grad(th, v_obs).block_until_ready()
    start = time.perf_counter()
    grad(th, v_obs).block_until_ready()
    per_grad = (time.perf_counter() - start) / args.n_sets
    rows.append(["surrogate log-likelihood gradient (vmapped, all sets)", "", f"{1e6 * per_grad:.2f}", ""])
    print(table(rows, ["model", "compile/build [s]", "per curve [us]", "max |dV| vs fine [mV]"]))
    print(
        f"\nspeed-up per curve: surrogate vs PyBaMM defaults {per_pybamm / per_surrogate:,.0f}x, "
        f"vs PyBaMM 10/10/10 {per_coarse / per_surrogate:,.0f}x, "
        f"vs the jaxbatt P2D solver {per_solver / per_surrogate:,.0f}x"
    )
    return None


def study_lowdata(args):
    five = ((0.5, 1.0), (4.0, 1.0), (0.5, 10.0), (4.0, 10.0), (2.0, 2.0))
    low = dataclasses.replace(P2D_TRAIN, data_parameters=five)
    cache, rows = {}, []
    for variant in ("physics+data", "data"):
        rows.append(_run(f"{variant}, 5 sets", p2d_variant(low, variant), args.width, args.steps, cache))
    full = P2D_TRAIN.adam_steps
    rows.append(_run(f"data, 64 sets, {full} steps", p2d_variant(P2D_TRAIN, "data"), args.width, full, cache))
    return rows


def study_log(args):
    from jaxbatt._load import BUNDLED_DIR

    record = json.loads((BUNDLED_DIR / "p2d.train.json").read_text())
    history = record["history"]
    terms = [k for k in history[0] if k not in ("step", "phase", "wall_s", "val_mean_mV", "val_max_mV")]
    print(
        f"# bundled p2d: trained {record['date']} on {record['machine']}, "
        f"{record['wall_s_this_invocation']:.0f} s, solver data at {record['n_data_parameters']} sets, "
        f"error_std {record['error_std_V'] * 1e3:.3f} mV"
    )
    headers = ["step", "wall [s]", "val mean [mV]", "val max [mV]"] + terms
    rows = [
        [h["step"], f"{h['wall_s']:.0f}", f"{h['val_mean_mV']:.3f}", f"{h['val_max_mV']:.2f}"]
        + [f"{h[k]:.3g}" for k in terms]
        for h in history
    ]
    print(table(rows, headers))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--study", choices=("variants", "terms", "lowdata", "speed", "log"), required=True)
    parser.add_argument("--steps", type=int, default=5000)
    parser.add_argument("--width", type=int, default=P2D_NETWORK.width)
    parser.add_argument("--n-sets", type=int, default=10_000)
    parser.add_argument("--solver-sets", type=int, default=200)
    parser.add_argument("--pybamm-sets", type=int, default=100)
    args = parser.parse_args()
    print(f"# P2D surrogate, study {args.study}, {datetime.date.today()}\n# machine: {machine()}")
    if args.study in ("variants", "terms", "lowdata"):
        print(
            f"# width {args.width}, {args.steps} Adam steps (the recipe: {P2D_TRAIN.adam_steps}), "
            f"seed {P2D_TRAIN.seed}; errors on {P2D_TRAIN.n_validation} held-out sets vs the P2D solver"
        )
        headers = ["variant", "solver sets", "mean [mV]", "max [mV]", "wall [s]"]
        print(" | ".join(headers), flush=True)
        study = {"variants": study_variants, "terms": study_terms, "lowdata": study_lowdata}
        rows = study[args.study](args)
        print("\n" + table(rows, headers))
    elif args.study == "log":
        study_log(args)
    else:
        study_speed(args)


if __name__ == "__main__":
    main()
