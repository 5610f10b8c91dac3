"""The training loop of the forecasting network: AdamW, early stopping, divergence guard.

One function, :func:`train`, reads top to bottom: shuffle the training windows each epoch,
step AdamW on each batch, score the validation windows, keep the best weights, stop after
``patience`` epochs without improvement. A non-finite loss stops training at once and the last
good weights are kept (the caller is told through :attr:`TrainingRun.diverged`). A checkpoint
callback sees the loop's whole state after each epoch, from which a killed run resumes. Under
torch.distributed (a :class:`~liquidts.forecast.distributed.Group`) each process takes its shard
of every batch and the gradients are summed, so the steps are those of one process.

Letters: B windows per batch, H horizon, T targets, Q outputs per target.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field

import torch
from torch import nn

from liquidts.forecast.distributed import Group
from liquidts.forecast.windows import Rows

LOSSES = ("mse", "mae", "quantile")


def loss_terms(pred: torch.Tensor, target: torch.Tensor, loss: str, levels: tuple):
    """The loss summed over the observed targets, and their count (the loss is the one over the
    other): pred (B, H, T, Q), target (B, H, T) with NaN where unobserved; ``levels`` are the
    quantile levels of the Q outputs for ``loss="quantile"``."""
    observed = ~torch.isnan(target)
    target = torch.nan_to_num(target)
    if loss == "quantile":
        q = torch.tensor(levels, dtype=pred.dtype, device=pred.device)
        diff = target.unsqueeze(-1) - pred  # (B, H, T, Q)
        per = torch.maximum(q * diff, (q - 1) * diff).mean(-1)
    elif loss == "mae":
        per = (pred[..., 0] - target).abs()
    else:
        per = (pred[..., 0] - target) ** 2
    return (per * observed).sum(), observed.sum()


@dataclass
class TrainingRun:
    """What :func:`train` did: per-epoch training loss and validation score (validation_scores[0]
    is the network before training), the best validation score, epochs run, and whether it
    stopped on a non-finite loss."""

    loss_curve: list = field(default_factory=list)
    validation_scores: list = field(default_factory=list)
    best_score: float | None = None
    epochs: int = 0
    diverged: bool = False
    optimizer_state: dict | None = None


def evaluate(net: nn.Module, rows: Rows, cutoffs, lookback: int, horizon: int, loss: str, levels: tuple,
             device, batch_size: int | None = None, group: Group | None = None) -> float:
    """Mean loss of ``net`` over the windows ending at ``cutoffs`` (the mean of each batch's loss,
    weighted by its windows; ``batch_size`` windows per batch, by default the network's
    ``config.windows_per_pass``). With a ``group``, each process scores its shard of every batch
    and all get the same score."""
    net.eval()
    batch_size = batch_size or net.config.windows_per_pass
    parts = [cutoffs[start: start + batch_size] for start in range(0, len(cutoffs), batch_size)]
    with torch.no_grad():
        terms = [_shard_loss(net, rows, part, lookback, horizon, loss, levels, device, group) for part in parts]
    if group is not None and terms:
        summed = group.sum(torch.tensor([[float(s), float(n)] for s, n in terms], dtype=torch.float64))
        terms = [(s, n.long()) for s, n in summed]
    total = 0.0
    for part, (value, count) in zip(parts, terms):
        total += (value / count.clamp(min=1)).item() * len(part)
    return total / max(len(cutoffs), 1)


def _shard_loss(net, rows: Rows, cutoffs, lookback: int, horizon: int, loss: str, levels: tuple, device,
                group: Group | None):
    """:func:`loss_terms` of this process's windows of a batch: all of them, or its shard in a
    group (zeros for an empty shard)."""
    if group is not None:
        cutoffs = group.shard(cutoffs)
        if len(cutoffs) == 0:
            return torch.zeros((), device=device), torch.zeros((), dtype=torch.long, device=device)
    batch = rows.gather(cutoffs, lookback, horizon).to(device)
    return loss_terms(net(batch), batch.target, loss, levels)


def train(net: nn.Module, rows: Rows, train_cutoffs, val_cutoffs, *, lookback: int, horizon: int,
          loss: str, levels: tuple, epochs: int, batch_size: int, learning_rate: float,
          weight_decay: float, patience: int, generator: torch.Generator, device,
          windows_per_epoch: int | None = None, optimizer_state: dict | None = None,
          progress=None, resume: dict | None = None, checkpoint=None, group: Group | None = None,
          seed: int = 0) -> TrainingRun:
    """Train ``net`` in place on the windows ending at ``train_cutoffs``; with ``val_cutoffs``,
    stop early and leave the best-scoring weights (the untrained network counts as a candidate).
    An epoch is a pass over the training windows in a new random order, or over the first
    ``windows_per_epoch`` of that order when there are more.

    ``checkpoint(state)``, when given, is called after every epoch with everything the loop needs
    to go on (see :func:`loop_state`); ``resume=state`` continues from such a state, so an
    interrupted run that resumes ends with exactly the weights an uninterrupted run ends with.

    With a ``group`` (liquidts.forecast.distributed), this process trains on its shard of every
    batch and the gradients are summed across the group, so every process takes the step one
    process would take on the whole batch; ``seed`` then seeds each process's dropout per epoch."""
    run = TrainingRun()
    params = [p for p in net.parameters() if p.requires_grad]
    if not params:
        epochs = 0
        params = [torch.zeros(0, requires_grad=True)]
    opt = torch.optim.AdamW(params, lr=learning_rate, weight_decay=weight_decay)
    if optimizer_state is not None:
        # A copy: the optimizer updates its moments in place, and the caller's must stay as they were.
        opt.load_state_dict(copy.deepcopy(optimizer_state))
    train_cutoffs = torch.as_tensor(train_cutoffs)
    has_val = len(val_cutoffs) > 0
    best_state, waited = copy.deepcopy(net.state_dict()), 0
    if resume is not None:
        best_state, waited = _restore(resume, net, opt, generator, run)
    elif has_val:
        run.best_score = evaluate(net, rows, val_cutoffs, lookback, horizon, loss, levels, device, group=group)
        run.validation_scores.append(run.best_score)
    while run.epochs < epochs and waited < patience:
        net.train()
        if group is not None:
            group.seed_dropout(seed, run.epochs)
        order = train_cutoffs[torch.randperm(len(train_cutoffs), generator=generator)][:windows_per_epoch]
        total = 0.0
        for start in range(0, len(order), batch_size):
            cutoffs = order[start: start + batch_size]
            loss_sum, count = _shard_loss(net, rows, cutoffs, lookback, horizon, loss, levels, device, group)
            batch_sum = loss_sum.detach()
            if group is not None:  # the whole batch's sum and count, over every process's shard
                both = group.sum(torch.stack([batch_sum.double(), count.double()]))
                batch_sum, count = both[0], both[1].long()
            value = batch_sum / count.clamp(min=1)  # the batch's mean loss
            if not math.isfinite(value.item()):
                run.diverged = True
                break
            opt.zero_grad()
            if loss_sum.requires_grad:  # not on an empty shard
                (loss_sum / count.clamp(min=1)).backward()
            if group is not None:
                group.sum_gradients(params)
            nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            total += value.item() * len(cutoffs)
        if run.diverged:
            break
        run.epochs += 1
        run.loss_curve.append(total / len(order))
        if not has_val:
            best_state = copy.deepcopy(net.state_dict())
            scores = {"loss": run.loss_curve[-1]}
        else:
            score = evaluate(net, rows, val_cutoffs, lookback, horizon, loss, levels, device, group=group)
            if not math.isfinite(score):
                run.diverged = True
                break
            run.validation_scores.append(score)
            scores = {"loss": run.loss_curve[-1], "val": score}
            if score < run.best_score:
                run.best_score, waited = score, 0
                best_state = copy.deepcopy(net.state_dict())
            else:
                waited += 1
        if checkpoint is not None:
            checkpoint(loop_state(net, opt, generator, run, best_state, waited))
        if progress is not None:
            progress(**scores)
    net.load_state_dict(best_state)
    run.optimizer_state = None if run.diverged else opt.state_dict()
    return run


def loop_state(net, opt, generator, run: TrainingRun, best_state, waited: int) -> dict:
    """Everything :func:`train` needs to continue after an epoch: weights, optimizer moments,
    random states (the window order and dropout), the epoch count and the early-stopping record."""
    return {"net": net.state_dict(), "optimizer": opt.state_dict(), "generator": generator.get_state(),
            "torch_rng": torch.get_rng_state(), "best_state": best_state, "waited": waited,
            "epochs": run.epochs, "best_score": run.best_score, "loss_curve": list(run.loss_curve),
            "validation_scores": list(run.validation_scores)}


def _restore(state: dict, net, opt, generator, run: TrainingRun):
    """Put a :func:`loop_state` back; returns the best weights so far and the epochs waited."""
    net.load_state_dict(state["net"])
    opt.load_state_dict(state["optimizer"])
    generator.set_state(state["generator"])
    torch.set_rng_state(state["torch_rng"])
    run.epochs, run.best_score = state["epochs"], state["best_score"]
    run.loss_curve, run.validation_scores = list(state["loss_curve"]), list(state["validation_scores"])
    return state["best_state"], state["waited"]
