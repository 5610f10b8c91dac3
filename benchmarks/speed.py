"""The speed and memory suite: how training, inference and streaming cost grow with the context.

    python -m benchmarks speed [--quick] [--models cfc ltc ...] [--lengths 256 1024 ...]
                               [--contexts 1024 4096 ...] [--budget-s 60] [--memory-gb 4]

Three measurements, for CfC, LTC, Mamba, xLSTM, RWKV, Hyena, LSTM and the Transformer, each sized
to about --params parameters (the width is searched; the table lists it):

1. Throughput against sequence length: one forward + backward (training) and one forward without
   gradient (inference) on a batch of --batch sequences of T steps, in steps per second
   (batch x T / seconds), and the peak resident memory (VmHWM) above the resident memory just
   before the measured call. Each
   (model, mode, T) runs in its own process (peak memory is per process) under a memory limit of
   --memory-gb; a run that is killed by the limit or exceeds --budget-s is recorded as capped and the
   longer lengths of that model and mode are skipped.
2. Streaming: the latency of one step (batch 1, no gradient) after a context of P steps, and the
   bytes of the state carried. The fixed-size states (liquid and recurrent models) are reached by
   real runs over the context; the growing ones (Transformer KV cache, Hyena's input history) are
   filled to P entries with random values, since only their size sets a step's cost. The CfC's state
   comes from a real run over the longest context.
3. The bars: the default forecaster's CfC core state against the Transformer's KV cache at the same
   width and a context of 65,536 steps; CfC step latency flat within ±20% from 1k to 64k context
   while the Transformer's grows.

Everything runs on one torch thread. Writes benchmarks/results/speed.md, speed.json, speed.png.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

RESULTS = Path(__file__).with_name("results")
MODELS = ("cfc", "ltc", "mamba", "xlstm", "rwkv", "hyena", "lstm", "transformer")
LENGTHS = (256, 1024, 4096, 16384, 65536)
CONTEXTS = (1024, 4096, 16384, 65536)
FEATURES = 8


# ----- the models, at about the same parameter count -------------------------------------------
def build(name: str, width: int) -> torch.nn.Module:
    from liquidts.baselines import make_model
    from liquidts.nn import CfC, LTC

    if name == "cfc":
        return CfC(FEATURES, width, backbone_units=width, backbone_layers=1)
    if name == "ltc":
        return LTC(FEATURES, width)
    if name == "xlstm":  # the recurrent mLSTM form: the parallel one needs T^2 memory
        return make_model(name, FEATURES, width, mlstm_mode="recurrent", round_proj_to=1)
    if name == "transformer":
        return make_model(name, FEATURES, width, n_heads=4)
    return make_model(name, FEATURES, width)


def n_params(model) -> int:
    return sum(p.numel() for p in model.parameters())


def sized_width(name: str, target: int) -> int:
    widths = range(8, 257, 8)
    return min(widths, key=lambda w: abs(n_params(build(name, w)) - target))


# ----- 1. throughput and peak memory, one process per measurement ------------------------------
def _status_mb(field: str) -> float:
    with open("/proc/self/status") as f:
        line = next(line for line in f if line.startswith(field + ":"))
    return int(line.split()[1]) / 1024


def _reset_peak() -> None:
    """Start the kernel's peak-RSS counter (VmHWM) afresh from the current RSS (Linux)."""
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


def measure_one(name: str, width: int, T: int, batch: int, train: bool) -> dict:
    """Run in a child process: time one forward (+ backward) after a warm-up on a short input."""
    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = build(name, width)
    model.train(train)
    warm = torch.randn(batch, 16, FEATURES)
    x = torch.randn(batch, T, FEATURES)
    with torch.set_grad_enabled(train):
        model(warm)[0].square().mean().backward() if train else model(warm)
    model.zero_grad(set_to_none=True)
    base = _status_mb("VmRSS")
    _reset_peak()
    start = time.perf_counter()
    with torch.set_grad_enabled(train):
        y, _ = model(x)
        if train:
            y.square().mean().backward()
    seconds = time.perf_counter() - start
    return dict(seconds=seconds, steps_per_s=batch * T / seconds, peak_mb=max(0.0, _status_mb("VmHWM") - base))


