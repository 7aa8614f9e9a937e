"""`calibrate`: Bayesian calibration of degradation parameters from voltage curves (NUTS)."""

import dataclasses
import datetime
import functools
import json
import os
import time
import warnings

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from numpyro.diagnostics import effective_sample_size, split_gelman_rubin
from numpyro.infer import init_to_median, init_to_uniform

from .._errors import InputError
from .._validation import check_c_rate, check_model, check_times
from .._voltage_model import AbstractVoltageModel
from ._checks import WHAT_TO_CHECK, MisfitCheck, MisfitWarning, check_curve, misfit_message
from ._data import VOLTAGE_RANGE, Curve, as_curves, curve_labels, curve_objects
from ._model import (
    DISCREPANCY_FACTOR_SITE,
    DISCREPANCY_MEAN_SITE,
    DISCREPANCY_SITE,
    calibration_model,
    check_priors,
    discrepancy_std,
    draw_discrepancy,
    legendre_basis,
    pad_curves,
    surrogate_error_mode,
)
from ._sampler import CHAIN_METHODS, chain_runner
from ._solver_model import SolverVoltageModel

LIKELIHOODS = ("surrogate", "solver")
# Measured on the 2-core CPU this was developed on (benchmarks/bench_calibration.py --runs
# chain-methods; figures in benchmarks/RESULTS.md): 4 chains run faster one after another than
# vmapped in lockstep, where every chain waits for the longest NUTS trajectory, and the
# vectorized program takes longer to compile.
DEFAULT_CHAIN_METHOD = "sequential"
DEFAULT_DENSE_MASS = False
QUANTILES = (0.05, 0.5, 0.95)


class ConvergenceWarning(UserWarning):
    """The sampler's diagnostics (R-hat, effective sample size, divergences) look poor."""


@functools.lru_cache(maxsize=4)
def _load_surrogate(model: str) -> AbstractVoltageModel:
    # Cached: one model object per name keeps the compiled sampler reusable across calls.
    try:
        from .. import load_surrogate  # noqa: PLC0415  (the surrogate package is optional)
    except ImportError as e:
        raise InputError(
            f"likelihood='surrogate' needs a trained {model.upper()} surrogate, but this "
            "jaxbatt has none (jaxbatt.load_surrogate is not available). Use "
            "likelihood='solver' for the exact numerical likelihood, or pass "
            "voltage_model=... (any jaxbatt AbstractVoltageModel)."
        ) from e
    return load_surrogate(model)


# Bundled surrogates with the C-rate as an input, by model: used for constant-current data
# at a rate the model's fixed-rate surrogate does not describe.
RATE_SURROGATES = {"spm": "spm-rates"}


@functools.lru_cache(maxsize=8)
def _surrogate_at(model: str, c_rate: float):
    """The bundled surrogate of `model` for a discharge at `c_rate` (kept, like the other
    models, so the compiled sampler is reused), or None when none covers the rate: the
    fixed-rate surrogate at its own rate, else the rate-input one bound to `c_rate`."""
    surrogate = _load_surrogate(model)
    if np.isclose(c_rate, surrogate.c_rate):
        return surrogate
    name = RATE_SURROGATES.get(model)
    if name is None:
        return None
    rates = _load_surrogate(name)
    return rates.at_c_rate(c_rate) if rates.covers(c_rate) else None


@functools.lru_cache(maxsize=4)
def _solver_model(model: str, c_rate: float) -> SolverVoltageModel:
    return SolverVoltageModel(model, c_rate=c_rate)


def resolve_voltage_model(model, likelihood, voltage_model, c_rate) -> AbstractVoltageModel:
    """The voltage model a calibration uses: `voltage_model` if given, else the surrogate of
    `model` (``likelihood="surrogate"``) or its numerical solver (``"solver"``) at `c_rate`.

    The surrogate and solver models are made once per name (and C-rate) and kept, so that
    repeated calibrations reuse their compiled sampler."""
    check_model(model)
    if likelihood not in LIKELIHOODS:
        raise InputError(f"unknown likelihood {likelihood!r}; choose one of {LIKELIHOODS}")
    if c_rate is not None:
        c_rate = check_c_rate(c_rate)
    if voltage_model is None:
        if likelihood == "solver":
            voltage_model = _solver_model(model, 2.0 if c_rate is None else c_rate)
        elif c_rate is None:
            voltage_model = _load_surrogate(model)
        else:
            voltage_model = _surrogate_at(model, c_rate)
            if voltage_model is None:
                raise InputError(
                    f"no bundled {model.upper()} surrogate covers a {c_rate:g}C discharge "
                    f"(the bundled ones: {_bundled_rates(model)}): use likelihood='solver' "
                    "for the exact numerical likelihood at that rate"
                )
    elif c_rate is not None and getattr(voltage_model, "rate_input", False):
        voltage_model = voltage_model.at_c_rate(c_rate)  # InputError outside its range
    if not isinstance(voltage_model, AbstractVoltageModel):
        raise InputError(
            "voltage_model must be a jaxbatt AbstractVoltageModel (a surrogate or "
            f"SolverVoltageModel), got {type(voltage_model).__name__}"
        )
    model_rate = getattr(voltage_model, "c_rate", None)
    if c_rate is not None and model_rate is None:
        raise InputError(
            f"the data are at {c_rate:g}C but the voltage model {voltage_model.name!r} runs a "
            "protocol: give the data's protocol to the model, not c_rate"
        )
    if c_rate is not None and not np.isclose(c_rate, voltage_model.c_rate):
        raise InputError(
            f"the data are at {c_rate:g}C but the voltage model {voltage_model.name!r} "
            f"describes {voltage_model.c_rate:g}C"
        )
    return voltage_model


def _bundled_rates(model) -> str:
    described = [f"{_load_surrogate(model).c_rate:g}C"]
    if model in RATE_SURROGATES:
        lo, hi = _load_surrogate(RATE_SURROGATES[model]).c_rate_range
        described.append(f"{lo:g}C to {hi:g}C")
    return " and ".join(described)


def _is_rate(entry) -> bool:
    return isinstance(entry, (int, float, np.integer, np.floating)) and not isinstance(entry, bool)


def resolve_curve_models(model, likelihood, voltage_model, c_rate, protocol, n_curves):
    """One voltage model per curve, or None when every curve uses `resolve_voltage_model`'s
    one model. `voltage_model` may be a list (one per curve); `protocol` a list with one
    entry per curve, each a C-rate (a number) or a `Protocol` (or its list of steps), or one
    entry for every curve. A constant-current curve at a rate a bundled surrogate covers (the
    fixed-rate surrogate's, or inside the rate-input surrogate's range) uses that surrogate
    with ``likelihood="surrogate"``; every other curve the exact solver."""
    if isinstance(voltage_model, (list, tuple)):
        if protocol is not None or c_rate is not None:
            raise InputError("give per-curve voltage models or protocol/c_rate, not both")
        _check_one_per_curve(voltage_model, n_curves)
        models = [resolve_voltage_model(model, likelihood, m, None) for m in voltage_model]
    elif protocol is not None:
        if voltage_model is not None or c_rate is not None:
            raise InputError(
                "give either protocol (one entry per curve: a C-rate or a Protocol) or "
                "c_rate / voltage_model, not both"
            )
        entries = list(protocol) if _is_entry_list(protocol) else [protocol]
        if len(entries) == 1:
            entries = entries * n_curves
        if len(entries) != n_curves:
            raise InputError(f"{len(entries)} protocols for {n_curves} curves: give one per curve")
        built = {}  # one model per distinct entry: curves under one protocol share it
        models = []
        for entry in entries:
            key = ("rate", float(entry)) if _is_rate(entry) else ("protocol", id(entry))
            if key not in built:
                built[key] = _curve_model(model, likelihood, entry)
            models.append(built[key])
    else:
        return None
    names = models[0].space.names
    for m in models[1:]:
        if m.space.names != names:
            raise InputError(
                f"the curves' voltage models have different parameters ({names} and "
                f"{m.space.names}); a joint calibration needs one parameter space"
            )
    return tuple(models)


