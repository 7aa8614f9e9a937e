"""The P2D surrogate: hard constraints, loss terms from the P2D residuals, training, the
checkpoint, input checks and the bundled model against the numerical P2D solver."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxbatt
from jaxbatt import InputError
from jaxbatt._errors import CheckpointError
from jaxbatt.surrogates import LossConfig, NetworkConfig, TrainConfig, train
from jaxbatt.surrogates import load_surrogate_file, save_surrogate
from jaxbatt.surrogates._p2d import F, FIELDS, p2d_surrogate
from jaxbatt.surrogates._p2d_losses import (
    P2D_WEIGHTS,
    P2DData,
    p2d_loss_terms,
    p2d_physics_terms,
    p2d_solver_data,
    sample_p2d_collocation,
)

TINY = NetworkConfig(architecture="separable", width=8, depth=2)
LOSS = LossConfig(n_interior=16, n_boundary=8, n_data=16, parameter_grid=2, weights=tuple(P2D_WEIGHTS.items()))


@pytest.fixture(scope="module")
def tiny():
    return p2d_surrogate(TINY, key=jax.random.key(0))


def _zero_outputs(surrogate):
    """All raw outputs exactly 0: the fields are their offsets (c_e0, phi_e0, V0, j_avg, c0)."""
    branch = surrogate.network.branch
    return eqx.tree_at(
        lambda s: (s.network.branch.output.weight, s.network.branch.output.bias, s.network.bias),
        surrogate,
        (jnp.zeros_like(branch.output.weight), jnp.zeros_like(branch.output.bias),
         jnp.zeros_like(surrogate.network.bias)),
    )  # fmt: skip


def test_hard_constraints(tiny, cell):
    x = np.linspace(0.0, tiny.length, 7)
    f = tiny.fields(0.0, x, {"k_i0": 3.0, "k_Ds": 7.0})
    np.testing.assert_allclose(f["c_e"], cell.electrolyte.initial_concentration, rtol=1e-14)
    later = tiny.fields(600.0, x, {"k_i0": 3.0, "k_Ds": 7.0})
    assert later["phi_s"][0] == 0.0  # phi_s(x = 0) = 0: the reference, exactly
    assert np.all(later["c_e"] > 0)
    assert np.isnan(later["phi_s"][3]) and np.isnan(later["j"][3])  # x in the separator
    c0 = tiny.particle_concentration(0.0, [1e-5, 9e-5], 0.5)
    np.testing.assert_allclose(c0, [cell.anode.initial_concentration, cell.cathode.initial_concentration], rtol=1e-12)
    c = tiny.particle_concentration(900.0, [1e-5, 9e-5], [0.0, 1.0])
    assert np.all((np.asarray(c) > 0) & (np.asarray(c) < [cell.anode.max_concentration, cell.cathode.max_concentration]))


def test_voltage_is_the_field_at_the_collector(tiny):
    theta = jnp.array([[0.7, 2.0], [3.5, 9.0], [2.0, 4.0]])
    t = jnp.linspace(0.0, 1350.0, 11)
    fast = jax.vmap(tiny.voltage_vector, (0, None))(theta, t)  # one branch row per curve
    generic = jax.vmap(lambda th: jax.vmap(lambda s: tiny.field_values(s, tiny.length, th)[F["phi_s_c"]])(t))(theta)
    np.testing.assert_allclose(fast, generic, rtol=0, atol=2e-12)
    by_name = tiny.voltage(t, {"k_i0": theta[:, 0], "k_Ds": theta[:, 1]})
    np.testing.assert_allclose(by_name, fast, rtol=0, atol=2e-12)  # jit vs eager: rounding


def test_loss_terms_at_zero_outputs(tiny):
    """With every raw output 0 the fields are uniform (c_e0, c_s0, j_avg) and the potentials
    those of the SPM's initial kinetics, so each rescaled residual is known exactly: the
    kinetics, the charge integrals and the electrolyte's lithium balance hold; the charge
    balances and the surface flux are off by exactly one reaction source (+-1)."""
    zero = _zero_outputs(tiny)
    batch = sample_p2d_collocation(jax.random.key(3), zero, LOSS)
    terms = {k: float(v) for k, v in jax.jit(lambda s: p2d_physics_terms(s, batch))(zero).items()}
    for name in ("kinetics", "charge_integral", "electrolyte_balance", "particle_diffusion",
                 "symmetry", "interfaces", "electrolyte_mass"):  # fmt: skip
        if name == "electrolyte_mass":  # the source (1 - t+) a_s j of a flat c_e remains
            assert terms[name] > 0.01
            continue
        assert terms[name] < 1e-16, (name, terms[name])  # kinetics: the inverse-BV solve, ~1e-10
    # anode and cathode each (+-1)^2 / 2, the separator 0
    assert terms["electrolyte_charge"] == pytest.approx(1.0, rel=1e-12)
    assert terms["solid_charge"] == pytest.approx(1.0, rel=1e-12)
    assert terms["surface_flux"] == pytest.approx(1.0, rel=1e-12)
    # i_s = 0 instead of i at both collectors: 2 of the 6 collector residuals are -1
    assert terms["collectors"] == pytest.approx(1.0 / 6.0, rel=1e-12)
    # Coulomb counting against particles that have not moved: residual +-t / t_max in both
    t = np.asarray(batch["t_b"][: max(len(batch["t_b"]) // 4, 1)])
    assert terms["solid_inventory"] == pytest.approx(np.mean((t / zero.t_max) ** 2) / 2, rel=1e-9)


def test_residual_derivatives_match_finite_differences(tiny):
    """The forward-mode x-derivatives the balances use, against central differences."""
    from jaxbatt.surrogates._p2d_losses import _field_jets  # noqa: PLC0415

    theta = jnp.array([1.3, 4.0])
    cell = tiny.space.apply(tiny.cell, theta)
    t, x, h = 700.0, 2.0e-5, 1e-9
    values, d_dt, current, d_dx = _field_jets(tiny, cell, "a", jnp.asarray(t), jnp.asarray(x), theta)
    fd_t = (tiny.field_values(t + 1e-3, x, theta) - tiny.field_values(t - 1e-3, x, theta)) / 2e-3
    np.testing.assert_allclose(d_dt, fd_t, rtol=1e-6, atol=1e-12)
    plus = _field_jets(tiny, cell, "a", jnp.asarray(t), jnp.asarray(x + h), theta)[2]
    minus = _field_jets(tiny, cell, "a", jnp.asarray(t), jnp.asarray(x - h), theta)[2]
    np.testing.assert_allclose(d_dx, (plus - minus) / (2 * h), rtol=1e-5)


@pytest.fixture(scope="module")
def short_training(tiny):
    """A tiny surrogate trained briefly on P2D data at two sets (shared by the tests below)."""
    theta = np.array([[1.0, 2.0], [3.0, 8.0]])
    data = p2d_solver_data(tiny, theta, np.linspace(0.0, 1350.0, 28)[1:])
    config = TrainConfig(adam_steps=300, lbfgs_steps=0, loss=LOSS, n_data_parameters=2,
                         n_validation=2, chunk=100, validate_every=100, learning_rate=3e-3)  # fmt: skip
    return data, config, train(tiny, config, progress=False, data=(data, data))


def test_training_reduces_the_loss_and_the_error(tiny, short_training):
    data, _, result = short_training
    before = float(jnp.mean(jaxbatt.surrogates.voltage_errors_mV(tiny, data)))
    history = result.history
    assert history[-1]["val_mean_mV"] < 0.3 * before, (before, history[-1])
    assert history[-1]["voltage"] < history[0]["voltage"]
    assert set(P2D_WEIGHTS) <= set(history[-1]), sorted(history[-1])
    assert result.surrogate.error_std > 0


def test_checkpoint_round_trip_and_resume(tmp_path, tiny, short_training):
    data, config, result = short_training
    path = tmp_path / "p2d.eqx"
    save_surrogate(path, result.surrogate)
    loaded = load_surrogate_file(path)
    t = np.linspace(0.0, 1350.0, 5)
    np.testing.assert_array_equal(loaded.voltage(t, {"k_i0": 2.0}), result.surrogate.voltage(t, {"k_i0": 2.0}))
    assert loaded.error_std == result.surrogate.error_std
    raw = bytearray(path.read_bytes())
    raw[-5] ^= 0xFF
    path.write_bytes(bytes(raw))
    with pytest.raises(CheckpointError):
        load_surrogate_file(path)
    # an interrupted run resumes to the same model as the uninterrupted one (same compiled steps)
    ckpt = tmp_path / "resume.eqx"
    train(tiny, config, progress=False, data=(data, data), checkpoint=ckpt, until=100)
    resumed = train(tiny, config, progress=False, data=(data, data), checkpoint=ckpt, resume=True)
    np.testing.assert_allclose(resumed.surrogate.voltage(t), result.surrogate.voltage(t), rtol=0, atol=1e-12)
    assert load_surrogate_file(ckpt).error_std == resumed.surrogate.error_std


def test_input_checks(tiny):
    with pytest.raises(InputError, match=r"outside this surrogate's window \[0, 1350\] s"):
        tiny.voltage([0.0, 2000.0])
    with pytest.raises(InputError, match="trained at 2C only"):
        tiny.voltage([0.0, 10.0], c_rate=1.0)
    with pytest.raises(jaxbatt.ParameterError, match="k_Ds"):
        tiny.voltage([0.0, 10.0], {"k_Ds": 20.0})
    with pytest.raises(InputError, match="positions x must lie in"):
        tiny.fields(10.0, [-1e-6])
    with pytest.raises(InputError, match="radii r/R must lie in"):
        tiny.particle_concentration(10.0, 1e-5, 1.5)
    with pytest.raises(InputError, match="trained at 2C only"):
        tiny.at_c_rate(1.0)


def test_loss_variants(tiny):
    """Data only: no physics term is evaluated; physics only: no data term."""
    from jaxbatt.surrogates._recipes import p2d_variant  # noqa: PLC0415

    config = TrainConfig(loss=LOSS)
    n_t, n_x, n_r = 4, 25, 10  # the solver's default mesh
    data = P2DData(
        theta=jnp.ones((1, 2)), t=jnp.linspace(10.0, 1350.0, n_t), x=jnp.linspace(1e-6, 1e-4, n_x),
        r_hat=jnp.linspace(0.05, 0.95, n_r), region=jnp.zeros(n_x, int), c_e=jnp.ones((1, n_t, n_x)),
        phi_e=jnp.ones((1, n_t, n_x)), phi_s=jnp.ones((1, n_t, n_x)), j=jnp.ones((1, n_t, n_x)),
        c_s=jnp.ones((1, n_t, n_x, n_r)), voltage=jnp.ones((1, n_t)),
    )  # fmt: skip
    shapes = lambda c, d: set(jax.eval_shape(lambda s: p2d_loss_terms(s, jax.random.key(0), c.loss, d), tiny))  # noqa: E731
    assert shapes(p2d_variant(config, "data"), data) == {"data", "voltage"}
    physics = p2d_variant(config, "physics")
    assert physics.n_data_parameters == 0
    assert shapes(physics, None) == set(P2D_WEIGHTS) - {"data", "voltage"}
    with pytest.raises(ValueError, match="unknown variant"):
        p2d_variant(config, "both")
    assert len(FIELDS) == 10


# -- the bundled model -----------------------------------------------------------------------

BUNDLED_SETS = np.array([[0.5, 10.0], [4.0, 1.0]])  # two corners of the box
# measured 2026-12-03 on these sets and times: max 1.27 mV, mean 0.209 mV
BUNDLED_MAX_MV, BUNDLED_MEAN_MV = 1.5, 0.25


def test_bundled_p2d_surrogate_against_the_solver(short_training):
    """The bundled model at two corners of the box against the P2D solver (the same compiled
    solve as the training fixture: 2 sets at its times)."""
    data = short_training[0]
    surrogate = jaxbatt.load_surrogate("p2d")
    assert surrogate.name == "p2d" and surrogate.c_rate == 2.0 and surrogate.t_max == 1350.0
    reference = p2d_solver_data(surrogate, BUNDLED_SETS, np.asarray(data.t))
    errors = np.asarray(jaxbatt.surrogates.voltage_errors_mV(surrogate, reference))
    assert errors.max() < BUNDLED_MAX_MV, errors.max()
    assert errors.mean() < BUNDLED_MEAN_MV, errors.mean()
    # the fields too: electrolyte concentration within 0.5 % at the end of the window (0.36 %)
    f = surrogate.fields(float(data.t[-1]), np.asarray(reference.x), dict(zip(surrogate.space.names, BUNDLED_SETS[0])))
    np.testing.assert_allclose(f["c_e"], reference.c_e[0, -1], rtol=5e-3)
    assert 0 < surrogate.error_std < 5e-4  # its RMS validation error: 0.25 mV


@pytest.mark.filterwarnings("ignore::jaxbatt.inference.ConvergenceWarning")
def test_calibrate_model_p2d_uses_the_surrogate(tmp_path, capsys):
    """`jaxbatt calibrate --model p2d` (no data): the bundled P2D example with the P2D
    surrogate; a short run whose posterior still brackets the truth."""
    from jaxbatt._cli import main  # noqa: PLC0415

    out = tmp_path / "cal"
    assert main(["calibrate", "--model", "p2d", "--num-chains", "1", "--num-warmup", "150",
                 "--num-samples", "150", "--no-plots", "--out", str(out)]) == 0  # fmt: skip
    text = capsys.readouterr().out
    assert "bundled example p2d_2c_example.csv (numerical P2D at 2C" in text
    assert "likelihood: surrogate (p2d)" in text
    import json  # noqa: PLC0415

    summary = json.loads((out / "summary.json").read_text())
    for name in ("k_i0", "k_Ds"):
        s = summary["summary"][name]
        assert s["q05"] < 2.0 < s["q95"], (name, s)
    with pytest.raises(InputError, match="no bundled P2D surrogate covers a 1C discharge"):
        jaxbatt.calibrate(np.linspace(10.0, 1000.0, 20), np.full(20, 3.8), model="p2d", c_rate=1.0)


def test_cli_train_p2d_runs_the_recipe(tmp_path, monkeypatch):
    """``jaxbatt train p2d`` builds the shipped recipe with the options given (the training
    itself is `train`, tested above: here it is replaced by a recorder)."""
    import jaxbatt.surrogates as surrogates  # noqa: PLC0415
    from jaxbatt._cli import main  # noqa: PLC0415
    from jaxbatt.surrogates._recipes import P2D_TRAIN  # noqa: PLC0415

    calls = []

    def record(surrogate, config, **kwargs):
        calls.append((surrogate, config, kwargs))
        return surrogates.TrainResult(surrogate=surrogate, history=[])

    monkeypatch.setattr(surrogates, "train", record)
    out = str(tmp_path / "p2d.eqx")
    assert main(["train", "p2d", "--out", out, "--steps", "7", "--width", "12", "--data-sets", "9"]) == 0
    surrogate, config, kwargs = calls[-1]
    assert surrogate.name == "p2d" and surrogate.network.width == 12
    assert config.adam_steps == 7 and config.n_data_parameters == 9
    assert config.loss.weights == P2D_TRAIN.loss.weights and config.loss.parameter_grid == 8
    assert kwargs["checkpoint"] == out
    assert main(["train", "p2d", "--out", out, "--physics-only"]) == 0
    assert calls[-1][1].loss.n_data == 0 and calls[-1][1].n_data_parameters == 0
    assert calls[-1][1].adam_steps == P2D_TRAIN.adam_steps
    assert main(["train", "p2d", "--out", out, "--levels", "2"]) == 2
    assert main(["train", "dfn", "--out", out]) == 2


def test_loss_uses_each_domains_own_bruggeman_exponent():
    """The electrolyte terms of the loss take each region's exponent (as the solver does)."""
    from jaxbatt.cells import nrel_cell
    from jaxbatt.physics import effective_transport
    from jaxbatt.surrogates._p2d_losses import _effective_diffusivity

    cell = nrel_cell()
    steep = eqx.tree_at(lambda c: c.separator.bruggeman, cell, 3.0, is_leaf=lambda x: x is None)
    eps = {"a": cell.anode.electrolyte_volume_fraction, "s": cell.separator.electrolyte_volume_fraction,
           "c": cell.cathode.electrolyte_volume_fraction}
    bulk = float(cell.electrolyte.diffusivity(1200.0, cell.temperature))
    for region, b in zip("asc", (2.0, 3.0, 2.0)):
        assert float(_effective_diffusivity(steep, region)(1200.0)) == pytest.approx(
            float(effective_transport(bulk, eps[region], b)), rel=1e-14)
