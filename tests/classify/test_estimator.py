"""LiquidClassifier: scikit-learn conventions, persistence, reproducibility, and that it learns."""

import pickle

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from liquidts import LiquidClassifier
from liquidts.classify import available_models

from ._helpers import timing_frame, tiny, value_frame


@pytest.fixture(scope="module")
def timing():
    return timing_frame()


@pytest.fixture(scope="module")
def fitted(timing):
    X, y = timing
    return tiny(max_epochs=2).fit(X, y)


def test_a_liquid_model_learns_from_the_timing_alone():
    """Every value is 1.0: only the times separate the classes, on subjects never seen in training."""
    X, y = timing_frame(200, seed=0)
    X_test, y_test = timing_frame(80, seed=1)
    clf = tiny(max_epochs=30, learning_rate=1e-2, patience=30).fit(X, y)
    assert clf.score(X_test, y_test) >= 0.9


def test_sklearn_conventions(timing, fitted):
    X, y = timing
    est = LiquidClassifier(units=8)
    assert est.get_params()["units"] == 8 and not hasattr(est, "classes_")
    with pytest.raises(NotFittedError):
        est.predict(X)
    assert fitted.classes_.tolist() == [0, 1] and fitted.n_classes_ == 2
    proba = fitted.predict_proba(X)
    assert proba.shape == (y.size, 2) and np.allclose(proba.sum(1), 1)
    assert set(fitted.predict(X)) <= {0, 1}
    odds = fitted.decision_function(X)
    assert odds.shape == (y.size,) and np.allclose(1 / (1 + np.exp(-odds)), proba[:, 1], atol=1e-5)
    assert 0 <= fitted.score(X, y) <= 1
    assert fitted.subject_ids(X) == sorted(y.index)
    twin = clone(fitted)
    assert twin.get_params() == fitted.get_params() and not hasattr(twin, "net_")
    assert twin.set_params(units=4) is twin and twin.units == 4
    assert fitted.n_epochs_ == 2 and len(fitted.validation_scores_) == 3 and len(fitted.epoch_seconds_) == 2


def test_labels_aligned_by_id_or_by_position(timing):
    X, y = timing
    shuffled = y.sample(frac=1.0, random_state=0)
    a = tiny(max_epochs=1).fit(X, shuffled).predict_proba(X)
    b = tiny(max_epochs=1).fit(X, y.sort_index().to_numpy()).predict_proba(X)
    assert np.array_equal(a, b)


def test_random_state_reproduces_the_fit_and_threads_are_restored(timing):
    X, y = timing
    torch.set_num_threads(2)
    a = tiny(max_epochs=2, n_threads=1).fit(X, y)
    assert torch.get_num_threads() == 2
    b = tiny(max_epochs=2, n_threads=1).fit(X, y)
    torch.set_num_threads(1)
    assert np.array_equal(a.predict_proba(X), b.predict_proba(X))
    c = tiny(max_epochs=2, random_state=1).fit(X, y)
    assert not np.array_equal(a.predict_proba(X), c.predict_proba(X))


def test_pickle_and_save_load_are_bit_identical(timing, fitted, tmp_path):
    X, _ = timing
    expected = fitted.predict_proba(X)
    assert np.array_equal(pickle.loads(pickle.dumps(fitted)).predict_proba(X), expected)
    path = tmp_path / "clf.safetensors"
    fitted.save(path)
    loaded = LiquidClassifier.load(path)
    assert np.array_equal(loaded.predict_proba(X), expected)
    assert loaded.get_params() == fitted.get_params() and loaded.classes_.tolist() == [0, 1]
    assert [p.name for p in tmp_path.iterdir()] == ["clf.safetensors"]  # no temporary file left
    # weights_only-safe: the file is safetensors, readable without pickle
    from safetensors.torch import load_file

    assert all(isinstance(v, torch.Tensor) for v in load_file(str(path)).values())


def test_a_failed_save_leaves_the_previous_file(timing, fitted, tmp_path, monkeypatch):
    path = tmp_path / "clf.safetensors"
    fitted.save(path)
    before = path.read_bytes()
    import safetensors.torch

    def broken(tensors, filename, metadata=None):
        open(filename, "wb").write(b"half")
        raise OSError("disk full")

    monkeypatch.setattr(safetensors.torch, "save_file", broken)
    with pytest.raises(OSError, match="disk full"):
        fitted.save(path)
    assert path.read_bytes() == before and [p.name for p in tmp_path.iterdir()] == ["clf.safetensors"]


