"""A hierarchical genome for a sequence core, in the spirit of STAR (Thomas et al., Liquid AI 2024).

A :class:`Genome` is a stack of :class:`Block` genes. The built core keeps a residual stream of
the forecaster's width D (``units``); each block reads the stream (after an optional LayerNorm),
runs its operator at the block's own width W, projects back to D when W != D (or when the
operator's output is narrower, as an NCP's motor layer is) and either adds the result to the
stream (``residual``) or replaces it.

Genes of a block:

* ``op``: ``cfc``, ``ltc``, ``ncp`` (CfC on an AutoNCP wiring), ``mlp`` (per-step, stateless) and
  the baselines of :data:`liquidts.baselines.BASELINES` (one layer each) except ``striped_hyena``,
  which a genome expresses as alternating ``hyena`` and ``transformer`` blocks.
* ``width``: the operator's width W, one of :data:`WIDTHS` (multiples of 8: every operator's
  head split is valid).
* ``sparsity``: the NCP wiring's sparsity (``ncp`` only).
* ``depth``: the CfC backbone's layers (``cfc`` only).
* ``norm``: ``"none"`` or ``"layer"`` (pre-norm); ``residual``: add to the stream or replace it.
* ``share``: None, or the index of an earlier block whose operator weights this block reuses.

Validity (:func:`validate`): 1..MAX_BLOCKS blocks; every gene in its set; genes an operator does
not read hold their neutral value (``sparsity`` 0.0 unless ``ncp``, ``depth`` 0 unless ``cfc``),
so two genomes that build the same network are equal; ``share`` points to an earlier block that
does not itself share (no chains) and has the same operator, width, sparsity and depth.
:func:`repair` maps any genome to a valid one; :func:`mutate` and :func:`crossover` repair their
output, so they always yield valid genomes.

Text form, one block per ``|``: ``cfc:32:d1+ln+res|mamba:16|cfc:32:d1+res@0``: operator, width,
then ``s0.5`` (sparsity) or ``d2`` (depth) when read, ``+ln`` (layer norm), ``+res`` (residual),
``@j`` (shares block j). :meth:`Genome.from_string` and :meth:`Genome.from_dict` invert
:meth:`Genome.to_string` and :meth:`Genome.to_dict`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from liquidts.baselines import BASELINES
from liquidts.nn import LTC, CfC
from liquidts.wirings import AutoNCP

EXCLUDED_BASELINES = ("striped_hyena",)  # a stack of hyena and transformer blocks expresses it
OPERATORS = ("cfc", "ltc", "ncp", *sorted(b for b in BASELINES if b not in EXCLUDED_BASELINES), "mlp")
WIDTHS = (8, 16, 24, 32, 48, 64, 96, 128)
SPARSITIES = (0.1, 0.25, 0.5, 0.75, 0.9)
DEPTHS = (0, 1, 2, 3)  # CfC backbone layers (0: the heads read [x, h] directly)
NORMS = ("none", "layer")
MAX_BLOCKS = 6
LIQUID = ("cfc", "ltc", "ncp")


@dataclass(frozen=True)
class Block:
    op: str = "cfc"
    width: int = 32
    sparsity: float = 0.0
    depth: int = 0
    norm: str = "none"
    residual: bool = False
    share: int | None = None

    def shape_key(self) -> tuple:
        """What must match for two blocks to share operator weights."""
        return (self.op, self.width, self.sparsity, self.depth)

    def to_string(self) -> str:
        text = f"{self.op}:{self.width}"
        if self.op == "ncp":
            text += f":s{self.sparsity:g}"
        elif self.op == "cfc":
            text += f":d{self.depth}"
        if self.norm == "layer":
            text += "+ln"
        if self.residual:
            text += "+res"
        if self.share is not None:
            text += f"@{self.share}"
        return text

    @classmethod
    def from_string(cls, text: str) -> "Block":
        body, _, share = text.strip().partition("@")
        flags = body.split("+")
        parts = flags[0].split(":")
        if len(parts) < 2:
            raise ValueError(f"block {text!r} must read 'op:width[:s<sparsity>|:d<depth>][+ln][+res][@j]'")
        kw = {"op": parts[0], "width": int(parts[1])}
        for extra in parts[2:]:
            if extra.startswith("s"):
                kw["sparsity"] = float(extra[1:])
            elif extra.startswith("d"):
                kw["depth"] = int(extra[1:])
            else:
                raise ValueError(f"unknown gene {extra!r} in block {text!r}")
        for flag in flags[1:]:
            if flag == "ln":
                kw["norm"] = "layer"
            elif flag == "res":
                kw["residual"] = True
            else:
                raise ValueError(f"unknown flag +{flag} in block {text!r}")
        if share:
            kw["share"] = int(share)
        return cls(**kw)


@dataclass(frozen=True)
class Genome:
    blocks: tuple[Block, ...]

    def __post_init__(self):
        object.__setattr__(self, "blocks", tuple(self.blocks))

    def to_string(self) -> str:
        return "|".join(b.to_string() for b in self.blocks)

    __str__ = to_string

    @classmethod
    def from_string(cls, text: str) -> "Genome":
        return cls(tuple(Block.from_string(t) for t in text.split("|")))

    def to_dict(self) -> dict:
        return {"blocks": [dataclasses.asdict(b) for b in self.blocks]}

    @classmethod
    def from_dict(cls, data: dict) -> "Genome":
        return cls(tuple(Block(**b) for b in data["blocks"]))

    def digest(self) -> int:
        """A stable 63-bit number of the genome (seeds its evaluation)."""
        return int(hashlib.sha256(self.to_string().encode()).hexdigest()[:15], 16)


# ----- validity -----------------------------------------------------------------------------------
def problems(genome: Genome) -> list[str]:
    """Why ``genome`` is not valid (empty when it is)."""
    out = []
    blocks = genome.blocks
    if not 1 <= len(blocks) <= MAX_BLOCKS:
        out.append(f"{len(blocks)} blocks; a genome has 1 to {MAX_BLOCKS}")
    for i, b in enumerate(blocks):
        where = f"block {i} ({b.to_string()})"
        if b.op not in OPERATORS:
            out.append(f"{where}: operator {b.op!r} not in {OPERATORS}")
        if b.width not in WIDTHS:
            out.append(f"{where}: width {b.width} not in {WIDTHS}")
        if b.norm not in NORMS:
            out.append(f"{where}: norm {b.norm!r} not in {NORMS}")
        if not isinstance(b.residual, bool):
            out.append(f"{where}: residual must be a bool")
        if b.op == "ncp" and b.sparsity not in SPARSITIES:
            out.append(f"{where}: sparsity {b.sparsity} not in {SPARSITIES}")
        if b.op != "ncp" and b.sparsity != 0.0:
            out.append(f"{where}: sparsity is read by ncp blocks only and must be 0.0")
        if b.op == "cfc" and b.depth not in DEPTHS:
            out.append(f"{where}: depth {b.depth} not in {DEPTHS}")
        if b.op != "cfc" and b.depth != 0:
            out.append(f"{where}: depth is read by cfc blocks only and must be 0")
        if b.share is not None:
            j = b.share
            if not isinstance(j, int) or not 0 <= j < i:
                out.append(f"{where}: share must index an earlier block")
            elif blocks[j].share is not None:
                out.append(f"{where}: shares block {j}, which itself shares (point to the block that owns "
                           "the weights)")
            elif blocks[j].shape_key() != b.shape_key():
                out.append(f"{where}: shares block {j} of another operator, width, sparsity or depth")
    return out


def is_valid(genome: Genome) -> bool:
    return not problems(genome)


def validate(genome: Genome) -> Genome:
    """``genome`` if valid; ValueError listing every problem otherwise."""
    found = problems(genome)
    if found:
        raise ValueError(f"invalid genome {genome.to_string()!r}: " + "; ".join(found))
    return genome


def _nearest(value, choices):
    return min(choices, key=lambda c: (abs(c - value), c))


def repair(genome: Genome) -> Genome:
    """The nearest valid genome: out-of-set genes to the nearest allowed value, unread genes to
    their neutral value, extra blocks dropped (an empty genome becomes one CfC block), sharing
    links that no longer match dropped (or redirected to the owner of a chain)."""
    blocks = list(genome.blocks[:MAX_BLOCKS]) or [Block()]
    out: list[Block] = []
    for i, b in enumerate(blocks):
        op = b.op if b.op in OPERATORS else "cfc"
        width = _nearest(int(b.width), WIDTHS)
        sparsity = _nearest(float(b.sparsity), SPARSITIES) if op == "ncp" else 0.0
        depth = int(np.clip(int(b.depth), DEPTHS[0], DEPTHS[-1])) if op == "cfc" else 0
        norm = b.norm if b.norm in NORMS else "none"
        share = b.share
        if share is not None:
            share = int(share)
            if 0 <= share < i and out[share].share is not None:
                share = out[share].share  # a chain: point to the owner
            candidate = Block(op, width, sparsity, depth)
            if not (0 <= share < i) or out[share].shape_key() != candidate.shape_key():
                share = None
        out.append(Block(op, width, sparsity, depth, norm, bool(b.residual), share))
    return validate(Genome(tuple(out)))


# ----- random genomes, mutation, crossover ---------------------------------------------------------
def random_block(rng: np.random.Generator, operators=OPERATORS, widths=WIDTHS) -> Block:
    op = str(rng.choice(operators))
    return Block(op=op, width=int(rng.choice(widths)),
                 sparsity=float(rng.choice(SPARSITIES)) if op == "ncp" else 0.0,
                 depth=int(rng.choice(DEPTHS)) if op == "cfc" else 0,
                 norm=str(rng.choice(NORMS)), residual=bool(rng.random() < 0.5))


def random_genome(rng: np.random.Generator, max_blocks: int = 3, operators=OPERATORS, widths=WIDTHS) -> Genome:
    """A valid genome of 1..max_blocks random blocks; a block shares an earlier matching block's
    weights with probability 1/4."""
    n = int(rng.integers(1, min(max_blocks, MAX_BLOCKS) + 1))
    blocks: list[Block] = []
    for i in range(n):
        b = random_block(rng, operators, widths)
        owners = [j for j, o in enumerate(blocks) if o.share is None]
        if owners and rng.random() < 0.25:
            j = int(rng.choice(owners))
            o = blocks[j]
            b = dataclasses.replace(b, op=o.op, width=o.width, sparsity=o.sparsity, depth=o.depth, share=j)
        blocks.append(b)
    return repair(Genome(tuple(blocks)))


def mutate(genome: Genome, rng: np.random.Generator, operators=OPERATORS, widths=WIDTHS,
           max_blocks: int = MAX_BLOCKS) -> Genome:
    """One random edit, repaired: change a block's operator, width, sparsity, depth, norm,
    residual or sharing gene, insert a random block, or delete a block (indices of later sharing
    genes follow the edit)."""
    blocks = list(genome.blocks)
    i = int(rng.integers(len(blocks)))
    b = blocks[i]
    kinds = ["op", "width", "norm", "residual", "share", "insert", "delete"]
    kinds += ["sparsity"] if b.op == "ncp" else []
    kinds += ["depth"] if b.op == "cfc" else []
    kind = str(rng.choice(kinds))
    if kind == "insert" and len(blocks) >= min(max_blocks, MAX_BLOCKS):
        kind = "op"
    if kind == "delete" and len(blocks) == 1:
        kind = "width"
    if kind == "op":
        new = random_block(rng, operators, widths)
        blocks[i] = dataclasses.replace(new, width=b.width, norm=b.norm, residual=b.residual, share=None)
    elif kind == "width":
        blocks[i] = dataclasses.replace(b, width=int(rng.choice(widths)), share=None)
    elif kind == "sparsity":
        blocks[i] = dataclasses.replace(b, sparsity=float(rng.choice(SPARSITIES)), share=None)
    elif kind == "depth":
        blocks[i] = dataclasses.replace(b, depth=int(rng.choice(DEPTHS)), share=None)
    elif kind == "norm":
        blocks[i] = dataclasses.replace(b, norm="none" if b.norm == "layer" else "layer")
    elif kind == "residual":
        blocks[i] = dataclasses.replace(b, residual=not b.residual)
    elif kind == "share":
        owners = [j for j in range(i) if blocks[j].share is None and blocks[j].shape_key() == b.shape_key()]
        if b.share is not None or not owners:
            blocks[i] = dataclasses.replace(b, share=None)
        else:
            blocks[i] = dataclasses.replace(b, share=int(rng.choice(owners)))
    elif kind == "insert":
        blocks.insert(i, random_block(rng, operators, widths))
        blocks = [_shift_share(x, i, +1) for x in blocks]
    elif kind == "delete":
        del blocks[i]
        blocks = [_shift_share(x, i, -1) for x in blocks]
    # Blocks that shared an edited block's weights keep them only if still the same shape (repair).
    return repair(Genome(tuple(blocks)))


def _shift_share(b: Block, at: int, delta: int) -> Block:
    """Sharing index after inserting (delta=+1) or deleting (delta=-1) the block at ``at``."""
    if b.share is None:
        return b
    if delta < 0 and b.share == at:
        return dataclasses.replace(b, share=None)
    if b.share >= at:
        return dataclasses.replace(b, share=b.share + delta)
    return b


def crossover(a: Genome, b: Genome, rng: np.random.Generator, max_blocks: int = MAX_BLOCKS) -> tuple[Genome, Genome]:
    """One-point crossover of the two block stacks (a cut in each parent), repaired: sharing links
    that cross the cut are re-indexed into the child and dropped when they no longer match."""
    i = int(rng.integers(1, len(a.blocks) + 1))
    j = int(rng.integers(0, len(b.blocks) + 1))

    def child(head, tail, offset):
        # tail's sharing indices were into its own parent: shift them to the child's positions.
        tail = [dataclasses.replace(x, share=None if x.share is None or x.share < offset else
                                    x.share - offset + len(head)) for x in tail]
        blocks = (list(head) + tail)[:min(max_blocks, MAX_BLOCKS)]
        return repair(Genome(tuple(blocks)))

    return child(a.blocks[:i], list(b.blocks[j:]), j), child(b.blocks[:j] or a.blocks[:1], list(a.blocks[i:]), i)


# ----- building --------------------------------------------------------------------------------------
class MLPBlock(nn.Module):
    """A per-step two-layer MLP (D -> W -> D), stateless: the genome's ``mlp`` operator."""

    def __init__(self, input_size: int, width: int):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(input_size, width), nn.GELU(), nn.Linear(width, input_size))
        self.output_size = input_size

    def forward(self, x, hx=None, timespans=None):
        return self.net(x), None

    def step(self, x, hx=None, timespans=None):
        return self.net(x), None


