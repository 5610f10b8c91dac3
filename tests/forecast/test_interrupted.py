"""Interrupted fits: a refit stopped mid-way leaves the fitted model as it was, partial_fit keeps
its optimizer, and a fit killed mid-way resumes from its checkpoint to the same weights."""

import copy
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from liquidts.forecast import estimator as estimator_module
from liquidts.forecast import training as training_module

from ._helpers import tiny, wide_frame

ROOT = Path(__file__).resolve().parents[2]


def _interrupt_training_after(monkeypatch, epochs: int):
    """Make the training loop raise KeyboardInterrupt (Ctrl-C) after ``epochs`` epochs."""
    real = training_module.train

    def train(*args, progress=None, **kw):
        done = []

        def ctrl_c(**scores):
            done.append(scores)
            if len(done) >= epochs:
                raise KeyboardInterrupt

        return real(*args, progress=ctrl_c, **kw)

    monkeypatch.setattr(training_module, "train", train)


def _snapshot(est, df):
    return dict(params=est.get_params(), pred=est.predict(), pred_df=est.predict(df=df.iloc[-30:]),
                weights={k: v.clone() for k, v in est.net_.state_dict().items()},
                optimizer=copy.deepcopy(est.optimizer_state_), n_epochs=est.n_epochs_,
                history=[(s.times.copy(), s.values.copy()) for s in est.history_])


def _assert_unchanged(est, before, df):
    assert est.get_params() == before["params"]
    assert not est.net_.training, "the fitted network stays in eval mode"
    assert est.n_epochs_ == before["n_epochs"]
    for k, v in before["weights"].items():
        assert torch.equal(est.net_.state_dict()[k], v), k
    _assert_same_optimizer(est.optimizer_state_, before["optimizer"])
    for (t, v), s in zip(before["history"], est.history_):
        np.testing.assert_array_equal(s.times, t)
        np.testing.assert_array_equal(s.values, v)
    pd.testing.assert_frame_equal(est.predict(), before["pred"], check_exact=True)
    pd.testing.assert_frame_equal(est.predict(df=df.iloc[-30:]), before["pred_df"], check_exact=True)


def _assert_same_optimizer(a, b):
    assert a.keys() == b.keys() and a["param_groups"] == b["param_groups"]
    assert a["state"].keys() == b["state"].keys()
    for k in a["state"]:
        for name, value in a["state"][k].items():
            assert torch.equal(value, b["state"][k][name]), (k, name)


@pytest.mark.parametrize("how", ["refit", "warm_start", "partial_fit"])
def test_ctrl_c_during_a_refit_leaves_the_fitted_model_intact(monkeypatch, how):
    df = wide_frame()
    est = tiny(target="load", validation_fraction=0, max_epochs=3)
    est.partial_fit(df) if how == "partial_fit" else est.fit(df)
    before = _snapshot(est, df)
    _interrupt_training_after(monkeypatch, epochs=1 if how == "partial_fit" else 2)
    other = df.assign(load=df["load"] * 1.1)
    with pytest.raises(KeyboardInterrupt):
        if how == "refit":
            est.fit(other)
        elif how == "warm_start":
            est.set_params(warm_start=True).fit(other)
        else:
            est.partial_fit(other)
    est.set_params(warm_start=False)
    _assert_unchanged(est, before, df)


def test_partial_fit_keeps_the_optimizer_moments_across_calls():
    df = wide_frame()
    est = tiny(target="load", validation_fraction=0).partial_fit(df)
    first = copy.deepcopy(est.optimizer_state_)
    steps = int(first["state"][0]["step"])
    assert steps > 0
    est.partial_fit(df)
    second = est.optimizer_state_
    assert int(second["state"][0]["step"]) == 2 * steps, "the second call continues the step count"
    # The moments carry over: a fresh optimizer's first moments after the same number of steps differ.
    fresh = tiny(target="load", validation_fraction=0).partial_fit(df)
    assert not torch.equal(second["state"][0]["exp_avg"], fresh.optimizer_state_["state"][0]["exp_avg"])
    assert not torch.equal(second["state"][0]["exp_avg"], first["state"][0]["exp_avg"])


# ----- checkpoints and resume ---------------------------------------------------------------

SETTINGS = dict(target="load", max_epochs=8, patience=3, random_state=0)


def _kill_after_checkpoint(monkeypatch, epoch: int):
    """The process dies (KeyboardInterrupt) right after the checkpoint of ``epoch`` is written."""
    real = estimator_module._checkpoint_writer

    def writer(path, fingerprint, seed):
        write = real(path, fingerprint, seed)

        def write_then_die(state):
            write(state)
            if state["epochs"] == epoch:
                raise KeyboardInterrupt

        return write_then_die

    monkeypatch.setattr(estimator_module, "_checkpoint_writer", writer)


def _record_resume(monkeypatch):
    seen = []
    real = training_module.train

    def train(*args, resume=None, **kw):
        seen.append(None if resume is None else resume["epochs"])
        return real(*args, resume=resume, **kw)

    monkeypatch.setattr(training_module, "train", train)
    return seen


