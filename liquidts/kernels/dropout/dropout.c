/* Dropout masks from splitmix64 on each element's index (see reference.py, whose masks these
 * are bit for bit): one pass that hashes, thresholds, scales and writes the mask. The loop has no
 * dependency between elements, so the compiler vectorises it. */
#include <stdint.h>

void dropout_forward(int64_t n, uint64_t seed, int64_t threshold, float scale, const float *x, float *y,
                     uint8_t *keep)
{
    for (int64_t i = 0; i < n; i++) {
        uint64_t z = seed + (uint64_t)(i + 1) * 0x9E3779B97F4A7C15ULL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
        z ^= z >> 31;
        const uint8_t k = (int64_t)(z >> 40) >= threshold;
        keep[i] = k;
        y[i] = k ? x[i] * scale : 0.0f;
    }
}

/* The gradient: grad * scale where the element was kept, 0 where it was dropped. */
void dropout_backward(int64_t n, float scale, const float *grad, const uint8_t *keep, float *out)
{
    for (int64_t i = 0; i < n; i++)
        out[i] = keep[i] ? grad[i] * scale : 0.0f;
}
