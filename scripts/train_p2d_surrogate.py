"""Reproduce the bundled P2D surrogate (jaxbatt/data/surrogates/p2d.eqx).

    python scripts/train_p2d_surrogate.py [--out jaxbatt/data/surrogates/p2d.eqx] [--resume]

The nrel cell at 2C, t in [0, 1350] s, over the whole default parameter box: the recipe
`P2D_TRAIN` of `jaxbatt.surrogates._recipes` (every P2D residual, the boundary, interface and
integral terms, plus P2D solver fields and voltage at `n_data_parameters` sets; ``jaxbatt
train p2d`` runs the same). Writes the model and a JSON log summary next to it; an
interrupted run continues with --resume.
"""

import argparse
import json
import pathlib
import platform
import time

import jax

import jaxbatt  # noqa: F401
from jaxbatt.surrogates import train
from jaxbatt.surrogates._p2d import p2d_surrogate
from jaxbatt.surrogates._recipes import P2D_NETWORK as NETWORK
from jaxbatt.surrogates._recipes import P2D_TRAIN as CONFIG


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default="jaxbatt/data/surrogates/p2d.eqx")
    parser.add_argument("--resume", action="store_true")
    args = parser.parse_args()
    out = pathlib.Path(args.out)
    start = time.perf_counter()
    surrogate = p2d_surrogate(NETWORK, key=jax.random.key(CONFIG.seed))
    result = train(surrogate, CONFIG, checkpoint=out, resume=args.resume)
    wall = time.perf_counter() - start
    summary = {
        "date": time.strftime("%Y-%m-%d"),
        "machine": f"{platform.processor() or platform.machine()}, {jax.device_count()} x {jax.devices()[0].device_kind}",
        "wall_s_this_invocation": wall,
        "network": NETWORK.__dict__,
        "train": CONFIG.to_dict(),
        "n_data_parameters": CONFIG.n_data_parameters,
        "history": result.history,
        "error_std_V": result.surrogate.error_std,
    }
    out.with_suffix(".train.json").write_text(json.dumps(summary, indent=1))
    state = pathlib.Path(str(out) + ".state")
    if state.exists():
        state.unlink()  # for --resume only
    last = result.history[-1] if result.history else {}
    print(
        f"done in {wall:.0f} s: validation mean {last.get('val_mean_mV')} mV, "
        f"max {last.get('val_max_mV')} mV"
    )


if __name__ == "__main__":
    main()