def _child(args) -> int:
    limit = int(args.memory_gb * 2 ** 30)
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    try:
        out = measure_one(args.model, args.width, args.T, args.batch, args.train)
    except (MemoryError, RuntimeError) as err:
        out = dict(error=f"{type(err).__name__}: {str(err)[:120]}")
    print(json.dumps(out))
    return 0


def throughput(models, widths, lengths, batch, budget_s, memory_gb, log=print) -> list:
    records = []
    for name in models:
        for train in (True, False):
            capped = None
            for T in lengths:
                rec = dict(model=name, width=widths[name], mode="train" if train else "inference", T=T)
                if capped:
                    records.append({**rec, "capped": capped})
                    continue
                cmd = [sys.executable, "-m", "benchmarks.speed", "--child", "--model", name,
                       "--width", str(widths[name]), "--T", str(T), "--batch", str(batch),
                       "--memory-gb", str(memory_gb)] + (["--train"] if train else [])
                try:
                    done = subprocess.run(cmd, capture_output=True, text=True, timeout=budget_s,
                                          cwd=Path(__file__).resolve().parents[1])
                    lines = done.stdout.strip().splitlines()
                    out = json.loads(lines[-1]) if lines else dict(error=done.stderr.strip()[-200:])
                except subprocess.TimeoutExpired:
                    out = dict(error=f"over the {budget_s} s budget")
                if "error" in out:
                    capped = f"capped at T={T}: {out['error']}"
                    records.append({**rec, "capped": capped})
                else:
                    records.append({**rec, **out})
                log(f"{name:>12} {rec['mode']:>9} T={T:>6}: " +
                    (capped or f"{out['steps_per_s']:,.0f} steps/s, peak +{out['peak_mb']:.0f} MB"))
    return records


# ----- 2. streaming latency and state bytes ------------------------------------------------------
def state_bytes(state) -> int:
    if isinstance(state, torch.Tensor):
        return state.nbytes
    return sum(state_bytes(s) for s in state)


def _grow(state, P: int, axis: int):
    """A copy of a cache tensor filled with random values to P entries along ``axis``."""
    shape = list(state.shape)
    shape[axis] = P
    return torch.randn(shape, dtype=state.dtype)


def context_state(name: str, model, P: int, real_limit: int):
    """The model's state after a context of P steps (see the module docstring)."""
    from liquidts.baselines import Hyena, Transformer

    if isinstance(model, Transformer):
        k, v = model.initial_state(1)
        return _grow(k, P, 3), _grow(v, P, 3)
    if isinstance(model, Hyena):
        return tuple((short, _grow(long, P, 3)) for short, long in model.initial_state(1))
    steps = P if name == "cfc" else min(P, real_limit)  # fixed-size states: their shape never changes
    with torch.no_grad():
        _, state = model(torch.randn(1, steps, FEATURES))
    return state


def step_fn(model):
    if hasattr(model, "step"):
        return model.step
    return lambda x, h: model(x.unsqueeze(1), h)


def streaming(models, widths, contexts, steps: int, real_limit: int, log=print) -> list:
    records = []
    x = torch.randn(1, FEATURES)
    for name in models:
        model = build(name, widths[name]).eval()
        step = step_fn(model)
        states = {P: context_state(name, model, P, real_limit) for P in contexts}
        times = {P: [] for P in contexts}
        with torch.no_grad():
            for P in contexts:  # warm-up (the Hyena filter memo, kernel tables)
                step(x, states[P])
            for _ in range(steps):  # rounds over the contexts, so drift in the machine's load hits all alike
                for P in contexts:
                    start = time.perf_counter()
                    step(x, states[P])
                    times[P].append(time.perf_counter() - start)
        for P in contexts:
            rec = dict(model=name, width=widths[name], context=P, state_bytes=state_bytes(states[P]),
                       step_us=1e6 * statistics.median(times[P]))
            records.append(rec)
            log(f"{name:>12} context {P:>6}: step {rec['step_us']:8.1f} us, state {rec['state_bytes']:>12,} B")
    return records


