"""The classify benchmark suite runs end to end on its quick slice and writes its results."""

import json
from pathlib import Path

import pytest

from benchmarks import classify
from benchmarks.__main__ import main

SHARED = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"


def test_read_ts_gives_long_observations(tmp_path):
    path = tmp_path / "x.ts"
    path.write_text("@problemName x\n@dimensions 2\n@data\n1,2,3:4,5,6:a\n7,8:9,?:b\n")
    X, y = classify.read_ts(path)
    assert y.tolist() == ["a", "b"] and len(X) == 9
    assert X[X["id"] == 1].values.tolist() == [[1, 0, "dim_0", 7.0], [1, 1, "dim_0", 8.0], [1, 0, "dim_1", 9.0]]


@pytest.mark.slow
@pytest.mark.skipif(not (SHARED / "physionet2012" / "set-a.csv.gz").exists(), reason="shared data not present")
def test_quick_suite_writes_results(tmp_path):
    pytest.importorskip("sktime")
    assert main(["classify", "--quick", "--models", "cfc", "odernn", "--out", str(tmp_path)]) == 0
    body = json.loads((tmp_path / "classify-quick.json").read_text())
    tasks = {(r["task"], r["model"]) for r in body["records"]}
    assert tasks == {("physionet2012", "cfc"), ("physionet2012", "odernn"), ("japanese_vowels", "cfc")}
    assert all(0 <= r.get("auc", r.get("accuracy")) <= 1 for r in body["records"])
    text = (tmp_path / "classify-quick.md").read_text()
    assert "| cfc |" in text and "odernn" in text and "0.839" in text
