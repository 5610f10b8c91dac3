"""ArchitectureSearch: the tiny CI search (2 generations x 4 candidates, 2 workers), the same
result whatever the worker count, resume after a kill mid-generation, the front and the rule."""

import json
import sys
import time

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("pymoo")

from liquidts.search import ArchitectureSearch, Genome, plot_pareto  # noqa: E402
from liquidts.search import search as search_module  # noqa: E402

PARAMS = dict(horizon=4, lookback=16, segment=4, max_epochs=2, batch_size=32, calendar=False, units=8)
SEARCH = dict(population=4, generations=2, random_state=0, widths=(8, 16), max_blocks=2)


@pytest.fixture(scope="module")
def df():
    rng = np.random.default_rng(0)
    t = np.arange(160)
    return pd.DataFrame({"y": np.sin(t / 5) + 0.1 * rng.standard_normal(160)},
                        index=pd.date_range("2020", periods=160, freq="h"))


@pytest.fixture(scope="module")
def serial(df):
    return ArchitectureSearch(**SEARCH, n_workers=1).fit(df, **PARAMS)


def _table(search):
    return search.history_.drop(columns=["latency", "seconds"])  # wall clock


def test_tiny_search_with_two_workers_matches_one_worker(df, serial):
    start = time.perf_counter()
    parallel = ArchitectureSearch(**SEARCH, n_workers=2, refit=False).fit(df, **PARAMS)
    assert time.perf_counter() - start < 60
    pd.testing.assert_frame_equal(_table(parallel), _table(serial))
    pd.testing.assert_frame_equal(parallel.pareto_.drop(columns="latency"), serial.pareto_.drop(columns="latency"))
    assert parallel.best_genome_ == serial.best_genome_
    assert len(serial.history_) >= 4 and serial.history_["error"].isna().all()
    assert serial.populations_ and all(len(p) == 4 for p in serial.populations_)


def test_front_is_non_dominated_and_the_choice_follows_the_rule(serial):
    front, everything = serial.pareto_, serial.history_
    objectives = ["val_loss", "params", "state_bytes"]
    for _, row in front.iterrows():
        values = everything[objectives]
        better = (values <= row[objectives]).all(axis=1) & (values < row[objectives]).any(axis=1)
        assert not better.any()
    best = front.sort_values(["val_loss", "state_bytes"]).iloc[0]
    assert serial.best_genome_ == Genome.from_string(best["genome"])
    # best_estimator_ is the chosen genome's evaluation fitted again: the same fit.
    assert serial.best_estimator_.validation_score_ == pytest.approx(best["val_loss"], rel=1e-6)
    assert serial.best_estimator_.predict().shape == (4, 1)
    loose = ArchitectureSearch(tolerance=10.0)._choose(front)
    assert loose == front.sort_values(["state_bytes", "params"]).iloc[0]["genome"]


def test_resume_after_a_kill_mid_generation(df, serial, tmp_path, monkeypatch):
    path = tmp_path / "search.json"
    real = search_module.evaluate_genome
    calls = []

    def dying(*args):
        if len(calls) == 6:  # generation 1 done (4), two of generation 2's: the process is killed
            raise KeyboardInterrupt
        calls.append(args[0])
        return real(*args)

    monkeypatch.setattr(search_module, "evaluate_genome", dying)
    with pytest.raises(KeyboardInterrupt):
        ArchitectureSearch(**SEARCH, refit=False, checkpoint=path).fit(df, **PARAMS)
    saved = json.loads(path.read_text())
    # Generation 1's population and every finished evaluation, generation 2's two included.
    assert len(saved["populations"]) == 1 and saved["order"] == calls == [e["genome"] for e in saved["evaluations"]]

    resumed_calls = []

    def counting(*args):
        resumed_calls.append(args[0])
        return real(*args)

    monkeypatch.setattr(search_module, "evaluate_genome", counting)
    resumed = ArchitectureSearch(**SEARCH, refit=False, checkpoint=path).fit(df, **PARAMS)
    assert not set(resumed_calls) & set(calls)  # what finished before the kill is read back, not re-fitted
    pd.testing.assert_frame_equal(_table(resumed), _table(serial))
    assert resumed.populations_ == serial.populations_
    assert len(json.loads(path.read_text())["populations"]) == 2


