/* CfC training in C: the forward and backward passes of scan.py's _CfCScan for one unwired cell
 * with a one-layer backbone (the layer's default), modes default and no_gate.
 *
 * scan.py issues about fifteen PyTorch operations per step and keeps large gate-factor arrays for
 * its backward; each operation costs microseconds of dispatch on arrays of a few thousand floats,
 * which is most of a training step beside its matrix products. Here each step is its matrix
 * products plus one pass over the step's values; the backward recomputes the gate factors from
 * the stored gates instead of reading them from memory, and sums the weight gradients a chunk of
 * steps at a time while the heads' gradients are still in cache.
 *
 * The matrix products are PyTorch's own BLAS (the Fortran sgemm_ that libtorch exports), handed in
 * as a function pointer by scan_native.py, so they run exactly as fast as the products PyTorch
 * does for scan.py. Row-major (rows, cols) matrices are column-major (cols, rows) to sgemm_.
 * Where that BLAS is MKL, the forward packs its two weights once (sgemm_pack) and multiplies each
 * step by the packed copies (sgemm_compute): a plain sgemm_ re-lays out its transposed weight on
 * every call, up to a third of the call at these sizes (a batch of rows times 64-256 columns). The
 * backward's products read their weights untransposed; packed, they measured 2-4% slower.
 *
 * Letters as in reference.py: B batch, T steps, H units, K backbone units; per step z = x_w[t]
 * + b + h W_rec^T (x_w: the inputs times the backbone's input weights, b its bias), a = act(z),
 * u = a W_head^T + b_head = [ff1 | ff2 | t_a | t_b] (4H), then ff_i = tanh(.),
 * s = sigmoid(t_a ts + t_b), h' = ff1 (1 - s) + s ff2 (no_gate: ff1 + s ff2).
 *
 * Where every timespan is one number dt the caller folds the two time heads into one, t_a dt +
 * t_b, whose weights are dt W_a + W_b: heads = 3, u = [ff1 | ff2 | t] (3H), s = sigmoid(t), ts
 * NULL. A quarter less work in the heads' products forward and backward; autograd hands the folded
 * head's gradient to both time heads.
 *
 * The bias is added, and its gradient summed, here rather than by PyTorch: a product with a
 * broadcast bias first copies the bias into every row of its output, and the bias's gradient is
 * a separate pass over all T*B rows of dz; both cost more than the step loop's own additions. The
 * states are handed out, and their gradients read, in the caller's layout (time- or batch-major,
 * as strides), so neither needs a transposed copy.
 * Mode and activation ids come from variants.py (a test checks the enums).
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "denormals.h"
#include "stable_math.h"

enum { DEFAULT = 0, NO_GATE = 1 };
enum { LECUN_TANH = 0, TANH = 1, RELU = 2 };

typedef void (*sgemm_t)(const char *transa, const char *transb, const int *m, const int *n, const int *k,
                        const float *alpha, const float *a, const int *lda, const float *b, const int *ldb,
                        const float *beta, float *c, const int *ldc);

typedef size_t (*sgemm_pack_size_t)(const char *identifier, const int *m, const int *n, const int *k);
typedef void (*sgemm_pack_t)(const char *identifier, const char *trans, const int *m, const int *n, const int *k,
                             const float *alpha, const float *src, const int *ld, float *dest);
typedef void (*sgemm_compute_t)(const char *transa, const char *transb, const int *m, const int *n, const int *k,
                                const float *a, const int *lda, const float *b, const int *ldb, const float *beta,
                                float *c, const int *ldc);

static const float LECUN_A = 1.7159f, LECUN_B = 0.666f;

/* c (rows, cols) = beta c + a (rows, inner) op(w), all row-major; op(w) = w^T with w (cols, inner)
 * when transpose_w, else w (inner, cols). */
static void gemm(sgemm_t sgemm, int rows, int cols, int inner, const float *a, const float *w, int transpose_w,
                 float beta, float *c)
{
    const float one = 1.0f;
    /* Column-major: c^T (cols, rows) = op(w)^T (cols, inner) a^T (inner, rows). */
    if (transpose_w)
        sgemm("T", "N", &cols, &rows, &inner, &one, w, &inner, a, &inner, &beta, c, &cols);
    else
        sgemm("N", "N", &cols, &rows, &inner, &one, w, &cols, a, &inner, &beta, c, &cols);
}

