"""Bayesian calibration speed and calibration quality (issue 5, item 8).

Runs, each selectable with --runs:
  chain-methods  4 chains with chain_method "sequential" and "vectorized": first call
                 (compile + sampling) and a second, cached call (sampling only).
  main           4 chains x (1000 warm-up + 1000 samples) on the bundled example curve:
                 wall time of compile + sampling, posterior summary.
  solver         the exact numerical solver on the same curve (when --model is not the
                 solver; --solver-chains/--solver-warmup/--solver-samples, default
                 4 x (1000 + 1000) like main), and the posterior means' distance in posterior
                 standard deviations.
  reference      the reference implementation's recipe: 1 chain x (10,000 + 4,000), sigma
                 fixed at the true 3 mV.
  coverage       >= 20 synthetic curves (numerical solver at random true parameters, uniform
                 over the box, 3 mV noise, fixed seeds): the fraction whose central 90 %
                 interval contains the truth, per parameter (well calibrated: about 0.9).
                 --coverage-data model makes the curves with the voltage model itself, which
                 tests the inference alone (priors, likelihood, NUTS) without model error.

--model picks the voltage model: "surrogate" (jaxbatt.load_surrogate("spm")), "solver"
(SolverVoltageModel, the exact likelihood) or "mlp-proxy" (a randomly initialised tanh MLP of
surrogate size with data made by itself: a stand-in for the surrogate's *cost* only, for use
before a trained surrogate exists).

    python benchmarks/bench_calibration.py --model solver --runs chain-methods
    python benchmarks/bench_calibration.py --model surrogate --runs main,solver,reference,coverage
"""

import argparse
import datetime
import json
import time
import warnings

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from _common import machine, table

import jaxbatt
from jaxbatt._voltage_model import AbstractVoltageModel
from jaxbatt.cells import ParameterSpace, nrel_parameter_space
from jaxbatt.inference import ConvergenceWarning, SolverVoltageModel, calibrate, load_example
from jaxbatt.inference._sampler import clear_cache

TIMES = np.linspace(10.0, 1350.0, 100)  # s: the reference study's grid
NOISE = 3e-3  # V


class MLPProxyVoltageModel(AbstractVoltageModel):
    """Cost stand-in for a PINN surrogate: V = 3.8 + 0.15 tanh-MLP(t / t_max, unit theta),
    width 20, 3 hidden layers, random weights. Not a battery model."""

    layers: list
    space: ParameterSpace = eqx.field(static=True)
    c_rate: float = eqx.field(static=True, default=2.0)
    t_max: float = eqx.field(static=True, default=1350.0)
    error_std: float = eqx.field(static=True, default=0.0)  # its data are its own curves
    name: str = eqx.field(static=True, default="mlp-proxy")

    def voltage_vector(self, theta, t):
        u = self.space.to_unit(theta)
        x = jnp.concatenate([(t / self.t_max)[:, None], jnp.broadcast_to(u, (t.size, u.size))], 1)
        for w, b in self.layers[:-1]:
            x = jnp.tanh(x @ w + b)
        w, b = self.layers[-1]
        return 3.8 + 0.15 * (x @ w + b)[:, 0] - 0.3 * t / self.t_max


def mlp_proxy(space, *, width=20, depth=3, seed=0):
    rng = np.random.default_rng(seed)
    sizes = [1 + len(space)] + [width] * depth + [1]
    layers = [
        (jnp.asarray(rng.normal(0, 1 / np.sqrt(a), (a, b))), jnp.asarray(rng.normal(0, 0.1, b)))
        for a, b in zip(sizes[:-1], sizes[1:])
    ]
    return MLPProxyVoltageModel(layers=layers, space=space)


def voltage_model_for(name, args):
    if name == "surrogate":
        return jaxbatt.load_surrogate("spm")
    if name == "solver":
        return SolverVoltageModel("spm", c_rate=2.0)
    if name == "mlp-proxy":
        return mlp_proxy(nrel_parameter_space())
    raise SystemExit(f"unknown --model {name!r}")


def data_for(model, truth, seed, source="solver"):
    """The numerical solver's curve at `truth` (the voltage model's own curve for the proxy,
    or when `source` is "model") + noise."""
    theta = model.space.validate(truth)
    if isinstance(model, MLPProxyVoltageModel) or source == "model":
        clean = np.asarray(model.voltage_vector(jnp.asarray(theta), jnp.asarray(TIMES)))
    else:
        clean = np.asarray(jaxbatt.simulate("spm", truth, t=TIMES, c_rate=2.0).voltage)
    return clean + NOISE * np.random.default_rng(seed).standard_normal(TIMES.size)


def example_for(model):
    ex = load_example()
    if isinstance(model, MLPProxyVoltageModel):
        return ex.t, data_for(model, ex.truth, 0), ex.truth
    return ex.t, ex.v, ex.truth


