/* Dropout of tanh(rows[r] + cols[g]) with masks from splitmix64 on each element's index
 * (reference.py draws the same masks bit for bit). The readout adds what is per sequence (a row
 * of D values) to what is per horizon segment (M x D values, one block per group of rows), so the
 * sum is never written: one pass forward computes it, the tanh, the hash, the threshold and the
 * scaling, and writes the output and the mask (the tanh is the kept outputs over the scale, so it
 * is not written too); one pass backward sums the input's gradient straight into the rows' and
 * the blocks' gradients. The inner loops have no dependency between elements, so the
 * compiler vectorises them (tanhf through glibc's libmvec).
 *
 * Letters: R rows, M segments, D width, P rows per group (row r reads block r / P); element
 * (r, m, k) is i = (r M + m) D + k of the (R, M, D) output. */
#include <stdint.h>
#include <string.h>

#include "denormals.h"
#include "stable_math.h"

/* Whether element i is kept: the top 24 bits of splitmix64(seed + (i + 1) golden) >= threshold. */
static inline uint8_t kept(uint64_t seed, int64_t i, int64_t threshold)
{
    uint64_t z = seed + (uint64_t)(i + 1) * 0x9E3779B97F4A7C15ULL;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    z ^= z >> 31;
    return (int64_t)(z >> 40) >= threshold;
}

/* Dropout of tanh(rows (R, D) + cols (R / P, M, D)) in one pass, writing the mask for the
 * backward. */
void tanh_dropout_forward(int64_t R, int64_t M, int64_t D, int64_t P, uint64_t seed, int64_t threshold,
                          float scale, const float *rows, const float *cols, float *y, uint8_t *keep)
{
    const unsigned int fp_env = flush_denormals();
    for (int64_t r = 0; r < R; r++) {
        const float *restrict row = rows + r * D, *block = cols + (r / P) * M * D;
        for (int64_t m = 0; m < M; m++) {
            const float *restrict col = block + m * D;
            const int64_t base = (r * M + m) * D;
            float *restrict yb = y + base;
            uint8_t *restrict kb = keep + base;
            for (int64_t k = 0; k < D; k++) {
                const float tk = stable_tanh(row[k] + col[k]);
                const uint8_t kk = kept(seed, base + k, threshold);
                kb[k] = kk;
                yb[k] = kk ? tk * scale : 0.0f;
            }
        }
    }
    restore_denormals(fp_env);
}

/* Its gradient: with t = y / scale and g = grad * scale * (1 - t^2) where kept, 0 where dropped, d_rows[r] = the
 * sum of g over the segments and d_cols[block] = the sum of g over the block's rows. The sums run
 * in double (a block's may add thousands of terms): d_cols (R / P, M, D) is added to, d_rows
 * (R, D) written; acc (D) is scratch. */
void tanh_dropout_backward(int64_t R, int64_t M, int64_t D, int64_t P, float scale, const float *grad,
                           const float *y, const uint8_t *keep, float *d_rows, double *d_cols, double *acc)
{
    const unsigned int fp_env = flush_denormals();
    const float unscale = 1.0f / scale;
    for (int64_t r = 0; r < R; r++) {
        double *block = d_cols + (r / P) * M * D;
        memset(acc, 0, (size_t)D * sizeof(double));
        for (int64_t m = 0; m < M; m++) {
            const int64_t base = (r * M + m) * D;
            const float *restrict gb = grad + base, *restrict yb = y + base;
            const uint8_t *restrict kb = keep + base;
            double *restrict a = acc, *restrict col = block + m * D;
            for (int64_t k = 0; k < D; k++) {
                const float t = yb[k] * unscale;
                const float g = kb[k] ? gb[k] * scale * (1.0f - t * t) : 0.0f;
                a[k] += g;
                col[k] += g;
            }
        }
        for (int64_t k = 0; k < D; k++) d_rows[r * D + k] = (float)acc[k];
    }
    restore_denormals(fp_env);
}

/* tanh(rows + cols) alone: the activation outside training, with nothing kept for a backward. */
void tanh_inference(int64_t R, int64_t M, int64_t D, int64_t P, const float *rows, const float *cols, float *y)
{
    const unsigned int fp_env = flush_denormals();
    for (int64_t r = 0; r < R; r++) {
        const float *restrict row = rows + r * D, *block = cols + (r / P) * M * D;
        for (int64_t m = 0; m < M; m++) {
            const float *restrict col = block + m * D;
            float *restrict yb = y + (r * M + m) * D;
            for (int64_t k = 0; k < D; k++) yb[k] = stable_tanh(row[k] + col[k]);
        }
    }
    restore_denormals(fp_env);
}
