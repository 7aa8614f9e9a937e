"""The ``jaxbatt`` command line.

Exit codes (the same for every subcommand): 0 success; 1 a runtime failure (a solver failed,
a file could not be written); 2 bad input (a usage error found by argparse, a bad option
value, a bad data file, parameter or checkpoint: every `InputError`, `ParameterError` and
`CheckpointError`); 130 interrupted (Ctrl-C). Errors and warnings print one line each,
``jaxbatt: error: ...`` / ``jaxbatt: warning: ...``, on stderr, without a traceback.

Output paths are checked before any work starts; every output is written atomically
(`jaxbatt._io`). The command line (only: not ``import jaxbatt``) keeps JAX's compiled
programs in a persistent cache, `compilation_cache_dir()`, so that a second run starts
faster; ``--no-cache`` or ``JAXBATT_NO_CACHE=1`` turns it off.
"""

import argparse
import dataclasses
import importlib.util
import math
import os
import signal
import sys
import threading
import warnings

import numpy as np

from ._errors import CheckpointError, InputError, JaxbattError

EXIT_OK, EXIT_FAILURE, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
CACHE_MIN_COMPILE_TIME_S = 0.0  # cache every program: most compile in 0.03-0.5 s, 100+ of them
CACHE_MAX_BYTES = 2**30  # least recently used entries are deleted beyond 1 GiB


# ---------------------------------------------------------------- persistent compilation cache


def compilation_cache_dir() -> str:
    """Where the command line keeps JAX's compiled programs:
    ``$XDG_CACHE_HOME/jaxbatt/jax``, by default ``~/.cache/jaxbatt/jax``."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "jaxbatt", "jax")


def cache_disabled() -> bool:
    """Whether ``JAXBATT_NO_CACHE`` is set (to anything but ``""`` or ``0``)."""
    return os.environ.get("JAXBATT_NO_CACHE", "").strip() not in ("", "0")


def enable_compilation_cache() -> str | None:
    """Turn on JAX's persistent compilation cache in `compilation_cache_dir()` (kept when
    the user already set ``JAX_COMPILATION_CACHE_DIR``); returns the folder, or None when
    it cannot be created. Call it before anything is compiled."""
    import jax  # noqa: PLC0415

    current = jax.config.jax_compilation_cache_dir
    if current:
        return current
    path = compilation_cache_dir()
    try:
        # the cache is trusted code: keep it private to the user
        os.makedirs(path, mode=0o700, exist_ok=True)
    except OSError:
        return None
    if not os.access(path, os.W_OK | os.X_OK):
        return None
    jax.config.update("jax_compilation_cache_dir", path)
    if "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS" not in os.environ:  # the user's wins
        jax.config.update("jax_persistent_cache_min_compile_time_secs", CACHE_MIN_COMPILE_TIME_S)
    if importlib.util.find_spec("filelock") is not None:  # JAX needs it to bound the size
        jax.config.update("jax_compilation_cache_max_size", CACHE_MAX_BYTES)
    return path


# ---------------------------------------------------------------- option types


def _number(text, kind):
    try:
        value = kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if kind is float and not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def positive_int(text):
    value = _number(text, int)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def nonnegative_int(text):
    value = _number(text, int)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be a non-negative integer, got {text}")
    return value


def at_least_two(text):
    value = _number(text, int)
    if value < 2:
        raise argparse.ArgumentTypeError(f"must be an integer >= 2, got {text}")
    return value


def positive_float(text):
    value = _number(text, float)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a finite positive number, got {text}")
    return value


def rate_range(text):
    """LO:HI: two C-rates, LO < HI, with the reference rate 2C inside [LO, HI]."""
    parts = text.split(":")
    if len(parts) != 2:
        raise argparse.ArgumentTypeError(f"expected LO:HI (e.g. 0.5:5), got {text!r}")
    lo, hi = (positive_float(x) for x in parts)
    if not lo <= 2.0 <= hi or lo == hi:
        raise argparse.ArgumentTypeError(
            f"the range must satisfy LO < HI and contain 2 (the reference rate 2C), got {text!r}"
        )
    return (lo, hi)


def float_list(text):
    """V1,V2,...: comma-separated finite numbers."""
    return [_number(x, float) for x in text.split(",")]


def nonnegative_float(text):
    value = _number(text, float)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0, got {text}")
    return value


def noise_mV(text):
    value = positive_float(text)
    if value > 100:
        raise argparse.ArgumentTypeError(
            f"{text} mV is implausibly large for a measurement noise (the option is in mV)"
        )
    return value


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows ``(default: ...)`` after every option that has a meaningful default."""

    def _get_help_string(self, action):
        default = action.default
        if default is None or isinstance(default, bool) or default == []:
            return action.help
        if default is argparse.SUPPRESS or "%(default)" in (action.help or ""):
            return action.help
        return super()._get_help_string(action)


# ---------------------------------------------------------------- what was written


