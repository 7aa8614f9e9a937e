"""The NumPyro model of a calibration: priors, noise, and the vmapped voltage likelihood.

Data are C curves padded to a common length T: times ``t (C, T)`` [s], voltages
``v (C, T)`` [V] and a boolean ``mask (C, T)`` that is False on padding. Each curve has its
own degradation parameters and its own noise level; the likelihood evaluates the voltage model
on every curve at once (`jax.vmap`).
"""

from collections.abc import Mapping

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist

from .._errors import InputError
from .._voltage_model import AbstractVoltageModel

# Logit-normal population prior: with this location scale the implied prior on one curve's
# unit-box coordinate is close to uniform (a logit-normal with scale ~1.7 is nearly flat).
POPULATION_LOC_SCALE = 1.5
POPULATION_SPREAD_SCALE = 1.0


def unit_site(name: str) -> str:
    """Name of the latent unit-box coordinate of parameter `name` (independent prior)."""
    return f"{name}_unit"


def raw_site(name: str) -> str:
    """Name of the standardised latent of parameter `name` (hierarchical prior)."""
    return f"{name}_raw"


def check_priors(priors, space):
    """Check user priors: a mapping name -> numpyro distribution whose support lies inside
    the parameter's bounds (the voltage model is only valid on the box)."""
    if priors is None:
        return {}
    if not isinstance(priors, Mapping):
        raise InputError(
            f"priors must be a mapping name -> numpyro distribution, got {type(priors).__name__}"
        )
    checked = {}
    for name, prior in priors.items():
        if name not in space.names:
            raise InputError(
                f"prior for unknown parameter {name!r}; the space has {list(space.names)}"
            )
        p = space[name]
        if not isinstance(prior, dist.Distribution):
            raise InputError(
                f"prior of {name!r} must be a numpyro distribution, got {type(prior).__name__}"
            )
        if prior.batch_shape or prior.event_shape:
            raise InputError(
                f"prior of {name!r} must be univariate, got batch shape {prior.batch_shape} "
                f"and event shape {prior.event_shape}"
            )
        low = np.asarray(getattr(prior.support, "lower_bound", -np.inf))
        high = np.asarray(getattr(prior.support, "upper_bound", np.inf))
        if not (np.all(low >= p.lower) and np.all(high <= p.upper)):
            raise InputError(
                f"prior of {name!r} has support [{float(np.min(low)):g}, {float(np.max(high)):g}], "
                f"which leaves the box [{p.lower:g}, {p.upper:g}] the model is valid on; use a "
                f"bounded prior, e.g. dist.TruncatedNormal(loc, scale, low={p.lower:g}, "
                f"high={p.upper:g})"
            )
        checked[name] = prior
    return checked


def calibration_model(
    t,
    v,
    mask,
    *,
    voltage_model: AbstractVoltageModel,
    priors: dict,
    sigma: float | None,
    sigma_prior_std: float,
    surrogate_error: bool,
    hierarchical: bool,
):
    """NumPyro model of C curves with independent (or hierarchical) per-curve parameters.

    Sites (C = number of curves):
        ``<name>`` (C,): each degradation parameter in physical units (deterministic, or
            sampled directly when the user gave its prior);
        ``<name>_unit`` (C,): its unit-box coordinate, Uniform(0, 1) (default prior);
        ``<name>_pop_loc``, ``<name>_pop_scale``, ``<name>_raw`` (C,) and the deterministic
            ``<name>_pop_median`` (hierarchical prior): the curve's unit coordinate is
            ``sigmoid(pop_loc + pop_scale * raw)``, ``pop_loc ~ Normal(0, 1.5)``,
            ``pop_scale ~ HalfNormal(1)``, ``raw ~ Normal(0, 1)`` (non-centred);
        ``sigma`` (C,): measurement noise [V], ``HalfNormal(sigma_prior_std)``, unless fixed;
        ``v_obs``: the voltages, Normal(V_model(theta, t), sqrt(sigma^2 + error_std^2)) with
            error_std the voltage model's own error when `surrogate_error` is True.

    Args:
        t, v, mask: (C, T) times [s], voltages [V] and the mask of real (non-padding) points.
        voltage_model: the `AbstractVoltageModel` whose `voltage_vector` is the mean.
        priors: user priors, name -> numpyro distribution in physical units.
        sigma: fixed noise standard deviation [V], or None to infer it.
        sigma_prior_std: scale of the HalfNormal prior on sigma [V].
        surrogate_error: add the model's `error_std` (V) in quadrature to sigma.
        hierarchical: population prior over the curves (needs C >= 2).
    """
    space = voltage_model.space
    n_curves = t.shape[0]
    population = {}
    if hierarchical:
        for p in space.parameters:
            if p.name in priors:
                continue
            loc = numpyro.sample(f"{p.name}_pop_loc", dist.Normal(0.0, POPULATION_LOC_SCALE))
            scale = numpyro.sample(
                f"{p.name}_pop_scale", dist.HalfNormal(POPULATION_SPREAD_SCALE)
            )
            numpyro.deterministic(
                f"{p.name}_pop_median", p.lower + jax.nn.sigmoid(loc) * (p.upper - p.lower)
            )
            population[p.name] = (loc, scale)
    columns = []
    with numpyro.plate("curves", n_curves):
        for p in space.parameters:
            if p.name in priors:
                columns.append(numpyro.sample(p.name, priors[p.name]))
                continue
            if hierarchical:
                loc, scale = population[p.name]
                raw = numpyro.sample(raw_site(p.name), dist.Normal(0.0, 1.0))
                u = jax.nn.sigmoid(loc + scale * raw)
            else:
                u = numpyro.sample(unit_site(p.name), dist.Uniform(0.0, 1.0))
            columns.append(numpyro.deterministic(p.name, p.lower + u * (p.upper - p.lower)))
        if sigma is None:
            noise = numpyro.sample("sigma", dist.HalfNormal(sigma_prior_std))
        else:
            noise = jnp.full((n_curves,), sigma)
    theta = jnp.stack(columns, axis=-1)  # (C, P)
    mean = jax.vmap(voltage_model.voltage_vector)(theta, t)  # (C, T)
    variance = noise**2
    if surrogate_error:
        variance = variance + jnp.asarray(voltage_model.error_std, dtype=float) ** 2
    scale = jnp.sqrt(variance)[:, None]
    numpyro.sample("v_obs", dist.Normal(mean, scale).mask(mask).to_event(2), obs=v)


def pad_curves(curves):
    """Stack curves of different lengths into (C, T) arrays plus a mask.

    Padding repeats each curve's last time and voltage (so time grids stay non-decreasing,
    which ODE solvers saving at those times require) and is masked out of the likelihood.
    """
    length = max(c.t.size for c in curves)
    t = np.empty((len(curves), length))
    v = np.empty((len(curves), length))
    mask = np.zeros((len(curves), length), dtype=bool)
    for k, c in enumerate(curves):
        n = c.t.size
        t[k, :n], t[k, n:] = c.t, c.t[-1]
        v[k, :n], v[k, n:] = c.v, c.v[-1]
        mask[k, :n] = True
    return t, v, mask
