"""The CfC recurrence as fused Triton kernels: one launch runs the whole sequence for a batch.

Same contract as :func:`liquidts.kernels.cfc.reference.cfc_reference` (no dropout, no memory
cell); the equations and letters are in ``reference.py``. The input part of the first cell's
first matrix (``x_proj``, all steps) is one large matrix product done by the caller.

Layout of the work: each program owns ``BB`` batch rows and loops over T with the state of every
cell in registers (float32, whatever the input dtype). Two kernel pairs:

* ``backbone``: one cell with a backbone MLP (an unwired ``CfC``, ``backbone_layers`` 1 to 3);
* ``cascade``: 1 to 3 backbone-free cells, layer l reading layer l-1's new state in the same step
  (a wired ``CfC``, e.g. a 3-layer NCP, or ``backbone_layers=0``). The wiring mask of each
  cell's first matrix is applied to the weights inside the kernel.

The backward kernels walk the steps in reverse carrying dh on chip. They recompute each step's
forward from the saved states (nothing but the states is kept from the forward pass) and write
the per-step gradients of the pre-activations, and the backbone activations, to global memory, so
every weight gradient is one large matrix product over all T*B rows afterwards, as in ``scan.py``.

``tl.dot`` needs every dimension >= 16: batch rows, units and backbone width are padded to powers
of two >= 16 with masked loads; padded units stay exactly 0 (zero weights and biases).
"""

from __future__ import annotations

import functools
import os

import torch
import triton
import triton.language as tl
from triton.runtime.errors import OutOfResources

from liquidts.kernels.cfc.reference import pack, pack_grads, unpack
from liquidts.kernels.cfc.variants import ACTIVATION_IDS, MODE_IDS
from liquidts.kernels.dispatch import TRITON_MAX_CELLS as MAX_CELLS
from liquidts.kernels.dispatch import held_weights, largest_tile, padded, triton_refusal

# The kernels are compiled for one mode and activation, by the ids of ``variants.py``.
_NO_GATE = tl.constexpr(MODE_IDS["no_gate"])
_PURE = tl.constexpr(MODE_IDS["pure"])
_LECUN_TANH = tl.constexpr(ACTIVATION_IDS["lecun_tanh"])
_TANH = tl.constexpr(ACTIVATION_IDS["tanh"])
_RELU = tl.constexpr(ACTIVATION_IDS["relu"])
_SILU = tl.constexpr(ACTIVATION_IDS["silu"])  # anything else is gelu
#: padded fp32 weight elements per thread a program aims for (weights stay in registers across steps)
WEIGHTS_PER_THREAD = 80
#: padded weight elements per program up to which float32 products are IEEE (see _precision)
IEEE_ELEMENTS = 32768


# ----------------------------------------------------------------------------- element-wise helpers


@triton.jit
def _tanh(x):
    # exp-based with an odd series near 0, where 1 - exp(-2|x|) would cancel: relative error ~1e-7.
    ax = tl.abs(x)
    t = tl.exp(-2.0 * ax)
    big = (1.0 - t) / (1.0 + t)
    x2 = x * x
    small = ax * (1.0 + x2 * (-0.3333333333333333 + x2 * (0.13333333333333333 + x2 * -0.05396825396825397)))
    r = tl.where(ax < 0.1, small, big)
    return tl.where(x < 0, -r, r)


@triton.jit
def _sigmoid(x):
    return 1.0 / (1.0 + tl.exp(-x))


@triton.jit
def _act(z, ACT: tl.constexpr):
    if ACT == _LECUN_TANH:
        a = 1.7159 * _tanh(0.666 * z)
    elif ACT == _TANH:
        a = _tanh(z)
    elif ACT == _RELU:
        a = tl.maximum(z, 0.0)
    elif ACT == _SILU:
        a = z * _sigmoid(z)
    else:
        a = 0.5 * z * (1.0 + tl.erf(z * 0.7071067811865476))
    return a


@triton.jit
def _act_grad(z, a, ACT: tl.constexpr):
    if ACT == _LECUN_TANH:
        t = a / 1.7159
        g = 1.7159 * 0.666 * (1.0 - t * t)
    elif ACT == _TANH:
        g = 1.0 - a * a
    elif ACT == _RELU:
        g = tl.where(z > 0, 1.0, 0.0)
    elif ACT == _SILU:
        s = _sigmoid(z)
        g = s * (1.0 + z * (1.0 - s))
    else:
        g = 0.5 * (1.0 + tl.erf(z * 0.7071067811865476)) + z * tl.exp(-0.5 * z * z) * 0.3989422804014327
    return g


@triton.jit
def _gates(u1, u2, ua, ub, ts, w_tau, A, MODE: tl.constexpr):
    """New state from the heads (BB, HP) and the elapsed time ts (BB, 1)."""
    if MODE == _PURE:
        h = A - A * tl.exp(-ts * (tl.abs(w_tau) + tl.abs(u1))) * u1
    else:
        f1 = _tanh(u1)
        f2 = _tanh(u2)
        s = _sigmoid(ua * ts + ub)
        if MODE == _NO_GATE:
            h = f1 + s * f2
        else:
            h = f1 + s * (f2 - f1)
    return h


@triton.jit
def _gates_bwd(dh, u1, u2, ua, ub, ts, w_tau, A, MODE: tl.constexpr):
    """Gradients of the heads; the fifth value is exp(...) in pure mode (for dA, dw_tau)."""
    if MODE == _PURE:
        e = tl.exp(-ts * (tl.abs(w_tau) + tl.abs(u1)))
        d1 = -dh * A * e * (1.0 - ts * tl.abs(u1))
        d2 = d1
        da = d1
        db = d1
    else:
        f1 = _tanh(u1)
        f2 = _tanh(u2)
        s = _sigmoid(ua * ts + ub)
        if MODE == _NO_GATE:
            d1 = dh * (1.0 - f1 * f1)
            db = dh * f2 * s * (1.0 - s)
        else:
            d1 = dh * (1.0 - s) * (1.0 - f1 * f1)
            db = dh * (f2 - f1) * s * (1.0 - s)
        d2 = dh * s * (1.0 - f2 * f2)
        da = db * ts
        e = s
    return d1, d2, da, db, e


# ----------------------------------------------------------------------------- load/store helpers


@triton.jit
def _w_t(w_ptr, m_ptr, row0, n_rows, n_cols, RP: tl.constexpr, CP: tl.constexpr, HAS_MASK: tl.constexpr):
    """W[row0 : row0 + n_rows, :] transposed: a zero-padded fp32 (CP, RP) tile, times the mask."""
    c = tl.arange(0, CP)[:, None]
    r = tl.arange(0, RP)[None, :]
    inside = (c < n_cols) & (r < n_rows)
    off = (row0 + r) * n_cols + c
    w = tl.load(w_ptr + off, mask=inside, other=0.0).to(tl.float32)
    if HAS_MASK:
        w = w * tl.load(m_ptr + off, mask=inside, other=0.0).to(tl.float32)
    return w


