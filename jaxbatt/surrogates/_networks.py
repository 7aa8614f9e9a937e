"""Neural networks of the surrogates, as Equinox modules.

Inputs are non-dimensional: time features (2 t/t_max - 1, 2 sqrt(t/t_max) - 1) — the square
root resolves the sqrt(t) boundary layer of diffusion at early times —, radius 2 r/R_s - 1 and
parameters mapped to [-1, 1]. Outputs are raw, unbounded values ``z`` that the surrogate turns
into physical fields under hard initial conditions.
"""

import dataclasses
import math
from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp

ACTIVATIONS: dict[str, Callable] = {
    "tanh": jnp.tanh,
    "gelu": jax.nn.gelu,
    "silu": jax.nn.silu,
    "sin": jnp.sin,
}


ARCHITECTURES = ("merged", "split", "separable")


@dataclasses.dataclass(frozen=True)
class NetworkConfig:
    """Hyperparameters of a surrogate network (JSON-serialisable; stored in checkpoints).

    Attributes:
        architecture: ``"merged"`` (a parameter/time trunk and a time/radius trunk whose
            features are fused by per-output heads), ``"split"`` (one network per output) or
            ``"separable"`` (a parameter branch times time/radius trunks, DeepONet-style:
            each output is sum_j b_j(params) T_j(t, r); a voltage curve then costs one branch
            evaluation, because the time features are shared by every parameter set).
        block: ``"modified"`` (the gated "modified MLP" of Wang, Teng and Perdikaris 2021) or
            ``"mlp"`` (a plain MLP, `equinox.nn.MLP`).
        width, depth: hidden width and number of hidden layers of each block (``separable``:
            `width` is also the number of branch/trunk product terms per output).
        activation: one of ``tanh``, ``gelu``, ``silu``, ``sin``.
        fourier_features: number of random Fourier features of the time and radius inputs
            (0: none).
        fourier_scale: standard deviation of the Fourier frequencies.
        init: ``"default"`` (Equinox's LeCun-uniform) or ``"glorot_normal"``.
    """

    architecture: str = "merged"
    block: str = "modified"
    width: int = 24
    depth: int = 3
    activation: str = "tanh"
    fourier_features: int = 0
    fourier_scale: float = 1.0
    init: str = "default"

    def __post_init__(self):
        if self.architecture not in ARCHITECTURES:
            raise ValueError(
                f"architecture must be one of {', '.join(map(repr, ARCHITECTURES))}, "
                f"got {self.architecture!r}"
            )
        if self.block not in ("modified", "mlp"):
            raise ValueError(f"block must be 'modified' or 'mlp', got {self.block!r}")
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {self.activation!r}")
        if self.init not in ("default", "glorot_normal"):
            raise ValueError(f"init must be 'default' or 'glorot_normal', got {self.init!r}")
        if self.width < 1 or self.depth < 1:
            raise ValueError("width and depth must be positive")


def _reinitialise(linear: eqx.nn.Linear, init: str, key) -> eqx.nn.Linear:
    if init == "default":
        return linear
    weight = jax.nn.initializers.glorot_normal()(key, linear.weight.shape, linear.weight.dtype)
    linear = eqx.tree_at(lambda l: l.weight, linear, weight)
    if linear.bias is not None:
        linear = eqx.tree_at(lambda l: l.bias, linear, jnp.zeros_like(linear.bias))
    return linear


def _linear(n_in, n_out, init, *, key):
    k1, k2 = jax.random.split(key)
    return _reinitialise(eqx.nn.Linear(n_in, n_out, key=k1), init, k2)


class ModifiedMLP(eqx.Module):
    """The gated "modified MLP" (Wang, Teng & Perdikaris, SIAM J. Sci. Comput. 2021):
    U = act(W_u x), V = act(W_v x), H_1 = act(W_1 x),
    H_{k+1} = (1 - Z_k) * U + Z_k * V with Z_k = act(W_k H_k); output W_out H_L."""

    encode_u: eqx.nn.Linear
    encode_v: eqx.nn.Linear
    layers: tuple[eqx.nn.Linear, ...]
    output: eqx.nn.Linear
    activation: str = eqx.field(static=True)

    def __init__(self, n_in, n_out, width, depth, activation="tanh", init="default", *, key):
        keys = jax.random.split(key, depth + 3)
        self.encode_u = _linear(n_in, width, init, key=keys[0])
        self.encode_v = _linear(n_in, width, init, key=keys[1])
        sizes = [n_in] + [width] * depth
        self.layers = tuple(
            _linear(a, b, init, key=k) for a, b, k in zip(sizes[:-1], sizes[1:], keys[2:-1])
        )
        self.output = _linear(width, n_out, init, key=keys[-1])
        self.activation = activation

    def hidden(self, x):
        """The last hidden state H_L (width,): the output is `output` (a Linear) of it."""
        act = ACTIVATIONS[self.activation]
        u, v = act(self.encode_u(x)), act(self.encode_v(x))
        h = x
        for layer in self.layers:
            z = act(layer(h))
            h = (1.0 - z) * u + z * v
        return h

    def __call__(self, x):
        return self.output(self.hidden(x))


