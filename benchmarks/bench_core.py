"""Liquid core speed on the CPU, measured side by side with ncps and torch.nn.LSTM in one run.

Training step = forward + backward + Adam step on a batch of 64 sequences of 200 steps with 8
inputs (float32), the loss the outputs' mean square (PyTorch's fused ``F.mse_loss`` against zero:
one pass forward and one back, so that the step measures the layer; ``y.square().mean()`` cost
about 6 ms of a 42 ms step through its backward's temporaries). Streaming = one single-step
call of a 19-neuron NCP CfC with batch 1 (no grad).

    python benchmarks/bench_core.py [--threads 1,2] [--repeats 7]
    python benchmarks/bench_core.py --step-only --threads 1 --repeats 40   # to compare checkouts

Prints each configuration's median time and the ratios the liquid-core issue sets as targets.
Without timespans (or with one for all) the CfC's kernel folds its two time heads into one
(``scan_native``), so its step is set against both floors, and a step with timespans that vary
(which cannot fold) against the full one.
The CfC step and its matrix-product floor are also timed in alternation (``--pairs`` pairs), so
that both see the same load: on a shared machine the medians of two blocks timed one after the
other can differ by a third from load alone.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time

import torch
import torch.nn.functional as F


def time_call(fn, repeats: int, warmup: int = 2) -> float:
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def train_step_fn(model, x, timespans=None):
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    zero = x.new_zeros(())

    def step():
        opt.zero_grad(set_to_none=True)
        y, _ = model(x) if timespans is None else model(x, timespans=timespans)
        F.mse_loss(y, zero.expand_as(y)).backward()
        opt.step()

    return step


def streaming_fn(model, x, steps: int):
    def run():
        with torch.no_grad():
            h = None
            for t in range(steps):
                _, h = model(x[:, t: t + 1], h)

    return run


def matmul_floor_fn(batch: int, steps: int, features: int, units: int, backbone: int, heads: int = 4):
    """Only the matrix products any exact CfC training step performs (default backbone, ``heads``
    heads): per step forward and backward through the recurrence, then the weight gradients. No
    implementation that computes the same gradients in float32 can go below this. With 3 heads the
    two time heads are folded into one (t_a dt + t_b with one dt for every sample and step), which
    only a run without per-sample timespans allows."""
    h = torch.randn(batch, units)
    w_rec, w_head = torch.randn(backbone, units), torch.randn(heads * units, backbone)
    a, du = torch.randn(batch, backbone), torch.randn(batch, heads * units)
    rows = batch * steps
    big_a, big_du = torch.randn(rows, backbone), torch.randn(rows, heads * units)
    big_dz, big_in = torch.randn(rows, backbone), torch.randn(rows, units + features)

    def run():
        for _ in range(steps):
            h @ w_rec.t()
            a @ w_head.t()
            dz = du @ w_head
            dz @ w_rec
        big_du.t() @ big_a
        big_dz.t() @ big_in

    return run


def paired_ratios(fn_a, fn_b, pairs: int, warmup: int = 2) -> tuple[float, float]:
    """Time ``fn_a`` and ``fn_b`` in alternation: the median of the per-pair ratios a / b, and the
    ratio of the fastest a to the fastest b (the least disturbed run of each)."""
    for _ in range(warmup):
        fn_a()
        fn_b()
    times_a, times_b = [], []
    for _ in range(pairs):
        start = time.perf_counter()
        fn_a()
        middle = time.perf_counter()
        fn_b()
        times_a.append(middle - start)
        times_b.append(time.perf_counter() - middle)
    return (statistics.median(a / b for a, b in zip(times_a, times_b)), min(times_a) / min(times_b))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", default="1,2", help="comma-separated thread counts to run")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--stream-steps", type=int, default=1000)
    parser.add_argument("--pairs", type=int, default=30, help="alternating CfC step / floor timings")
    parser.add_argument("--step-only", action="store_true",
                        help="print only the liquidts CfC-64 train step's median in ms (run it in two checkouts "
                             "alternately to compare them)")
    args = parser.parse_args()
    for threads in [int(t) for t in args.threads.split(",")]:
        torch.set_num_threads(threads)
        if args.step_only:
            print(f"{cfc_step_seconds(args.repeats) * 1e3:.2f}")
        else:
            run_all(args, threads)


def cfc_step_seconds(repeats: int) -> float:
    """The median liquidts CfC-64 training step, as ``run_all`` times it."""
    from ncps import torch as ncps_torch

    from liquidts.nn import from_ncps

    torch.manual_seed(0)
    x = torch.randn(64, 200, 8)
    return time_call(train_step_fn(from_ncps(ncps_torch.CfC(8, 64)), x), repeats)


def run_all(args, threads: int):
    torch.manual_seed(0)

    from ncps import torch as ncps_torch
    from ncps import wirings as ncps_wirings

    from liquidts.nn import from_ncps

    batch, steps, features = 64, 200, 8
    x = torch.randn(batch, steps, features)
    print(f"\n# {platform.processor() or platform.machine()}, torch {torch.__version__}, "
          f"{threads} thread(s); batch {batch}, {steps} steps, {features} inputs\n")

    results = {}

    def record(name, fn, repeats=args.repeats):
        seconds = time_call(fn, repeats)
        results[name] = seconds
        print(f"{name:42s} {seconds * 1e3:9.2f} ms")

    ncps_cfc = ncps_torch.CfC(features, 64)
    record("ncps CfC-64 train step", train_step_fn(ncps_cfc, x))
    liquid_step = train_step_fn(from_ncps(ncps_cfc), x)
    record("liquidts CfC-64 train step", liquid_step)
    # Timespans that vary between samples and steps: the kernel cannot fold the time heads.
    liquid_step_ts = train_step_fn(from_ncps(ncps_cfc), x, timespans=0.5 + torch.rand(batch, steps))
    record("same, with varying timespans", liquid_step_ts)
    record("torch.nn.LSTM-64 train step", train_step_fn(torch.nn.LSTM(features, 64, batch_first=True), x))
    floor = matmul_floor_fn(batch, steps, features, 64, 128)
    record("CfC-64 matrix products alone (floor)", floor)
    folded_floor = matmul_floor_fn(batch, steps, features, 64, 128, 3)
    record("same, time heads folded (floor, no timespans)", folded_floor)
    paired = paired_ratios(liquid_step, floor, args.pairs)
    paired_folded = paired_ratios(liquid_step, folded_floor, args.pairs)
    paired_ts = paired_ratios(liquid_step_ts, floor, args.pairs)

    ncps_ltc = ncps_torch.LTC(features, ncps_wirings.AutoNCP(19, 2))
    record("ncps LTC-AutoNCP(19,2) train step", train_step_fn(ncps_ltc, x), repeats=max(3, args.repeats // 2))
    record("liquidts LTC-AutoNCP(19,2) train step", train_step_fn(from_ncps(ncps_ltc), x))

    ncps_wired = ncps_torch.CfC(features, ncps_wirings.AutoNCP(19, 2))
    stream_x = torch.randn(1, args.stream_steps, features)
    record("ncps NCP-CfC(19) streaming, per step",
           lambda: streaming_fn(ncps_wired, stream_x, args.stream_steps)(), repeats=3)
    results["ncps NCP-CfC(19) streaming, per step"] /= args.stream_steps
    record("liquidts NCP-CfC(19) streaming, per step",
           lambda: streaming_fn(from_ncps(ncps_wired), stream_x, args.stream_steps)(), repeats=3)
    results["liquidts NCP-CfC(19) streaming, per step"] /= args.stream_steps
    print("(streaming lines above are totals over the steps; per-step figures below)\n")

    def ratio(a, b):
        return results[a] / results[b]

    lines = [
        ("CfC-64 train step: ncps / liquidts (target >= 3)",
         ratio("ncps CfC-64 train step", "liquidts CfC-64 train step")),
        ("CfC-64 train step: liquidts / nn.LSTM-64 (target <= 1.5)",
         ratio("liquidts CfC-64 train step", "torch.nn.LSTM-64 train step")),
        ("CfC-64 train step: liquidts / matrix-product floor (target <= 1.25; unfolded floor)",
         ratio("liquidts CfC-64 train step", "CfC-64 matrix products alone (floor)")),
        (f"  same, timed in alternation ({args.pairs} pairs): median of the pair ratios", paired[0]),
        ("  same, timed in alternation: fastest step / fastest floor", paired[1]),
        ("CfC-64 train step (time heads folded) / folded-heads floor, in alternation: median", paired_folded[0]),
        ("  same: fastest step / fastest floor", paired_folded[1]),
        ("CfC-64 train step with varying timespans / floor, in alternation: median", paired_ts[0]),
        ("  same: fastest step / fastest floor", paired_ts[1]),
        ("CfC-64 train step: ncps / matrix-product floor (best reachable ratio)",
         ratio("ncps CfC-64 train step", "CfC-64 matrix products alone (floor)")),
        ("CfC-64 train step: ncps / folded-heads floor (best reachable, no timespans)",
         ratio("ncps CfC-64 train step", "same, time heads folded (floor, no timespans)")),
        ("CfC-64 floor / nn.LSTM-64 train step (best reachable liquidts / LSTM)",
         ratio("same, time heads folded (floor, no timespans)", "torch.nn.LSTM-64 train step")),
        ("LTC-AutoNCP(19,2) train step: ncps / liquidts (target >= 5)",
         ratio("ncps LTC-AutoNCP(19,2) train step", "liquidts LTC-AutoNCP(19,2) train step")),
        ("NCP-CfC(19) streaming step: ncps / liquidts (target >= 5)",
         ratio("ncps NCP-CfC(19) streaming, per step", "liquidts NCP-CfC(19) streaming, per step")),
    ]
    print(f"{threads} thread(s): streaming per step: ncps {results['ncps NCP-CfC(19) streaming, per step'] * 1e6:.1f} us, "
          f"liquidts {results['liquidts NCP-CfC(19) streaming, per step'] * 1e6:.1f} us")
    for text, value in lines:
        print(f"{threads} thread(s): {text:72s} {value:6.2f}")


if __name__ == "__main__":
    main()
