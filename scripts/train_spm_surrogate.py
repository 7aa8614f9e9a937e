"""Reproduce the bundled SPM surrogate (jaxbatt/data/surrogates/spm.eqx).

    python scripts/train_spm_surrogate.py [--out jaxbatt/data/surrogates/spm.eqx] [--resume]

Two-level hierarchy over the whole default parameter box of the nrel cell (2C, t in [0, 1350]
s): level 1 trains on the physics residuals plus numerical-solver data, level 2 learns a
scaled correction. Writes the model, its per-level checkpoints and a JSON log summary next to
it. Interrupted runs continue with --resume.
"""

import argparse
import json
import pathlib
import platform
import time

import jax

import jaxbatt  # noqa: F401
from jaxbatt.surrogates import NetworkConfig, TrainConfig, level_path, train_hierarchy

NETWORK = NetworkConfig(architecture="merged", block="modified", width=24, depth=3)
LEVEL1 = TrainConfig(
    adam_steps=2000, lbfgs_steps=5000, lbfgs_round=1000, n_data_parameters=64,
    validate_every=500, seed=0,
)  # fmt: skip
LEVEL2 = TrainConfig(
    adam_steps=500, lbfgs_steps=3000, lbfgs_round=1000, learning_rate=3e-4,
    final_learning_rate=3e-5, n_data_parameters=64, validate_every=500, seed=0,
)  # fmt: skip


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default="jaxbatt/data/surrogates/spm.eqx")
    parser.add_argument("--levels", type=int, default=2)
    parser.add_argument("--resume", action="store_true")
    args = parser.parse_args()
    start = time.perf_counter()
    result = train_hierarchy(
        args.levels, args.out, network=NETWORK, config=LEVEL1, upper_config=LEVEL2,
        seed=0, resume=args.resume,
    )  # fmt: skip
    wall = time.perf_counter() - start
    out = pathlib.Path(args.out)
    summary = {
        "date": time.strftime("%Y-%m-%d"),
        "machine": f"{platform.processor() or platform.machine()}, {jax.device_count()} x {jax.devices()[0].device_kind}",
        "wall_s_this_invocation": wall,
        "network": NETWORK.__dict__,
        "levels": args.levels,
        "level1": LEVEL1.to_dict(),
        "level2": LEVEL2.to_dict(),
        "history": result.history,
        "error_std_V": result.surrogate.error_std,
    }
    out.with_suffix(".train.json").write_text(json.dumps(summary, indent=1))
    for level in range(1, args.levels + 1):
        path = level_path(out, level)
        if path.exists() and args.levels > 1:
            path.unlink()  # only the final model ships
    for state in out.parent.glob(f"{out.stem}*.state"):
        state.unlink()  # training states are for --resume only
    last = result.history[-1] if result.history else {}
    print(
        f"done in {wall:.0f} s: validation mean {last.get('val_mean_mV')} mV, "
        f"max {last.get('val_max_mV')} mV"
    )


if __name__ == "__main__":
    main()