class Outputs:
    """The outputs a command plans and has written, for the message after Ctrl-C."""

    def __init__(self):
        self.planned, self.written, self.notes = [], [], {}

    def plan(self, path, note=None):
        """`note`: a string, or a function giving one (or None) when the message is made."""
        self.planned.append(os.fspath(path))
        if note:
            self.notes[os.fspath(path)] = note

    def _note(self, path):
        note = self.notes.get(path)
        note = note() if callable(note) else note
        return f" ({note})" if note else ""

    def done(self, path):
        self.written.append(os.fspath(path))

    def interrupted_message(self) -> str:
        missing = [p for p in self.planned if p not in self.written]
        parts = []
        if self.written:
            parts.append("wrote " + ", ".join(self.written))
        if missing:
            parts.append(
                ("did not write " if self.written else "nothing written: ")
                + ", ".join(p + self._note(p) for p in missing)
            )
        if not parts:
            parts.append("nothing written")
        return "jaxbatt: interrupted; " + "; ".join(parts)


def _outputs(args) -> Outputs:
    outputs = getattr(args, "outputs", None)
    if outputs is None:
        outputs = args.outputs = Outputs()
    return outputs


# ---------------------------------------------------------------- the commands


def _parse_params(items):
    params = {}
    for item in items or ():
        name, sep, value = item.partition("=")
        if not sep:
            raise InputError(f"--param expects NAME=VALUE, got {item!r}")
        try:
            params[name.strip()] = float(value)
        except ValueError:
            raise InputError(f"--param {name}: {value!r} is not a number") from None
    return params


def write_curve_csv(path, t, voltage, current=None):
    """Write a curve as CSV with header ``time_s,voltage_V`` (``,current_A`` with the
    applied current [A], positive on discharge, when given), atomically."""
    from ._io import atomic_file  # noqa: PLC0415

    columns, header = [np.asarray(t), np.asarray(voltage)], "time_s,voltage_V"
    if current is not None:
        columns.append(np.asarray(current))
        header += ",current_A"
    with atomic_file(path, "w") as f:
        np.savetxt(f, np.column_stack(columns), delimiter=",", header=header, comments="",
                   fmt="%.10g")  # fmt: skip


def plot_curve(path, t, voltage, title):
    """Save a voltage-vs-time plot to `path` (PNG, PDF, ... by extension; atomically)."""
    from matplotlib.figure import Figure  # noqa: PLC0415

    from ._io import atomic_savefig  # noqa: PLC0415

    fig = Figure(figsize=(6, 4), layout="constrained")
    ax = fig.subplots()
    ax.plot(np.asarray(t), np.asarray(voltage), lw=2)
    ax.set_xlabel("time [s]")
    ax.set_ylabel("terminal voltage [V]")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    atomic_savefig(fig, path, dpi=120)


def _simulated_cell(cell_name, params):
    """(cell, space) of ``simulate --cell``: the nrel cell and its box, or the named cell
    with a space of the parameters given (aliases or field paths, any positive value)."""
    from .cells import Parameter, ParameterSpace, nrel_parameter_space  # noqa: PLC0415
    from .cells._registry import PARAMETER_ALIASES, cell_from_name, field_value  # noqa: PLC0415

    cell = cell_from_name(cell_name)
    if cell_name == "nrel" or not params:
        return cell, nrel_parameter_space()  # without parameters: the scalings at 1
    parameters = []
    for name in params:
        target = PARAMETER_ALIASES.get(name, name)
        own = field_value(cell, target)
        parameters.append(Parameter(name, 0.0, float("inf"), target, default=own))
    return cell, ParameterSpace(tuple(parameters))


