"""Step features: carried-forward values beside masks, elapsed times, normalisation from the
training subjects only, static descriptors."""

import numpy as np
import pandas as pd

from liquidts.classify.data import encode, fit_encoding, normalise, split_static
from liquidts.classify.validate import read_observations


def _obs(rows):
    X = pd.DataFrame(rows, columns=["id", "time", "variable", "value"])
    return read_observations(X, "id", "time", "variable", "value")


def test_features_of_one_subject():
    rows = [(1, 0, "age", 50), (1, 0, "hr", 80), (1, 10, "bp", 120), (1, 10, "hr", 90), (1, 10, "hr", 100),
            (1, 30, "bp", 110), (2, 0, "age", 60), (2, 5, "hr", 70)]
    obs, static, first = split_static(_obs(rows), ["age"], None)
    assert static[:, 0].tolist() == [50, 60] and first.tolist() == [0, 0]
    enc = fit_encoding(obs, static, ["age"], None)
    assert enc.variables == ["bp", "hr"] and enc.time_scale == 15.0  # median of the steps 10, 20
    data = encode(obs, static, first, enc)
    assert data.offsets.tolist() == [0, 3, 4]  # subject 1: times 0, 10, 30; subject 2: time 5
    f = data.features
    V = 2
    values, mask, since, step = f[:, :V], f[:, V:2 * V], f[:, 2 * V:3 * V], f[:, 3 * V]
    hr = lambda v: normalise(v, enc.center[1], enc.spread[1])  # noqa: E731
    assert np.allclose(values[:3, 1], [hr(80), hr(95), hr(95)], atol=1e-6)  # duplicates averaged, carried forward
    assert values[0, 0] == 0 and mask[0].tolist() == [0, 1] and mask[2].tolist() == [1, 0]
    assert np.allclose(np.expm1(since[:3, 1]) * 15, [0, 0, 20], atol=1e-5)  # since hr last seen
    assert np.allclose(np.expm1(since[:3, 0]) * 15, [0, 0, 0], atol=1e-5)  # bp: since start, then seen
    assert np.allclose(data.dt, [0, 10 / 15, 20 / 15, 0]) and np.allclose(np.expm1(step), data.dt, atol=1e-6)
    assert data.static.shape == (2, 2)  # age: two values only -> categorical one-hot
    batch = data.batch([1, 0])
    assert batch.x.shape == (2, 3, 7) and batch.lengths.tolist() == [1, 3] and batch.x[0, 1:].abs().sum() == 0


def test_normalisation_is_fitted_on_training_subjects_only():
    rows = [(i, float(t), "x", float(i)) for i in range(10) for t in range(3)]
    obs = _obs(rows)
    keep = obs.subject < 5
    from liquidts.classify.validate import Observations

    train = Observations(obs.ids, obs.subject[keep], obs.time[keep], obs.variable[keep], obs.value[keep],
                         obs.time_kind, False)
    enc = fit_encoding(train, np.zeros((10, 0)), [], None)
    assert enc.center[0] == 2.0  # the median of subjects 0-4, not of all ten


def test_a_subject_with_static_rows_only_gets_one_empty_step():
    rows = [(1, 0, "age", 50), (1, 3, "hr", 80), (2, 0, "age", 70)]
    obs, static, first = split_static(_obs(rows), ["age"], None)
    data = encode(obs, static, first, fit_encoding(obs, static, ["age"], None))
    assert data.lengths.tolist() == [1, 1] and data.features[1, 1] == 0  # hr not observed


def test_static_numeric_with_missing_marker():
    rows = [(i, 0, "w", float(v)) for i, v in enumerate([-1, 60, 70, 80, 90, 100, 110, 120, 130, 140])]
    rows += [(i, 1, "hr", 80.0) for i in range(10)]
    obs, static, first = split_static(_obs(rows), ["w"], -1)
    assert np.isnan(static[0, 0])
    enc = fit_encoding(obs, static, ["w"], -1)
    s = encode(obs, static, first, enc).static
    assert enc.static_kinds[0]["kind"] == "numeric" and s[0].tolist() == [0, 0] and s[1, 1] == 1
