"""Reproduce the bundled physics-only SPM surrogate (jaxbatt/data/surrogates/spm_physics.eqx).

    python scripts/train_spm_physics.py [--out jaxbatt/data/surrogates/spm_physics.eqx] [--resume]
        [--levels 2 --level1-at 2,2]

No solver data anywhere in the loss (the solver only validates): one separable level over the
whole default parameter box of the nrel cell (2C, t in [0, 1350] s) with the conservative
concentration ansatz (`jaxbatt.surrogates._ansatz`: lithium inventory by Coulomb counting,
the r = 0 symmetry and the surface-flux condition built in), trained with Adam on the interior
diffusion residual alone, on tensor-grid batches (every collocation point at 16 parameter
sets). `jaxbatt train spm --physics-only` runs the same recipe. ``--levels 2 --level1-at K_I0,K_DS``
trains the reference's fixed-parameter hierarchy instead: level 1 at that one parameter set,
level 2 (a frozen level 1 plus a correction) over the box, the recipe's Adam steps split
evenly between the two levels (equal optimiser steps). Writes the model and a JSON
log summary next to it; interrupted runs continue with --resume.
"""

import argparse
import dataclasses
import json
import pathlib
import platform
import time

import jax

import jaxbatt  # noqa: F401
from jaxbatt._cli import float_list
from jaxbatt.surrogates import PHYSICS_ONLY_RECIPE, level_path, train_hierarchy


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default="jaxbatt/data/surrogates/spm_physics.eqx")
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--levels", type=int, default=1)
    parser.add_argument("--level1-at", type=float_list, default=None, metavar="K_I0,K_DS",
                        help="k_i0,k_Ds of level 1 (with --levels 2 or more)")
    args = parser.parse_args()
    network, config, options = PHYSICS_ONLY_RECIPE
    level1 = args.level1_at
    if args.levels > 1:
        config = dataclasses.replace(config, adam_steps=config.adam_steps // args.levels)
    start = time.perf_counter()
    result = train_hierarchy(
        args.levels, args.out, network=network, config=config, seed=config.seed,
        resume=args.resume, level1_parameters=level1, **options,
    )  # fmt: skip
    wall = time.perf_counter() - start
    out = pathlib.Path(args.out)
    summary = {
        "date": time.strftime("%Y-%m-%d"),
        "machine": f"{platform.processor() or platform.machine()}, {jax.device_count()} x {jax.devices()[0].device_kind}",
        "wall_s_this_invocation": wall,
        "network": network.__dict__,
        "options": options,
        "levels": args.levels,
        "level1_parameters": level1,
        "level1": config.to_dict(),
        "n_data_parameters": 0,
        "history": result.history,
        "error_std_V": result.surrogate.error_std,
    }
    out.with_suffix(".train.json").write_text(json.dumps(summary, indent=1))
    if args.levels > 1:  # the per-level checkpoints are for --resume only
        for level in range(1, args.levels + 1):
            level_path(out, level).unlink(missing_ok=True)
    for state in out.parent.glob(f"{out.stem}*.state"):
        state.unlink()  # training states are for --resume only
    last = result.history[-1] if result.history else {}
    print(
        f"done in {wall:.0f} s: validation mean {last.get('val_mean_mV')} mV, "
        f"max {last.get('val_max_mV')} mV"
    )


if __name__ == "__main__":
    main()
