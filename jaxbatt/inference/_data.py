"""Measured discharge curves: reading, checking, and the bundled example.

A curve is a pair of 1-D arrays: times t [s] and terminal voltages v [V]. On disk it is a CSV
file whose header is ``time_s,voltage_V``, or ``time_s,voltage_V,current_A`` with the applied
current [A, positive on discharge] in a third column (which is how a file carries its C-rate).
"""

import dataclasses
import importlib.resources
import json
import os

import numpy as np

from .._errors import InputError

CSV_HEADER = ("time_s", "voltage_V")
CSV_HEADER_WITH_CURRENT = ("time_s", "voltage_V", "current_A")
# a current column within this relative spread of its mean is a constant-current discharge
CONSTANT_CURRENT_RTOL = 0.01
VOLTAGE_RANGE = (2.0, 4.5)  # V: the physical window of a Li-ion cell's terminal voltage
MIN_POINTS = 5
EXAMPLES = ("spm_2c_example", "p2d_2c_example")
EXAMPLE_OF_MODEL = {"spm": "spm_2c_example", "p2d": "p2d_2c_example"}  # the CLI's default data


@dataclasses.dataclass(frozen=True)
class Curve:
    """One measured curve: what `calibrate` takes (a `Curve` or a list of them).

    ``Curve(t, v, c_rate=2.0)`` (a constant-current discharge from the initial state) or
    ``Curve(t, v, protocol=jaxbatt.Protocol([...]))``; `Curve.from_csv` reads a file and its
    ``current_A`` column. A curve without a C-rate or protocol is refused by `calibrate`
    (unless it is given one for every curve). The values are checked against the voltage
    model when calibrating (`check_curve`).

    Attributes:
        t: times [s], shape (T,), strictly increasing.
        v: terminal voltages [V], shape (T,).
        label: where it came from (file name or ``"curve 2"``), used in messages and plots.
        c_rate: the discharge rate [C] of a constant-current curve, else None.
        protocol: the `jaxbatt.Protocol` (or its list of steps) the curve ran, else None.
        weights: optional per-point weights (T,), finite and >= 0: point i's noise standard
            deviation is sigma / sqrt(w_i) (relative precisions, as ``sigma`` in
            `scipy.optimize.curve_fit`), so a weight of 0.25 trusts a point half as much and 0
            drops it; sigma is then the noise of a weight-1 point. The voltage model's own
            error is not weighted. None: all 1.
    """

    t: np.ndarray
    v: np.ndarray
    label: str = "curve"
    c_rate: float | None = None
    protocol: object = None
    weights: np.ndarray | None = None

    def __post_init__(self):
        object.__setattr__(self, "t", _float_array(self.t, f"{self.label}: times"))
        object.__setattr__(self, "v", _float_array(self.v, f"{self.label}: voltages"))
        if self.c_rate is not None and self.protocol is not None:
            raise InputError(f"{self.label}: give either c_rate or protocol, not both")
        if self.weights is not None:
            w = _float_array(self.weights, f"{self.label}: weights")
            if w.shape != self.t.shape:
                raise InputError(
                    f"{self.label}: weights have shape {w.shape}, the times {self.t.shape}: "
                    "give one weight per point"
                )
            bad = ~np.isfinite(w) | (w < 0)
            if bad.any():
                k = int(np.argmax(bad))
                raise InputError(
                    f"{self.label}: weights[{k}] = {w[k]} is not a finite number >= 0"
                )
            if np.count_nonzero(w) < MIN_POINTS:
                raise InputError(
                    f"{self.label}: only {np.count_nonzero(w)} points have a weight above 0; "
                    f"at least {MIN_POINTS} are needed"
                )
            object.__setattr__(self, "weights", w)
        if self.c_rate is not None:
            from .._validation import check_c_rate  # noqa: PLC0415

            object.__setattr__(self, "c_rate", check_c_rate(self.c_rate))

    @property
    def drive(self):
        """The curve's C-rate (a float) or protocol, or None when unknown."""
        return self.c_rate if self.protocol is None else self.protocol

    @classmethod
    def from_csv(cls, path, *, c_rate=None, cell=None):
        """The curve in CSV file `path` (``time_s,voltage_V[,current_A]``, see
        `read_curve_csv`): its C-rate or protocol from the ``current_A`` column (`curve_drive`;
        1C of `cell`, default the nrel cell), else `c_rate`. A `c_rate` that contradicts the
        column is refused."""
        from ..cells import nrel_cell  # noqa: PLC0415

        label = os.path.basename(os.fspath(path))
        one_c = (cell or nrel_cell()).one_c_current
        t, v, _, _ = _read_csv_with_lines(path)
        drive = checked_drive(path, one_c, c_rate, label, "c_rate")
        if drive is None or isinstance(drive, float):
            return cls(t, v, label=label, c_rate=drive)
        return cls(t, v, label=label, protocol=drive)