def build_operator(block: Block, d: int) -> nn.Module:
    """The operator of ``block`` reading ``d`` features per step, returning sequences."""
    w = block.width
    if block.op == "cfc":
        return CfC(d, w, backbone_units=w, backbone_layers=block.depth, return_sequences=True)
    if block.op == "ltc":
        return LTC(d, w, return_sequences=True)
    if block.op == "ncp":
        return CfC(d, AutoNCP(w, max(1, w // 4), sparsity_level=block.sparsity), return_sequences=True)
    if block.op == "mlp":
        return MLPBlock(d, w)
    if block.op in ("mamba", "transformer", "rwkv", "hyena"):
        return BASELINES[block.op](d, w, return_sequences=True, n_layers=1)
    if block.op == "xlstm":
        return BASELINES[block.op](d, w, return_sequences=True, num_blocks=1, round_proj_to=8)
    return BASELINES[block.op](d, w, return_sequences=True)  # lstm, gru


def _output_size(op: nn.Module, d: int) -> int:
    size = getattr(op, "output_size", None)
    if isinstance(size, int):
        return size
    with torch.no_grad():
        y, _ = op(torch.zeros(1, 2, d), None, torch.ones(1, 2))
    return int(y.shape[-1])


class GenomeCore(nn.Module):
    """The core a :class:`Genome` describes: ``y, h = core(x, hx=None, timespans=None)`` with x
    (N, T, D); y (N, T, D) with ``return_sequences=True``, else (N, D); h one state per block
    (None for stateless blocks). ``core.step(x_t, h, timespans)`` advances one step."""

    def __init__(self, genome: Genome, width: int, return_sequences: bool = False):
        super().__init__()
        validate(genome)
        self.genome = genome
        self.input_size = self.output_size = width
        self.return_sequences = return_sequences
        self.ops = nn.ModuleList()
        self.norms = nn.ModuleList()
        self.projections = nn.ModuleList()
        self.owner = []  # index into self.ops of each block's operator
        for b in genome.blocks:
            if b.share is None:
                self.ops.append(build_operator(b, width))
                self.owner.append(len(self.ops) - 1)
            else:
                self.owner.append(self.owner[b.share])
            op = self.ops[self.owner[-1]]
            self.norms.append(nn.LayerNorm(width) if b.norm == "layer" else nn.Identity())
            out = _output_size(op, width)
            self.projections.append(nn.Identity() if out == width else nn.Linear(out, width))

    def _block_states(self, hx):
        return [None] * len(self.owner) if hx is None else list(hx)

    def forward(self, x, hx=None, timespans=None):
        states = self._block_states(hx)
        out = []
        for k, b in enumerate(self.genome.blocks):
            op = self.ops[self.owner[k]]
            z = self.norms[k](x)
            y, h = op(z, states[k], timespans) if not isinstance(op, MLPBlock) else op(z)
            y = self.projections[k](y)
            x = x + y if b.residual else y
            out.append(h)
        return (x if self.return_sequences else x[:, -1]), tuple(out)

    def step(self, x, hx=None, timespans=None):
        """One step: x (N, D) -> y (N, D), the new per-block states."""
        states = self._block_states(hx)
        out = []
        for k, b in enumerate(self.genome.blocks):
            op = self.ops[self.owner[k]]
            z = self.norms[k](x)
            if isinstance(op, (CfC, LTC)):
                y, h = op.step(z, states[k], timespans)
            else:
                y, h = op.step(z, states[k])
            y = self.projections[k](y)
            x = x + y if b.residual else y
            out.append(h)
        return x, tuple(out)


def build(genome: Genome | str | dict, width: int, return_sequences: bool = False) -> GenomeCore:
    """The nn.Module a genome describes, reading and returning ``width`` features per step; pass
    it to ``LiquidForecaster(model=..., units=width)``."""
    if isinstance(genome, str):
        genome = Genome.from_string(genome)
    elif isinstance(genome, dict):
        genome = Genome.from_dict(genome)
    return GenomeCore(genome, width, return_sequences)


# ----- counts ----------------------------------------------------------------------------------------
def count_parameters(module: nn.Module) -> int:
    """Trainable numbers; shared weights counted once."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def _tensor_bytes(state) -> int:
    if state is None:
        return 0
    if isinstance(state, torch.Tensor):
        return state.numel() * state.element_size()
    if isinstance(state, (tuple, list)):
        return sum(_tensor_bytes(s) for s in state)
    if isinstance(state, dict):
        return sum(_tensor_bytes(s) for s in state.values())
    return 0


@torch.no_grad()
def state_bytes(core: nn.Module, context: int = 1) -> int:
    """Bytes of the state one sequence carries after ``context`` steps of ``core.step`` (a KV
    cache or an unbounded Hyena cache grows with the context; a liquid or SSM state does not)."""
    d = core.input_size
    h = None
    was = core.training
    core.eval()
    for _ in range(max(1, context)):
        _, h = core.step(torch.zeros(1, d), h)
    core.train(was)
    return _tensor_bytes(h)


@torch.no_grad()
def step_latency(core: nn.Module, context: int = 1, repeats: int = 3) -> float:
    """Median seconds of one ``core.step`` of one sequence after ``context`` steps (wall clock:
    varies from run to run, so it is not used by default)."""
    d = core.input_size
    was = core.training
    core.eval()
    h = None
    for _ in range(max(1, context) - 1):
        _, h = core.step(torch.zeros(1, d), h)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        core.step(torch.zeros(1, d), h)
        times.append(time.perf_counter() - start)
    core.train(was)
    return float(np.median(times))


def describe(genome: Genome) -> str:
    return json.dumps(genome.to_dict())


__all__ = ["Block", "Genome", "GenomeCore", "OPERATORS", "WIDTHS", "SPARSITIES", "DEPTHS", "NORMS", "MAX_BLOCKS",
           "problems", "is_valid", "validate", "repair", "random_genome", "mutate", "crossover", "build",
           "count_parameters", "state_bytes", "step_latency"]
