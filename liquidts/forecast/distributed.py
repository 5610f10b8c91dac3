"""Training one forecaster across processes (torch.distributed): the one place that decides.

Under ``torchrun --nproc_per_node=N script.py`` every process runs the same script and calls
``fit`` on the same data. :func:`join` gives the fit a :class:`Group` when there is more than one
process: the default process group if the script initialised one, else one it initialises from
torchrun's environment (``RANK``, ``WORLD_SIZE``, ``MASTER_ADDR``, ``MASTER_PORT``; gloo on the
CPU, NCCL on a GPU). Without that environment or with a single process it gives None, and fit
runs as it always has.

What a group changes (liquidts.forecast.training): every process draws the same order of
training windows from the same seeded generator and takes its own contiguous shard of each
batch; the loss's sums and counts and the gradients are summed across processes, so each step
is the step one process would take on the whole batch (data parallelism, what
DistributedDataParallel does, with the gradients summed by hand so the network stays a plain
module). Validation is sharded the same way and summed, so every process sees the same score
and stops at the same epoch. The closed-form parts of the fit (the ridge start, the blend) run
on every process from all the data, and the network is broadcast from rank 0 before training
and after the blend, so all processes end with rank 0's parameters.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import torch
import torch.distributed as dist

_TORCHRUN = ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")


def current(device: torch.device) -> "Group | None":
    """The initialised default process group as a :class:`Group` when it has more than one
    process, else None. ``device``: where the fit computes (an NCCL group's collectives run there)."""
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() < 2:
        return None
    comm = torch.device("cpu")
    if dist.get_backend() == "nccl":
        comm = own_device(device if device.type == "cuda" else torch.device("cuda"))
    return Group(rank=dist.get_rank(), size=dist.get_world_size(), device=comm)


def join(device: torch.device) -> "Group | None":
    """:func:`current`, after initialising the default process group from torchrun's environment
    when it is set (more than one process) and no group exists yet."""
    if (dist.is_available() and not dist.is_initialized() and all(k in os.environ for k in _TORCHRUN)
            and int(os.environ["WORLD_SIZE"]) > 1):
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return current(device)


def own_device(device: torch.device) -> torch.device:
    """Each process of a group trains on its own GPU: plain ``cuda`` is ``cuda:LOCAL_RANK`` (modulo
    the GPUs there are)."""
    if device.type != "cuda" or device.index is not None:
        return device
    return torch.device("cuda", int(os.environ.get("LOCAL_RANK", dist.get_rank())) % torch.cuda.device_count())


@dataclass(frozen=True)
class Group:
    """The processes fitting one forecaster: this one's ``rank`` of ``size``, and the ``device``
    its collectives run on."""

    rank: int
    size: int
    device: torch.device

    @property
    def main(self) -> bool:
        """Rank 0: the process that writes files and whose network the others receive."""
        return self.rank == 0

    def shard(self, cutoffs):
        """This process's contiguous part of a batch (sizes differ by at most one; may be empty)."""
        return torch.tensor_split(torch.as_tensor(cutoffs), self.size)[self.rank]

    def sum(self, tensor: torch.Tensor) -> torch.Tensor:
        """The sum of ``tensor`` over all processes (a new tensor on ``tensor``'s device)."""
        out = tensor.detach().to(self.device, copy=True)
        dist.all_reduce(out)
        return out.to(tensor.device)

    def sum_gradients(self, params) -> None:
        """Replace each parameter's gradient by its sum over the processes; a parameter that got
        no gradient on any process keeps none (as it would in one process, where AdamW skips it)."""
        like = params[0]
        flat = torch.cat([(p.grad if p.grad is not None else torch.zeros_like(p)).reshape(-1) for p in params]
                         + [torch.tensor([p.grad is not None for p in params], dtype=like.dtype,
                                         device=like.device)])
        flat = self.sum(flat)
        grads, seen = flat[: -len(params)], flat[-len(params):]
        for p, g, s in zip(params, grads.split([p.numel() for p in params]), seen.tolist()):
            p.grad = g.view_as(p).clone() if s > 0 else None

    def broadcast(self, module: torch.nn.Module) -> None:
        """Give every process rank 0's parameters and buffers."""
        with torch.no_grad():
            for t in module.state_dict().values():
                buf = t.to(self.device, copy=True)
                dist.broadcast(buf, src=0)
                t.copy_(buf)

    def broadcast_object(self, obj):
        """Rank 0's ``obj`` (any picklable value) on every process."""
        box = [obj]
        dist.broadcast_object_list(box, src=0, device=self.device)
        return box[0]

    def seed_dropout(self, seed: int, epoch: int) -> None:
        """Seed the torch RNG (dropout) for one epoch on this process: each process draws its own
        masks, and a resumed run draws the ones the uninterrupted run would have."""
        torch.manual_seed(int(np.random.SeedSequence([seed, epoch, self.rank]).generate_state(1)[0]))

    def barrier(self) -> None:
        dist.barrier()
