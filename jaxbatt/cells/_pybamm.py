"""PyBaMM parameter sets as jaxbatt cells: `from_pybamm`.

A PyBaMM parameter set holds numbers and Python functions that build PyBaMM expression trees.
Each function-valued law (OCP, diffusivity, exchange-current density, electrolyte laws) is
called here with PyBaMM symbols standing for its arguments, the set's own parameters are
substituted (`ParameterValues.process_symbol`), and the resulting tree is translated node by
node into a JAX function (`to_jax`): so the set's expressions are converted, not re-typed,
and the laws jit, vmap and differentiate like the bundled cell's. A node type the translator
does not know is an `InputError` naming it.

PyBaMM is an optional dependency of this module only (``pip install "jaxbatt[pybamm]"``).
"""

import math
import numbers
import operator
import os

import jax.numpy as jnp
import numpy as np

from .._errors import InputError
from ._cell import Cell, Electrode, Electrolyte, Separator

_BINARY = {
    "Addition": operator.add,
    "Subtraction": operator.sub,
    "Multiplication": operator.mul,
    "Division": operator.truediv,
    "Power": operator.pow,
    "Minimum": jnp.minimum,
    "Maximum": jnp.maximum,
    "EqualHeaviside": lambda a, b: jnp.where(a <= b, 1.0, 0.0),
    "NotEqualHeaviside": lambda a, b: jnp.where(a < b, 1.0, 0.0),
    "Modulo": jnp.mod,
}
_UNARY = {
    "Negate": operator.neg,
    "AbsoluteValue": jnp.abs,
    "Sign": jnp.sign,
    "Floor": jnp.floor,
    "Ceiling": jnp.ceil,
}


def _import_pybamm():
    os.environ.setdefault("PYBAMM_DISABLE_TELEMETRY", "true")
    try:
        import pybamm  # noqa: PLC0415
    except ImportError as e:
        raise InputError(
            "jaxbatt.cells.from_pybamm needs PyBaMM: pip install \"jaxbatt[pybamm]\" (plain "
            "pybamm, not pybamm[jax])"
        ) from e
    return pybamm


def to_jax(symbol, n_inputs: int):
    """A JAX function ``f(*inputs)`` of a processed PyBaMM expression tree whose free
    variables are ``StateVector(slice(k, k + 1))`` for k < `n_inputs`."""
    pybamm = _import_pybamm()

    def build(node):
        kind = type(node).__name__
        if isinstance(node, pybamm.StateVector):
            (sl,) = node.y_slices
            k = sl.start
            if not (sl.stop == k + 1 and 0 <= k < n_inputs):
                raise InputError(f"unexpected state slice {sl} in a PyBaMM law")
            return lambda args: args[k]
        if isinstance(node, (pybamm.Scalar, pybamm.Constant)) or (
            isinstance(node, pybamm.Array) and np.size(node.entries) == 1
        ):
            value = float(np.ravel(node.evaluate())[0])
            return lambda args: value
        if kind in _BINARY:
            op = _BINARY[kind]
            left, right = (build(c) for c in node.children)
            return lambda args: op(left(args), right(args))
        if kind in _UNARY:
            op = _UNARY[kind]
            (child,) = (build(c) for c in node.children)
            return lambda args: op(child(args))
        if isinstance(node, pybamm.Interpolant):
            return _interpolant(node, build)
        if isinstance(node, pybamm.Function):
            name = getattr(node.function, "__name__", "")
            fn = getattr(jnp, name, None)
            if fn is None:
                raise InputError(
                    f"PyBaMM function {name!r} ({kind}) has no JAX translation in jaxbatt"
                )
            children = [build(c) for c in node.children]
            return lambda args: fn(*(c(args) for c in children))
        raise InputError(
            f"a PyBaMM law uses a {kind} node ({node}), which jaxbatt cannot translate yet"
        )

    body = build(symbol)

    def law(*inputs):
        if len(inputs) != n_inputs:
            raise TypeError(f"expected {n_inputs} arguments, got {len(inputs)}")
        return jnp.asarray(body(inputs), dtype=float) + 0.0 * sum(jnp.asarray(x) for x in inputs)

    return law