def test_load_refuses_an_altered_or_foreign_file(fitted, tmp_path):
    path = tmp_path / "clf.safetensors"
    fitted.save(path)
    data = bytearray(path.read_bytes())
    data[-3] ^= 0xFF  # one flipped bit pattern in the last weight
    altered = tmp_path / "altered.safetensors"
    altered.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="not a valid liquidts file: .*checksum mismatch"):
        LiquidClassifier.load(altered)
    truncated = tmp_path / "truncated.safetensors"
    truncated.write_bytes(bytes(data[: len(data) // 2]))
    with pytest.raises(ValueError, match="not a valid liquidts file: .*unreadable"):
        LiquidClassifier.load(truncated)
    from safetensors.torch import save_file

    foreign = tmp_path / "foreign.safetensors"
    save_file({"w": torch.zeros(2)}, str(foreign))
    with pytest.raises(ValueError, match="not a file written by LiquidClassifier.save"):
        LiquidClassifier.load(foreign)
    with pytest.raises(FileNotFoundError):
        LiquidClassifier.load(tmp_path / "missing.safetensors")


def test_multiclass_strings_static_class_weight_and_eval_set(tmp_path):
    X, y = value_frame()
    X_val, y_val = value_frame(30, seed=5)
    clf = tiny(static=["age"], class_weight="balanced", max_epochs=15, learning_rate=1e-2).fit(
        X, y, eval_set=(X_val, y_val))
    assert clf.classes_.tolist() == ["high", "low", "mid"]
    assert clf.variables_ == ["a", "b"] and clf.n_features_in_ == 7
    assert clf.score(X_val, y_val) > 0.8
    path = tmp_path / "m.safetensors"
    clf.save(path)
    loaded = LiquidClassifier.load(path)
    assert loaded.predict(X_val).tolist() == clf.predict(X_val).tolist()
    weighted = tiny(class_weight={"low": 2.0}, max_epochs=1).fit(X, y)
    assert LiquidClassifier.load(_saved(weighted, tmp_path)).class_weight == {"low": 2.0}


def _saved(est, tmp_path):
    path = tmp_path / "w.safetensors"
    est.save(path)
    return path


def test_static_missing_marker_is_missing_not_a_value():
    X, y = value_frame()
    X.loc[X["variable"].eq("age") & X["id"].lt(110), "value"] = -1
    clf = tiny(static="age", static_missing=-1, max_epochs=1).fit(X, y)
    kind = clf.encoding_.static_kinds[0]
    assert kind["kind"] == "numeric" and kind["center"] > 20


def test_list_of_frames_and_timestamps(timing):
    X, y = timing
    ids = sorted(y.index)
    frames = [X[X["id"] == u].drop(columns="id") for u in ids]
    by_list = tiny(max_epochs=1).fit(frames, y.loc[ids].to_numpy())
    by_frame = tiny(max_epochs=1).fit(X, y)
    assert np.allclose(by_list.predict_proba(frames), by_frame.predict_proba(X), atol=1e-6)
    stamped = X.assign(time=pd.Timestamp("2024-01-01") + pd.to_timedelta(X["time"], unit="h"))
    by_time = tiny(max_epochs=1).fit(stamped, y)
    assert by_time.time_kind_ == "datetime"
    # the same data in hours or as timestamps: the time scale is learned, so the fit is the same
    assert np.allclose(by_time.predict_proba(stamped), by_frame.predict_proba(X), atol=1e-5)
    with pytest.raises(TypeError, match="fitted on datetime"):
        by_time.predict(X)


def test_verbose_shows_progress(timing, capsys):
    X, y = timing
    tiny(max_epochs=2).fit(X, y)
    assert "epoch" not in capsys.readouterr().err
    tiny(max_epochs=2, verbose=True).fit(X, y)
    assert "epoch" in capsys.readouterr().err


def test_failed_fit_keeps_the_previous_fit(timing, fitted):
    X, y = timing
    clf = clone(fitted).fit(X, y)
    before = clf.predict_proba(X)
    with pytest.raises(ValueError):
        clf.fit(X, y.iloc[:-1])
    assert np.array_equal(clf.predict_proba(X), before)


@pytest.mark.parametrize("model", available_models())
def test_every_model_fits_and_round_trips(model, timing, tmp_path):
    X, y = timing
    ids = sorted(y.index)[:24]
    X, y = X[X["id"].isin(ids)], y.loc[ids]
    # Attention splits its width into 4 heads of even width (rotary positions): 8 at least.
    units = 8 if model in ("transformer", "striped_hyena") else 4
    clf = tiny(model=model, units=units, max_epochs=1, validation_fraction=0.25).fit(X, y)
    proba = clf.predict_proba(X)
    assert proba.shape == (24, 2) and np.isfinite(proba).all()
    assert np.array_equal(LiquidClassifier.load(_saved(clf, tmp_path)).predict_proba(X), proba)


def test_custom_module(timing, tmp_path):
    from liquidts.nn import CfC

    X, y = timing
    clf = tiny(model=CfC(7, 5), max_epochs=1).fit(X, y)
    path = _saved(clf, tmp_path)
    with pytest.raises(ValueError, match="custom module"):
        LiquidClassifier.load(path)
    assert np.array_equal(LiquidClassifier.load(path, model=CfC(7, 5)).predict_proba(X), clf.predict_proba(X))


def test_a_searched_genome_as_the_core(timing, tmp_path):
    """A genome from liquidts.search builds the classifier's core too: at the width of the
    classifier's features (3 per variable + 1), returning every step's output."""
    from liquidts.search import build

    X, y = timing
    genome = "cfc:8:d1+res|mamba:8+ln+res|lstm:8+f"
    clf = tiny(model=build(genome, 7, return_sequences=True), max_epochs=1).fit(X, y)
    proba = clf.predict_proba(X)
    assert clf.n_features_in_ == 7 and np.isfinite(proba).all()
    loaded = LiquidClassifier.load(_saved(clf, tmp_path), model=build(genome, 7, return_sequences=True))
    assert np.array_equal(loaded.predict_proba(X), proba)