@triton.jit
def _w(w_ptr, m_ptr, row0, n_rows, n_cols, RP: tl.constexpr, CP: tl.constexpr, HAS_MASK: tl.constexpr):
    """W[row0 : row0 + n_rows, :]: a zero-padded fp32 (RP, CP) tile, times the mask."""
    r = tl.arange(0, RP)[:, None]
    c = tl.arange(0, CP)[None, :]
    inside = (c < n_cols) & (r < n_rows)
    off = (row0 + r) * n_cols + c
    w = tl.load(w_ptr + off, mask=inside, other=0.0).to(tl.float32)
    if HAS_MASK:
        w = w * tl.load(m_ptr + off, mask=inside, other=0.0).to(tl.float32)
    return w


@triton.jit
def _vec(ptr, off0, n, P: tl.constexpr):
    """ptr[off0 : off0 + n] as a zero-padded fp32 (1, P) row."""
    c = tl.arange(0, P)
    return tl.load(ptr + off0 + c, mask=c < n, other=0.0).to(tl.float32)[None, :]


@triton.jit
def _rows(ptr, t, rows, B, width, col0, n_cols, P: tl.constexpr):
    """x[t, rows, col0 : col0 + n_cols] of a (T, B, width) tensor, fp32 (BB, P), zero-padded."""
    c = tl.arange(0, P)[None, :]
    off = (t * B + rows[:, None]).to(tl.int64) * width + col0 + c
    return tl.load(ptr + off, mask=(rows[:, None] < B) & (c < n_cols), other=0.0).to(tl.float32)


@triton.jit
def _store_rows(ptr, val, t, rows, B, width, col0, n_cols, P: tl.constexpr):
    c = tl.arange(0, P)[None, :]
    off = (t * B + rows[:, None]).to(tl.int64) * width + col0 + c
    tl.store(ptr + off, val.to(ptr.dtype.element_ty), mask=(rows[:, None] < B) & (c < n_cols))


@triton.jit
def _ts(ptr, t, rows, B):
    return tl.load(ptr + t * B + rows, mask=rows < B, other=0.0).to(tl.float32)[:, None]


@triton.jit
def _tile(w_ptr, m_ptr, row0, n_rows, n_cols, RP: tl.constexpr, CP: tl.constexpr, HAS_MASK: tl.constexpr,
          TRANSPOSE: tl.constexpr):
    if TRANSPOSE:
        w = _w_t(w_ptr, m_ptr, row0, n_rows, n_cols, RP, CP, HAS_MASK)
    else:
        w = _w(w_ptr, m_ptr, row0, n_rows, n_cols, RP, CP, HAS_MASK)
    return w


@triton.jit
def _heads(w_ptr, m_ptr, H, n_cols, HP: tl.constexpr, CP: tl.constexpr, HAS_MASK: tl.constexpr,
           G: tl.constexpr, TRANSPOSE: tl.constexpr):
    """The G row blocks (H, n_cols) of a (G*H, n_cols) matrix, each as an (HP, CP) tile, or
    transposed to (CP, HP) with ``TRANSPOSE``."""
    w1 = _tile(w_ptr, m_ptr, 0, H, n_cols, HP, CP, HAS_MASK, TRANSPOSE)
    if G == 4:
        w2 = _tile(w_ptr, m_ptr, H, H, n_cols, HP, CP, HAS_MASK, TRANSPOSE)
        w3 = _tile(w_ptr, m_ptr, 2 * H, H, n_cols, HP, CP, HAS_MASK, TRANSPOSE)
        w4 = _tile(w_ptr, m_ptr, 3 * H, H, n_cols, HP, CP, HAS_MASK, TRANSPOSE)
    else:
        w2 = w1
        w3 = w1
        w4 = w1
    return w1, w2, w3, w4


@triton.jit
def _head_vecs(ptr, H, HP: tl.constexpr, G: tl.constexpr):
    b1 = _vec(ptr, 0, H, HP)
    if G == 4:
        b2 = _vec(ptr, H, H, HP)
        b3 = _vec(ptr, 2 * H, H, HP)
        b4 = _vec(ptr, 3 * H, H, HP)
    else:
        b2 = b1
        b3 = b1
        b4 = b1
    return b1, b2, b3, b4


@triton.jit
def _mm4(x, w1, w2, w3, w4, G: tl.constexpr, PREC: tl.constexpr):
    """x @ each of the G tiles."""
    y1 = tl.dot(x, w1, input_precision=PREC)
    if G == 4:
        y2 = tl.dot(x, w2, input_precision=PREC)
        y3 = tl.dot(x, w3, input_precision=PREC)
        y4 = tl.dot(x, w4, input_precision=PREC)
    else:
        y2 = y1
        y3 = y1
        y4 = y1
    return y1, y2, y3, y4


@triton.jit
def _mm4_sum(d1, d2, d3, d4, w1, w2, w3, w4, G: tl.constexpr, PREC: tl.constexpr):
    """sum_g d_g @ w_g."""
    y = tl.dot(d1, w1, input_precision=PREC)
    if G == 4:
        y += tl.dot(d2, w2, input_precision=PREC)
        y += tl.dot(d3, w3, input_precision=PREC)
        y += tl.dot(d4, w4, input_precision=PREC)
    return y


@triton.jit
def _store4(ptr, d1, d2, d3, d4, t, rows, B, H, HP: tl.constexpr, G: tl.constexpr):
    _store_rows(ptr, d1, t, rows, B, G * H, 0, H, HP)
    if G == 4:
        _store_rows(ptr, d2, t, rows, B, G * H, H, H, HP)
        _store_rows(ptr, d3, t, rows, B, G * H, 2 * H, H, HP)
        _store_rows(ptr, d4, t, rows, B, G * H, 3 * H, H, HP)


@triton.jit
def _load4(ptr, t, rows, B, H, HP: tl.constexpr, G: tl.constexpr):
    x1 = _rows(ptr, t, rows, B, G * H, 0, H, HP)
    if G == 4:
        x2 = _rows(ptr, t, rows, B, G * H, H, H, HP)
        x3 = _rows(ptr, t, rows, B, G * H, 2 * H, H, HP)
        x4 = _rows(ptr, t, rows, B, G * H, 3 * H, H, HP)
    else:
        x2 = x1
        x3 = x1
        x4 = x1
    return x1, x2, x3, x4


@triton.jit
def _pure_vecs(w_tau, A, H, HP: tl.constexpr, MODE: tl.constexpr):
    if MODE == _PURE:
        wt = _vec(w_tau, 0, H, HP)
        av = _vec(A, 0, H, HP)
    else:
        wt = tl.zeros((1, HP), tl.float32)
        av = wt
    return wt, av


@triton.jit
def _backbone_weights(rec, w1, b1, w2, b2, wh, bh, H, K, N_HIDDEN: tl.constexpr, G: tl.constexpr,
                      HP: tl.constexpr, KP: tl.constexpr):
    """Forward orientation: tiles that right-multiply the row activations."""
    rec_t = _w_t(rec, rec, 0, K, H, KP, HP, False)  # (HP, KP)
    if N_HIDDEN >= 1:
        w1_t = _w_t(w1, w1, 0, K, K, KP, KP, False)  # (KP, KP)
        b1v = _vec(b1, 0, K, KP)
    else:
        w1_t = rec_t
        b1v = rec_t
    if N_HIDDEN >= 2:
        w2_t = _w_t(w2, w2, 0, K, K, KP, KP, False)
        b2v = _vec(b2, 0, K, KP)
    else:
        w2_t = w1_t
        b2v = b1v
    h1, h2, h3, h4 = _heads(wh, wh, H, K, HP, KP, False, G, True)  # (KP, HP) each
    return rec_t, w1_t, b1v, w2_t, b2v, h1, h2, h3, h4


