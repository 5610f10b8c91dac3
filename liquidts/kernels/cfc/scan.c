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
 * Letters as in reference.py: B batch, T steps, I inputs, H units, K backbone units; per step
 * z = [x | h] W^T + b with W = [W_in | W_rec] (K, I + H) the backbone's weight and b its bias,
 * a = act(z), u = a W_head^T + b_head = [ff1 | ff2 | t_a | t_b] (4H), then ff_i = tanh(.),
 * s = sigmoid(t_a ts + t_b), h' = ff1 (1 - s) + s ff2 (no_gate: ff1 + s ff2).
 *
 * The inputs are multiplied by W_in inside the step's product with the state, from rows [x_t |
 * h_{t-1}] that the forward writes (xh, T B (I + H)) and the backward reads back: the weight's
 * gradient is then one product over those rows, and neither the inputs' product for all steps
 * (T B K floats written, then read back from memory by the step loop) nor its gradient (a product
 * with an inner dimension of a few inputs, slow on any BLAS) is a pass of its own.
 *
 * Where every timespan is one number dt the caller folds the two time heads into one, t_a dt +
 * t_b, whose weights are dt W_a + W_b: heads = 3, u = [ff1 | ff2 | t] (3H), s = sigmoid(t), ts
 * NULL. A quarter less work in the heads' products forward and backward; autograd hands the folded
 * head's gradient to both time heads.
 *
 * Every product adds to what its output already holds: the biases, copied into the rows first,
 * or the loss's gradient on the states; a product into zeros costs BLAS a pass of its own over
 * the output. The backbone bias's gradient is summed from each step's dz while it is in cache,
 * not in a pass over all T*B rows after the loop. The states are handed out, and their gradients
 * read, in the caller's layout (time- or batch-major, as strides), so neither needs a transposed
 * copy.
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

/* c (rows, cols) = beta c + a (rows, inner) w, all row-major, w (inner, cols) with rows w_stride
 * floats apart (a block of a wider matrix). */
