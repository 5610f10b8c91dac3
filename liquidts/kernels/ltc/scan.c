/* The LTC's fused semi-implicit solver over a whole sequence, forward and backward, in C.
 *
 * The same function as scan.py (and LTCCell.fused_steps), on the synapse list itself rather than
 * gather/scatter matrices. Every array keeps the batch axis innermost, so each loop body below is
 * one contiguous pass over the batch that the compiler vectorises.
 *
 * Per unfold of input step t, with h = dt / unfolds:
 *   s_e  = sigmoid(sigma_e v[src_e] + bias_e)                    synapse e
 *   num  = base_num[t] + sum_e werev_e s_e  (into dst_e)         drive
 *   cond = base_cond[t] + sum_e w_e s_e     (into dst_e)         conductance
 *   v'   = (cm v + h num) / (cm + h cond)
 *
 * Letters: T steps, U unfolds, B batch, N neurons, E synapses. Shapes are given innermost last.
 *
 * The backward recomputes each synapse's activation from the stored potentials instead of reading
 * it back: stored, the activations are T*U*E*B floats (about a gigabyte for a fully connected
 * 64-neuron LTC over a batch of 128 sequences of 75 steps), whose writing, page faults and reading
 * cost far more than one exponential each. For the same reason the synapse parameters' gradients
 * are summed over the batch at every unfold (into double accumulators) rather than kept per batch
 * lane until the end.
 *
 * Divisions by the denominator run in double: under -ffast-math a float division is a reciprocal
 * estimate, which is 0 once the denominator passes 2^126 (a long gap times a conductance), and the
 * potential with it (stable_math.h says why); in double, every finite denominator divides exactly.
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "denormals.h"
#include "stable_math.h"

/* v0 (N,B); base (T,2N,B) drive | conductance; h (T,B); cm (N); synapses src, dst, sigma, bias,
 * werev, w (E). Writes out (T,N,B) and, when the backward will run (V, D not NULL), V (T*U,N,B)
 * the potentials before each unfold and D (T*U,N,B) the denominators. work: 4*N*B floats. */
void ltc_forward(int64_t T, int64_t U, int64_t B, int64_t N, int64_t E,
                 const float *v0, const float *base, const float *h, const float *cm,
                 const int64_t *src, const int64_t *dst, const float *sigma, const float *bias,
                 const float *werev, const float *w,
                 float *out, float *V, float *D, float *work)
{
    const unsigned int fp_env = flush_denormals();
    float *num = work, *cond = work + N * B, *spare[2] = {work + 2 * N * B, work + 3 * N * B};
    const float *v = v0;
    for (int64_t t = 0; t < T; t++) {
        const float *ht = h + t * B;
        const float *bt = base + t * 2 * N * B;
        for (int64_t u = 0; u < U; u++) {
            int64_t i = t * U + u;
            if (V && v != V + i * N * B) {
                memcpy(V + i * N * B, v, sizeof(float) * N * B);
                v = V + i * N * B;
            }
            memcpy(num, bt, sizeof(float) * N * B);
            memcpy(cond, bt + N * B, sizeof(float) * N * B);
            for (int64_t e = 0; e < E; e++) {
                const float *vs = v + src[e] * B;
                float *nd = num + dst[e] * B, *cd = cond + dst[e] * B;
                float sg = sigma[e], bi = bias[e], we = werev[e], ww = w[e];
                for (int64_t b = 0; b < B; b++) {
                    float a = stable_sigmoid(sg * vs[b] + bi);
                    nd[b] += we * a;
                    cd[b] += ww * a;
                }
            }
            /* The new potentials go where the next unfold (or the step's output) reads them. */
            float *vn = u == U - 1 ? out + t * N * B : (V ? V + (i + 1) * N * B : spare[i % 2]);
            for (int64_t n = 0; n < N; n++) {
                float c = cm[n];
                for (int64_t b = 0; b < B; b++) {
                    double den = (double)c + (double)ht[b] * cond[n * B + b];
                    if (D) D[(i * N + n) * B + b] = (float)den;
                    vn[n * B + b] = (float)(((double)c * v[n * B + b] + (double)ht[b] * num[n * B + b]) / den);
                }
            }
            v = vn;
        }
    }
    restore_denormals(fp_env);
}

