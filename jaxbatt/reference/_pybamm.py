"""Independent PyBaMM reference for the "nrel" cell: SPM and DFN (P2D) voltages.

This module transcribes the reference cell of ``SPEC.md`` (graphite / NMC-type, 2C
constant-current discharge) directly into PyBaMM parameter functions, and solves it with
PyBaMM's own :class:`pybamm.lithium_ion.SPM` and :class:`pybamm.lithium_ion.DFN` and the
IDAKLU (SUNDIALS IDA) solver. It deliberately imports nothing else from jaxbatt, so that the
tests and benchmarks that compare jaxbatt's JAX solvers against it compare two independent
transcriptions of the same physics.

Units are SI throughout (mol/m^3, m, s, A, V, K). The constitutive laws of ``SPEC.md`` are
written for concentrations in kmol/m^3; the functions below convert PyBaMM's mol/m^3 at
their boundary.

PyBaMM is a test/benchmark dependency only (``pip install jaxbatt[test]``); it is imported
lazily, inside the functions that need it.

Conventions of PyBaMM that matter when comparing (read from its source, v26.x):

- PyBaMM's interfacial current density ``j`` is in A/m^2 and positive for
  de-intercalation (current out of the particle), i.e. ``SPEC``'s pore-wall flux times F.
  Symmetric Butler-Volmer is ``j = 2 i0 sinh(F eta / 2RT)`` and "linear" kinetics is
  ``j = i0 F eta / (RT)``: for alpha = 0.5 these are exactly ``SPEC``'s two options.
- The exchange-current function is called as ``f(c_e, c_s_surf, c_s_max, T)``; PyBaMM
  replaces every ``sqrt``/``**`` of a state in it by a regularised power
  ``x (x^2 + 1e-6)^((a-1)/2)`` (relative change < 1e-6 in the operating window).
- Particle surface concentrations are linear extrapolations from the two outermost
  finite-volume cells (error O(dr^2)); the solid diffusivity is called with the
  stoichiometry, clipped by PyBaMM to [1e-10, 1 - 1e-10].
- PyBaMM adds to every OCP a barrier ``U_asymptotes(x)`` that is exactly zero (to double
  precision) for 0.01 < x < 0.99, and uses CODATA F = 96485.33212 C/mol and
  R = 8.314462618 J/(mol K) instead of SPEC's 96485.3321 and 8.3145 (effect < 1 uV).
- SPM (``surface form`` "false"): the voltage is U_c - U_a + eta_c - eta_a with explicit
  (inverse) kinetics; it has no electrolyte or solid ohmic term.
- DFN: PyBaMM's electrolyte flux is ``-eps^b D_e grad c_e + t+ i_e / F``, so its net source
  is ``(1 - t+) a j / F - i_e . grad(t+) / F``, whereas ``SPEC`` writes
  ``eps dc_e/dt = d/dx(D_eff dc_e/dx) + (1 - t+) a_s j``. With this cell's ``t+(c_e)`` the
  ``i_e . grad t+`` term moves the 2C voltage by up to about 0.9 mV by t = 1350 s. By default
  (``electrolyte="spec"``) the DFN here swaps PyBaMM's electrolyte-diffusion submodel for
  SPEC's form; ``electrolyte="pybamm"`` keeps the stock one.

nrel cell: NREL/PINNSTRIPES, BSD-3, Alliance for Sustainable Energy
"""

from __future__ import annotations

import functools
import math
import os
import warnings

import numpy as np

__all__ = [
    "PybammSolver",
    "pybamm_dfn_voltage",
    "pybamm_parameter_values",
    "pybamm_set_discharge",
    "pybamm_spm_voltage",
]

# ---------------------------------------------------------------------------------------
# The nrel cell, transcribed from SPEC.md (SI units unless the name says otherwise).
# ---------------------------------------------------------------------------------------

_FARADAY = 96485.3321  # C/mol (SPEC; PyBaMM itself uses its CODATA value)
_GAS_CONSTANT = 8.3145  # J/(mol K) (SPEC; used in the Arrhenius factor below)
_T_REF = 303.15  # K: reference = ambient = initial temperature
_ACTIVATION_ENERGY = 30.0e3  # J/mol, every Arrhenius factor

