#pragma once

// Byte-vector operations the quantized kernels (LongLMCore/Quant) need and Swift's SIMD types cannot spell as
// one instruction: Swift's generic SIMD conversions are out-of-line calls, and a lane-by-lane loop relies on
// LLVM re-vectorizing it, which it does for some kernels and not others (Q3_K ran at half speed). Clang's vector
// extensions say it directly. Static inline, so they are compiled with the importing module's target flags
// (-march=native) and inlined into the Swift kernels.

#if defined(__SSSE3__)
#include <tmmintrin.h>
#elif defined(__aarch64__) && defined(__ARM_NEON)
#include <arm_neon.h>
#endif

typedef signed char longlm_i8x16 __attribute__((ext_vector_type(16)));
typedef unsigned char longlm_u8x16 __attribute__((ext_vector_type(16)));
typedef float longlm_f32x16 __attribute__((ext_vector_type(16)));

/// Unsigned bytes to floats (exact).
static inline __attribute__((always_inline)) longlm_f32x16 longlm_u8_to_f32(longlm_u8x16 q) {
    return __builtin_convertvector(q, longlm_f32x16);
}

/// Signed bytes to floats (exact).
static inline __attribute__((always_inline)) longlm_f32x16 longlm_i8_to_f32(longlm_i8x16 q) {
    return __builtin_convertvector(q, longlm_f32x16);
}

/// table[indices[i]] for 16 indices below 16: one byte shuffle where the target has one (x86-64 SSSE3
/// `pshufb`, arm64 `tbl`). A Swift lane-by-lane lookup compiles to 16 scalar loads, which made the IQ4 kernels
/// 5x slower than Q4_0's.
static inline __attribute__((always_inline)) longlm_i8x16 longlm_lookup16(longlm_i8x16 table,
                                                                         longlm_u8x16 indices) {
#if defined(__SSSE3__)
    return (longlm_i8x16)_mm_shuffle_epi8((__m128i)table, (__m128i)indices);
#elif defined(__aarch64__) && defined(__ARM_NEON)
    return (longlm_i8x16)vqtbl1q_s8((int8x16_t)table, (uint8x16_t)indices);
#else
    longlm_i8x16 out;
    for (int i = 0; i < 16; i++) out[i] = table[indices[i] & 15];
    return out;
#endif
}
