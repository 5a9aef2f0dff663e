#pragma once
// Shared by the kernel variants: reading the file's block fields. Weight block layouts are ggml's (GGUF);
// every offset below is written out in docs/kernels.md next to the formula it feeds.
#include <stdint.h>
#include <math.h>
#include <string.h>
#include "longlm_kernels.h"

// ggml type ids (the GGUF tensor type field)
enum {
    TYPE_F32 = 0, TYPE_F16 = 1, TYPE_BF16 = 30,
    TYPE_Q4_0 = 2, TYPE_Q4_1 = 3, TYPE_Q5_0 = 6, TYPE_Q5_1 = 7, TYPE_Q8_0 = 8,
    TYPE_Q2_K = 10, TYPE_Q3_K = 11, TYPE_Q4_K = 12, TYPE_Q5_K = 13, TYPE_Q6_K = 14,
    TYPE_IQ4_NL = 20, TYPE_IQ4_XS = 23,
};

/// The bits of an f32, and the f32 of some bits.
static inline uint32_t float_bits(float f) {
    uint32_t x;
    memcpy(&x, &f, 4);
    return x;
}

static inline float bits_float(uint32_t x) {
    float f;
    memcpy(&f, &x, 4);
    return f;
}

/// IEEE binary16 to binary32, exactly (subnormals, infinities and NaNs included).
static inline float half_to_float(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exponent = (h >> 10) & 0x1F;
    uint32_t mantissa = h & 0x3FF;
    uint32_t bits;
    if (exponent == 0x1F) {
        bits = sign | 0x7F800000u | (mantissa << 13);
    } else if (exponent != 0) {
        bits = sign | ((exponent + 112) << 23) | (mantissa << 13);
    } else if (mantissa == 0) {
        bits = sign;
    } else {
        // subnormal: value = mantissa * 2^-24, exact in f32
        float value = (float)mantissa * (1.0f / 16777216.0f);
        memcpy(&bits, &value, 4);
        bits |= sign;
    }
    float out;
    memcpy(&out, &bits, 4);
    return out;
}

/// binary32 to binary16, rounded to nearest even (overflow to infinity, NaNs kept quiet).
static inline uint16_t float_to_half(float f) {
    uint32_t x;
    memcpy(&x, &f, 4);
    uint32_t sign = (x >> 16) & 0x8000;
    uint32_t magnitude = x & 0x7FFFFFFFu;
    if (magnitude > 0x7F800000u) return (uint16_t)(sign | 0x7E00 | ((magnitude >> 13) & 0x3FF));   // NaN, kept quiet
    if (magnitude >= 0x477FF000u) return (uint16_t)(sign | 0x7C00);   // 65520 and above round to infinity
    if (magnitude < 0x38800000u) {
        // Below 2^-14: a binary16 subnormal (or zero) in units of 2^-24. Adding 0.5 (whose ulp is 2^-24)
        // rounds to nearest even and leaves the units in the low mantissa bits.
        float v;
        memcpy(&v, &magnitude, 4);
        float shifted = v + 0.5f;
        uint32_t bits;
        memcpy(&bits, &shifted, 4);
        return (uint16_t)(sign | (bits - 0x3F000000u));
    }
    // Normal: rebias the exponent (127 -> 15) and round the 13 dropped mantissa bits to nearest even.
    uint32_t odd = (magnitude >> 13) & 1;
    return (uint16_t)(sign | ((magnitude - 0x38000000u + 0xFFFu + odd) >> 13));
}

/// `f` rounded to the nearest binary16 value, as a float.
static inline float round_to_half(float f) { return half_to_float(float_to_half(f)); }

/// Element `at` of a KV row stored as f32, f16 or bf16, as f32 (every conversion exact).
static inline float load_stored_value(longlm_kv_type type, const void *base, int64_t at) {
    const uint16_t *h = (const uint16_t *)base + at;
    switch (type) {
    case LONGLM_KV_F16: return half_to_float(*h);
    case LONGLM_KV_BF16: {
        uint32_t bits = (uint32_t)*h << 16;
        float f;
        memcpy(&f, &bits, 4);
        return f;
    }
    default: return ((const float *)base)[at];
    }
}