_CAPACITY_AH = 0.0189  # 1C = 18.9 mA
_AREA = 1.4e-3  # m^2
_ELECTRODE_HEIGHT = 0.035  # m; height * width = area
_ELECTRODE_WIDTH = 0.04  # m

_C_MAX_ANODE = 30530.0  # mol/m^3
_C_MAX_CATHODE = 49600.0  # mol/m^3
_X0_ANODE = 0.91
_X0_CATHODE = 0.39
_C_E0 = 1200.0  # mol/m^3

_MOL_PER_KMOL = 1000.0

_OCP_ANODE = (  # U_a(x), highest degree first (degree 17)
    1878.6244900261463, -4981.580023016213, 516.2941996957871, 6452.38177755237,
    -436.0524457974526, 1264.0514576769442, -20918.656956191975, 12954.334261316431,
    28871.72866007402, -37943.83286204571, 34.11141793217983, 29363.16490602074,
    -25774.496334571464, 11073.868226559767, -2702.638445370805, 375.62895901410747,
    -28.064663950113868, 1.1265244540945243,
)  # fmt: skip

_OCP_CATHODE = (  # U_c(x), highest degree first (degree 28)
    -43309.69063512314, 122888.63938515769, -69735.99554716503, -59749.183217994185,
    25744.002733171154, 15730.398058573825, 54021.915506318735, -44566.03206954511,
    64.32177924593454, -7780.173422833786, 1117.4042221859695, 7387.492376558274,
    -7237.289515884936, -705.4465901574707, 17170.20236584321, -42.60228181558803,
    -23266.56994359366, 10810.92851132453, 2545.4065429021307, 1.6554268823619098,
    751.3515882152476, -4447.12851190078, 3727.268889820381, -1331.1791971457515,
    227.4712483170547, -17.646894926746256, 0.8568207255402533, -2.34505930698951,
    5.059010555584711,
)  # fmt: skip

_I0_CATHODE_P5 = (  # P5(x) of the cathode exchange current density, highest degree first
    16.50452829641290, -75.23567141488800, 124.0524690073040, -94.16571081287610,
    32.49768821737960, -3.585290065824760,
)  # fmt: skip

_D_CATHODE_P10 = (  # P10(x) = log10 of the cathode diffusivity factor, highest degree first
    -250.901084347927, 2391.02672525997, -4868.42026761136, -83.3110410292107,
    10576.36028329, -12683.2454834812, 5016.27216777553, 982.489665964948,
    -1502.43933907090, 472.370930424770, -65.2609204639709,
)  # fmt: skip

_P5_FLOOR = 1e-6  # P5 < 0 below x ~ 0.19 (outside the discharge window): keep i0_c > 0


def _import_pybamm():
    os.environ.setdefault("PYBAMM_DISABLE_TELEMETRY", "true")
    try:
        import pybamm
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError(
            "jaxbatt.reference needs PyBaMM, a test/benchmark dependency: "
            "pip install jaxbatt[test]"
        ) from err
    return pybamm


def _horner(coeffs, x):
    """Polynomial with coefficients highest degree first, for floats or PyBaMM symbols."""
    acc = coeffs[0]
    for c in coeffs[1:]:
        acc = acc * x + c
    return acc


