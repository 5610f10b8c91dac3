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


@pytest.mark.slow
def test_quick_search_scores_the_hand_designed_cores_and_the_search_alike(tmp_path, monkeypatch):
    """``python -m benchmarks search --quick``: 2 generations x 4 genomes on 2 workers beside the
    hand-designed cores, one evaluation for all, and the STAR check against the best of them; run
    again on its checkpoint, it reads everything back."""
    pytest.importorskip("pymoo")
    if not DATA.exists():
        pytest.skip(f"../shared/data is not beside the checkout ({DATA})")
    argv = ["search", "--quick", "--out", str(tmp_path), "--data-home", str(DATA),
            "--checkpoint", str(tmp_path / "search.ckpt.json")]
    assert main(argv) == 0
    body = json.loads((tmp_path / "search-ETTh1-96-quick.json").read_text())
    hand = {r["model"]: r for r in body["hand_designed"]}
    assert set(hand) == {"CfC (default core)", "LSTM", "Transformer", "Mamba/CfC hybrid"}
    assert all(r["error"] is None and r["val_loss"] > 0 for r in hand.values())
    assert len(body["history"]) >= 4 and body["meta"]["evaluations"] == len(body["history"])
    best = min(r["val_loss"] for r in hand.values())
    wins = [r for r in body["history"] if r["error"] is None and r["val_loss"] <= 1.01 * best
            and r["state_bytes"] <= 0.7 * min(hand.values(), key=lambda r: r["val_loss"])["state_bytes"]
            and r["params"] <= 0.87 * min(hand.values(), key=lambda r: r["val_loss"])["params"]]
    assert body["meta"]["bar_met"] == bool(wins)
    table = (tmp_path / "search-ETTh1-96-quick.md").read_text()
    assert "STAR's margins" in table and "Hand-designed cores" in table and "gain_kept" in table
    timed = sum(r["seconds"] for r in body["history"]) / 3600
    assert f"records {timed:.1f} h of evaluation" in table and f"for {len(body['history'])} of the" in table
    assert (tmp_path / "search-ETTh1-96-quick.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    from benchmarks import search

    def refit(*args):
        raise AssertionError("the hand-designed cores were fitted again")

    monkeypatch.setattr(search, "hand_designed", refit)
    assert main(argv) == 0
    again = json.loads((tmp_path / "search-ETTh1-96-quick.json").read_text())
    assert again["hand_designed"] == body["hand_designed"] and again["history"] == body["history"]


def test_gain_kept_is_the_share_of_the_best_cores_improvement_on_no_core():
    import pandas as pd

    from benchmarks.search import _table, with_gain_kept

    frame = pd.DataFrame({"val_loss": [0.90, 0.95, 1.00, 0.88]})
    kept = with_gain_kept(frame, without_core=1.0, best_loss=0.90)["gain_kept"]
    assert kept.round(6).tolist() == [1.0, 0.5, 0.0, 1.2]
    none_better = with_gain_kept(frame.assign(genome="g"), without_core=0.8, best_loss=0.9)
    assert none_better["gain_kept"].isna().all()
    assert all(line.endswith("| n/a |") for line in _table(none_better, ["genome", "gain_kept"])[2:])


def test_seattle_ceiling_scores_every_learner_on_the_test_origins(capsys):
    from benchmarks import seattle_ceiling

    assert seattle_ceiling.main(["--lookbacks", "1"]) == 0
    rows = [line.split("|") for line in capsys.readouterr().out.splitlines()[2:]]
    mae = {(r[1].strip(), r[2].strip()): float(r[4]) for r in rows}
    assert len(mae) == 7  # 4 learners on temp_max, 3 on all observations (no Huber there)
    # Every learner forecasts a week of Seattle's daily maximum within a few degrees; ridge on
    # the last day and the season is well ahead of persistence (3.33 degC on these origins).
    assert all(1.5 < value < 3.5 for value in mae.values())
    assert mae[("ridge", "temp_max")] < 2.8