def _float_array(x, what):
    try:
        return np.asarray(x, dtype=float)
    except (TypeError, ValueError) as e:
        raise InputError(f"{what} must be numbers, got {type(x).__name__}") from e


def _locator(label: str, lines):
    """A function naming entry k: the CSV line when the data came from a file."""
    if lines is None:
        return lambda k, what: f"{label}: {what}[{k}]"
    return lambda k, what: f"{label} line {lines[k]}: {what}"


def check_curve(
    t,
    v,
    *,
    t_max: float,
    voltage_range: tuple[float, float] = VOLTAGE_RANGE,
    min_points: int = MIN_POINTS,
    label: str = "curve",
    lines=None,
) -> Curve:
    """Check one measured curve and return it as a `Curve` of float arrays.

    Args:
        t: times [s], 1-D.
        v: terminal voltages [V], 1-D, same length as `t`.
        t_max: end of the model's time window [s]; every time must lie in [0, t_max].
        voltage_range: physical bounds on the voltage [V] (default 2.0 to 4.5 V).
        min_points: fewest points accepted (default 5).
        label: name of the curve in messages.
        lines: CSV line numbers of the entries, to name them in messages (optional).

    Raises:
        InputError: naming the entry (index, or CSV line) and value that is wrong: shapes or
            lengths differ, too few points, a NaN or infinite value, unsorted or duplicated
            times, a time outside [0, t_max], a voltage outside `voltage_range`.
    """
    at = _locator(label, lines)
    t = np.asarray(t, dtype=float)
    v = np.asarray(v, dtype=float)
    if t.ndim != 1 or v.ndim != 1:
        raise InputError(
            f"{label}: times and voltages must be 1-D arrays, got shapes {t.shape} and {v.shape}"
        )
    if t.size != v.size:
        raise InputError(
            f"{label}: {t.size} times but {v.size} voltages; give one voltage per time"
        )
    if t.size < min_points:
        raise InputError(
            f"{label}: {t.size} points is too few for a calibration; give at least {min_points}"
        )
    for values, what, unit in ((t, "time", "s"), (v, "voltage", "V")):
        bad = np.flatnonzero(~np.isfinite(values))
        if bad.size:
            k = bad[0]
            raise InputError(f"{at(k, what)} is {values[k]} ({bad.size} non-finite {what}s)")
    step = np.diff(t)
    dup = np.flatnonzero(step == 0)
    if dup.size:
        k = dup[0]
        raise InputError(
            f"{at(k + 1, 'time')} = {t[k + 1]:g} s duplicates the time before it; "
            "times must be strictly increasing (average or drop repeated samples)"
        )
    back = np.flatnonzero(step < 0)
    if back.size:
        k = back[0]
        raise InputError(
            f"{at(k + 1, 'time')} = {t[k + 1]:g} s comes after {t[k]:g} s; "
            "times must be strictly increasing (sort the data by time)"
        )
    outside = np.flatnonzero((t < 0) | (t > t_max))
    if outside.size:
        k = outside[0]
        raise InputError(
            f"{at(k, 'time')} = {t[k]:g} s is outside the model's window [0, {t_max:g}] s"
        )
    lo, hi = voltage_range
    outside = np.flatnonzero((v < lo) | (v > hi))
    if outside.size:
        k = outside[0]
        hint = " (is it in mV? voltages are in V)" if v[k] > 100 * hi else ""
        raise InputError(
            f"{at(k, 'voltage')} = {v[k]:g} V is outside the physical range "
            f"[{lo:g}, {hi:g}] V{hint}"
        )
    return Curve(t=t, v=v, label=label)