@triton.jit
def _backbone_weights_bwd(rec, w1, w2, wh, H, K, N_HIDDEN: tl.constexpr, G: tl.constexpr,
                          HP: tl.constexpr, KP: tl.constexpr):
    """Backward orientation: tiles that right-multiply the row gradients."""
    rec_n = _w(rec, rec, 0, K, H, KP, HP, False)  # (KP, HP)
    if N_HIDDEN >= 1:
        w1_n = _w(w1, w1, 0, K, K, KP, KP, False)
    else:
        w1_n = rec_n
    if N_HIDDEN >= 2:
        w2_n = _w(w2, w2, 0, K, K, KP, KP, False)
    else:
        w2_n = w1_n
    h1, h2, h3, h4 = _heads(wh, wh, H, K, HP, KP, False, G, False)  # (HP, KP) each
    return rec_n, w1_n, w2_n, h1, h2, h3, h4


@triton.jit
def _backbone_forward(xp, hp, t, rows, B, K, rec_t, w1_t, b1v, w2_t, b2v, h1, h2, h3, h4, c1, c2, c3, c4,
                      N_HIDDEN: tl.constexpr, ACT: tl.constexpr, G: tl.constexpr, PREC: tl.constexpr,
                      KP: tl.constexpr):
    """One step of the backbone cell up to the heads; returns the heads and every level's z, a."""
    z0 = _rows(xp, t, rows, B, K, 0, K, KP) + tl.dot(hp, rec_t, input_precision=PREC)  # (BB, KP)
    a0 = _act(z0, ACT)
    a = a0
    z1 = z0
    a1 = a0
    z2 = z0
    a2 = a0
    if N_HIDDEN >= 1:
        z1 = tl.dot(a0, w1_t, input_precision=PREC) + b1v
        a1 = _act(z1, ACT)
        a = a1
    if N_HIDDEN >= 2:
        z2 = tl.dot(a1, w2_t, input_precision=PREC) + b2v
        a2 = _act(z2, ACT)
        a = a2
    u1, u2, ua, ub = _mm4(a, h1, h2, h3, h4, G, PREC)
    return u1 + c1, u2 + c2, ua + c3, ub + c4, z0, a0, z1, a1, z2, a2


@triton.jit
def _wired_weights(in_w, in_m, rec_w, rec_m, bias, I, H, HAS_MASK: tl.constexpr, G: tl.constexpr,
                   IP: tl.constexpr, HP: tl.constexpr):
    """Forward orientation tiles of a backbone-free cell l >= 1 (the mask applied)."""
    i1, i2, i3, i4 = _heads(in_w, in_m, H, I, HP, IP, HAS_MASK, G, True)  # (IP, HP) each
    r1, r2, r3, r4 = _heads(rec_w, rec_m, H, H, HP, HP, HAS_MASK, G, True)  # (HP, HP) each
    b1, b2, b3, b4 = _head_vecs(bias, H, HP, G)
    return i1, i2, i3, i4, r1, r2, r3, r4, b1, b2, b3, b4


@triton.jit
def _wired_weights_bwd(in_w, in_m, rec_w, rec_m, I, H, HAS_MASK: tl.constexpr, G: tl.constexpr,
                       IP: tl.constexpr, HP: tl.constexpr):
    """Backward orientation tiles of a backbone-free cell l >= 1 (the mask applied)."""
    i1, i2, i3, i4 = _heads(in_w, in_m, H, I, HP, IP, HAS_MASK, G, False)  # (HP, IP) each
    r1, r2, r3, r4 = _heads(rec_w, rec_m, H, H, HP, HP, HAS_MASK, G, False)  # (HP, HP) each
    return i1, i2, i3, i4, r1, r2, r3, r4


@triton.jit
def _wired_heads(x, hp, i1, i2, i3, i4, r1, r2, r3, r4, b1, b2, b3, b4, G: tl.constexpr, PREC: tl.constexpr):
    """Heads of a cell l >= 1: bias + x @ W_in^T + h @ W_rec^T, per gate block."""
    x1, x2, x3, x4 = _mm4(x, i1, i2, i3, i4, G, PREC)
    y1, y2, y3, y4 = _mm4(hp, r1, r2, r3, r4, G, PREC)
    return x1 + y1 + b1, x2 + y2 + b2, x3 + y3 + b3, x4 + y4 + b4


@triton.jit
def _cascade_weights(rec0, recm0, in1, inm1, rec1, recm1, bias1, in2, inm2, rec2, recm2, bias2, H0, H1, H2,
                     N_CELLS: tl.constexpr, HAS_MASK: tl.constexpr, G: tl.constexpr,
                     HP0: tl.constexpr, HP1: tl.constexpr, HP2: tl.constexpr):
    """Forward orientation tiles of every cell of a cascade (cells past N_CELLS: placeholders, never read)."""
    p1, p2, p3, p4 = _heads(rec0, recm0, H0, H0, HP0, HP0, HAS_MASK, G, True)  # (HP0, HP0) each
    q1, q2, q3, q4, q5, q6, q7, q8, qb1, qb2, qb3, qb4 = p1, p1, p1, p1, p1, p1, p1, p1, p1, p1, p1, p1
    v1, v2, v3, v4, v5, v6, v7, v8, vb1, vb2, vb3, vb4 = q1, q2, q3, q4, q5, q6, q7, q8, qb1, qb2, qb3, qb4
    if N_CELLS >= 2:
        q1, q2, q3, q4, q5, q6, q7, q8, qb1, qb2, qb3, qb4 = _wired_weights(
            in1, inm1, rec1, recm1, bias1, H0, H1, HAS_MASK, G, HP0, HP1)
    if N_CELLS >= 3:
        v1, v2, v3, v4, v5, v6, v7, v8, vb1, vb2, vb3, vb4 = _wired_weights(
            in2, inm2, rec2, recm2, bias2, H1, H2, HAS_MASK, G, HP1, HP2)
    return (p1, p2, p3, p4, q1, q2, q3, q4, q5, q6, q7, q8, qb1, qb2, qb3, qb4,
            v1, v2, v3, v4, v5, v6, v7, v8, vb1, vb2, vb3, vb4)


@triton.jit
def _cascade_weights_bwd(rec0, recm0, in1, inm1, rec1, recm1, in2, inm2, rec2, recm2, H0, H1, H2,
                         N_CELLS: tl.constexpr, HAS_MASK: tl.constexpr, G: tl.constexpr,
                         HP0: tl.constexpr, HP1: tl.constexpr, HP2: tl.constexpr):
    """Backward orientation tiles of every cell of a cascade (cells past N_CELLS: placeholders)."""
    pr1, pr2, pr3, pr4 = _heads(rec0, recm0, H0, H0, HP0, HP0, HAS_MASK, G, False)
    qi1, qi2, qi3, qi4, qr1, qr2, qr3, qr4 = pr1, pr1, pr1, pr1, pr1, pr1, pr1, pr1
    vi1, vi2, vi3, vi4, vr1, vr2, vr3, vr4 = qi1, qi2, qi3, qi4, qr1, qr2, qr3, qr4
    if N_CELLS >= 2:
        qi1, qi2, qi3, qi4, qr1, qr2, qr3, qr4 = _wired_weights_bwd(
            in1, inm1, rec1, recm1, H0, H1, HAS_MASK, G, HP0, HP1)
    if N_CELLS >= 3:
        vi1, vi2, vi3, vi4, vr1, vr2, vr3, vr4 = _wired_weights_bwd(
            in2, inm2, rec2, recm2, H1, H2, HAS_MASK, G, HP1, HP2)
    return pr1, pr2, pr3, pr4, qi1, qi2, qi3, qi4, qr1, qr2, qr3, qr4, vi1, vi2, vi3, vi4, vr1, vr2, vr3, vr4


