"""Training of the surrogates with Optax: Adam with a schedule, then L-BFGS.

The whole step — collocation sampling, losses, gradient, update — is jitted, and `chunk`
steps run inside one `lax.scan`, so Python only wakes up to update the progress bar, validate
and write checkpoints.

Optional loss balancing (``TrainConfig(balance="grad_norm")``) is the learning-rate annealing
of Wang, Teng & Perdikaris (2021), "Understanding and mitigating gradient pathologies in
physics-informed neural networks", in its mean-normalised form: every `balance_every` Adam
steps, with g_i the gradient of the weighted term w_i L_i with respect to the trainable
parameters on that step's batch,

    lambda_hat_i = mean_j ||g_j|| / ||g_i||,
    lambda_i <- alpha lambda_i + (1 - alpha) lambda_hat_i,

and the loss is sum_i lambda_i w_i L_i. With lambda_hat every weighted term would pull with the
same gradient norm (their mean, so the overall gradient scale is kept); the moving average
smooths the noise of the random batches. Terms with a zero weight get no multiplier, and a term
whose gradient vanishes keeps its multiplier. L-BFGS uses the multipliers Adam ended with.
"""

import dataclasses
import json
import pathlib
import time

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from tqdm.auto import tqdm

from .._errors import CheckpointError, InputError
from ._checkpoint import load_checkpoint, read_header, save_checkpoint
from ._data import SolverData, solver_data, voltage_errors_mV
from ._losses import LossConfig, loss_terms, rates_from_unit, total_loss
from ._p2d import P2DSurrogate, build_p2d_surrogate
from ._p2d_losses import make_p2d_data, p2d_loss_terms
from ._surrogate import SPMSurrogate, build_surrogate

