"""Quickstart for the liquid core: an NCP-wired CfC and an LTC on an irregularly sampled sine.

Each sequence is a sine sampled at random, uneven times; the models read the samples and the
elapsed time between them (``timespans``) and predict the cosine at the same instants (which a
model can only get right by knowing how much time has passed). Runs on the CPU in well under 30 s:

    python examples/quickstart_core.py
"""

import time

import torch
import torch.nn.functional as F

from liquidts.nn import CfC, LTC
from liquidts.wirings import AutoNCP, FullyConnected


def irregular_sine(batch: int, steps: int, gen: torch.Generator):
    """x (B, T, 1) = sin(t), target (B, T, 1) = cos(t), timespans (B, T) = gaps between samples."""
    timespans = 0.1 + 0.9 * torch.rand(batch, steps, generator=gen)  # uneven sampling
    t = timespans.cumsum(1) + 6.0 * torch.rand(batch, 1, generator=gen)  # random phase
    return torch.sin(t).unsqueeze(-1), torch.cos(t).unsqueeze(-1), timespans


def train(name: str, model: torch.nn.Module, steps: int = 300, lr: float = 0.02) -> None:
    gen = torch.Generator().manual_seed(0)
    x_val, y_val, ts_val = irregular_sine(64, 24, gen)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    start = time.perf_counter()
    print(f"{name}: {sum(p.numel() for p in model.parameters())} parameters")
    for step in range(steps + 1):
        x, y, ts = irregular_sine(16, 24, gen)
        opt.zero_grad()
        pred, _ = model(x, timespans=ts)  # (B, T, 1)
        loss = F.mse_loss(pred, y)
        loss.backward()
        opt.step()
        if step % 60 == 0:
            with torch.no_grad():
                val = F.mse_loss(model(x_val, timespans=ts_val)[0], y_val).item()
            print(f"  step {step:3d}  train mse {loss.item():.4f}  validation mse {val:.4f}")
    print(f"  {time.perf_counter() - start:.1f} s")


def main():
    torch.manual_seed(0)
    torch.set_num_threads(1)
    # 12 neurons arranged as an NCP (inter -> command -> 1 motor neuron): the motor neuron is the output.
    wiring = AutoNCP(12, output_size=1, seed=0)
    train("CfC on an AutoNCP(12, 1) wiring", CfC(1, wiring))
    # A fully connected LTC of 8 neurons; the first neuron, through the output mapping, is the output.
    train("LTC on a FullyConnected(8, 1) wiring", LTC(1, FullyConnected(8, output_dim=1), ode_unfolds=3))

    # Streaming: feeding the sequence in chunks with hx gives the same output as feeding it whole.
    cfc = CfC(1, AutoNCP(12, 1, seed=0))
    x, _, ts = irregular_sine(1, 24, torch.Generator().manual_seed(1))
    with torch.no_grad():
        whole, _ = cfc(x, timespans=ts)
        first, h = cfc(x[:, :10], timespans=ts[:, :10])
        rest, _ = cfc(x[:, 10:], hx=h, timespans=ts[:, 10:])
    print("chunked == whole:", torch.allclose(torch.cat([first, rest], 1), whole, atol=1e-6))


if __name__ == "__main__":
    main()
