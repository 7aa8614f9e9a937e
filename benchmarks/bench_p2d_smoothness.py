"""How smooth the exact P2D likelihood is in the parameters: adaptive against fixed steps.

The Enertech (Ai2020) 0.5C curve (points above 3.0 V) on the coarse mesh of
`P2D_FAST_SETTINGS` (6/3/6 cells, 6 shells), stepped adaptively (rtol 2e-3 and 1e-6) and on
fixed sequences (`P2DSolver(fixed_steps=N)`, `P2D_CALIBRATION_SETTINGS` is N = 60). For each:
max |dV| against the same mesh at rtol 1e-8, the time of a solve and of a value and gradient
through `SolverVoltageModel` (forward mode, 3 parameters), and the scatter of the mean voltage
around a quadratic over 21 values of k_i0 in [2.70, 2.75]: what an exact likelihood sees as
noise when NUTS takes small steps.

    python benchmarks/bench_p2d_smoothness.py
"""

import os
import pathlib
import sys
import time

os.environ.setdefault("PYBAMM_DISABLE_TELEMETRY", "true")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

import jaxbatt  # noqa: E402, F401  (float64)
from jaxbatt.cells import from_pybamm  # noqa: E402
from jaxbatt.inference import SolverVoltageModel, load_measured  # noqa: E402
from jaxbatt.solvers import P2D_CALIBRATION_SETTINGS, P2D_FAST_SETTINGS  # noqa: E402

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "scripts"))
from calibrate_enertech import enertech_space  # noqa: E402

MESH = {name: size for name, size in P2D_FAST_SETTINGS.items() if name.startswith("n_")}
VARIANTS = {
    "adaptive, rtol 2e-3 (P2D_FAST_SETTINGS)": P2D_FAST_SETTINGS,
    "adaptive, rtol 1e-6": dict(MESH, rtol=1e-6, atol=1e-8),
    "fixed 100 steps, Newton rtol 1e-6": dict(P2D_CALIBRATION_SETTINGS, fixed_steps=100),
    "fixed 60 steps (P2D_CALIBRATION_SETTINGS)": P2D_CALIBRATION_SETTINGS,
}


def timed(f, *args, repeats=3):
    jax.block_until_ready(f(*args))
    start = time.perf_counter()
    for _ in range(repeats):
        out = jax.block_until_ready(f(*args))
    return out, (time.perf_counter() - start) / repeats


def main():
    cell = from_pybamm("Ai2020")
    space = enertech_space(cell)
    curve = load_measured("enertech")[0]
    t = jnp.asarray(curve.t[curve.v >= 3.0])
    theta = jnp.array([2.7, 0.5, 0.96 * cell.cathode.active_volume_fraction])
    k_i0 = np.linspace(2.70, 2.75, 21)

    def model(options):
        return SolverVoltageModel("p2d", c_rate=curve.c_rate, cell=cell, space=space,
                                  t_max=float(t[-1]), **options)  # fmt: skip

    reference = np.asarray(model(dict(MESH, rtol=1e-8, atol=1e-10)).voltage_vector(theta, t))
    print(f"Enertech 0.5C, {t.size} points, mesh {MESH}; {jax.devices()[0].device_kind}")
    print(f"{'stepping':44s} {'error':>9s} {'solve':>8s} {'value+grad':>11s} {'scatter':>10s}")
    for name, options in VARIANTS.items():
        m = model(options)
        voltage = jax.jit(lambda th, m=m: m.voltage_vector(th, t))
        v, solve_s = timed(voltage, theta)
        def misfit(th, m=m, v=v):
            return jnp.sum((m.voltage_vector(th, t) - v) ** 2)

        loss = jax.jit(jax.value_and_grad(misfit))
        _, grad_s = timed(loss, theta)
        mean = np.array([float(jnp.mean(voltage(theta.at[0].set(k)))) for k in k_i0])
        scatter = np.std(mean - np.polyval(np.polyfit(k_i0, mean, 2), k_i0))
        error = np.max(np.abs(np.asarray(v) - reference))
        print(f"{name:44s} {1e3 * error:6.3f} mV {1e3 * solve_s:5.0f} ms {1e3 * grad_s:8.0f} ms "
              f"{1e6 * scatter:7.4f} uV   (mean V changes {1e6 * np.ptp(mean):.0f} uV)", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