# ----- 3. the bars -------------------------------------------------------------------------------
def bars(stream_records, context: int) -> dict:
    from liquidts.baselines.transformer import kv_cache_bytes
    from liquidts.forecast import LiquidForecaster
    from liquidts.forecast.cores import build_core

    est = LiquidForecaster()
    width = est.units
    core = build_core("cfc", width, est.backbone_units).eval()
    with torch.no_grad():
        _, h = core(torch.randn(1, 3, width), None, torch.ones(1, 3))
    transformer = build_core("transformer", width, est.backbone_units)
    kv = kv_cache_bytes(transformer.config, context)
    lat = {(r["model"], r["context"]): r["step_us"] for r in stream_records}
    contexts = sorted({r["context"] for r in stream_records})
    lo, hi = contexts[0], contexts[-1]
    out = dict(width=width, context=context, cfc_state_bytes=state_bytes(h), transformer_kv_bytes=kv,
               ratio=kv / state_bytes(h), first_context=lo, last_context=hi)
    if ("cfc", lo) in lat:
        out["cfc_latency_change"] = lat[("cfc", hi)] / lat[("cfc", lo)] - 1
    if ("transformer", lo) in lat:
        out["transformer_latency_change"] = lat[("transformer", hi)] / lat[("transformer", lo)] - 1
    return out


# ----- report ------------------------------------------------------------------------------------
def markdown(meta, widths, params, tput, stream, bar) -> str:
    lines = ["# Speed and memory against context length", "",
             f"Command: `{meta['command']}`  ", f"Machine: {meta['machine']}; torch {meta['torch']}; "
             f"**1 torch thread**; the machine is shared with other jobs, so times are noisy.  ",
             f"Date: {meta['date']}; commit {meta['commit']}.  ",
             f"Models sized to about {meta['params']:,} parameters, {FEATURES} input features; "
             f"throughput batch {meta['batch']}; budget {meta['budget_s']} s and {meta['memory_gb']} GB per run.", "",
             "| model | width | parameters |", "| --- | --- | --- |"]
    lines += [f"| {m} | {widths[m]} | {params[m]:,} |" for m in widths]
    for mode in ("train", "inference"):
        lengths = sorted({r["T"] for r in tput})
        lines += ["", f"## {'Training (forward + backward)' if mode == 'train' else 'Inference (no gradient)'}: "
                  "steps per second / peak memory above baseline (MB)", "",
                  "| model | " + " | ".join(f"T={T:,}" for T in lengths) + " |",
                  "| --- |" + " --- |" * len(lengths)]
        for m in widths:
            cells = []
            for T in lengths:
                r = next((r for r in tput if r["model"] == m and r["mode"] == mode and r["T"] == T), None)
                cells.append("—" if r is None else ("capped" if "capped" in r else
                                                    f"{r['steps_per_s']:,.0f} / {r['peak_mb']:,.0f}"))
            lines.append(f"| {m} | " + " | ".join(cells) + " |")
    caps = sorted({(r["model"], r["mode"], r["capped"]) for r in tput if "capped" in r and "capped at" in r["capped"]
                   and f"T={r['T']}:" in r["capped"]})
    if caps:
        lines += ["", "Capped runs (longer lengths of the same model and mode then skipped):", ""]
        lines += [f"- {m} {mode}: {why}" for m, mode, why in caps]
    contexts = sorted({r["context"] for r in stream})
    lines += ["", "## Streaming: latency of one step (µs, median, batch 1) / state bytes after P steps of context", "",
              "| model | " + " | ".join(f"P={P:,}" for P in contexts) + " |", "| --- |" + " --- |" * len(contexts)]
    for m in widths:
        cells = []
        for P in contexts:
            r = next((r for r in stream if r["model"] == m and r["context"] == P), None)
            cells.append("—" if r is None else f"{r['step_us']:,.0f} / {r['state_bytes']:,}")
        lines.append(f"| {m} | " + " | ".join(cells) + " |")
    lines += ["", "## Bars", "",
              f"- Default forecaster core (CfC, width {bar['width']}): state {bar['cfc_state_bytes']:,} bytes per "
              f"sequence; Transformer baseline at the same width, KV cache at a context of {bar['context']:,}: "
              f"{bar['transformer_kv_bytes']:,} bytes: **{bar['ratio']:,.0f}x** (bar: >= 1,000x)."]
    if "cfc_latency_change" in bar:
        lines.append(f"- CfC step latency from {bar['first_context']:,} to {bar['last_context']:,} steps of context: "
                     f"{100 * bar['cfc_latency_change']:+.1f}% (bar: within ±20%).")
    if "transformer_latency_change" in bar:
        lines.append(f"- Transformer step latency over the same range: {100 * bar['transformer_latency_change']:+.0f}%.")
    lines += ["", "![speed](speed.png)", ""]
    return "\n".join(lines)


