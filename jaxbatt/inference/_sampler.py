"""Running NUTS chains as one compiled program, cached across calibrations.

NumPyro's `MCMC` driver recompiles for every run (and, with ``chain_method="sequential"``,
for every chain: about 8 s each on a 2-core CPU). Here each chain is NumPyro's own NUTS
kernel (`init`, then `sample` in `lax.scan`), the chains are combined by `jax.lax.map`
(sequential), `jax.vmap` (vectorized) or `jax.pmap` (parallel), and the jitted program takes
the data as arguments, so a second calibration with the same model and settings and data of
the same shape reuses the compiled program. Progress is reported from inside the program by
`jax.debug.callback`.
"""

import dataclasses
import sys

import jax
import jax.numpy as jnp
import numpy as np
from numpyro.infer import NUTS

CHAIN_METHODS = ("sequential", "vectorized", "parallel")
_CACHE_SIZE = 8
_CACHE: list = []  # (cache_key, runner), most recent last
_PROGRESS = {"bar": None, "make": None}


def _report(count):
    # The bar is made at the first report, after compilation, so that its rate is honest.
    if _PROGRESS["bar"] is None and _PROGRESS["make"] is not None:
        _PROGRESS["bar"] = _PROGRESS["make"]()
    if _PROGRESS["bar"] is not None:
        _PROGRESS["bar"].update(int(np.sum(count)))


@dataclasses.dataclass(frozen=True, eq=False)
class ChainRunner:
    """A compiled multi-chain NUTS sampler for one model function and one set of settings.

    Call it with ``(seed, *data)``; returns ``(samples, diverging, num_steps)`` where samples
    maps every site (sampled and deterministic, constrained) to (chains, draws, ...).
    """

    model_fn: object
    num_chains: int
    num_warmup: int
    num_samples: int
    chain_method: str
    target_accept: float
    max_tree_depth: int
    init_strategy: object
    progress_every: int
    dense_mass: bool = False

    def __post_init__(self):
        kernel = NUTS(
            self.model_fn,
            target_accept_prob=self.target_accept,
            max_tree_depth=self.max_tree_depth,
            init_strategy=self.init_strategy,
            dense_mass=self.dense_mass,
        )
        every = self.progress_every

        def one_chain(key, data):
            state = kernel.init(key, self.num_warmup, None, model_args=data, model_kwargs={})
            postprocess = kernel.postprocess_fn(data, {})

            def step(state, i):
                state = kernel.sample(state, data, {})
                if every:
                    jax.lax.cond(
                        (i + 1) % every == 0,
                        lambda: jax.debug.callback(_report, every),
                        lambda: None,
                    )
                return state

            def warm(state, i):
                return step(state, i), None

            def draw(state, i):
                state = step(state, i)
                return state, (state.z, state.diverging, state.num_steps)

            state, _ = jax.lax.scan(warm, state, jnp.arange(self.num_warmup))
            _, (z, diverging, num_steps) = jax.lax.scan(
                draw, state, jnp.arange(self.num_warmup, self.num_warmup + self.num_samples)
            )
            return jax.vmap(postprocess)(z), diverging, num_steps

        if self.chain_method == "sequential":
            run = jax.jit(lambda keys, data: jax.lax.map(lambda k: one_chain(k, data), keys))
        elif self.chain_method == "vectorized":
            run = jax.jit(jax.vmap(one_chain, in_axes=(0, None)))
        else:
            run = jax.pmap(one_chain, in_axes=(0, None))
        object.__setattr__(self, "_run", run)
        object.__setattr__(self, "_compiled_for", set())  # data shapes compiled so far

    def __call__(self, seed: int, *data, progress_bar: bool = False):
        keys = jax.random.split(jax.random.PRNGKey(seed), self.num_chains)
        total = self.num_chains * (self.num_warmup + self.num_samples)
        make = None
        if progress_bar and self.progress_every:
            from tqdm.auto import tqdm  # noqa: PLC0415

            def make():
                return tqdm(total=total, desc=f"NUTS, {self.num_chains} chain(s), "
                            f"{self.chain_method}", unit="it", mininterval=0.5)  # fmt: skip

        _PROGRESS.update(bar=None, make=make)
        shapes = tuple((tuple(np.shape(x)), str(x.dtype)) for x in data)
        if progress_bar and shapes not in self._compiled_for:
            # Compilation takes seconds (about 12 s for the bundled surrogate on 2 cores)
            # before the first progress report: say so.
            print("compiling the sampler (first run only) ...", file=sys.stderr, flush=True)
        try:
            # NumPyro's NUTS mixes integer and float arrays internally, which JAX's strict
            # dtype promotion (a setting some users and our tests enable) rejects.
            with jax.numpy_dtype_promotion("standard"):
                samples, diverging, num_steps = jax.block_until_ready(self._run(keys, data))
            self._compiled_for.add(shapes)
        finally:
            bar = _PROGRESS["bar"]
            _PROGRESS.update(bar=None, make=None)
            if bar is not None:
                bar.update(total - bar.n)
                bar.close()
        return (
            jax.tree.map(np.asarray, samples),
            np.asarray(diverging),
            np.asarray(num_steps),
        )


def chain_runner(model_fn, *, cache_key, **settings) -> ChainRunner:
    """The `ChainRunner` of `model_fn` and `settings`, reused while `cache_key` (a tuple of
    hashable settings and objects compared by identity) matches a recent one."""
    for k, (key, runner) in enumerate(_CACHE):
        if _same(key, cache_key):
            _CACHE.append(_CACHE.pop(k))
            return runner
    runner = ChainRunner(model_fn, **settings)
    _CACHE.append((cache_key, runner))
    del _CACHE[:-_CACHE_SIZE]
    return runner


def clear_cache():
    """Forget the compiled samplers (benchmarks use it to time compilation)."""
    _CACHE.clear()


def _same(a, b):
    """Settings compare by value, models and distributions by identity (their arrays make
    value equality ambiguous, and a stale compiled program must never serve a new model)."""
    if isinstance(a, (str, int, float, bool, type(None))) and isinstance(
        b, (str, int, float, bool, type(None))
    ):
        return type(a) is type(b) and a == b
    if isinstance(a, tuple) and isinstance(b, tuple):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return a is b
