"""The documentation site builds with ``mkdocs build --strict`` (broken links, missing pages,
unreadable API docstrings, missing snippets and TeX that latex2mathml cannot convert all fail),
and reads the same offline."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The site, built once for the tests below."""
    pytest.importorskip("mkdocs", reason="mkdocs is not installed (pip install -e '.[docs]')")
    pytest.importorskip("material", reason="mkdocs-material is not installed (pip install -e '.[docs]')")
    pytest.importorskip("mkdocstrings", reason="mkdocstrings is not installed (pip install -e '.[docs]')")
    pytest.importorskip("latex2mathml", reason="latex2mathml is not installed (pip install -e '.[docs]')")
    site = tmp_path_factory.mktemp("docs") / "site"
    env = dict(os.environ, NO_MKDOCS_2_WARNING="1")
    result = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(ROOT / "mkdocs.yml"),
                             "-d", str(site)], capture_output=True, text=True, cwd=ROOT, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    yield site
    shutil.rmtree(site)


def test_site_builds_strict(site):
    assert (site / "index.html").exists()
    assert "LiquidForecaster" in (site / "api" / "forecast" / "index.html").read_text()
    assert "<table>" in (site / "benchmarks" / "index.html").read_text()


def test_math_is_mathml_and_site_offline(site):
    """The equations are MathML written at build time (docs/hooks.py), not TeX left for a script
    from a CDN to typeset, and no page loads a script or a stylesheet from the network."""
    core = (site / "core" / "index.html").read_text()
    assert core.count('<math xmlns="http://www.w3.org/1998/Math/MathML" display="block">') >= 10
    assert '<span class="arithmatex"><math xmlns="http://www.w3.org/1998/Math/MathML" display="inline">' in core
    assert core.count('class="arithmatex"') == core.count("<math ")  # every marked equation converted
    assert not re.search(r"\\[][()]", core)  # no \( \) \[ \] delimiters left for a browser script
    for page in site.rglob("*.html"):
        html = page.read_text()
        assert '<script src="http' not in html, page
        assert not re.search(r'<link[^>]*rel="stylesheet"[^>]*href="http', html), page


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
