"""The exact-solver likelihood: `SolverVoltageModel` and ``calibrate(likelihood="solver")``."""

import warnings

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxbatt
from jaxbatt import InputError
from jaxbatt.inference import ConvergenceWarning, SolverVoltageModel, calibrate, load_example
from jaxbatt.inference._calibrate import resolve_voltage_model

THETA = jnp.array([1.7, 6.3])


def test_solver_model_is_the_solver():
    t = jnp.linspace(10.0, 1350.0, 30)
    model = SolverVoltageModel()
    assert (model.space.names, model.c_rate, model.t_max, model.error_std, model.name) == (
        ("k_i0", "k_Ds"), 2.0, 1350.0, 0.0, "spm-solver"
    )  # fmt: skip
    reference = np.asarray(jaxbatt.simulate("spm", {"k_i0": 1.7, "k_Ds": 6.3}, t=t).voltage)
    np.testing.assert_allclose(np.asarray(eqx.filter_jit(model.voltage_vector)(THETA, t)),
                               reference, atol=1e-12)  # fmt: skip
    with pytest.raises(InputError, match="unknown gradient 'central'"):
        SolverVoltageModel(gradient="central")
    assert resolve_voltage_model("spm", "solver", None, 1.0).c_rate == 1.0


@pytest.mark.slow
def test_forward_mode_gradient_equals_reverse_mode():
    """The default gradient (forward-mode Jacobian applied in the reverse pass) equals reverse
    mode through Diffrax's checkpointed adjoint (two heavy compilations: marked slow)."""
    t = jnp.linspace(10.0, 1350.0, 30)
    weights = jnp.linspace(1.0, 2.0, t.size)

    def grad(m):
        loss = jax.jit(jax.grad(lambda th: jnp.sum(weights * m.voltage_vector(th, t))))
        return np.asarray(loss(THETA))

    forward, reverse = grad(SolverVoltageModel()), grad(SolverVoltageModel(gradient="reverse"))
    np.testing.assert_allclose(forward, reverse, rtol=1e-8)
    assert np.all(forward != 0)


def test_solver_likelihood_short_run():
    ex = load_example()
    t, v = ex.t[::4], ex.v[::4]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        result = calibrate(t, v, likelihood="solver", num_chains=1, num_warmup=12,
                           num_samples=8, max_tree_depth=4, progress_bar=False)  # fmt: skip
    assert result.settings["likelihood"] == "solver"
    assert result.voltage_model.name == "spm-solver"
    for name, p in zip(("k_i0", "k_Ds"), result.space.parameters):
        x = result.samples[name]
        assert x.shape == (8,) and np.all((x > p.lower) & (x < p.upper))
    assert np.all(np.isfinite(result.samples["sigma"]))
    band = result.predictive(num_draws=4, noise=False)
    assert np.all(np.abs(band.median - v) < 0.05)  # within 50 mV after a 20-iteration run