def _simulate(args):
    from ._io import check_output_file, figure_format  # noqa: PLC0415

    outputs = _outputs(args)
    if args.out:
        check_output_file(args.out, "--out")
    if args.plot:
        check_output_file(args.plot, "--plot")
        figure_format(args.plot)
        if args.out and os.path.abspath(args.out) == os.path.abspath(args.plot):
            raise InputError(f"--out and --plot name the same file {args.out}")
    for path in (args.out, args.plot):
        if path:
            outputs.plan(path)
    params = _parse_params(args.param)
    from ._simulate import simulate  # noqa: PLC0415
    from .protocols import Protocol  # noqa: PLC0415
    from .solvers import Termination  # noqa: PLC0415

    cell, space = _simulated_cell(args.cell, params)
    one_c = cell.one_c_current
    own = {"cell": cell, "space": space}
    label = ", ".join(f"{k}={v:g}" for k, v in params.items()) or "defaults"
    if args.step:
        if args.c_rate is not None:
            raise InputError("give either --c-rate or --step, not both")
        protocol = Protocol(args.step)
        t_end = args.t_end or protocol.nominal_duration(one_c)
        t = np.linspace(0.0, t_end, args.n_points)
        sol = simulate(args.model, params, t=t, protocol=protocol, kinetics=args.kinetics, **own)
        what = f"{len(args.step)}-step protocol"
    else:
        c_rate = 2.0 if args.c_rate is None else args.c_rate
        # another cell: to its cut-off (the CSV keeps the simulated part)
        t_end = args.t_end or (1350.0 if cell.name == "nrel" else 1.5 * 3600.0 / c_rate)
        t = np.linspace(0.0, t_end, args.n_points)
        sol = simulate(args.model, params, t=t, c_rate=c_rate, kinetics=args.kinetics, **own)
        what = f"{c_rate:g}C discharge"
    current = (
        np.full(t.shape, c_rate * one_c) if sol.current is None
        else np.asarray(sol.current)
    )  # fmt: skip
    head = f"{args.model.upper()} {what} ({label}): "
    head += f"V(0) = {float(sol.voltage[0]):.4f} V"
    if bool(sol.ended_early) and int(sol.termination) == Termination.END_OF_PROTOCOL:
        print(f"{head}, protocol ended at t = {float(sol.t_end):g} s, "
              f"V = {float(sol.voltage_end):.4f} V")  # fmt: skip
        keep = np.isfinite(np.asarray(sol.voltage))
        t, voltage, current = t[keep], np.asarray(sol.voltage)[keep], current[keep]
    elif bool(sol.ended_early):
        # the discharge stopped at a physical limit: report it, write only the simulated part
        t_end = float(sol.t_end)
        print(f"{head}, ended at t = {t_end:g} s ({sol.termination_reason()}), "
              f"V({t_end:g} s) = {float(sol.voltage_end):.4f} V")  # fmt: skip
        keep = np.isfinite(np.asarray(sol.voltage))
        t, voltage, current = t[keep], np.asarray(sol.voltage)[keep], current[keep]
    else:
        voltage = np.asarray(sol.voltage)
        print(f"{head}, V({t[-1]:g} s) = {float(voltage[-1]):.4f} V")
    if args.out:
        write_curve_csv(args.out, t, voltage, current)
        outputs.done(args.out)
        print(f"wrote {args.out}")
    if args.plot:
        plot_curve(args.plot, t, voltage, f"{args.model.upper()}, {what}, {label}")
        outputs.done(args.plot)
        print(f"wrote {args.plot}")


def _train(args):
    from ._io import check_output_file  # noqa: PLC0415
    from .surrogates import LossConfig, NetworkConfig, TrainConfig, train_hierarchy  # noqa: PLC0415
    from .surrogates._training import _state_path  # noqa: PLC0415

    if args.model not in ("spm", "p2d"):
        raise InputError(f"train: unknown model {args.model!r}; choose spm or p2d")
    check_output_file(args.out, "--out")
    state = _state_path(args.out)

    def note():
        if state.exists():
            return f"the training state is saved in {state}; --resume continues from it"
        return None

    if args.model == "p2d":
        return _train_p2d(args, note)
    new_cell = _new_cell_surrogate(args)
    _outputs(args).plan(args.out, note=note)
    network = NetworkConfig(
        architecture=args.architecture, block=args.block, width=args.width or 64, depth=args.depth
    )
    grid = 16 if args.parameter_grid is None else args.parameter_grid
    steps = 20000 if args.steps is None else args.steps
    if args.physics_only:
        # the shipped physics-only recipe (scripts/train_spm_physics.py); the options given
        # on the command line override it
        from .surrogates import PHYSICS_ONLY_RECIPE  # noqa: PLC0415

        recipe_network, recipe, options = PHYSICS_ONLY_RECIPE
        network = dataclasses.replace(network, width=args.width or recipe_network.width)
        config = dataclasses.replace(
            recipe, adam_steps=recipe.adam_steps if args.steps is None else args.steps,
            lbfgs_steps=recipe.lbfgs_steps if args.lbfgs_steps is None else args.lbfgs_steps,
            seed=args.seed, validate_every=args.validate_every,
            final_learning_rate=args.final_learning_rate, balance=args.balance,
            balance_every=args.balance_every, balance_alpha=args.balance_alpha,
            loss=dataclasses.replace(recipe.loss, parameter_grid=grid),
        )  # fmt: skip
        ansatz = args.ansatz or options["ansatz"]
    elif args.c_rates is not None:
        # the shipped rate-input recipe (scripts/train_spm_rates.py); options given override it
        from .surrogates._recipes import RATES_NETWORK, RATES_TRAIN  # noqa: PLC0415

        network = dataclasses.replace(network, width=args.width or RATES_NETWORK.width)
        config = dataclasses.replace(
            RATES_TRAIN, adam_steps=RATES_TRAIN.adam_steps if args.steps is None else args.steps,
            lbfgs_steps=args.lbfgs_steps or 0, seed=args.seed,
            n_data_parameters=RATES_TRAIN.n_data_parameters if args.data_sets is None
            else args.data_sets,
            validate_every=args.validate_every, final_learning_rate=args.final_learning_rate,
            balance=args.balance, balance_every=args.balance_every,
            balance_alpha=args.balance_alpha,
            loss=dataclasses.replace(RATES_TRAIN.loss, parameter_grid=grid),
        )  # fmt: skip
        ansatz = args.ansatz or "sigmoid"
    else:
        # a tensor-grid batch evaluates each data sample at `grid` parameter sets
        n_data = 64 if grid else LossConfig().n_data
        loss = LossConfig(n_data=n_data, parameter_grid=grid)
        config = TrainConfig(
            adam_steps=steps, lbfgs_steps=args.lbfgs_steps or 0, loss=loss, seed=args.seed,
            n_data_parameters=256 if args.data_sets is None else args.data_sets,
            final_learning_rate=args.final_learning_rate,
            validate_every=args.validate_every, balance=args.balance,
            balance_every=args.balance_every, balance_alpha=args.balance_alpha,
        )  # fmt: skip
        ansatz = args.ansatz or "sigmoid"
    own = {} if new_cell is None else dict(zip(("cell", "space", "c_rate", "t_max"), new_cell))
    result = train_hierarchy(
        args.levels, args.out, network=network, config=config, seed=args.seed,
        resume=args.resume, lower_kinetics=args.lower_kinetics, ansatz=ansatz,
        c_rate_range=args.c_rates, level1_parameters=args.level1_at, **own,
    )  # fmt: skip
    _outputs(args).done(args.out)
    last = result.history[-1] if result.history else {}
    print(
        f"wrote {args.out}: validation error mean {last.get('val_mean_mV', float('nan')):.3f} mV, "
        f"max {last.get('val_max_mV', float('nan')):.3f} mV"
    )


