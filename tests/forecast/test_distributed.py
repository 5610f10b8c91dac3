"""A fit across 2 processes (torchrun, gloo on the CPU) equals the fit of one process on the
same global batches, and saves one file."""

import json
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import torch.distributed as dist

from liquidts.forecast import LiquidForecaster, distributed, training

ROOT = Path(__file__).resolve().parents[2]

# dropout=0: dropout masks are drawn per process, so with dropout the fits differ (docs/forecasting.md).
# batch_size=33 splits each batch 17/16; 199 windows per epoch end on a batch of 1, so one process
# has nothing to train on in that step.
PARAMS = dict(horizon=8, lookback=32, units=8, backbone_units=8, max_epochs=2, batch_size=33,
              windows_per_epoch=199, dropout=0.0, random_state=0, n_threads=1, target="y")

SCRIPT = textwrap.dedent("""
    import json, sys
    import numpy as np, pandas as pd, torch
    import liquidts.forecast.training as training
    from liquidts.forecast import LiquidForecaster

    windows = []  # the windows this process computes the loss of
    loss_terms = training.loss_terms
    training.loss_terms = lambda pred, *rest: windows.append(len(pred)) or loss_terms(pred, *rest)
    data, params, out = sys.argv[1:]
    model = LiquidForecaster(**json.loads(params)).fit(pd.read_pickle(data))  # fit joins torchrun's group
    model.save(f"{out}/model/model.safetensors")
    rank = torch.distributed.get_rank()
    np.savez(f"{out}/rank{rank}.npz", world=torch.distributed.get_world_size(),
             forecast=model.predict()["y"].to_numpy(), loss_curve=model.loss_curve_,
             validation_scores=model.validation_scores_, validation_score=model.validation_score_,
             windows=sum(windows),
             **{k: v.numpy() for k, v in model.net_.state_dict().items()})
""")


def frame(n=400, seed=0) -> pd.DataFrame:
    """A noisy daily sine with a covariate and a few missing targets (the loss counts observed ones)."""
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    y = np.sin(2 * np.pi * t / 12) + 0.3 * np.sin(2 * np.pi * t / 50) + rng.normal(0, 0.1, n)
    y[[40, 41, 200, 333]] = np.nan
    return pd.DataFrame({"y": y, "x": np.cos(2 * np.pi * t / 12) + rng.normal(0, 0.1, n)},
                        index=pd.date_range("2020-01-01", periods=n, freq="D", name="date"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_one_process_is_not_distributed():
    assert distributed.join(torch.device("cpu")) is None  # no torchrun environment, no group


@pytest.mark.skipif(not (dist.is_available() and dist.is_gloo_available()),
                    reason="torch.distributed with the gloo backend is not available in this torch build")
def test_two_process_fit_equals_one_process_fit(tmp_path, monkeypatch):
    df = frame()
    df.to_pickle(tmp_path / "data.pkl")
    (tmp_path / "script.py").write_text(SCRIPT)
    (tmp_path / "model").mkdir()
    checkpoint = tmp_path / "fit.ckpt"  # written by rank 0 alone, removed at the end
    params = json.dumps({**PARAMS, "checkpoint": str(checkpoint)})
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR",
                                                              "MASTER_PORT")}
    env.update(OMP_NUM_THREADS="1", PYTHONPATH=os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]))
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nnodes=1", "--nproc_per_node=2",
           "--master_addr=127.0.0.1", f"--master_port={free_port()}",
           str(tmp_path / "script.py"), str(tmp_path / "data.pkl"), params, str(tmp_path)]
    result = subprocess.run(cmd, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-6000:]

    assert os.listdir(tmp_path / "model") == ["model.safetensors"]  # saved once, no temporary left
    assert not checkpoint.exists()
    ranks = [dict(np.load(tmp_path / f"rank{r}.npz")) for r in (0, 1)]
    assert all(int(r.pop("world")) == 2 for r in ranks)
    shares = [int(r.pop("windows")) for r in ranks]
    for key in ranks[0]:  # every process ends with the same network, scores and forecast
        np.testing.assert_array_equal(ranks[0][key], ranks[1][key], err_msg=key)

    windows = []
    real = training.loss_terms
    monkeypatch.setattr(training, "loss_terms", lambda pred, *rest: windows.append(len(pred)) or real(pred, *rest))
    single = LiquidForecaster(**PARAMS).fit(df)
    monkeypatch.undo()
    # Each process computed the loss of its shard of each batch: about half the windows.
    assert sum(shares) == sum(windows), (shares, sum(windows))
    assert all(0.4 < s / sum(windows) < 0.6 for s in shares), (shares, sum(windows))
    saved = LiquidForecaster.load(tmp_path / "model" / "model.safetensors")
    assert saved.n_epochs_ == single.n_epochs_ == 2
    np.testing.assert_allclose(ranks[0]["loss_curve"], single.loss_curve_, rtol=1e-5)
    np.testing.assert_allclose(ranks[0]["validation_scores"], single.validation_scores_, rtol=1e-5)
    np.testing.assert_allclose(ranks[0]["validation_score"], single.validation_score_, rtol=1e-5)
    state = single.net_.state_dict()
    diff = max(float((v - state[k]).abs().max()) for k, v in saved.net_.state_dict().items())
    assert diff < 1e-5, f"max parameter difference {diff:.3g}"
    forecast = saved.predict()["y"].to_numpy()
    np.testing.assert_allclose(forecast, single.predict()["y"].to_numpy(), atol=1e-5)
    np.testing.assert_array_equal(ranks[0]["forecast"], forecast)
    # The core's readout starts at zero and has trained: the equality covers trained weights.
    assert float((state["out.weight"]).abs().max()) > 1e-3
