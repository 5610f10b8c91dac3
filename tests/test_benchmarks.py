"""``python -m benchmarks SUITE --quick``: every suite runs end to end on its small slice and
writes its table, JSON record and plot (the full suites' figures live in benchmarks/results/)."""

import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
sys.path.insert(0, str(ROOT))

from benchmarks.__main__ import main  # noqa: E402
from benchmarks.models import DEFAULT_MODELS  # noqa: E402


@pytest.mark.slow
@pytest.mark.parametrize("suite", ["seattle", "ett", "weather", "medical"])
def test_quick_suite_writes_its_results(suite, tmp_path):
    if suite != "seattle" and not DATA.exists():
        pytest.skip(f"../shared/data is not beside the checkout ({DATA})")
    assert main([suite, "--quick", "--out", str(tmp_path), "--data-home", str(DATA)]) == 0
    body = json.loads((tmp_path / f"{suite}-quick.json").read_text())
    assert body["meta"]["seeds"] == [0] and body["meta"]["command"].startswith("python -m benchmarks")
    models = {r["model"] for r in body["records"]}
    assert models == set(DEFAULT_MODELS)
    for record in body["records"]:
        assert record["mse"] >= 0 and record["windows"] > 0 and record["fit_s"] >= 0
    table = (tmp_path / f"{suite}-quick.md").read_text()
    assert "liquid" in table and "What the liquid core adds" in table
    assert (tmp_path / f"{suite}-quick.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
