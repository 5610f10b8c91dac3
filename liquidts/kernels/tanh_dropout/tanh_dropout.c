/* Dropout of tanh(x) with masks from splitmix64 on each element's index (reference.py draws the
 * same masks bit for bit): one pass forward that computes the tanh, hashes, thresholds, scales and
 * writes the mask, one pass backward. The loops have no dependency between elements, so the
 * compiler vectorises them (tanhf through glibc's libmvec). */
#include <stdint.h>

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

/* Dropout of tanh(x) in one pass, writing t = tanh(x) for the backward. */
void tanh_dropout_forward(int64_t n, uint64_t seed, int64_t threshold, float scale, const float *x, float *y,
                          float *t, uint8_t *keep)
{
    const unsigned int fp_env = flush_denormals();
    for (int64_t i = 0; i < n; i++) {
        const float ti = stable_tanh(x[i]);
        const uint8_t k = kept(seed, i, threshold);
        t[i] = ti;
        keep[i] = k;
        y[i] = k ? ti * scale : 0.0f;
    }
    restore_denormals(fp_env);
}

/* Its gradient: grad * scale * (1 - t^2) where kept, 0 where dropped. */
void tanh_dropout_backward(int64_t n, float scale, const float *grad, const float *t, const uint8_t *keep,
                           float *out)
{
    const unsigned int fp_env = flush_denormals();
    for (int64_t i = 0; i < n; i++)
        out[i] = keep[i] ? grad[i] * scale * (1.0f - t[i] * t[i]) : 0.0f;
    restore_denormals(fp_env);
}

/* tanh(x) alone: dropout(tanh(x)) outside training, with nothing kept for a backward. */
void tanh_inference(int64_t n, const float *x, float *y)
{
    const unsigned int fp_env = flush_denormals();
    for (int64_t i = 0; i < n; i++)
        y[i] = stable_tanh(x[i]);
    restore_denormals(fp_env);
}
