"""The genome of a sequence core: validity, repair, mutation and crossover always valid, text and
dict round-trips, building with the common signature, step == forward, weight and featurizer
sharing, counts."""

import dataclasses
import json

import numpy as np
import pandas as pd
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from liquidts import LiquidForecaster
from liquidts.search.genome import (MAX_BLOCKS, OPERATORS, Block, Genome, build, count_parameters, crossover,
                                    is_valid, mutate, problems, random_genome, repair, state_bytes, step_latency,
                                    validate)

seeds = st.integers(0, 2**32 - 1)


@settings(max_examples=60, deadline=None)
@given(seeds)
def test_random_genomes_are_valid_and_round_trip(seed):
    g = random_genome(np.random.default_rng(seed), max_blocks=MAX_BLOCKS)
    assert is_valid(g), problems(g)
    assert Genome.from_string(g.to_string()) == g
    assert Genome.from_dict(json.loads(json.dumps(g.to_dict()))) == g
    assert Genome.from_string(str(g)).to_string() == g.to_string()


@settings(max_examples=60, deadline=None)
@given(seeds, st.integers(1, 12))
def test_mutation_and_crossover_always_yield_valid_genomes(seed, steps):
    rng = np.random.default_rng(seed)
    a, b = random_genome(rng, 4), random_genome(rng, 4)
    for _ in range(steps):
        a = mutate(a, rng)
        assert is_valid(a), problems(a)
        c, d = crossover(a, b, rng)
        assert is_valid(c) and is_valid(d), problems(c) + problems(d)
        a, b = c, mutate(d, rng, max_blocks=3)
        assert len(b.blocks) <= MAX_BLOCKS


blocks = st.builds(Block, op=st.sampled_from((*OPERATORS, "nope")), width=st.integers(-5, 300),
                   sparsity=st.floats(-1, 2), depth=st.integers(-3, 9), norm=st.sampled_from(("none", "layer", "x")),
                   residual=st.booleans(), share=st.none() | st.integers(-2, 8), featurizer=st.booleans(),
                   feature_share=st.none() | st.integers(-2, 8))


@settings(max_examples=80, deadline=None)
@given(st.lists(blocks, max_size=9))
def test_repair_maps_anything_to_a_valid_genome(bs):
    g = repair(Genome(tuple(bs)))
    assert is_valid(g)
    assert repair(g) == g  # valid genomes are left as they are


@pytest.mark.parametrize("text, why", [
    ("cfc:32:d1|cfc:32:d1@1", "earlier block"),
    ("cfc:32:d1|cfc:16:d1@0", "another operator, width"),
    ("cfc:32:d1|cfc:32:d1@0|cfc:32:d1@1", "itself shares"),
    ("cfc:32:d1+f|cfc:32:d1@0", "depth or featurizer"),
    ("mlp:32+f1|mlp:32+f", "earlier block"),
    ("cfc:32:d1|mlp:32+f0", "none of its own"),
    ("cfc:32:d1+f|mlp:32+f0|gru:32+f1", "none of its own"),
    ("cfc:32:d1+f|mlp:16+f0", "another width"),
    ("mamba:32:d2", "depth is read by cfc"),
    ("cfc:32:s0.5", "sparsity is read by ncp"),
    ("ncp:32:s0.3", "sparsity 0.3"),
    ("cfc:33:d1", "width 33"),
    ("conv:32", "operator 'conv'"),
    ("|".join(["mlp:8"] * (MAX_BLOCKS + 1)), "blocks"),
])
def test_invalid_genomes_are_rejected_with_the_reason(text, why):
    g = Genome.from_string(text)
    assert not is_valid(g)
    with pytest.raises(ValueError, match=why):
        validate(g)
    with pytest.raises(ValueError):
        build(g, 16)


def test_text_form_reads_as_documented():
    g = Genome.from_string("cfc:32:d1+ln+res|mamba:16|ncp:24:s0.75+res|cfc:32:d1@0")
    assert g.blocks[0] == Block("cfc", 32, 0.0, 1, "layer", True)
    assert g.blocks[2].sparsity == 0.75 and g.blocks[3].share == 0
    assert g.to_string() == "cfc:32:d1+ln+res|mamba:16|ncp:24:s0.75+res|cfc:32:d1@0"
    g = Genome.from_string("cfc:32:d1+f|transformer:32+f0+res|cfc:32:d1+f+ln@0")
    assert [(b.featurizer, b.feature_share, b.share) for b in g.blocks] == [(True, None, None), (True, 0, None),
                                                                           (True, None, 0)]
    assert g.to_string() == "cfc:32:d1+f|transformer:32+res+f0|cfc:32:d1+ln+f@0"
    with pytest.raises(ValueError, match="unknown flag"):
        Genome.from_string("cfc:32:d1+fx")


