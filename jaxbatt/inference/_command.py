"""``jaxbatt calibrate``: the command-line calibration (the parser lives in `jaxbatt._cli`)."""

import os

import numpy as np

from .._io import check_output_dir, is_result_folder
from ._calibrate import calibrate, resolve_voltage_model
from ..cells import nrel_cell
from .._errors import InputError
from ._data import constant_current_c_rate, load_curve_csv, load_example, read_curve_current


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
    c_rate = args.c_rate
    if args.data:
        c_rate = data_c_rate(args.data, args.c_rate)
    else:
        c_rate = load_example().c_rate if c_rate is None else c_rate
    voltage_model = resolve_voltage_model(args.model, args.likelihood, None, c_rate)
    truth = None
    if args.data:
        curves = [load_curve_csv(path, t_max=voltage_model.t_max) for path in args.data]
        names = ", ".join(os.path.basename(p) for p in args.data)
        print(f"calibrating {names} ({sum(c.t.size for c in curves)} points)")
    else:
        example = load_example()
        curves = [load_curve_csv(example.path, t_max=voltage_model.t_max)]
        truth = dict(example.truth, sigma_mV=example.noise_std * 1e3)
        print(
            f"no data given: calibrating the bundled example {os.path.basename(example.path)} "
            f"(numerical SPM at {example.c_rate:g}C, truth "
            + ", ".join(f"{k} = {v:g}" for k, v in example.truth.items())
            + f", noise {example.noise_std * 1e3:g} mV)"
        )
    if len(curves) == 1:
        t, v = curves[0].t, curves[0].v
    else:
        t, v = [c.t for c in curves], [c.v for c in curves]
    print(f"likelihood: {args.likelihood} ({voltage_model.name}); NUTS, {args.num_chains} chains x "
          f"({args.num_warmup} warm-up + {args.num_samples} samples)", flush=True)  # fmt: skip
    result = calibrate(
        t, v, model=args.model, num_chains=args.num_chains, num_warmup=args.num_warmup,
        num_samples=args.num_samples, seed=args.seed, likelihood=args.likelihood,
        sigma=args.sigma, c_rate=c_rate, hierarchical=args.hierarchical, progress_bar=True,
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


def data_c_rate(paths, c_rate):
    """The one C-rate of the CSV curves `paths`: from their ``current_A`` columns, else
    `c_rate` (``--c-rate``); refused when neither says it, or when they disagree."""
    one_c = nrel_cell().one_c_current
    rates = {}
    for path in paths:
        label = os.path.basename(path)
        rate = constant_current_c_rate(read_curve_current(path), one_c, label)
        if rate is None:
            if c_rate is None:
                raise InputError(
                    f"{label}: the curve's C-rate is unknown: the file has no current_A column "
                    "and --c-rate was not given. jaxbatt does not guess it (a curve fitted "
                    "at the wrong rate gives a confidently wrong posterior); give --c-rate, "
                    "e.g. --c-rate 2, or add a current_A column"
                )
            rate = c_rate
        elif c_rate is not None and abs(rate - c_rate) > 0.01 * c_rate:
            raise InputError(
                f"{label}: its current_A column is a {rate:.3g}C discharge "
                f"({rate * one_c * 1e3:.3g} mA) but --c-rate is {c_rate:g}"
            )
        rates[label] = rate
    distinct = sorted({round(r, 2) for r in rates.values()})
    if len(distinct) > 1:
        listed = ", ".join(f"{k} at {v:.3g}C" for k, v in rates.items())
        raise InputError(
            f"the curves are at different C-rates ({listed}); a joint calibration across "
            "rates is not supported yet: calibrate each rate on its own"
        )
    return float(np.mean(list(rates.values())))