def read_curve_csv(path) -> tuple[np.ndarray, np.ndarray]:
    """Read a discharge curve from a CSV file with header ``time_s,voltage_V``.

    Times are in s and voltages in V, one sample per line. Blank lines are skipped. Only the
    file's format is checked here (header, two numbers per line); `check_curve` checks the
    values, and `calibrate` does both. Returns ``(t, v)`` as float arrays.

    Raises:
        InputError: the file is missing, its header differs, or a line does not hold two
            numbers (naming the line).
    """
    t, v, _, _ = _read_csv_with_lines(path)
    return t, v


def _read_csv_with_lines(path):
    name = os.fspath(path)
    try:
        with open(name, encoding="utf-8-sig") as f:
            raw = f.read().splitlines()
    except OSError as e:
        raise InputError(f"cannot read {name}: {e.strerror or e}") from e
    numbered = [(k + 1, line.strip()) for k, line in enumerate(raw) if line.strip()]
    if not numbered:
        raise InputError(f"{name} is empty; expected a header {','.join(CSV_HEADER)}")
    header_line, header = numbered[0]
    fields = tuple(h.strip() for h in header.split(","))
    if fields not in (CSV_HEADER, CSV_HEADER_WITH_CURRENT):
        raise InputError(
            f"{name} line {header_line}: header is {header!r}, expected "
            f"{','.join(CSV_HEADER)!r} (time in s, terminal voltage in V) or "
            f"{','.join(CSV_HEADER_WITH_CURRENT)!r} (and the current in A, positive on discharge)"
        )
    n = len(fields)
    rows, lines = [], []
    for number, line in numbered[1:]:
        parts = [p.strip() for p in line.split(",")]
        if len(parts) != n:
            raise InputError(
                f"{name} line {number}: expected {n} comma-separated values "
                f"({','.join(fields)}), got {len(parts)}: {line!r}"
            )
        try:
            rows.append([float(p) for p in parts])
        except ValueError:
            count = {2: "two", 3: "three"}[n]
            raise InputError(f"{name} line {number}: {line!r} is not {count} numbers") from None
        lines.append(number)
    columns = np.array(rows, dtype=float).reshape(-1, n).T
    current = columns[2] if n == 3 else None
    return columns[0], columns[1], lines, current


def curve_drive(path, one_c_current: float, label: str = "curve"):
    """What the CSV curve `path` measured, from its ``current_A`` column: its C-rate (a float)
    for a constant-current discharge, a `jaxbatt.Protocol` (the recorded current profile,
    linearly interpolated, held at its first value back to t = 0) for any other current, or
    None without the column."""
    t, _, _, current = _read_csv_with_lines(path)
    if current is None:
        return None
    current = np.asarray(current, dtype=float)
    bad = np.flatnonzero(~np.isfinite(current))
    if bad.size:
        raise InputError(f"{label}: current_A[{bad[0]}] is {current[bad[0]]}")
    mean = float(np.mean(current))
    if mean > 0 and float(np.max(np.abs(current - mean))) <= CONSTANT_CURRENT_RTOL * mean:
        return mean / one_c_current
    from ..protocols import Protocol  # noqa: PLC0415

    t = np.asarray(t, dtype=float)
    if t[0] > 0:
        t, current = np.concatenate([[0.0], t]), np.concatenate([current[:1], current])
    return Protocol.from_current(t, current)


def checked_drive(path, one_c_current: float, c_rate, label: str, option: str):
    """`curve_drive` of `path`, else `c_rate` (None when neither says it); refused when the
    file's current column and `c_rate` (the user's `option`, named in the message) disagree."""
    drive = curve_drive(path, one_c_current, label)
    if drive is None:
        return None if c_rate is None else float(c_rate)
    if c_rate is None:
        return drive
    if not isinstance(drive, float):
        raise InputError(
            f"{label}: its current_A column varies (a protocol), but {option} "
            f"{c_rate:g} says a constant-current discharge"
        )
    if abs(drive - c_rate) > CONSTANT_CURRENT_RTOL * c_rate:
        raise InputError(
            f"{label}: its current_A column is a {drive:.3g}C discharge "
            f"({drive * one_c_current * 1e3:.3g} mA) but {option} is {c_rate:g}"
        )
    return drive