BALANCE_SCHEMES = ("none", "grad_norm")


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Training hyperparameters (JSON-serialisable; stored in checkpoints).

    Attributes:
        adam_steps: Adam steps; the learning rate holds `learning_rate` for the first half,
            then decays exponentially to `final_learning_rate`.
        lbfgs_steps: L-BFGS steps after Adam (`optax.lbfgs`, zoom line search), in rounds
            of `lbfgs_round` steps; each round restarts L-BFGS on a new fixed collocation batch
            `lbfgs_batch_factor` times larger than Adam's (resampling between rounds keeps
            L-BFGS from overfitting one batch).
        loss: the `LossConfig`.
        clip_norm: global gradient-norm clip of the Adam steps.
        n_data_parameters: parameter sets solved by the numerical SPM (the P2D for a
            `P2DSurrogate`) for the data term
            (0 with ``loss.n_data = 0``: physics only): the box's corners, then uniform random
            draws. Set to ``len(data_parameters)`` when those are given.
        data_parameters: explicit parameter sets (physical units, each of the space's length)
            for the data term instead of corners + random draws, e.g. the reference's five
            (the four corners and (2, 2)); empty: not used.
        n_validation: held-out parameter sets for the validation error in mV.
        chunk: steps per jitted scan (one progress-bar update).
        validate_every: steps between validations and checkpoints.
        seed: the run's seed; equal seeds give identical runs on one machine.
        balance: loss balancing of the Adam phase: ``"none"`` (the fixed weights of `loss`)
            or ``"grad_norm"`` (adaptive multipliers lambda_i [-] from the gradient norms of
            the weighted terms, see the module docstring; the history then holds them as
            ``lam_<term>`` and its ``total`` is the balanced loss sum_i lambda_i w_i L_i).
        balance_every: Adam steps between updates of the multipliers (the first at step 0).
        balance_alpha: moving-average factor of the multipliers, in [0, 1) (0: no memory).
    """

    adam_steps: int = 2_000
    lbfgs_steps: int = 3_000
    learning_rate: float = 1e-3
    final_learning_rate: float = 1e-4
    clip_norm: float = 1e3
    loss: LossConfig = LossConfig()
    lbfgs_batch_factor: int = 4
    lbfgs_round: int = 500
    n_data_parameters: int = 64
    n_validation: int = 16
    chunk: int = 250
    validate_every: int = 2_500
    seed: int = 0
    balance: str = "none"
    balance_every: int = 100
    balance_alpha: float = 0.9
    data_parameters: tuple[tuple[float, ...], ...] = ()

    def __post_init__(self):
        if self.data_parameters:
            sets = tuple(tuple(float(v) for v in p) for p in self.data_parameters)
            if len({len(p) for p in sets}) != 1 or not all(map(np.isfinite, sum(sets, ()))):
                raise InputError(
                    "TrainConfig.data_parameters must be finite parameter sets of one length, "
                    f"got {self.data_parameters!r}"
                )
            object.__setattr__(self, "data_parameters", sets)
            object.__setattr__(self, "n_data_parameters", len(sets))
        if self.balance not in BALANCE_SCHEMES:
            raise InputError(
                f"TrainConfig.balance must be one of {', '.join(map(repr, BALANCE_SCHEMES))}, "
                f"got {self.balance!r}"
            )
        every = self.balance_every
        if isinstance(every, bool) or not isinstance(every, (int, np.integer)) or every <= 0:
            raise InputError(f"TrainConfig.balance_every must be a positive integer, got {every!r}")
        alpha = self.balance_alpha
        real = isinstance(alpha, (int, float, np.number)) and not isinstance(alpha, bool)
        if not real or not 0 <= alpha < 1:
            raise InputError(f"TrainConfig.balance_alpha must be in [0, 1), got {alpha!r}")

    def to_dict(self):
        d = dataclasses.asdict(self)
        d["loss"]["weights"] = dict(self.loss.weights)
        d["data_parameters"] = [list(p) for p in self.data_parameters]  # as JSON holds it
        return d

    @classmethod
    def from_dict(cls, d):
        d = dict(d)
        loss = dict(d.pop("loss"))
        loss["weights"] = tuple(loss["weights"].items())
        d["data_parameters"] = tuple(tuple(p) for p in d.get("data_parameters", ()))
        return cls(loss=LossConfig(**loss), **d)


class TrainResult(eqx.Module):
    """A trained surrogate and its history (lists of dicts: step, phase, loss terms,
    validation errors in mV, wall time in s)."""

    surrogate: SPMSurrogate | P2DSurrogate
    history: list = eqx.field(static=True)


def _adam(config: TrainConfig):
    half = config.adam_steps // 2
    decay = optax.exponential_decay(
        config.learning_rate,
        transition_steps=max(config.adam_steps - half, 1),
        decay_rate=config.final_learning_rate / config.learning_rate,
    )
    schedule = optax.join_schedules([optax.constant_schedule(config.learning_rate), decay], [half])
    # clipping tames the rare huge gradients of collocation points in the sqrt(t) boundary
    # layer near t = 0
    return optax.chain(optax.clip_by_global_norm(config.clip_norm), optax.adam(schedule))


def _parameter_samples(space, n, key):
    return np.asarray(space.from_unit(jax.random.uniform(key, (n, len(space)))))


def _rate_samples(surrogate, n, key, corners=None, sampling="log-uniform"):
    """Rates of `n` data sets (None for a fixed-rate surrogate): log-uniform (or uniform)
    over the range, the first ones at the range's ends when `corners` (their unit
    coordinates) are given."""
    if not surrogate.rate_input:
        return None
    u = np.array(jax.random.uniform(key, (n,)))
    if corners is not None:
        u[: len(corners)] = corners
    return rates_from_unit(surrogate, u, sampling)


def make_data(surrogate: SPMSurrogate | P2DSurrogate, config: TrainConfig):
    """(training data or None, validation data) from the numerical solver, seeded by config.
    Training parameters include the corners of the box (for a rate-input surrogate, of the
    box times the rate range); validation ones are random (rates log-uniform). A P2D
    surrogate's come from the P2D solver (`make_p2d_data`)."""
    if isinstance(surrogate, P2DSurrogate):
        return make_p2d_data(surrogate, config)
    k_train, k_val = jax.random.split(jax.random.key(config.seed + 10_000))
    space = surrogate.space
    k_val_rate, k_train_rate = jax.random.split(jax.random.fold_in(k_val, 1))
    validation = solver_data(
        surrogate, _parameter_samples(space, config.n_validation, k_val),
        c_rate=_rate_samples(surrogate, config.n_validation, k_val_rate),
    )  # fmt: skip
    if config.loss.n_data == 0 or config.n_data_parameters == 0:
        return None, validation
    if config.data_parameters:
        theta = np.asarray(config.data_parameters, float)
        if theta.shape[1] != len(space):
            raise InputError(
                f"TrainConfig.data_parameters has sets of {theta.shape[1]} values; the space "
                f"has {len(space)} parameters ({', '.join(space.names)})"
            )
        theta = space.validate(space.as_dict(theta), fill_defaults=False)  # inside the box
        rates = _rate_samples(surrogate, len(theta), k_train_rate, sampling=config.loss.rate_sampling)
    else:
        dims = len(space) + surrogate.rate_input
        corners = np.array(np.meshgrid(*[[0.0, 1.0]] * dims)).reshape(dims, -1).T
        n_random = max(config.n_data_parameters - len(corners), 0)
        theta = np.concatenate(
            [space.from_unit(corners[:, : len(space)]), _parameter_samples(space, n_random, k_train)]
        )
        rate_corners = corners[:, len(space)] if surrogate.rate_input else None
        rates = _rate_samples(surrogate, len(theta), k_train_rate, rate_corners,
                              config.loss.rate_sampling)
    level = surrogate.level_parameters[-1]
    if level is not None:  # fixed-parameter level: data at that point only
        theta = np.asarray([level])
        rates = None if rates is None else rates[:1]
    return solver_data(surrogate, theta, c_rate=rates), validation