def _is_entry_list(protocol) -> bool:
    """Whether `protocol` is a list of per-curve entries (not one protocol's list of steps)."""
    from ..protocols import Protocol, Step  # noqa: PLC0415

    if not isinstance(protocol, (list, tuple)) or not protocol:
        return False
    return not all(isinstance(x, (str, Step)) for x in protocol) and all(
        _is_rate(x) or isinstance(x, Protocol) or isinstance(x, (list, tuple)) for x in protocol
    )


def _curve_model(model, likelihood, entry):
    from .._simulate import check_protocol  # noqa: PLC0415

    if _is_rate(entry):
        rate = check_c_rate(float(entry))
        if likelihood == "surrogate":
            surrogate = _surrogate_at(model, rate)
            if surrogate is not None:
                return surrogate
        return _solver_model(model, rate)
    return SolverVoltageModel(model, protocol=check_protocol(entry))


def _init_strategy(site=None):
    """Chains start at scattered points of the parameter box (unit coordinates in about
    [0.18, 0.82]) and at the prior median of sigma (a huge initial sigma flattens the
    likelihood and slows warm-up)."""
    if site is None:
        return functools.partial(_init_strategy)  # numpyro expects a partial
    if site["type"] == "sample" and site["name"] == "sigma":
        return init_to_median(site)
    return init_to_uniform(site, radius=1.5)


_INIT_STRATEGY = _init_strategy()


def _positive_int(value, name):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise InputError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


@dataclasses.dataclass(frozen=True)
class SamplerSettings:
    """NUTS settings of a calibration, as one object: ``calibrate(curves,
    sampler=SamplerSettings(num_chains=2, num_warmup=300))``. The fields are `calibrate`'s
    keywords of the same names (see there); giving both is refused."""

    num_chains: int = 4
    num_warmup: int = 500
    num_samples: int = 1000
    seed: int = 0
    chain_method: str | None = None
    target_accept: float = 0.9
    max_tree_depth: int = 10
    dense_mass: bool = DEFAULT_DENSE_MASS
    max_r_hat: float = 1.01
    min_ess: float | None = None

    def checked(self) -> "SamplerSettings":
        """These settings with the counts validated and `chain_method` and `min_ess`
        resolved (`InputError` naming a bad value)."""
        num_chains = _positive_int(self.num_chains, "num_chains")
        chain_method = self.chain_method
        if chain_method is None:
            enough = num_chains > 1 and jax.local_device_count() >= num_chains
            chain_method = "parallel" if enough else DEFAULT_CHAIN_METHOD
        if chain_method not in CHAIN_METHODS:
            raise InputError(f"unknown chain_method {chain_method!r}; choose one of {CHAIN_METHODS}")
        if not 0 < self.target_accept < 1:
            raise InputError(f"target_accept must be in (0, 1), got {self.target_accept}")
        return dataclasses.replace(
            self,
            num_chains=num_chains,
            num_warmup=_positive_int(self.num_warmup, "num_warmup"),
            num_samples=_positive_int(self.num_samples, "num_samples"),
            chain_method="sequential" if num_chains == 1 else chain_method,
            target_accept=float(self.target_accept),
            max_tree_depth=int(self.max_tree_depth),
            dense_mass=bool(self.dense_mass),
            min_ess=100.0 * num_chains if self.min_ess is None else float(self.min_ess),
        )


def _sampler_settings(sampler, keywords: dict) -> SamplerSettings:
    """`sampler` (a `SamplerSettings`) or the settings from `calibrate`'s keywords; refused
    when both say something."""
    if sampler is None:
        return SamplerSettings(**keywords).checked()
    if not isinstance(sampler, SamplerSettings):
        raise InputError(f"sampler must be a SamplerSettings, got {type(sampler).__name__}")
    default = SamplerSettings()
    changed = [k for k, value in keywords.items() if value != getattr(default, k)]
    if changed:
        raise InputError(
            f"give the sampler settings either as sampler=SamplerSettings(...) or as keywords, "
            f"not both (keywords given: {', '.join(changed)})"
        )
    return sampler.checked()


def _drives_of(given, c_rate, protocol):
    """(c_rate, protocol) of a calibration of `Curve` objects: what each curve carries (one
    rate for all, or one entry per curve), or the arguments when no curve carries one."""
    drives = [c.drive for c in given]
    known = [d is not None for d in drives]
    labels = curve_labels(given)
    if any(known):
        if c_rate is not None or protocol is not None:
            raise InputError(
                "the curves carry their C-rates or protocols: do not also pass c_rate or protocol"
            )
        if not all(known):
            k = known.index(False)
            raise InputError(
                f"{labels[k]}: the curve's C-rate or protocol is unknown; give it as "
                "Curve(t, v, c_rate=...) or Curve(t, v, protocol=...) (or Curve.from_csv with a "
                "current_A column)"
            )
        if all(_is_rate(d) for d in drives) and len({round(d, 6) for d in drives}) == 1:
            return drives[0], None
        return None, drives
    if c_rate is None and protocol is None:
        raise InputError(
            f"the C-rate or protocol of {', '.join(labels)} is unknown: give Curve(t, v, c_rate=...) or "
            "Curve(t, v, protocol=...), or c_rate= / protocol= for every curve"
        )
    return c_rate, protocol


def _check_one_per_curve(voltage_models, n_curves):
    if len(voltage_models) != n_curves:
        raise InputError(
            f"{len(voltage_models)} voltage models for {n_curves} curves: give one per curve"
        )


def _models_for_drives(model, likelihood, voltage_models, curves):
    """`voltage_models` (one per curve), each checked against its `Curve`'s C-rate (a
    rate-input surrogate is fixed at it) or, for a protocol curve, required to run a
    protocol."""
    _check_one_per_curve(voltage_models, len(curves))
    out = []
    for label, curve, m in zip(curve_labels(curves), curves, voltage_models):
        if _is_rate(curve.drive):
            try:
                out.append(resolve_voltage_model(model, likelihood, m, curve.drive))
            except InputError as e:
                raise InputError(f"{label}: {e}") from None
        else:
            m = resolve_voltage_model(model, likelihood, m, None)
            if getattr(m, "c_rate", None) is not None:
                raise InputError(
                    f"{label} follows a protocol but its voltage model {m.name!r} describes a "
                    f"constant {m.c_rate:g}C discharge: give the model the curve's protocol"
                )
            out.append(m)
    return out


def _curves_and_models(t, v, model, likelihood, voltage_model, c_rate, protocol, voltage_range):
    """(curves, is_fleet, voltage_model, curve_models): the checked curves, the calibration's
    (first) voltage model, and one model per curve when they differ (else None)."""
    given = curve_objects(t, v)
    if given is not None:
        c_rate, protocol = _drives_of(given, c_rate, protocol)
        if isinstance(voltage_model, (list, tuple)) and (c_rate is not None or protocol is not None):
            # per-curve models for curves that carry their drives: check each pair
            voltage_model = _models_for_drives(model, likelihood, voltage_model, given)
            c_rate = protocol = None
        if protocol is not None and len(given) == 1 and not _is_entry_list(protocol):
            protocol = [protocol]
    per_curve = protocol is not None or isinstance(voltage_model, (list, tuple))
    if not per_curve:
        voltage_model = resolve_voltage_model(model, likelihood, voltage_model, c_rate)
        curves, is_fleet = as_curves(t, v, t_max=voltage_model.t_max, voltage_range=voltage_range)
        return curves, is_fleet, voltage_model, None
    curves, is_fleet = as_curves(t, v, t_max=np.inf, voltage_range=voltage_range)
    curve_models = resolve_curve_models(model, likelihood, voltage_model, c_rate, protocol,
                                        len(curves))  # fmt: skip
    for k, (c, m) in enumerate(zip(curves, curve_models)):
        if c.t[-1] > m.t_max:
            raise InputError(
                f"curve {k}: time {c.t[-1]:g} s is outside its model's window "
                f"[0, {m.t_max:g}] s ({m.name}"
                + (", the protocol's nominal length)" if m.c_rate is None else ")")
            )
    voltage_model = curve_models[0]
    if all(m is voltage_model for m in curve_models):
        curve_models = None  # one model for every curve: the vmapped path
    return curves, is_fleet, voltage_model, curve_models