def _piecewise_cubic(node, x, y, child):
    """PyBaMM's cubic (scipy CubicSpline, not-a-knot) or pchip interpolant in JAX: the same
    piecewise polynomials (scipy computes their coefficients once), evaluated on the piece
    that holds z; beyond the data the end pieces extrapolate, as scipy's do (NaN when the
    interpolant does not extrapolate)."""
    from scipy import interpolate  # noqa: PLC0415  (a PyBaMM dependency)

    kind = interpolate.CubicSpline if node.interpolator == "cubic" else interpolate.PchipInterpolator
    spline = kind(x, y, extrapolate=True)
    breaks, coefficients = jnp.asarray(spline.x), jnp.asarray(spline.c)  # (n,), (4, n - 1)
    extrapolate = bool(getattr(node, "extrapolate", True))

    def interp(args):
        z = child(args)
        piece = jnp.clip(jnp.searchsorted(breaks, z, side="right") - 1, 0, breaks.size - 2)
        dz = z - breaks[piece]
        c = coefficients[:, piece]
        value = ((c[0] * dz + c[1]) * dz + c[2]) * dz + c[3]
        if extrapolate:
            return value
        return jnp.where((z < breaks[0]) | (z > breaks[-1]), jnp.nan, value)

    return interp


def _interpolant(node, build):
    if len(node.children) != 1 or node.dimension != 1:
        raise InputError(f"PyBaMM interpolant {node.name!r}: only 1-D interpolants are supported")
    if node.interpolator not in ("linear", "cubic", "pchip"):
        raise InputError(
            f"PyBaMM interpolant {node.name!r} uses {node.interpolator!r} interpolation; jaxbatt "
            "translates linear, cubic and pchip interpolants only (a feature jaxbatt lacks)"
        )
    x = np.asarray(node.x[0], dtype=float).ravel()
    y = np.asarray(node.y, dtype=float).ravel()
    child = build(node.children[0])
    if node.interpolator != "linear":
        return _piecewise_cubic(node, x, y, child)
    # PyBaMM's linear interpolant extrapolates linearly beyond the data
    slope_lo = (y[1] - y[0]) / (x[1] - x[0])
    slope_hi = (y[-1] - y[-2]) / (x[-1] - x[-2])

    def interp(args):
        z = child(args)
        inside = jnp.interp(z, x, y)
        below = y[0] + slope_lo * (z - x[0])
        above = y[-1] + slope_hi * (z - x[-1])
        return jnp.where(z < x[0], below, jnp.where(z > x[-1], above, inside))

    return interp


def _law(pybamm, values, key, n_inputs):
    """The law `key` of `values` as a JAX function of `n_inputs` arguments (a constant law
    for a number)."""
    if key not in values.keys():
        raise InputError(f"the PyBaMM parameter set has no {key!r}")
    symbols = [pybamm.StateVector(slice(k, k + 1)) for k in range(n_inputs)]
    # PyBaMM substitutes a number, a function or tabulated data for the function parameter
    expression = pybamm.FunctionParameter(key, {f"x{k}": s for k, s in enumerate(symbols)})
    processed = values.process_symbol(expression)
    return to_jax(processed, n_inputs)


def _number(values, key):
    try:
        value = values[key]
    except KeyError:
        raise InputError(f"the PyBaMM parameter set has no {key!r}") from None
    if callable(value):
        raise InputError(f"{key!r} is a function in this set; jaxbatt needs a number there")
    return float(value)