# ----------------------------------------------------------------------------- forward kernels


@triton.heuristics({
    "BB": lambda a: _block_rows(a["B"], a["xp"].device),
    "HP": lambda a: padded(a["H"]),
    "KP": lambda a: padded(a["K"]),
})
@triton.jit
def _cfc_fwd_backbone_kernel(xp, ts, h0, rec, w1, b1, w2, b2, wh, bh, w_tau, A, out, T, B, H, K,
                             N_HIDDEN: tl.constexpr, MODE: tl.constexpr, ACT: tl.constexpr,
                             PREC: tl.constexpr, RELOAD: tl.constexpr,
                             BB: tl.constexpr, HP: tl.constexpr, KP: tl.constexpr):
    G: tl.constexpr = 1 if MODE == _PURE else 4
    rows = tl.program_id(0) * BB + tl.arange(0, BB)
    hcol = tl.arange(0, HP)[None, :]
    h = tl.load(h0 + rows[:, None] * H + hcol, mask=(rows[:, None] < B) & (hcol < H), other=0.0).to(tl.float32)
    wt, av = _pure_vecs(w_tau, A, H, HP, MODE)
    c1, c2, c3, c4 = _head_vecs(bh, H, HP, G)
    if not RELOAD:
        rec_t, w1_t, b1v, w2_t, b2v, h1, h2, h3, h4 = _backbone_weights(rec, w1, b1, w2, b2, wh, bh, H, K,
                                                                        N_HIDDEN, G, HP, KP)
    for t in range(T):
        if RELOAD:
            rec_t, w1_t, b1v, w2_t, b2v, h1, h2, h3, h4 = _backbone_weights(rec, w1, b1, w2, b2, wh, bh, H, K,
                                                                            N_HIDDEN, G, HP, KP)
        u1, u2, ua, ub, z0, a0, z1, a1, z2, a2 = _backbone_forward(
            xp, h, t, rows, B, K, rec_t, w1_t, b1v, w2_t, b2v, h1, h2, h3, h4, c1, c2, c3, c4,
            N_HIDDEN, ACT, G, PREC, KP)
        h = _gates(u1, u2, ua, ub, _ts(ts, t, rows, B), wt, av, MODE)
        _store_rows(out, h, t, rows, B, H, 0, H, HP)


@triton.heuristics({
    "BB": lambda a: _block_rows(a["B"], a["xp"].device),
    "HP0": lambda a: padded(a["H0"]),
    "HP1": lambda a: padded(a["H1"]),
    "HP2": lambda a: padded(a["H2"]),
})
@triton.jit
def _cfc_fwd_cascade_kernel(xp, ts,
                            h00, in0, inm0, rec0, recm0, bias0, wtau0, A0, out0,
                            h01, in1, inm1, rec1, recm1, bias1, wtau1, A1, out1,
                            h02, in2, inm2, rec2, recm2, bias2, wtau2, A2, out2,
                            T, B, H0, H1, H2,
                            N_CELLS: tl.constexpr, MODE: tl.constexpr, HAS_MASK: tl.constexpr,
                            PREC: tl.constexpr, RELOAD: tl.constexpr,
                            BB: tl.constexpr, HP0: tl.constexpr, HP1: tl.constexpr, HP2: tl.constexpr):
    G: tl.constexpr = 1 if MODE == _PURE else 4
    rows = tl.program_id(0) * BB + tl.arange(0, BB)
    s0 = _rows(h00, 0, rows, B, H0, 0, H0, HP0)  # (BB, HP0)
    wt0, av0 = _pure_vecs(wtau0, A0, H0, HP0, MODE)
    if N_CELLS >= 2:
        s1 = _rows(h01, 0, rows, B, H1, 0, H1, HP1)
        wt1, av1 = _pure_vecs(wtau1, A1, H1, HP1, MODE)
    if N_CELLS >= 3:
        s2 = _rows(h02, 0, rows, B, H2, 0, H2, HP2)
        wt2, av2 = _pure_vecs(wtau2, A2, H2, HP2, MODE)
    if not RELOAD:
        (p1, p2, p3, p4, q1, q2, q3, q4, q5, q6, q7, q8, qb1, qb2, qb3, qb4, v1, v2, v3, v4, v5, v6, v7, v8,
         vb1, vb2, vb3, vb4) = _cascade_weights(rec0, recm0, in1, inm1, rec1, recm1, bias1, in2, inm2, rec2, recm2,
                                                bias2, H0, H1, H2, N_CELLS, HAS_MASK, G, HP0, HP1, HP2)
    for t in range(T):
        if RELOAD:
            (p1, p2, p3, p4, q1, q2, q3, q4, q5, q6, q7, q8, qb1, qb2, qb3, qb4, v1, v2, v3, v4, v5, v6, v7, v8,
             vb1, vb2, vb3, vb4) = _cascade_weights(rec0, recm0, in1, inm1, rec1, recm1, bias1, in2, inm2, rec2,
                                                    recm2, bias2, H0, H1, H2, N_CELLS, HAS_MASK, G, HP0, HP1, HP2)
        tsv = _ts(ts, t, rows, B)
        x1, x2, x3, x4 = _load4(xp, t, rows, B, H0, HP0, G)
        y1, y2, y3, y4 = _mm4(s0, p1, p2, p3, p4, G, PREC)
        s0 = _gates(x1 + y1, x2 + y2, x3 + y3, x4 + y4, tsv, wt0, av0, MODE)
        _store_rows(out0, s0, t, rows, B, H0, 0, H0, HP0)
        if N_CELLS >= 2:
            u1, u2, u3, u4 = _wired_heads(s0, s1, q1, q2, q3, q4, q5, q6, q7, q8, qb1, qb2, qb3, qb4, G, PREC)
            s1 = _gates(u1, u2, u3, u4, tsv, wt1, av1, MODE)
            _store_rows(out1, s1, t, rows, B, H1, 0, H1, HP1)
        if N_CELLS >= 3:
            u1, u2, u3, u4 = _wired_heads(s1, s2, v1, v2, v3, v4, v5, v6, v7, v8, vb1, vb2, vb3, vb4, G, PREC)
            s2 = _gates(u1, u2, u3, u4, tsv, wt2, av2, MODE)
            _store_rows(out2, s2, t, rows, B, H2, 0, H2, HP2)


# ----------------------------------------------------------------------------- backward kernels


