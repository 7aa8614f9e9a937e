"""What makes physics-informed training of the SPM surrogate work (issue 10, items 2-4).

Three studies, each a table of voltage error on held-out parameter sets against the numerical
solver and the wall time of each training (compile and training data included), every row
from the same seed, network and number of optimiser steps unless the row says otherwise:

    ablation   the ingredients of the physics-only recipe one at a time (concentration ansatz:
               what is built in; L-BFGS refinement; tensor-grid parameter batches)
    low-data   the recipe plus solver data at the reference's five parameter sets (the box's
               four corners and (2, 2)) beside data-only and physics-only on the same network
    hierarchy  one level against two at equal optimiser steps, per variant of level 1 (same
               problem; only t <= t*; one fixed parameter set; coarse collocation)

    python benchmarks/bench_pinn_recipe.py --study ablation [--width 32] [--steps 1500]
        [--n-test 32] [--only LABEL,...]

The full recipe (`PHYSICS_ONLY_RECIPE`: width 64, 4000 Adam steps) takes about 20 min on a
2-core CPU; the studies default to a smaller budget so that a table fits in an hour, and say
so in their header. Kinetics do not enter the SPM's physics loss (the concentrations obey
linear diffusion with a known flux; the voltage is an algebraic function of them), so a
linearised -> full Butler-Volmer curriculum or a linearised-kinetics level 1 cannot change
what is trained; they are not rows.
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
    PHYSICS_ONLY_RECIPE, NetworkConfig, solver_data, spm_surrogate, train_hierarchy,
    voltage_errors_mV,
)  # fmt: skip

PENALISED = (("diffusion", 10.0), ("symmetry", 1.0), ("surface_flux", 250.0))  # reference weights
FLUX_PENALISED = (("diffusion", 10.0), ("symmetry", 0.0), ("surface_flux", 250.0))
# the reference's five solver sets: the four corners of the (k_i0, k_Ds) box and (2, 2)
FIVE_SETS = ((0.5, 1.0), (4.0, 1.0), (0.5, 10.0), (4.0, 10.0), (2.0, 2.0))


def _loss(config, **changes):
    return dataclasses.replace(config, loss=dataclasses.replace(config.loss, **changes))


def ablation_rows(base):
    """(label, config, ansatz) of each one-level row"""
    lbfgs = dataclasses.replace(base, lbfgs_steps=1000, lbfgs_round=500)
    return [
        ("sigmoid ansatz, symmetry + flux penalised", _loss(base, weights=PENALISED), "sigmoid"),
        ("symmetric ansatz (s = r^2), flux penalised", _loss(base, weights=FLUX_PENALISED), "symmetric"),
        ("+ exact inventory, flux penalised", _loss(base, weights=FLUX_PENALISED), "inventory"),
        ("+ exact flux, inventory free", base, "flux"),
        ("conservative: inventory + flux exact (recipe)", base, "conservative"),
        ("conservative, pointwise parameters (no grid)", _loss(base, parameter_grid=0, n_interior=2048), "conservative"),
        ("conservative + 1000 L-BFGS steps", lbfgs, "conservative"),
    ]  # fmt: skip


def low_data_rows(base):
    # a weight left out of LossConfig.weights is 0: the data term needs its own
    data = dataclasses.replace(
        base, data_parameters=FIVE_SETS,
        loss=dataclasses.replace(base.loss, n_data=64, weights=(*base.loss.weights, ("data", 1.0))),
    )  # fmt: skip
    data_only = _loss(data, weights=(("diffusion", 0.0), ("symmetry", 0.0), ("surface_flux", 0.0), ("data", 1.0)))

    def refined(config):  # the ablation's L-BFGS refinement after Adam
        return dataclasses.replace(config, lbfgs_steps=1000, lbfgs_round=500)

    return [
        ("physics only (recipe)", base, "conservative"),
        ("physics + data at 5 sets", data, "conservative"),
        ("data only at 5 sets, conservative ansatz", data_only, "conservative"),
        ("data only at 5 sets, sigmoid ansatz", data_only, "sigmoid"),
        ("physics + data at 5 sets + 1000 L-BFGS", refined(data), "conservative"),
        ("data only at 5 sets, conservative + 1000 L-BFGS", refined(data_only), "conservative"),
    ]  # fmt: skip


def hierarchy_rows(base, t_star):
    half = dataclasses.replace(base, adam_steps=base.adam_steps // 2)
    return [
        ("one level", 1, base, base, None),
        ("two levels, same problem", 2, half, half, None),
        (f"two levels, level 1 on t <= {t_star:g} s", 2, _loss(half, t_window=t_star), half, None),
        ("two levels, level 1 at (2, 2) only", 2, half, half, (2.0, 2.0)),
        ("two levels, level 1 with 1/4 collocation", 2, _loss(half, n_interior=half.loss.n_interior // 4), half, None),
    ]  # fmt: skip


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--study", choices=("ablation", "low-data", "hierarchy"), required=True)
    parser.add_argument("--width", type=int, default=32)
    parser.add_argument("--steps", type=int, default=1500, help="Adam steps of one level")
    parser.add_argument("--n-test", type=int, default=32, help="held-out parameter sets")
    parser.add_argument("--t-star", type=float, default=450.0)
    parser.add_argument("--only", default="", help="comma-separated row numbers (1-based)")
    args = parser.parse_args()
    network0, recipe, _ = PHYSICS_ONLY_RECIPE
    network = dataclasses.replace(network0, width=args.width)
    base = dataclasses.replace(recipe, adam_steps=args.steps, validate_every=args.steps)
    print(f"# PINN recipe study '{args.study}', {datetime.date.today()}\n# machine: {machine()}")
    print(
        f"# separable {network.block} width {network.width} depth {network.depth}; {args.steps} "
        f"Adam steps per row (lr {base.learning_rate:g} -> {base.final_learning_rate:g}), "
        f"{base.loss.n_interior} collocation points x {base.loss.parameter_grid} parameter "
        f"sets per step unless the row says otherwise; error on {args.n_test} held-out sets, "
        "135 times in (0, 1350] s, solver with 30 shells",
        flush=True,
    )
    if args.study == "ablation":
        rows = [(label, 1, cfg, cfg, ansatz, None) for label, cfg, ansatz in ablation_rows(base)]
    elif args.study == "low-data":
        rows = [(label, 1, cfg, cfg, ansatz, None) for label, cfg, ansatz in low_data_rows(base)]
    else:
        rows = [(*r[:4], "conservative", r[4]) for r in hierarchy_rows(base, args.t_star)]
    keep = {int(i) for i in args.only.split(",") if i}
    tmp = tempfile.mkdtemp()
    probe = spm_surrogate(NetworkConfig(width=4), key=jax.random.key(0))
    theta = probe.space.from_unit(np.random.default_rng(99).uniform(size=(args.n_test, 2)))
    # t > 0: the surrogate is exact at t = 0, the solver's surface extrapolation is not
    held_out = solver_data(probe, theta, t=np.linspace(0, 1350, 136)[1:])
    out = []
    for i, (label, levels, cfg, upper, ansatz, fixed) in enumerate(rows, 1):
        if keep and i not in keep:
            continue
        start = time.perf_counter()
        first = spm_surrogate(
            network, key=jax.random.split(jax.random.key(cfg.seed), levels)[0],
            fixed_parameters=fixed, ansatz=ansatz,
        )  # fmt: skip
        result = train_hierarchy(
            levels, f"{tmp}/{i}.eqx", network=network, config=cfg, upper_config=upper,
            seed=cfg.seed, progress=False, surrogate=first, ansatz=ansatz,
        )  # fmt: skip
        wall = time.perf_counter() - start
        err = np.asarray(voltage_errors_mV(result.surrogate, held_out))
        steps = cfg.adam_steps + cfg.lbfgs_steps + (levels - 1) * (upper.adam_steps + upper.lbfgs_steps)
        n_sets = cfg.n_data_parameters if cfg.loss.n_data else 0
        out.append([i, label, n_sets, steps, f"{wall:.0f}", f"{err.mean():.3g}", f"{err.max():.3g}"])
        print(" | ".join(map(str, out[-1])), flush=True)
    print(table(out, ["#", "variant", "solver sets", "steps", "wall [s]", "mean |dV| [mV]", "max |dV| [mV]"]))


if __name__ == "__main__":
    main()
