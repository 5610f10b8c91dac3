/* Subnormal floats flushed to zero for the duration of a kernel call, and the caller's setting
 * restored after.
 *
 * A float below 2^-126 is subnormal, and an x86 core computes with one through a microcode assist
 * that costs about a hundred cycles. Recurrences make them: a gradient carried back through
 * hundreds of solver steps, or a sigmoid far in its tail, decays through that range, and then a
 * vectorised loop runs several times slower (the LTC's backward on a classifier batch: 2.3x).
 * Setting the MXCSR's flush-to-zero and denormals-are-zero bits for the whole process would change
 * every other computation (the reason the kernels are not linked with -ffast-math, native.py);
 * set around one call, it changes only values below 2^-126 inside the kernel, to zero. Elsewhere
 * than x86 these are no-ops.
 */
#ifndef LIQUIDTS_DENORMALS_H
#define LIQUIDTS_DENORMALS_H

#if defined(__SSE2__)
#include <xmmintrin.h>

static inline unsigned int flush_denormals(void)
{
    const unsigned int saved = _mm_getcsr();
    _mm_setcsr(saved | 0x8040u); /* FTZ (bit 15) | DAZ (bit 6) */
    return saved;
}

static inline void restore_denormals(unsigned int saved) { _mm_setcsr(saved); }
#else
static inline unsigned int flush_denormals(void) { return 0u; }
static inline void restore_denormals(unsigned int saved) { (void)saved; }
#endif

#endif