def plot(widths, tput, stream, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 5, figsize=(24, 4.5))
    panels = [("train", "steps_per_s", "training steps/s"), ("inference", "steps_per_s", "inference steps/s"),
              ("train", "peak_mb", "training peak memory (MB)")]
    for ax, (mode, key, title) in zip(axes, panels):
        for m in widths:
            pts = [(r["T"], r[key]) for r in tput if r["model"] == m and r["mode"] == mode and key in r]
            if pts:
                ax.plot(*zip(*pts), marker="o", label=m)
        ax.set(xscale="log", yscale="log", xlabel="sequence length T", title=title)
    for ax, key, title in ((axes[3], "step_us", "streaming step latency (µs)"),
                           (axes[4], "state_bytes", "state bytes")):
        for m in widths:
            pts = [(r["context"], r[key]) for r in stream if r["model"] == m]
            if pts:
                ax.plot(*zip(*pts), marker="o", label=m)
        ax.set(xscale="log", yscale="log", xlabel="context P (steps)", title=title)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def main(argv=None) -> int:
    from benchmarks.__main__ import _commit

    parser = argparse.ArgumentParser(prog="python -m benchmarks speed", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="short lengths and contexts (CI)")
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    parser.add_argument("--lengths", type=int, nargs="+")
    parser.add_argument("--contexts", type=int, nargs="+")
    parser.add_argument("--params", type=int, default=25_000)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--budget-s", type=float, default=60.0)
    parser.add_argument("--memory-gb", type=float, default=4.0)
    parser.add_argument("--stream-steps", type=int, default=200)
    parser.add_argument("--out", default=str(RESULTS))
    # one measurement in a child process
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--model", help=argparse.SUPPRESS)
    parser.add_argument("--width", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--T", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--train", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return _child(args)
    torch.set_num_threads(1)
    lengths = args.lengths or ((256, 1024) if args.quick else LENGTHS)
    contexts = args.contexts or ((256, 1024) if args.quick else CONTEXTS)
    widths = {m: sized_width(m, args.params) for m in args.models}
    params = {m: n_params(build(m, w)) for m, w in widths.items()}
    meta = dict(command="python -m benchmarks speed " + " ".join(sys.argv[1:] if argv is None else argv),
                commit=_commit(), torch=torch.__version__, date=datetime.date.today().isoformat(),
                machine=f"{platform.machine()}, {os.cpu_count()} CPUs", params=args.params, batch=args.batch,
                budget_s=args.budget_s, memory_gb=args.memory_gb, threads=1)
    tput = throughput(args.models, widths, lengths, args.batch, args.budget_s, args.memory_gb)
    stream = streaming(args.models, widths, contexts, 30 if args.quick else args.stream_steps,
                       real_limit=1024)
    bar = bars(stream, 65_536)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stem = "speed-quick" if args.quick else "speed"
    (out / f"{stem}.json").write_text(json.dumps(dict(meta=meta, widths=widths, params=params, throughput=tput,
                                                      streaming=stream, bars=bar), indent=1))
    (out / f"{stem}.md").write_text(markdown(meta, widths, params, tput, stream, bar))
    plot(widths, tput, stream, out / f"{stem}.png")
    print(f"wrote {out / stem}.md, .json, .png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