/* A weight w (cols, inner), row-major, multiplied by many (rows, inner) blocks as c = a w^T: packed
 * once for MKL's sgemm_compute where the caller passed MKL's packing functions (and memory was
 * found), else multiplied by sgemm_ each time. */
typedef struct {
    sgemm_t sgemm;
    sgemm_compute_t compute;
    const float *w;
    float *packed; /* NULL: plain sgemm_ */
    int rows, cols, inner;
} weight_t;

static weight_t weight_prepare(sgemm_t sgemm, void *pack_size_ptr, void *pack_ptr, void *compute_ptr, const float *w,
                               int rows, int cols, int inner)
{
    weight_t out = {sgemm, (sgemm_compute_t)compute_ptr, w, NULL, rows, cols, inner};
    if (pack_size_ptr == NULL || pack_ptr == NULL || compute_ptr == NULL)
        return out;
    const float one = 1.0f;
    out.packed = malloc(((sgemm_pack_size_t)pack_size_ptr)("A", &cols, &rows, &inner));
    if (out.packed != NULL) /* column-major, the product's first operand is w^T (cols, inner): w transposed */
        ((sgemm_pack_t)pack_ptr)("A", "T", &cols, &rows, &inner, &one, w, &inner, out.packed);
    return out;
}

/* c (rows, cols) = beta c + a (rows, inner) w^T. */
static void weight_multiply(const weight_t *w, const float *a, float beta, float *c)
{
    if (w->packed == NULL) {
        gemm(w->sgemm, w->rows, w->cols, w->inner, a, w->w, 1, beta, c);
        return;
    }
    w->compute("P", "N", &w->cols, &w->rows, &w->inner, w->packed, &w->inner, a, &w->inner, &beta, c, &w->cols);
}

static void activate(float *a, const float *z, int64_t n, int act)
{
    if (act == LECUN_TANH)
        for (int64_t k = 0; k < n; k++) a[k] = LECUN_A * stable_tanh(LECUN_B * z[k]);
    else if (act == TANH)
        for (int64_t k = 0; k < n; k++) a[k] = stable_tanh(z[k]);
    else
        for (int64_t k = 0; k < n; k++) a[k] = z[k] > 0.0f ? z[k] : 0.0f;
}

/* dz = da * act'(z), written from a = act(z): every activation here has its derivative in a. */
static void activate_backward(float *dz, const float *da, const float *a, int64_t n, int act)
{
    if (act == LECUN_TANH)
        for (int64_t k = 0; k < n; k++) {
            float t = a[k] * (1.0f / LECUN_A);
            dz[k] = da[k] * (LECUN_A * LECUN_B) * (1.0f - t * t);
        }
    else if (act == TANH)
        for (int64_t k = 0; k < n; k++) dz[k] = da[k] * (1.0f - a[k] * a[k]);
    else
        for (int64_t k = 0; k < n; k++) dz[k] = a[k] > 0.0f ? da[k] : 0.0f;
}

/* One row of the gates: ff1, ff2, s and the new state h from the heads u (biases c added here). */
static void gates_forward(int n, float keep1, float dt, const float *restrict u1, const float *restrict u2,
                          const float *restrict ua, const float *restrict ub, const float *restrict c1,
                          const float *restrict c2, const float *restrict ca, const float *restrict cb,
                          float *restrict g1, float *restrict g2, float *restrict gs, float *restrict h)
{
    for (int j = 0; j < n; j++) {
        float ff1 = stable_tanh(u1[j] + c1[j]), ff2 = stable_tanh(u2[j] + c2[j]);
        float s = stable_sigmoid((ua[j] + ca[j]) * dt + ub[j] + cb[j]);
        g1[j] = ff1;
        g2[j] = ff2;
        gs[j] = s;
        h[j] = ff1 * (keep1 + (1.0f - keep1) * (1.0f - s)) + s * ff2;
    }
}

/* One row of the heads' gradients d1..db from the state's gradient (dh_out + carry) and the gates,
 * added to the head biases' gradients e1..eb. */
static void gates_backward(int n, float keep1, float dt, const float *restrict dh_out, const float *restrict g1,
                           const float *restrict g2, const float *restrict gs, const float *restrict carry,
                           float *restrict d1, float *restrict d2, float *restrict da, float *restrict db,
                           float *restrict e1, float *restrict e2, float *restrict ea, float *restrict eb)
{
    for (int j = 0; j < n; j++) {
        float dh = dh_out[j] + carry[j], ff1 = g1[j], ff2 = g2[j], s = gs[j];
        float ds = s * (1.0f - s) * dh * (ff2 - (1.0f - keep1) * ff1);
        d1[j] = dh * (keep1 + (1.0f - keep1) * (1.0f - s)) * (1.0f - ff1 * ff1);
        d2[j] = dh * s * (1.0f - ff2 * ff2);
        da[j] = ds * dt;
        db[j] = ds;
        e1[j] += d1[j];
        e2[j] += d2[j];
        ea[j] += da[j];
        eb[j] += ds;
    }
}