def _check_noise(sigma, sigma_prior_mV):
    if sigma is not None:
        sigma = float(sigma)
        if not (np.isfinite(sigma) and sigma > 0):
            raise InputError(f"sigma must be a positive noise standard deviation in V, got {sigma}")
        if sigma > 0.1:
            raise InputError(f"sigma = {sigma:g} V is implausibly large; sigma is in V, not mV")
    sigma_prior_mV = float(sigma_prior_mV)
    if not (np.isfinite(sigma_prior_mV) and sigma_prior_mV > 0):
        raise InputError(f"sigma_prior_mV must be positive (mV), got {sigma_prior_mV}")
    return sigma, sigma_prior_mV


def _check_discrepancy_prior(discrepancy_prior_mV, error_mode):
    """The discrepancy coefficients' given prior std [V], or None."""
    if discrepancy_prior_mV is None:
        return None
    if error_mode != "correlated":
        raise InputError(
            "discrepancy_prior_mV sets the prior of the model discrepancy, which only "
            "surrogate_error='correlated' has"
        )
    try:
        value = float(discrepancy_prior_mV)
    except (TypeError, ValueError):
        value = float("nan")
    if not (np.isfinite(value) and value > 0):
        raise InputError(f"discrepancy_prior_mV must be a positive number of mV, got {discrepancy_prior_mV!r}")
    return value * 1e-3


def _check_discrepancy(discrepancy_terms, discrepancy_scale):
    discrepancy_terms = _positive_int(discrepancy_terms, "discrepancy_terms")
    try:
        discrepancy_scale = float(discrepancy_scale)
    except (TypeError, ValueError):
        raise InputError(
            f"discrepancy_scale must be a positive number, got {discrepancy_scale!r}"
        ) from None
    if not (np.isfinite(discrepancy_scale) and discrepancy_scale > 0):
        raise InputError(
            "discrepancy_scale must be a positive factor of the model's error_std, got "
            f"{discrepancy_scale!r}"
        )
    return discrepancy_terms, discrepancy_scale