def from_pybamm(
    parameter_values, name: str | None = None, initial_soc: float | None = None
) -> Cell:
    """A jaxbatt `Cell` from a PyBaMM parameter set: a `pybamm.ParameterValues` or the name
    of a bundled set (``"Chen2020"``, ``"Marquis2019"``, ...).

    The cell starts in the set's own initial state, or at `initial_soc` in [0, 1] set through
    PyBaMM's ``set_initial_state`` on a copy (Mohtat2020's own state is the empty cell, so a
    discharge needs ``initial_soc=1``); a named set then carries ``@soc=X`` in its name.

    Scalars are taken in SI units; the laws (OCPs, particle diffusivities, exchange-current
    densities, electrolyte diffusivity, conductivity, transference number, thermodynamic
    factor) are the set's own expressions translated to JAX (`to_jax`). The 1C current is the
    nominal capacity; the area is electrode height x width x electrodes in parallel; the
    temperature is the ambient one (isothermal). Refused with a message naming the feature:
    a non-zero OCP entropic term away from the reference temperature, non-linear
    interpolants. Each domain keeps its own Bruggeman exponent.
    """
    pybamm = _import_pybamm()
    label = name
    if isinstance(parameter_values, str):
        label = label or parameter_values
        try:
            values = pybamm.ParameterValues(parameter_values)
        except Exception as e:  # PyBaMM raises a plain ValueError / KeyError
            raise InputError(f"unknown PyBaMM parameter set {parameter_values!r}: {e}") from None
    elif isinstance(parameter_values, pybamm.ParameterValues):
        values = parameter_values
    else:
        raise InputError(
            "from_pybamm takes a pybamm.ParameterValues or a parameter-set name, got "
            f"{type(parameter_values).__name__}"
        )
    label = label or "pybamm"
    if initial_soc is not None:
        soc = float(initial_soc)
        if not 0.0 <= soc <= 1.0:
            raise InputError(f"initial_soc = {initial_soc} is outside [0, 1]")
        values = values.copy()
        try:
            values.set_initial_state(soc)
        except Exception as e:  # PyBaMM's electrode-SOH solve can fail for a set
            raise InputError(
                f"{label}: PyBaMM could not set the initial state of charge {soc} "
                f"({type(e).__name__}: {str(e).splitlines()[0][:300]})"
            ) from None
        if name is None and isinstance(parameter_values, str):
            label = f"{label}@soc={soc:g}"
    temperature = _number(values, "Ambient temperature [K]")
    reference_t = _number(values, "Reference temperature [K]")

    def electrode(domain, particle, bruggeman):
        eps_s = _number(values, f"{domain} electrode active material volume fraction")
        eps_e = _number(values, f"{domain} electrode porosity")
        c_max = _number(values, f"Maximum concentration in {domain.lower()} electrode [mol.m-3]")
        c_0 = _number(values, f"Initial concentration in {domain.lower()} electrode [mol.m-3]")
        entropic = f"{domain} electrode OCP entropic change [V.K-1]"
        entropic_term = values.get(entropic, 0.0)
        no_entropic_term = isinstance(entropic_term, numbers.Number) and entropic_term == 0
        if not no_entropic_term and not math.isclose(temperature, reference_t):
            raise InputError(
                f"{label}: the {domain.lower()} OCP has an entropic term and the ambient "
                f"temperature {temperature} K differs from the reference {reference_t} K; "
                "jaxbatt's isothermal cells have no entropic OCP term (a feature jaxbatt lacks)"
            )
        ocp = _law(pybamm, values, f"{domain} electrode OCP [V]", 1)
        b_solid = values.get(f"{domain} electrode Bruggeman coefficient (electrode)", 0.0)
        sigma = _number(values, f"{domain} electrode conductivity [S.m-1]") * eps_s ** float(b_solid)
        return Electrode(
            thickness=_number(values, f"{domain} electrode thickness [m]"),
            particle_radius=_number(values, f"{particle} particle radius [m]"),
            max_concentration=c_max,
            active_volume_fraction=eps_s,
            binder_volume_fraction=max(0.0, 1.0 - eps_s - eps_e),
            electrolyte_volume_fraction=eps_e,
            initial_stoichiometry=c_0 / c_max,
            charge_transfer_coefficient=0.5,
            solid_conductivity=sigma,
            open_circuit_potential_law=ocp,
            exchange_current_density_law=_law(
                pybamm, values, f"{domain} electrode exchange-current density [A.m-2]", 4
            ),
            solid_diffusivity_law=_law(pybamm, values, f"{particle} particle diffusivity [m2.s-1]", 2),
            bruggeman=bruggeman,
        )

    bruggeman = {
        d: _number(values, f"{d} Bruggeman coefficient (electrolyte)")
        for d in ("Negative electrode", "Separator", "Positive electrode")
    }
    thermodynamic = (
        _law(pybamm, values, "Thermodynamic factor", 2)
        if "Thermodynamic factor" in values.keys() else (lambda c_e, T: 1.0 + 0.0 * c_e)
    )  # fmt: skip
    area = (
        _number(values, "Electrode height [m]") * _number(values, "Electrode width [m]")
        * _number(values, "Number of electrodes connected in parallel to make a cell")
    )  # fmt: skip
    return Cell(
        name=label,
        anode=electrode("Negative", "Negative", bruggeman["Negative electrode"]),
        cathode=electrode("Positive", "Positive", bruggeman["Positive electrode"]),
        separator=Separator(
            thickness=_number(values, "Separator thickness [m]"),
            electrolyte_volume_fraction=_number(values, "Separator porosity"),
            bruggeman=bruggeman["Separator"],
        ),
        electrolyte=Electrolyte(
            initial_concentration=_number(values, "Initial concentration in electrolyte [mol.m-3]"),
            bruggeman=bruggeman["Separator"],  # each domain sets its own
            diffusivity=_law(pybamm, values, "Electrolyte diffusivity [m2.s-1]", 2),
            conductivity=_law(pybamm, values, "Electrolyte conductivity [S.m-1]", 2),
            transference_number=_law(pybamm, values, "Cation transference number", 2),
            thermodynamic_factor=thermodynamic,
        ),
        area=area,
        one_c_current=_number(values, "Nominal cell capacity [A.h]"),
        temperature=temperature,
        reference=f"PyBaMM parameter set {label}",
        lower_cutoff_voltage=_number(values, "Lower voltage cut-off [V]"),
        upper_cutoff_voltage=_number(values, "Upper voltage cut-off [V]"),
    )