def _new_cell_surrogate(args):
    """(cell, space, c_rate, t_max) for ``train spm`` with --cell / --param / --c-rate /
    --t-max, or None for the nrel cell's default surrogate (2C, 1350 s)."""
    if args.cell == "nrel" and not args.param and args.c_rate is None and args.t_max is None:
        return None
    if args.c_rates is not None:
        raise InputError(
            "train: --c-rates (the C-rate as an input) is for the nrel cell's default box; "
            "with --cell, --param, --c-rate or --t-max the surrogate describes one rate"
        )
    from .cells._registry import cell_and_space  # noqa: PLC0415
    from .surrogates import discharge_window  # noqa: PLC0415

    cell, space = cell_and_space(args.cell, args.param)
    c_rate = 2.0 if args.c_rate is None else args.c_rate
    if args.t_max is not None:
        t_max = args.t_max
    elif args.cell == "nrel" and not args.param and c_rate == 2.0:
        t_max = 1350.0
    else:
        print(f"finding the {c_rate:g}C discharge window of {cell.name} over the box ...",
              flush=True)  # fmt: skip
        t_max = discharge_window(cell, space, c_rate)
    bounds = ", ".join(f"{p.name} in [{p.lower:g}, {p.upper:g}]" for p in space.parameters)
    print(f"cell {cell.name}, {c_rate:g}C, t in [0, {t_max:.0f}] s, {bounds}", flush=True)
    return cell, space, c_rate, t_max


def _train_p2d(args, note):
    """``jaxbatt train p2d``: the shipped P2D recipe (scripts/train_p2d_surrogate.py), with
    the options given on the command line overriding it."""
    import jax  # noqa: PLC0415

    from .surrogates import train  # noqa: PLC0415
    from .surrogates._p2d import p2d_surrogate  # noqa: PLC0415
    from .surrogates._recipes import P2D_NETWORK, P2D_TRAIN, p2d_variant  # noqa: PLC0415

    for flag, given in (("--levels", args.levels != 1), ("--c-rates", args.c_rates is not None),
                        ("--ansatz", args.ansatz is not None),
                        ("--lower-kinetics", args.lower_kinetics is not None),
                        ("--level1-at", args.level1_at is not None),
                        ("--architecture", args.architecture != "separable"),
                        ("--cell", args.cell != "nrel"), ("--param", bool(args.param)),
                        ("--c-rate", args.c_rate is not None),
                        ("--t-max", args.t_max is not None)):  # fmt: skip
        if given:
            raise InputError(f"train p2d: {flag} is for SPM surrogates only")
    _outputs(args).plan(args.out, note=note)
    network = dataclasses.replace(
        P2D_NETWORK, width=args.width or P2D_NETWORK.width, depth=args.depth, block=args.block
    )
    recipe = p2d_variant(P2D_TRAIN, "physics" if args.physics_only else "physics+data")
    config = dataclasses.replace(
        recipe, adam_steps=recipe.adam_steps if args.steps is None else args.steps,
        lbfgs_steps=args.lbfgs_steps or 0, seed=args.seed, validate_every=args.validate_every,
        final_learning_rate=args.final_learning_rate, balance=args.balance,
        balance_every=args.balance_every, balance_alpha=args.balance_alpha,
        n_data_parameters=recipe.n_data_parameters if args.data_sets is None or args.physics_only
        else args.data_sets,
        loss=dataclasses.replace(recipe.loss, parameter_grid=args.parameter_grid or recipe.loss.parameter_grid),
    )  # fmt: skip
    surrogate = p2d_surrogate(network, key=jax.random.key(args.seed))
    result = train(surrogate, config, checkpoint=args.out, resume=args.resume)
    _outputs(args).done(args.out)
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


def _parse_point(text):
    """``k_i0=2,k_Ds=2`` -> {"k_i0": 2.0, "k_Ds": 2.0}."""
    try:
        return _parse_params([item for item in text.split(",") if item.strip()])
    except InputError as e:
        raise InputError(f"--at {text!r}: {e}") from None