def _cell_functions(pybamm, k_i0, k_Ds):
    """The constitutive laws of SPEC.md as PyBaMM parameter functions (SI in, SI out).

    ``k_i0`` and ``k_Ds`` are floats or :class:`pybamm.InputParameter` s.
    """

    def clip01(x):
        return pybamm.maximum(pybamm.minimum(x, 1.0), 0.0)

    def arrhenius(T):
        return pybamm.exp(-(_ACTIVATION_ENERGY / _GAS_CONSTANT) * (1.0 / T - 1.0 / _T_REF))

    def ocp_anode(sto):
        """Graphite OCP U_a(x) [V]."""
        return _horner(_OCP_ANODE, clip01(sto))

    def ocp_cathode(sto):
        """Cathode OCP U_c(x) [V]."""
        return _horner(_OCP_CATHODE, clip01(sto))

    def i0_anode(c_e, c_s_surf, c_s_max, T):
        """Anode exchange current density [A/m^2]; SPEC's law is in kmol/m^3."""
        ce = pybamm.maximum(c_e / _MOL_PER_KMOL, 0.0)
        cs = pybamm.maximum(c_s_surf / _MOL_PER_KMOL, 0.0)
        vacancies = pybamm.maximum((c_s_max - c_s_surf) / _MOL_PER_KMOL, 0.0)
        return (
            k_i0 * 2.5 * 0.27 * arrhenius(T)
            * pybamm.sqrt(ce) * pybamm.sqrt(vacancies) * pybamm.sqrt(cs)
        )  # fmt: skip

    def i0_cathode(c_e, c_s_surf, c_s_max, T):
        """Cathode exchange current density [A/m^2], P5 floored at 1e-6."""
        x = clip01(c_s_surf / c_s_max)
        p5 = pybamm.maximum(_horner(_I0_CATHODE_P5, x), _P5_FLOOR)
        ce_ratio = pybamm.maximum(c_e / _C_E0, 0.0)
        return 9.0 * p5 * pybamm.sqrt(ce_ratio) * arrhenius(T)

    def diffusivity_anode(sto, T):
        """Anode solid diffusivity [m^2/s], constant in c."""
        return 3.0e-14 * arrhenius(T)

    def diffusivity_cathode(sto, T):
        """Cathode solid diffusivity k_Ds * 2.25 * 10**P10(x) [m^2/s]."""
        p10 = _horner(_D_CATHODE_P10, clip01(sto))
        return k_Ds * 2.25 * pybamm.exp(math.log(10.0) * p10) * arrhenius(T)

    def electrolyte_diffusivity(c_e, T):
        """Electrolyte diffusivity D_e [m^2/s]."""
        ce = c_e / _MOL_PER_KMOL
        dT = T - (-24.83763 + 64.07366 * ce)
        log10_d = (
            -0.5688226 - 1607.003 / dT
            + (-0.8108721 + 475.291 / dT) * ce
            + (-0.005192312 - 33.43827 / dT) * ce**2
        )  # fmt: skip
        return 1e-4 * pybamm.exp(math.log(10.0) * log10_d)

    def electrolyte_conductivity(c_e, T):
        """Electrolyte conductivity kappa [S/m]."""
        ce = c_e / _MOL_PER_KMOL
        a0 = _horner((1.909446e-4, -0.08038545, 9.00341), T)
        a1 = _horner((-2.887587e-8, 3.483638e-5, -0.01583677, 3.195295, -241.4638), T)
        a2 = _horner((1.653786e-8, -1.99876e-5, 9.071155e-3, -1.828064, 138.0976), T)
        a3 = _horner((-2.791965e-9, 3.377143e-6, -1.532707e-3, 0.3090003, -23.35671), T)
        return ce * (a0 + ce * (a1 + ce * (a2 + ce * a3)))

    def transference_number(c_e, T):
        """Cation transference number t+ [-]."""
        ce = c_e / _MOL_PER_KMOL
        b2 = -2.876102e-7 * T**2 + 2.077407e-4 * T - 0.03881203
        b1 = 1.161463e-6 * T**2 - 8.6825e-4 * T + 0.1777266
        b0 = -6.766258e-7 * T**2 + 6.389189e-4 * T + 0.3091761
        return b2 * ce**2 + b1 * ce + b0

    def thermodynamic_factor(c_e, T):
        """Thermodynamic factor 1 + dln f / dln c_e [-] (PyBaMM's "Thermodynamic factor")."""
        ce = c_e / _MOL_PER_KMOL
        return (
            0.54 * ce**2 * pybamm.exp(329.0 / T)
            - 0.00225 * ce * pybamm.exp(1360.0 / T)
            + 0.341 * pybamm.exp(261.0 / T)
        )

    return {
        "Negative electrode OCP [V]": ocp_anode,
        "Positive electrode OCP [V]": ocp_cathode,
        "Negative electrode exchange-current density [A.m-2]": i0_anode,
        "Positive electrode exchange-current density [A.m-2]": i0_cathode,
        "Negative particle diffusivity [m2.s-1]": diffusivity_anode,
        "Positive particle diffusivity [m2.s-1]": diffusivity_cathode,
        "Electrolyte diffusivity [m2.s-1]": electrolyte_diffusivity,
        "Electrolyte conductivity [S.m-1]": electrolyte_conductivity,
        "Cation transference number": transference_number,
        "Thermodynamic factor": thermodynamic_factor,
    }


