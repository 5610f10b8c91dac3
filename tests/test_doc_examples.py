"""Every ```python block in README.md and docs/*.md runs as pasted.

Blocks of one page run in order in one namespace (a page reads as one session), in a fresh
temporary folder, with MPLBACKEND=Agg and one torch thread. A block that cannot run on a CPU
machine carries a visible marker on the line right before it, which this test reports as a skip
(a "needs CUDA" block runs where CUDA is available):

    <!-- no-run: needs CUDA -->
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^```python[^\n]*\n(.*?)^```", re.S | re.M)
MARKER = re.compile(r"<!--\s*no-run:\s*(.*?)\s*-->\s*$")


def blocks(page: Path) -> list[tuple[int, str, str | None]]:
    """(line, code, reason to skip or None) for each python block of the page."""
    text = page.read_text()
    out = []
    for match in FENCE.finditer(text):
        line = text.count("\n", 0, match.start()) + 1
        before = text[: match.start()].rstrip("\n").splitlines()
        skip = MARKER.search(before[-1]) if before else None
        out.append((line, match.group(1), skip.group(1) if skip else None))
    return out


def test_the_extractor_sees_markers(tmp_path):
    page = tmp_path / "p.md"
    page.write_text("text\n\n```python\nx = 1\n```\n\n<!-- no-run: needs CUDA -->\n```python\ny = 2\n```\n")
    assert [(b[1], b[2]) for b in blocks(page)] == [("x = 1\n", None), ("y = 2\n", "needs CUDA")]


RUNNER = """
import sys, traceback
import torch
torch.set_num_threads(1)
import matplotlib
matplotlib.use("Agg")
namespace = {"__name__": "__main__"}
for line, path in BLOCKS:
    code = open(path).read()
    try:
        exec(compile(code, f"{PAGE}:{line}", "exec"), namespace)
    except BaseException:
        traceback.print_exc()
        print(f"FAILED block at {PAGE}:{line}", file=sys.stderr)
        sys.exit(1)
"""


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_page_code_runs(page, tmp_path):
    found = blocks(page)
    if not found:
        return  # nothing to run (index.md includes README.md, which is tested as itself)
    import torch

    # A block marked "needs CUDA" runs where CUDA is there; every other marker always skips.
    cuda = torch.cuda.is_available()
    found = [(line, code, None if skip and cuda and skip.startswith("needs CUDA") else skip)
             for line, code, skip in found]
    runnable = [(line, code) for line, code, skip in found if skip is None]
    skipped = [f"line {line}: {skip}" for line, _, skip in found if skip is not None]
    paths = []
    for i, (line, code) in enumerate(runnable):
        path = tmp_path / f"block{i}.py"
        path.write_text(textwrap.dedent(code))
        paths.append((line, str(path)))
    script = f"PAGE = {page.name!r}\nBLOCKS = {paths!r}\n" + RUNNER
    env = dict(os.environ, MPLBACKEND="Agg", OMP_NUM_THREADS="1", LIQUIDTS_DOCS_TEST="1")
    work = tmp_path / "work"
    work.mkdir()
    result = subprocess.run([sys.executable, "-c", script], cwd=work, env=env, capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-6000:]
    if skipped:
        pytest.skip(f"{page.name}: ran {len(runnable)} block(s); not run on a CPU machine: " + "; ".join(skipped))
