"""The notebooks run end to end (with their small settings), so they cannot rot."""

import ast
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
                  marks=pytest.mark.slow),
     # 111 s in the full suite on the 2-core CPU: two P2D compilations (the solver
     # likelihood's value program, shared by the published and the posterior curves, and its
     # value-and-Jacobian), then NUTS at the small settings; the default suite runs it
     ("own_cell_enertech.ipynb", "posterior median k_i0 = ")],
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


def test_enertech_notebook_matches_script():
    """notebooks/own_cell_enertech.ipynb repeats the parameter space and mesh of
    scripts/calibrate_enertech.py (scripts/ is not importable): they must stay identical."""
    script = (NOTEBOOKS.parent / "scripts" / "calibrate_enertech.py").read_text(encoding="utf-8")
    nb = nbformat.read(NOTEBOOKS / "own_cell_enertech.ipynb", as_version=4)
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    tree = ast.parse(script)
    pieces = [
        ast.get_source_segment(script, node)
        for node in tree.body
        if (isinstance(node, ast.FunctionDef) and node.name == "enertech_space")
        or (isinstance(node, ast.Assign) and ast.unparse(node.targets[0]) == "P2D_OPTIONS")
    ]
    assert len(pieces) == 2
    for piece in pieces:
        assert piece in code
