"""The tutorial notebooks in notebooks/ run top to bottom (nbclient), with their small budgets.

A notebook that needs an optional package or a file of the shared data folder says so in its
metadata, and the test skips it, naming what is missing, where that is absent:

    "metadata": {"liquidts": {"requires": {"modules": ["gymnasium", "Box2D"],
                                           "data": ["physionet2012/set-a.csv.gz"]}}}

``modules`` are import names, looked up without importing them; ``data`` are paths under the
data folder, ``$LIQUIDTS_DATA`` or else ``../shared/data`` beside the checkout (the folder the
notebooks read). The kernel imports liquidts from this checkout.
"""

import importlib.util
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
DATA_HOME = Path(os.environ.get("LIQUIDTS_DATA") or ROOT.parent / "shared" / "data")


def missing_requirements(nb) -> list[str]:
    """What the notebook's ``liquidts.requires`` metadata names that is not here."""
    requires = nb.metadata.get("liquidts", {}).get("requires", {})
    missing = [f"module {name}" for name in requires.get("modules", []) if importlib.util.find_spec(name) is None]
    missing += [f"data file {DATA_HOME / path}" for path in requires.get("data", []) if not (DATA_HOME / path).exists()]
    return missing


def test_requirements_are_read(tmp_path):
    nbformat = pytest.importorskip("nbformat", reason="nbformat is not installed (pip install -e '.[docs]')")
    nb = nbformat.v4.new_notebook()
    nb.metadata["liquidts"] = {"requires": {"modules": ["os", "no_such_module_here"], "data": ["no/such/file.csv"]}}
    assert missing_requirements(nb) == ["module no_such_module_here", f"data file {DATA_HOME / 'no/such/file.csv'}"]
    assert missing_requirements(nbformat.v4.new_notebook()) == []


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_runs(path, tmp_path, monkeypatch):
    nbformat = pytest.importorskip("nbformat", reason="nbformat is not installed (pip install -e '.[docs]')")
    nbclient = pytest.importorskip("nbclient", reason="nbclient is not installed (pip install -e '.[docs]')")
    pytest.importorskip("ipykernel", reason="ipykernel is not installed (pip install -e '.[docs]')")
    nb = nbformat.read(path, as_version=4)
    missing = missing_requirements(nb)
    if missing:
        pytest.skip(f"{path.name} needs " + ", ".join(missing))
    assert not [cell for cell in nb.cells if cell.cell_type == "code" and cell.get("outputs")], \
        "commit notebooks with their outputs cleared"
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.setenv("LIQUIDTS_DATA", str(DATA_HOME))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]))
    client = nbclient.NotebookClient(nb, timeout=300, kernel_name="python3",
                                     resources={"metadata": {"path": str(tmp_path)}})
    client.execute()  # raises CellExecutionError, with the cell and its traceback, on a failure
    errors = [o for cell in nb.cells if cell.cell_type == "code" for o in cell.get("outputs", [])
              if o.get("output_type") == "error"]
    assert not errors
