"""GPU throughput of the Triton CfC kernel against the PyTorch CfC path, ncps and cuDNN LSTM.

For each (batch, sequence length, hidden size) it times, on one CUDA device:

* training: forward + backward of ``loss = mean(y**2)`` w.r.t. all parameters;
* inference: a forward pass under ``torch.no_grad()``;

for ``liquidts.nn.CfC(backend="triton")``, ``CfC(backend="torch")`` (the PyTorch step loop),
``ncps.torch.CfC`` and ``torch.nn.LSTM`` (cuDNN) of the same hidden size, and prints sequences/s
and the ratios triton/torch-loop, triton/LSTM and triton/ncps. It also times the forward kernel
alone (inputs projected beforehand) and reports its share of the GPU's memory bandwidth: the
bytes it must move (the projected inputs, the timespans and the states it writes; weights read
once per program) over its time, over the peak bandwidth from the device properties (or
``--peak-gbps``).

Targets (issue 3): >= 10x the PyTorch step loop, and no slower than cuDNN LSTM at batch >= 256.

Examples::

    python benchmarks/bench_cfc_gpu.py                       # the default subsampled grid
    python benchmarks/bench_cfc_gpu.py --grid full            # batch x seq x hidden, every combination
    python benchmarks/bench_cfc_gpu.py --batch 256 --seq 512 --hidden 128 --dtype bfloat16
    python benchmarks/bench_cfc_gpu.py --wired                # AutoNCP(hidden, hidden // 4) cascade
    python benchmarks/bench_cfc_gpu.py --compile-only         # no GPU needed: see below

Needs a CUDA device and Triton; exits with a message otherwise. ``--compile-only`` instead
compiles the kernels for ``--arch`` (default sm_90) with Triton's bundled ptxas, which needs no
GPU, and prints each variant's registers and spill (stack) bytes per thread and shared memory per
block, with the weights held on chip and re-read every step, for the sizes of ``--hidden`` and
``--backbone-units``: the check that they build for a GPU and what fits it.
"""

from __future__ import annotations

import argparse
import itertools
import os
import statistics
import subprocess
import sys
import tempfile
import time

import torch
from torch import nn

IMPLS = ("triton", "torch", "ncps", "lstm")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--grid", choices=("default", "full"), default="default",
                   help="default: every batch x hidden at --seq-mid, plus the --seq sweep at batch 256 and "
                        "hidden 128; full: the whole product")
    p.add_argument("--batch", type=int, nargs="+", default=[32, 256, 1024, 4096])
    p.add_argument("--seq", type=int, nargs="+", default=[64, 512, 4096])
    p.add_argument("--seq-mid", type=int, default=512, help="sequence length of the default grid's batch x hidden part")
    p.add_argument("--hidden", type=int, nargs="+", default=[32, 128, 256])
    p.add_argument("--inputs", type=int, default=16, help="input features")
    p.add_argument("--backbone-units", type=int, default=128)
    p.add_argument("--backbone-layers", type=int, default=1)
    p.add_argument("--mode", choices=("default", "no_gate", "pure"), default="default")
    p.add_argument("--wired", action="store_true", help="CfC on AutoNCP(hidden, hidden // 4) instead of a backbone")
    p.add_argument("--dtype", choices=("float32", "bfloat16"), default="float32")
    p.add_argument("--tf32", action="store_true", help="allow TF32 matrix products (torch and the kernel)")
    p.add_argument("--impls", nargs="+", choices=IMPLS, default=list(IMPLS))
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--iters", type=int, default=5, help="timed repetitions (the median is reported)")
    p.add_argument("--max-loop-steps", type=int, default=2 ** 21,
                   help="skip the step-loop baselines (torch, ncps) when batch*seq exceeds this")
    p.add_argument("--peak-gbps", type=float, default=None, help="peak memory bandwidth in GB/s (default: "
                   "from the device properties)")
    p.add_argument("--compile-only", action="store_true", help="compile the kernels for --arch and print "
                   "their register use; needs no GPU")
    p.add_argument("--arch", type=int, default=90, help="CUDA compute capability for --compile-only")
    return p.parse_args(argv)