static inline float load_half(const uint8_t *p) {
    uint16_t h;
    memcpy(&h, p, 2);
    return half_to_float(h);
}

static inline uint32_t load_u32(const uint8_t *p) {
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

/// The 16 IQ4 levels (ggml's kvalues_iq4nl).
static const int8_t iq4_levels[16] = {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};

/// Q4_K / Q5_K: 6-bit scale and min of sub-block j (0..7) from the 12 packed bytes.
static inline void k4_scale_min(const uint8_t *scales, int j, int *scale, int *min) {
    if (j < 4) {
        *scale = scales[j] & 63;
        *min = scales[j + 4] & 63;
    } else {
        *scale = (scales[j + 4] & 0x0F) | ((scales[j - 4] >> 6) << 4);
        *min = (scales[j + 4] >> 4) | ((scales[j] >> 6) << 4);
    }
}

/// Q4_K / Q5_K: the scales and mins of all 8 sub-blocks.
static inline void k4_scales_mins(const uint8_t *packed, int scales[8], int mins[8]) {
    for (int j = 0; j < 8; j++) k4_scale_min(packed, j, &scales[j], &mins[j]);
}

/// Q4_K / Q5_K: Σ_j mins[j] times the sum of sub-block j's activation integers (two 16-value sums each).
static inline int32_t k4_min_sum(const int mins[8], const int16_t bsums[16]) {
    int32_t sum = 0;
    for (int j = 0; j < 8; j++) sum += mins[j] * (bsums[2 * j] + bsums[2 * j + 1]);
    return sum;
}

/// Q3_K: signed 6-bit scale of sub-block s (0..15) from the 12 packed bytes.
static inline int k3_scale(const uint8_t *scales, int s) {
    int low = s < 8 ? (scales[s] & 0x0F) : (scales[s - 8] >> 4);
    int high = (scales[8 + s % 4] >> (2 * (s / 4))) & 3;
    return (low | (high << 4)) - 32;
}

/// IQ4_XS: signed scale of sub-block s (0..7): 4 low bits from scales_l, 2 high bits from scales_h, minus 32.
static inline int iq4xs_scale(const uint8_t *block, int s) {
    uint16_t high_bits;
    memcpy(&high_bits, block + 2, 2);
    int low = (block[4 + s / 2] >> (4 * (s % 2))) & 0x0F;
    int high = (high_bits >> (2 * s)) & 3;
    return (low | (high << 4)) - 32;
}

/// Rounds x[0 ..< n] to q[i] = round(x[i] * m), m = 127 / max |x| (0 for an all-zero block), clamped to
/// -127 ... 127 (NaN to -127); returns m, with max |x| and the sum of q (int8_dot_rows.c). 8 values at a time on
/// AVX2 and AVX-512 nodes when n is a multiple of 8; every variant gives the same q.
float longlm_round_block_with(longlm_kernel_variant variant, const float *x, int n, int8_t *q, float *amax,
                              int32_t *sum);

// Each variant: one block row's dot product with the activation blocks.
typedef float (*row_dot_32)(const uint8_t *row, const longlm_q8_32 *a, int64_t blocks);
typedef float (*row_dot_256)(const uint8_t *row, const longlm_q8_256 *a, int64_t blocks);

row_dot_32 longlm_portable_dot_32(int ggml_type);
row_dot_256 longlm_portable_dot_256(int ggml_type);
row_dot_32 longlm_avx2_dot_32(int ggml_type);
row_dot_256 longlm_avx2_dot_256(int ggml_type);
row_dot_32 longlm_avx512vnni_dot_32(int ggml_type);
row_dot_256 longlm_avx512vnni_dot_256(int ggml_type);

/// Whether a variant runs the AVX2 code for the kernels it has no code of its own for (exact products, KV rows,
/// softmax rows, few-row attention): AVX2 itself and the AVX-512 variant, whose CPUs all have AVX2.
static inline int longlm_uses_avx2_code(longlm_kernel_variant variant) {
    return variant == LONGLM_KERNELS_AVX2 || variant == LONGLM_KERNELS_AVX512VNNI;
}