def pybamm_parameter_values(k_i0=1.0, k_Ds=1.0, c_rate=2.0, inputs=False):
    """PyBaMM parameter values of the nrel cell (SPEC.md), in PyBaMM's SI units.

    Args:
        k_i0: anode exchange-current scaling (ignored when ``inputs`` is true).
        k_Ds: cathode solid-diffusivity scaling (ignored when ``inputs`` is true).
        c_rate: discharge C-rate; the applied current is ``c_rate * 0.0189`` A,
            positive on discharge (ignored when ``inputs`` is true).
        inputs: if true, ``k_i0``, ``k_Ds`` and ``"Current function [A]"`` are
            ``pybamm.InputParameter`` s, supplied at solve time as
            ``inputs={"k_i0": ..., "k_Ds": ..., "Current function [A]": ...}``, so that one
            discretised model serves many parameter sets.

    Returns:
        A :class:`pybamm.ParameterValues`: isothermal at 303.15 K (so every Arrhenius
        factor is 1), electrode area 1.4e-3 m^2, 1C = 18.9 mA, c_e0 = 1200 mol/m^3,
        initial stoichiometries 0.91 (anode) and 0.39 (cathode), electrolyte volume
        fraction 0.4 everywhere with Bruggeman exponent 2.0, effective solid conductivity
        6.0 S/m (Bruggeman exponent 0), voltage cut-offs 2.0 V and 4.6 V.
    """
    pybamm = _import_pybamm()
    if inputs:
        k_i0_value = pybamm.InputParameter("k_i0")
        k_Ds_value = pybamm.InputParameter("k_Ds")
        current = "[input]"
    else:
        k_i0_value = float(k_i0)
        k_Ds_value = float(k_Ds)
        current = float(c_rate) * _CAPACITY_AH

    values = {
        # geometry
        "Negative electrode thickness [m]": 44e-6,
        "Separator thickness [m]": 20e-6,
        "Positive electrode thickness [m]": 42e-6,
        "Negative particle radius [m]": 4.0e-6,
        "Positive particle radius [m]": 1.8e-6,
        "Electrode height [m]": _ELECTRODE_HEIGHT,
        "Electrode width [m]": _ELECTRODE_WIDTH,
        # current collectors: only their thickness enters an isothermal 1D model, and only
        # through cell-level quantities (e.g. volume), never the voltage
        "Negative current collector thickness [m]": 0.0,
        "Positive current collector thickness [m]": 0.0,
        "Negative current collector conductivity [S.m-1]": 5.8e7,
        "Positive current collector conductivity [S.m-1]": 3.7e7,
        # volume fractions and transport
        "Negative electrode active material volume fraction": 0.5430727763,
        "Positive electrode active material volume fraction": 0.47662,
        "Negative electrode porosity": 0.4,
        "Separator porosity": 0.4,
        "Positive electrode porosity": 0.4,
        "Negative electrode Bruggeman coefficient (electrolyte)": 2.0,
        "Separator Bruggeman coefficient (electrolyte)": 2.0,
        "Positive electrode Bruggeman coefficient (electrolyte)": 2.0,
        "Negative electrode Bruggeman coefficient (electrode)": 0.0,
        "Positive electrode Bruggeman coefficient (electrode)": 0.0,
        "Negative electrode conductivity [S.m-1]": 6.0,  # already effective
        "Positive electrode conductivity [S.m-1]": 6.0,
        # particles and kinetics
        "Maximum concentration in negative electrode [mol.m-3]": _C_MAX_ANODE,
        "Maximum concentration in positive electrode [mol.m-3]": _C_MAX_CATHODE,
        "Negative electrode charge transfer coefficient": 0.5,
        "Positive electrode charge transfer coefficient": 0.5,
        "Negative electrode OCP entropic change [V.K-1]": 0.0,
        "Positive electrode OCP entropic change [V.K-1]": 0.0,
        # initial state
        "Initial concentration in negative electrode [mol.m-3]": _X0_ANODE * _C_MAX_ANODE,
        "Initial concentration in positive electrode [mol.m-3]": _X0_CATHODE * _C_MAX_CATHODE,
        "Initial concentration in electrolyte [mol.m-3]": _C_E0,
        # temperature (isothermal)
        "Reference temperature [K]": _T_REF,
        "Ambient temperature [K]": _T_REF,
        "Initial temperature [K]": _T_REF,
        # cell and operation
        "Nominal cell capacity [A.h]": _CAPACITY_AH,
        "Current function [A]": current,
        "Number of electrodes connected in parallel to make a cell": 1.0,
        "Number of cells connected in series to make a battery": 1.0,
        "Lower voltage cut-off [V]": 2.0,
        "Upper voltage cut-off [V]": 4.6,
        "Open-circuit voltage at 0% SOC [V]": 2.0,
        "Open-circuit voltage at 100% SOC [V]": 4.6,
        "Contact resistance [Ohm]": 0.0,
    }
    values.update(_cell_functions(pybamm, k_i0_value, k_Ds_value))
    return pybamm.ParameterValues(values)