@triton.heuristics({
    "BB": lambda a: _block_rows(a["B"], a["xp"].device),
    "HP": lambda a: padded(a["H"]),
    "KP": lambda a: padded(a["K"]),
})
@triton.jit
def _cfc_bwd_backbone_kernel(xp, ts, hprev, dout, rec, w1, b1, w2, b2, wh, bh, w_tau, A,
                             dz0, dz1, dz2, a0s, a1s, a2s, du, dh0, part_A, part_wt, T, B, H, K,
                             N_HIDDEN: tl.constexpr, MODE: tl.constexpr, ACT: tl.constexpr,
                             PREC: tl.constexpr, RELOAD: tl.constexpr,
                             BB: tl.constexpr, HP: tl.constexpr, KP: tl.constexpr):
    G: tl.constexpr = 1 if MODE == _PURE else 4
    pid = tl.program_id(0)
    rows = pid * BB + tl.arange(0, BB)
    wt, av = _pure_vecs(w_tau, A, H, HP, MODE)
    c1, c2, c3, c4 = _head_vecs(bh, H, HP, G)
    carry = tl.zeros((BB, HP), tl.float32)
    acc_A = tl.zeros((1, HP), tl.float32)
    acc_wt = tl.zeros((1, HP), tl.float32)
    if not RELOAD:
        rec_t, w1_t, b1v, w2_t, b2v, h1, h2, h3, h4 = _backbone_weights(rec, w1, b1, w2, b2, wh, bh, H, K,
                                                                        N_HIDDEN, G, HP, KP)
        rec_n, w1_n, w2_n, g1, g2, g3, g4 = _backbone_weights_bwd(rec, w1, w2, wh, H, K, N_HIDDEN, G, HP, KP)
    for i in range(T):
        t = T - 1 - i
        if RELOAD:
            rec_t, w1_t, b1v, w2_t, b2v, h1, h2, h3, h4 = _backbone_weights(rec, w1, b1, w2, b2, wh, bh, H, K,
                                                                            N_HIDDEN, G, HP, KP)
            rec_n, w1_n, w2_n, g1, g2, g3, g4 = _backbone_weights_bwd(rec, w1, w2, wh, H, K, N_HIDDEN, G, HP, KP)
        hp = _rows(hprev, t, rows, B, H, 0, H, HP)
        u1, u2, ua, ub, z0, a0, z1, a1, z2, a2 = _backbone_forward(
            xp, hp, t, rows, B, K, rec_t, w1_t, b1v, w2_t, b2v, h1, h2, h3, h4, c1, c2, c3, c4,
            N_HIDDEN, ACT, G, PREC, KP)
        tsv = _ts(ts, t, rows, B)
        dh = _rows(dout, t, rows, B, H, 0, H, HP) + carry
        d1, d2, d3, d4, e = _gates_bwd(dh, u1, u2, ua, ub, tsv, wt, av, MODE)
        _store4(du, d1, d2, d3, d4, t, rows, B, H, HP, G)
        if MODE == _PURE:
            acc_A += tl.sum(dh * (1.0 - e * u1), axis=0)[None, :]
            acc_wt += tl.sum(dh * av * u1 * e * tsv, axis=0)[None, :]
        da = _mm4_sum(d1, d2, d3, d4, g1, g2, g3, g4, G, PREC)  # (BB, KP)
        _store_rows(a0s, a0, t, rows, B, K, 0, K, KP)
        if N_HIDDEN >= 2:
            _store_rows(a2s, a2, t, rows, B, K, 0, K, KP)
            dz = da * _act_grad(z2, a2, ACT)
            _store_rows(dz2, dz, t, rows, B, K, 0, K, KP)
            da = tl.dot(dz, w2_n, input_precision=PREC)
        if N_HIDDEN >= 1:
            _store_rows(a1s, a1, t, rows, B, K, 0, K, KP)
            dz = da * _act_grad(z1, a1, ACT)
            _store_rows(dz1, dz, t, rows, B, K, 0, K, KP)
            da = tl.dot(dz, w1_n, input_precision=PREC)
        dz = da * _act_grad(z0, a0, ACT)
        _store_rows(dz0, dz, t, rows, B, K, 0, K, KP)
        carry = tl.dot(dz, rec_n, input_precision=PREC)  # (BB, HP)
    _store_rows(dh0, carry, 0, rows, B, H, 0, H, HP)
    if MODE == _PURE:
        c = tl.arange(0, HP)[None, :]
        tl.store(part_A + pid * H + c, acc_A, mask=c < H)
        tl.store(part_wt + pid * H + c, acc_wt, mask=c < H)


@triton.jit
def _wired_cell_bwd(x1, x2, x3, x4, hp, dh, tsv, wt, av, i1, i2, i3, i4, r1, r2, r3, r4, b1, b2, b3, b4,
                    ri1, ri2, ri3, ri4, rr1, rr2, rr3, rr4, acc_A, acc_wt,
                    FIRST: tl.constexpr, MODE: tl.constexpr, G: tl.constexpr, PREC: tl.constexpr):
    """Recompute a cell's heads, then the heads' gradients, the state carry and the input gradient.

    The first cell gets its input heads x1..x4 (from x_proj); a later cell its input x1 (the cell
    below's new state).
    """
    if FIRST:
        y1, y2, y3, y4 = _mm4(hp, r1, r2, r3, r4, G, PREC)
        u1 = x1 + y1
        u2 = x2 + y2
        u3 = x3 + y3
        u4 = x4 + y4
    else:
        u1, u2, u3, u4 = _wired_heads(x1, hp, i1, i2, i3, i4, r1, r2, r3, r4, b1, b2, b3, b4, G, PREC)
    d1, d2, d3, d4, e = _gates_bwd(dh, u1, u2, u3, u4, tsv, wt, av, MODE)
    if MODE == _PURE:
        acc_A += tl.sum(dh * (1.0 - e * u1), axis=0)[None, :]
        acc_wt += tl.sum(dh * av * u1 * e * tsv, axis=0)[None, :]
    carry = _mm4_sum(d1, d2, d3, d4, rr1, rr2, rr3, rr4, G, PREC)
    if FIRST:
        below = carry
    else:
        below = _mm4_sum(d1, d2, d3, d4, ri1, ri2, ri3, ri4, G, PREC)
    return d1, d2, d3, d4, carry, below, acc_A, acc_wt