@pytest.mark.parametrize("op", OPERATORS)
def test_every_operator_builds_with_the_common_signature(op):
    g = repair(Genome((Block(op, 16, sparsity=0.5, depth=1, norm="layer", residual=True),)))
    x, ts = torch.randn(3, 5, 8), torch.rand(3, 5) + 0.5
    y, h = build(g, 8)(x, None, ts)
    assert y.shape == (3, 8)
    y, h = build(g, 8, return_sequences=True)(x, timespans=ts)
    assert y.shape == (3, 5, 8) and len(h) == 1


@pytest.mark.parametrize("text", ["cfc:16:d1+ln+res|ncp:16:s0.5|mamba:8+res|transformer:16+ln|mlp:16+res|cfc:16:d1@0",
                                  "ltc:8+res|rwkv:16+ln|xlstm:16+res|hyena:8+ln+res|gru:8|lstm:16+res",
                                  "cfc:16:d1+f+res|transformer:16+ln+f0|mlp:16+f0+res|cfc:16:d1+f@0|ltc:8+f"])
def test_step_by_step_equals_the_whole_sequence(text):
    torch.manual_seed(0)
    g = Genome.from_string(text)
    core = build(g, 8, return_sequences=True).eval()
    x = torch.randn(2, 6, 8)
    with torch.no_grad():
        y, _ = core(x)
        h, steps = None, []
        for t in range(6):
            yt, h = core.step(x[:, t], h)
            steps.append(yt)
    torch.testing.assert_close(torch.stack(steps, 1), y, rtol=1e-4, atol=1e-4)


def test_shared_blocks_reuse_the_owners_weights():
    shared = build("cfc:32:d1|mlp:8|cfc:32:d1@0", 16)
    separate = build("cfc:32:d1|mlp:8|cfc:32:d1", 16)
    assert shared.ops[shared.owner[2]] is shared.ops[shared.owner[0]]
    own = count_parameters(build("cfc:32:d1", 16).ops[0])
    assert count_parameters(separate) - count_parameters(shared) == own
    # Each application still carries its own state.
    assert state_bytes(shared) == state_bytes(separate) == 4 * (32 + 32)


def test_featurizer_sharing_reuses_one_projection_across_operators():
    d, w = 16, 32
    shared = build("cfc:32:d1+f|transformer:32+f0+res", d)
    separate = build("cfc:32:d1+f|transformer:32+f+res", d)
    assert shared.feature_owner == [0, 0] and len(shared.featurizers) == 1
    assert separate.feature_owner == [0, 1]
    assert count_parameters(separate) - count_parameters(shared) == d * w + w
    # The operators read the featurizer's W features, not the stream's D.
    assert shared.ops[0].input_size == w
    x = torch.randn(2, 5, d)
    seen = {}
    hooks = [shared.projections[0].register_forward_hook(lambda m, args, out: seen.update(stream=out)),
             shared.ops[1].register_forward_hook(lambda m, args, out: seen.update(read=args[0]))]
    with torch.no_grad():
        shared(x)  # block 0 is not residual: its projected output is the stream block 1 reads
        torch.testing.assert_close(seen["read"], shared.featurizers[0](seen["stream"]))
    for hook in hooks:
        hook.remove()
    # A sharing link is a gene like any other: a mutation can add or drop it, repair keeps it valid.
    rng = np.random.default_rng(0)
    seen_links = set()
    for _ in range(300):
        g = mutate(Genome.from_string("cfc:32:d1+f|transformer:32+f+res|mlp:32+f0"), rng)
        assert is_valid(g)
        seen_links |= {b.feature_share for b in g.blocks}
    assert {None, 0} <= seen_links


def test_state_bytes_follow_each_operators_memory():
    assert state_bytes(build("cfc:32:d1", 16), context=10) == 32 * 4  # fixed size
    assert state_bytes(build("mlp:32", 16), context=10) == 0
    kv = [state_bytes(build("transformer:32", 16), context=c) for c in (4, 8)]
    assert kv[1] == 2 * kv[0] == 2 * (2 * 4 * 32 * 4)  # k and v, grow with the context
    assert step_latency(build("cfc:8:d0", 8)) > 0


def test_a_built_core_fits_in_the_forecaster():
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"y": np.sin(np.arange(120) / 4) + 0.1 * rng.standard_normal(120)},
                      index=pd.date_range("2021", periods=120, freq="h"))
    core = build("cfc:8:d1+res|mamba:8+ln+res", 8)
    est = LiquidForecaster(model=core, units=8, horizon=4, lookback=16, segment=4, max_epochs=1, calendar=False,
                           random_state=0).fit(df)
    assert np.isfinite(est.best_validation_score_) and est.predict().shape == (4, 1)


def test_block_changes_keep_sharing_consistent():
    g = Genome.from_string("cfc:32:d1|cfc:32:d1@0")
    edited = repair(Genome((dataclasses.replace(g.blocks[0], width=16), g.blocks[1])))
    assert edited.blocks[1].share is None  # the owner changed shape: the link is dropped
