"""``jaxbatt calibrate``: the command-line calibration (the parser lives in `jaxbatt._cli`)."""

import os

import numpy as np

from .._io import check_output_dir, is_result_folder
from ._calibrate import calibrate, resolve_voltage_model
from ..cells import nrel_cell
from .._errors import InputError
from ._data import EXAMPLE_OF_MODEL, checked_drive, load_curve_csv, load_example


def run_calibrate_command(args) -> dict:
    """Calibrate the CSV curves in ``args.data`` (the bundled example when there are none),
    print the summary table, and write summary, samples and plots into ``args.out``.

    `args` carries the parsed options: data (list of paths), model, likelihood, num_chains,
    num_warmup, num_samples, seed, sigma [V or None], c_rate [or None], hierarchical, out,
    no_plots, and optionally surrogate_error ("white", default; "correlated"; "none").
    Optional: netcdf (also write posterior.nc), outputs (a `jaxbatt._cli.Outputs` told what
    is planned and written). `args.out` is checked before any work (`InputError` naming it);
    the folder is written atomically (`CalibrationResult.save`).
    Returns the written files, name -> path.
    """
    check_output_dir(args.out, "--out")
    outputs = getattr(args, "outputs", None)
    if outputs is not None:
        note = "an earlier result there is unchanged" if is_result_folder(args.out) else None
        outputs.plan(args.out, note=note)
    c_rate, protocols = args.c_rate, None
    joint = bool(getattr(args, "joint", False))
    own_model, cell, space = _own_model(args)
    if args.data:
        drives = data_drives(args.data, args.c_rate, cell.one_c_current)  # --surrogate's cell too
        rates = [d for d in drives if isinstance(d, float)]
        if len(rates) == len(drives) and len({round(r, 2) for r in rates}) == 1:
            c_rate = float(np.mean(rates))
        else:
            protocols = drives
    elif own_model is not None or cell.name != "nrel" or getattr(args, "param", None):
        raise InputError(
            "no data given: the bundled examples are of the nrel cell with its default box; "
            "give the CSV curves to calibrate with --surrogate, --cell or --param"
        )
    else:
        example = load_example(EXAMPLE_OF_MODEL.get(args.model, "spm_2c_example"))
        c_rate = example.c_rate if c_rate is None else c_rate
    voltage_model, custom = None, False
    t_max = np.inf
    if own_model is not None:
        if protocols is not None:
            raise InputError(
                f"{args.surrogate} describes a {own_model.c_rate:g}C discharge; a curve with a "
                "varying current_A (a protocol) needs --likelihood solver with --cell"
            )
        voltage_model = resolve_voltage_model(args.model, args.likelihood, own_model, c_rate)
        t_max, custom = voltage_model.t_max, True
    elif args.likelihood == "solver" and (cell.name != "nrel" or getattr(args, "param", None)):
        custom = True  # the exact solver of --cell / --param: built once the times are known
    elif protocols is None:
        voltage_model = resolve_voltage_model(args.model, args.likelihood, None, c_rate)
        t_max = voltage_model.t_max
    truth = None
    if args.data:
        curves = [load_curve_csv(path, t_max=t_max) for path in args.data]
        names = ", ".join(os.path.basename(p) for p in args.data)
        print(f"calibrating {names} ({sum(c.t.size for c in curves)} points)")
    else:
        curves = [load_curve_csv(example.path, t_max=t_max)]
        truth = dict(example.truth, sigma_mV=example.noise_std * 1e3)
        print(
            f"no data given: calibrating the bundled example {os.path.basename(example.path)} "
            f"(numerical {example.model.upper()} at {example.c_rate:g}C, truth "
            + ", ".join(f"{k} = {v:g}" for k, v in example.truth.items())
            + f", noise {example.noise_std * 1e3:g} mV)"
        )
    if len(curves) == 1:
        t, v = curves[0].t, curves[0].v
    else:
        t, v = [c.t for c in curves], [c.v for c in curves]
    if custom and own_model is None:
        voltage_model = _solver_models(args.model, cell, space, c_rate, protocols, curves)
        c_rate = protocols = None  # each model carries its drive
    if isinstance(voltage_model, list):
        what = f"one model per curve, cell {voltage_model[0].solver.cell.name}"
    elif voltage_model is None:
        what = "one model per curve"
    else:
        what = voltage_model.name + (f", cell {cell.name}" if custom else "")
    print(f"likelihood: {args.likelihood} ({what}); NUTS, {args.num_chains} chains x "
          f"({args.num_warmup} warm-up + {args.num_samples} samples)"
          + ("; parameters shared by the curves" if joint else ""), flush=True)  # fmt: skip
    result = calibrate(
        t, v, model=args.model, num_chains=args.num_chains, num_warmup=args.num_warmup,
        num_samples=args.num_samples, seed=args.seed, likelihood=args.likelihood,
        sigma=args.sigma, voltage_model=voltage_model if custom else None,
        c_rate=c_rate if protocols is None else None, protocol=protocols,
        joint=joint, hierarchical=args.hierarchical, progress_bar=True,
        surrogate_error=getattr(args, "surrogate_error", "white"),
    )  # fmt: skip
    print(result.table())
    if truth is not None:
        posterior = {k: result.summary[k] for k in example.truth}
        print("truth: " + ", ".join(
            f"{k} = {val:g} (posterior {posterior[k]['mean']:.3g} +- {posterior[k]['std']:.2g})"
            for k, val in example.truth.items()
        ))  # fmt: skip
    what = "the results" + ("" if args.no_plots else " and plots")
    print(f"writing {what} to {args.out} ...", flush=True)
    paths = result.save(
        args.out, plots=not args.no_plots, truth=truth, netcdf=getattr(args, "netcdf", False)
    )
    if outputs is not None:
        outputs.done(args.out)
    print(f"wrote {args.out}: " + ", ".join(sorted(paths)))
    return paths


