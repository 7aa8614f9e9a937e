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
    if args.data:
        drives = data_drives(args.data, args.c_rate)
        rates = [d for d in drives if isinstance(d, float)]
        if len(rates) == len(drives) and len({round(r, 2) for r in rates}) == 1:
            c_rate = float(np.mean(rates))
        else:
            protocols = drives
    else:
        example = load_example(EXAMPLE_OF_MODEL.get(args.model, "spm_2c_example"))
        c_rate = example.c_rate if c_rate is None else c_rate
    voltage_model = None
    t_max = np.inf
    if protocols is None:
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
    what = voltage_model.name if voltage_model is not None else "one model per curve"
    print(f"likelihood: {args.likelihood} ({what}); NUTS, {args.num_chains} chains x "
          f"({args.num_warmup} warm-up + {args.num_samples} samples)"
          + ("; parameters shared by the curves" if joint else ""), flush=True)  # fmt: skip
    result = calibrate(
        t, v, model=args.model, num_chains=args.num_chains, num_warmup=args.num_warmup,
        num_samples=args.num_samples, seed=args.seed, likelihood=args.likelihood,
        sigma=args.sigma, c_rate=c_rate if protocols is None else None, protocol=protocols,
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


def data_drives(paths, c_rate):
    """What each CSV curve of `paths` measured: its C-rate (from a constant ``current_A``
    column, else `c_rate`, ``--c-rate``) or its `Protocol` (a varying ``current_A``);
    refused when neither the file nor `c_rate` says it, or when they disagree."""
    one_c = nrel_cell().one_c_current
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
