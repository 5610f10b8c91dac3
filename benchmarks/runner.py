"""Fit and score every model of a suite on every task; one JSON record per (task, model, seed).

A record holds the errors over all test origins, the fit time, the predict time per window,
the parameter count and the size of the state a model carries between windows. Records are
appended to the suite's JSON file as they finish, so a long run that stops can be resumed
(``--resume`` skips what is there).
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import numpy as np
import torch

from benchmarks import models


def _state_floats(est) -> int | None:
    """Floats of the state the network's core carries per sequence (None without a core)."""
    net = getattr(est, "net_", None)
    if net is None or net.core is None:
        return None
    with torch.no_grad():
        _, h = net.core(torch.zeros(1, 2, net.config.width), None, torch.ones(1, 2))
    flat = [h] if isinstance(h, torch.Tensor) else list(_leaves(h))
    return int(sum(t.numel() for t in flat))


def _leaves(state):
    for item in state:
        if isinstance(item, torch.Tensor):
            yield item
        elif isinstance(item, (tuple, list)):
            yield from _leaves(item)


def _parameters(est) -> int | None:
    net = getattr(est, "net_", None)
    if net is not None:
        return int(sum(p.numel() for p in net.parameters()))
    coef = getattr(est, "coef_", None)
    return None if coef is None else int(np.size(coef))


def run_one(task, name: str, seed: int, params: dict) -> dict:
    """Fit ``name`` on ``task`` and score it over every test origin."""
    est = models.build(name, task, seed, **params)
    start = time.perf_counter()
    est.fit(task.frame.iloc[: task.fit_end])
    fit_s = time.perf_counter() - start
    start = time.perf_counter()
    pred = est.rolling_forecast(task.frame.iloc[: task.test_end], task.test_start)  # (origins, H, T)
    predict_s = time.perf_counter() - start
    truth = task.truth()
    err = pred - truth
    record = dict(task=task.name, model=name, seed=seed, mse=float(np.nanmean(err ** 2)),
                  mae=float(np.nanmean(np.abs(err))), windows=int(len(err)), fit_s=round(fit_s, 2),
                  predict_ms_per_window=round(1000 * predict_s / len(err), 4), parameters=_parameters(est),
                  state_floats=_state_floats(est))
    if models.is_network(name):
        record.update(epochs=est.n_epochs_, lookback=est.lookback_, segment=est.segment_,
                      normalization=est.normalization_ if est.normalization != "auto" else
                      ("window" if bool(est.net_.window_norm) else "series"))
    return record


def run_suite(tasks, names, seeds, params, path: Path, resume: bool, log=print) -> list:
    """Run every (task, model, seed) not yet in ``path`` (with ``resume``), appending records."""
    done = json_records(path) if resume else []
    have = {(r["task"], r["model"], r["seed"]) for r in done}
    records = list(done)
    for task in tasks:
        for name in names:
            for seed in (seeds if models.is_network(name) else seeds[:1]):
                if (task.name, name, seed) in have:
                    continue
                record = run_one(task, name, seed, params)
                records.append(record)
                log(f"{task.name:>18} {name:>14} seed {seed}: MSE {record['mse']:.4f} MAE {record['mae']:.4f} "
                    f"fit {record['fit_s']:.0f} s")
                write_records(path, records)
    return records


def json_records(path: Path) -> list:
    """The records already in ``path`` (none when it does not exist)."""
    return json.loads(path.read_text())["records"] if path.exists() else []


def write_records(path: Path, records: list, meta: dict | None = None) -> None:
    """Write the records (and the run's description) atomically: a kill never leaves half a file."""
    previous = json.loads(path.read_text()).get("meta", {}) if path.exists() else {}
    body = {"meta": meta or previous, "records": records}
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(body, indent=1, default=_plain))
    tmp.replace(path)


def _plain(value):
    if isinstance(value, (np.integer, np.floating)):
        return value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    raise TypeError(type(value).__name__)