def _design(args):
    from ._io import check_output_dir  # noqa: PLC0415
    from .design import PulseTrain, optimise  # noqa: PLC0415

    outputs = _outputs(args)
    check_output_dir(args.out, "--out")
    outputs.plan(args.out)
    family = PulseTrain(duration=args.duration, n_pulses=args.pulses, max_c_rate=args.max_c_rate,
                        max_charge_c_rate=args.max_charge_c_rate)  # fmt: skip
    points = [_parse_point(text) for text in args.at] if args.at else None
    window = None
    if args.v_min is not None or args.v_max is not None:
        from .cells import nrel_cell  # noqa: PLC0415

        cell = nrel_cell()
        window = (cell.lower_cutoff_voltage if args.v_min is None else args.v_min,
                  cell.upper_cutoff_voltage if args.v_max is None else args.v_max)  # fmt: skip
    result = optimise(family, at=points, targets=args.target, n_points=args.n_points,
                      sigma=args.sigma * 1e-3, voltage_window=window, steps=args.steps,
                      model=args.model)  # fmt: skip
    print(result.summary())
    result.save(args.out)
    outputs.done(args.out)
    print(f"wrote {args.out}/ (protocol.txt, summary.json, design.png)")


# ---------------------------------------------------------------- the parser


def _calibrate_defaults() -> dict:
    """The sampler defaults of `jaxbatt.calibrate`, so that the command line follows them."""
    import inspect  # noqa: PLC0415

    from .inference._calibrate import calibrate  # noqa: PLC0415

    parameters = inspect.signature(calibrate).parameters
    names = ("num_chains", "num_warmup", "num_samples", "seed")
    return {name: parameters[name].default for name in names}


