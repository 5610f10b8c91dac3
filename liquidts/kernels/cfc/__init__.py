"""CfC recurrence backends behind one dispatch.

All share the contract of :func:`reference.cfc_reference`: ``(x_proj (T, B, K0), h0 [per cell
(B, H_l)], ts (T, B, 1), cells [CellWeights], mode, activation) -> [per cell (T, B, H_l)]``.
A cell's wiring mask (``CellWeights.mask``) is applied inside the Triton kernel; the PyTorch path
multiplies it into the weights first.
"""

from __future__ import annotations

from liquidts.kernels.cfc.reference import MODES, CellWeights, cfc_reference, effective
from liquidts.kernels.cfc.scan import cfc_scan

BACKENDS = ("auto", "torch", "triton")

__all__ = ["BACKENDS", "MODES", "CellWeights", "cfc_reference", "effective", "cfc_scan", "cfc_sequence", "triton_unavailable_reason"]


def triton_unavailable_reason(device) -> str | None:
    """Why the Triton kernel cannot run on ``device``, or None when it can."""
    import os

    try:
        import triton  # noqa: F401
    except ImportError as err:
        return f"triton is not importable ({err}); install it with `pip install triton` on Linux"
    interpreting = os.environ.get("TRITON_INTERPRET") == "1"
    if device.type != "cuda" and not interpreting:
        return (f"the Triton kernel runs on CUDA tensors (got a {device.type} tensor); "
                "set TRITON_INTERPRET=1 to run it on the CPU through Triton's interpreter")
    try:
        from liquidts.kernels.cfc import triton as _  # noqa: F401
    except ImportError as err:
        return f"the Triton CfC kernel is not available in this build ({err})"
    return None


def cfc_sequence(x_proj, h0, ts, cells, mode, activation, backend="auto"):
    """Run the recurrence on the chosen backend (``auto``: Triton for CUDA tensors when it can)."""
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; valid options are {list(BACKENDS)}")
    if backend == "triton" or (backend == "auto" and x_proj.is_cuda):
        reason = triton_unavailable_reason(x_proj.device)
        if reason is None:
            from liquidts.kernels.cfc.triton import cfc_triton

            return cfc_triton(x_proj, h0, ts, cells, mode, activation)
        if backend == "triton":
            raise RuntimeError(f"backend='triton' cannot run: {reason}")
    return cfc_scan(x_proj, h0, ts, [effective(w) for w in cells], mode, activation)