def run_calibration(model, t, v, *, compile=True, **settings):
    """calibrate() with its wall time; `compile` forgets cached samplers first, so the time
    includes compilation."""
    if compile:
        clear_cache()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        start = time.perf_counter()
        result = calibrate(t, v, voltage_model=model, progress_bar=False, **settings)
        wall = time.perf_counter() - start
    flags = [str(w.message).split(": ", 1)[-1].split(". Run")[0] for w in caught
             if issubclass(w.category, ConvergenceWarning)]  # fmt: skip
    return result, wall, flags


def describe(result):
    parts = []
    for name, s in result.summary.items():
        if np.ndim(s["mean"]):
            continue  # the discrepancy coefficients (surrogate_error="correlated")
        scale, unit = (1e3, " mV") if name == "sigma" else (1.0, "")
        parts.append(f"{name} {s['mean'] * scale:.4g} +- {s['std'] * scale:.2g}{unit} "
                     f"(r_hat {s['r_hat']:.3f}, ess {s['ess']:.0f})")  # fmt: skip
    return "; ".join(parts)


def bench_chain_methods(model, args, out):
    t, v, _ = example_for(model)
    rows = []
    for method in ("sequential", "vectorized"):
        settings = dict(num_chains=4, num_warmup=args.cm_warmup, num_samples=args.cm_samples,
                        chain_method=method, seed=args.seed)  # fmt: skip
        res, first, _ = run_calibration(model, t, v, **settings)
        rerun = dict(settings, seed=args.seed + 1)
        _, second, _ = run_calibration(model, t, v, compile=False, **rerun)
        rows.append([method, f"{first:.1f}", f"{second:.1f}", f"{res.num_steps.mean():.1f}",
                     f"{res.num_steps.max(axis=0).mean():.1f}"])  # fmt: skip
        out["chain_methods"][method] = {"first_s": first, "cached_s": second,
                                        "mean_steps": float(res.num_steps.mean())}  # fmt: skip
    print(f"\n## chain methods: {model.name}, 4 chains x ({args.cm_warmup} + {args.cm_samples})")
    print(table(rows, ["chain_method", "compile+sample [s]", "cached rerun [s]",
                       "mean leapfrog steps", "mean max-over-chains steps"]))  # fmt: skip


def bench_main(model, args, out, key="main", settings=None, label=None):
    t, v, truth = example_for(model)
    settings = settings or dict(num_chains=4, num_warmup=1000, num_samples=1000, seed=args.seed,
                                surrogate_error=args.surrogate_error)  # fmt: skip
    res, wall, flags = run_calibration(model, t, v, **settings)
    z = {n: abs(res.summary[n]["mean"] - truth[n]) / res.summary[n]["std"] for n in truth}
    print(f"\n## {label or key}: {model.name}, {settings['num_chains']} chain(s) x "
          f"({settings['num_warmup']} + {settings['num_samples']}), bundled example")  # fmt: skip
    print(f"wall time (compile + sampling): {wall:.1f} s; divergences {res.num_divergences}; "
          f"mean leapfrog steps {res.num_steps.mean():.1f}")  # fmt: skip
    print(describe(res))
    print("|mean - truth| / std: " + ", ".join(f"{n} {val:.2f}" for n, val in z.items()))
    if flags:
        print("diagnostic warnings: " + "; ".join(flags))
    out[key] = {
        "model": model.name, "settings": settings, "wall_s": wall,
        "summary": {n: {k: np.asarray(x).tolist() for k, x in s.items()}
                    for n, s in res.summary.items()},  # fmt: skip
        "divergences": res.num_divergences, "warnings": flags,
    }  # fmt: skip
    return res


