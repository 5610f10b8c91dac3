"""The speed suite's measurements on tiny sizes (the suite itself: python -m benchmarks speed)."""

import pytest

speed = pytest.importorskip("benchmarks.speed")


def test_streaming_and_bars_on_small_contexts(tmp_path):
    widths = {"cfc": 8, "transformer": 8, "hyena": 8, "rwkv": 8}
    records = speed.streaming(list(widths), widths, (16, 64), steps=3, real_limit=32, log=lambda *_: None)
    sizes = {(r["model"], r["context"]): r["state_bytes"] for r in records}
    assert sizes[("cfc", 16)] == sizes[("cfc", 64)] == 8 * 4  # (1, 8) float32 at any context
    assert sizes[("transformer", 64)] == 4 * sizes[("transformer", 16)]  # the KV cache grows with the context
    assert sizes[("hyena", 64)] > sizes[("hyena", 16)] and sizes[("rwkv", 64)] == sizes[("rwkv", 16)]
    bar = speed.bars(records, 65_536)
    assert bar["ratio"] >= 1000
    assert {"cfc_latency_change", "transformer_latency_change"} <= set(bar)
    speed.plot(widths, [], records, tmp_path / "speed.png")
    assert (tmp_path / "speed.png").exists()


def test_one_throughput_measurement():
    out = speed.measure_one("cfc", 8, 64, 2, train=True)
    assert out["steps_per_s"] > 0 and out["peak_mb"] >= 0