def calibrate(
    t,
    v=None,
    model: str = "spm",
    num_chains: int = 4,
    num_warmup: int = 500,
    num_samples: int = 1000,
    seed: int = 0,
    likelihood: str = "surrogate",
    sigma: float | None = None,
    sigma_prior_mV: float = 5.0,
    priors: dict | None = None,
    surrogate_error: bool | str = True,
    voltage_model: AbstractVoltageModel | None = None,
    progress_bar: bool = True,
    *,
    c_rate: float | None = None,
    protocol=None,
    joint: bool = False,
    hierarchical: bool = False,
    chain_method: str | None = None,
    target_accept: float = 0.9,
    max_tree_depth: int = 10,
    voltage_range: tuple[float, float] = VOLTAGE_RANGE,
    max_r_hat: float = 1.01,
    min_ess: float | None = None,
    discrepancy_terms: int = 4,
    discrepancy_scale: float = 2.0,
    dense_mass: bool = DEFAULT_DENSE_MASS,
    misfit_check: bool = True,
    sampler: SamplerSettings | None = None,
    discrepancy_prior_mV: float | None = None,
    marginalise_discrepancy: bool = True,
) -> "CalibrationResult":
    """Posterior of the degradation parameters given measured discharge curves (NUTS).

    Model: each curve's parameters have a uniform prior over the parameter space's box (or
    the user's `priors`), sampled in the unit box; the voltages are Gaussian around the voltage
    model's curve with standard deviation sqrt(sigma^2 + error_std^2), where sigma [V] is
    inferred with a HalfNormal(`sigma_prior_mV`) prior unless fixed, and error_std is the
    voltage model's own error (a surrogate's stored validation error; 0 for the solver) when
    `surrogate_error` is True (``"white"``). With ``surrogate_error="correlated"`` the model
    error is instead a smooth discrepancy added to each curve's mean, a sum of
    `discrepancy_terms` Legendre polynomials in time with Normal(0, `discrepancy_scale` *
    error_std) coefficients, sampled with the parameters: a systematic model error (a bias
    that white noise cannot absorb) then widens the posterior instead of shifting it. See
    `jaxbatt.inference.calibration_model`.

    Several curves (a fleet of cells, or cycles of one cell) are fitted in one compiled
    program with the likelihood vmapped over curves; each curve has its own parameters and
    sigma, independent by default or tied by a logit-normal population prior
    (``hierarchical=True``).

    Args:
        t, v: the data. Best: a `Curve` or a list of them, ``v=None``: each curve carries its
            times, voltages and C-rate or protocol (``Curve(t, v, c_rate=1.0)``,
            ``Curve.from_csv(path)``), and a curve without one is refused. Arrays: one curve
            ``t (T,)`` [s], ``v (T,)`` [V]; several: ``t (T,)`` with ``v (C, T)``;
            ``t (C, T)`` with ``v (C, T)``; lists ``[t_0, ...]`` and ``[v_0, ...]`` (lengths
            may differ); or a list of ``(t_i, v_i)`` pairs with ``v=None``; their rate is
            `c_rate` (default: the voltage model's, 2C for the bundled surrogate) or
            `protocol`. Times must be strictly increasing within [0, model t_max].
        model: ``"spm"`` or ``"p2d"`` (with ``likelihood="surrogate"``: the bundled P2D
            surrogate, 2C only; ``"solver"``: the numerical P2D).
        num_chains: independent NUTS chains (default 4).
        num_warmup, num_samples: warm-up (adaptation) and kept iterations per chain (default
            500 and 1000: with 500 + 500 the bundled example's banana-shaped k_i0-k_Ds
            posterior left R-hat above 1.01 for some seeds; see the README).
        seed: seed of the sampler's PRNG key.
        likelihood: ``"surrogate"`` (the trained PINN via `jaxbatt.load_surrogate`) or
            ``"solver"`` (the exact numerical solver, slower); ignored when `voltage_model`
            is given.
        sigma: fixed measurement noise standard deviation [V]; None (default) infers it.
        sigma_prior_mV: scale of the HalfNormal prior on sigma [mV] (default 5 mV).
        priors: optional mapping parameter name -> numpyro distribution over its physical
            value, replacing the uniform prior; its support must lie inside the bounds.
        surrogate_error: how the voltage model's own error (`error_std`, V) enters:
            True or ``"white"`` (default): added to the noise variance; False or ``"none"``:
            ignored; ``"correlated"``: a smooth per-curve discrepancy delta(t) = sum_k a_k
            phi_k(t) added to the mean, phi_k the Legendre polynomial P_k of
            s = 2 t / t_max - 1 scaled to unit RMS, a_k ~ Normal(0, discrepancy_scale *
            error_std) [V]; sampled as the site ``discrepancy`` and included in
            `CalibrationResult.predictive`. Needs a voltage model with error_std > 0 (a
            surrogate; not the exact solver).
        voltage_model: any `AbstractVoltageModel` (overrides `model` and `likelihood`).
        progress_bar: show a progress bar (and a line while the sampler compiles).
        c_rate: C-rate of the data; checked against the voltage model's (the solver
            likelihood is built at it; default 2C).
        protocol: what each curve measured, instead of one `c_rate`: one entry per curve
            (or one for all), each a C-rate (a constant-current discharge) or a
            `jaxbatt.Protocol` / its list of steps. Each curve then has its own voltage
            model: the surrogate for a discharge at its C-rate when ``likelihood=
            "surrogate"``, the exact solver (`SolverVoltageModel(protocol=...)`) otherwise.
            `voltage_model` may also be a list, one model per curve.
        joint: the curves come from one cell and share its parameters (each keeps its own
            noise sigma): e.g. a 2C discharge and a pulse test calibrated together. Default
            False: each curve has its own parameters.
        hierarchical: population prior over the curves (needs at least 2 curves).
        chain_method: ``"sequential"``, ``"vectorized"`` or ``"parallel"`` (one chain per
            device); default parallel when there are enough devices, else sequential (faster
            than vectorized on a 2-core CPU, see benchmarks/RESULTS.md).
        target_accept: NUTS target acceptance probability (default 0.9).
        max_tree_depth: NUTS maximum tree depth.
        voltage_range: physical voltage bounds [V] for the input check.
        max_r_hat, min_ess: thresholds of the convergence warning (default 1.01, and an
            effective sample size of 100 per chain).
        discrepancy_terms: number K >= 1 of Legendre terms of the correlated discrepancy
            (default 4: offset, slope, curvature, cubic); used with "correlated" only.
        discrepancy_scale: prior standard deviation of each discrepancy coefficient in units
            of the model's error_std (default 2, i.e. 2 * error_std volts); must be > 0.
        discrepancy_prior_mV: the prior standard deviation of each discrepancy coefficient
            in mV, given directly instead of `discrepancy_scale` x error_std: what a model
            without a stated error (the exact solver, ``likelihood="solver"``) needs for
            ``surrogate_error="correlated"`` against measured data, where the model's own
            structural error is unknown (e.g. 10 mV for an isothermal model of a warming cell).
        marginalise_discrepancy: with ``surrogate_error="correlated"``, integrate the
            discrepancy coefficients out of the likelihood exactly (default True): NUTS then
            samples the parameters and the noise only, and each draw's coefficients are drawn
            afterwards from their Gaussian conditional, so ``samples["discrepancy"]`` means
            the same either way. False samples them with the parameters (the same posterior;
            slower to mix where the discrepancy and the parameters trade off).
        dense_mass: adapt a dense mass matrix (NUTS ``dense_mass``), which follows
            correlated parameters; default `DEFAULT_DENSE_MASS`.
        misfit_check: run the posterior predictive checks after sampling (default True;
            `CalibrationResult.checks`): the inferred sigma against its prior and the
            residuals against white noise, per curve.
        sampler: the NUTS settings as one `SamplerSettings` (num_chains, num_warmup,
            num_samples, seed, chain_method, target_accept, max_tree_depth, dense_mass,
            max_r_hat, min_ess) instead of those keywords.

    Returns:
        A `CalibrationResult`.

    Raises:
        InputError: bad data (naming the index or value), unknown model or likelihood, no
            surrogate available, invalid priors or settings.

    Warns:
        ConvergenceWarning: when R-hat exceeds `max_r_hat`, an effective sample size is
            below `min_ess`, or there were divergent transitions after warm-up.
        MisfitWarning: when a posterior predictive check fails: the model does not describe
            a curve (e.g. data at another C-rate, times not in seconds, another cell); the
            message gives the statistics and what to check.

    Example:
        >>> import jaxbatt
        >>> from jaxbatt.inference import load_example
        >>> ex = load_example()
        >>> result = jaxbatt.calibrate(ex.t, ex.v, likelihood="solver")  # doctest: +SKIP
        >>> result.summary["k_Ds"]["mean"]  # doctest: +SKIP
    """
    custom_model = voltage_model is not None
    curves, is_fleet, voltage_model, curve_models = _curves_and_models(
        t, v, model, likelihood, voltage_model, c_rate, protocol, voltage_range
    )
    if custom_model:
        likelihood = "custom"
    joint = bool(joint)
    if joint and hierarchical:
        raise InputError("joint=True shares the parameters between curves: nothing to pool "
                         "with hierarchical=True")  # fmt: skip
    run = _sampler_settings(sampler, dict(
        num_chains=num_chains, num_warmup=num_warmup, num_samples=num_samples, seed=seed,
        chain_method=chain_method, target_accept=target_accept, max_tree_depth=max_tree_depth,
        dense_mass=dense_mass, max_r_hat=max_r_hat, min_ess=min_ess,
    ))  # fmt: skip
    priors = check_priors(priors, voltage_model.space)
    error_mode = surrogate_error_mode(surrogate_error)
    discrepancy_terms, discrepancy_scale = _check_discrepancy(discrepancy_terms, discrepancy_scale)
    discrepancy_std_V = None
    discrepancy_prior_V = _check_discrepancy_prior(discrepancy_prior_mV, error_mode)
    if error_mode == "correlated":  # with per-curve models: the largest of their priors
        discrepancy_std_V = discrepancy_prior_V or max(
            discrepancy_std(m, discrepancy_scale) for m in (curve_models or [voltage_model])
        )
    sigma, sigma_prior_mV = _check_noise(sigma, sigma_prior_mV)
    if hierarchical and len(curves) < 2:
        raise InputError("hierarchical=True needs at least 2 curves")
    if hierarchical and len(priors) == len(voltage_model.space):
        raise InputError("hierarchical=True has nothing to pool: every parameter has a user prior")
    num_chains, num_warmup, num_samples = run.num_chains, run.num_warmup, run.num_samples
    seed, chain_method, min_ess = run.seed, run.chain_method, run.min_ess

    t_pad, v_pad, mask = pad_curves(curves)
    options = dict(
        voltage_model=voltage_model,
        priors=priors,
        sigma=sigma,
        sigma_prior_std=sigma_prior_mV * 1e-3,
        surrogate_error=error_mode,
        hierarchical=bool(hierarchical),
        discrepancy_terms=discrepancy_terms,
        discrepancy_scale=discrepancy_scale,
        curve_models=curve_models,
        joint=joint,
        discrepancy_prior_std=discrepancy_prior_V,
        marginalise_discrepancy=bool(marginalise_discrepancy),
    )
    total = num_chains * (num_warmup + num_samples)
    sampler_settings = dict(
        num_chains=num_chains,
        num_warmup=num_warmup,
        num_samples=num_samples,
        chain_method=chain_method,
        target_accept=run.target_accept,
        max_tree_depth=run.max_tree_depth,
        dense_mass=run.dense_mass,
        init_strategy=_INIT_STRATEGY,
        progress_every=max(1, total // (100 * num_chains)) if progress_bar else 0,
    )
    cache_key = (
        *(options[k] for k in ("voltage_model", "sigma", "sigma_prior_std")),
        options["surrogate_error"],
        options["hierarchical"],
        options["discrepancy_terms"],
        options["discrepancy_scale"],
        discrepancy_prior_V,
        options["marginalise_discrepancy"],
        curve_models,
        joint,
        tuple(sorted(priors.items(), key=lambda item: item[0])),
        *(sampler_settings[k] for k in sorted(sampler_settings) if k != "init_strategy"),
    )
    runner = chain_runner(
        functools.partial(calibration_model, **options), cache_key=cache_key, **sampler_settings
    )
    start = time.perf_counter()
    raw, diverging, num_steps = runner(
        seed, jnp.asarray(t_pad), jnp.asarray(v_pad), jnp.asarray(mask), progress_bar=progress_bar
    )
    wall_time = time.perf_counter() - start
    marginal = error_mode == "correlated" and options["marginalise_discrepancy"]
    if marginal:  # each draw's coefficients from their exact conditional
        raw[DISCREPANCY_SITE] = draw_discrepancy(
            raw.pop(DISCREPANCY_MEAN_SITE), raw.pop(DISCREPANCY_FACTOR_SITE), seed
        )

    keep = [p.name for p in voltage_model.space.parameters]
    if sigma is None:
        keep.append("sigma")
    if hierarchical:
        keep += [
            f"{p.name}_{suffix}"
            for p in voltage_model.space.parameters
            if p.name not in priors
            for suffix in ("pop_median", "pop_scale")
        ]
    if error_mode == "correlated":
        keep.append(DISCREPANCY_SITE)
    samples_by_chain = {}
    for name in keep:
        x = np.asarray(raw[name])
        if not is_fleet and x.ndim == 3:
            x = x[..., 0]  # one curve: drop the curve axis
        elif not is_fleet and name == DISCREPANCY_SITE:
            x = x[:, :, 0]  # (chains, draws, 1, K) -> (chains, draws, K)
        samples_by_chain[name] = x
    settings = dict(
        model=model,
        likelihood=likelihood,
        voltage_model=voltage_model.name,
        num_chains=num_chains,
        num_warmup=num_warmup,
        num_samples=num_samples,
        seed=seed,
        chain_method=chain_method,
        target_accept=run.target_accept,
        max_tree_depth=run.max_tree_depth,
        dense_mass=run.dense_mass,
        sigma_fixed_V=sigma,
        sigma_prior_mV=sigma_prior_mV,
        surrogate_error=error_mode,
        hierarchical=bool(hierarchical),
        discrepancy_terms=discrepancy_terms if error_mode == "correlated" else None,
        discrepancy_scale=discrepancy_scale if error_mode == "correlated" else None,
        discrepancy_std_V=discrepancy_std_V,
        discrepancy_prior_mV=discrepancy_prior_mV if error_mode == "correlated" else None,
        marginalise_discrepancy=marginal,
        priors={name: repr(prior) for name, prior in priors.items()},
        c_rate=None if voltage_model.c_rate is None or curve_models is not None
        else float(voltage_model.c_rate),
        joint=joint,
        curve_models=None if curve_models is None else [_describe_model(m) for m in curve_models],
        max_r_hat=run.max_r_hat,
        min_ess=min_ess,
    )
    result = CalibrationResult(
        samples_by_chain=samples_by_chain,
        diverging=diverging,
        num_steps=num_steps,
        voltage_model=voltage_model,
        curves=tuple(curves),
        is_fleet=is_fleet,
        curve_models=curve_models,
        settings=settings,
        wall_time_s=wall_time,
    )
    if misfit_check:
        result = dataclasses.replace(result, checks=posterior_checks(result))
        if result.misfit:
            warnings.warn(misfit_message(result.checks, is_fleet), MisfitWarning, stacklevel=2)
    problems = result.convergence_problems()
    if problems:
        warnings.warn(
            "calibration may not have converged: " + "; ".join(problems) + ". Run more "
            "warm-up and samples or more chains, check the data and the C-rate, or fix "
            "sigma if the noise level is known.",
            ConvergenceWarning,
            stacklevel=2,
        )
    return result


def _describe_model(m) -> str:
    """A per-curve model in words: its name and what it runs."""
    if m.c_rate is not None:
        return f"{m.name} at {m.c_rate:g}C"
    return f"{m.name} under " + "; ".join(m.protocol.descriptions)


MIN_DRAWS_FOR_DIAGNOSTICS = 4  # split R-hat needs at least 4 draws per chain


def _diagnostic(fn, x):
    """`fn` (split R-hat or ESS) of draws x (chains, draws, ...), NaN when too few draws."""
    if x.shape[1] < MIN_DRAWS_FOR_DIAGNOSTICS:
        return np.full(x.shape[2:], np.nan)
    return np.asarray(fn(x))


@dataclasses.dataclass(frozen=True)
class PredictiveBand:
    """Posterior-predictive voltage band of one curve.

    Attributes:
        t: times [s], shape (T,).
        mean, median, lower, upper: voltage [V], shape (T,); lower/upper are the
            ``(1 - level) / 2`` and ``(1 + level) / 2`` quantiles over posterior draws.
        level: the band's probability (e.g. 0.9).
        noise: whether the band includes measurement noise (a band for new data) or only
            parameter uncertainty (a band for the model curve).
        draws: voltages of the individual posterior draws [V], shape (D, T).
    """

    t: np.ndarray
    mean: np.ndarray
    median: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    level: float
    noise: bool
    draws: np.ndarray


@dataclasses.dataclass(frozen=True, eq=False)
class CalibrationResult:
    """The posterior of a calibration, its diagnostics, and exports.

    Attributes:
        samples_by_chain: name -> array (chains, draws) for one curve, (chains, draws, C) for
            several; names are the degradation parameters, ``sigma`` [V] (unless fixed) and,
            with a hierarchical prior, ``<name>_pop_median`` (physical units) and
            ``<name>_pop_scale`` (logit scale); with ``surrogate_error="correlated"``,
            ``discrepancy`` [V], the Legendre coefficients of the model discrepancy, shape
            (chains, draws, K) for one curve, (chains, draws, C, K) for several.
        diverging: (chains, draws) booleans: divergent transitions after warm-up.
        num_steps: (chains, draws) leapfrog steps per NUTS iteration.
        voltage_model: the `AbstractVoltageModel` used.
        curves: the checked data, one `Curve` per curve.
        is_fleet: whether several curves were given (sites carry a curve axis).
        settings: the sampler settings and model options (``surrogate_error`` is "none",
            "white" or "correlated").
        wall_time_s: wall time of compilation and sampling [s].
        checks: the posterior predictive checks, one `MisfitCheck` per curve (noise against
            its prior, residuals against white noise; empty with ``misfit_check=False``);
            `misfit` says whether one failed.
    """

    samples_by_chain: dict
    diverging: np.ndarray
    num_steps: np.ndarray
    voltage_model: AbstractVoltageModel
    curves: tuple[Curve, ...]
    is_fleet: bool
    settings: dict
    wall_time_s: float
    checks: tuple[MisfitCheck, ...] = ()
    curve_models: tuple | None = None

    @property
    def misfit(self) -> bool:
        """Whether a posterior predictive check failed for some curve (see `checks`)."""
        return any(c.misfit for c in self.checks)

    @property
    def space(self):
        return self.voltage_model.space

    @property
    def parameter_names(self) -> tuple[str, ...]:
        return self.space.names

    @property
    def num_curves(self) -> int:
        return len(self.curves)

    @functools.cached_property
    def samples(self) -> dict:
        """name -> array (chains * draws,) or (chains * draws, C): chains concatenated."""
        return {k: x.reshape((-1,) + x.shape[2:]) for k, x in self.samples_by_chain.items()}

    @functools.cached_property
    def summary(self) -> dict:
        """name -> {"mean", "std", "q05", "median", "q95", "r_hat", "ess"}: floats for one
        curve, arrays (C,) for several. Quantiles are over all chains; R-hat is the split
        Gelman-Rubin statistic and ess the effective sample size (numpyro.diagnostics)."""
        out = {}
        for name, x in self.samples_by_chain.items():
            flat = x.reshape((-1,) + x.shape[2:])
            q05, q50, q95 = np.quantile(flat, QUANTILES, axis=0)
            stats = {
                "mean": flat.mean(axis=0),
                "std": flat.std(axis=0, ddof=1),
                "q05": q05,
                "median": q50,
                "q95": q95,
                "r_hat": _diagnostic(split_gelman_rubin, x),
                "ess": _diagnostic(effective_sample_size, x),
            }
            out[name] = {k: float(s) if np.ndim(s) == 0 else s for k, s in stats.items()}
        return out

    @property
    def num_divergences(self) -> int:
        """Divergent transitions after warm-up, all chains."""
        return int(self.diverging.sum())

    def convergence_problems(self) -> list[str]:
        """Messages for each diagnostic beyond its threshold (empty when all look fine)."""
        problems = []
        max_r_hat, min_ess = self.settings["max_r_hat"], self.settings["min_ess"]
        if self.settings["num_samples"] < MIN_DRAWS_FOR_DIAGNOSTICS:
            problems.append(
                f"{self.settings['num_samples']} samples per chain are too few to compute "
                "R-hat and the effective sample size"
            )
        for name, stats in self.summary.items():
            r_hat, ess = np.ravel(stats["r_hat"]), np.ravel(stats["ess"])
            if np.all(np.isnan(r_hat)):
                continue
            worst = int(np.argmax(np.where(np.isnan(r_hat), np.inf, r_hat)))
            if not r_hat[worst] <= max_r_hat:
                label = self._site_label(name, worst)
                problems.append(f"R-hat of {label} is {r_hat[worst]:.3f} (> {max_r_hat})")
            worst = int(np.argmin(np.where(np.isnan(ess), -np.inf, ess)))
            if not ess[worst] >= min_ess:
                label = self._site_label(name, worst)
                problems.append(
                    f"effective sample size of {label} is {ess[worst]:.0f} (< {min_ess:.0f})"
                )
        if self.num_divergences:
            total = self.diverging.size
            problems.append(f"{self.num_divergences} of {total} transitions diverged after warm-up")
        return problems

    def _site_label(self, name, k):
        shape = np.shape(self.summary[name]["mean"])
        if name == DISCREPANCY_SITE:  # (K,) or (C, K)
            index = np.unravel_index(k, shape)
            term = f"term {index[-1]}"
            return f"{name}[curve {index[0]}, {term}]" if len(shape) > 1 else f"{name}[{term}]"
        per_curve = self.is_fleet and len(shape)
        if self.settings.get("joint") and name in self.parameter_names:
            per_curve = False  # one value shared by every curve
        return f"{name}[curve {k}]" if per_curve else name

    def model_of(self, curve: int = 0) -> AbstractVoltageModel:
        """The voltage model of curve `curve` (each curve has its own when the calibration
        was given per-curve protocols or models)."""
        curve = self._curve(curve)
        return self.voltage_model if self.curve_models is None else self.curve_models[curve]

    def _curve(self, curve):
        if not isinstance(curve, (int, np.integer)) or not 0 <= curve < self.num_curves:
            raise InputError(f"curve must be an index in [0, {self.num_curves - 1}], got {curve!r}")
        return int(curve)

    def curve_samples(self, curve: int = 0) -> dict:
        """name -> flattened samples of one curve (population sites are shared)."""
        curve = self._curve(curve)
        return {
            k: (x[:, curve] if self.is_fleet and x.ndim >= 2 else x)
            for k, x in self.samples.items()
        }

    def theta_samples(self, curve: int = 0) -> np.ndarray:
        """Parameter vectors of one curve's posterior draws, shape (chains * draws, P),
        ordered as the parameter space."""
        s = self.curve_samples(curve)
        return np.stack([s[name] for name in self.parameter_names], axis=-1)

    def sigma_samples(self, curve: int = 0) -> np.ndarray:
        """Noise standard deviation [V] of each draw (the fixed value when sigma was fixed)."""
        s = self.curve_samples(curve)
        if "sigma" in s:
            return s["sigma"]
        return np.full(self.theta_samples(curve).shape[0], self.settings["sigma_fixed_V"])

    def discrepancy_at(self, t, curve: int = 0) -> np.ndarray | None:
        """Model discrepancy delta(t) [V] of each posterior draw of curve `curve` at times `t`,
        shape (chains * draws, T); None unless the calibration used
        ``surrogate_error="correlated"``."""
        s = self.curve_samples(curve)
        if DISCREPANCY_SITE not in s:
            return None
        basis = np.asarray(
            legendre_basis(np.asarray(t, dtype=float), self.model_of(curve).t_max,
                           s[DISCREPANCY_SITE].shape[-1])
        )  # fmt: skip
        return s[DISCREPANCY_SITE] @ basis.T

    def predictive(
        self,
        t=None,
        *,
        curve: int = 0,
        num_draws: int = 200,
        level: float = 0.9,
        noise: bool = True,
        seed: int = 0,
    ) -> PredictiveBand:
        """Posterior-predictive voltage band of curve `curve` at times `t` [s].

        Evaluates the voltage model at `num_draws` posterior draws (evenly thinned over all
        chains), plus each draw's model discrepancy delta(t) when the calibration used
        ``surrogate_error="correlated"``; with ``noise=True`` each draw also gets Gaussian
        noise of its sigma (combined with the model's error_std when the calibration counted
        it as white noise), so the band is where new measurements should fall; with
        ``noise=False`` it is the band of the (discrepancy-corrected) model curve. `t`
        defaults to the curve's data times.
        """
        curve = self._curve(curve)
        model = self.model_of(curve)
        t = self.curves[curve].t if t is None else check_times(t)
        if t[-1] > model.t_max:
            raise InputError(
                f"t reaches {t[-1]:g} s, beyond the model's window [0, {model.t_max:g}] s"
            )
        if not 0 < level < 1:
            raise InputError(f"level must be in (0, 1), got {level}")
        theta = self.theta_samples(curve)
        sigma = self.sigma_samples(curve)
        count = min(num_draws, theta.shape[0])
        index = np.unique(np.linspace(0, theta.shape[0] - 1, count).astype(int))
        voltages = np.asarray(
            _voltages_at(model, jnp.asarray(theta[index]), jnp.asarray(t))
        )
        delta = self.discrepancy_at(t, curve)
        if delta is not None:
            voltages = voltages + delta[index]
        if noise:
            scale = sigma[index]
            if self.settings["surrogate_error"] in (True, "white"):
                scale = np.sqrt(scale**2 + float(model.error_std) ** 2)
            rng = np.random.default_rng(seed)
            voltages = voltages + scale[:, None] * rng.standard_normal(voltages.shape)
        probabilities = [(1 - level) / 2, 0.5, (1 + level) / 2]
        lower, median, upper = np.quantile(voltages, probabilities, axis=0)
        return PredictiveBand(
            t=np.asarray(t), mean=voltages.mean(axis=0), median=median, lower=lower,
            upper=upper, level=level, noise=noise, draws=voltages,
        )  # fmt: skip

    def table(self) -> str:
        """The summary as a text table (sigma shown in mV)."""
        s = self.settings
        n_points = sum(c.t.size for c in self.curves)
        lines = [
            f"Calibration of {self.num_curves} curve{'s' * (self.num_curves > 1)} "
            f"({n_points} points) with "
            + (
                "one model per curve" if self.curve_models is not None
                else f"{self.voltage_model.name} "
                + ("under a protocol" if s["c_rate"] is None else f"at {s['c_rate']:g}C")
            )
            + (", parameters shared (joint)" if s.get("joint") else "")
            + ": NUTS, "
            f"{s['num_chains']} chain{'s' * (s['num_chains'] > 1)} x ({s['num_warmup']} warm-up"
            f" + {s['num_samples']} samples), {s['chain_method']}, {self.wall_time_s:.1f} s",
        ]
        for k, text in enumerate(s.get("curve_models") or ()):
            lines.append(f"  curve {k}: {text}")
        columns = ("mean", "std", "q05", "median", "q95")
        # the name column fits the longest name (a field path such as cathode.particle_radius)
        width = max([18] + [len(n) + 6 for n in self.summary])
        header = f"{'name':<{width}}" + "".join(f"{c:>10}" for c in columns) + f"{'r_hat':>8}{'ess':>8}"
        lines += [header, "-" * len(header)]
        for name, stats in self.summary.items():
            scale, label = (1e3, f"{name} [mV]") if name == "sigma" else (1.0, name)
            if name == DISCREPANCY_SITE:
                scale = 1e3  # shown in mV
            shape = np.shape(stats["mean"])
            count = np.size(stats["mean"])
            shared_parameter = bool(s.get("joint")) and name in self.parameter_names
            for k in range(1 if shared_parameter else count):
                row = {key: np.ravel(val)[k] for key, val in stats.items()}
                shared = name.endswith(("_pop_median", "_pop_scale")) or shared_parameter
                tag = f"{label}[{k}]" if count > 1 or (self.is_fleet and not shared) else label
                tag = label if shared_parameter else tag
                if len(shape) > 1:
                    tag = f"{label}[{','.join(map(str, np.unravel_index(k, shape)))}]"
                lines.append(
                    f"{tag:<{width}}"
                    + "".join(f"{row[key] * scale:>10.4g}" for key in columns)
                    + f"{row['r_hat']:>8.3f}{row['ess']:>8.0f}"
                )
        if s["sigma_fixed_V"] is not None:
            lines.append(f"sigma fixed at {s['sigma_fixed_V'] * 1e3:g} mV")
        error_mV = max(float(self.model_of(k).error_std) for k in range(self.num_curves)) * 1e3
        if s["surrogate_error"] in (True, "white") and error_mV > 0:
            lines.append(f"model error std {error_mV:.3g} mV added to the noise")
        if s["surrogate_error"] == "correlated":
            lines.append(
                f"model discrepancy: {s['discrepancy_terms']} Legendre terms in time, "
                f"coefficients [mV] with prior std {s['discrepancy_std_V'] * 1e3:.3g} mV "
                + (
                    "(given)" if s.get("discrepancy_prior_mV") is not None
                    else f"({s['discrepancy_scale']:g} x model error std {error_mV:.3g} mV)"
                )
                + (
                    "; integrated out, drawn from their conditional"
                    if s.get("marginalise_discrepancy") else "; sampled"
                )
            )  # fmt: skip
        steps = self.num_steps.mean()
        lines.append(
            f"divergences: {self.num_divergences}; mean leapfrog steps per iteration: {steps:.1f}"
        )
        problems = self.convergence_problems()
        verdict = "; ".join(problems) if problems else "R-hat, ESS and divergences look fine"
        if self.misfit:
            verdict = (
                "; ".join(problems) + " (sampler)" if problems else "the sampler mixed"
            ) + ", but the MODEL DOES NOT FIT the data (see misfit below)"
        lines.append("diagnostics: " + verdict)
        for c in self.checks:
            tag = f"curve {c.curve}: " if self.is_fleet else ""
            sigma = "" if c.sigma_median_V is None else (
                f", sigma median {c.sigma_median_V * 1e3:.3g} mV (prior tail "
                f"{c.sigma_tail_probability:.2g})"
            )  # fmt: skip
            lines.append(
                f"fit check: {tag}residual RMS {c.residual_rms_V * 1e3:.3g} mV{sigma}, lag-1 "
                f"autocorrelation {c.lag1_autocorrelation:.2f}, Ljung-Box p "
                f"{c.ljung_box_p_value:.2g}: " + ("MISFIT" if c.misfit else "consistent")
            )
            if c.misfit:
                lines.append("misfit: " + tag + "; ".join(c.problems))
        if self.misfit:
            lines.append("misfit: " + WHAT_TO_CHECK)
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.table()

    def to_dict(self) -> dict:
        """A JSON-ready summary: settings, parameter bounds, summary statistics, diagnostics."""
        from .. import __version__  # noqa: PLC0415

        def plain(x):
            return x.tolist() if isinstance(x, np.ndarray) else x

        return {
            "jaxbatt_version": __version__,
            "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "voltage_model": self.voltage_model.name,
            "model_error_std_V": float(self.voltage_model.error_std),
            "settings": self.settings,
            "parameters": {
                p.name: {"lower": p.lower, "upper": p.upper, "description": p.description}
                for p in self.space.parameters
            },
            "data": [
                {"label": c.label, "num_points": int(c.t.size), "t_first_s": float(c.t[0]),
                 "t_last_s": float(c.t[-1])}
                for c in self.curves
            ],  # fmt: skip
            "summary": {
                name: {k: plain(v) for k, v in stats.items()}
                for name, stats in self.summary.items()
            },
            "units": {"sigma": "V", "parameters": "dimensionless scalings"},
            "diagnostics": {
                "divergences": int(self.num_divergences),
                "divergences_per_chain": self.diverging.sum(axis=1).tolist(),
                "mean_leapfrog_steps": float(self.num_steps.mean()),
                "problems": self.convergence_problems(),
                "misfit": self.misfit,
                "checks": [c.to_dict() for c in self.checks],
            },
            "wall_time_s": self.wall_time_s,
        }

    def to_json(self, path) -> str:
        """Write `to_dict()` as JSON to `path` (atomically: the old file or the new one,
        never half of one); returns the path."""
        from .._io import atomic_write_text  # noqa: PLC0415

        return atomic_write_text(path, json.dumps(self.to_dict(), indent=2) + "\n")

    def save_samples(self, path) -> str:
        """Write the samples to a NumPy ``.npz`` (atomically; ``.npz`` is appended to a name
        without it, as `numpy.savez` does): one array (chains, draws[, C]) per site, plus
        ``diverging`` and ``num_steps`` (chains, draws). Returns the path written.
        `to_arviz` gives the same draws as an `arviz.InferenceData`."""
        from .._io import atomic_file  # noqa: PLC0415

        path = os.fspath(path)
        if not path.endswith(".npz"):
            path += ".npz"
        with atomic_file(path, "wb") as f:
            np.savez_compressed(
                f, **self.samples_by_chain, diverging=self.diverging, num_steps=self.num_steps
            )
        return path

    def to_arviz(self, *, predictive_draws: int | None = 100, seed: int = 0):
        """The posterior as an `arviz.InferenceData`, chains kept separate.

        Groups:
            posterior: every sampled site, dims (chain, draw[, curve][, term]); ``curve``
                indexes the curves of a fleet, ``term`` the discrepancy's Legendre terms.
            sample_stats: ``diverging`` and ``n_steps`` (leapfrog steps) per iteration after
                warm-up, and ``tree_depth`` derived from them as ArviZ's NumPyro converter
                does (log2(n_steps) + 1, rounded down); the energy is not recorded.
            observed_data: ``voltage`` [V], dims (time,) with the data times as coordinate
                for one curve; dims (curve, point) for several, with ``time`` [s] beside it
                and NaN where a curve is shorter than the longest.
            posterior_predictive: ``voltage`` [V] of new data (model curve, plus the
                discrepancy and the noise, as `predictive` with ``noise=True``), dims as the
                observed data after (chain, draw); at `predictive_draws` draws per chain,
                evenly thinned (the ``draw`` coordinate names the posterior draws used), or
                every draw when None.

        Attributes (every group): ``inference_library`` numpyro, ``jaxbatt_version``,
        ``voltage_model``; the posterior also carries ``settings_json`` (`settings` as
        JSON). ArviZ is imported here, not with jaxbatt.
        """
        import warnings  # noqa: PLC0415

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # ArviZ's notice of its refactor
            import arviz as az  # noqa: PLC0415

        from .. import __version__  # noqa: PLC0415

        num_chains, num_draws = self.diverging.shape
        if predictive_draws is None:
            draw_index = np.arange(num_draws)
        else:
            predictive_draws = _positive_int(predictive_draws, "predictive_draws")
            count = min(predictive_draws, num_draws)
            draw_index = np.unique(np.linspace(0, num_draws - 1, count).astype(int))
        attrs = {
            "inference_library": "numpyro",
            "jaxbatt_version": __version__,
            "voltage_model": self.voltage_model.name,
        }

        dims, coords = {}, {}
        if self.is_fleet:
            coords["curve"] = np.arange(self.num_curves)
        for name, x in self.samples_by_chain.items():
            site_dims = []
            if self.is_fleet and x.ndim > 2:
                site_dims.append("curve")
            if name == DISCREPANCY_SITE:
                site_dims.append("term")
                coords["term"] = np.arange(x.shape[-1])
            dims[name] = site_dims
        posterior = az.dict_to_dataset(
            dict(self.samples_by_chain), coords=coords, dims=dims,
            attrs=dict(attrs, settings_json=json.dumps(self.settings, default=str)),
        )  # fmt: skip
        n_steps = np.asarray(self.num_steps)
        sample_stats = az.dict_to_dataset(
            {
                "diverging": np.asarray(self.diverging, dtype=bool),
                "n_steps": n_steps,
                "tree_depth": np.log2(np.maximum(n_steps, 1)).astype(int) + 1,
            },
            attrs=attrs,
        )

        # data and predictive draws: (curve, point), NaN-padded; one curve: (time,)
        length = max(c.t.size for c in self.curves)
        observed_v = np.full((self.num_curves, length), np.nan)
        observed_t = np.full((self.num_curves, length), np.nan)
        predicted = np.full((num_chains, draw_index.size, self.num_curves, length), np.nan)
        rng = np.random.default_rng(seed)
        flat_index = (np.arange(num_chains)[:, None] * num_draws + draw_index[None, :]).ravel()
        white = self.settings["surrogate_error"] in (True, "white")
        for k, c in enumerate(self.curves):
            observed_v[k, : c.t.size], observed_t[k, : c.t.size] = c.v, c.t
            theta = self.theta_samples(k)[flat_index]
            v = np.asarray(_voltages_at(self.model_of(k), jnp.asarray(theta), jnp.asarray(c.t)))
            delta = self.discrepancy_at(c.t, k)
            if delta is not None:
                v = v + delta[flat_index]
            scale = self.sigma_samples(k)[flat_index]
            if white:
                scale = np.sqrt(scale**2 + float(self.model_of(k).error_std) ** 2)
            v = v + scale[:, None] * rng.standard_normal(v.shape)
            predicted[:, :, k, : c.t.size] = v.reshape(num_chains, draw_index.size, -1)
        if self.is_fleet:
            data_dims, data_coords = ["curve", "point"], {"curve": coords["curve"]}
            observed = {"voltage": observed_v, "time": observed_t}
            predicted_voltage = predicted
        else:
            data_dims, data_coords = ["time"], {"time": self.curves[0].t}
            observed = {"voltage": observed_v[0]}
            predicted_voltage = predicted[:, :, 0]
        observed_data = az.dict_to_dataset(
            observed, coords=data_coords, dims={k: data_dims for k in observed},
            default_dims=[], attrs=attrs,
        )  # fmt: skip
        posterior_predictive = az.dict_to_dataset(
            {"voltage": predicted_voltage}, coords=dict(data_coords, draw=draw_index),
            dims={"voltage": data_dims}, attrs=attrs,
        )  # fmt: skip
        return az.InferenceData(
            posterior=posterior, sample_stats=sample_stats, observed_data=observed_data,
            posterior_predictive=posterior_predictive,
        )  # fmt: skip

    def save(
        self, out_dir, *, plots: bool = True, truth: dict | None = None, netcdf: bool = False
    ) -> dict:
        """Write ``summary.json``, ``summary.txt``, ``samples.npz``, (with `netcdf`)
        ``posterior.nc`` (`to_arviz` as netCDF, for ``arviz.from_netcdf``) and (with `plots`)
        ``pairs.png`` (whole prior box), ``pairs_zoom.png``, ``traces.png`` (per curve, with a
        ``_curve<k>`` suffix for several curves, the first 20) and ``predictive.png`` into
        the folder `out_dir`. `truth` (name -> value, or one mapping per curve;
        ``"sigma_mV"`` marks sigma) is drawn on the plots. Returns file name -> path.

        Atomic: everything is written into a temporary folder beside `out_dir`, which then
        replaces `out_dir` as a whole, so `out_dir` holds a complete result or none and never
        mixes old and new files; an error or Ctrl-C while writing leaves an older result
        there untouched. `out_dir` may be new (missing parents are created), empty, or an
        earlier jaxbatt result folder (replaced); anything else (a file, a folder with other
        content) raises `InputError` before anything is written.
        """
        from .._io import atomic_folder, atomic_savefig, check_output_dir  # noqa: PLC0415

        check_output_dir(out_dir, create_parents=True)
        written = []
        with atomic_folder(out_dir) as tmp:
            self.to_json(tmp / "summary.json")
            self.save_samples(tmp / "samples.npz")
            (tmp / "summary.txt").write_text(self.table() + "\n", encoding="utf-8")
            written += ["summary.json", "samples.npz", "summary.txt"]
            if netcdf:
                self.to_arviz().to_netcdf(os.fspath(tmp / "posterior.nc"))
                written.append("posterior.nc")
            if plots:
                from . import _plots  # noqa: PLC0415  (matplotlib only when plotting)

                figures = {"predictive.png": lambda: _plots.plot_predictive(self, truth=truth)}
                for k in range(min(self.num_curves, 20)):
                    tag = f"_curve{k}" if self.is_fleet else ""
                    figures[f"pairs{tag}.png"] = functools.partial(
                        _plots.plot_pairs, self, curve=k, truth=truth
                    )
                    figures[f"pairs_zoom{tag}.png"] = functools.partial(
                        _plots.plot_pairs, self, curve=k, truth=truth, extent="posterior"
                    )
                    figures[f"traces{tag}.png"] = functools.partial(
                        _plots.plot_traces, self, curve=k, truth=truth
                    )
                for name, make in figures.items():
                    atomic_savefig(make(), tmp / name, dpi=110)
                    written.append(name)
        return {name: os.path.join(os.fspath(out_dir), name) for name in written}


def posterior_checks(result: "CalibrationResult") -> tuple[MisfitCheck, ...]:
    """The posterior predictive checks (`jaxbatt.inference._checks`) of every curve of
    `result`: residuals against the posterior-mean model curve (discrepancy included), the
    inferred sigma against its prior."""
    s = result.settings
    checks = []
    for k, curve in enumerate(result.curves):
        model = result.model_of(k)
        # The mean curve over evenly thinned draws; an exact solver costs a solve per draw.
        draws = 16 if isinstance(model, SolverVoltageModel) else 200  # 200: as the plots
        error = float(model.error_std)
        mean = result.predictive(curve=k, num_draws=draws, noise=False).mean
        samples = result.curve_samples(k)
        z = None
        if DISCREPANCY_SITE in samples:
            z = np.mean(samples[DISCREPANCY_SITE], axis=0) / s["discrepancy_std_V"]
        v = curve.v
        if curve.weights is not None:  # residuals in units of a weight-1 point's noise
            keep = curve.weights > 0
            root = np.sqrt(curve.weights[keep])
            v, mean = v[keep] * root, np.asarray(mean)[keep] * root
        checks.append(
            check_curve(
                k, v, mean,
                sigma_draws=samples.get("sigma"), sigma_fixed=s["sigma_fixed_V"],
                sigma_prior=s["sigma_prior_mV"] * 1e-3,
                white_model_error=error if s["surrogate_error"] == "white" else 0.0,
                model_error_std=error, discrepancy_z=z,
            )  # fmt: skip
        )
    return tuple(checks)


def _voltages_at(voltage_model, theta, t):
    """Voltages (D, T) [V] of parameter vectors theta (D, P) at times t (T,), in batches of
    64 draws (bounded memory for solver models).

    A solver model that solves in a host callback is called batch by batch from Python: the
    callback runs compiled JAX code itself, and inside an outer compiled `lax.map` on a 2-core
    CPU the outer program and the nested solves waited on each other for ever (measured: the
    Enertech P2D calibration's predictive plot hung at 0 % CPU after sampling)."""
    if isinstance(voltage_model, SolverVoltageModel) and voltage_model.host_callback:
        from ._solver_model import _SolverCallback  # noqa: PLC0415

        host = _SolverCallback(voltage_model.solver, voltage_model.drive)
        theta, t = np.asarray(theta, dtype=float), np.asarray(t, dtype=float)
        return np.concatenate(
            [host.value(theta[i : i + 64], t) for i in range(0, len(theta), 64)], axis=0
        )
    return _voltages_in_batches(voltage_model, theta, t)


@eqx.filter_jit
def _voltages_in_batches(voltage_model, theta, t):
    return jax.lax.map(lambda th: voltage_model.voltage_vector(th, t), theta, batch_size=64)
