"""Can the P2D surrogate's posterior be trusted? (issue 11, item 6)

exact     On the bundled P2D example (numerical P2D at k_i0 = k_Ds = 2, 3 mV noise), the
          exact posterior of the calibration model (uniform prior on the box, sigma ~
          HalfNormal(5 mV), Gaussian likelihood with the numerical P2D) on a parameter grid:
          every grid point one vmapped P2D solve (jaxbatt's defaults, the solver of
          ``likelihood="solver"``), sigma integrated out on a grid. A coarse grid over the box
          locates the mass, a fine grid over mean +- 6 sd measures it. Against it, NUTS with
          the surrogate (`jaxbatt.calibrate(..., model="p2d")`, its defaults): the distance of
          the means in exact-posterior sd (target <= 0.2) and the sd ratio (target [0.8, 1.25]).
coverage  20 synthetic P2D curves at random truths (uniform over the box, 3 mV noise, fixed
          seeds), each calibrated with the surrogate: the fraction of central 90 % intervals
          containing the truth, per parameter (target 0.9 +- 0.07).

    python benchmarks/bench_p2d_trust.py [--runs exact,coverage] [--grid 41]
"""

import argparse
import datetime
import time

import jax
import jax.numpy as jnp
import numpy as np
from _common import machine, table

import jaxbatt
from jaxbatt.inference import load_example
from jaxbatt.surrogates._p2d_losses import p2d_solver

SIGMA_PRIOR = 5e-3  # V: calibrate's default HalfNormal scale
SIGMAS = np.geomspace(2e-4, 3e-2, 600)  # V


def _solver_curves(surrogate, t):
    solver = p2d_solver(surrogate)
    solve = jax.jit(jax.vmap(lambda th: solver.solve(th, jnp.asarray(t), surrogate.c_rate).voltage))

    def curves(thetas, chunk=128):
        out = [np.asarray(solve(jnp.asarray(thetas[i : i + chunk]))) for i in range(0, len(thetas), chunk)]
        return np.concatenate(out)

    return curves


def _grid_posterior(curves, t, v, lo, hi, n):
    """Marginal means and sds of the exact posterior on an n x n grid over [lo, hi]."""
    axes = [np.linspace(lo[k], hi[k], n) for k in range(2)]
    grid = np.stack(np.meshgrid(*axes, indexing="ij"), -1).reshape(-1, 2)
    model = curves(grid)  # (n^2, T)
    sse = np.sum((model - v) ** 2, axis=1)  # (n^2,)
    # log int N(v | model, sigma) HalfNormal(sigma) dsigma, on the sigma grid (trapezoid)
    log_prior = np.log(2.0) - 0.5 * np.log(2 * np.pi * SIGMA_PRIOR**2) - 0.5 * (SIGMAS / SIGMA_PRIOR) ** 2
    log_like = -0.5 * sse[:, None] / SIGMAS**2 - t.size * np.log(SIGMAS) + log_prior
    peak = log_like.max()
    weight_sigma = np.trapezoid(np.exp(log_like - peak), SIGMAS, axis=1)
    w = weight_sigma / weight_sigma.sum()  # uniform prior, uniform grid
    if not np.all(np.isfinite(model)):
        raise RuntimeError("the P2D solver failed at some grid points")
    mean = w @ grid
    sd = np.sqrt(w @ (grid - mean) ** 2)
    edge = w.reshape(n, n)
    edge_mass = edge[0].sum() + edge[-1].sum() + edge[:, 0].sum() + edge[:, -1].sum()
    return mean, sd, float(edge_mass)


