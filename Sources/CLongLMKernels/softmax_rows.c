// Softmax pieces on a row of scores: the maximum, and exp(x - shift) in place with the sum.
//
// exp(x) = 2^n * exp(r), n = round(x / ln 2), r = x - n ln 2 split Cody-Waite style into a high and a low part,
// exp(r) by its Taylor series to r^7/7! (|r| <= ln2/2, relative error below 2e-7). Inputs below -87.3 (masked
// -inf included) give exactly 0. Every operation is rounded separately (no fused multiply-add), so every
// variant returns the same bits.
#pragma clang fp contract(off)
#include "kernel_blocks.h"
#include "vector8.h"

typedef int32_t i32x8 __attribute__((ext_vector_type(8)));

/// mask ? a : b, lane by lane (mask lanes are all ones or all zeros).
INLINE f32x8 select8(i32x8 mask, f32x8 a, f32x8 b) {
    return (f32x8)((mask & (i32x8)a) | (~mask & (i32x8)b));
}

INLINE f32x8 exp8(f32x8 x) {
    const float log2e = 1.4426950408889634f;
    const float ln2_high = 0.693145751953125f, ln2_low = 1.428606765330187e-06f;
    // Adding 1.5 * 2^23 rounds to the nearest integer and leaves it in the low mantissa bits.
    const float magic = 12582912.0f;
    f32x8 clamped = select8(x > 88.7f, (f32x8)88.7f, x);
    clamped = select8(x < -87.3f, (f32x8)-87.3f, clamped);
    f32x8 shifted = clamped * log2e + magic;
    f32x8 n = shifted - magic;
    f32x8 r = clamped - n * ln2_high - n * ln2_low;
    f32x8 p = (f32x8)(1.0f / 5040);
    p = p * r + 1.0f / 720;
    p = p * r + 1.0f / 120;
    p = p * r + 1.0f / 24;
    p = p * r + 1.0f / 6;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    i32x8 integer = (i32x8)shifted - (i32x8)((f32x8)magic);
    f32x8 scale = (f32x8)((integer + 127) << 23);
    return select8(x < -87.3f, (f32x8)0.0f, p * scale);
}

INLINE float exp_shifted_body(float *row, int64_t n, float shift) {
    f32x8 sums = 0;
    int64_t c = 0;
    for (; c + 8 <= n; c += 8) {
        f32x8 e = exp8(load8(row + c) - shift);
        store8(row + c, e);
        sums += e;
    }
    float total = ((sums[0] + sums[1]) + (sums[2] + sums[3])) + ((sums[4] + sums[5]) + (sums[6] + sums[7]));
    if (c < n) {
        float tail[8];
        for (int l = 0; l < 8; l++) tail[l] = c + l < n ? row[c + l] - shift : -INFINITY;
        f32x8 e = exp8(load8(tail));
        for (int l = 0; c + l < n; l++) {
            row[c + l] = e[l];
            total += e[l];
        }
    }
    return total;
}

INLINE float maximum_body(const float *row, int64_t n) {
    f32x8 m = -INFINITY;
    int64_t c = 0;
    for (; c + 8 <= n; c += 8) {
        f32x8 v = load8(row + c);
        m = select8(v > m, v, m);
    }
    float result = -INFINITY;
    for (int l = 0; l < 8; l++) result = m[l] > result ? m[l] : result;
    for (; c < n; c++) result = row[c] > result ? row[c] : result;
    return result;
}

static float exp_shifted_portable(float *row, int64_t n, float shift) { return exp_shifted_body(row, n, shift); }
static float maximum_portable(const float *row, int64_t n) { return maximum_body(row, n); }

#if defined(__x86_64__)
__attribute__((target("avx2,fma"))) static float exp_shifted_avx2(float *row, int64_t n, float shift) {
    return exp_shifted_body(row, n, shift);
}
__attribute__((target("avx2,fma"))) static float maximum_avx2(const float *row, int64_t n) {
    return maximum_body(row, n);
}
#endif

float longlm_exp_shifted_in_place(longlm_kernel_variant variant, float *row, int64_t n, float shift) {
#if defined(__x86_64__)
    if (longlm_uses_avx2_code(variant)) return exp_shifted_avx2(row, n, shift);
#endif
    return exp_shifted_portable(row, n, shift);
}

float longlm_row_maximum(longlm_kernel_variant variant, const float *row, int64_t n) {
#if defined(__x86_64__)
    if (longlm_uses_avx2_code(variant)) return maximum_avx2(row, n);
#endif
    return maximum_portable(row, n);
}