def curve_labels(curves) -> list[str]:
    """Each `Curve`'s label; a default label ("curve") is numbered ("curve 2") among several."""
    return [
        f"curve {k}" if c.label == "curve" and len(curves) > 1 else c.label
        for k, c in enumerate(curves)
    ]


def load_curve_csv(path, *, t_max: float, voltage_range=VOLTAGE_RANGE, min_points=MIN_POINTS):
    """Read and check a CSV curve (see `read_curve_csv`, `check_curve`); errors name the
    file's line. Returns a `Curve`."""
    t, v, lines, _ = _read_csv_with_lines(path)
    return check_curve(
        t, v, t_max=t_max, voltage_range=voltage_range, min_points=min_points,
        label=os.path.basename(os.fspath(path)), lines=lines,
    )  # fmt: skip


def curve_objects(t, v):
    """The list of `Curve` objects when `t` is one or a list of them (then `v` must be None),
    else None (the array forms of `as_curves`)."""
    if isinstance(t, Curve):
        given = [t]
    elif isinstance(t, (list, tuple)) and t and all(isinstance(c, Curve) for c in t):
        given = list(t)
    elif isinstance(t, (list, tuple)) and any(isinstance(c, Curve) for c in t):
        raise InputError("give a list of Curve objects or of arrays, not a mix of both")
    else:
        return None
    if v is not None:
        raise InputError("with Curve objects, v must be None: each Curve carries its voltages")
    return given


def as_curves(t, v, *, t_max: float, voltage_range=VOLTAGE_RANGE, min_points=MIN_POINTS):
    """Normalise the data forms `calibrate` accepts into checked curves.

    Accepted forms: one curve ``t (T,), v (T,)``; several on one grid ``t (T,), v (C, T)``;
    several ``t (C, T), v (C, T)``; ragged lists ``t = [t_0, t_1, ...], v = [v_0, ...]``;
    a list of pairs ``t = [(t_0, v_0), (t_1, v_1), ...]`` with ``v = None``; or a `Curve`
    (one curve) or a list of them with ``v = None`` (each keeps its label, rate, protocol).

    Returns:
        ``(curves, is_fleet)``: a list of `Curve` and whether several curves were given
        (a 2-D or list input with one curve is still a fleet of one).
    """
    kw = dict(t_max=t_max, voltage_range=voltage_range, min_points=min_points)
    given = curve_objects(t, v)
    if given is not None:
        curves = []
        for c, label in zip(given, curve_labels(given)):
            checked = check_curve(c.t, c.v, label=label, **kw)
            curves.append(dataclasses.replace(
                checked, c_rate=c.c_rate, protocol=c.protocol, weights=c.weights
            ))  # fmt: skip
        return curves, not isinstance(t, Curve)
    if v is None:
        if not isinstance(t, (list, tuple)) or not all(
            isinstance(c, (list, tuple)) and len(c) == 2 for c in t
        ):
            raise InputError(
                "with v=None, t must be a list of (t, v) pairs, one per curve; "
                "otherwise pass the voltages as v"
            )
        pairs = list(t)
    elif isinstance(t, (list, tuple)) and len(t) and np.ndim(t[0]) >= 1:
        if not isinstance(v, (list, tuple)) or len(v) != len(t):
            n_v = len(v) if isinstance(v, (list, tuple)) else f"an array of shape {np.shape(v)}"
            raise InputError(
                f"t is a list of {len(t)} time arrays, so v must be a list of as many "
                f"voltage arrays, got {n_v}"
            )
        pairs = list(zip(t, v))
    else:
        t_arr, v_arr = np.asarray(t, dtype=float), np.asarray(v, dtype=float)
        if t_arr.ndim == 1 and v_arr.ndim == 1:
            return [check_curve(t_arr, v_arr, label="curve", **kw)], False
        if t_arr.ndim == 1 and v_arr.ndim == 2:
            pairs = [(t_arr, row) for row in v_arr]
        elif t_arr.ndim == 2 and v_arr.ndim == 2:
            if t_arr.shape != v_arr.shape:
                raise InputError(
                    f"t has shape {t_arr.shape} but v has shape {v_arr.shape}; "
                    "give one voltage per time"
                )
            pairs = list(zip(t_arr, v_arr))
        else:
            raise InputError(
                f"cannot read t of shape {t_arr.shape} with v of shape {v_arr.shape}: give "
                "1-D t and v (one curve), 1-D t with 2-D v (C, T), 2-D t and v (C, T), or lists"
            )
    if not pairs:
        raise InputError("no curves given")
    curves = [check_curve(ti, vi, label=f"curve {k}", **kw) for k, (ti, vi) in enumerate(pairs)]
    return curves, True