@triton.heuristics({
    "BB": lambda a: _block_rows(a["B"], a["xp"].device),
    "HP0": lambda a: padded(a["H0"]),
    "HP1": lambda a: padded(a["H1"]),
    "HP2": lambda a: padded(a["H2"]),
})
@triton.jit
def _cfc_bwd_cascade_kernel(xp, ts,
                            hprev0, in0, inm0, rec0, recm0, bias0, wtau0, A0, out0, dout0, du0, dh00, pA0, pw0,
                            hprev1, in1, inm1, rec1, recm1, bias1, wtau1, A1, out1, dout1, du1, dh01, pA1, pw1,
                            hprev2, in2, inm2, rec2, recm2, bias2, wtau2, A2, out2, dout2, du2, dh02, pA2, pw2,
                            T, B, H0, H1, H2,
                            N_CELLS: tl.constexpr, MODE: tl.constexpr, HAS_MASK: tl.constexpr,
                            PREC: tl.constexpr, RELOAD: tl.constexpr,
                            BB: tl.constexpr, HP0: tl.constexpr, HP1: tl.constexpr, HP2: tl.constexpr):
    G: tl.constexpr = 1 if MODE == _PURE else 4
    pid = tl.program_id(0)
    rows = pid * BB + tl.arange(0, BB)
    wt0, av0 = _pure_vecs(wtau0, A0, H0, HP0, MODE)
    carry0 = tl.zeros((BB, HP0), tl.float32)
    accA0 = tl.zeros((1, HP0), tl.float32)
    accw0 = tl.zeros((1, HP0), tl.float32)
    if N_CELLS >= 2:
        wt1, av1 = _pure_vecs(wtau1, A1, H1, HP1, MODE)
        carry1 = tl.zeros((BB, HP1), tl.float32)
        accA1 = tl.zeros((1, HP1), tl.float32)
        accw1 = tl.zeros((1, HP1), tl.float32)
    if N_CELLS >= 3:
        wt2, av2 = _pure_vecs(wtau2, A2, H2, HP2, MODE)
        carry2 = tl.zeros((BB, HP2), tl.float32)
        accA2 = tl.zeros((1, HP2), tl.float32)
        accw2 = tl.zeros((1, HP2), tl.float32)
    if not RELOAD:
        (p1, p2, p3, p4, q1, q2, q3, q4, q5, q6, q7, q8, qb1, qb2, qb3, qb4, v1, v2, v3, v4, v5, v6, v7, v8,
         vb1, vb2, vb3, vb4) = _cascade_weights(rec0, recm0, in1, inm1, rec1, recm1, bias1, in2, inm2, rec2, recm2,
                                                bias2, H0, H1, H2, N_CELLS, HAS_MASK, G, HP0, HP1, HP2)
        (pr1, pr2, pr3, pr4, qi1, qi2, qi3, qi4, qr1, qr2, qr3, qr4, vi1, vi2, vi3, vi4, vr1, vr2, vr3,
         vr4) = _cascade_weights_bwd(rec0, recm0, in1, inm1, rec1, recm1, in2, inm2, rec2, recm2, H0, H1, H2,
                                     N_CELLS, HAS_MASK, G, HP0, HP1, HP2)
    for i in range(T):
        t = T - 1 - i
        if RELOAD:
            (p1, p2, p3, p4, q1, q2, q3, q4, q5, q6, q7, q8, qb1, qb2, qb3, qb4, v1, v2, v3, v4, v5, v6, v7, v8,
             vb1, vb2, vb3, vb4) = _cascade_weights(rec0, recm0, in1, inm1, rec1, recm1, bias1, in2, inm2, rec2,
                                                    recm2, bias2, H0, H1, H2, N_CELLS, HAS_MASK, G, HP0, HP1, HP2)
            (pr1, pr2, pr3, pr4, qi1, qi2, qi3, qi4, qr1, qr2, qr3, qr4, vi1, vi2, vi3, vi4, vr1, vr2, vr3,
             vr4) = _cascade_weights_bwd(rec0, recm0, in1, inm1, rec1, recm1, in2, inm2, rec2, recm2, H0, H1, H2,
                                         N_CELLS, HAS_MASK, G, HP0, HP1, HP2)
        tsv = _ts(ts, t, rows, B)
        if N_CELLS >= 3:
            dh = _rows(dout2, t, rows, B, H2, 0, H2, HP2) + carry2
            x = _rows(out1, t, rows, B, H1, 0, H1, HP1)
            hp = _rows(hprev2, t, rows, B, H2, 0, H2, HP2)
            d1, d2, d3, d4, carry2, above1, accA2, accw2 = _wired_cell_bwd(
                x, x, x, x, hp, dh, tsv, wt2, av2, v1, v2, v3, v4, v5, v6, v7, v8, vb1, vb2, vb3, vb4,
                vi1, vi2, vi3, vi4, vr1, vr2, vr3, vr4, accA2, accw2, False, MODE, G, PREC)
            _store4(du2, d1, d2, d3, d4, t, rows, B, H2, HP2, G)
        if N_CELLS >= 2:
            dh = _rows(dout1, t, rows, B, H1, 0, H1, HP1) + carry1
            if N_CELLS >= 3:
                dh += above1
            x = _rows(out0, t, rows, B, H0, 0, H0, HP0)
            hp = _rows(hprev1, t, rows, B, H1, 0, H1, HP1)
            d1, d2, d3, d4, carry1, above0, accA1, accw1 = _wired_cell_bwd(
                x, x, x, x, hp, dh, tsv, wt1, av1, q1, q2, q3, q4, q5, q6, q7, q8, qb1, qb2, qb3, qb4,
                qi1, qi2, qi3, qi4, qr1, qr2, qr3, qr4, accA1, accw1, False, MODE, G, PREC)
            _store4(du1, d1, d2, d3, d4, t, rows, B, H1, HP1, G)
        dh = _rows(dout0, t, rows, B, H0, 0, H0, HP0) + carry0
        if N_CELLS >= 2:
            dh += above0
        hp = _rows(hprev0, t, rows, B, H0, 0, H0, HP0)
        x1, x2, x3, x4 = _load4(xp, t, rows, B, H0, HP0, G)
        d1, d2, d3, d4, carry0, unused, accA0, accw0 = _wired_cell_bwd(
            x1, x2, x3, x4, hp, dh, tsv, wt0, av0, p1, p2, p3, p4, p1, p2, p3, p4, p1, p2, p3, p4,
            pr1, pr2, pr3, pr4, pr1, pr2, pr3, pr4, accA0, accw0, True, MODE, G, PREC)
        _store4(du0, d1, d2, d3, d4, t, rows, B, H0, HP0, G)
    _store_rows(dh00, carry0, 0, rows, B, H0, 0, H0, HP0)
    _store_partials(pA0, pw0, accA0, accw0, pid, H0, HP0, MODE)
    if N_CELLS >= 2:
        _store_rows(dh01, carry1, 0, rows, B, H1, 0, H1, HP1)
        _store_partials(pA1, pw1, accA1, accw1, pid, H1, HP1, MODE)
    if N_CELLS >= 3:
        _store_rows(dh02, carry2, 0, rows, B, H2, 0, H2, HP2)
        _store_partials(pA2, pw2, accA2, accw2, pid, H2, HP2, MODE)


@triton.jit
def _store_partials(part_A, part_wt, acc_A, acc_wt, pid, H, HP: tl.constexpr, MODE: tl.constexpr):
    if MODE == _PURE:
        c = tl.arange(0, HP)[None, :]
        tl.store(part_A + pid * H + c, acc_A, mask=c < H)
        tl.store(part_wt + pid * H + c, acc_wt, mask=c < H)


# ----------------------------------------------------------------------------- launchers


@functools.lru_cache(maxsize=None)
def _sm_count(index) -> int:
    return torch.cuda.get_device_properties(index).multi_processor_count


def _block_rows(batch: int, device) -> int:
    """Batch rows per program: 16 (tl.dot's minimum) and more only while every SM stays busy."""
    if device.type != "cuda":
        # The interpreter runs programs one after another; fewer, larger ones are faster.
        return min(64, padded(batch))
    sms = _sm_count(device.index if device.index is not None else torch.cuda.current_device())
    rows = 16
    while rows < 64 and triton.cdiv(batch, 2 * rows) >= sms:
        rows *= 2
    return rows