/* x_w (T,B,K); bias (K); ts (T,B), NULL with 3 heads; h0 (B,H); rec (K,H); head (GH,K) and
 * head_bias (GH) for G = heads, 4 or 3 (folded time heads). Writes acts (T,B,K), gates (T,B,3H) =
 * [ff1 | ff2 | s] per row, hs (T,B,H), and the states again into out: step t of sample b at out +
 * t out_t + b out_b; u (B GH + H) is scratch whose last H floats are zeros. The three pack
 * pointers are MKL's sgemm_pack_get_size, sgemm_pack and sgemm_compute, or NULL. */
void cfc_train_forward(int64_t B, int64_t T, int64_t H, int64_t K, int64_t heads, int mode, int act, void *sgemm_ptr,
                       void *pack_size_ptr, void *pack_ptr, void *compute_ptr, const float *x_w,
                       const float *bias, const float *ts, const float *h0, const float *rec, const float *head,
                       const float *head_bias, float *acts, float *gates, float *hs, float *out, int64_t out_t,
                       int64_t out_b, float *u)
{
    const unsigned int fp_env = flush_denormals();
    sgemm_t sgemm = (sgemm_t)sgemm_ptr;
    const weight_t rec_w = weight_prepare(sgemm, pack_size_ptr, pack_ptr, compute_ptr, rec, (int)B, (int)K, (int)H);
    const weight_t head_w = weight_prepare(sgemm, pack_size_ptr, pack_ptr, compute_ptr, head, (int)B,
                                           (int)(heads * H), (int)K);
    const int folded = heads == 3;
    /* Folded: the gates read a zero t_a head (so s = sigmoid(0 dt + t), the same loop, no branch). */
    const float *zeros = u + B * heads * H;
    for (int64_t t = 0; t < T; t++) {
        const float *h_prev = t == 0 ? h0 : hs + (t - 1) * B * H;
        float *a = acts + t * B * K;
        /* z is built in a, then activated in place. */
        for (int64_t b = 0; b < B; b++) {
            const float *restrict xb = x_w + (t * B + b) * K;
            float *restrict ab = a + b * K;
            for (int64_t k = 0; k < K; k++) ab[k] = xb[k] + bias[k];
        }
        weight_multiply(&rec_w, h_prev, 1.0f, a);
        activate(a, a, B * K, act);
        weight_multiply(&head_w, a, 0.0f, u);
        const float *restrict c1 = head_bias, *restrict c2 = head_bias + H;
        const float *restrict ca = folded ? zeros : head_bias + 2 * H, *restrict cb = head_bias + (heads - 1) * H;
        const float keep1 = mode == NO_GATE ? 1.0f : 0.0f;  /* ff1's weight is keep1 + (1 - keep1)(1 - s) */
        for (int64_t b = 0; b < B; b++) {
            const float *restrict u1 = u + b * heads * H, *restrict u2 = u1 + H,
                        *restrict ua = folded ? zeros : u1 + 2 * H, *restrict ub = u1 + (heads - 1) * H;
            float *restrict g1 = gates + (t * B + b) * 3 * H, *restrict g2 = g1 + H, *restrict gs = g1 + 2 * H;
            float *restrict hb = hs + (t * B + b) * H;
            const float dt = folded ? 1.0f : ts[t * B + b];
            gates_forward(H, keep1, dt, u1, u2, ua, ub, c1, c2, ca, cb, g1, g2, gs, hb);
            memcpy(out + t * out_t + b * out_b, hb, (size_t)H * sizeof(float));
        }
    }
    free(rec_w.packed);
    free(head_w.packed);
    restore_denormals(fp_env);
}

/* c (m, n) += a^T b for row-major a (rows, m), b (rows, n), c (m, n): a weight gradient summed
 * over rows (steps x samples). */
static void gemm_accumulate_tn(sgemm_t sgemm, int m, int n, int rows, const float *a, const float *b, float *c)
{
    const float one = 1.0f;
    /* Column-major: c^T (n, m) += b^T (n, rows) a (rows, m). */
    sgemm("N", "T", &n, &m, &rows, &one, b, &n, a, &m, &one, c, &n);
}

