"""A tiny learning task shared by the baseline tests: reproduce the input delayed by a few steps."""

import torch
from torch import nn


def delayed_copy_loss(build, steps=150, delay=2, T=16, batch=32, lr=1e-2, seed=0):
    """Train build() + a linear head to output x_{t-delay}; return (first loss, mean of the last 10).

    A model that ignores its memory cannot do better than the variance of the target (1.0)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny ops: threads only add overhead on a shared machine
    try:
        torch.manual_seed(seed)
        return _train(build(), steps, delay, T, batch, lr)
    finally:
        torch.set_num_threads(threads)


def _train(model, steps, delay, T, batch, lr):
    head = nn.Linear(model.output_size, 1)
    opt = torch.optim.Adam(list(model.parameters()) + list(head.parameters()), lr=lr)
    losses = []
    for _ in range(steps):
        x = torch.randn(batch, T + delay, 1)
        y, _ = model(x)
        loss = ((head(y[:, delay:]) - x[:, :-delay]) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses[0], sum(losses[-10:]) / 10
