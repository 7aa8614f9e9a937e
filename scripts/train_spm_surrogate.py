"""Reproduce the bundled SPM surrogate (jaxbatt/data/surrogates/spm.eqx).

    python scripts/train_spm_surrogate.py [--out jaxbatt/data/surrogates/spm.eqx] [--resume]

One level over the whole default parameter box of the nrel cell (2C, t in [0, 1350] s):
a separable network (parameter branch x time/radius trunks) trained with Adam on the physics
residuals plus numerical-solver data at 256 parameter sets, on tensor-grid batches (every
collocation point at 16 parameter sets). Writes the model and a JSON log summary next to it.
Interrupted runs continue with --resume. `--levels 2` adds a hierarchy level trained with
the same settings.
"""

import argparse
import json
import pathlib
import platform
import time

import jax

import jaxbatt  # noqa: F401
from jaxbatt.surrogates import LossConfig, NetworkConfig, TrainConfig, level_path, train_hierarchy

NETWORK = NetworkConfig(architecture="separable", block="modified", width=64, depth=3)
LEVEL1 = TrainConfig(
    adam_steps=20_000, lbfgs_steps=0, learning_rate=1e-3, final_learning_rate=1e-5,
    loss=LossConfig(n_interior=128, n_boundary=64, n_data=64, parameter_grid=16),
    n_data_parameters=256, chunk=500, validate_every=2000, seed=0,
)  # fmt: skip
LEVEL2 = LEVEL1


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default="jaxbatt/data/surrogates/spm.eqx")
    parser.add_argument("--levels", type=int, default=1)
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