def _assert_same_fit(a, b):
    assert a.n_epochs_ == b.n_epochs_
    assert a.loss_curve_ == b.loss_curve_ and a.validation_scores_ == b.validation_scores_
    for k, v in a.net_.state_dict().items():
        assert torch.equal(v, b.net_.state_dict()[k]), k
    _assert_same_optimizer(a.optimizer_state_, b.optimizer_state_)
    pd.testing.assert_frame_equal(a.predict(), b.predict(), check_exact=True)


def test_a_fit_interrupted_after_a_checkpoint_resumes_to_the_same_weights(tmp_path, monkeypatch):
    df = wide_frame()
    path = tmp_path / "fit.ckpt"
    _kill_after_checkpoint(monkeypatch, epoch=2)
    with pytest.raises(KeyboardInterrupt):
        tiny(**SETTINGS, checkpoint=path).fit(df)
    assert path.exists()
    monkeypatch.undo()
    seen = _record_resume(monkeypatch)
    resumed = tiny(**SETTINGS, checkpoint=path).fit(df)
    assert seen == [2], "the second fit resumed after epoch 2"
    assert not path.exists(), "a completed fit removes its checkpoint"
    uninterrupted = tiny(**SETTINGS).fit(df)
    assert uninterrupted.n_epochs_ > 2
    _assert_same_fit(resumed, uninterrupted)


def test_resume_without_random_state_reuses_the_interrupted_seed(tmp_path, monkeypatch):
    df = wide_frame()
    path = tmp_path / "fit.ckpt"
    settings = {**SETTINGS, "random_state": None}
    _kill_after_checkpoint(monkeypatch, epoch=1)
    with pytest.raises(KeyboardInterrupt):
        tiny(**settings, checkpoint=path).fit(df)
    seed = torch.load(path, weights_only=True)["seed"]
    monkeypatch.undo()
    resumed = tiny(**settings, checkpoint=path).fit(df)
    _assert_same_fit(resumed, tiny(**{**settings, "random_state": seed}).fit(df))


def test_a_checkpoint_of_another_fit_is_not_resumed(tmp_path, monkeypatch):
    df = wide_frame()
    path = tmp_path / "fit.ckpt"
    _kill_after_checkpoint(monkeypatch, epoch=1)
    with pytest.raises(KeyboardInterrupt):
        tiny(**SETTINGS, checkpoint=path).fit(df.iloc[:-5])  # other data
    monkeypatch.undo()
    seen = _record_resume(monkeypatch)
    with pytest.warns(UserWarning, match="belongs to another fit"):
        fresh = tiny(**SETTINGS, checkpoint=path).fit(df)
    assert seen == [None]
    _assert_same_fit(fresh, tiny(**SETTINGS).fit(df))
    path.write_bytes(b"not a checkpoint")
    with pytest.warns(UserWarning, match="unreadable"):
        tiny(**SETTINGS, checkpoint=path).fit(df)


def test_a_warm_start_resumes_from_its_checkpoint(tmp_path, monkeypatch):
    df = wide_frame()
    path = tmp_path / "fit.ckpt"
    base = tiny(**SETTINGS).fit(df.iloc[:-10])
    expected = copy.deepcopy(base).set_params(warm_start=True, max_epochs=4).fit(df)
    _kill_after_checkpoint(monkeypatch, epoch=2)
    interrupted = copy.deepcopy(base).set_params(warm_start=True, max_epochs=4, checkpoint=path)
    with pytest.raises(KeyboardInterrupt):
        interrupted.fit(df)
    monkeypatch.undo()
    _assert_same_fit(interrupted.fit(df), expected)


CHILD = textwrap.dedent("""
    import sys, time
    import torch
    torch.set_num_threads(1)
    from liquidts.forecast import estimator
    from tests.forecast._helpers import tiny, wide_frame
    from tests.forecast.test_interrupted import SETTINGS

    real = estimator._checkpoint_writer

    def writer(path, fingerprint, seed):
        write = real(path, fingerprint, seed)
        def write_then_hang(state):
            write(state)
            if state["epochs"] == 2:
                time.sleep(600)  # a long epoch: the parent kills the process here
        return write_then_hang

    estimator._checkpoint_writer = writer
    tiny(**SETTINGS, checkpoint=sys.argv[1]).fit(wide_frame())
""")


@pytest.mark.slow
def test_a_killed_fit_resumes_to_the_same_weights(tmp_path):
    path = tmp_path / "fit.ckpt"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MPLBACKEND": "Agg"}
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(path)], cwd=ROOT, env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and child.poll() is None:
            if path.exists() and torch.load(path, weights_only=True)["train"]["epochs"] == 2:
                break
            time.sleep(0.2)
        assert child.poll() is None, child.stdout.read().decode()
        assert path.exists(), "no checkpoint of epoch 2 within the time limit"
        child.send_signal(signal.SIGKILL)
    finally:
        if child.poll() is None:
            child.kill()
        child.wait()
    df = wide_frame()
    _assert_same_fit(tiny(**SETTINGS, checkpoint=path).fit(df), tiny(**SETTINGS).fit(df))
    assert not path.exists()
