"""Optional gradient-norm loss balancing of the surrogate's Adam phase (Wang, Teng & Perdikaris
2021): default unchanged, multipliers as specified, checkpointed for an exact resume, checked
settings.

The runs are tiny (one hidden layer of 8, 40 Adam steps, no L-BFGS) and use a synthetic data
set (linear discharge-like targets) instead of the numerical solver, to keep the tests fast;
the balancing only needs a data term of another magnitude than the physics terms.
"""

import dataclasses
import hashlib
import io
import json

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxbatt import InputError
from jaxbatt._cli import build_parser
from jaxbatt.surrogates import (
    LossConfig,
    NetworkConfig,
    SolverData,
    TrainConfig,
    spm_surrogate,
    train,
)
from jaxbatt.surrogates import upgrade_checkpoint
from jaxbatt.surrogates._checkpoint import load_checkpoint, read_header
from jaxbatt.surrogates._losses import loss_terms
from jaxbatt.surrogates._training import _adam

TINY = NetworkConfig(width=8, depth=1, block="mlp")
TINY_LOSS = LossConfig(n_interior=16, n_boundary=8, n_data=16)
PLAIN = TrainConfig(
    adam_steps=40, lbfgs_steps=0, loss=TINY_LOSS, n_data_parameters=2, n_validation=1,
    chunk=10, validate_every=10, learning_rate=3e-3, final_learning_rate=1e-3,
)  # fmt: skip
BALANCED = dataclasses.replace(PLAIN, balance="grad_norm", balance_every=10, balance_alpha=0.5)


def _synthetic_data(surrogate, theta_unit):
    """SolverData with linear-in-time targets (stoichiometries, voltage) at `theta_unit`."""
    theta = jnp.asarray(surrogate.space.from_unit(np.asarray(theta_unit, float)))
    t = jnp.linspace(0.0, surrogate.t_max, 8)
    r_hat = jnp.linspace(0.125, 0.875, 4)
    s = (t / surrogate.t_max)[None, :, None] * jnp.ones((len(theta), 1, 1))
    x_a = surrogate.cell.anode.initial_stoichiometry - 0.3 * s * (1.0 + 0.1 * r_hat)
    x_c = surrogate.cell.cathode.initial_stoichiometry + 0.3 * s * (1.0 - 0.1 * r_hat)
    surface = jnp.concatenate([x_a[..., -1:], x_c[..., -1:]], -1)
    voltage = 4.0 - 0.5 * s[..., 0]
    return SolverData(theta, t, r_hat, x_a, x_c, surface, voltage)


@pytest.fixture(scope="module")
def setup():
    s = spm_surrogate(TINY, key=jax.random.key(7))
    data = (_synthetic_data(s, [[0.0, 0.0], [1.0, 1.0]]), _synthetic_data(s, [[0.3, 0.6]]))
    return s, data


@pytest.fixture(scope="module")
def balanced_run(setup):
    s, data = setup
    return train(s, BALANCED, progress=False, data=data)


def _multipliers(record):
    return {k[len("lam_") :]: v for k, v in record.items() if k.startswith("lam_")}


def _leaves(surrogate):
    return [np.asarray(x) for x in jax.tree.leaves(surrogate) if eqx.is_array(x)]


def _fixed_weight_loss(record):
    weight = TINY_LOSS.weight
    return sum(weight[name] * record[name] for name in weight if name in record)


