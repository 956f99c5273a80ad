"""The notebooks run top to bottom against the test database, and are committed without outputs."""

from __future__ import annotations

import nbformat
import pytest
from nbclient import NotebookClient

from service.core.settings import PROJECT_ROOT

NOTEBOOKS = sorted((PROJECT_ROOT / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_committed_without_outputs(path) -> None:
    nb = nbformat.read(path, as_version=4)
    assert all(not c.get("outputs") and c.get("execution_count") is None for c in nb.cells if c.cell_type == "code")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_runs_top_to_bottom(path, cli_env) -> None:
    nb = nbformat.read(path, as_version=4)
    NotebookClient(
        nb, timeout=180, kernel_name="python3", resources={"metadata": {"path": str(PROJECT_ROOT)}}
    ).execute()
    text = "\n".join(
        str(o.get("text", ""))
        + str(o.get("data", {}).get("text/plain", ""))
        + str(o.get("data", {}).get("text/html", ""))
        for c in nb.cells
        if c.cell_type == "code"
        for o in c.get("outputs", [])
    )
    if path.name == "quickscan.ipynb":
        assert "Toeristisch Recreatieve Zone" in text and "Witterveld" in text and "<iframe srcdoc=" in text
        assert "cdn.jsdelivr" not in text and "cdnjs" not in text
    else:
        assert "havenkwartier" in text and "indicatief" in text
        assert "proefgebied.zip" in text and "two_squares.gpkg" in text  # loaded, then history
        assert "current" in text and "superseded" in text  # rolled back to version 1
