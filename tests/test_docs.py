"""The documentation site builds with ``mkdocs build --strict`` (broken links, missing pages,
unreadable API docstrings and missing snippets all fail)."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_site_builds_strict(tmp_path):
    pytest.importorskip("mkdocs", reason="mkdocs is not installed (pip install -e '.[docs]')")
    pytest.importorskip("material", reason="mkdocs-material is not installed (pip install -e '.[docs]')")
    pytest.importorskip("mkdocstrings", reason="mkdocstrings is not installed (pip install -e '.[docs]')")
    env = dict(os.environ, NO_MKDOCS_2_WARNING="1")
    result = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(ROOT / "mkdocs.yml"),
                             "-d", str(tmp_path / "site")], capture_output=True, text=True, cwd=ROOT, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    site = tmp_path / "site"
    assert (site / "index.html").exists()
    assert "LiquidForecaster" in (site / "api" / "forecast" / "index.html").read_text()
    assert "<table>" in (site / "benchmarks" / "index.html").read_text()
    shutil.rmtree(site)


def test_concept_figures_regenerate(tmp_path):
    """examples/plot_concept_figures.py draws the pictures of docs/core.md from the library."""
    pytest.importorskip("matplotlib")
    env = dict(os.environ, MPLBACKEND="Agg", OMP_NUM_THREADS="1",
               PYTHONPATH=os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]))
    result = subprocess.run([sys.executable, str(ROOT / "examples" / "plot_concept_figures.py"), str(tmp_path)],
                            capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    core = (ROOT / "docs" / "core.md").read_text()
    for name in ("ncp_wiring.png", "cfc_timespans.png"):
        assert (tmp_path / name).stat().st_size > 10_000
        assert f"images/{name}" in core and (ROOT / "docs" / "images" / name).exists()