_KINETICS = {"butler_volmer": "symmetric Butler-Volmer", "linear": "linear"}
_MODELS = ("spm", "dfn")
_ELECTROLYTES = ("spec", "pybamm")


def _spec_electrolyte_diffusion(pybamm, param, options):
    """PyBaMM's full electrolyte diffusion with SPEC's mass balance.

    ``eps_e dc_e/dt = div(eps_e^b D_e grad c_e) + (1 - t+) a j / F``: the source uses
    ``div(i_e) = a j`` (zero in the separator) instead of differentiating ``t+ i_e``.
    """

    class SpecElectrolyteDiffusion(pybamm.electrolyte_diffusion.Full):
        def set_rhs(self, variables):
            eps_c_e = variables["Porosity times concentration [mol.m-3]"]
            c_e = variables["Electrolyte concentration [mol.m-3]"]
            tor = variables["Electrolyte transport efficiency"]
            i_e = variables["Electrolyte current density [A.m-2]"]
            T = variables["Cell temperature [K]"]
            a_j = variables["Sum of electrolyte reaction source terms [A.m-3]"]
            diffusion = pybamm.div(tor * self.param.D_e(c_e, T) * pybamm.grad(c_e))
            source = (a_j - self.param.t_plus(c_e, T) * pybamm.div(i_e)) / self.param.F
            self.rhs = {eps_c_e: diffusion + source}

    return SpecElectrolyteDiffusion(param, options)


@functools.lru_cache(maxsize=8)
def _built_model(model, kinetics, n_r, n_x, rtol, atol, electrolyte):
    """Parametrise and discretise one PyBaMM model with input parameters, once."""
    pybamm = _import_pybamm()
    options = {"thermal": "isothermal", "intercalation kinetics": _KINETICS[kinetics]}
    if model == "spm":
        # explicit (inverse) kinetics: the SPM stays an ODE, as in SPEC
        options["surface form"] = "false"
        pb_model = pybamm.lithium_ion.SPM(options)
    elif electrolyte == "spec":
        pb_model = pybamm.lithium_ion.DFN(options, build=False)
        pb_model.submodels["electrolyte diffusion"] = _spec_electrolyte_diffusion(
            pybamm, pb_model.param, pb_model.options
        )
        pb_model.build_model()
    else:
        pb_model = pybamm.lithium_ion.DFN(options)
    var_pts = {"x_n": n_x, "x_s": n_x, "x_p": n_x, "r_n": n_r, "r_p": n_r}
    solver = pybamm.IDAKLUSolver(rtol=rtol, atol=atol, output_variables=["Voltage [V]"])
    sim = pybamm.Simulation(
        pb_model,
        parameter_values=pybamm_parameter_values(inputs=True),
        var_pts=var_pts,
        solver=solver,
    )
    sim.build()
    return sim.built_model, solver


