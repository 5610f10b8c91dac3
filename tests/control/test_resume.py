"""A fit killed mid-way (SIGKILL, while writing a checkpoint) resumes from its last whole checkpoint
and ends with exactly the parameters and the log of an uninterrupted run with the same seed."""

import csv
import multiprocessing
import os
import signal

import pytest
import torch

from liquidts.control import BCArgs, ESArgs, bc, es, load_episodes, make_policy, record_expert, save_episodes
from liquidts.control.runs import CsvLog

RUNS = {
    "es": dict(generations=5, checkpoint_every=2, population=8, sigma=0.1, learning_rate=0.1, max_episode_steps=50),
    "bc": dict(epochs=5, checkpoint_every=2, seq_len=16, stride=16, batch_size=16),
}
PROGRESS = {"es": "generation", "bc": "epoch"}


def _expert(obs, env):
    x, v, theta, omega = obs
    return int(theta + 0.5 * omega + 0.01 * x + 0.1 * v > 0)


def _fit(algo, args, episodes, **kw):
    torch.manual_seed(0)
    policy = make_policy("CartPole-v1", "ncp", units=8)
    if algo == "es":
        return es(policy, "CartPole-v1", ESArgs(**args), seed=3, **kw)
    return bc(policy, load_episodes(episodes), BCArgs(**args), seed=3, **kw)


def _killed_fit(algo, args, episodes, checkpoint, log):
    """The fit, in a forked process that kills itself (no finally, no flush, no cleanup) half-way
    through writing its second checkpoint."""
    save, calls = torch.save, []

    def dying_save(obj, f, *a, **kw):
        calls.append(f)
        if len(calls) == 2:
            out = open(f, "wb") if isinstance(f, (str, os.PathLike)) else f
            out.write(b"half a checkpoint")
            out.flush()
            os.kill(os.getpid(), signal.SIGKILL)
        return save(obj, f, *a, **kw)

    torch.save = dying_save
    _fit(algo, args, episodes, checkpoint=checkpoint, log=log)


@pytest.mark.parametrize("algo", sorted(RUNS))
def test_a_killed_fit_resumes_to_the_uninterrupted_result(algo, tmp_path):
    episodes = tmp_path / "expert.npz"
    save_episodes(episodes, record_expert(_expert, "CartPole-v1", episodes=2, seed=0, max_steps=80))
    args = RUNS[algo]
    whole_log = tmp_path / "whole.csv"
    whole = _fit(algo, args, episodes, log=whole_log)

    checkpoint, log = tmp_path / "checkpoint.pt", tmp_path / "log.csv"
    killed = multiprocessing.get_context("fork").Process(target=_killed_fit,
                                                         args=(algo, args, episodes, checkpoint, log))
    killed.start()
    killed.join()
    assert killed.exitcode == -signal.SIGKILL
    # Killed while writing the checkpoint of progress 4: the one of progress 2 is whole, and the
    # log holds the rows of progress 1 to 4.
    assert torch.load(checkpoint, weights_only=True)[PROGRESS[algo]] == 2
    with open(log) as f:
        assert [int(row[PROGRESS[algo]]) for row in csv.DictReader(f)] == [1, 2, 3, 4]

    resumed = _fit(algo, args, episodes, checkpoint=checkpoint, log=log, resume=True)
    for (name, a), b in zip(whole.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), name
    assert log.read_text() == whole_log.read_text()


def test_a_resumed_log_keeps_the_complete_rows_up_to_the_checkpoint(tmp_path):
    path = tmp_path / "log.csv"
    path.write_text("step,return\n128,9.0\n256,11.0\n384,12.0\n51")  # the last row cut by a kill
    log = CsvLog(path, ["step", "return"], resumed_at=256)
    log.write([384, 13.0])
    log.close()
    assert path.read_text().splitlines() == ["step,return", "128,9.0", "256,11.0", "384,13.0"]
    CsvLog(path, ["step", "return"], resumed_at=None).close()  # a new run starts a new log
    assert path.read_text().splitlines() == ["step,return"]
