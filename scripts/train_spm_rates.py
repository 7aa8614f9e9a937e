"""Reproduce the bundled rate-input SPM surrogate (jaxbatt/data/surrogates/spm_rates.eqx).

    python scripts/train_spm_rates.py [--out jaxbatt/data/surrogates/spm_rates.eqx] [--resume]

The nrel cell over the whole default parameter box and discharge rates 0.5C-5C (from the
initial state, t in [0, 2700 s / C]: the depth of discharge of the 2C surrogate's 1350 s):
the bundled SPM surrogate's network and loss, with the log-rate as a further branch input,
collocation and solver data at log-uniform rates (the box's corners at both ends of the
range); the recipe lives in `jaxbatt.surrogates._recipes` (``jaxbatt train spm --c-rates
0.5:5`` trains the same). Writes the model and a JSON log summary next to it; interrupted runs continue with
--resume.
"""

import argparse
import json
import pathlib
import platform
import time

import jax

import jaxbatt  # noqa: F401
from jaxbatt.surrogates import TrainConfig, train_hierarchy
from jaxbatt.surrogates._recipes import RATES_NETWORK as NETWORK
from jaxbatt.surrogates._recipes import RATES_RANGE as RATES
from jaxbatt.surrogates._recipes import RATES_TRAIN as CONFIG


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default="jaxbatt/data/surrogates/spm_rates.eqx")
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--steps", type=int, default=CONFIG.adam_steps)
    args = parser.parse_args()
    config = CONFIG if args.steps == CONFIG.adam_steps else TrainConfig(
        **{**CONFIG.__dict__, "adam_steps": args.steps}
    )  # fmt: skip
    start = time.perf_counter()
    result = train_hierarchy(
        1, args.out, network=NETWORK, config=config, seed=0, resume=args.resume,
        c_rate_range=RATES,
    )  # fmt: skip
    wall = time.perf_counter() - start
    out = pathlib.Path(args.out)
    summary = {
        "date": time.strftime("%Y-%m-%d"),
        "machine": f"{platform.processor() or platform.machine()}, {jax.device_count()} x {jax.devices()[0].device_kind}",
        "wall_s_this_invocation": wall,
        "c_rate_range": list(RATES),
        "network": NETWORK.__dict__,
        "train": config.to_dict(),
        "history": result.history,
        "error_std_V": result.surrogate.error_std,
    }
    out.with_suffix(".train.json").write_text(json.dumps(summary, indent=1))
    for state in out.parent.glob(f"{out.stem}*.state"):
        state.unlink()  # training states are for --resume only
    last = result.history[-1] if result.history else {}
    print(
        f"done in {wall:.0f} s: validation mean {last.get('val_mean_mV')} mV, "
        f"max {last.get('val_max_mV')} mV"
    )


if __name__ == "__main__":
    main()