@dataclasses.dataclass(frozen=True)
class ExampleCurve:
    """A bundled synthetic measurement and the truth it was made from.

    Attributes:
        t: times [s]; v: noisy terminal voltages [V].
        truth: the true degradation parameters, e.g. ``{"k_i0": 2.0, "k_Ds": 2.0}``.
        noise_std: standard deviation of the added Gaussian noise [V].
        c_rate: discharge C-rate; model: the model that made it (``"spm"``).
        meta: the whole JSON description (generator, seed, solver settings).
        path: the CSV file.
    """

    t: np.ndarray
    v: np.ndarray
    truth: dict
    noise_std: float
    c_rate: float
    model: str
    meta: dict
    path: str


def example_path(name: str = "spm_2c_example") -> str:
    """Path of a bundled example CSV (`EXAMPLES` lists them)."""
    if name not in EXAMPLES:
        raise InputError(f"unknown example {name!r}; bundled examples are {list(EXAMPLES)}")
    return str(importlib.resources.files("jaxbatt") / "data" / "examples" / f"{name}.csv")


def load_example(name: str = "spm_2c_example") -> ExampleCurve:
    """The bundled example curve `name` with its truth.

    ``spm_2c_example``: the numerical SPM (Butler-Volmer kinetics) of the nrel cell, 2C
    discharge, k_i0 = 2 and k_Ds = 2 (the reference study's truth), 100 times in [10, 1350] s,
    Gaussian noise of 3 mV (fixed seed); made by ``scripts/make_example_data.py``.
    ``p2d_2c_example``: the same truth, times and noise level from the numerical P2D at its
    default settings (``scripts/make_example_data.py --model p2d``).
    """
    path = example_path(name)
    t, v = read_curve_csv(path)
    with open(path[: -len(".csv")] + ".json", encoding="utf-8") as f:
        meta = json.load(f)
    return ExampleCurve(
        t=t, v=v, truth=dict(meta["truth"]), noise_std=float(meta["noise_std_V"]),
        c_rate=float(meta["c_rate"]), model=meta["model"], meta=meta, path=path,
    )  # fmt: skip


MEASURED = ("enertech",)


def load_measured(name: str = "enertech") -> list[Curve]:
    """Bundled measured curves of a real cell, as `Curve`s carrying their C-rates.

    ``enertech``: constant-current discharges of an Enertech 2.28 Ah pouch cell (graphite /
    LiCoO2, the cell of PyBaMM's ``Ai2020`` set) at 0.5C, 1C and 2C from 4.2 V down to about
    3.0 V, every 20th sample of the 1 s measurement from t = 10 s (labels ``"0.5C"``, ``"1C"``,
    ``"2C"``). Attribution and the temperature rise of each discharge: the folder's README and
    ``enertech.json`` (``jaxbatt/data/measured/enertech/``), made by
    ``scripts/make_enertech_example.py``. The C-rates come from the files' ``current_A``
    columns and the nominal capacity.
    """
    if name not in MEASURED:
        raise InputError(f"unknown measured data {name!r}; bundled are {list(MEASURED)}")
    folder = importlib.resources.files("jaxbatt") / "data" / "measured" / name
    meta = json.loads((folder / f"{name}.json").read_text(encoding="utf-8"))
    curves = []
    for file, info in meta["files"].items():
        path = str(folder / file)
        label = f"{info['c_rate']:g}C"
        t, v = read_curve_csv(path)
        rate = curve_drive(path, meta["nominal_capacity_Ah"], label)
        curves.append(Curve(t, v, c_rate=rate, label=label))
    return curves
