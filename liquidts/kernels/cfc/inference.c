/* The CfC recurrence for inference in C: the same function as inference.py's cfc_inference.
 *
 * Meant for small cells and batches (a wired NCP streamed one step at a time), where PyTorch's
 * per-operation dispatch costs more than the arithmetic. Weights come transposed (inputs x
 * outputs), so every product below runs over a contiguous output row that the compiler vectorises.
 *
 * Cells are cascaded as in reference.py: inside one step, cell l reads cell l-1's new state.
 * Per cell, sizes[4l..4l+3] = I (inputs), K (first matrix width), H (units), n_hidden (backbone
 * layers after the first; -1 when there is no backbone and the first matrix gives the heads).
 * weights[] holds per cell, in order: in_t (I,K), rec_t (H,K), bias (K), head_t (K,G*H) and
 * head_b (G*H) (NULL without backbone), w_tau (H), A (H) (NULL unless pure), then per hidden
 * layer W_t (K,K), b (K). G is 4 heads (ff1, ff2, time_a, time_b), 1 in pure mode.
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

enum { DEFAULT = 0, NO_GATE = 1, PURE = 2 };
enum { LECUN_TANH = 0, TANH = 1, RELU = 2, SILU = 3, GELU = 4 };

static inline float sigmoidf(float x) { return 1.0f / (1.0f + expf(-x)); }

static void activate(float *z, int64_t n, int act)
{
    for (int64_t k = 0; k < n; k++) {
        float v = z[k];
        switch (act) {
        case LECUN_TANH: z[k] = 1.7159f * tanhf(0.666f * v); break;
        case TANH: z[k] = tanhf(v); break;
        case RELU: z[k] = v > 0.0f ? v : 0.0f; break;
        case SILU: z[k] = v * sigmoidf(v); break;
        default: z[k] = 0.5f * v * (1.0f + erff(v * 0.70710678f)); break;
        }
    }
}

/* y (n_out) = b + x (n_in) @ w_t (n_in, n_out) */
static void affine(float *y, const float *x, const float *w_t, const float *b, int64_t n_in, int64_t n_out)
{
    memcpy(y, b, sizeof(float) * n_out);
    for (int64_t i = 0; i < n_in; i++) {
        float xi = x[i];
        const float *row = w_t + i * n_out;
        for (int64_t k = 0; k < n_out; k++) y[k] += xi * row[k];
    }
}

/* x (B,T,I0); ts (B,T) or NULL for 1; h (B, sum H) the initial states; out (T,B,sum H). */
void cfc_inference(int64_t B, int64_t T, int64_t L, const int64_t *sizes, float *const *weights,
                   int mode, int act, const float *x, const float *ts, const float *h, float *out)
{
    int64_t total = 0, work = 0;
    for (int64_t l = 0; l < L; l++) {
        int64_t K = sizes[4 * l + 1], H = sizes[4 * l + 2];
        int64_t need = 2 * K + (mode == PURE ? 1 : 4) * H;
        total += H;
        work = need > work ? need : work;
    }
    float scratch[work];
    for (int64_t b = 0; b < B; b++) {
        for (int64_t t = 0; t < T; t++) {
            const float *inp = x + (b * T + t) * sizes[0];
            const float *prev = t == 0 ? h + b * total : out + ((t - 1) * B + b) * total;
            float *next = out + (t * B + b) * total;
            float dt = ts ? ts[b * T + t] : 1.0f;
            float *const *w = weights;
            for (int64_t l = 0; l < L; l++) {
                int64_t I = sizes[4 * l], K = sizes[4 * l + 1], H = sizes[4 * l + 2], n_hidden = sizes[4 * l + 3];
                const float *in_t = w[0], *rec_t = w[1], *bias = w[2], *head_t = w[3], *head_b = w[4];
                const float *w_tau = w[5], *A = w[6];
                float *z = scratch, *a = scratch + K, *u = scratch + 2 * K;
                affine(z, inp, in_t, bias, I, K);
                for (int64_t j = 0; j < H; j++) {
                    float hj = prev[j];
                    const float *row = rec_t + j * K;
                    for (int64_t k = 0; k < K; k++) z[k] += hj * row[k];
                }
                if (n_hidden >= 0) {
                    activate(z, K, act);
                    for (int64_t m = 0; m < n_hidden; m++) {
                        affine(a, z, w[7 + 2 * m], w[8 + 2 * m], K, K);
                        activate(a, K, act);
                        memcpy(z, a, sizeof(float) * K);
                    }
                    affine(u, z, head_t, head_b, K, (mode == PURE ? 1 : 4) * H);
                } else {
                    u = z;
                }
                for (int64_t j = 0; j < H; j++) {
                    if (mode == PURE) {
                        next[j] = A[j] - A[j] * expf(-dt * (fabsf(w_tau[j]) + fabsf(u[j]))) * u[j];
                    } else {
                        float ff1 = tanhf(u[j]), ff2 = tanhf(u[H + j]);
                        float s = sigmoidf(u[2 * H + j] * dt + u[3 * H + j]);
                        next[j] = mode == NO_GATE ? ff1 + s * ff2 : ff1 + s * (ff2 - ff1);
                    }
                }
                inp = next;
                prev += H;
                next += H;
                w += 7 + 2 * (n_hidden > 0 ? n_hidden : 0);
            }
        }
    }
}