class PybammSolver:
    """A PyBaMM SPM or DFN of the nrel cell, built once and re-solved for many parameters.

    The model is parametrised with ``k_i0``, ``k_Ds`` and the current as input parameters
    and discretised once (built models are cached per configuration), so each
    :meth:`solve` costs only the time integration.

    Args:
        model: ``"spm"`` or ``"dfn"``.
        c_rate: default C-rate of :meth:`solve` (constant-current discharge, 1C = 18.9 mA).
        kinetics: ``"butler_volmer"`` (symmetric, alpha = 0.5) or ``"linear"``.
        n_r: finite-volume cells per particle radius (both electrodes).
        n_x: finite-volume cells per domain in x (anode, separator, cathode); only the
            DFN's voltage depends on it.
        rtol, atol: IDAKLU tolerances.
        electrolyte: DFN electrolyte mass balance, ``"spec"`` (SPEC.md's
            ``(1 - t+) a_s j`` source) or ``"pybamm"`` (PyBaMM's stock flux
            ``t+ i_e / F``, which adds ``-i_e . grad(t+) / F``). Ignored by the SPM.
    """

    def __init__(
        self,
        model="spm",
        c_rate=2.0,
        kinetics="butler_volmer",
        n_r=None,
        n_x=None,
        rtol=1e-8,
        atol=1e-10,
        electrolyte="spec",
    ):
        if model not in _MODELS:
            raise ValueError(f"model must be one of {_MODELS}, got {model!r}")
        if kinetics not in _KINETICS:
            raise ValueError(f"kinetics must be one of {tuple(_KINETICS)}, got {kinetics!r}")
        if electrolyte not in _ELECTROLYTES:
            raise ValueError(f"electrolyte must be one of {_ELECTROLYTES}, got {electrolyte!r}")
        if n_r is None:
            n_r = 100 if model == "spm" else 30
        if n_x is None:
            n_x = 5 if model == "spm" else 30
        self.model = model
        self.c_rate = float(c_rate)
        self.kinetics = kinetics
        self.n_r = int(n_r)
        self.n_x = int(n_x)
        self.electrolyte = electrolyte if model == "dfn" else "spec"
        self._model, self._solver = _built_model(
            model, kinetics, self.n_r, self.n_x, float(rtol), float(atol), self.electrolyte
        )

    def _inputs(self, k_i0, k_Ds, c_rate):
        c_rate = self.c_rate if c_rate is None else float(c_rate)
        return {
            "k_i0": float(k_i0),
            "k_Ds": float(k_Ds),
            "Current function [A]": c_rate * _CAPACITY_AH,
        }

    @staticmethod
    def _times(t):
        t = np.asarray(t, dtype=float)
        if t.size == 0 or not np.all(np.isfinite(t)) or np.any(t < 0):
            raise ValueError("t must be a non-empty array of finite times >= 0 (seconds)")
        t_interp = np.unique(np.concatenate([[0.0], t.ravel()]))
        if t_interp[-1] == 0.0:  # a solve needs a positive end time
            t_interp = np.array([0.0, 1.0])
        return t, t_interp

    def _voltage(self, solution, t):
        t_sol = np.asarray(solution.t, dtype=float)
        v_sol = np.asarray(solution["Voltage [V]"].entries, dtype=float).ravel()
        out = np.interp(t.ravel(), t_sol, v_sol)  # exact: t is a subset of t_sol
        beyond = t.ravel() > t_sol[-1] * (1 + 1e-12)
        if np.any(beyond):
            warnings.warn(
                f"PyBaMM {self.model} stopped at t = {t_sol[-1]:.1f} s "
                f"({solution.termination}); later voltages are NaN",
                RuntimeWarning,
                stacklevel=3,
            )
            out[beyond] = np.nan
        return out.reshape(t.shape)

    def solve(self, t, k_i0=1.0, k_Ds=1.0, c_rate=None):
        """Terminal voltage [V] at times ``t`` [s] of a constant-current discharge from t = 0.

        Args:
            t: times in seconds (any shape, >= 0).
            k_i0, k_Ds: the degradation scalings.
            c_rate: overrides the solver's default C-rate.

        Returns:
            A float64 array shaped like ``t``; NaN after a voltage cut-off (2.0 V / 4.6 V)
            stopped the integration (a RuntimeWarning says so).
        """
        t, t_interp = self._times(t)
        solution = self._solver.solve(
            self._model,
            t_eval=[0.0, float(t_interp[-1])],
            t_interp=t_interp,
            inputs=self._inputs(k_i0, k_Ds, c_rate),
        )
        return self._voltage(solution, t)

    def solve_many(self, t, k_i0, k_Ds, c_rate=None):
        """Voltages [V] for many parameter sets at once (IDAKLU solves them in parallel).

        Args:
            t: times in seconds, shape ``(n_t,)``.
            k_i0, k_Ds: arrays of the same length ``n``.

        Returns:
            An array of shape ``(n, n_t)``.
        """
        t, t_interp = self._times(t)
        k_i0 = np.atleast_1d(np.asarray(k_i0, dtype=float))
        k_Ds = np.atleast_1d(np.asarray(k_Ds, dtype=float))
        if k_i0.shape != k_Ds.shape or k_i0.ndim != 1:
            raise ValueError("k_i0 and k_Ds must be 1-D arrays of the same length")
        inputs = [self._inputs(a, b, c_rate) for a, b in zip(k_i0, k_Ds)]
        solutions = self._solver.solve(
            self._model,
            t_eval=[0.0, float(t_interp[-1])],
            t_interp=t_interp,
            inputs=inputs,
        )
        return np.stack([self._voltage(s, t) for s in solutions])


