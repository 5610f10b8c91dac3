/* Exponentials and sigmoids for the C kernels, safe for every finite argument under -ffast-math.
 *
 * The kernels are compiled with -ffast-math, which lets the compiler assume that no value is ever
 * infinite or NaN. It then vectorises expf through glibc's libmvec and computes a/b as a reciprocal
 * estimate refined by one Newton step, r = e (2 - b e) with e ~ 1/b: for b = inf that is
 * 0 * (2 - inf * 0) = NaN. So 1 / (1 + expf(-x)) is NaN once expf overflows (x < -88.7), which a
 * long gap (t_a * dt) or a large input reaches easily. The functions below never produce an
 * infinity: exp is only taken of arguments <= 0 and is 0 below the float's normal range, and
 * every division has a denominator in [1, 2]. The PyTorch paths give the same values (to float
 * rounding) for every finite argument.
 */
#ifndef LIQUIDTS_STABLE_MATH_H
#define LIQUIDTS_STABLE_MATH_H

#include <math.h>

/* expf(x) for x <= 0 (or -inf, from a product that overflowed): 0 below -87, where expf(x) would
 * be a subnormal number or 0. */
static inline float exp_nonpositive(float x) { return x < -87.0f ? 0.0f : expf(x); }

/* 1 / (1 + exp(-x)) from exp(-|x|), which lies in [0, 1]. */
static inline float stable_sigmoid(float x)
{
    float e = exp_nonpositive(-fabsf(x));
    float s = 1.0f / (1.0f + e);
    return x >= 0.0f ? s : e * s;
}

/* tanhf is +-1 to float precision beyond |x| = 10; the clamp keeps infinities away from it. */
static inline float stable_tanh(float x) { return tanhf(fminf(fmaxf(x, -10.0f), 10.0f)); }

#endif
