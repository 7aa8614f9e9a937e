"""`load_surrogate`: the bundled pretrained surrogates, or a user's checkpoint."""

import pathlib

from ._errors import CheckpointError

BUNDLED = {
    "spm": "spm.eqx",
    "spm-physics": "spm_physics.eqx",
    "spm-rates": "spm_rates.eqx",
    "p2d": "p2d.eqx",
}
BUNDLED_DIR = pathlib.Path(__file__).parent / "data" / "surrogates"


def load_surrogate(name_or_path="spm", *, cell=None):
    """Load a surrogate: ``"spm"`` for the bundled pretrained SPM surrogate (nrel cell, 2C,
    t in [0, 1350] s, the whole default parameter box; physics residuals plus solver data),
    ``"spm-physics"`` for its physics-only counterpart (same cell, window and box; no solver
    data in its loss: its header's ``meta["n_data_parameters"]`` is 0 for every level),
    ``"spm-rates"`` for the SPM surrogate with the C-rate as an input (0.5C to 5C, t in
    [0, 2700 s / C]: ``voltage(t, params, c_rate=c)``), ``"p2d"`` for the P2D surrogate
    (nrel cell, 2C, t in [0, 1350] s, the whole box; P2D residuals plus P2D solver data:
    ``voltage(t, params)``, ``fields(t, x, params)``, ``particle_concentration(...)``), or
    the path of a checkpoint written by `jaxbatt train` / `jaxbatt.surrogates.save_surrogate`.

    A checkpoint records its cell by name and rebuilds it (``"pybamm:Chen2020"`` converts
    that PyBaMM set again, so needs ``jaxbatt[pybamm]``); a surrogate of a cell with no name
    jaxbatt knows (a converted `pybamm.ParameterValues`) is loaded with ``cell=`` that cell.

    Raises `CheckpointError` when the file is missing, corrupted, edited (the checksum covers
    its header too), of an older format version, or not a surrogate.
    """
    from .surrogates import load_surrogate_file  # noqa: PLC0415

    key = str(name_or_path)
    if key in BUNDLED:
        path = BUNDLED_DIR / BUNDLED[key]
        if not path.is_file():
            raise CheckpointError(f"the bundled {key!r} surrogate is missing from {BUNDLED_DIR}")
        return load_surrogate_file(path, cell=cell)
    path = pathlib.Path(key)
    if not path.exists():
        raise CheckpointError(
            f"{key!r} is neither a bundled surrogate ({sorted(BUNDLED)}) nor an existing file"
        )
    return load_surrogate_file(path, cell=cell)