def run_exact(args):
    example = load_example("p2d_2c_example")
    surrogate = jaxbatt.load_surrogate("p2d")
    space = surrogate.space
    curves = _solver_curves(surrogate, example.t)
    start = time.perf_counter()
    lo, hi = np.asarray(space.lower), np.asarray(space.upper)
    mean, sd, _ = _grid_posterior(curves, example.t, example.v, lo, hi, args.coarse)
    lo2, hi2 = np.maximum(lo, mean - 6 * sd), np.minimum(hi, mean + 6 * sd)
    mean, sd, edge = _grid_posterior(curves, example.t, example.v, lo2, hi2, args.grid)
    grid_s = time.perf_counter() - start
    print(f"exact posterior: {args.coarse}^2 coarse + {args.grid}^2 fine P2D solves over "
          f"{np.round(lo2, 3).tolist()} - {np.round(hi2, 3).tolist()} in {grid_s:.0f} s; "
          f"mass on the fine grid's edge {edge:.1e}")  # fmt: skip
    start = time.perf_counter()
    result = jaxbatt.calibrate(example.t, example.v, model="p2d", progress_bar=False)
    nuts_s = time.perf_counter() - start
    rows = []
    for k, name in enumerate(space.names):
        s = result.summary[name]
        rows.append([
            name, f"{mean[k]:.4f}", f"{sd[k]:.4f}", f"{s['mean']:.4f}", f"{s['std']:.4f}",
            f"{abs(s['mean'] - mean[k]) / sd[k]:.3f}", f"{s['std'] / sd[k]:.3f}",
            f"{example.truth[name]:g}",
        ])  # fmt: skip
    print(f"surrogate NUTS (calibrate defaults, model='p2d'): {nuts_s:.0f} s incl. compile; "
          f"sigma {1e3 * result.summary['sigma']['mean']:.2f} mV")  # fmt: skip
    print(table(rows, ["parameter", "exact mean", "exact sd", "surrogate mean", "surrogate sd",
                       "|dmean| / sd", "sd ratio", "truth"]))  # fmt: skip


def run_coverage(args):
    surrogate = jaxbatt.load_surrogate("p2d")
    space = surrogate.space
    t = np.linspace(10.0, 1350.0, 100)
    rng = np.random.default_rng(1234)
    truths = space.from_unit(rng.uniform(size=(args.datasets, len(space))))
    clean = _solver_curves(surrogate, t)(truths)
    hits = {n: [] for n in space.names}
    rows, start = [], time.perf_counter()
    for k, theta in enumerate(truths):
        v = clean[k] + 3e-3 * np.random.default_rng(10_000 + k).standard_normal(t.size)
        res = jaxbatt.calibrate(t, v, model="p2d", num_samples=args.samples, seed=k, progress_bar=False)
        cells = [str(k)]
        for name, value in zip(space.names, theta):
            s = res.summary[name]
            hits[name].append(bool(s["q05"] <= value <= s["q95"]))
            cells.append(f"{value:.3g} in [{s['q05']:.3g}, {s['q95']:.3g}]" + ("" if hits[name][-1] else " MISS"))
        rows.append(cells)
        print(" | ".join(cells), flush=True)
    print(f"\n{args.datasets} curves in {time.perf_counter() - start:.0f} s; calibrate defaults "
          f"but {args.samples} samples per chain")  # fmt: skip
    print(table(rows, ["curve", *space.names]))
    print("fraction of 90 % intervals containing the truth: "
          + ", ".join(f"{n} {np.mean(h):.2f}" for n, h in hits.items())
          + f" (binomial standard error at 0.9: {np.sqrt(0.09 / args.datasets):.2f})")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", default="exact,coverage")
    parser.add_argument("--coarse", type=int, default=25)
    parser.add_argument("--grid", type=int, default=41)
    parser.add_argument("--datasets", type=int, default=20)
    parser.add_argument("--samples", type=int, default=1000)
    args = parser.parse_args()
    print(f"# P2D surrogate trust, {datetime.date.today()}\n# machine: {machine()}")
    runs = args.runs.split(",")
    if "exact" in runs:
        run_exact(args)
    if "coverage" in runs:
        run_coverage(args)


if __name__ == "__main__":
    main()
