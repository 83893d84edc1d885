"""The quickstart notebook is valid nbformat 4 JSON and its code cells run end to end (one short epoch)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from PIL import Image

REPO_ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = REPO_ROOT / "notebooks" / "quickstart.ipynb"


def code_cells() -> list[str]:
    notebook = json.loads(NOTEBOOK.read_text())
    assert notebook["nbformat"] == 4
    cells = [cell for cell in notebook["cells"] if cell["cell_type"] == "code"]
    assert all(cell["outputs"] == [] and cell["execution_count"] is None for cell in cells), "clear the outputs"
    return ["".join(cell["source"]) for cell in cells]


def test_notebook_trains_samples_and_plots(tmp_path, monkeypatch):
    monkeypatch.setenv("BGAN_NOTEBOOK_ROOT", str(REPO_ROOT))
    monkeypatch.setenv("BGAN_NOTEBOOK_OUTPUT", str(tmp_path))
    monkeypatch.setenv("BGAN_NOTEBOOK_EPOCHS", "1")
    monkeypatch.delenv("BGAN_CHECKPOINT", raising=False)
    monkeypatch.setenv("BGAN_DATA_DIR", os.environ.get("BGAN_DATA_DIR", str(tmp_path / "datasets")))
    namespace: dict = {}

    for source in code_cells():
        exec(compile(source, str(NOTEBOOK), "exec"), namespace)

    assert tuple(namespace["samples"].shape) == (4, 5, 3, 64, 64)
    # make_grid pads every image by 2 pixels: 7 columns and 4 rows of 64x64 images.
    with Image.open(tmp_path / "samples.png") as grid:
        assert grid.size == (7 * 64 + 8 * 2, 4 * 64 + 5 * 2)
    assert namespace["again"].equal(namespace["samples"])
    assert not namespace["other"].equal(namespace["samples"])