def test_balance_none_is_the_default_and_keeps_the_state_layout(setup, tmp_path):
    s, data = setup
    assert TrainConfig().balance == "none"
    default = train(s, PLAIN, progress=False, data=data)
    none = dataclasses.replace(PLAIN, balance="none")
    explicit = train(s, none, checkpoint=tmp_path / "m.eqx", progress=False, data=data, until=40)
    for a, b in zip(_leaves(default.surrogate), _leaves(explicit.surrogate), strict=True):
        np.testing.assert_array_equal(a, b)
    assert [h["total"] for h in default.history] == [h["total"] for h in explicit.history]
    assert not any(k.startswith("lam_") for h in explicit.history for k in h)
    # the unbalanced training state keeps its original layout (no multipliers)
    params, _ = eqx.partition(s, s.trainable())
    key_data = jax.random.key_data(jax.random.key(0))
    skeleton = (params, _adam(none).init(params), optax.lbfgs().init(params), key_data)
    state = tmp_path / "m.eqx.state"
    (loaded, *_), header = load_checkpoint(state, skeleton, kind="training-state")
    assert header["meta"]["step"] == 40
    for a, b in zip(jax.tree.leaves(loaded), _leaves(explicit.surrogate.networks), strict=True):
        np.testing.assert_array_equal(a, b)
    buffer = io.BytesIO()
    eqx.tree_serialise_leaves(buffer, skeleton)
    assert len(read_header(state)[1]) == len(buffer.getvalue())  # nothing appended
    # a state file written before the balancing settings existed still resumes
    line, _, payload = state.read_bytes().partition(b"\n")
    old = json.loads(line)
    for name in ("balance", "balance_every", "balance_alpha"):
        del old["config"]["train"][name]
    # as version 1 wrote it (checksum over the payload only), then upgraded as the error says
    old.update(version=1, sha256=hashlib.sha256(payload).hexdigest())
    state.write_bytes(json.dumps(old).encode() + b"\n" + payload)
    upgrade_checkpoint(state)
    resumed = train(s, PLAIN, checkpoint=tmp_path / "m.eqx", resume=True, progress=False, data=data)
    assert resumed.history == explicit.history


def test_grad_norm_multipliers_adapt_and_the_loss_falls(balanced_run):
    history = balanced_run.history
    assert [h["step"] for h in history] == [10, 20, 30, 40]
    lams = [_multipliers(h) for h in history]
    # one multiplier per term present with a non-zero weight (potentials from the kinetics:
    # no kinetics term)
    assert set(lams[0]) == {"diffusion", "symmetry", "surface_flux", "data"}
    values = np.array([list(lam.values()) for lam in lams])
    assert np.all(np.isfinite(values)) and np.all(values > 0)
    assert np.max(np.abs(values - 1.0)) > 0.1  # they moved away from 1
    assert not np.array_equal(values[0], values[-1])  # and kept adapting
    # the data term (largest gradient) is down-weighted relative to the physics terms
    assert lams[-1]["data"] < 1.0 < lams[-1]["diffusion"]
    # the logged total is the balanced loss sum_i lambda_i w_i L_i (the multipliers change at
    # the first step of each chunk, so the chunk means are those of the logged multipliers)
    weight = TINY_LOSS.weight
    for h, lam in zip(history, lams):
        balanced = sum(lam[name] * weight[name] * h[name] for name in lam)
        assert h["total"] == pytest.approx(balanced, rel=1e-10)
    # the fixed-weight loss sum_i w_i L_i falls (more slowly than unbalanced here: the
    # dominant data term is down-weighted)
    fixed = [_fixed_weight_loss(h) for h in history]
    assert all(b < a for a, b in zip(fixed, fixed[1:])) and fixed[-1] < 0.9 * fixed[0], fixed


def test_multipliers_match_an_independent_recomputation(setup, balanced_run):
    s, data = setup
    # parameters after 10 Adam steps: the state at the second balancing step (step 10)
    at10 = train(s, BALANCED, progress=False, data=data, until=10).surrogate
    key = jax.random.key(BALANCED.seed)
    for _ in range(11):
        key, sub = jax.random.split(key)
    params, static = eqx.partition(at10, at10.trainable())
    before = _multipliers(balanced_run.history[0])  # after the step-0 update
    after = _multipliers(balanced_run.history[1])  # after the step-10 update
    names = sorted(before)

    @jax.jit
    def grad_norm(params, one_hot):
        # gradient of the single weighted term w_i L_i picked by `one_hot`
        def loss(p):
            terms = loss_terms(eqx.combine(p, static), sub, TINY_LOSS, data[0])
            return sum(c * TINY_LOSS.weight[n] * terms[n] for c, n in zip(one_hot, names))

        grads = jax.grad(loss)(params)
        return jnp.sqrt(sum(jnp.sum(g**2) for g in jax.tree.leaves(grads)))

    eye = jnp.eye(len(names))
    norms = {name: float(grad_norm(params, eye[i])) for i, name in enumerate(names)}
    mean = np.mean(list(norms.values()))
    alpha = BALANCED.balance_alpha
    for name in before:
        expected = alpha * before[name] + (1 - alpha) * mean / norms[name]
        assert after[name] == pytest.approx(expected, rel=1e-8), name
    # the balanced weights lambda w_i pull with gradient norms closer to each other
    spread_before = max(norms.values()) / min(norms.values())
    balanced = [after[name] * norms[name] for name in norms]
    assert max(balanced) / min(balanced) < 0.1 * spread_before


