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
 * Divisions by the denominator run in double: under -ffast-math a float division is a reciprocal
 * estimate, which is 0 once the denominator passes 2^126 (a long gap times a conductance), and the
 * potential with it (stable_math.h says why); in double, every finite denominator divides exactly.
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "stable_math.h"

/* v0 (N,B); base (T,2N,B) drive | conductance; h (T,B); cm (N); synapses src, dst, sigma, bias,
 * werev, w (E). Writes out (T,N,B) and, when the backward will run (V, S, D not NULL), V (T*U,N,B)
 * the potentials before each unfold, S (T*U,E,B) the synapse activations and D (T*U,N,B) the
 * denominators. work: (4*N + 1)*B floats. */
void ltc_forward(int64_t T, int64_t U, int64_t B, int64_t N, int64_t E,
                 const float *v0, const float *base, const float *h, const float *cm,
                 const int64_t *src, const int64_t *dst, const float *sigma, const float *bias,
                 const float *werev, const float *w,
                 float *out, float *V, float *S, float *D, float *work)
{
    float *num = work, *cond = work + N * B, *spare[2] = {work + 2 * N * B, work + 3 * N * B};
    float *act = work + 4 * N * B;  /* one synapse's activations when S is not kept */
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
                float *s = S ? S + (i * E + e) * B : act, *nd = num + dst[e] * B, *cd = cond + dst[e] * B;
                float sg = sigma[e], bi = bias[e], we = werev[e], ww = w[e];
                for (int64_t b = 0; b < B; b++) {
                    float a = stable_sigmoid(sg * vs[b] + bi);
                    s[b] = a;
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
}

/* Gradients of sum(dout * out). dout (T,N,B). Writes dv0 (N,B), dbase (T,2N,B), dcm (N) and the
 * synapse gradients (E). work: (4*N + 4*E + N)*B floats, of which the last part sums the
 * parameter gradients per batch lane until the end. */
void ltc_backward(int64_t T, int64_t U, int64_t B, int64_t N, int64_t E,
                  const float *h, const float *cm,
                  const int64_t *src, const int64_t *dst, const float *sigma,
                  const float *werev, const float *w,
                  const float *out, const float *V, const float *S, const float *D, const float *dout,
                  float *dv0, float *dbase, float *dcm, float *dsigma, float *dbias,
                  float *dwerev, float *dw, float *work)
{
    size_t NB = sizeof(float) * N * B;
    float *carry = work, *gnum = work + N * B, *gcond = work + 2 * N * B, *next = work + 3 * N * B;
    float *acc = work + 4 * N * B;
    float *a_sigma = acc, *a_bias = acc + E * B, *a_werev = acc + 2 * E * B, *a_w = acc + 3 * E * B;
    float *a_cm = acc + 4 * E * B;
    memset(acc, 0, sizeof(float) * (4 * E + N) * B);
    memset(carry, 0, NB);
    memset(dbase, 0, sizeof(float) * T * 2 * N * B);
    for (int64_t i = T * U - 1; i >= 0; i--) {
        int64_t t = i / U;
        const float *ht = h + t * B;
        const float *Vi = V + i * N * B, *Si = S + i * E * B, *Di = D + i * N * B;
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
            const float *s = Si + e * B, *vs = Vi + src[e] * B;
            const float *gn = gnum + dst[e] * B, *gc = gcond + dst[e] * B;
            float *nx = next + src[e] * B;
            float *as = a_sigma + e * B, *ab = a_bias + e * B, *awe = a_werev + e * B, *aw = a_w + e * B;
            float sg = sigma[e], we = werev[e], ww = w[e];
            for (int64_t b = 0; b < B; b++) {
                float a = s[b];
                float ds = we * gn[b] + ww * gc[b];
                float dx = ds * a * (1.0f - a);
                awe[b] += gn[b] * a;
                aw[b] += gc[b] * a;
                as[b] += dx * vs[b];
                ab[b] += dx;
                nx[b] += dx * sg;
            }
        }
        memcpy(carry, next, NB);
    }
    memcpy(dv0, carry, NB);
    for (int64_t e = 0; e < E; e++) {
        float s1 = 0, s2 = 0, s3 = 0, s4 = 0;
        for (int64_t b = 0; b < B; b++) {
            s1 += a_sigma[e * B + b]; s2 += a_bias[e * B + b]; s3 += a_werev[e * B + b]; s4 += a_w[e * B + b];
        }
        dsigma[e] = s1; dbias[e] = s2; dwerev[e] = s3; dw[e] = s4;
    }
    for (int64_t n = 0; n < N; n++) {
        float s = 0;
        for (int64_t b = 0; b < B; b++) s += a_cm[n * B + b];
        dcm[n] = s;
    }
}