def _state_path(path):
    return pathlib.Path(str(path) + ".state")


def _training_state(params, opt_state, lbfgs_state, key, multipliers):
    """The pytree of a training-state checkpoint; the balancing multipliers only when used, so
    that unbalanced runs keep the original layout."""
    state = (params, opt_state, lbfgs_state, jax.random.key_data(key))
    return state if multipliers is None else (*state, multipliers)


def _same_settings(stored: dict, config: TrainConfig) -> bool:
    """Whether a state file's training settings are `config`'s; a setting missing from the file
    (written before it existed) had its default."""
    defaults = TrainConfig().to_dict()
    return {**{k: v for k, v in defaults.items() if k not in stored}, **stored} == config.to_dict()


SURROGATE_KINDS = {"spm-surrogate": build_surrogate, "p2d-surrogate": build_p2d_surrogate}


def save_surrogate(path, surrogate: SPMSurrogate | P2DSurrogate, meta: dict | None = None):
    """Write a surrogate checkpoint (atomic)."""
    kind = "p2d-surrogate" if isinstance(surrogate, P2DSurrogate) else "spm-surrogate"
    save_checkpoint(path, surrogate, kind=kind, config=surrogate.config(), meta=meta)


def load_surrogate_file(path, cell=None) -> SPMSurrogate | P2DSurrogate:
    """Load a surrogate written by `save_surrogate` (SPM or P2D). Its cell is rebuilt from
    the name the checkpoint records (``"nrel"``, ``"pybamm:SET"``), or is `cell` when given
    (it must carry that name); the checkpoint's stored scalars then replace the cell's."""
    header, _ = read_header(path)
    kind = header.get("kind")
    if kind not in SURROGATE_KINDS:
        raise CheckpointError(f"{str(path)!r} holds a {kind!r} checkpoint, not a surrogate")
    try:
        skeleton = SURROGATE_KINDS[kind](header["config"], cell=cell)
    except InputError:  # the cell given or named does not fit: the message says how
        raise
    except (KeyError, TypeError, ValueError) as e:
        raise CheckpointError(f"{str(path)!r}: invalid surrogate configuration ({e})") from e
    surrogate, _ = load_checkpoint(path, skeleton, kind=kind)
    return surrogate