def bench_coverage(model, args, out):
    space = model.space
    rng = np.random.default_rng(args.seed + 1000)
    truths = space.from_unit(rng.uniform(size=(args.coverage_datasets, len(space))))
    hits = {n: [] for n in (*space.names, "sigma")}
    settings = dict(num_chains=args.coverage_chains, num_warmup=args.coverage_warmup,
                    num_samples=args.coverage_samples,
                    surrogate_error=args.surrogate_error)  # fmt: skip
    rows, start = [], time.perf_counter()
    for k, theta in enumerate(truths):
        truth = dict(zip(space.names, map(float, theta)))
        v = data_for(model, truth, seed=10_000 + k, source=args.coverage_data)
        res, wall, flags = run_calibration(model, TIMES, v, compile=k == 0, seed=k, **settings)
        cells = [str(k)]
        for n, value in (*truth.items(), ("sigma", NOISE)):
            s = res.summary[n]
            hits[n].append(bool(s["q05"] <= value <= s["q95"]))
            scale = 1e3 if n == "sigma" else 1.0
            cells.append(f"{value * scale:.3g} in [{s['q05'] * scale:.3g}, {s['q95'] * scale:.3g}]"
                         + ("" if hits[n][-1] else " MISS"))  # fmt: skip
        cells += [f"{wall:.1f}", "yes" if flags else ""]
        rows.append(cells)
        print(" | ".join(cells), flush=True)
    total = time.perf_counter() - start
    fractions = {n: float(np.mean(h)) for n, h in hits.items()}
    print(f"\n## coverage: {model.name}, data from the {args.coverage_data}, "
          f"surrogate_error={args.surrogate_error}, "
          f"{args.coverage_datasets} datasets, "
          f"{settings['num_chains']} chains x ({settings['num_warmup']} + "
          f"{settings['num_samples']}), {total:.0f} s in all")  # fmt: skip
    print(table(rows, ["dataset", *space.names, "sigma [mV]", "wall [s]", "warned"]))
    print("(dataset 0's wall time includes compilation; the others reuse the compiled sampler)")
    print("fraction of 90 % intervals containing the truth: "
          + ", ".join(f"{n} {f:.2f}" for n, f in fractions.items())
          + f" (binomial standard error at 0.9: {np.sqrt(0.09 / args.coverage_datasets):.2f})")
    out["coverage"] = {"model": model.name, "data": args.coverage_data, "settings": settings, "fractions": fractions,
                       "datasets": int(args.coverage_datasets), "wall_s": total,
                       "truths": truths.tolist(), "hits": hits}  # fmt: skip


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="surrogate", help="surrogate, solver or mlp-proxy")
    parser.add_argument("--runs", default="chain-methods,main,solver,reference,coverage")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cm-warmup", type=int, default=1000)
    parser.add_argument("--cm-samples", type=int, default=1000)
    parser.add_argument("--coverage-datasets", type=int, default=20)
    parser.add_argument("--coverage-chains", type=int, default=4)
    parser.add_argument("--coverage-warmup", type=int, default=500)
    parser.add_argument("--coverage-samples", type=int, default=500)
    parser.add_argument("--coverage-data", choices=("solver", "model"), default="solver",
                        help="coverage curves from the numerical solver (default) or from the "
                        "voltage model itself (isolates the inference from the model's error)")
    parser.add_argument("--surrogate-error", choices=("white", "correlated", "none"),
                        default="white",
                        help="how the voltage model's error enters the main and coverage "
                        "runs: white noise (default, as before), a correlated discrepancy, "
                        "or none")
    parser.add_argument("--solver-chains", type=int, default=4)
    parser.add_argument("--solver-warmup", type=int, default=1000)
    parser.add_argument("--solver-samples", type=int, default=1000)
    parser.add_argument("--json", help="also write the figures to this JSON file")
    args = parser.parse_args()
    runs = [r.strip() for r in args.runs.split(",") if r.strip()]

    print(f"# calibration benchmark, {datetime.date.today()}\n# machine: {machine()}")
    print(f"# jax devices: {jax.devices()}; runs: {runs}")
    model = voltage_model_for(args.model, args)
    out = {"machine": machine(), "date": str(datetime.date.today()), "model": model.name,
           "chain_methods": {}}  # fmt: skip
    if "chain-methods" in runs:
        bench_chain_methods(model, args, out)
    main_result = bench_main(model, args, out) if "main" in runs else None
    if "solver" in runs and args.model != "solver":
        settings = dict(num_chains=args.solver_chains, num_warmup=args.solver_warmup,
                        num_samples=args.solver_samples, seed=args.seed)  # fmt: skip
        exact = bench_main(voltage_model_for("solver", args), args, out, key="solver",
                           settings=settings, label="exact solver")  # fmt: skip
        if main_result is not None:
            gaps = {n: abs(main_result.summary[n]["mean"] - exact.summary[n]["mean"])
                    / exact.summary[n]["std"] for n in model.space.names}  # fmt: skip
            print("surrogate vs exact posterior means, in exact posterior std: "
                  + ", ".join(f"{n} {g:.2f}" for n, g in gaps.items()) + " (target <= 0.2); "
                  f"wall-time ratio exact / {model.name}: "
                  f"{out['solver']['wall_s'] / out['main']['wall_s']:.1f}x")  # fmt: skip
            out["surrogate_vs_solver"] = {"mean_gap_in_std": gaps}
    if "reference" in runs:
        settings = dict(num_chains=1, num_warmup=10_000, num_samples=4_000, sigma=NOISE,
                        seed=args.seed)  # fmt: skip
        bench_main(model, args, out, key="reference", settings=settings,
                   label="reference recipe (sigma fixed at 3 mV)")  # fmt: skip
    if "coverage" in runs:
        bench_coverage(model, args, out)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(out, f, indent=2, default=str)


if __name__ == "__main__":
    main()
