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
* ``featurizer``: the block reads its (normed) input through a linear featurizer D -> W of its
  own before the operator (so the operator reads W features instead of D);
  ``feature_share``: None, or the index of an earlier block whose featurizer this block reads
  through instead. STAR's genome shares featurizers between operators of different classes (a
  CfC and an attention block reading the same projected features); ``share`` shares whole
  operators.

Validity (:func:`validate`): 1..MAX_BLOCKS blocks; every gene in its set; genes an operator does
not read hold their neutral value (``sparsity`` 0.0 unless ``ncp``, ``depth`` 0 unless ``cfc``),
so two genomes that build the same network are equal; ``share`` points to an earlier block that
does not itself share (no chains) and has the same operator, width, sparsity, depth and featurizer
gene; ``feature_share`` is set only on a block with a featurizer and points to an earlier block
that has its own featurizer (not a borrowed one) of the same width.
:func:`repair` maps any genome to a valid one; :func:`mutate` and :func:`crossover` repair their
output, so they always yield valid genomes.

Text form, one block per ``|``: ``cfc:32:d1+ln+res|mamba:16|cfc:32:d1+res@0``: operator, width,
then ``s0.5`` (sparsity) or ``d2`` (depth) when read, ``+ln`` (layer norm), ``+res`` (residual),
``+f`` (own featurizer) or ``+fj`` (block j's featurizer), ``@j`` (shares block j's operator):
``cfc:32:d1+f|transformer:32+f0+res`` is a CfC and an attention block reading one featurizer. :meth:`Genome.from_string` and :meth:`Genome.from_dict` invert
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
    featurizer: bool = False
    feature_share: int | None = None

    def shape_key(self) -> tuple:
        """What must match for two blocks to share operator weights (the featurizer gene sets
        how many features the operator reads)."""
        return (self.op, self.width, self.sparsity, self.depth, self.featurizer)

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
        if self.featurizer:
            text += "+f" if self.feature_share is None else f"+f{self.feature_share}"
        if self.share is not None:
            text += f"@{self.share}"
        return text

    @classmethod
    def from_string(cls, text: str) -> "Block":
        body, _, share = text.strip().partition("@")
        flags = body.split("+")
        parts = flags[0].split(":")
        if len(parts) < 2:
            raise ValueError(f"block {text!r} must read 'op:width[:s<sparsity>|:d<depth>][+ln][+res][+f|+fj][@j]'")
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
            elif flag.startswith("f") and (flag == "f" or flag[1:].isdigit()):
                kw["featurizer"] = True
                kw["feature_share"] = int(flag[1:]) if flag[1:] else None
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
                out.append(f"{where}: shares block {j} of another operator, width, sparsity, depth or featurizer")
        if not isinstance(b.featurizer, bool):
            out.append(f"{where}: featurizer must be a bool")
        if b.feature_share is not None:
            j = b.feature_share
            if not b.featurizer:
                out.append(f"{where}: feature_share is read by blocks with a featurizer only and must be None")
            elif not isinstance(j, int) or not 0 <= j < i:
                out.append(f"{where}: feature_share must index an earlier block")
            elif not blocks[j].featurizer or blocks[j].feature_share is not None:
                out.append(f"{where}: reads block {j}'s featurizer, which has none of its own")
            elif blocks[j].width != b.width:
                out.append(f"{where}: reads the featurizer of block {j}, of another width")
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
    links that no longer match dropped (or redirected to the owner of a chain); a featurizer
    link makes its block featurized."""
    blocks = list(genome.blocks[:MAX_BLOCKS]) or [Block()]
    out: list[Block] = []
    for i, b in enumerate(blocks):
        op = b.op if b.op in OPERATORS else "cfc"
        width = _nearest(int(b.width), WIDTHS)
        sparsity = _nearest(float(b.sparsity), SPARSITIES) if op == "ncp" else 0.0
        depth = int(np.clip(int(b.depth), DEPTHS[0], DEPTHS[-1])) if op == "cfc" else 0
        norm = b.norm if b.norm in NORMS else "none"
        feature_share = b.feature_share
        featurizer = bool(b.featurizer) or feature_share is not None
        if feature_share is not None:
            feature_share = int(feature_share)
            if 0 <= feature_share < i and out[feature_share].feature_share is not None:
                feature_share = out[feature_share].feature_share  # a chain: point to the owner
            if not (0 <= feature_share < i) or not out[feature_share].featurizer \
                    or out[feature_share].width != width:
                feature_share = None
        share = b.share
        if share is not None:
            share = int(share)
            if 0 <= share < i and out[share].share is not None:
                share = out[share].share  # a chain: point to the owner
            candidate = Block(op, width, sparsity, depth, featurizer=featurizer)
            if not (0 <= share < i) or out[share].shape_key() != candidate.shape_key():
                share = None
        out.append(Block(op, width, sparsity, depth, norm, bool(b.residual), share, featurizer, feature_share))
    return validate(Genome(tuple(out)))


# ----- random genomes, mutation, crossover ---------------------------------------------------------
def random_block(rng: np.random.Generator, operators=OPERATORS, widths=WIDTHS) -> Block:
    op = str(rng.choice(operators))
    return Block(op=op, width=int(rng.choice(widths)),
                 sparsity=float(rng.choice(SPARSITIES)) if op == "ncp" else 0.0,
                 depth=int(rng.choice(DEPTHS)) if op == "cfc" else 0,
                 norm=str(rng.choice(NORMS)), residual=bool(rng.random() < 0.5),
                 featurizer=bool(rng.random() < 0.25))


def random_genome(rng: np.random.Generator, max_blocks: int = 3, operators=OPERATORS, widths=WIDTHS) -> Genome:
    """A valid genome of 1..max_blocks random blocks; a block shares an earlier matching block's
    weights with probability 1/4, and a featurized block reads an earlier block's featurizer of
    its width with probability 1/2."""
    n = int(rng.integers(1, min(max_blocks, MAX_BLOCKS) + 1))
    blocks: list[Block] = []
    for i in range(n):
        b = random_block(rng, operators, widths)
        owners = [j for j, o in enumerate(blocks) if o.share is None]
        if owners and rng.random() < 0.25:
            j = int(rng.choice(owners))
            o = blocks[j]
            b = dataclasses.replace(b, op=o.op, width=o.width, sparsity=o.sparsity, depth=o.depth,
                                    featurizer=o.featurizer, share=j)
        featurizers = _featurizer_owners(blocks, b.width)
        if b.featurizer and featurizers and rng.random() < 0.5:
            b = dataclasses.replace(b, feature_share=int(rng.choice(featurizers)))
        blocks.append(b)
    return repair(Genome(tuple(blocks)))


def _featurizer_owners(blocks, width: int) -> list[int]:
    """Indices of the blocks whose own featurizer a block of ``width`` may read."""
    return [j for j, o in enumerate(blocks) if o.featurizer and o.feature_share is None and o.width == width]


def mutate(genome: Genome, rng: np.random.Generator, operators=OPERATORS, widths=WIDTHS,
           max_blocks: int = MAX_BLOCKS) -> Genome:
    """One random edit, repaired: change a block's operator, width, sparsity, depth, norm,
    residual, featurizer or one of its sharing genes, insert a random block, or delete a block
    (indices of later sharing genes follow the edit)."""
    blocks = list(genome.blocks)
    i = int(rng.integers(len(blocks)))
    b = blocks[i]
    kinds = ["op", "width", "norm", "residual", "share", "featurizer", "feature_share", "insert", "delete"]
    kinds += ["sparsity"] if b.op == "ncp" else []
    kinds += ["depth"] if b.op == "cfc" else []
    kind = str(rng.choice(kinds))
    if kind == "insert" and len(blocks) >= min(max_blocks, MAX_BLOCKS):
        kind = "op"
    if kind == "delete" and len(blocks) == 1:
        kind = "width"
    if kind == "op":
        new = random_block(rng, operators, widths)
        blocks[i] = dataclasses.replace(new, width=b.width, norm=b.norm, residual=b.residual, share=None,
                                        featurizer=b.featurizer, feature_share=b.feature_share)
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
    elif kind == "featurizer":
        blocks[i] = dataclasses.replace(b, featurizer=not b.featurizer, feature_share=None, share=None)
    elif kind == "feature_share":
        owners = _featurizer_owners(blocks[:i], b.width)
        if b.feature_share is not None or not owners:
            blocks[i] = dataclasses.replace(b, feature_share=None)
        else:
            blocks[i] = dataclasses.replace(b, featurizer=True, feature_share=int(rng.choice(owners)),
                                            share=b.share if b.featurizer else None)
    elif kind == "insert":
        blocks.insert(i, random_block(rng, operators, widths))
        blocks = [_shift_share(x, i, +1) for x in blocks]
    elif kind == "delete":
        del blocks[i]
        blocks = [_shift_share(x, i, -1) for x in blocks]
    # Blocks that shared an edited block's weights or featurizer keep them only if they still
    # match (repair).
    return repair(Genome(tuple(blocks)))


def _shift_share(b: Block, at: int, delta: int) -> Block:
    """Sharing indices after inserting (delta=+1) or deleting (delta=-1) the block at ``at``."""

    def shifted(j):
        if j is None or (delta < 0 and j == at):
            return None
        return j + delta if j >= at else j

    return dataclasses.replace(b, share=shifted(b.share), feature_share=shifted(b.feature_share))


def crossover(a: Genome, b: Genome, rng: np.random.Generator, max_blocks: int = MAX_BLOCKS) -> tuple[Genome, Genome]:
    """One-point crossover of the two block stacks (a cut in each parent), repaired: sharing links
    that cross the cut are re-indexed into the child and dropped when they no longer match."""
    i = int(rng.integers(1, len(a.blocks) + 1))
    j = int(rng.integers(0, len(b.blocks) + 1))

    def child(head, tail, offset):
        # tail's sharing indices were into its own parent: shift them to the child's positions.
        def moved(j):
            return None if j is None or j < offset else j - offset + len(head)

        tail = [dataclasses.replace(x, share=moved(x.share), feature_share=moved(x.feature_share)) for x in tail]
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
    (None for stateless blocks). ``core.step(x_t, h, timespans)`` advances one step.

    Block k computes ``z = featurizer(norm(x))`` (no featurizer: ``norm(x)``), ``y = op(z)``,
    projected back to D, then ``x + y`` (residual) or ``y``."""

    def __init__(self, genome: Genome, width: int, return_sequences: bool = False):
        super().__init__()
        validate(genome)
        self.genome = genome
        self.input_size = self.output_size = width
        self.return_sequences = return_sequences
        self.ops = nn.ModuleList()
        self.norms = nn.ModuleList()
        self.projections = nn.ModuleList()
        self.featurizers = nn.ModuleList()
        self.owner = []  # index into self.ops of each block's operator
        self.feature_owner = []  # index into self.featurizers of each block's featurizer, or None
        for b in genome.blocks:
            reads = b.width if b.featurizer else width
            if b.share is None:
                self.ops.append(build_operator(b, reads))
                self.owner.append(len(self.ops) - 1)
            else:
                self.owner.append(self.owner[b.share])
            if b.featurizer and b.feature_share is None:
                self.featurizers.append(nn.Linear(width, b.width))
                self.feature_owner.append(len(self.featurizers) - 1)
            else:
                self.feature_owner.append(None if b.feature_share is None else self.feature_owner[b.feature_share])
            op = self.ops[self.owner[-1]]
            self.norms.append(nn.LayerNorm(width) if b.norm == "layer" else nn.Identity())
            out = _output_size(op, reads)
            self.projections.append(nn.Identity() if out == width else nn.Linear(out, width))

    def _block_states(self, hx):
        return [None] * len(self.owner) if hx is None else list(hx)

    def _features(self, k: int, x):
        z = self.norms[k](x)
        f = self.feature_owner[k]
        return z if f is None else self.featurizers[f](z)

    def forward(self, x, hx=None, timespans=None):
        states = self._block_states(hx)
        out = []
        for k, b in enumerate(self.genome.blocks):
            op = self.ops[self.owner[k]]
            z = self._features(k, x)
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
            z = self._features(k, x)
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
