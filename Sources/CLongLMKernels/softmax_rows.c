// Softmax pieces on a row of scores: the maximum, and exp(x - shift) in place with the sum.
//
// exp8 (vector_exp8.h): a polynomial exp with relative error below 2e-7; inputs below -87.3 (masked -inf
// included) give exactly 0. Every operation is rounded separately (no fused multiply-add), so every variant
// returns the same bits.
#pragma clang fp contract(off)
#include "kernel_blocks.h"
#include "vector_exp8.h"

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
