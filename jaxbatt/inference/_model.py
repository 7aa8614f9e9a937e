"""The NumPyro model of a calibration: priors, noise, and the vmapped voltage likelihood.

Data are C curves padded to a common length T: times ``t (C, T)`` [s], voltages
``v (C, T)`` [V] and a boolean ``mask (C, T)`` that is False on padding. Each curve has its
own degradation parameters and its own noise level; the likelihood evaluates the voltage model
on every curve at once (`jax.vmap`).

The voltage model's own error (a surrogate's stated `error_std`) enters in one of three ways
(`surrogate_error`): ``"none"``; ``"white"``, added in quadrature to the noise; or
``"correlated"``, a smooth model discrepancy per curve added to the mean (Kennedy and
O'Hagan, 2001): delta(t) = sum_k a_k phi_k(t) with phi_k the Legendre polynomial P_k of
s = 2 t / t_max - 1 scaled to unit RMS on [-1, 1], and a_k ~ Normal(0, discrepancy_std).
A systematic, slowly varying model error biases a white-noise fit; the discrepancy terms
can absorb it, at the price of wider (honest) posteriors for the parameters it confounds.

The discrepancy is linear and Gaussian in its coefficients, so by default they are integrated
out exactly (`marginal_log_likelihood`): NUTS samples only the parameters and the noise, the
voltages being Normal(V_model, sigma^2 D + s^2 B B^T), and each draw's coefficients are then
drawn from their exact Gaussian conditional (`draw_discrepancy`). Sampling the coefficients
with the parameters instead (``marginalise_discrepancy=False``) gives the same posterior but
couples them in narrow ridges that the sampler crosses slowly.
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

SURROGATE_ERROR_MODES = ("none", "white", "correlated")
DISCREPANCY_SITE = "discrepancy"  # (C, K) Legendre coefficients [V] (deterministic)
DISCREPANCY_LATENT_SITE = "discrepancy_z"  # (C, K) their standardised latents, Normal(0, 1)
# marginalised discrepancy: each draw's conditional mean (C, K) [V] and a factor F (C, K, K) of
# its conditional covariance F F^T (deterministic sites, consumed by `draw_discrepancy`)
DISCREPANCY_MEAN_SITE = "discrepancy_conditional_mean"
DISCREPANCY_FACTOR_SITE = "discrepancy_conditional_factor"


def surrogate_error_mode(value) -> str:
    """Normalise `surrogate_error`: False/"none", True/"white" or "correlated"."""
    if value is True or (isinstance(value, np.bool_) and bool(value)):
        return "white"
    if value is False or (isinstance(value, np.bool_) and not bool(value)):
        return "none"
    if isinstance(value, str) and value in SURROGATE_ERROR_MODES:
        return value
    raise InputError(
        f"surrogate_error must be True/'white', False/'none' or 'correlated', got {value!r}"
    )


def legendre_basis(t, t_max, terms: int):
    """Discrepancy basis (..., T, K): Legendre polynomials P_0 .. P_{K-1} of
    s = 2 t / t_max - 1, each scaled by sqrt(2 k + 1) to unit RMS over s uniform on [-1, 1]."""
    s = 2.0 * jnp.asarray(t) / t_max - 1.0
    columns = [jnp.ones_like(s)]
    if terms > 1:
        columns.append(s)
    for n in range(1, terms - 1):  # (n + 1) P_{n+1} = (2 n + 1) s P_n - n P_{n-1}
        columns.append(((2 * n + 1) * s * columns[n] - n * columns[n - 1]) / (n + 1))
    scale = jnp.sqrt(2.0 * jnp.arange(terms) + 1.0)
    return jnp.stack(columns, axis=-1) * scale


def marginal_log_likelihood(residual, precision, basis, prior_variance):
    """Log density of residuals r (C, T) under r = B a + e, a ~ Normal(0, s^2 I_K),
    e ~ Normal(0, diag(1 / precision)), with a integrated out (Woodbury identity), and the
    conditional of a given r: returns (log density (C,), mean (C, K), factor (C, K, K)) with
    a | r ~ Normal(mean, factor factor^T). A point of precision 0 (padding, a dropped point)
    does not count. `basis` B (C, T, K); `prior_variance` s^2, a scalar or (C,)."""
    n_curves, _, terms = basis.shape
    s2 = jnp.broadcast_to(jnp.asarray(prior_variance, dtype=basis.dtype), (n_curves,))
    used = precision > 0
    r = jnp.where(used, residual, 0.0)
    weighted = basis * precision[..., None]  # (C, T, K)
    m = jnp.einsum("ctk,ctj->ckj", weighted, basis) + jnp.eye(terms) / s2[:, None, None]
    b = jnp.einsum("ctk,ct->ck", weighted, r)
    chol = jnp.linalg.cholesky(m)  # M = L L^T
    inv_chol = jax.scipy.linalg.solve_triangular(
        chol, jnp.broadcast_to(jnp.eye(terms), m.shape), lower=True
    )  # L^-1
    y = jnp.einsum("ckj,cj->ck", inv_chol, b)  # L^-1 b
    quadratic = jnp.sum(precision * r**2, axis=-1) - jnp.sum(y**2, axis=-1)
    log_det = (
        -jnp.sum(jnp.where(used, jnp.log(jnp.where(used, precision, 1.0)), 0.0), axis=-1)
        + terms * jnp.log(s2)
        + 2.0 * jnp.sum(jnp.log(jnp.diagonal(chol, axis1=-2, axis2=-1)), axis=-1)
    )  # fmt: skip
    count = jnp.sum(used, axis=-1)
    log_density = -0.5 * (quadratic + log_det + count * jnp.log(2.0 * jnp.pi))
    factor = jnp.swapaxes(inv_chol, -1, -2)  # L^-T: M^-1 = L^-T L^-1
    mean = jnp.einsum("ckj,cj->ck", factor, y)  # M^-1 b
    return log_density, mean, factor


def draw_discrepancy(mean, factor, seed: int):
    """One draw of the discrepancy coefficients per posterior draw from their exact Gaussian
    conditional: `mean` (..., K) [V] plus `factor` (..., K, K) times standard normals."""
    rng = np.random.default_rng(seed)
    noise = rng.standard_normal(np.shape(mean))
    return np.asarray(mean) + np.einsum("...kj,...j->...k", np.asarray(factor), noise)


def discrepancy_std(voltage_model: AbstractVoltageModel, factor: float) -> float:
    """Prior standard deviation [V] of each discrepancy coefficient: `factor` times the voltage
    model's stated `error_std` (which must be positive)."""
    error = float(voltage_model.error_std)
    if not (np.isfinite(error) and error > 0):
        raise InputError(
            f"surrogate_error='correlated' needs a voltage model with a stated error (a "
            f"positive error_std, as the bundled surrogates have), but {voltage_model.name!r} "
            f"has error_std = {error:g} V; use surrogate_error='white' or 'none' with it"
        )
    return factor * error


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
    surrogate_error,
    hierarchical: bool,
    discrepancy_terms: int = 4,
    discrepancy_scale: float = 2.0,
    curve_models: tuple | None = None,
    joint: bool = False,
    discrepancy_prior_std: float | None = None,
    marginalise_discrepancy: bool = True,
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
        ``discrepancy_z`` (C, K) and the deterministic ``discrepancy`` (C, K) [V]
            (``surrogate_error="correlated"`` only): the Legendre coefficients a_k of each
            curve's model discrepancy delta(t) = sum_k a_k phi_k(t) (see `legendre_basis`),
            ``a = discrepancy_scale * error_std * z`` (or ``discrepancy_prior_std * z``),
            ``z ~ Normal(0, 1)`` (non-centred); with `marginalise_discrepancy` (default)
            the coefficients are integrated out instead and the deterministic sites
            ``discrepancy_conditional_mean`` (C, K) and ``discrepancy_conditional_factor``
            (C, K, K) carry their Gaussian conditional (`draw_discrepancy`);
        ``v_obs``: the voltages, Normal(V_model(theta, t) + delta(t), sqrt(sigma^2 + e^2)),
            e the voltage model's `error_std` with ``"white"`` and 0 otherwise; delta = 0
            unless ``"correlated"``; with the marginalised discrepancy a factor site holding
            the voltages' marginal log density instead.

    Args:
        t, v, mask: (C, T) times [s], voltages [V] and the mask of real (non-padding) points:
            booleans, or float weights w >= 0 (point sd sigma / sqrt(w); 0 masks the point).
        voltage_model: the `AbstractVoltageModel` whose `voltage_vector` is the mean.
        priors: user priors, name -> numpyro distribution in physical units.
        sigma: fixed noise standard deviation [V], or None to infer it.
        sigma_prior_std: scale of the HalfNormal prior on sigma [V].
        surrogate_error: how the model's `error_std` (V) enters: ``"none"`` (or False),
            ``"white"`` (or True: in quadrature to sigma), or ``"correlated"`` (a smooth
            discrepancy added to the mean; needs error_std > 0).
        hierarchical: population prior over the curves (needs C >= 2).
        discrepancy_terms: K, the number of Legendre terms of the discrepancy (>= 1).
        discrepancy_scale: prior std of each discrepancy coefficient in units of the
            model's `error_std` (so ``discrepancy_scale * error_std`` volts).
        curve_models: optional tuple of C voltage models, one per curve (curves measured
            under different protocols), evaluated one after the other instead of vmapped;
            each curve's ``"white"`` model error is its own model's `error_std`.
        joint: the curves share one set of parameters (one cell under several tests): the
            sites ``<name>_unit`` (or the user's prior) are scalars, and ``<name>`` (C,)
            repeats them for every curve; the noise stays per curve.
        discrepancy_prior_std: prior std [V] of each discrepancy coefficient, given directly
            instead of ``discrepancy_scale * error_std`` (a model without a stated error, such
            as the exact solver, against measured data).
        marginalise_discrepancy: integrate the discrepancy coefficients out of the
            likelihood (`marginal_log_likelihood`; the same posterior, sampled over the
            parameters and the noise only) instead of sampling them.
    """
    mode = surrogate_error_mode(surrogate_error)
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
    shared = {}
    if joint:
        for p in space.parameters:
            if p.name in priors:
                shared[p.name] = numpyro.sample(f"{p.name}_shared", priors[p.name])
            else:
                u = numpyro.sample(unit_site(p.name), dist.Uniform(0.0, 1.0))
                shared[p.name] = p.lower + u * (p.upper - p.lower)
    with numpyro.plate("curves", n_curves):
        for p in space.parameters:
            if joint:
                value = jnp.broadcast_to(shared[p.name], (n_curves,))
                columns.append(numpyro.deterministic(p.name, value))
                continue
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
        if mode == "correlated":
            if discrepancy_prior_std is not None:
                prior_std = discrepancy_prior_std
            elif curve_models is None:
                prior_std = discrepancy_std(voltage_model, discrepancy_scale)
            else:  # each curve's own model error
                prior_std = jnp.asarray(
                    [discrepancy_std(m, discrepancy_scale) for m in curve_models]
                )[:, None]
            if not marginalise_discrepancy:
                z = numpyro.sample(
                    DISCREPANCY_LATENT_SITE,
                    dist.Normal(0.0, 1.0).expand([discrepancy_terms]).to_event(1),
                )
                coefficients = numpyro.deterministic(DISCREPANCY_SITE, prior_std * z)  # (C, K)
    theta = jnp.stack(columns, axis=-1)  # (C, P)
    if curve_models is None:
        mean = jax.vmap(voltage_model.voltage_vector)(theta, t)  # (C, T)
    else:
        mean = jnp.stack([m.voltage_vector(theta[k], t[k]) for k, m in enumerate(curve_models)])
    if mode == "correlated":
        t_max = (
            voltage_model.t_max if curve_models is None
            else jnp.asarray([float(m.t_max) for m in curve_models])[:, None]
        )  # fmt: skip
        basis = legendre_basis(t, t_max, discrepancy_terms)  # (C, T, K)
        if not marginalise_discrepancy:
            mean = mean + jnp.einsum("ctk,ck->ct", basis, coefficients)
    noise_variance = (noise**2)[:, None]  # (C, 1)
    if jnp.issubdtype(jnp.asarray(mask).dtype, jnp.floating):  # per-point weights w
        weights = jnp.asarray(mask)
        mask = weights > 0
        noise_variance = noise_variance / jnp.where(mask, weights, 1.0)  # sd sigma / sqrt(w)
    if mode == "correlated" and marginalise_discrepancy:
        precision = jnp.where(mask, 1.0 / noise_variance, 0.0)  # (C, T)
        prior_variance = jnp.reshape(jnp.asarray(prior_std) ** 2, (-1,))
        log_density, conditional_mean, factor = marginal_log_likelihood(
            v - mean, precision, basis, prior_variance
        )
        numpyro.deterministic(DISCREPANCY_MEAN_SITE, conditional_mean)
        numpyro.deterministic(DISCREPANCY_FACTOR_SITE, factor)
        numpyro.factor("v_obs", jnp.sum(log_density))
        return
    model_variance = 0.0
    if mode == "white" and curve_models is None:
        model_variance = jnp.asarray(voltage_model.error_std, dtype=float) ** 2
    elif mode == "white":
        model_variance = jnp.asarray([float(m.error_std) for m in curve_models])[:, None] ** 2
    scale = jnp.sqrt(noise_variance + model_variance)
    numpyro.sample("v_obs", dist.Normal(mean, scale).mask(mask).to_event(2), obs=v)


def pad_curves(curves):
    """Stack curves of different lengths into (C, T) arrays plus a mask.

    Padding repeats each curve's last time and voltage (so time grids stay non-decreasing,
    which ODE solvers saving at those times require) and is masked out of the likelihood.
    When any curve carries `weights`, the mask is those weights as floats (0 on padding and
    on dropped points; 1 for curves without weights), else booleans.
    """
    length = max(c.t.size for c in curves)
    weighted = any(getattr(c, "weights", None) is not None for c in curves)
    t = np.empty((len(curves), length))
    v = np.empty((len(curves), length))
    mask = np.zeros((len(curves), length), dtype=float if weighted else bool)
    for k, c in enumerate(curves):
        n = c.t.size
        t[k, :n], t[k, n:] = c.t, c.t[-1]
        v[k, :n], v[k, n:] = c.v, c.v[-1]
        w = getattr(c, "weights", None)
        mask[k, :n] = True if w is None else w
    return t, v, mask
