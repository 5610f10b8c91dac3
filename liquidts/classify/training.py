"""The classifier's training loop: AdamW on class-weighted cross-entropy, batches of similar
length, early stopping on a validation split by ROC AUC (two classes) or log-loss.

A non-finite loss stops training and keeps the last good weights (``TrainingRun.diverged``).
Letters: B batch, C classes.
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.metrics import log_loss, roc_auc_score
from torch import nn

from liquidts.classify.data import Encoded

BUCKET = 8  # batches drawn together and sorted by length, so padding stays small


@dataclass
class TrainingRun:
    """Per-epoch training loss and validation score (higher is better; ``validation_scores[0]`` is
    the untrained network), seconds per epoch, the best score, epochs run, divergence."""

    loss_curve: list = field(default_factory=list)
    validation_scores: list = field(default_factory=list)
    epoch_seconds: list = field(default_factory=list)
    best_score: float | None = None
    best_epoch: int = 0
    epochs: int = 0
    diverged: bool = False


def batches(lengths: np.ndarray, index: np.ndarray, batch_size: int, generator: np.random.Generator | None):
    """Batches over ``index``: shuffled (with a generator), then sorted by length within groups of
    ``BUCKET`` batches, and the batches shuffled again; in order of length without one."""
    if generator is None:
        index = index[np.argsort(lengths[index], kind="stable")]
        return [index[i: i + batch_size] for i in range(0, len(index), batch_size)]
    index = index[generator.permutation(len(index))]
    out = []
    group = batch_size * BUCKET
    for g in range(0, len(index), group):
        part = index[g: g + group]
        part = part[np.argsort(lengths[part], kind="stable")]
        out += [part[i: i + batch_size] for i in range(0, len(part), batch_size)]
    return [out[k] for k in generator.permutation(len(out))]


def predict_logits(net: nn.Module, data: Encoded, index: np.ndarray, device, batch_size: int = 256) -> np.ndarray:
    """Logits (N, C) for subjects ``index``, in that order."""
    net.eval()
    out = np.empty((len(index), 0), dtype=np.float32)
    parts, where = [], []
    with torch.no_grad():
        for b in batches(data.lengths, np.arange(len(index)), batch_size, None):
            parts.append(net(data.batch(index[b]).to(device)).float().cpu().numpy())
            where.append(b)
    if parts:
        out = np.empty((len(index), parts[0].shape[1]), dtype=np.float32)
        for b, p in zip(where, parts):
            out[b] = p
    return out


def score(logits: np.ndarray, labels: np.ndarray, n_classes: int) -> tuple[float, float]:
    """(ROC AUC for two classes when both are present, else minus the log-loss; minus the
    log-loss): compared in that order, higher is better, so equal AUCs go to the better-calibrated."""
    proba = torch.softmax(torch.from_numpy(logits).double(), dim=-1).numpy()
    nll = -float(log_loss(labels, proba, labels=np.arange(n_classes)))
    if n_classes == 2 and len(np.unique(labels)) == 2:
        return float(roc_auc_score(labels, proba[:, 1])), nll
    return nll, nll


def train(net: nn.Module, data: Encoded, labels: np.ndarray, train_idx: np.ndarray, val_idx: np.ndarray, *,
          n_classes: int, class_weights: np.ndarray | None, epochs: int, batch_size: int, learning_rate: float,
          weight_decay: float, patience: int, seed: int, device, progress=None) -> TrainingRun:
    """Train ``net`` in place; with ``val_idx``, keep the best-scoring weights (the untrained
    network counts) and stop after ``patience`` epochs without improvement."""
    run = TrainingRun()
    rng = np.random.default_rng(seed)
    opt = torch.optim.AdamW(net.parameters(), lr=learning_rate, weight_decay=weight_decay)
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, mode="max", factor=0.5, patience=max(1, patience // 3))
    weight = None if class_weights is None else torch.as_tensor(class_weights, dtype=torch.float32, device=device)
    target = torch.as_tensor(labels, dtype=torch.long)
    has_val = len(val_idx) > 0
    best_state, waited = copy.deepcopy(net.state_dict()), 0
    if has_val:
        best = score(predict_logits(net, data, val_idx, device), labels[val_idx], n_classes)
        run.best_score = best[0]
        run.validation_scores.append(best[0])
    for _ in range(epochs):
        net.train()
        start, total = time.perf_counter(), 0.0
        for b in batches(data.lengths, train_idx, batch_size, rng):
            batch = data.batch(b).to(device)
            loss = F.cross_entropy(net(batch), target[b].to(device), weight=weight)
            if not math.isfinite(loss.item()):
                run.diverged = True
                break
            opt.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(net.parameters(), 1.0)
            opt.step()
            total += loss.item() * len(b)
        if run.diverged:
            break
        run.epoch_seconds.append(time.perf_counter() - start)
        run.epochs += 1
        run.loss_curve.append(total / len(train_idx))
        if not has_val:
            best_state = copy.deepcopy(net.state_dict())
            if progress is not None:
                progress(loss=run.loss_curve[-1])
            continue
        value = score(predict_logits(net, data, val_idx, device), labels[val_idx], n_classes)
        if not all(math.isfinite(v) for v in value):
            run.diverged = True
            break
        run.validation_scores.append(value[0])
        sched.step(value[0])
        if progress is not None:
            progress(loss=run.loss_curve[-1], val=value[0])
        if value > best:
            best, run.best_score, run.best_epoch, waited = value, value[0], run.epochs, 0
            best_state = copy.deepcopy(net.state_dict())
        else:
            waited += 1
            if waited >= patience:
                break
    net.load_state_dict(best_state)
    return run