def test_a_finished_search_extends_from_its_checkpoint(df, serial, tmp_path, monkeypatch, capsys):
    """More generations than the checkpoint holds: the recorded one is replayed without a fit and
    the search goes on to where an uninterrupted one ends; fewer: the checkpoint's later
    generations are not reported."""
    path = tmp_path / "search.json"
    one = ArchitectureSearch(**dict(SEARCH, generations=1), refit=False, checkpoint=path).fit(df, **PARAMS)
    first = set(one.history_["genome"])
    calls = []
    real = search_module.evaluate_genome

    def counting(*args):
        calls.append(args[0])
        return real(*args)

    monkeypatch.setattr(search_module, "evaluate_genome", counting)
    extended = ArchitectureSearch(**SEARCH, refit=False, checkpoint=path).fit(df, **PARAMS)
    assert calls and not set(calls) & first
    pd.testing.assert_frame_equal(_table(extended), _table(serial))
    assert extended.populations_ == serial.populations_
    capsys.readouterr()
    again = ArchitectureSearch(**dict(SEARCH, generations=1), refit=False, checkpoint=path,
                               verbose=True).fit(df, **PARAMS)
    pd.testing.assert_frame_equal(_table(again), _table(one))
    progress = capsys.readouterr().err
    assert "generation 1/1: 0 evaluated" in progress and "search: 100%" in progress and "4/4" in progress
    assert len(json.loads(path.read_text())["populations"]) == 2


def test_a_checkpoint_of_another_search_is_not_used(df, tmp_path):
    path = tmp_path / "search.json"
    path.write_text(json.dumps({"format": "liquidts.ArchitectureSearch/1", "fingerprint": "other",
                                "evaluations": [], "populations": [["x"]], "order": []}))
    with pytest.warns(UserWarning, match="another search"):
        ArchitectureSearch(**dict(SEARCH, generations=1), refit=False, checkpoint=path).fit(df, **PARAMS)


def test_pareto_plot(serial):
    ax = plot_pareto(serial)
    assert ax.get_xlabel() == "state_bytes" and ax.get_ylabel() == "val_loss"


def test_parameter_checks_and_missing_ray(df, monkeypatch):
    with pytest.raises(ValueError, match="objectives"):
        ArchitectureSearch(objectives=("val_loss", "speed")).fit(df, **PARAMS)
    with pytest.raises(ValueError, match="set by the search"):
        ArchitectureSearch(**SEARCH).fit(df, model="cfc", **PARAMS)
    with pytest.raises(ValueError, match="validation_fraction"):
        ArchitectureSearch(**SEARCH).fit(df, validation_fraction=0, **PARAMS)
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(ImportError, match="pip install 'liquidts\\[ray\\]'"):
        ArchitectureSearch(**SEARCH, n_workers=2, backend="ray").fit(df, **PARAMS)


@pytest.mark.slow
def test_ray_backend_gives_the_same_search(df, serial):
    pytest.importorskip("ray")
    on_ray = ArchitectureSearch(**SEARCH, n_workers=2, backend="ray", refit=False).fit(df, **PARAMS)
    pd.testing.assert_frame_equal(_table(on_ray), _table(serial))


def test_a_failing_evaluation_is_recorded_not_fatal(df):
    out = search_module.evaluate_genome("cfc:8:d0", df.iloc[:10], PARAMS | {"units": 8}, 0, 8)
    assert out["val_loss"] == search_module.FAILED and "ValueError" in out["error"]
    ok = search_module.evaluate_genome("mlp:8", df, {k: v for k, v in PARAMS.items() if k != "units"}, 0, 8)
    assert ok["error"] is None and ok["state_bytes"] == 0 and ok["latency"] > 0 and ok["seconds"] > 0


_SCRIPT = """
import sys, numpy as np, pandas as pd, torch
torch.set_num_threads(1)
from liquidts.search import ArchitectureSearch
t = np.arange(160)
df = pd.DataFrame({"y": np.sin(t / 5) + 0.1 * np.random.default_rng(0).standard_normal(160)},
                  index=pd.date_range("2020", periods=160, freq="h"))
ArchitectureSearch(population=4, generations=3, random_state=0, widths=(8, 16), max_blocks=2, refit=False,
                   checkpoint=sys.argv[1]).fit(df, **%r)
""" % PARAMS


@pytest.mark.slow
def test_resume_after_sigkill(df, tmp_path):
    """A real kill (SIGKILL) after the first generation's checkpoint: the file is whole and the
    resumed search ends where an uninterrupted one does."""
    import subprocess

    path = tmp_path / "search.json"
    proc = subprocess.Popen([sys.executable, "-c", _SCRIPT, str(path)])
    try:
        deadline = time.time() + 120
        while time.time() < deadline and proc.poll() is None:
            if path.exists() and len(json.loads(path.read_text())["populations"]) >= 1:
                break
            time.sleep(0.02)
        proc.kill()
    finally:
        proc.wait()
    killed_at = len(json.loads(path.read_text())["populations"])
    assert 1 <= killed_at < 3
    resumed = ArchitectureSearch(**dict(SEARCH, generations=3), refit=False, checkpoint=path).fit(df, **PARAMS)
    whole = ArchitectureSearch(**dict(SEARCH, generations=3), refit=False).fit(df, **PARAMS)
    pd.testing.assert_frame_equal(_table(resumed), _table(whole))
    assert resumed.populations_ == whole.populations_
