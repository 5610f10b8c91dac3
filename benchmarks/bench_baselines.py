"""Speed of the baseline sequence models: forward + backward on one batch, against torch.nn.LSTM.

Every model gets the same input (batch x steps x inputs) and is sized to about --params parameters
(the nn.LSTM reference is fixed at hidden 64, 2 layers, as in the project notes); the loss is the
sum of squares of the output. Times are the median and the minimum over --repeats runs after one
warm-up run; on a shared machine the minimum is the steadier figure.
The `mambapy` and `xlstm` packages are timed too when installed (xlstm with its vanilla sLSTM
backend, the only one that runs without CUDA; mambapy with its parallel scan, and with --with-slow
also in its sequential mode).

    python benchmarks/bench_baselines.py --threads 1
"""

import argparse
import platform
import statistics
import time

import torch
from torch import nn

from liquidts.baselines import GRU, XLSTM, Mamba


def n_params(model):
    return sum(p.numel() for p in model.parameters())


def sized(build, target, widths):
    """The model among build(w) for w in widths whose parameter count is closest to target."""
    return min((build(w) for w in widths), key=lambda m: abs(n_params(m) - target))


class Stack(nn.Module):
    """Input projection + a reference package's block stack, so it sees the same input as ours."""

    def __init__(self, inputs, width, stack):
        super().__init__()
        self.encoder = nn.Linear(inputs, width)
        self.stack = stack

    def forward(self, x):
        return self.stack(self.encoder(x))


def time_model(fn, model, x, repeats):
    def once():
        model.zero_grad(set_to_none=True)
        t0 = time.perf_counter()
        out = fn(model, x)
        out.square().sum().backward()
        if x.is_cuda:
            torch.cuda.synchronize()
        return time.perf_counter() - t0

    once()
    times = [once() for _ in range(repeats)]
    return statistics.median(times), min(times)


def candidates(args):
    F, P = args.inputs, args.params
    ours = lambda m, x: m(x)[0]  # noqa: E731
    plain = lambda m, x: m(x)  # noqa: E731
    if torch.cuda.is_available() and args.device == "cuda":
        mamba_scans = [("loop", "loop"), ("parallel", "parallel"), ("auto", "auto (fused if mamba_ssm)")]
    else:
        mamba_scans = [("loop", "loop"), ("parallel", "parallel")]
    yield "nn.LSTM (hidden 64, 2 layers)", nn.LSTM(F, 64, num_layers=2, batch_first=True), lambda m, x: m(x)[0]
    yield "GRU", sized(lambda w: GRU(F, w, num_layers=2), P, range(16, 257, 4)), ours
    for scan, label in mamba_scans:
        yield f"Mamba, {label} scan", sized(lambda w: Mamba(F, w, scan=scan), P, range(16, 257, 4)), ours
    yield "Mamba small (expand=1, d_conv=2), loop scan", \
        sized(lambda w: Mamba(F, w, expand=1, d_conv=2, scan="loop"), P, range(16, 257, 4)), ours
    stacks = [("mLSTM", dict(slstm_at=())), ("sLSTM", dict(slstm_at="all")), ("mixed m+s", dict(slstm_at=(1,)))]
    for label, kw in stacks:
        yield f"xLSTM {label}", sized(lambda w: XLSTM(F, w, num_blocks=2, **kw), P, range(16, 257, 4)), ours
    try:
        from mambapy.mamba import Mamba as RefMamba, MambaConfig as RefMambaConfig
    except ImportError:
        pass
    else:
        for pscan in (True, False) if args.with_slow else (True,):
            def build(w, pscan=pscan):
                return Stack(F, w, RefMamba(RefMambaConfig(d_model=w, n_layers=2, pscan=pscan)))
            yield f"mambapy 1.2.0, {'parallel' if pscan else 'sequential'}", sized(build, P, range(16, 257, 4)), plain
    try:
        import xlstm
    except ImportError:
        pass
    else:
        for label, at in [("mLSTM", []), ("sLSTM", "all"), ("mixed m+s", [1])]:
            def build(w, at=at):
                cfg = xlstm.xLSTMBlockStackConfig(
                    mlstm_block=xlstm.mLSTMBlockConfig(),
                    slstm_block=xlstm.sLSTMBlockConfig(slstm=xlstm.sLSTMLayerConfig(backend="vanilla")),
                    context_length=args.steps, num_blocks=2, embedding_dim=w, slstm_at=at)
                return Stack(F, w, xlstm.xLSTMBlockStack(cfg))
            yield f"xlstm {xlstm.__version__} {label} (vanilla)", sized(build, P, range(16, 257, 16)), plain


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--inputs", type=int, default=8)
    ap.add_argument("--params", type=int, default=64_000, help="target parameter count per model")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=0, help="torch.set_num_threads (0: leave as is)")
    ap.add_argument("--with-slow", action="store_true",
                    help="also time mambapy's sequential mode (its backward takes minutes here)")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    x = torch.randn(args.batch, args.steps, args.inputs, device=args.device)
    print(f"torch {torch.__version__}, {platform.processor() or platform.machine()}, device {args.device}, "
          f"threads {torch.get_num_threads()}, input {tuple(x.shape)}, median of {args.repeats}")
    print("| model | width | params | ms median | ms min | x nn.LSTM (min) |")
    print("| --- | --- | --- | --- | --- | --- |")
    ref_ms = None
    for label, model, fn in candidates(args):
        model = model.to(args.device)
        med, best = (1000 * t for t in time_model(fn, model, x, args.repeats))
        ref_ms = ref_ms or best
        width = getattr(model, "hidden_size", None) or getattr(getattr(model, "encoder", None), "out_features", "")
        print(f"| {label} | {width} | {n_params(model)} | {med:.0f} | {best:.0f} | {best / ref_ms:.1f} |",
              flush=True)


if __name__ == "__main__":
    main()
