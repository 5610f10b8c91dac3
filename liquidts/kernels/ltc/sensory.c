/* The LTC's input (sensory) synapses in C, forward and backward: sensory.py's reference in one pass.
 *
 * For each row r (a step of a sequence), input i and neuron n:
 *   a = w_in s,  s = sigmoid(sigma_in (x_ri - mu_in))
 *   out[r, n] = sum_i a erev_in (drive),  out[r, N + n] = sum_i a (conductance)
 * In PyTorch operations this is a (rows, I, N) tensor per operation, a dozen of them forward and
 * backward: for a fully connected 64-neuron LTC reading 112 inputs over 128 x 75 steps, 69 million
 * values each, several seconds per batch. Here each row is one pass over the (I, N) parameters,
 * which stay in cache; the backward recomputes s instead of storing it.
 *
 * The parameter gradients are summed over BLOCK rows in float, then added to double accumulators:
 * a float sum over tens of thousands of rows would lose digits.
 *
 * Letters: R rows, I inputs, N neurons; every matrix row-major, n innermost.
 */
#include <stdint.h>
#include <string.h>

#include "denormals.h"
#include "stable_math.h"

enum { BLOCK = 256 };

/* x (R,I); w, sigma, mu, erev (I,N). Writes out (R,2N). */
void ltc_sensory_forward(int64_t R, int64_t I, int64_t N, const float *x, const float *w, const float *sigma,
                         const float *mu, const float *erev, float *out)
{
    const unsigned int fp_env = flush_denormals();
    for (int64_t r = 0; r < R; r++) {
        float *restrict drive = out + r * 2 * N, *restrict cond = drive + N;
        memset(drive, 0, sizeof(float) * 2 * N);
        for (int64_t i = 0; i < I; i++) {
            const float xi = x[r * I + i];
            const float *restrict wi = w + i * N, *restrict si = sigma + i * N, *restrict mi = mu + i * N,
                        *restrict ei = erev + i * N;
            for (int64_t n = 0; n < N; n++) {
                const float a = wi[n] * stable_sigmoid(si[n] * (xi - mi[n]));
                drive[n] += a * ei[n];
                cond[n] += a;
            }
        }
    }
    restore_denormals(fp_env);
}

/* One row and input of the backward: adds to the parameter gradients' block sums bw..be (N each)
 * and returns the input's gradient. */
static float row_backward(int64_t N, float xi, const float *restrict g_drive, const float *restrict g_cond,
                          const float *restrict w, const float *restrict sigma, const float *restrict mu,
                          const float *restrict erev, float *restrict bw, float *restrict bs, float *restrict bm,
                          float *restrict be)
{
    float dxi = 0.0f;
    for (int64_t n = 0; n < N; n++) {
        const float d = xi - mu[n];
        const float s = stable_sigmoid(sigma[n] * d);
        const float da = g_drive[n] * erev[n] + g_cond[n];  /* d loss / d a */
        const float dz = da * w[n] * s * (1.0f - s);        /* d loss / d (sigma (x - mu)) */
        be[n] += g_drive[n] * w[n] * s;
        bw[n] += da * s;
        bs[n] += dz * d;
        bm[n] -= dz * sigma[n];
        dxi += dz * sigma[n];
    }
    return dxi;
}

/* Gradients of sum(g * out) for g (R,2N): dx (R,I) and dw, dsigma, dmu, derev (I,N). work: 4*I*N
 * floats; acc: 4*I*N doubles. */
void ltc_sensory_backward(int64_t R, int64_t I, int64_t N, const float *x, const float *w, const float *sigma,
                          const float *mu, const float *erev, const float *g, float *dx, float *dw,
                          float *dsigma, float *dmu, float *derev, float *work, double *acc)
{
    const unsigned int fp_env = flush_denormals();
    const int64_t M = I * N;
    float *b_w = work, *b_sigma = work + M, *b_mu = work + 2 * M, *b_erev = work + 3 * M;
    memset(acc, 0, sizeof(double) * 4 * M);
    for (int64_t start = 0; start < R; start += BLOCK) {
        const int64_t stop = start + BLOCK < R ? start + BLOCK : R;
        memset(work, 0, sizeof(float) * 4 * M);
        for (int64_t r = start; r < stop; r++)
            for (int64_t i = 0; i < I; i++) {
                const int64_t k = i * N;
                dx[r * I + i] = row_backward(N, x[r * I + i], g + r * 2 * N, g + r * 2 * N + N, w + k, sigma + k,
                                             mu + k, erev + k, b_w + k, b_sigma + k, b_mu + k, b_erev + k);
            }
        for (int64_t k = 0; k < M; k++) {
            acc[k] += b_w[k];
            acc[M + k] += b_sigma[k];
            acc[2 * M + k] += b_mu[k];
            acc[3 * M + k] += b_erev[k];
        }
    }
    for (int64_t k = 0; k < M; k++) {
        dw[k] = (float)acc[k];
        dsigma[k] = (float)acc[M + k];
        dmu[k] = (float)acc[2 * M + k];
        derev[k] = (float)acc[3 * M + k];
    }
    restore_denormals(fp_env);
}