def _terms(surrogate, key, loss_config, data):
    if isinstance(surrogate, P2DSurrogate):
        return p2d_loss_terms(surrogate, key, loss_config, data)
    return loss_terms(surrogate, key, loss_config, data)


def _loss_of(params, static, data, key, loss_config, multipliers=None):
    terms = _terms(eqx.combine(params, static), key, loss_config, data)
    return total_loss(terms, loss_config, multipliers), terms


def _balanced_terms(params, static, data, loss_config) -> tuple[str, ...]:
    """Names of the loss terms that get a balancing multiplier: those present (they depend on
    the surrogate and on the data) with a non-zero weight."""
    shapes = jax.eval_shape(
        lambda p: _terms(eqx.combine(p, static), jax.random.key(0), loss_config, data), params
    )
    weight = loss_config.weight
    return tuple(name for name in shapes if weight.get(name, 0.0) != 0.0)


def _term_gradient_norms(params, static, data, key, loss_config, names):
    """{name: ||grad_params (w_i L_i)||} of the weighted terms `names` on the batch of `key`."""
    weight = loss_config.weight
    norms = {}
    # one reverse pass per term: compiles much faster than a vmapped `jax.jacrev` of the
    # forward-mode residual derivatives, and runs only every `balance_every` steps
    for name in names:

        def weighted(p, name=name):
            return weight[name] * _terms(eqx.combine(p, static), key, loss_config, data)[name]

        norms[name] = optax.tree.norm(jax.grad(weighted)(params))
    return norms


def _rebalance(multipliers, params, static, data, key, config: TrainConfig):
    """One gradient-norm update of the multipliers (dimensionless, by term name)."""
    norms = _term_gradient_norms(params, static, data, key, config.loss, tuple(multipliers))
    mean = sum(norms.values()) / len(norms)
    alpha = config.balance_alpha
    updated = {}
    for name, lam in multipliers.items():
        norm = norms[name]
        # a term without gradient carries no information: it keeps its multiplier
        target = jnp.where(norm > 0, mean / jnp.where(norm > 0, norm, 1.0), lam)
        updated[name] = alpha * lam + (1 - alpha) * target
    return updated


def _lbfgs_loss_config(config: TrainConfig):
    loss = config.loss
    return dataclasses.replace(
        loss,
        n_interior=loss.n_interior * config.lbfgs_batch_factor,
        n_boundary=loss.n_boundary * config.lbfgs_batch_factor,
        n_data=loss.n_data * config.lbfgs_batch_factor,
    )


# Module-level jitted steps: the (hashable) configs and the non-trainable part of the model
# are static arguments, so repeated `train` calls with the same structure reuse compiled code.
@eqx.filter_jit
def _adam_chunk(params, opt_state, key, balance, static, data, config: TrainConfig, n: int):
    # balance: None, or (multipliers, Adam step at which the chunk starts); the multipliers
    # are updated at the steps that are multiples of `balance_every`
    adam = _adam(config)

    def body(carry, _):
        params, opt_state, key, balance = carry
        key, sub = jax.random.split(key)
        multipliers = None
        if balance is not None:
            multipliers, step = balance
            multipliers = jax.lax.cond(
                step % config.balance_every == 0,
                lambda m: _rebalance(m, params, static, data, sub, config),
                lambda m: m,
                multipliers,
            )
            balance = (multipliers, step + 1)
        (loss, terms), grads = jax.value_and_grad(_loss_of, has_aux=True)(
            params, static, data, sub, config.loss, multipliers
        )
        updates, opt_state = adam.update(grads, opt_state, params)
        params = eqx.apply_updates(params, updates)
        return (params, opt_state, key, balance), dict(terms, total=loss)

    carry = (params, opt_state, key, balance)
    (params, opt_state, key, balance), logs = jax.lax.scan(body, carry, length=n)
    multipliers = None if balance is None else balance[0]
    return params, opt_state, key, multipliers, jax.tree.map(jnp.mean, logs)