/* dhs: the loss's gradient on each output state, step t of sample b at dhs + t dhs_t + b dhs_b;
 * h0, hs (T,B,H), acts and gates from the forward; the rest as in the forward. Writes dz (T,B,K)
 * (the gradient of the backbone's pre-activation, hence of x_w), the gradients d_bias (K),
 * d_rec (K,H), d_head (GH,K), d_head_bias (GH), and carry (B,H): on return the gradient of h0. The
 * heads' gradients of `chunk` steps at a time live in du (chunk,B,GH) and are summed into d_head
 * (and dz into d_rec) while they are still in cache, instead of being written out for all T steps
 * and read back. da (B K + 2H) is scratch. */
void cfc_train_backward(int64_t B, int64_t T, int64_t H, int64_t K, int64_t heads, int64_t chunk, int mode, int act,
                        void *sgemm_ptr, const float *dhs, int64_t dhs_t, int64_t dhs_b, const float *ts,
                        const float *h0, const float *hs, const float *rec, const float *head, const float *acts,
                        const float *gates, float *du, float *dz, float *d_bias, float *d_rec, float *d_head,
                        float *d_head_bias, float *carry, float *da)
{
    const unsigned int fp_env = flush_denormals();
    sgemm_t sgemm = (sgemm_t)sgemm_ptr;
    int b_ = (int)B, h_ = (int)H, k_ = (int)K, g_ = (int)(heads * H);
    const int folded = heads == 3;
    /* Folded: the t_a head's gradient and bias gradient go to a row that is thrown away. */
    float *discard = da + B * K;
    const float keep1 = mode == NO_GATE ? 1.0f : 0.0f;
    memset(carry, 0, (size_t)(B * H) * sizeof(float));
    memset(d_head_bias, 0, (size_t)(heads * H) * sizeof(float));
    memset(d_bias, 0, (size_t)K * sizeof(float));
    memset(d_rec, 0, (size_t)(K * H) * sizeof(float));
    memset(d_head, 0, (size_t)(heads * H * K) * sizeof(float));
    for (int64_t t = T - 1; t >= 0; t--) {
        const int64_t first = t - t % chunk; /* the first step of t's chunk */
        float *du_t = du + (t - first) * B * heads * H;
        for (int64_t b = 0; b < B; b++) {
            const float *restrict g1 = gates + (t * B + b) * 3 * H, *restrict g2 = g1 + H, *restrict gs = g1 + 2 * H;
            const float *restrict dh_out = dhs + t * dhs_t + b * dhs_b;
            float *restrict d1 = du_t + b * heads * H, *restrict d2 = d1 + H,
                  *restrict da_ = folded ? discard : d1 + 2 * H, *restrict db = d1 + (heads - 1) * H;
            float *restrict cb = carry + b * H;
            const float dt = folded ? 1.0f : ts[t * B + b];
            gates_backward(H, keep1, dt, dh_out, g1, g2, gs, cb, d1, d2, da_, db, d_head_bias, d_head_bias + H,
                           folded ? discard + H : d_head_bias + 2 * H, d_head_bias + (heads - 1) * H);
        }
        gemm(sgemm, b_, k_, g_, du_t, head, 0, 0.0f, da);
        float *dz_t = dz + t * B * K;
        activate_backward(dz_t, da, acts + t * B * K, B * K, act);
        for (int64_t b = 0; b < B; b++) {
            const float *restrict dzb = dz_t + b * K;
            for (int64_t k = 0; k < K; k++) d_bias[k] += dzb[k];
        }
        gemm(sgemm, b_, h_, k_, dz_t, rec, 0, 0.0f, carry);
        if (t == first) {
            const int64_t last = first + chunk - 1 < T - 1 ? first + chunk - 1 : T - 1;
            const int rows = (int)((last - first + 1) * B);
            gemm_accumulate_tn(sgemm, g_, k_, rows, du, acts + first * B * K, d_head);
            /* The state before step t is h0 at t = 0, hs[t - 1] after. */
            int64_t from = first;
            if (first == 0) {
                gemm_accumulate_tn(sgemm, k_, h_, b_, dz, h0, d_rec);
                from = 1;
            }
            if (from <= last)
                gemm_accumulate_tn(sgemm, k_, h_, (int)((last - from + 1) * B), dz + from * B * K,
                                   hs + (from - 1) * B * H, d_rec);
        }
    }
    restore_denormals(fp_env);
}