def pybamm_spm_voltage(t, k_i0, k_Ds, c_rate=2.0, kinetics="butler_volmer", n_r=100):
    """SPM terminal voltage [V] of the nrel cell at times ``t`` [s] (PyBaMM, IDAKLU).

    Constant-current discharge at ``c_rate`` (1C = 18.9 mA) from the SPEC initial state,
    ``kinetics`` ``"butler_volmer"`` or ``"linear"``, ``n_r`` radial cells per particle,
    rtol 1e-8, atol 1e-10. The built model is cached, so repeated calls only integrate.
    """
    solver = PybammSolver("spm", c_rate=c_rate, kinetics=kinetics, n_r=n_r)
    return solver.solve(t, k_i0, k_Ds)


def pybamm_dfn_voltage(
    t,
    k_i0,
    k_Ds,
    c_rate=2.0,
    n_x=30,
    n_r=30,
    kinetics="butler_volmer",
    electrolyte="spec",
):
    """DFN (P2D) terminal voltage [V] of the nrel cell at times ``t`` [s] (PyBaMM, IDAKLU).

    Constant-current discharge at ``c_rate`` (1C = 18.9 mA), isothermal at 303.15 K,
    ``n_x`` cells per domain in x, ``n_r`` radial cells per particle, rtol 1e-8,
    atol 1e-10; ``electrolyte`` as in :class:`PybammSolver`. The built model is cached,
    so repeated calls only integrate.
    """
    solver = PybammSolver(
        "dfn", c_rate=c_rate, kinetics=kinetics, n_r=n_r, n_x=n_x, electrolyte=electrolyte
    )
    return solver.solve(t, k_i0, k_Ds)


