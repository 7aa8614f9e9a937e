"""Parameter spaces: named degradation scalings with bounds, as data."""

import dataclasses
from collections.abc import Mapping, Sequence

import equinox as eqx
import jax.numpy as jnp
import numpy as np

from .._errors import ParameterError
from ._cell import Cell


@dataclasses.dataclass(frozen=True)
class Parameter:
    """One degradation parameter.

    Attributes:
        name: the name users pass, e.g. ``"k_i0"``.
        lower, upper: bounds of the parameter box.
        target: dotted path of the `Cell` field it sets, e.g.
            ``"anode.exchange_current_scale"``.
        default: value used when a simulation does not give it (a fresh cell: 1).
        description: one line for tables and plots.
    """

    name: str
    lower: float
    upper: float
    target: str
    default: float = 1.0
    description: str = ""

    def __post_init__(self):
        if not self.lower < self.upper:
            raise ParameterError(
                f"parameter {self.name!r}: lower bound {self.lower} must be below upper {self.upper}"
            )
        if not self.lower <= self.default <= self.upper:
            raise ParameterError(
                f"parameter {self.name!r}: default {self.default} outside [{self.lower}, {self.upper}]"
            )


@dataclasses.dataclass(frozen=True)
class ParameterSpace:
    """An ordered set of `Parameter`s: the box a surrogate is trained on and a calibration
    samples from.

    Vectors of parameter values follow the order of `parameters`; the unit box maps each
    parameter linearly from [lower, upper] to [0, 1].
    """

    parameters: tuple[Parameter, ...]

    def __post_init__(self):
        names = [p.name for p in self.parameters]
        if len(set(names)) != len(names):
            raise ParameterError(f"duplicate parameter names in {names}")

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.parameters)

    @property
    def lower(self):
        return np.array([p.lower for p in self.parameters])

    @property
    def upper(self):
        return np.array([p.upper for p in self.parameters])

    @property
    def defaults(self) -> dict[str, float]:
        return {p.name: p.default for p in self.parameters}

    def __len__(self):
        return len(self.parameters)

    def __getitem__(self, name: str) -> Parameter:
        for p in self.parameters:
            if p.name == name:
                return p
        raise ParameterError(f"unknown parameter {name!r}; this space has {list(self.names)}")

    def validate(self, values: Mapping[str, object], *, fill_defaults: bool = True):
        """Check a mapping of parameter values and return a vector in this space's order.

        Values may be scalars or arrays of one common shape (a batch); the result then has
        shape ``batch + (len(self),)``. Raises `ParameterError` naming an unknown name, a
        missing one (when ``fill_defaults`` is False), a non-finite value, or a value outside
        its bounds.
        """
        if not isinstance(values, Mapping):
            raise ParameterError(
                f"parameters must be a mapping name -> value, got {type(values).__name__}"
            )
        unknown = [k for k in values if k not in self.names]
        if unknown:
            raise ParameterError(
                f"unknown parameter(s) {unknown}; this space has {list(self.names)}"
            )
        arrays = []
        for p in self.parameters:
            if p.name not in values:
                if not fill_defaults:
                    raise ParameterError(f"parameter {p.name!r} is missing")
                arrays.append(np.asarray(p.default, dtype=float))
                continue
            try:
                v = np.asarray(values[p.name], dtype=float)
            except (TypeError, ValueError) as e:
                raise ParameterError(f"parameter {p.name!r}: not a number ({values[p.name]!r})") from e
            if not np.all(np.isfinite(v)):
                raise ParameterError(f"parameter {p.name!r} is not finite: {v}")
            bad = (v < p.lower) | (v > p.upper)
            if np.any(bad):
                worst = v[bad].flat[0] if v.ndim else float(v)
                raise ParameterError(
                    f"parameter {p.name!r} = {worst} is outside its range [{p.lower}, {p.upper}]"
                )
            arrays.append(v)
        try:
            stacked = np.broadcast_arrays(*arrays)
        except ValueError as e:
            shapes = {p.name: a.shape for p, a in zip(self.parameters, arrays)}
            raise ParameterError(f"parameter arrays have mismatched shapes {shapes}") from e
        return np.stack(stacked, axis=-1)

    def to_unit(self, theta):
        """Map parameter vector(s) from the box to [0, 1]^P."""
        return (theta - self.lower) / (self.upper - self.lower)

    def from_unit(self, u):
        """Map unit-box vector(s) back to parameter values."""
        return self.lower + u * (self.upper - self.lower)

    def as_dict(self, theta) -> dict:
        """Split a vector (..., P) into a dict name -> array (...)."""
        return {name: theta[..., i] for i, name in enumerate(self.names)}

    def apply(self, cell: Cell, theta) -> Cell:
        """Return `cell` with each parameter's target field set from vector `theta` (P,).

        Traceable: `theta` may be a JAX tracer, so this works under jit, vmap and grad.
        """
        theta = jnp.asarray(theta)
        for i, p in enumerate(self.parameters):
            path = p.target.split(".")

            def where(c, path=path):
                for attr in path:
                    c = getattr(c, attr)
                return c

            cell = eqx.tree_at(where, cell, theta[i])
        return cell


def nrel_parameter_space(extra: Sequence[Parameter] = ()) -> ParameterSpace:
    """Default degradation space of the nrel cell: ``k_i0`` (anode exchange-current scaling,
    [0.5, 4]) and ``k_Ds`` (cathode solid-diffusivity scaling, [1, 10]), plus any `extra`."""
    return ParameterSpace(
        (
            Parameter(
                "k_i0", 0.5, 4.0, "anode.exchange_current_scale",
                description="anode exchange-current density scaling",
            ),
            Parameter(
                "k_Ds", 1.0, 10.0, "cathode.diffusivity_scale",
                description="cathode solid diffusivity scaling",
            ),
            *extra,
        )
    )  # fmt: skip
