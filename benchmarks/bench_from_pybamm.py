"""PyBaMM parameter sets converted by `jaxbatt.cells.from_pybamm`: the SPM of the converted
cell against PyBaMM's SPM of the same set (IDAKLU rtol 1e-9, 200 shells), discharges at the
given C-rates down to the set's cut-off; max |dV| overall and from t = 10 s.

    python benchmarks/bench_from_pybamm.py Chen2020 0.5,1,2
    python benchmarks/bench_from_pybamm.py Chen2020 0.5,1,2 "dict(n_r_anode=60, n_r_cathode=60, rtol=1e-7, atol=1e-9)"
"""

import ast
import os
import sys
import warnings

os.environ.setdefault("PYBAMM_DISABLE_TELEMETRY", "true")

import numpy as np  # noqa: E402
import pybamm  # noqa: E402

import jaxbatt  # noqa: E402
from jaxbatt.cells import from_pybamm  # noqa: E402
from jaxbatt.reference import pybamm_set_spm_discharge  # noqa: E402


def main():
    name = sys.argv[1]
    rates = [float(x) for x in sys.argv[2].split(",")]
    options = {}
    if len(sys.argv) > 3:  # "dict(n_r_anode=60, ...)": jaxbatt solver options
        call = ast.parse(sys.argv[3], mode="eval").body
        options = {k.arg: ast.literal_eval(k.value) for k in call.keywords}
    base = pybamm.ParameterValues(name)
    cell = from_pybamm(name)
    for c in rates:
        tp, vp = pybamm_set_spm_discharge(base, c)
        t = tp[tp < tp[-1] - 1.0]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            js = jaxbatt.simulate("spm", {}, t=t, c_rate=c, cell=cell, **options)
        vj = np.asarray(js.voltage)
        ok = np.isfinite(vj)
        d = np.abs(vj[ok] - np.interp(t[ok], tp, vp))
        late = t[ok] >= 10
        print(f"{name} {c}C: pybamm end {tp[-1]:.1f} s, jaxbatt end {float(js.t_end):.1f} s "
              f"({js.termination_reason()}), max|dV| {1e3 * d.max():.3f} mV, t>=10 s "
              f"{1e3 * d[late].max():.3f} mV, V0 {vj[0]:.4f}/{vp[0]:.4f}")  # fmt: skip


if __name__ == "__main__":
    main()