def pybamm_protocol_voltage(
    t, steps, k_i0=1.0, k_Ds=1.0, model="spm", n_r=None, n_x=None, rtol=1e-8, atol=1e-10,
    period=0.5,
):  # fmt: skip
    """Terminal voltage [V] of the nrel cell under a protocol, solved by PyBaMM's own
    experiment machinery (IDAKLU, step by step), at times ``t`` [s].

    Args:
        t: times [s]; interpolated linearly in PyBaMM's output every ``period`` s (steps'
            instants are both sides of a jump: compare away from them).
        steps: PyBaMM experiment steps: strings (``"Discharge at 2C for 150 seconds"``) or,
            for a measured profile, a ``(t, current_A)`` pair of arrays (a drive-cycle
            step, linearly interpolated by PyBaMM).
        k_i0, k_Ds: the degradation scalings.
        model: ``"spm"`` or ``"dfn"``; n_r, n_x, rtol, atol as in :class:`PybammSolver`.

    Returns:
        (voltage at ``t`` (NaN after the experiment ended), PyBaMM's solution).
    """
    pybamm = _import_pybamm()
    if model not in _MODELS:
        raise ValueError(f"model must be one of {_MODELS}, got {model!r}")
    n_r = (100 if model == "spm" else 30) if n_r is None else int(n_r)
    n_x = (5 if model == "spm" else 30) if n_x is None else int(n_x)
    options = {"thermal": "isothermal"}
    if model == "spm":
        options["surface form"] = "false"
        pb_model = pybamm.lithium_ion.SPM(options)
    else:
        pb_model = pybamm.lithium_ion.DFN(options, build=False)
        pb_model.submodels["electrolyte diffusion"] = _spec_electrolyte_diffusion(
            pybamm, pb_model.param, pb_model.options
        )
        pb_model.build_model()
    experiment_steps = []
    for step in steps:
        if isinstance(step, str):
            experiment_steps.append(pybamm.step.string(step, period=period))
        else:
            times, amps = (np.asarray(a, dtype=float) for a in step)
            experiment_steps.append(
                pybamm.step.current(np.column_stack([times - times[0], amps]), period=period)
            )
    sim = pybamm.Simulation(
        pb_model,
        parameter_values=pybamm_parameter_values(k_i0, k_Ds),
        var_pts={"x_n": n_x, "x_s": n_x, "x_p": n_x, "r_n": n_r, "r_p": n_r},
        solver=pybamm.IDAKLUSolver(rtol=rtol, atol=atol),
        experiment=pybamm.Experiment(experiment_steps),
    )
    solution = sim.solve()
    t_sol = np.asarray(solution["Time [s]"].entries, dtype=float)
    v_sol = np.asarray(solution["Voltage [V]"].entries, dtype=float)
    t = np.asarray(t, dtype=float)
    out = np.interp(t, t_sol, v_sol)
    out[t > t_sol[-1] * (1 + 1e-12)] = np.nan
    return out, solution


def pybamm_set_discharge(parameter_values, c_rate, model="spm", n_r=200, n_x=40, n_t=4001, rtol=1e-9):
    """(t [s], V [V]) of PyBaMM's SPM or DFN (`model` "spm" / "dfn") of any parameter set (a
    `pybamm.ParameterValues`) at `c_rate` (1C = its nominal capacity) down to the set's cut-off
    voltage: IDAKLU at `rtol` (default 1e-9), atol rtol / 100, `n_r` shells per particle, `n_x`
    cells per domain (DFN), `n_t` output times over 1.3 h / C."""
    pybamm = _import_pybamm()
    models = {"spm": pybamm.lithium_ion.SPM, "dfn": pybamm.lithium_ion.DFN}
    if model not in models:
        raise ValueError(f"model must be 'spm' or 'dfn', got {model!r}")
    n_x = n_x if model == "dfn" else 5
    values = parameter_values.copy()
    values["Current function [A]"] = c_rate * values["Nominal cell capacity [A.h]"]
    sim = pybamm.Simulation(
        models[model](), parameter_values=values,
        solver=pybamm.IDAKLUSolver(rtol=rtol, atol=rtol / 100),
        var_pts={"r_n": n_r, "r_p": n_r, "x_n": n_x, "x_s": n_x, "x_p": n_x},
    )  # fmt: skip
    t_end = 1.3 * 3600.0 / c_rate
    sol = sim.solve([0.0, t_end], t_interp=np.linspace(0.0, t_end, n_t))
    return sol["Time [s]"].entries, sol["Voltage [V]"].entries