def make_block(n_in, n_out, config: NetworkConfig, *, key):
    """A `ModifiedMLP` or an `equinox.nn.MLP` as `config.block` says."""
    if config.block == "modified":
        return ModifiedMLP(
            n_in, n_out, config.width, config.depth, config.activation, config.init, key=key
        )
    k1, k2 = jax.random.split(key)
    mlp = eqx.nn.MLP(
        n_in, n_out, config.width, config.depth, activation=ACTIVATIONS[config.activation], key=k1
    )
    keys = jax.random.split(k2, len(mlp.layers))
    layers = tuple(_reinitialise(l, config.init, k) for l, k in zip(mlp.layers, keys))
    return eqx.tree_at(lambda m: m.layers, mlp, layers)


class FourierFeatures(eqx.Module):
    """x -> [x, sin(2 pi B x), cos(2 pi B x)] with fixed (non-trained) Gaussian frequencies B."""

    frequencies: jax.Array

    def __init__(self, n_in, n_features, scale, *, key):
        self.frequencies = scale * jax.random.normal(key, (n_features, n_in))

    @property
    def n_out(self):
        return self.frequencies.shape[1] + 2 * self.frequencies.shape[0]

    def __call__(self, x):
        proj = 2.0 * math.pi * (jax.lax.stop_gradient(self.frequencies) @ x)
        return jnp.concatenate([x, jnp.sin(proj), jnp.cos(proj)])


def _encoder(n_in, config: NetworkConfig, key):
    if config.fourier_features:
        return FourierFeatures(n_in, config.fourier_features, config.fourier_scale, key=key)
    return None


def _encode(encoder, x):
    return x if encoder is None else encoder(x)


class MergedNetwork(eqx.Module):
    """Parameter/time trunk, time/radius trunk and per-output heads.

    The potentials read the (t, p) trunk only, so they never depend on r; each concentration
    head reads the (t, p) features and their product with the (t, r) features.
    """

    time_encoder: FourierFeatures | None
    radius_encoder: FourierFeatures | None
    parameter_trunk: eqx.Module
    radius_trunk: eqx.Module
    potential_head: eqx.nn.Linear
    concentration_heads: tuple[eqx.Module, eqx.Module]

    def __init__(self, n_params: int, config: NetworkConfig, *, key):
        keys = jax.random.split(key, 7)
        self.time_encoder = _encoder(2, config, keys[0])
        self.radius_encoder = _encoder(3, config, keys[1])
        n_t = 2 if self.time_encoder is None else self.time_encoder.n_out
        n_tr = 3 if self.radius_encoder is None else self.radius_encoder.n_out
        w = config.width
        self.parameter_trunk = make_block(n_t + n_params, w, config, key=keys[2])
        self.radius_trunk = make_block(n_tr, w, config, key=keys[3])
        self.potential_head = _linear(w, 2, config.init, key=keys[4])
        head = dataclasses.replace(config, block="mlp", depth=1)
        self.concentration_heads = (
            make_block(2 * w, 1, head, key=keys[5]),
            make_block(2 * w, 1, head, key=keys[6]),
        )

    def potentials(self, t_features, p):
        """Raw potential outputs (2,): (phi_e, phi_s,c)."""
        return self.potential_head(self._parameter_features(t_features, p))

    def _parameter_features(self, t_features, p):
        act = jnp.tanh
        return act(self.parameter_trunk(jnp.concatenate([_encode(self.time_encoder, t_features), p])))

    def concentrations(self, t_features, r, p):
        """Raw concentration outputs (2,): (anode, cathode) at normalised radius feature r."""
        f_p = self._parameter_features(t_features, p)
        x = _encode(self.radius_encoder, jnp.concatenate([t_features, jnp.reshape(r, (1,))]))
        f_r = jnp.tanh(self.radius_trunk(x))
        fused = jnp.concatenate([f_p, f_p * f_r])
        return jnp.concatenate([h(fused) for h in self.concentration_heads])


class SplitNetwork(eqx.Module):
    """One network per output: two potentials of (t, p), two concentrations of (t, r, p)."""

    time_encoder: FourierFeatures | None
    potential_nets: tuple[eqx.Module, eqx.Module]
    concentration_nets: tuple[eqx.Module, eqx.Module]

    def __init__(self, n_params: int, config: NetworkConfig, *, key):
        keys = jax.random.split(key, 5)
        self.time_encoder = _encoder(2, config, keys[0])
        n_t = 2 if self.time_encoder is None else self.time_encoder.n_out
        self.potential_nets = tuple(
            make_block(n_t + n_params, 1, config, key=k) for k in keys[1:3]
        )
        self.concentration_nets = tuple(
            make_block(n_t + 1 + n_params, 1, config, key=k) for k in keys[3:5]
        )

    def potentials(self, t_features, p):
        x = jnp.concatenate([_encode(self.time_encoder, t_features), p])
        return jnp.concatenate([net(x) for net in self.potential_nets])

    def concentrations(self, t_features, r, p):
        x = jnp.concatenate([_encode(self.time_encoder, t_features), jnp.reshape(r, (1,)), p])
        return jnp.concatenate([net(x) for net in self.concentration_nets])