def build_parser():
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--no-cache", action="store_true",
        help="do not use the persistent compilation cache (also: JAXBATT_NO_CACHE=1)",
    )  # fmt: skip
    parser = argparse.ArgumentParser(
        prog="jaxbatt", description="Differentiable Li-ion battery physics and calibration.",
        epilog="Exit codes: 0 success, 1 runtime failure, 2 bad input or usage, 130 "
        "interrupted.",
    )  # fmt: skip
    from . import __version__  # noqa: PLC0415

    parser.add_argument("--version", action="version", version=f"jaxbatt {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    def add(name, **kwargs):
        return sub.add_parser(name, parents=[common], formatter_class=_HelpFormatter, **kwargs)

    sim = add(
        "simulate", help="simulate a constant-current discharge",
        description="Simulate a constant-current discharge with the numerical SPM or P2D.",
    )  # fmt: skip
    sim.add_argument("--model", default="spm", help="spm or p2d")
    sim.add_argument(
        "--cell", default="nrel",
        help="nrel, or pybamm:SET for a PyBaMM parameter set (e.g. pybamm:Chen2020); with "
        "another cell --param takes k_i0, k_i0_c, k_Ds, k_Ds_a or a field path such as "
        "cathode.particle_radius (SI units)",
    )  # fmt: skip
    sim.add_argument(
        "--param", action="append", metavar="NAME=VALUE", help="degradation parameter, repeatable"
    )
    sim.add_argument(
        "--c-rate", type=positive_float, default=None, help="discharge C-rate (default 2)"
    )
    sim.add_argument(
        "--step", action="append", metavar="TEXT",
        help="a protocol step instead of one discharge, repeatable, in order, e.g. "
        "--step 'Discharge at 2C for 150 seconds' --step 'Rest for 60 seconds' "
        "--step 'Charge at 1C until 4.1 V'",
    )  # fmt: skip
    sim.add_argument("--kinetics", default="butler_volmer", help="butler_volmer or linear")
    sim.add_argument(
        "--t-end", type=positive_float, default=None,
        help="end time [s] (default 1350, or the protocol's nominal length; another cell: "
        "1.5 h / C, the discharge stopping at its cut-off)",
    )  # fmt: skip
    sim.add_argument("--n-points", type=at_least_two, default=271, help="output times")
    sim.add_argument(
        "--out", help="CSV file to write (time_s,voltage_V,current_A); its folder must exist"
    )
    sim.add_argument("--plot", help="image file of the voltage curve (.png, .pdf, .svg, ...)")
    sim.set_defaults(func=_simulate)

    tr = add("train", help="train a PINN surrogate", description="Train a PINN surrogate.")
    tr.add_argument("model", help="spm or p2d")
    tr.add_argument("--out", required=True, help="checkpoint to write (e.g. model.eqx)")
    tr.add_argument(
        "--cell", default="nrel",
        help="the cell: nrel, or pybamm:SET for a PyBaMM parameter set (e.g. pybamm:Chen2020; "
        "needs jaxbatt[pybamm]); spm only",
    )  # fmt: skip
    tr.add_argument(
        "--param", action="append", metavar="NAME=LO:HI",
        help="a parameter of the surrogate's box, repeatable: k_i0, k_i0_c, k_Ds, k_Ds_a "
        "(scalings) or any scalar field of the cell by its path in SI units, e.g. "
        "cathode.particle_radius=4e-6:6e-6 (default k_i0=0.5:4 and k_Ds=1:10); spm only",
    )  # fmt: skip
    tr.add_argument(
        "--c-rate", type=positive_float, default=None,
        help="the discharge rate the surrogate describes (default 2); spm only",
    )  # fmt: skip
    tr.add_argument(
        "--t-max", type=positive_float, default=None,
        help="end of its time window [s] (default: 1350 for the nrel cell at 2C, else 98%% of "
        "the earliest cut-off over the box)",
    )  # fmt: skip
    tr.add_argument("--levels", type=positive_int, default=1, help="hierarchy levels")
    tr.add_argument(
        "--steps", type=nonnegative_int, default=None,
        help="Adam steps per level (default: 20000; 4000 with --physics-only; 50000 with "
        "--c-rates)",
    )  # fmt: skip
    tr.add_argument(
        "--lbfgs-steps", type=nonnegative_int, default=None,
        help="L-BFGS steps per level after Adam (default: 0, also with --physics-only)",
    )
    tr.add_argument(
        "--final-learning-rate", type=positive_float, default=1e-5,
        help="end of the Adam schedule",
    )  # fmt: skip
    tr.add_argument(
        "--width", type=positive_int, default=None,
        help="hidden width (default: 64, the physics-only recipe's too)",
    )  # fmt: skip
    tr.add_argument("--depth", type=positive_int, default=3, help="hidden layers per block")
    tr.add_argument(
        "--architecture", choices=("separable", "merged", "split"), default="separable",
        help="separable (parameter branch x time/radius trunks), merged or split",
    )  # fmt: skip
    tr.add_argument(
        "--parameter-grid", type=nonnegative_int, default=None,
        help="parameter sets per collocation point (tensor-grid batches; default 16 for spm, "
        "8 for p2d; spm: 0 means one each)",
    )  # fmt: skip
    tr.add_argument(
        "--data-sets", type=nonnegative_int, default=None,
        help="parameter sets solved for the data term (default 256; 512 with --c-rates)",
    )  # fmt: skip
    tr.add_argument("--block", default="modified", help="modified or mlp")
    tr.add_argument(
        "--physics-only", action="store_true",
        help="no solver data in the loss: the shipped physics-only recipe "
        "(conservative ansatz, diffusion residual only; scripts/train_spm_physics.py)",
    )  # fmt: skip
    tr.add_argument(
        "--ansatz", choices=("sigmoid", "conservative", "inventory", "flux", "symmetric"),
        default=None,
        help="concentration ansatz (default: conservative with --physics-only, else sigmoid)",
    )  # fmt: skip
    tr.add_argument("--lower-kinetics", default=None, help="e.g. linear: level-1 physics")
    tr.add_argument(
        "--level1-at", type=float_list, default=None, metavar="V1,V2,...",
        help="train level 1 at this one parameter set (one value per parameter, in the space's "
        "order, e.g. 2,2 for k_i0,k_Ds) and the upper levels over the box; needs --levels 2+",
    )  # fmt: skip
    tr.add_argument(
        "--c-rates", type=rate_range, default=None, metavar="LO:HI",
        help="make the C-rate an input over [LO, HI] (e.g. 0.5:5; must contain 2, the "
        "reference rate; window t <= 2700 s / C); default: a 2C-only surrogate",
    )  # fmt: skip
    tr.add_argument(
        "--validate-every", type=positive_int, default=500,
        help="steps between validations and training-state checkpoints",
    )  # fmt: skip
    tr.add_argument(
        "--balance", choices=("none", "grad_norm"), default="none",
        help="loss balancing of the Adam phase: none (fixed weights) or grad_norm "
        "(adaptive multipliers from the gradient norms of the loss terms)",
    )  # fmt: skip
    tr.add_argument(
        "--balance-every", type=positive_int, default=100, help="steps between multiplier updates"
    )
    tr.add_argument(
        "--balance-alpha", type=float, default=0.9, help="moving-average factor, in [0, 1)"
    )
    tr.add_argument("--seed", type=nonnegative_int, default=0, help="random seed")
    tr.add_argument("--resume", action="store_true", help="continue an interrupted run")
    tr.set_defaults(func=_train)

    cal = add(
        "calibrate",
        help="Bayesian calibration of degradation parameters from discharge curves",
        description="Infer degradation parameters (and the noise level) from CSV curves with "
        "header time_s,voltage_V (s, V). With no file, calibrates the bundled example of --model "
        "(a noisy 2C discharge of the numerical SPM, or of the P2D with --model p2d). The "
        "results folder --out is written atomically: it holds a complete result or none, and "
        "an earlier jaxbatt result there is replaced as a whole.",
    )  # fmt: skip
    cal.add_argument("data", nargs="*", help="CSV files (time_s,voltage_V); none: the model's bundled example")
    cal.add_argument("--model", default="spm", help="spm or p2d (its bundled surrogate, 2C; or --likelihood solver)")
    cal.add_argument(
        "--out", default="calibration",
        help="results folder: new, empty, or an earlier jaxbatt result (replaced)",
    )  # fmt: skip
    cal.add_argument("--likelihood", default="surrogate", help="surrogate or solver")
    cal.add_argument(
        "--surrogate", metavar="FILE",
        help="a surrogate checkpoint of jaxbatt train (its cell, box, rate and window) instead "
        "of the bundled one",
    )  # fmt: skip
    cal.add_argument(
        "--cell", default=None,
        help="with --likelihood solver: the cell (nrel, or pybamm:SET, e.g. pybamm:Chen2020)",
    )  # fmt: skip
    cal.add_argument(
        "--param", action="append", metavar="NAME=LO:HI",
        help="with --likelihood solver: a parameter to infer (uniform prior on [LO, HI]), "
        "repeatable; names as for jaxbatt train (default k_i0=0.5:4 and k_Ds=1:10)",
    )  # fmt: skip
    defaults = _calibrate_defaults()
    cal.add_argument(
        "--num-chains", type=positive_int, default=defaults["num_chains"], help="NUTS chains"
    )
    cal.add_argument(
        "--num-warmup", type=positive_int, default=defaults["num_warmup"],
        help="warm-up iterations per chain",
    )  # fmt: skip
    cal.add_argument(
        "--num-samples", type=positive_int, default=defaults["num_samples"],
        help="kept draws per chain",
    )  # fmt: skip
    cal.add_argument("--seed", type=nonnegative_int, default=defaults["seed"], help="sampler seed")
    cal.add_argument(
        "--sigma", type=noise_mV, default=None, metavar="MV",
        help="fix the noise level [mV] (default: inferred)",
    )  # fmt: skip
    cal.add_argument(
        "--c-rate", type=positive_float, default=None,
        help="C-rate of the data: required unless each CSV has a current_A column "
        "(the bundled example carries its own, 2C). A current_A column that varies is the "
        "curve's protocol (pulses, a drive cycle), fitted with the exact solver",
    )  # fmt: skip
    cal.add_argument("--hierarchical", action="store_true", help="population prior over curves")
    cal.add_argument(
        "--joint", action="store_true",
        help="the curves are one cell's: they share its parameters (each keeps its noise); "
        "e.g. a 2C discharge and a pulse test, each CSV with its current_A column",
    )  # fmt: skip
    cal.add_argument(
        "--surrogate-error", choices=("white", "correlated", "none"), default="white",
        help="how the voltage model's own error enters: white (added to the noise), "
        "correlated (a smooth per-curve discrepancy in time, needs a model with a stated "
        "error such as the surrogate) or none",
    )  # fmt: skip
    cal.add_argument("--no-plots", action="store_true", help="skip the plots (faster)")
    cal.add_argument(
        "--netcdf", action="store_true",
        help="also write posterior.nc, the ArviZ InferenceData (arviz.from_netcdf)",
    )  # fmt: skip
    cal.set_defaults(func=_calibrate)

    des = add(
        "design", help="design the test that identifies the parameters",
        description="Optimise a pulse train (pulse amplitudes and lengths, rests or charges) "
        "so that one curve measured under it gives the smallest expected posterior sds "
        "(Fisher information through the SPM solver), within a maximum current, a voltage "
        "window and a test time; compares it with a 2C discharge of the same length and "
        "points. Writes the results folder --out atomically: protocol.txt (one step per "
        "line, for jaxbatt simulate --step), summary.json and design.png.",
    )  # fmt: skip
    des.add_argument("--out", default="design", help="results folder (new, empty or replaced)")
    des.add_argument("--duration", type=positive_float, default=1350.0, help="test length [s]")
    des.add_argument("--pulses", type=positive_int, default=6, help="pulses (equal periods)")
    des.add_argument("--max-c-rate", type=positive_float, default=5.0, help="discharge limit [C]")
    des.add_argument(
        "--max-charge-c-rate", type=nonnegative_float, default=0.0,
        help="charge limit [C] between pulses (0: rests)",
    )  # fmt: skip
    des.add_argument("--v-min", type=positive_float, default=None,
                     help="lower voltage limit [V] (default the cell's cut-off, 3.0)")  # fmt: skip
    des.add_argument("--v-max", type=positive_float, default=None,
                     help="upper voltage limit [V] (default the cell's cut-off, 4.2)")  # fmt: skip
    des.add_argument(
        "--at", action="append", metavar="NAME=VALUE,...",
        help="design point, repeatable (the design averages over them), e.g. "
        "--at k_i0=2,k_Ds=2 (default the parameter defaults)",
    )  # fmt: skip
    des.add_argument(
        "--target", action="append", metavar="NAME",
        help="parameter whose sd to minimise, repeatable (default all)",
    )  # fmt: skip
    des.add_argument("--sigma", type=noise_mV, default=3.0, metavar="MV", help="noise sd [mV]")
    des.add_argument("--n-points", type=at_least_two, default=100, help="measured voltages")
    des.add_argument("--steps", type=positive_int, default=100, help="Optax (Adam) iterations")
    des.add_argument("--model", default="spm", help="spm")
    des.set_defaults(func=_design)
    return parser


# ---------------------------------------------------------------- main


def _show_warning(message, category, filename, lineno, file=None, line=None):
    text = " ".join(str(message).split())  # one line, no source file or line
    print(f"jaxbatt: warning: {text}", file=sys.stderr if file is None else file, flush=True)


def _error(message, code):
    print(f"jaxbatt: error: {' '.join(str(message).split())}", file=sys.stderr, flush=True)
    return code


class _Interrupts:
    """Ctrl-C handling of `main`.

    Python runs signal handlers only in the main thread, and only between bytecodes: while
    the main thread waits in compiled code (an XLA compilation, a NUTS run, a solve), a
    Ctrl-C would wait until that ends, minutes or hours; and a KeyboardInterrupt raised
    inside a callback (JAX's garbage-collection hook, a ``__del__``) is swallowed. So the
    SIGINT handler raises KeyboardInterrupt as usual, and a watcher thread, woken by the
    signal through `signal.set_wakeup_fd`, gives the command `GRACE_S` to end; if it has
    not, the watcher removes the temporary files of writes under way, prints the one-line
    message and ends the process (exit code 130). Swallowed KeyboardInterrupts are not
    reported as "Exception ignored" tracebacks meanwhile.
    """

    GRACE_S = 1.0

    def __init__(self, outputs: Outputs):
        self.outputs = outputs
        self.happened = threading.Event()
        self.finished = threading.Event()
        self.active = threading.current_thread() is threading.main_thread()

    def _handler(self, signum, frame):
        self.happened.set()
        raise KeyboardInterrupt

    def _watch(self):
        while True:
            try:
                data = os.read(self._read, 64)
            except OSError:
                return
            if self._closing or not data:
                return
            if signal.SIGINT in data and not self.finished.wait(self.GRACE_S):
                from ._io import remove_pending  # noqa: PLC0415

                remove_pending()
                sys.stdout.flush()
                start = "\n" if sys.stderr.isatty() else ""  # after a progress bar's line
                sys.stderr.write(start + self.outputs.interrupted_message() + "\n")
                sys.stderr.flush()
                os._exit(EXIT_INTERRUPTED)

    def _unraisable(self, unraisable):
        if not issubclass(unraisable.exc_type, KeyboardInterrupt):  # the watcher ends it
            self._previous_hook(unraisable)

    def __enter__(self):
        if not self.active:
            return self
        self._closing = False
        self._previous_hook = sys.unraisablehook
        sys.unraisablehook = self._unraisable
        self._previous_handler = signal.signal(signal.SIGINT, self._handler)
        self._read, self._write = os.pipe()
        os.set_blocking(self._write, False)
        try:
            self._previous_fd = signal.set_wakeup_fd(self._write, warn_on_full_buffer=False)
        except ValueError:  # not possible here: keep the plain handler
            self._previous_fd = None
        else:
            self._thread = threading.Thread(target=self._watch, daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc):
        self.finished.set()
        if not self.active:
            return False
        signal.signal(signal.SIGINT, self._previous_handler)
        sys.unraisablehook = self._previous_hook
        if self._previous_fd is not None:
            signal.set_wakeup_fd(self._previous_fd)
            self._closing = True
            os.write(self._write, b"\0")  # wake the watcher so that it ends
            self._thread.join(timeout=2 * self.GRACE_S)
        os.close(self._read)
        os.close(self._write)
        return False


def main(argv=None, *, compilation_cache: bool | None = None) -> int:
    """Run the ``jaxbatt`` command with `argv` (default ``sys.argv[1:]``); returns the exit
    code (see the module docstring). `compilation_cache` (default: only when `argv` is None,
    i.e. a real command line, so that calls from Python and the tests leave JAX's global
    configuration alone) turns on the persistent compilation cache unless ``--no-cache`` or
    ``JAXBATT_NO_CACHE=1`` says otherwise."""
    use_cache = (argv is None) if compilation_cache is None else compilation_cache
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as e:  # --help, --version, usage errors (argparse prints them)
        return e.code if isinstance(e.code, int) else EXIT_USAGE
    if use_cache and not args.no_cache and not cache_disabled():
        enable_compilation_cache()
    args.outputs = Outputs()
    interrupts = _Interrupts(args.outputs)
    try:
        with interrupts, warnings.catch_warnings():  # restores warnings.showwarning after
            warnings.showwarning = _show_warning
            args.func(args)
    except KeyboardInterrupt:
        print(args.outputs.interrupted_message(), file=sys.stderr, flush=True)
        return EXIT_INTERRUPTED
    except (InputError, CheckpointError) as e:
        return _error(e, EXIT_USAGE)
    except JaxbattError as e:
        return _error(e, EXIT_FAILURE)
    except Exception as e:
        if interrupts.happened.is_set():  # a Ctrl-C inside a library, wrapped by it
            print(args.outputs.interrupted_message(), file=sys.stderr, flush=True)
            return EXIT_INTERRUPTED
        if isinstance(e, OSError):
            return _error(f"could not write or read a file: {e}", EXIT_FAILURE)
        raise  # a bug: the traceback is what a report needs
    return EXIT_OK