@eqx.filter_jit
def _lbfgs_chunk(
    params, state, round_index, multipliers, static, data, config: TrainConfig, n: int
):
    # each round of `lbfgs_round` steps uses its own fixed collocation batch
    batch_key = jax.random.fold_in(jax.random.key(config.seed + 1), round_index)
    loss_config = _lbfgs_loss_config(config)
    lbfgs = optax.lbfgs()

    def value(p):
        return _loss_of(p, static, data, batch_key, loss_config, multipliers)[0]

    value_and_grad = optax.value_and_grad_from_state(value)

    def body(carry, _):
        params, state = carry
        v, grad = value_and_grad(params, state=state)
        updates, state = lbfgs.update(grad, state, params, value=v, grad=grad, value_fn=value)
        return (eqx.apply_updates(params, updates), state), v

    (params, state), values = jax.lax.scan(body, (params, state), length=n)
    return params, state, {"total": values[-1]}


@eqx.filter_jit
def _validate(params, static, validation):
    errors = voltage_errors_mV(eqx.combine(params, static), validation)
    return jnp.mean(errors), jnp.max(errors), jnp.sqrt(jnp.mean((errors * 1e-3) ** 2))


def train(
    surrogate: SPMSurrogate,
    config: TrainConfig = TrainConfig(),
    *,
    checkpoint=None,
    resume: bool = False,
    progress: bool = True,
    data: tuple[SolverData | None, SolverData] | None = None,
    until: int | None = None,
) -> TrainResult:
    """Train the top level of `surrogate` (lower hierarchy levels stay frozen).

    Args:
        surrogate: an `SPMSurrogate` (fresh, or a hierarchy from `add_level`) or a
            `P2DSurrogate` (its loss: `_p2d_losses.p2d_loss_terms`; data from the P2D solver).
        config: the `TrainConfig`.
        checkpoint: path of the final model; the training state is written atomically next
            to it (``<checkpoint>.state``) every `validate_every` steps.
        resume: continue from ``<checkpoint>.state`` when it exists.
        progress: show a progress bar with every loss term and the validation error.
        data: precomputed (training data, validation data); by default made with the solver.
        until: stop after this many steps in total (a time-boxed run: the training state is
            checkpointed there and `resume=True` continues it).

    Returns:
        `TrainResult` with the trained surrogate (its `error_std` set to the RMS validation
        voltage error) and the history.
    """
    start = time.perf_counter()
    train_data, validation = make_data(surrogate, config) if data is None else data
    params, static = eqx.partition(surrogate, surrogate.trainable())
    opt_state = _adam(config).init(params)
    key = jax.random.key(config.seed)
    step, history, elapsed_before = 0, [], 0.0
    multipliers = None  # loss-balancing multipliers by term name (balance="none": none)
    if config.balance != "none":
        names = _balanced_terms(params, static, train_data, config.loss)
        multipliers = {name: jnp.ones(()) for name in names}

    if resume and checkpoint is not None and _state_path(checkpoint).exists():
        header, _ = read_header(_state_path(checkpoint))
        if header["config"]["model"] != surrogate.config():
            raise CheckpointError(
                f"{str(_state_path(checkpoint))!r} was written for a different surrogate"
            )
        if not _same_settings(header["config"]["train"], config):
            raise CheckpointError(
                f"{str(_state_path(checkpoint))!r} was written with different training settings"
            )
        lbfgs_state = optax.lbfgs().init(params)
        skeleton = _training_state(params, opt_state, lbfgs_state, key, multipliers)
        loaded, header = load_checkpoint(_state_path(checkpoint), skeleton, kind="training-state")
        params, opt_state, lbfgs_state_loaded, key_data = loaded[:4]
        multipliers = None if multipliers is None else loaded[4]
        key = jax.random.wrap_key_data(key_data)
        step = header["meta"]["step"]
        history = header["meta"]["history"]
        elapsed_before = header["meta"]["elapsed_s"]
    else:
        lbfgs_state_loaded = None

    def adam_chunk(params, opt_state, key, multipliers, step, n):
        balance = None if multipliers is None else (multipliers, jnp.asarray(step))
        return _adam_chunk(params, opt_state, key, balance, static, train_data, config, n)

    def lbfgs_chunk(params, state, round_index, multipliers, n):
        return _lbfgs_chunk(params, state, round_index, multipliers, static, train_data, config, n)

    def validate(params):
        return _validate(params, static, validation)

    lbfgs = optax.lbfgs()
    lbfgs_state = lbfgs.init(params) if lbfgs_state_loaded is None else lbfgs_state_loaded
    total_steps = config.adam_steps + config.lbfgs_steps
    bar = tqdm(total=total_steps, initial=step, disable=not progress, desc="train", unit="step")
    record = {}

    def checkpoint_state():
        if checkpoint is None:
            return
        meta = {
            "step": step,
            "history": history,
            "elapsed_s": elapsed_before + time.perf_counter() - start,
        }
        save_checkpoint(
            _state_path(checkpoint),
            _training_state(params, opt_state, lbfgs_state, key, multipliers),
            kind="training-state",
            config={"model": surrogate.config(), "train": config.to_dict()},
            meta=meta,
        )

    try:
        stop_at = total_steps if until is None else min(until, total_steps)
        while step < stop_at:
            phase = "adam" if step < config.adam_steps else "lbfgs"
            end = config.adam_steps if phase == "adam" else total_steps
            n = min(config.chunk, end - step, config.validate_every - step % config.validate_every)
            n = min(n, stop_at - step)
            if phase == "adam":
                params, opt_state, key, multipliers, logs = adam_chunk(
                    params, opt_state, key, multipliers, step, n
                )
            else:
                done = step - config.adam_steps
                n = min(n, config.lbfgs_round - done % config.lbfgs_round)
                if done % config.lbfgs_round == 0:
                    lbfgs_state = lbfgs.init(params)
                round_index = jnp.asarray(done // config.lbfgs_round)
                params, lbfgs_state, logs = lbfgs_chunk(
                    params, lbfgs_state, round_index, multipliers, n
                )
            step += n
            logs = {k: float(v) for k, v in logs.items()}
            if multipliers is not None:
                logs.update({f"lam_{name}": float(v) for name, v in multipliers.items()})
            if not np.isfinite(logs["total"]):
                raise FloatingPointError(f"training loss became {logs['total']} at step {step}")
            record = {"step": step, "phase": phase, **logs}
            if step % config.validate_every == 0 or step in (total_steps, stop_at):
                mean, worst, _ = (float(x) for x in validate(params))
                record.update(val_mean_mV=mean, val_max_mV=worst)
                record["wall_s"] = elapsed_before + time.perf_counter() - start
                history.append(record)
                checkpoint_state()
            bar.set_postfix({k: f"{v:.2e}" for k, v in record.items() if k not in ("step", "phase")})
            bar.update(n)
    finally:
        bar.close()

    mean, worst, rms = (float(x) for x in validate(params))
    trained = dataclasses.replace(eqx.combine(params, static), error_std=rms)
    if checkpoint is not None and step == total_steps:
        wall = elapsed_before + time.perf_counter() - start
        save_surrogate(
            checkpoint,
            trained,
            meta={
                "train": config.to_dict(),
                # solver parameter sets the loss saw, per level (lower levels: unknown here,
                # recorded by train_hierarchy in the final hierarchy checkpoint)
                "n_data_parameters": [0 if train_data is None else int(train_data.theta.shape[0])],
                "validation_mean_mV": mean,
                "validation_max_mV": worst,
                "wall_s": wall,
                "history": history,
            },
        )
    return TrainResult(surrogate=trained, history=history)


def history_json(history) -> str:
    return json.dumps(history, indent=1)
