"""The notebooks are committed clean and use the package (they are run by nbmake as part of
the test suite: see pyproject's addopts)."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

NOTEBOOKS = sorted((Path(__file__).parent.parent / "notebooks").glob("*.ipynb"))


def test_the_three_notebooks_exist():
    names = [p.stem for p in NOTEBOOKS]
    for want in ("01-getting-started", "02-pivot-reporting", "03-bulk-operations"):
        assert want in names


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_committed_without_outputs_and_importing_the_package(path):
    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(not c.outputs and c.execution_count is None for c in code), "outputs not stripped"
    source = "\n".join(c.source for c in code)
    assert "import dashboard" in source or "from dashboard import" in source
    # analyses call the package; they do not carry copies of its SQL or classes
    assert "class " not in source and "duckdb.connect" not in source
