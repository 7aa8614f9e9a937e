"""Training recipes of bundled SPM surrogates, shared by their scripts and the CLI:
the physics-only one (`scripts/train_spm_physics.py`, ``jaxbatt train spm --physics-only``)
and the rate-input one (`scripts/train_spm_rates.py`, ``jaxbatt train spm --c-rates 0.5:5``).

Physics-only:
No solver data in the loss: the conservative ansatz (`_ansatz.py`) makes the inventory, the
r = 0 symmetry and the surface flux exact, so the loss is the interior diffusion residual
alone (the boundary terms are zero by construction; their weights are 0 and only a few
boundary points are drawn for the log). Measured in benchmarks/RESULTS.md, with the ablation
of `benchmarks/bench_pinn_recipe.py` (L-BFGS after Adam helps at the study's budget; a
width-32 Adam + L-BFGS model at this budget was not better at the box's slow-diffusion
corner, so the shipped recipe stays Adam only).
"""

import dataclasses

from ._losses import LossConfig
from ._networks import NetworkConfig
from ._p2d_losses import P2D_WEIGHTS
from ._training import TrainConfig

PHYSICS_ONLY_NETWORK = NetworkConfig(architecture="separable", block="modified", width=64, depth=3)
PHYSICS_ONLY_TRAIN = TrainConfig(
    adam_steps=4_000, lbfgs_steps=0, learning_rate=1e-3, final_learning_rate=1e-5,
    loss=LossConfig(
        n_interior=128, n_boundary=8, n_data=0, parameter_grid=16,
        weights=(("diffusion", 10.0), ("symmetry", 0.0), ("surface_flux", 0.0)),
    ),
    n_data_parameters=0, chunk=250, validate_every=500, seed=0,
)  # fmt: skip
PHYSICS_ONLY_OPTIONS = {"ansatz": "conservative"}
PHYSICS_ONLY_RECIPE = (PHYSICS_ONLY_NETWORK, PHYSICS_ONLY_TRAIN, PHYSICS_ONLY_OPTIONS)

# The rate-input surrogate: the bundled 2C model's network and loss (physics residuals plus
# solver data on tensor-grid batches), the log-rate as a further branch input, twice the
# solver sets (the box's corners at both ends of the rate range, then random draws at
# log-uniform rates) and 2.5x the Adam steps.
RATES_RANGE = (0.5, 5.0)
RATES_NETWORK = NetworkConfig(architecture="separable", block="modified", width=64, depth=3)
RATES_TRAIN = TrainConfig(
    adam_steps=50_000, lbfgs_steps=0, learning_rate=1e-3, final_learning_rate=1e-5,
    loss=LossConfig(n_interior=128, n_boundary=64, n_data=64, parameter_grid=16),
    n_data_parameters=512, n_validation=32, chunk=500, validate_every=2000, seed=0,
)  # fmt: skip
# Second stage, from the first stage's model: rates drawn uniformly in C (44 % of them above
# 3C against 22 % log-uniform), fresh solver data at 512 such sets, a lower learning rate. The
# first stage alone left 3.4 mV max at 5C (slow diffusion, mid-window; 1.1 mV at 4C).
RATES_FINETUNE = TrainConfig(
    adam_steps=15_000, lbfgs_steps=0, learning_rate=2e-4, final_learning_rate=1e-6,
    loss=LossConfig(n_interior=128, n_boundary=64, n_data=64, parameter_grid=16,
                    rate_sampling="uniform"),
    n_data_parameters=512, n_validation=32, chunk=500, validate_every=2500, seed=1,
)  # fmt: skip

# The P2D surrogate (`jaxbatt.surrogates._p2d`, `scripts/train_p2d_surrogate.py`,
# ``jaxbatt train p2d``): the separable network, every P2D residual and the integral terms
# (`_p2d_losses.P2D_WEIGHTS`) on tensor-grid batches of 8 parameter sets, plus P2D solver data
# (fields and voltage) at 64 parameter sets (the box's corners, then random draws).
P2D_NETWORK = NetworkConfig(architecture="separable", block="modified", width=32, depth=3)
P2D_TRAIN = TrainConfig(
    adam_steps=40_000, lbfgs_steps=0, learning_rate=1e-3, final_learning_rate=1e-5,
    loss=LossConfig(
        n_interior=64, n_boundary=32, n_data=64, parameter_grid=8,
        weights=tuple(P2D_WEIGHTS.items()),
    ),
    n_data_parameters=64, n_validation=64, chunk=500, validate_every=5000, seed=0,
)  # fmt: skip


def p2d_variant(config: TrainConfig, variant: str) -> TrainConfig:
    """`config` as ``"physics+data"`` (itself), ``"data"`` (no physics term: the physics
    weights set to 0) or ``"physics"`` (no solver data)."""
    loss = config.loss
    if variant == "physics+data":
        return config
    if variant == "data":
        weights = tuple((k, v) for k, v in loss.weights if k in ("data", "voltage"))
        return dataclasses.replace(config, loss=dataclasses.replace(loss, weights=weights))
    if variant == "physics":
        return dataclasses.replace(config, loss=dataclasses.replace(loss, n_data=0), n_data_parameters=0)
    raise ValueError(f"unknown variant {variant!r}: 'physics+data', 'data' or 'physics'")