static void gemm(sgemm_t sgemm, int rows, int cols, int inner, const float *a, const float *w, int w_stride,
                 float beta, float *c)
{
    const float one = 1.0f;
    /* Column-major: c^T (cols, rows) = w^T (cols, inner) a^T (inner, rows). */
    sgemm("N", "N", &cols, &rows, &inner, &one, w, &w_stride, a, &inner, &beta, c, &cols);
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
    const float one = 1.0f;
    if (w->packed == NULL) /* column-major: c^T (cols, rows) = w (cols, inner) a^T (inner, rows) */
        w->sgemm("T", "N", &w->cols, &w->rows, &w->inner, &one, w->w, &w->inner, a, &w->inner, &beta, c, &w->cols);
    else
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

/* One row of the gates: ff1, ff2, s and the new state h from the heads u (their biases added). */
static void gates_forward(int n, float keep1, float dt, const float *restrict u1, const float *restrict u2,
                          const float *restrict ua, const float *restrict ub, float *restrict g1,
                          float *restrict g2, float *restrict gs, float *restrict h)
{
    for (int j = 0; j < n; j++) {
        float ff1 = stable_tanh(u1[j]), ff2 = stable_tanh(u2[j]);
        float s = stable_sigmoid(ua[j] * dt + ub[j]);
        g1[j] = ff1;
        g2[j] = ff2;
        gs[j] = s;
        h[j] = ff1 * (keep1 + (1.0f - keep1) * (1.0f - s)) + s * ff2;
    }
}

/* One row of the heads' gradients d1..db from the state's gradient dh and the gates, added to the
 * head biases' gradients e1..eb. */
static void gates_backward(int n, float keep1, float dt, const float *restrict dh_row, const float *restrict g1,
                           const float *restrict g2, const float *restrict gs, float *restrict d1,
                           float *restrict d2, float *restrict da, float *restrict db, float *restrict e1,
                           float *restrict e2, float *restrict ea, float *restrict eb)
{
    for (int j = 0; j < n; j++) {
        float dh = dh_row[j], ff1 = g1[j], ff2 = g2[j], s = gs[j];
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

/* xh (T,B,I+H): row (t, b) is [x_t | h_{t-1}] of sample b, the inputs filled in by the caller and
 * the state before the first step in xh[0]; the kernel writes each step's new state into the next
 * step's rows. bias (K); ts (T,B), NULL with 3 heads; backbone (K,I+H) = [W_in | W_rec]; head
 * (GH,K) and head_bias (GH) for G = heads, 4 or 3 (folded time heads). Writes acts (T,B,K), gates
 * (T,B,3H) = [ff1 | ff2 | s] per row and the states into out: step t of sample b at out + t out_t
 * + b out_b; u (B GH + H) is scratch whose last H floats are zeros. The three pack pointers are
 * MKL's sgemm_pack_get_size, sgemm_pack and sgemm_compute, or NULL. */
void cfc_train_forward(int64_t B, int64_t T, int64_t I, int64_t H, int64_t K, int64_t heads, int mode, int act,
                       void *sgemm_ptr, void *pack_size_ptr, void *pack_ptr, void *compute_ptr, float *xh,
                       const float *bias, const float *ts, const float *backbone, const float *head,
                       const float *head_bias, float *acts, float *gates, float *out, int64_t out_t, int64_t out_b,
                       float *u)
{
    const unsigned int fp_env = flush_denormals();
    sgemm_t sgemm = (sgemm_t)sgemm_ptr;
    const int64_t L = I + H; /* an xh row */
    const weight_t backbone_w = weight_prepare(sgemm, pack_size_ptr, pack_ptr, compute_ptr, backbone, (int)B, (int)K,
                                               (int)L);
    const weight_t head_w = weight_prepare(sgemm, pack_size_ptr, pack_ptr, compute_ptr, head, (int)B,
                                           (int)(heads * H), (int)K);
    const int folded = heads == 3;
    /* Folded: the gates read a zero t_a head (so s = sigmoid(0 dt + t), the same loop, no branch). */
    const float *zeros = u + B * heads * H;
    for (int64_t t = 0; t < T; t++) {
        float *a = acts + t * B * K;
        /* z is built in a, then activated in place. */
        for (int64_t b = 0; b < B; b++) memcpy(a + b * K, bias, (size_t)K * sizeof(float));
        weight_multiply(&backbone_w, xh + t * B * L, 1.0f, a);
        activate(a, a, B * K, act);
        /* The heads' biases first, so that the product adds to them (a product into zeros costs
         * BLAS a pass of its own over the output, and the gates three more loads an element). */
        for (int64_t b = 0; b < B; b++) memcpy(u + b * heads * H, head_bias, (size_t)(heads * H) * sizeof(float));
        weight_multiply(&head_w, a, 1.0f, u);
        const float keep1 = mode == NO_GATE ? 1.0f : 0.0f;  /* ff1's weight is keep1 + (1 - keep1)(1 - s) */
        for (int64_t b = 0; b < B; b++) {
            const float *restrict u1 = u + b * heads * H, *restrict u2 = u1 + H,
                        *restrict ua = folded ? zeros : u1 + 2 * H, *restrict ub = u1 + (heads - 1) * H;
            float *restrict g1 = gates + (t * B + b) * 3 * H, *restrict g2 = g1 + H, *restrict gs = g1 + 2 * H;
            float *restrict hb = out + t * out_t + b * out_b;
            const float dt = folded ? 1.0f : ts[t * B + b];
            gates_forward(H, keep1, dt, u1, u2, ua, ub, g1, g2, gs, hb);
            if (t + 1 < T)
                memcpy(xh + ((t + 1) * B + b) * L + I, hb, (size_t)H * sizeof(float));
        }
    }
    free(backbone_w.packed);
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

/* Asks for n floats from p to be brought into the cache ahead of their use, a 64-byte line at a time. */
static void prefetch(const float *p, int64_t n)
{
    for (int64_t k = 0; k < n; k += 16) __builtin_prefetch(p + k, 0, 2);
}

/* dh (B,H) = the loss's gradient on one step's states, row b at from + b stride. */
static void state_gradients(float *dh, const float *from, int64_t stride, int64_t B, int64_t H)
{
    for (int64_t b = 0; b < B; b++) memcpy(dh + b * H, from + b * stride, (size_t)H * sizeof(float));
}

/* dhs: the loss's gradient on each output state, step t of sample b at dhs + t dhs_t + b dhs_b;
 * xh, acts and gates from the forward; the rest as in the forward. Writes the gradients d_bias
 * (K), d_backbone (K,I+H), d_head (GH,K), d_head_bias (GH), dx (T,B,I) the inputs' gradient (not
 * where dx is NULL), and dh (B,H): the whole gradient reaching the states of the step being worked
 * on, on return the gradient of the state before the first step. The gradients of `chunk` steps
 * at a time, the heads' in du (chunk,B,GH) and the backbone pre-activation's in dz (chunk,B,K),
 * are summed into the weight gradients (and multiplied into dx) while they are still in cache,
 * instead of being written out for all T steps and read back. da (B K + 2H) is scratch. */
void cfc_train_backward(int64_t B, int64_t T, int64_t I, int64_t H, int64_t K, int64_t heads, int64_t chunk,
                        int mode, int act, void *sgemm_ptr, const float *dhs, int64_t dhs_t, int64_t dhs_b,
                        const float *ts, const float *xh, const float *backbone, const float *head,
                        const float *acts, const float *gates, float *du, float *dz, float *dx, float *d_bias,
                        float *d_backbone, float *d_head, float *d_head_bias, float *dh, float *da)
{
    const unsigned int fp_env = flush_denormals();
    sgemm_t sgemm = (sgemm_t)sgemm_ptr;
    const int64_t L = I + H; /* an xh row */
    const int b_ = (int)B, i_ = (int)I, h_ = (int)H, k_ = (int)K, l_ = (int)L, g_ = (int)(heads * H);
    const int folded = heads == 3;
    /* Folded: the t_a head's gradient and bias gradient go to a row that is thrown away. */
    float *discard = da + B * K;
    const float keep1 = mode == NO_GATE ? 1.0f : 0.0f;
    state_gradients(dh, dhs + (T - 1) * dhs_t, dhs_b, B, H);
    memset(d_head_bias, 0, (size_t)(heads * H) * sizeof(float));
    memset(d_bias, 0, (size_t)K * sizeof(float));
    memset(d_backbone, 0, (size_t)(K * L) * sizeof(float));
    memset(d_head, 0, (size_t)(heads * H * K) * sizeof(float));
    for (int64_t t = T - 1; t >= 0; t--) {
        const int64_t first = t - t % chunk; /* the first step of t's chunk */
        float *du_t = du + (t - first) * B * heads * H, *dz_t = dz + (t - first) * B * K;
        for (int64_t b = 0; b < B; b++) {
            const float *restrict g1 = gates + (t * B + b) * 3 * H, *restrict g2 = g1 + H, *restrict gs = g1 + 2 * H;
            float *restrict d1 = du_t + b * heads * H, *restrict d2 = d1 + H,
                  *restrict da_ = folded ? discard : d1 + 2 * H, *restrict db = d1 + (heads - 1) * H;
            if (t > 0) { /* the next step's rows, read from memory otherwise (the forward wrote them long ago) */
                prefetch(gates + ((t - 1) * B + b) * 3 * H, 3 * H);
                prefetch(acts + ((t - 1) * B + b) * K, K);
            }
            const float dt = folded ? 1.0f : ts[t * B + b];
            gates_backward(H, keep1, dt, dh + b * H, g1, g2, gs, d1, d2, da_, db, d_head_bias, d_head_bias + H,
                           folded ? discard + H : d_head_bias + 2 * H, d_head_bias + (heads - 1) * H);
        }
        gemm(sgemm, b_, k_, g_, du_t, head, k_, 0.0f, da);
        activate_backward(dz_t, da, acts + t * B * K, B * K, act);
        for (int64_t b = 0; b < B; b++) {
            const float *restrict dzb = dz_t + b * K;
            for (int64_t k = 0; k < K; k++) d_bias[k] += dzb[k];
        }
        /* The gradient reaching the state before step t: the loss's on it, plus dz_t W_rec. */
        if (t > 0)
            state_gradients(dh, dhs + (t - 1) * dhs_t, dhs_b, B, H);
        gemm(sgemm, b_, h_, k_, dz_t, backbone + I, l_, t > 0 ? 1.0f : 0.0f, dh);
        if (t == first) {
            const int64_t last = first + chunk - 1 < T - 1 ? first + chunk - 1 : T - 1;
            const int rows = (int)((last - first + 1) * B);
            gemm_accumulate_tn(sgemm, g_, k_, rows, du, acts + first * B * K, d_head);
            gemm_accumulate_tn(sgemm, k_, l_, rows, dz, xh + first * B * L, d_backbone);
            if (dx != NULL) /* times W_in */
                gemm(sgemm, rows, i_, k_, dz, backbone, l_, 0.0f, dx + first * B * I);
        }
    }
    restore_denormals(fp_env);
}
