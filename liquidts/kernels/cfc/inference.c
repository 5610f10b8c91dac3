/* The CfC recurrence for inference in C: the same function as inference.py's cfc_inference.
 *
 * Meant for small cells and batches (a wired NCP streamed one step at a time), where PyTorch's
 * per-operation dispatch costs more than the arithmetic. The kernel reads the layer's parameters
 * where they are stored (nn.Linear's (outputs, inputs) row-major matrices), not a copy: a weight
 * changed in any way between calls is the weight the next call uses.
 *
 * Cells are cascaded as in reference.py: inside one step, cell l reads cell l-1's new state.
 * Per cell, sizes[4l..4l+3] = I (inputs), K (first matrix width), H (units), n_hidden (backbone
 * layers after the first; -1 when there is no backbone and the first matrix gives the heads).
 * weights[] holds per cell, in order: first_w (K, I+H) and first_b (K), mask (K, I+H) (the
 * wiring's 0/1 mask of first_w, NULL without wiring), head_w (G*H, K) and head_b (G*H) (NULL
 * without backbone), w_tau (H), A (H) (NULL unless pure), then per hidden layer W (K, K), b (K).
 * G is 4 heads (ff1, ff2, time_a, time_b), 1 in pure mode.
 *
 * Mode and activation ids come from liquidts/kernels/cfc/variants.py (a test checks the enums).
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "denormals.h"
#include "stable_math.h"

enum { DEFAULT = 0, NO_GATE = 1, PURE = 2 };
enum { LECUN_TANH = 0, TANH = 1, RELU = 2, SILU = 3, GELU = 4 };

static void activate(float *z, int64_t n, int act)
{
    for (int64_t k = 0; k < n; k++) {
        float v = z[k];
        switch (act) {
        case LECUN_TANH: z[k] = 1.7159f * stable_tanh(0.666f * v); break;
        case TANH: z[k] = stable_tanh(v); break;
        case RELU: z[k] = v > 0.0f ? v : 0.0f; break;
        case SILU: z[k] = v * stable_sigmoid(v); break;
        default: z[k] = 0.5f * v * (1.0f + erff(v * 0.70710678f)); break;
        }
    }
}

/* y (n_out) = b + (w * mask) x, w and mask (n_out, n_in) row-major; mask may be NULL. */
static void linear(float *y, const float *x, const float *w, const float *mask, const float *b,
                   int64_t n_in, int64_t n_out)
{
    for (int64_t k = 0; k < n_out; k++) {
        const float *row = w + k * n_in;
        float acc = 0.0f;
        if (mask) {
            const float *m = mask + k * n_in;
            for (int64_t i = 0; i < n_in; i++) acc += row[i] * m[i] * x[i];
        } else {
            for (int64_t i = 0; i < n_in; i++) acc += row[i] * x[i];
        }
        y[k] = b[k] + acc;
    }
}

/* x (B,T,I0); ts (B,T) or NULL for 1; h (B, sum H) the initial states; out (T,B,sum H). */
void cfc_inference(int64_t B, int64_t T, int64_t L, const int64_t *sizes, const float *const *weights,
                   int mode, int act, const float *x, const float *ts, const float *h, float *out)
{
    const unsigned int fp_env = flush_denormals();
    int64_t total = 0, work = 0;
    int64_t G = mode == PURE ? 1 : 4;
    for (int64_t l = 0; l < L; l++) {
        int64_t I = sizes[4 * l], K = sizes[4 * l + 1], H = sizes[4 * l + 2];
        int64_t need = I + H + 2 * K + G * H;
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
            const float *const *w = weights;
            for (int64_t l = 0; l < L; l++) {
                int64_t I = sizes[4 * l], K = sizes[4 * l + 1], H = sizes[4 * l + 2], n_hidden = sizes[4 * l + 3];
                const float *first_w = w[0], *first_b = w[1], *mask = w[2], *head_w = w[3], *head_b = w[4];
                const float *w_tau = w[5], *A = w[6];
                float *xh = scratch, *z = scratch + I + H, *a = z + K, *u = a + K;
                memcpy(xh, inp, sizeof(float) * I);
                memcpy(xh + I, prev, sizeof(float) * H);
                linear(z, xh, first_w, mask, first_b, I + H, K);
                if (n_hidden >= 0) {
                    activate(z, K, act);
                    for (int64_t m = 0; m < n_hidden; m++) {
                        linear(a, z, w[7 + 2 * m], NULL, w[8 + 2 * m], K, K);
                        activate(a, K, act);
                        memcpy(z, a, sizeof(float) * K);
                    }
                    linear(u, z, head_w, NULL, head_b, K, G * H);
                } else {
                    u = z;
                }
                for (int64_t j = 0; j < H; j++) {
                    if (mode == PURE) {
                        float e = exp_nonpositive(-dt * (fabsf(w_tau[j]) + fabsf(u[j])));
                        next[j] = A[j] - A[j] * e * u[j];
                    } else {
                        float ff1 = stable_tanh(u[j]), ff2 = stable_tanh(u[H + j]);
                        float s = stable_sigmoid(u[2 * H + j] * dt + u[3 * H + j]);
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
    restore_denormals(fp_env);
}
