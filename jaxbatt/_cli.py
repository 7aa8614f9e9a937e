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


def _train(args):
    from .surrogates import LossConfig, NetworkConfig, TrainConfig, train_hierarchy  # noqa: PLC0415

    if args.model != "spm":
        raise SystemExit(f"jaxbatt: train: only 'spm' surrogates exist so far, got {args.model!r}")
    network = NetworkConfig(
        architecture=args.architecture, block=args.block, width=args.width, depth=args.depth
    )
    grid = args.parameter_grid
    # a tensor-grid batch evaluates each data sample at `grid` parameter sets
    n_data = 0 if args.physics_only else (64 if grid else LossConfig().n_data)
    loss = LossConfig(n_data=n_data, parameter_grid=grid)
    config = TrainConfig(
        adam_steps=args.steps, lbfgs_steps=args.lbfgs_steps, loss=loss, seed=args.seed,
        n_data_parameters=0 if args.physics_only else args.data_sets,
        final_learning_rate=args.final_learning_rate,
        validate_every=args.validate_every, balance=args.balance,
        balance_every=args.balance_every, balance_alpha=args.balance_alpha,
    )  # fmt: skip
    result = train_hierarchy(
        args.levels, args.out, network=network, config=config, seed=args.seed,
        resume=args.resume, lower_kinetics=args.lower_kinetics,
    )  # fmt: skip
    last = result.history[-1] if result.history else {}
    print(
        f"wrote {args.out}: validation error mean {last.get('val_mean_mV', float('nan')):.3f} mV, "
        f"max {last.get('val_max_mV', float('nan')):.3f} mV"
    )


def _calibrate(args):
    from .inference._command import run_calibrate_command  # noqa: PLC0415

    if args.sigma is not None:
        args.sigma = args.sigma * 1e-3  # the command line takes mV
    run_calibrate_command(args)


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

    tr = sub.add_parser("train", help="train a PINN surrogate")
    tr.add_argument("model", help="spm")
    tr.add_argument("--out", required=True, help="checkpoint to write (e.g. model.eqx)")
    tr.add_argument("--levels", type=int, default=1, help="hierarchy levels (default 1)")
    tr.add_argument("--steps", type=int, default=20000, help="Adam steps per level (20000)")
    tr.add_argument(
        "--lbfgs-steps", type=int, default=0, help="L-BFGS steps per level after Adam (0)"
    )
    tr.add_argument(
        "--final-learning-rate", type=float, default=1e-5, help="end of the Adam schedule (1e-5)"
    )
    tr.add_argument("--width", type=int, default=64, help="hidden width (64)")
    tr.add_argument("--depth", type=int, default=3, help="hidden layers per block (3)")
    tr.add_argument(
        "--architecture", choices=("separable", "merged", "split"), default="separable",
        help="separable (parameter branch x time/radius trunks; default), merged or split",
    )  # fmt: skip
    tr.add_argument(
        "--parameter-grid", type=int, default=16,
        help="parameter sets per collocation point (tensor-grid batches; 0: one each; 16)",
    )  # fmt: skip
    tr.add_argument(
        "--data-sets", type=int, default=256, help="parameter sets solved for the data term (256)"
    )
    tr.add_argument("--block", default="modified", help="modified or mlp")
    tr.add_argument("--physics-only", action="store_true", help="no solver data term")
    tr.add_argument("--lower-kinetics", default=None, help="e.g. linear: level-1 physics")
    tr.add_argument("--validate-every", type=int, default=500)
    tr.add_argument(
        "--balance", choices=("none", "grad_norm"), default="none",
        help="loss balancing of the Adam phase: none (fixed weights, default) or grad_norm "
        "(adaptive multipliers from the gradient norms of the loss terms)",
    )  # fmt: skip
    tr.add_argument(
        "--balance-every", type=int, default=100, help="steps between multiplier updates (100)"
    )
    tr.add_argument(
        "--balance-alpha", type=float, default=0.9, help="moving-average factor, [0, 1) (0.9)"
    )
    tr.add_argument("--seed", type=int, default=0)
    tr.add_argument("--resume", action="store_true", help="continue an interrupted run")
    tr.set_defaults(func=_train)

    cal = sub.add_parser(
        "calibrate",
        help="Bayesian calibration of degradation parameters from discharge curves",
        description="Infer degradation parameters (and the noise level) from CSV curves with "
        "header time_s,voltage_V (s, V). With no file, calibrates the bundled example.",
    )
    cal.add_argument("data", nargs="*", help="CSV files (time_s,voltage_V); none: bundled example")
    cal.add_argument(
        "--model", default="spm", help="spm (default), or p2d with --likelihood solver"
    )
    cal.add_argument("--out", default="calibration", help="output folder (default ./calibration)")
    cal.add_argument("--likelihood", default="surrogate", help="surrogate (default) or solver")
    cal.add_argument("--num-chains", type=int, default=4)
    cal.add_argument("--num-warmup", type=int, default=500)
    cal.add_argument("--num-samples", type=int, default=500)
    cal.add_argument("--seed", type=int, default=0)
    cal.add_argument("--sigma", type=float, default=None, help="fix the noise level [mV]")
    cal.add_argument("--c-rate", type=float, default=None, help="C-rate of the data")
    cal.add_argument("--hierarchical", action="store_true", help="population prior over curves")
    cal.add_argument(
        "--surrogate-error", choices=("white", "correlated", "none"), default="white",
        help="how the voltage model's own error enters: white (added to the noise, default), "
        "correlated (a smooth per-curve discrepancy in time, needs a model with a stated "
        "error such as the surrogate) or none",
    )  # fmt: skip
    cal.add_argument("--no-plots", action="store_true")
    cal.set_defaults(func=_calibrate)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except JaxbattError as e:
        print(f"jaxbatt: error: {e}", file=sys.stderr)
        return 2
    return 0
