"""The ``jaxbatt`` command line."""

import argparse
import sys

import numpy as np

from ._errors import JaxbattError


def _parse_params(items):
    params = {}
    for item in items or ():
        name, sep, value = item.partition("=")
        if not sep:
            raise SystemExit(f"jaxbatt: --param expects NAME=VALUE, got {item!r}")
        try:
            params[name.strip()] = float(value)
        except ValueError:
            raise SystemExit(f"jaxbatt: --param {name}: {value!r} is not a number") from None
    return params


def write_curve_csv(path, t, voltage):
    """Write a discharge curve as CSV with header ``time_s,voltage_V``."""
    data = np.column_stack([np.asarray(t), np.asarray(voltage)])
    np.savetxt(path, data, delimiter=",", header="time_s,voltage_V", comments="", fmt="%.10g")


def plot_curve(path, t, voltage, title):
    """Save a voltage-vs-time plot to `path` (PNG, PDF, ... by extension)."""
    import matplotlib  # noqa: PLC0415

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    fig, ax = plt.subplots(figsize=(6, 4), constrained_layout=True)
    ax.plot(np.asarray(t), np.asarray(voltage), lw=2)
    ax.set_xlabel("time [s]")
    ax.set_ylabel("terminal voltage [V]")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _simulate(args):
    from ._simulate import simulate  # noqa: PLC0415

    params = _parse_params(args.param)
    t = np.linspace(0.0, args.t_end, args.n_points)
    sol = simulate(args.model, params, t=t, c_rate=args.c_rate, kinetics=args.kinetics)
    label = ", ".join(f"{k}={v:g}" for k, v in params.items()) or "defaults"
    print(
        f"{args.model.upper()} {args.c_rate:g}C discharge ({label}): "
        f"V(0) = {float(sol.voltage[0]):.4f} V, V({t[-1]:g} s) = {float(sol.voltage[-1]):.4f} V"
    )
    if args.out:
        write_curve_csv(args.out, t, sol.voltage)
        print(f"wrote {args.out}")
    if args.plot:
        plot_curve(args.plot, t, sol.voltage, f"{args.model.upper()}, {args.c_rate:g}C, {label}")
        print(f"wrote {args.plot}")


def build_parser():
    parser = argparse.ArgumentParser(
        prog="jaxbatt", description="Differentiable Li-ion battery physics and calibration."
    )
    sub = parser.add_subparsers(dest="command", required=True)

    sim = sub.add_parser("simulate", help="simulate a constant-current discharge")
    sim.add_argument("--model", default="spm", help="spm or p2d (default spm)")
    sim.add_argument(
        "--param", action="append", metavar="NAME=VALUE", help="degradation parameter, repeatable"
    )
    sim.add_argument("--c-rate", type=float, default=2.0, help="discharge C-rate (default 2)")
    sim.add_argument("--kinetics", default="butler_volmer", help="butler_volmer or linear")
    sim.add_argument("--t-end", type=float, default=1350.0, help="end time in s (default 1350)")
    sim.add_argument("--n-points", type=int, default=271, help="output times (default 271)")
    sim.add_argument("--out", help="CSV file to write (time_s,voltage_V)")
    sim.add_argument("--plot", help="image file of the voltage curve")
    sim.set_defaults(func=_simulate)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except JaxbattError as e:
        print(f"jaxbatt: error: {e}", file=sys.stderr)
        return 2
    return 0
