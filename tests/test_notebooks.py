"""The notebooks run end to end (with their small settings), so they cannot rot."""

import os
import pathlib

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

NOTEBOOKS = pathlib.Path(__file__).parents[1] / "notebooks"


@pytest.mark.parametrize(
    "name, expected",
    # slow (80 s): training, the hierarchy and the loss curves are checked by the default
    # suite's surrogate tests; the P2D notebook stays in it
    [pytest.param("surrogate_training.ipynb", "level 2: mean", marks=pytest.mark.slow),
     ("p2d_surrogate.ipynb", "truth:"),
     # slow (120 s): the design itself is checked in the default suite by tests/test_design.py
     pytest.param("experiment_design.ipynb", "Expected posterior sd at k_i0=2, k_Ds=2",
                  marks=pytest.mark.slow)],
)  # fmt: skip
def test_notebook_executes(name, expected, monkeypatch):
    monkeypatch.setenv("JAXBATT_NOTEBOOK_SMALL", "1")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    nbclient.NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOKS)}}).execute()
    outputs = "".join(
        o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
    )
    assert expected in outputs
