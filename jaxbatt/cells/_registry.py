"""Cells by name, and degradation parameters from short text (the command line's)."""

import dataclasses
import functools
import math

import jax
import numpy as np

from .._errors import InputError, ParameterError
from ._cell import Cell
from ._nrel import nrel_cell
from ._parameter_space import Parameter

BUILT_IN = {"nrel": nrel_cell}

# short names of the per-electrode degradation scalings (a fresh cell: 1); any other scalar
# field of a cell is named by its dotted path, e.g. ``cathode.particle_radius``
PARAMETER_ALIASES = {
    "k_i0": "anode.exchange_current_scale",
    "k_i0_c": "cathode.exchange_current_scale",
    "k_Ds": "cathode.diffusivity_scale",
    "k_Ds_a": "anode.diffusivity_scale",
}


def cell_names() -> str:
    """The cell names `cell_from_name` knows, for messages."""
    return (
        f"{sorted(BUILT_IN)}, pybamm:SET (a PyBaMM parameter set, e.g. pybamm:Chen2020, "
        "or pybamm:Mohtat2020@soc=1 at a given initial state of charge) or "
        "bpx:PATH (a BPX file)"
    )


@functools.cache
def _converted(spec: str) -> Cell:
    from ._pybamm import from_pybamm  # noqa: PLC0415

    set_name, marker, soc = spec.partition("@soc=")
    initial_soc = None
    if marker:
        try:
            initial_soc = float(soc)
        except ValueError:
            message = f"pybamm:{spec}: the state of charge after '@soc=' is not a number"
            raise InputError(message) from None
    return from_pybamm(set_name, name=f"pybamm:{spec}", initial_soc=initial_soc)


def cell_from_name(name: str) -> Cell:
    """The cell called `name`: a built-in one (``"nrel"``), ``"pybamm:SET"``, PyBaMM's
    parameter set SET converted by `from_pybamm` (``"pybamm:SET@soc=X"`` starts it at state
    of charge X), or ``"bpx:PATH"``, the BPX file at PATH
    (`from_bpx`) (both need ``jaxbatt[pybamm]``); the converted cell carries that name, so a
    checkpoint that records it can rebuild it."""
    if not isinstance(name, str):
        raise InputError(f"a cell name must be a string, got {type(name).__name__}")
    if name in BUILT_IN:
        return BUILT_IN[name]()
    if name.startswith("pybamm:") and len(name) > len("pybamm:"):
        return _converted(name[len("pybamm:") :])
    if name.startswith("bpx:") and len(name) > len("bpx:"):
        from ._pybamm import from_bpx  # noqa: PLC0415

        return from_bpx(name[len("bpx:") :])
    raise InputError(f"unknown cell {name!r}; known: {cell_names()}")


def _is_scalar(value) -> bool:
    if value is None or isinstance(value, bool) or callable(value):
        return False
    if isinstance(value, jax.core.Tracer):
        return False
    array = np.asarray(value)
    return array.ndim == 0 and np.issubdtype(array.dtype, np.number)


def scalar_fields(cell: Cell) -> list[str]:
    """Dotted paths of the cell's scalar pytree fields a `Parameter` may target."""
    paths = []
    for field in dataclasses.fields(cell):
        if field.metadata.get("static", False):
            continue
        value = getattr(cell, field.name)
        if _is_scalar(value):
            paths.append(field.name)
        elif dataclasses.is_dataclass(value):
            paths.extend(f"{field.name}.{p}" for p in scalar_fields(value))
    return paths


def field_value(cell: Cell, target: str) -> float:
    """The value of the scalar field `target` (a dotted path) of `cell`; `ParameterError`
    naming the valid paths when there is no such scalar field."""
    fields = scalar_fields(cell)
    if target not in fields:
        raise ParameterError(
            f"cell {cell.name!r} has no scalar field {target!r}; a parameter may target one of "
            f"{fields} (or the aliases {sorted(PARAMETER_ALIASES)})"
        )
    value = cell
    for attr in target.split("."):
        value = getattr(value, attr)
    return float(value)


def parse_parameter(text: str, cell: Cell) -> Parameter:
    """A `Parameter` from ``NAME=LO:HI`` (or ``NAME=LO:HI:DEFAULT``): NAME is an alias
    (``k_i0``, ``k_i0_c``, ``k_Ds``, ``k_Ds_a``: the scalings, a fresh cell 1) or the dotted
    path of a scalar field of `cell` (``cathode.particle_radius``, in SI units). The default
    is the cell's own value when it lies in [LO, HI], else the box's midpoint."""
    name, sep, bounds = str(text).partition("=")
    name = name.strip()
    parts = bounds.split(":")
    if not sep or not name or len(parts) not in (2, 3):
        raise ParameterError(
            f"parameter {text!r}: write NAME=LO:HI (or NAME=LO:HI:DEFAULT), e.g. k_i0=0.5:4 "
            "or cathode.particle_radius=4e-6:6e-6"
        )
    try:
        numbers = [float(p) for p in parts]
    except ValueError:
        raise ParameterError(f"parameter {text!r}: bounds must be numbers") from None
    if not all(math.isfinite(x) for x in numbers):
        raise ParameterError(f"parameter {text!r}: bounds must be finite")
    lower, upper = numbers[:2]
    target = PARAMETER_ALIASES.get(name, name)
    own = field_value(cell, target)
    if len(numbers) == 3:
        default = numbers[2]
    else:
        default = own if lower <= own <= upper else 0.5 * (lower + upper)
    return Parameter(name, lower, upper, target, default=default, description=target)


def check_space(space, cell: Cell) -> None:
    """`ParameterError` unless every parameter of `space` targets a scalar field of `cell`."""
    for p in space.parameters:
        try:
            field_value(cell, p.target)
        except ParameterError as e:
            raise ParameterError(f"parameter {p.name!r}: {e}") from None


def cell_and_space(cell_name: str, params=None):
    """(cell, parameter space) of a cell name and ``NAME=LO:HI`` texts (`parse_parameter`);
    without texts the nrel box (k_i0, k_Ds)."""
    from ._parameter_space import ParameterSpace, nrel_parameter_space  # noqa: PLC0415

    cell = cell_from_name(cell_name)
    if params:
        space = ParameterSpace(tuple(parse_parameter(p, cell) for p in params))
    else:
        space = nrel_parameter_space()
    check_space(space, cell)
    return cell, space
