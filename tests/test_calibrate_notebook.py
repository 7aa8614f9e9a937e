"""notebooks/calibration.ipynb runs end to end with its small settings."""

import pathlib

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

NOTEBOOK = pathlib.Path(__file__).parents[1] / "notebooks" / "calibration.ipynb"


def test_calibration_notebook_executes(monkeypatch, tmp_path):
    monkeypatch.setenv("JAXBATT_NOTEBOOK_SMALL", "1")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.setenv("TMPDIR", str(tmp_path))  # where the notebook saves its outputs
    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(
        nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute()
    text = "".join(
        o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
    )
    assert "Calibration of 1 curve (100 points)" in text
    assert "summary.json" in text and "pairs.png" in text
    assert "'k_i0': (1, 10)" in text
    images = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
              if "image/png" in o.get("data", {})]  # fmt: skip
    assert len(images) >= 4
    saved = list(tmp_path.glob("jaxbatt-calibration-*/predictive.png"))
    assert saved and saved[0].stat().st_size > 10_000