/* Gradients of sum(dout * out). dout (T,N,B). Writes dv0 (N,B), dbase (T,2N,B), dcm (N) and the
 * synapse gradients (E). work: 5*N*B floats; acc: 4*E doubles, the synapse gradients' sums. */
void ltc_backward(int64_t T, int64_t U, int64_t B, int64_t N, int64_t E,
                  const float *h, const float *cm,
                  const int64_t *src, const int64_t *dst, const float *sigma, const float *bias,
                  const float *werev, const float *w,
                  const float *out, const float *V, const float *D, const float *dout,
                  float *dv0, float *dbase, float *dcm, float *dsigma, float *dbias,
                  float *dwerev, float *dw, float *work, double *acc)
{
    const unsigned int fp_env = flush_denormals();
    size_t NB = sizeof(float) * N * B;
    float *carry = work, *gnum = work + N * B, *gcond = work + 2 * N * B, *next = work + 3 * N * B;
    float *a_cm = work + 4 * N * B;
    double *a_sigma = acc, *a_bias = acc + E, *a_werev = acc + 2 * E, *a_w = acc + 3 * E;
    memset(acc, 0, sizeof(double) * 4 * E);
    memset(a_cm, 0, NB);
    memset(carry, 0, NB);
    memset(dbase, 0, sizeof(float) * T * 2 * N * B);
    for (int64_t i = T * U - 1; i >= 0; i--) {
        int64_t t = i / U;
        const float *ht = h + t * B;
        const float *Vi = V + i * N * B, *Di = D + i * N * B;
        const float *after = (i % U == U - 1) ? out + t * N * B : V + (i + 1) * N * B;
        float *db = dbase + t * 2 * N * B;
        if (i % U == U - 1)
            for (int64_t k = 0; k < N * B; k++) carry[k] += dout[t * N * B + k];
        for (int64_t n = 0; n < N; n++) {
            float c = cm[n];
            for (int64_t b = 0; b < B; b++) {
                int64_t k = n * B + b;
                float g = (float)((double)carry[k] / Di[k]);  /* d loss / d (h num), before the factor h */
                float gc = -g * after[k];             /* d loss / d (h cond) */
                gnum[k] = ht[b] * g;
                gcond[k] = ht[b] * gc;
                db[k] += gnum[k];
                db[N * B + k] += gcond[k];
                a_cm[k] += g * Vi[k] + gc;
                next[k] = c * g;
            }
        }
        for (int64_t e = 0; e < E; e++) {
            const float *restrict vs = Vi + src[e] * B;
            const float *restrict gn = gnum + dst[e] * B, *restrict gc = gcond + dst[e] * B;
            float *restrict nx = next + src[e] * B;
            float sg = sigma[e], bi = bias[e], we = werev[e], ww = w[e];
            float s_sigma = 0.0f, s_bias = 0.0f, s_werev = 0.0f, s_w = 0.0f;
            for (int64_t b = 0; b < B; b++) {
                float a = stable_sigmoid(sg * vs[b] + bi);  /* the forward's activation, recomputed */
                float ds = we * gn[b] + ww * gc[b];
                float dx = ds * a * (1.0f - a);
                s_werev += gn[b] * a;
                s_w += gc[b] * a;
                s_sigma += dx * vs[b];
                s_bias += dx;
                nx[b] += dx * sg;
            }
            a_sigma[e] += s_sigma;
            a_bias[e] += s_bias;
            a_werev[e] += s_werev;
            a_w[e] += s_w;
        }
        memcpy(carry, next, NB);
    }
    memcpy(dv0, carry, NB);
    for (int64_t e = 0; e < E; e++) {
        dsigma[e] = (float)a_sigma[e];
        dbias[e] = (float)a_bias[e];
        dwerev[e] = (float)a_werev[e];
        dw[e] = (float)a_w[e];
    }
    for (int64_t n = 0; n < N; n++) {
        float s = 0;
        for (int64_t b = 0; b < B; b++) s += a_cm[n * B + b];
        dcm[n] = s;
    }
    restore_denormals(fp_env);
}
