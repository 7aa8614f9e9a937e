"""Reproduce the bundled rate-input SPM surrogate (jaxbatt/data/surrogates/spm_rates.eqx).

    python scripts/train_spm_rates.py [--out jaxbatt/data/surrogates/spm_rates.eqx] [--resume]

The nrel cell over the whole default parameter box and discharge rates 0.5C-5C (from the
initial state, t in [0, 2700 s / C]: the depth of discharge of the 2C surrogate's 1350 s):
the bundled SPM surrogate's network and loss, with the log-rate as a further branch input,
collocation and solver data at log-uniform rates (the box's corners at both ends of the
range); then a second stage from that model with rates drawn uniformly in C (more of them at
the high rates) and a lower learning rate. The recipes live in `jaxbatt.surrogates._recipes`
(``jaxbatt train spm --c-rates 0.5:5`` trains the first stage). The first stage's model is
kept as ``<out>.stage1.eqx``; when it exists, only the second stage runs. Writes the model
and a JSON log summary next to it; interrupted runs continue with --resume.
"""

import argparse
import json
import pathlib
import platform
import time

import jax

import jaxbatt  # noqa: F401
from jaxbatt.surrogates import load_surrogate_file, train, train_hierarchy
from jaxbatt.surrogates._checkpoint import read_header
from jaxbatt.surrogates._recipes import RATES_FINETUNE as FINETUNE
from jaxbatt.surrogates._recipes import RATES_NETWORK as NETWORK
from jaxbatt.surrogates._recipes import RATES_RANGE as RATES
from jaxbatt.surrogates._recipes import RATES_TRAIN as CONFIG


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default="jaxbatt/data/surrogates/spm_rates.eqx")
    parser.add_argument("--resume", action="store_true")
    args = parser.parse_args()
    out = pathlib.Path(args.out)
    stage1 = out.with_name(f"{out.stem}.stage1{out.suffix}")
    start = time.perf_counter()
    if stage1.exists():  # the first stage is done (kept for --resume and reruns of stage 2)
        surrogate = load_surrogate_file(stage1)
        meta = read_header(stage1)[0]["meta"]  # its own history, from the run that made it
        history = [dict(h, stage=1) for h in meta.get("history", [])]
        print(f"stage 1: loaded {stage1} (trained in {meta.get('wall_s', float('nan')):.0f} s)")
    else:
        result = train_hierarchy(
            1, stage1, network=NETWORK, config=CONFIG, seed=0, resume=args.resume,
            c_rate_range=RATES,
        )  # fmt: skip
        surrogate, history = result.surrogate, [dict(h, stage=1) for h in result.history]
    result = train(surrogate, FINETUNE, checkpoint=out, resume=args.resume)
    history += [dict(h, stage=2) for h in result.history]
    wall = time.perf_counter() - start
    summary = {
        "date": time.strftime("%Y-%m-%d"),
        "machine": f"{platform.processor() or platform.machine()}, {jax.device_count()} x {jax.devices()[0].device_kind}",
        "wall_s_this_invocation": wall,
        "c_rate_range": list(RATES),
        "network": NETWORK.__dict__,
        "train": CONFIG.to_dict(),
        "finetune": FINETUNE.to_dict(),
        "history": history,
        "error_std_V": result.surrogate.error_std,
    }
    out.with_suffix(".train.json").write_text(json.dumps(summary, indent=1))
    for state in out.parent.glob(f"{out.stem}*.state"):
        state.unlink()  # training states are for --resume only
    last = history[-1] if history else {}
    print(
        f"done in {wall:.0f} s: validation mean {last.get('val_mean_mV')} mV, "
        f"max {last.get('val_max_mV')} mV"
    )


if __name__ == "__main__":
    main()