class SeparableNetwork(eqx.Module):
    """A parameter branch times time (potentials) and time/radius (concentrations) trunks.

    Output k is ``sum_j b_kj(p) T_kj(t[, r]) / sqrt(width) + c_k``: the branch sees only the
    parameters and the trunks never see them. Under `jax.vmap` over parameter sets at shared
    times, JAX evaluates the trunks once (their inputs are not batched), so the per-curve cost
    is one branch evaluation and a (times x width) contraction. Derivatives in t and r act on
    the trunks only.
    """

    time_encoder: FourierFeatures | None
    radius_encoder: FourierFeatures | None
    branch: eqx.Module
    potential_trunk: eqx.Module
    concentration_trunk: eqx.Module
    bias: jax.Array
    width: int = eqx.field(static=True)

    def __init__(self, n_params: int, config: NetworkConfig, *, key):
        keys = jax.random.split(key, 5)
        w = config.width
        self.width = w
        self.time_encoder = _encoder(2, config, keys[0])
        self.radius_encoder = _encoder(3, config, keys[1])
        n_t = 2 if self.time_encoder is None else self.time_encoder.n_out
        n_tr = 3 if self.radius_encoder is None else self.radius_encoder.n_out
        self.branch = make_block(n_params, 4 * w, config, key=keys[2])
        self.potential_trunk = make_block(n_t, 2 * w, config, key=keys[3])
        self.concentration_trunk = make_block(n_tr, 2 * w, config, key=keys[4])
        self.bias = jnp.zeros(4)

    def _contract(self, b, trunk):
        w = self.width
        return jnp.sum(b.reshape(2, w) * trunk.reshape(2, w), axis=1) / math.sqrt(w)

    def potentials(self, t_features, p):
        trunk = self.potential_trunk(_encode(self.time_encoder, t_features))
        return self._contract(self.branch(p)[: 2 * self.width], trunk) + self.bias[:2]

    def concentrations(self, t_features, r, p):
        trunk = self.concentration_trunk_features(t_features, r)
        return self._contract(self.branch(p)[2 * self.width :], trunk) + self.bias[2:]

    # the two factors of `concentrations` apart, for callers that combine trunks linearly
    # before contracting (the conservative ansatz's voltage path): output k is
    # sum_j B[k, j] T[k, j] / sqrt(width) + bias[2 + k]
    def concentration_trunk_features(self, t_features, r):
        """T (2, width): the concentration trunk at one (t, r) point."""
        x = _encode(self.radius_encoder, jnp.concatenate([t_features, jnp.reshape(r, (1,))]))
        return self.concentration_trunk(x).reshape(2, self.width)

    def concentration_branch(self, p):
        """B (2, width): the branch's concentration weights, scaled by 1 / sqrt(width)."""
        return self.branch(p)[2 * self.width :].reshape(2, self.width) / math.sqrt(self.width)


def make_network(n_params: int, config: NetworkConfig, *, key):
    """Build the network that `config.architecture` names."""
    cls = {"merged": MergedNetwork, "split": SplitNetwork, "separable": SeparableNetwork}
    return cls[config.architecture](n_params, config, key=key)


def _output_layer_paths(network):
    def last_of(block):
        return (lambda b: b.output) if isinstance(block, ModifiedMLP) else (lambda b: b.layers[-1])

    if isinstance(network, SeparableNetwork):
        return [lambda n, f=last_of(network.branch): f(n.branch)]
    if isinstance(network, MergedNetwork):
        paths = [lambda n: n.potential_head]
        for k in range(2):
            head = network.concentration_heads[k]
            paths.append(lambda n, k=k, f=last_of(head): f(n.concentration_heads[k]))
        return paths
    paths = []
    for group in ("potential_nets", "concentration_nets"):
        for k, net in enumerate(getattr(network, group)):
            paths.append(lambda n, g=group, k=k, f=last_of(net): f(getattr(n, g)[k]))
    return paths


def zero_outputs(network):
    """`network` with the weights and biases of its output layers set to zero, so that it
    outputs exactly 0 until trained (a new hierarchy level starts as the level below)."""
    for path in _output_layer_paths(network):
        layer = path(network)
        network = eqx.tree_at(
            lambda n, p=path: (p(n).weight, p(n).bias),
            network,
            (jnp.zeros_like(layer.weight), jnp.zeros_like(layer.bias)),
        )
    if isinstance(network, SeparableNetwork):
        network = eqx.tree_at(lambda n: n.bias, network, jnp.zeros_like(network.bias))
    return network