def from_bpx(path, name: str | None = None, initial_soc: float | None = None) -> Cell:
    """A jaxbatt `Cell` from a BPX file (the Battery Parameter eXchange format): PyBaMM reads it
    (`pybamm.ParameterValues.create_from_bpx`, needs the ``bpx`` package, part of
    ``jaxbatt[pybamm]``): the initial state is the file's own (its ``State`` section, else
    100 % SOC), or `initial_soc` in [0, 1]; then `from_pybamm` sets that state and converts
    the result (the same laws, checks and refusals). The cell is named ``"bpx:PATH"`` unless `name`
    is given, so `jaxbatt.cells._registry.cell_from_name` can rebuild it from the file."""
    pybamm = _import_pybamm()
    try:
        import bpx  # noqa: F401, PLC0415
    except ImportError as e:
        raise InputError(
            "jaxbatt.cells.from_bpx needs the bpx package: pip install \"jaxbatt[pybamm]\""
        ) from e
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise InputError(f"BPX file {path!r} does not exist")
    try:
        values = pybamm.ParameterValues.create_from_bpx(path)
    except Exception as e:  # pydantic's ValidationError, JSON errors, PyBaMM's own
        raise InputError(
            f"{path}: not a BPX file PyBaMM can read as a DFN/SPM parameter set "
            f"({type(e).__name__}: {str(e).splitlines()[0][:300]})"
        ) from None
    return from_pybamm(values, name=name or f"bpx:{path}", initial_soc=initial_soc)
