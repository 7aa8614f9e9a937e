"""Train a multi-fidelity hierarchy level by level."""

import dataclasses
import pathlib

import jax
import numpy as np

from .._errors import InputError
from ._networks import NetworkConfig
from ._surrogate import SPMSurrogate, add_level, spm_surrogate
from ._training import TrainConfig, TrainResult, load_surrogate_file, make_data, train


def level_path(out, level: int) -> pathlib.Path:
    """Where level `level` (1-based) of a hierarchy trained to `out` is checkpointed."""
    out = pathlib.Path(out)
    return out.with_name(f"{out.stem}.level{level}{out.suffix}")


def train_hierarchy(
    n_levels: int,
    out,
    *,
    network: NetworkConfig = NetworkConfig(),
    config: TrainConfig = TrainConfig(),
    upper_config: TrainConfig | None = None,
    lower_kinetics: str | None = None,
    seed: int = 0,
    resume: bool = False,
    progress: bool = True,
    surrogate: SPMSurrogate | None = None,
    ansatz: str = "sigmoid",
    c_rate_range: tuple[float, float] | None = None,
    cell="nrel",
    space=None,
    c_rate: float = 2.0,
    t_max: float = 1350.0,
    level1_parameters=None,
) -> TrainResult:
    """Train level 1 with `config`, then each further level (a frozen lower level plus a
    scaled correction) with `upper_config` (default: `config`). Each level is checkpointed
    (`level_path`); with `resume`, finished levels are loaded instead of retrained and an
    interrupted level continues from its training state. `lower_kinetics` (e.g. ``"linear"``)
    gives level 1 a lower-fidelity physics; the upper levels use full Butler-Volmer.
    `ansatz` is the concentration ansatz of a new surrogate (``"sigmoid"`` or
    ``"conservative"``, see `SPMSurrogate`); `c_rate_range` = (lo, hi) makes the C-rate an
    input of a new surrogate (reference rate 2C, window 1350 s there). `cell` (a `Cell` or a
    name), `space`, `c_rate` and `t_max` describe a new surrogate (see `spm_surrogate`).
    `level1_parameters` (a vector in the space's order, or None) trains a new surrogate's
    level 1 at that one parameter set, the upper levels over the whole box (the reference's
    "fixed parameter" hierarchy). The final checkpoint's header records, per
    level, how many solver parameter sets the loss saw (``meta["n_data_parameters"]``).
    """
    upper_config = config if upper_config is None else upper_config
    if level1_parameters is not None:
        level1_parameters = _check_level1_parameters(level1_parameters, n_levels, space)
    keys = jax.random.split(jax.random.key(seed), n_levels)
    if surrogate is None:
        surrogate = spm_surrogate(
            network, key=keys[0], kinetics=lower_kinetics or "butler_volmer", ansatz=ansatz,
            c_rate_range=c_rate_range, cell=cell, space=space, c_rate=c_rate, t_max=t_max,
            fixed_parameters=level1_parameters,
        )  # fmt: skip
    elif level1_parameters is not None:
        raise InputError("give level1_parameters for a new surrogate, not with `surrogate`")
    history, n_data = [], []
    data = make_data(surrogate, config)
    for level in range(1, n_levels + 1):
        if level > 1:
            surrogate = add_level(
                surrogate, network, key=keys[level - 1],
                kinetics="butler_volmer" if lower_kinetics else None,
            )  # fmt: skip
            if lower_kinetics and level == 2:
                data = make_data(surrogate, config)
        cfg = config if level == 1 else dataclasses.replace(upper_config, seed=upper_config.seed + level)
        path = level_path(out, level) if n_levels > 1 else pathlib.Path(out)
        n_data.append(0 if data[0] is None or cfg.loss.n_data == 0 else int(data[0].theta.shape[0]))
        if resume and path.exists():
            surrogate = load_surrogate_file(path)
            continue
        result = train(surrogate, cfg, checkpoint=path, resume=resume, progress=progress, data=data)
        surrogate = result.surrogate
        history.extend(dict(h, level=level) for h in result.history)
    if n_levels > 1:
        from ._training import save_surrogate  # noqa: PLC0415

        save_surrogate(
            out, surrogate,
            meta={"levels": n_levels, "history": history, "n_data_parameters": n_data},
        )  # fmt: skip
    return TrainResult(surrogate=surrogate, history=history)


def _check_level1_parameters(theta, n_levels, space):
    """`theta` as a float vector inside `space` (default: the nrel box), for >= 2 levels."""
    from ..cells import nrel_parameter_space  # noqa: PLC0415

    space = nrel_parameter_space() if space is None else space
    if n_levels < 2:
        raise InputError(
            "level1_parameters trains level 1 at one parameter set: it needs at least 2 levels "
            f"(the upper ones cover the box), got {n_levels}"
        )
    theta = np.asarray(theta, dtype=float).reshape(-1)
    if theta.size != len(space):
        raise InputError(
            f"level1_parameters has {theta.size} values; the space has {len(space)} "
            f"({', '.join(space.names)})"
        )
    space.validate(dict(zip(space.names, theta)), fill_defaults=False)  # finite, in the box
    return theta