def _precision(dtype, n_elements: int) -> str:
    """``tl.dot`` input precision: as exact as torch's float32 matmuls unless torch allows TF32.

    IEEE fp32 products run on the CUDA cores and hold whole operand rows per thread: compiled
    for sm_90 they spill heavily once the weights pass ``IEEE_ELEMENTS``; 3xTF32 (tensor cores,
    near-fp32 accuracy) takes over there. bfloat16 inputs, or float32 with TF32 allowed, use TF32.
    """
    exact = (dtype == torch.float32 and torch.get_float32_matmul_precision() == "highest"
             and not torch.backends.cuda.matmul.allow_tf32)
    if not exact:
        return "tf32"
    return "ieee" if n_elements <= IEEE_ELEMENTS else "tf32x3"


def _warps(n_elements: int) -> int:
    """Warps so that each thread holds about WEIGHTS_PER_THREAD weights in registers (4 to 8).

    Not 16: compiled for sm_90, 16-warp variants got 32-64 registers per thread and spilled more.
    """
    return min(8, max(4, triton.next_power_of_2(-(-n_elements // (32 * WEIGHTS_PER_THREAD)))))


def _c(t):
    return None if t is None else t.contiguous()


def _backbone_args(w):
    n_hidden = len(w.hidden)
    (w1, b1), (w2, b2) = (list(w.hidden) + [(w.rec_weight, w.bias)] * 2)[:2]
    return [_c(w.rec_weight), _c(w1), _c(b1), _c(w2), _c(b2), _c(w.head_weight), _c(w.head_bias)], n_hidden


def _cell_args(w, h, has_mask):
    """Per-cell kernel arguments of the cascade kernels (the mask split like the weights)."""
    I = w.in_weight.shape[1]
    rec = _c(w.rec_weight)
    in_m = rec_m = rec  # never read without a mask
    if has_mask:
        mask = w.mask if w.mask is not None else torch.ones(rec.shape[0], I + rec.shape[1], device=rec.device)
        in_m, rec_m = _c(mask[:, :I].to(rec.dtype)), _c(mask[:, I:].to(rec.dtype))
    return [h, _c(w.in_weight), in_m, rec, rec_m, _c(w.bias),
            w.w_tau if w.w_tau is not None else rec, w.A if w.A is not None else rec]


#: launch configurations whose weights do not fit in shared memory (see _launch)
_WEIGHTS_TOO_BIG: set = set()


def _launch(kernel, grid, args, size, dtype, **meta):
    """Launch ``kernel`` with its weights held on chip across the sequence where they fit, else
    re-read every step.

    The compiler stages each ``tl.dot``'s weight operand in shared memory: held for the whole loop,
    that is 4 bytes per weight (8 with 3xTF32), so only small cells fit (compiled for sm_90, the
    unwired hidden-32 forward and the wired hidden-32 pair do; 227 KB per block there). Where
    loading them raises Triton's OutOfResources (nothing has run yet), the weights are re-read
    from global memory every step (they stay in L2) with 3xTF32 products and one pipeline stage:
    the form whose shared buffers the compiler reuses across products (64 KB for hidden 128 on a
    128-unit backbone). The decision is remembered per configuration.
    """
    key = (kernel.fn.__name__, grid, str(dtype), tuple(a for a in args if isinstance(a, int)),
           tuple(sorted(meta.items())))
    if key not in _WEIGHTS_TOO_BIG:
        try:
            kernel[grid](*args, **launch_options(dtype, size, reread=False), **meta)
            return
        except OutOfResources:
            _WEIGHTS_TOO_BIG.add(key)
    kernel[grid](*args, **launch_options(dtype, size, reread=True), **meta)


def launch_options(dtype, size: int, reread: bool) -> dict:
    """Compile options of a launch over ``size`` padded weights: the held form's (precision by
    :func:`_precision`), or the re-reading form's (3xTF32, one pipeline stage)."""
    if reread:
        return dict(PREC="tf32x3", RELOAD=True, num_warps=_warps(size), num_stages=1)
    return dict(PREC=_precision(dtype, size), RELOAD=False, num_warps=_warps(size))


def _forward(x_proj, ts, h0, cells, mode, activation):
    """Launch the forward kernel; returns per cell the states (T, B, H_l) in the input dtype."""
    steps, batch = x_proj.shape[0], x_proj.shape[1]
    G = 1 if mode == "pure" else 4
    meta = dict(MODE=MODE_IDS[mode])
    outs = [x_proj.new_empty(steps, batch, h.shape[-1]) for h in h0]
    grid = (triton.cdiv(batch, _block_rows(batch, x_proj.device)),)
    w = cells[0]
    if w.head_weight is not None:
        H, K = h0[0].shape[-1], w.rec_weight.shape[0]
        args, n_hidden = _backbone_args(w)
        size = held_weights([H], K, n_hidden, G)
        _launch(_cfc_fwd_backbone_kernel, grid,
                [x_proj, ts, h0[0], *args, w.w_tau if w.w_tau is not None else args[0],
                 w.A if w.A is not None else args[0], outs[0], steps, batch, H, K],
                size, x_proj.dtype, N_HIDDEN=n_hidden, ACT=ACTIVATION_IDS[activation], **meta)
        return outs
    sizes = [h.shape[-1] for h in h0]
    has_mask = any(c.mask is not None for c in cells)
    per_cell = []
    for l in range(MAX_CELLS):
        k = min(l, len(cells) - 1)  # absent cells: any valid pointers, never read
        per_cell += _cell_args(cells[k], h0[k], has_mask) + [outs[k]]
    size = held_weights(sizes, 0, 0, G)
    _launch(_cfc_fwd_cascade_kernel, grid,
            [x_proj, ts, *per_cell, steps, batch, *(sizes + [sizes[-1]] * MAX_CELLS)[:MAX_CELLS]],
            size, x_proj.dtype, N_CELLS=len(cells), HAS_MASK=has_mask, **meta)
    return outs


def _rows2d(t):
    return t.reshape(-1, t.shape[-1])


def _backward(x_proj, ts, h0, cells, outs, douts, mode, activation):
    """Launch the backward kernel and finish the weight gradients with large matrix products.

    Returns d x_proj and per cell a dict of gradients named like the ``CellWeights`` fields.
    """
    steps, batch = x_proj.shape[0], x_proj.shape[1]
    G = 1 if mode == "pure" else 4
    dtype = x_proj.dtype
    meta = dict(MODE=MODE_IDS[mode])
    n_prog = triton.cdiv(batch, _block_rows(batch, x_proj.device))
    grid = (n_prog,)
    hprev = [torch.cat([h.unsqueeze(0), o[:-1]]) for h, o in zip(h0, outs)]  # (T, B, H_l)
    douts = [d.contiguous() for d in douts]
    dh0 = [torch.empty(h.shape, device=h.device, dtype=torch.float32) for h in h0]
    sizes = [h.shape[-1] for h in h0]
    pure = mode == "pure"
    parts = [(torch.zeros(n_prog, H, device=x_proj.device, dtype=torch.float32),
              torch.zeros(n_prog, H, device=x_proj.device, dtype=torch.float32)) for H in sizes]
    grads = [dict() for _ in cells]
    w = cells[0]
    if w.head_weight is not None:
        H, K = sizes[0], w.rec_weight.shape[0]
        args, n_hidden = _backbone_args(w)
        dz = [x_proj.new_empty(steps, batch, K) for _ in range(n_hidden + 1)]
        acts = [x_proj.new_empty(steps, batch, K) for _ in range(n_hidden + 1)]
        du = x_proj.new_empty(steps, batch, G * H)
        pad3 = lambda bufs: (bufs + [bufs[0]] * 3)[:3]  # noqa: E731 - unused levels: never touched
        size = 2 * held_weights([H], K, n_hidden, G)
        _launch(_cfc_bwd_backbone_kernel, grid,
                [x_proj, ts, hprev[0], douts[0], *args, w.w_tau if w.w_tau is not None else args[0],
                 w.A if w.A is not None else args[0], *pad3(dz), *pad3(acts), du, dh0[0], *parts[0],
                 steps, batch, H, K],
                size, x_proj.dtype, N_HIDDEN=n_hidden, ACT=ACTIVATION_IDS[activation], **meta)
        g = grads[0]
        g["rec_weight"] = _rows2d(dz[0]).t() @ _rows2d(hprev[0])
        g["hidden"] = [(_rows2d(dz[k]).t() @ _rows2d(acts[k - 1]), _rows2d(dz[k]).sum(0))
                       for k in range(1, n_hidden + 1)]
        g["head_weight"] = _rows2d(du).t() @ _rows2d(acts[-1])
        g["head_bias"] = _rows2d(du).sum(0)
        d_x_proj = dz[0]
    else:
        dus = [x_proj.new_empty(steps, batch, G * H) for H in sizes]
        has_mask = any(c.mask is not None for c in cells)
        per_cell = []
        for l in range(MAX_CELLS):
            k = min(l, len(cells) - 1)
            per_cell += ([hprev[k]] + _cell_args(cells[k], h0[k], has_mask)[1:]
                         + [outs[k], douts[k], dus[k], dh0[k], *parts[k]])
        size = 2 * held_weights(sizes, 0, 0, G)
        _launch(_cfc_bwd_cascade_kernel, grid,
                [x_proj, ts, *per_cell, steps, batch, *(sizes + [sizes[-1]] * MAX_CELLS)[:MAX_CELLS]],
                size, x_proj.dtype, N_CELLS=len(cells), HAS_MASK=has_mask, **meta)
        for l, (w, g) in enumerate(zip(cells, grads)):
            I = w.in_weight.shape[1]
            d = _rows2d(dus[l])
            g["rec_weight"] = d.t() @ _rows2d(hprev[l])
            if w.mask is not None:
                g["rec_weight"] = g["rec_weight"] * w.mask[:, I:].to(dtype)
            if l > 0:
                g["in_weight"] = d.t() @ _rows2d(outs[l - 1])
                if w.mask is not None:
                    g["in_weight"] = g["in_weight"] * w.mask[:, :I].to(dtype)
                g["bias"] = d.sum(0)
        d_x_proj = dus[0]
    for l, (w, g) in enumerate(zip(cells, grads)):
        g["h0"] = dh0[l].to(h0[l].dtype)
        if pure:
            g["A"] = parts[l][0].sum(0).to(w.A.dtype)
            g["w_tau"] = (parts[l][1].sum(0) * torch.sign(w.w_tau)).to(w.w_tau.dtype)
    return d_x_proj, grads


# ----------------------------------------------------------------------------- autograd




class _CfCTriton(torch.autograd.Function):
    @staticmethod
    def forward(ctx, meta, x_proj, ts, *flat):
        mode, activation, n_cells, n_hidden = meta
        h0, cells = unpack(flat, n_cells, n_hidden)
        outs = _forward(x_proj, ts, h0, cells, mode, activation)
        ctx.meta = meta
        ctx.save_for_backward(x_proj, ts, *flat, *outs)
        return tuple(outs)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, *douts):
        mode, activation, n_cells, n_hidden = ctx.meta
        saved = ctx.saved_tensors
        x_proj, ts = saved[0], saved[1]
        n_flat = len(saved) - 2 - n_cells
        h0, cells = unpack(saved[2: 2 + n_flat], n_cells, n_hidden)
        outs = saved[2 + n_flat:]
        d_x_proj, grads = _backward(x_proj, ts, h0, cells, outs, douts, mode, activation)
        return (None, d_x_proj, None, *pack_grads(grads))


# ----------------------------------------------------------------------------- public


def check_supported(x_proj, h0, cells, mode, activation):
    """Raise a ValueError/TypeError naming what the kernels do not cover (``dispatch.triton_refusal``)."""
    if mode not in MODE_IDS:
        raise ValueError(f"unknown mode {mode!r}; valid options are {list(MODE_IDS)}")
    has_backbone = cells[0].head_weight is not None
    if any((w.head_weight is not None) != has_backbone for w in cells):
        raise ValueError("the Triton CfC kernel needs all cascaded cells without backbone")
    if has_backbone and cells[0].mask is not None:
        raise ValueError("a wiring mask applies to backbone-free cells only")
    n_hidden = len(cells[0].hidden)
    tile = largest_tile([h.shape[-1] for h in h0], cells[0].rec_weight.shape[0] if has_backbone else 0, n_hidden)
    refusal = triton_refusal(x_proj.dtype, len(cells), n_hidden, has_backbone, activation, tile)
    if refusal is not None:
        raise refusal
    tensors = [x_proj, *h0] + [t for w in cells for t in (w.rec_weight, w.in_weight) if t is not None]
    if any(t.device != x_proj.device for t in tensors):
        raise ValueError("the Triton CfC kernel needs all tensors on one device")
    if any(t.dtype != x_proj.dtype for t in tensors):
        raise TypeError("the Triton CfC kernel needs the input, state and weights in one dtype")
    if x_proj.device.type != "cuda" and os.environ.get("TRITON_INTERPRET") != "1":
        raise RuntimeError(f"the Triton CfC kernel runs on CUDA tensors (got {x_proj.device.type}); "
                           "set TRITON_INTERPRET=1 to run it on the CPU through Triton's interpreter")


def cfc_triton(x_proj: torch.Tensor, h0: list, ts: torch.Tensor, cells: list, mode: str,
               activation: str) -> list:
    """Same contract as :func:`cfc_reference` (no dropout, no memory cell); returns the states.

    Differentiable (fused backward kernel). Covers modes default/no_gate/pure, activations
    lecun_tanh/tanh/relu/silu/gelu, one cell with 0 to 3 backbone layers or a cascade of 1 to 3
    backbone-free cells (a wired CfC; ``CellWeights.mask`` applied in the kernel), float32 and
    bfloat16. Anything else raises a ValueError/TypeError naming it.
    """
    check_supported(x_proj, h0, cells, mode, activation)
    n_hidden = len(cells[0].hidden)
    meta = (mode, activation, len(cells), n_hidden)
    ts2 = ts.reshape(ts.shape[0], ts.shape[1]).contiguous()  # (T, B)
    h0 = [h.contiguous() for h in h0]
    return list(_CfCTriton.apply(meta, x_proj.contiguous(), ts2, *pack(h0, cells)))