def _own_model(args):
    """(the ``--surrogate`` checkpoint or None, the ``--cell`` cell, its ``--param`` space),
    the options checked against each other."""
    from .._load import load_surrogate  # noqa: PLC0415
    from ..cells._registry import cell_and_space  # noqa: PLC0415

    path, cell_name = getattr(args, "surrogate", None), getattr(args, "cell", None)
    params = getattr(args, "param", None)
    if path is None:
        if (cell_name not in (None, "nrel") or params) and args.likelihood != "solver":
            raise InputError(
                "--cell and --param choose the exact solver's cell and box: add --likelihood "
                "solver, or train a surrogate of the cell (jaxbatt train spm --cell ... --param "
                "... --out FILE) and give --surrogate FILE"
            )
        cell, space = cell_and_space(cell_name or "nrel", params)
        return None, cell, space
    if args.likelihood == "solver":
        raise InputError("--surrogate is the surrogate likelihood: drop --likelihood solver")
    if params:
        raise InputError(f"--param: the box is the one {path} was trained on; drop --param")
    surrogate = load_surrogate(path)
    if cell_name is not None and cell_name != surrogate.cell.name:
        raise InputError(
            f"--cell {cell_name}, but {path} is a surrogate of cell {surrogate.cell.name!r}"
        )
    return surrogate, surrogate.cell, surrogate.space


def _solver_models(model, cell, space, c_rate, protocols, curves):
    """The exact solver model(s) of ``--cell`` / ``--param`` over the curves' times: one
    model (every curve at one C-rate) or one per curve (each its rate or protocol)."""
    from ._solver_model import SolverVoltageModel  # noqa: PLC0415

    if protocols is None:
        t_max = max(float(c.t[-1]) for c in curves)
        return SolverVoltageModel(model, c_rate=c_rate, cell=cell, space=space, t_max=t_max)
    return [
        SolverVoltageModel(
            model, cell=cell, space=space, t_max=float(c.t[-1]),
            **({"c_rate": p} if isinstance(p, float) else {"protocol": p}),
        )
        for c, p in zip(curves, protocols)
    ]  # fmt: skip


def data_drives(paths, c_rate, one_c=None):
    """What each CSV curve of `paths` measured: its C-rate (from a constant ``current_A``
    column [A] over the cell's 1C current `one_c` [A], default the nrel cell's, else
    `c_rate`, ``--c-rate``) or its `Protocol` (a varying ``current_A``); refused when
    neither the file nor `c_rate` says it, or when they disagree."""
    one_c = nrel_cell().one_c_current if one_c is None else one_c
    drives = []
    for path in paths:
        label = os.path.basename(path)
        drive = checked_drive(path, one_c, c_rate, label, "--c-rate")
        if drive is None:
            raise InputError(
                f"{label}: the curve's C-rate is unknown: the file has no current_A column "
                "and --c-rate was not given. jaxbatt does not guess it (a curve fitted "
                "at the wrong rate gives a confidently wrong posterior); give --c-rate, "
                "e.g. --c-rate 2, or add a current_A column"
            )
        drives.append(drive)
    return drives