def test_interrupted_balanced_training_resumes_to_the_same_model(setup, balanced_run, tmp_path):
    s, data = setup
    path = tmp_path / "model.eqx"
    train(s, BALANCED, checkpoint=path, progress=False, data=data, until=20)
    header, _ = read_header(tmp_path / "model.eqx.state")
    assert header["meta"]["step"] == 20
    resumed = train(s, BALANCED, checkpoint=path, resume=True, progress=False, data=data)
    for a, b in zip(_leaves(resumed.surrogate), _leaves(balanced_run.surrogate), strict=True):
        np.testing.assert_array_equal(a, b)
    assert resumed.history == [
        dict(h, wall_s=r["wall_s"]) for h, r in zip(balanced_run.history, resumed.history)
    ]
    assert path.exists()


@pytest.mark.parametrize(
    "field, value",
    [
        ("balance", "gradnorm"),
        ("balance", None),
        ("balance_every", 0),
        ("balance_every", -5),
        ("balance_every", 2.5),
        ("balance_alpha", 1.0),
        ("balance_alpha", -0.1),
        ("balance_alpha", float("nan")),
    ],
)
def test_bad_balancing_settings_raise_input_errors_naming_the_field(field, value):
    with pytest.raises(InputError, match=rf"TrainConfig\.{field} "):
        TrainConfig(**{field: value})


def test_cli_train_passes_the_balancing_settings(monkeypatch, tmp_path):
    import jaxbatt.surrogates

    seen = {}

    def fake_train_hierarchy(levels, out, *, config, **kwargs):
        seen["config"] = config
        return jaxbatt.surrogates.TrainResult(surrogate=None, history=[])

    monkeypatch.setattr(jaxbatt.surrogates, "train_hierarchy", fake_train_hierarchy)
    out = str(tmp_path / "m.eqx")
    args = build_parser().parse_args(
        ["train", "spm", "--out", out, "--balance", "grad_norm", "--balance-every", "50"]
    )
    args.func(args)
    assert seen["config"].balance == "grad_norm" and seen["config"].balance_every == 50
    args = build_parser().parse_args(["train", "spm", "--out", out])
    args.func(args)
    assert seen["config"].balance == "none"
    with pytest.raises(SystemExit):
        build_parser().parse_args(["train", "spm", "--out", out, "--balance", "max"])


def test_cli_train_defaults_are_the_shipped_recipe(monkeypatch, tmp_path):
    """`jaxbatt train spm --out m.eqx` trains what scripts/train_spm_surrogate.py ships."""
    import importlib.util
    import pathlib

    import jaxbatt.surrogates

    script = pathlib.Path(__file__).parents[1] / "scripts" / "train_spm_surrogate.py"
    spec = importlib.util.spec_from_file_location("train_spm_surrogate", script)
    shipped = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(shipped)
    seen = {}

    def fake_train_hierarchy(levels, out, *, config, network, **kwargs):
        seen.update(levels=levels, config=config, network=network)
        return jaxbatt.surrogates.TrainResult(surrogate=None, history=[])

    monkeypatch.setattr(jaxbatt.surrogates, "train_hierarchy", fake_train_hierarchy)
    args = build_parser().parse_args(["train", "spm", "--out", str(tmp_path / "m.eqx")])
    args.func(args)
    assert seen["levels"] == 1 and seen["network"] == shipped.NETWORK
    cli, ref = seen["config"].to_dict(), shipped.LEVEL1.to_dict()
    for name in ("adam_steps", "lbfgs_steps", "learning_rate", "final_learning_rate",
                 "n_data_parameters", "seed", "loss"):  # fmt: skip
        assert cli[name] == ref[name], name