def compile_only(args):
    """Compile every kernel variant the grid would launch, in both forms (weights held on chip, or
    re-read every step); print registers and spills per thread and shared memory per block."""
    if os.environ.get("TRITON_INTERPRET") == "1":
        sys.exit("bench_cfc_gpu --compile-only: unset TRITON_INTERPRET (the interpreter compiles nothing)")
    import triton
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource

    from liquidts.kernels.cfc import MODE_IDS
    from liquidts.kernels.cfc import triton as K
    from liquidts.kernels.dispatch import held_weights, padded

    cuobjdump = os.path.join(os.path.dirname(triton.__file__), "backends", "nvidia", "bin", "cuobjdump")
    target = GPUTarget("cuda", args.arch, 32)
    ints = {"T", "B", "H", "K", "H0", "H1", "H2"}
    G = 1 if args.mode == "pure" else 4
    dtype = getattr(torch, args.dtype)
    torch.backends.cuda.matmul.allow_tf32 = args.tf32  # the kernels' product precision follows it
    common = dict(BB=16, MODE=MODE_IDS[args.mode])
    print("| kernel | hidden | weights | warps | products | registers | spill bytes | shared bytes | compile s |")
    print("|---|---|---|---|---|---|---|---|---|")
    for hidden in args.hidden:
        if args.wired:
            from liquidts.wirings import AutoNCP

            wiring = AutoNCP(hidden, max(1, hidden // 4), seed=0)
            wiring.build(args.inputs)
            sizes = wiring.layer_sizes
            elements = held_weights(sizes, 0, 0, G)
            pads = {f"HP{l}": padded(sizes[min(l, len(sizes) - 1)]) for l in range(K.MAX_CELLS)}
            variants = [(K._cfc_fwd_cascade_kernel, elements),
                        (K._cfc_bwd_cascade_kernel, 2 * elements)]
            extra = dict(N_CELLS=len(sizes), HAS_MASK=True, **pads)
        else:
            n_hidden = args.backbone_layers - 1
            if n_hidden < 0:
                sys.exit("bench_cfc_gpu --compile-only: use --wired for backbone-free cells")
            elements = held_weights([hidden], args.backbone_units, n_hidden, G)
            variants = [(K._cfc_fwd_backbone_kernel, elements), (K._cfc_bwd_backbone_kernel, 2 * elements)]
            extra = dict(N_HIDDEN=n_hidden, ACT=0, HP=padded(hidden), KP=padded(args.backbone_units))
        for (kernel, size), reread in itertools.product(variants, (False, True)):
            fn = kernel.fn
            options = K.launch_options(dtype, size, reread)
            constexprs = dict(common, PREC=options.pop("PREC"), RELOAD=options.pop("RELOAD"), **extra)
            signature = {n: "constexpr" if n in constexprs else ("i32" if n in ints else "*fp32")
                         for n in fn.arg_names}
            start = time.perf_counter()
            compiled = triton.compile(ASTSource(fn, signature, constexprs), target=target, options=options)
            seconds = time.perf_counter() - start
            with tempfile.NamedTemporaryFile(suffix=".cubin") as f:
                f.write(compiled.asm["cubin"])
                f.flush()
                usage = subprocess.run([cuobjdump, "--dump-resource-usage", f.name], capture_output=True,
                                       text=True, check=True).stdout
            fields = dict(item.split(":") for line in usage.splitlines() if "REG:" in line
                          for item in line.split() if ":" in item)
            print(f"| {fn.__name__} | {hidden} | {'re-read' if reread else 'held'} | {options['num_warps']} | "
                  f"{constexprs['PREC']} | {fields.get('REG')} | {fields.get('STACK')} | {compiled.metadata.shared} | "
                  f"{seconds:.0f} |", flush=True)


def configs(args):
    if args.grid == "full":
        return list(itertools.product(args.batch, args.seq, args.hidden))
    out = [(b, args.seq_mid, h) for h in args.hidden for b in args.batch]
    out += [(256, t, 128) for t in args.seq if t != args.seq_mid]
    return out


def peak_bandwidth(device, override_gbps):
    if override_gbps is not None:
        return override_gbps * 1e9
    props = torch.cuda.get_device_properties(device)
    # Double data rate: two transfers per memory clock (kHz) over the bus (bits).
    return 2 * props.memory_bus_width / 8 * props.memory_clock_rate * 1e3


def build(impl, hidden, args, device, dtype):
    if impl == "lstm":
        return nn.LSTM(args.inputs, hidden, batch_first=True).to(device, dtype)
    if args.wired:
        if impl == "ncps":
            from ncps.wirings import AutoNCP as Wiring
        else:
            from liquidts.wirings import AutoNCP as Wiring
        units = Wiring(hidden, max(1, hidden // 4), seed=0)
        kw = {}
    else:
        units = hidden
        kw = dict(backbone_units=args.backbone_units, backbone_layers=args.backbone_layers)
    if impl == "ncps":
        from ncps.torch import CfC as NcpsCfC

        return NcpsCfC(args.inputs, units, mode=args.mode, **kw).to(device, dtype)
    from liquidts.nn import CfC

    return CfC(args.inputs, units, mode=args.mode, backend=impl, **kw).to(device, dtype)


def timed(fn, warmup, iters):
    """Median seconds of ``fn`` over ``iters`` runs (CUDA-synchronised)."""
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(iters):
        start = time.perf_counter()
        fn()
        torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def measure(model, x, args):
    """(training seconds, inference seconds) of one model on x (B, T, I)."""
    params = [p for p in model.parameters()]

    def train():
        for p in params:
            p.grad = None
        y, _ = model(x)
        y.float().pow(2).mean().backward()

    def infer():
        with torch.no_grad():
            model(x)

    return timed(train, args.warmup, args.iters), timed(infer, args.warmup, args.iters)


def kernel_bandwidth(model, x, args):
    """(seconds, bytes) of the forward kernel alone, on inputs projected beforehand."""
    from liquidts.kernels.cfc import effective
    from liquidts.kernels.cfc.triton import _block_rows, cfc_triton

    with torch.no_grad():
        cells = [cell.weights(apply_mask=False) for cell in model.cells]
        x_proj = torch.nn.functional.linear(x.transpose(0, 1), effective(cells[0]).in_weight,
                                            cells[0].bias).contiguous()  # (T, B, K0)
        steps, batch = x_proj.shape[:2]
        h0 = [x.new_zeros(batch, cell.hidden_size) for cell in model.cells]
        ts = x.new_ones(steps, batch, 1)
        seconds = timed(lambda: cfc_triton(x_proj, h0, ts, cells, args.mode, model.activation),
                        args.warmup, args.iters)
    element = x.element_size()
    states = sum(h.shape[-1] for h in h0)
    weights = sum(t.numel() for t in model.parameters()) * element
    programs = -(-batch // _block_rows(batch, x.device))  # each reads the weights once
    moved = (x_proj.numel() + ts.numel() + steps * batch * states + batch * states) * element
    return seconds, moved + programs * weights


def relative_errors(model, x, rows=256):
    """Errors of the kernel and of the PyTorch path in ``x``'s dtype against PyTorch in float64.

    On the first ``rows`` sequences (enough for several of the kernel's batch blocks): for the
    output, ||y - y64|| / ||y64||, and for the gradients of ``mean(y**2)``, the largest such ratio
    over the parameters. Returns {"triton": (output error, gradient error), "torch": (...)}.
    """
    import copy

    x = x[:rows]

    def run(layer, backend, inputs):
        layer.backend = backend
        layer.zero_grad(set_to_none=True)
        y, _ = layer(inputs)
        y.to(torch.float64 if inputs.dtype == torch.float64 else torch.float32).pow(2).mean().backward()
        return y.detach().double(), [p.grad.detach().double() for p in layer.parameters()]

    def rel(a, b):
        return ((a - b).norm() / b.norm().clamp_min(1e-300)).item()

    want_y, want_g = run(copy.deepcopy(model).double(), "torch", x.double())
    out = {}
    for backend in ("triton", "torch"):
        y, g = run(model, backend, x)
        out[backend] = (rel(y, want_y), max(rel(a, b) for a, b in zip(g, want_g)))
    model.backend = "triton"
    return out


def fmt_rate(seconds, batch):
    return "-" if seconds is None else f"{batch / seconds:,.0f}"


def ratio(a, b):
    return "-" if a is None or b is None else f"{b / a:.2f}x"


def main(argv=None):
    args = parse_args(argv)
    if args.compile_only:
        return compile_only(args)
    if not torch.cuda.is_available():
        sys.exit("bench_cfc_gpu: no CUDA device is available; this benchmark measures GPU throughput "
                 "(run the CPU correctness tests instead: pytest tests/kernels/test_cfc_triton.py)")
    from liquidts.kernels.dispatch import triton_unavailable_reason

    device = torch.device("cuda")
    reason = triton_unavailable_reason(device.type)
    if reason is not None:
        sys.exit(f"bench_cfc_gpu: the Triton kernel cannot run: {reason}")
    from liquidts.kernels.cfc.triton import _WEIGHTS_TOO_BIG  # which launches re-read their weights
    if "ncps" in args.impls:
        try:
            import ncps  # noqa: F401
        except ImportError:
            print("ncps is not installed: skipping it", file=sys.stderr)
            args.impls = [i for i in args.impls if i != "ncps"]
        if args.dtype != "float32":  # ncps starts its state in float32 whatever the weights' dtype
            print(f"ncps runs in float32 only: skipping it for {args.dtype}", file=sys.stderr)
            args.impls = [i for i in args.impls if i != "ncps"]
    torch.backends.cuda.matmul.allow_tf32 = args.tf32
    torch.backends.cudnn.allow_tf32 = args.tf32
    dtype = getattr(torch, args.dtype)
    peak = peak_bandwidth(device, args.peak_gbps)
    name = torch.cuda.get_device_name(device)
    cell = ("wired AutoNCP(hidden, hidden//4)" if args.wired
            else f"backbone {args.backbone_layers}x{args.backbone_units}")
    print(f"# {name}, peak bandwidth {peak / 1e9:,.0f} GB/s, {args.dtype}, tf32={args.tf32}, mode={args.mode}, "
          f"{cell}, inputs={args.inputs}, median of {args.iters}")
    header = ("| batch | seq | hidden | phase | " + " | ".join(f"{i} seq/s" for i in args.impls)
              + " | triton/torch | triton/LSTM | triton/ncps |")
    print(header)
    print("|" + "---|" * (header.count("|") - 1))
    bandwidth_rows = []
    error_rows = []
    for batch, steps, hidden in configs(args):
        torch.manual_seed(0)
        x = torch.randn(batch, steps, args.inputs, device=device, dtype=dtype)
        results = {}
        for impl in args.impls:
            if impl in ("torch", "ncps") and batch * steps > args.max_loop_steps:
                results[impl] = (None, None)
                continue
            try:
                model = build(impl, hidden, args, device, dtype)
                if impl == "triton":
                    _WEIGHTS_TOO_BIG.clear()
                results[impl] = measure(model, x, args)
                if impl == "triton":
                    seconds, moved = kernel_bandwidth(model, x, args)
                    reread = sorted({k[0].split("_")[2] for k in _WEIGHTS_TOO_BIG})  # "_cfc_fwd_..." -> "fwd"
                    bandwidth_rows.append((batch, steps, hidden, seconds, moved, " ".join(reread) or "-"))
                    error_rows.append((batch, steps, hidden, relative_errors(model, x)))
            except torch.cuda.OutOfMemoryError:
                results[impl] = (None, None)
                print(f"<!-- {impl} batch={batch} seq={steps} hidden={hidden}: out of memory -->")
            finally:
                model = None
                torch.cuda.empty_cache()
        for phase, k in (("train", 0), ("infer", 1)):
            t = {i: results[i][k] for i in args.impls}
            print(f"| {batch} | {steps} | {hidden} | {phase} | "
                  + " | ".join(fmt_rate(t[i], batch) for i in args.impls)
                  + f" | {ratio(t.get('triton'), t.get('torch'))} | {ratio(t.get('triton'), t.get('lstm'))}"
                  + f" | {ratio(t.get('triton'), t.get('ncps'))} |", flush=True)
    if bandwidth_rows:
        print("\n# forward kernel alone: memory bandwidth share")
        print("| batch | seq | hidden | ms | GB moved | GB/s | share of peak | weights re-read every step in |")
        print("|---|---|---|---|---|---|---|---|")
        for batch, steps, hidden, seconds, moved, reread in bandwidth_rows:
            print(f"| {batch} | {steps} | {hidden} | {seconds * 1e3:.3f} | {moved / 1e9:.3f} | "
                  f"{moved / seconds / 1e9:,.0f} | {100 * moved / seconds / peak:.1f}% | {reread} |")
    if error_rows:
        print(f"\n# relative error against the PyTorch path in float64 (first 256 sequences; {args.dtype} inputs)")
        print("| batch | seq | hidden | triton y | torch y | triton grads (max) | torch grads (max) |")
        print("|---|---|---|---|---|---|---|")
        for batch, steps, hidden, err in error_rows:
            print(f"| {batch} | {steps} | {hidden} | {err['triton'][0]:.1e} | {err['torch'][0]:.1e} | "
                  f"{err['triton'][1]:.1e} | {err['torch'][1]:.1e} |")


if __name__ == "__main__":
    main()
