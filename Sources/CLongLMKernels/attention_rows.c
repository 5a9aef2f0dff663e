// Attention products for a few query rows (decode: the query heads that share one kv head), read straight from
// the keys and values where they lie. sgemm packs every tile before multiplying it, and for a handful of rows
// the packing costs more than the multiplication (docs/performance.md, "Decode at 8k, 32k and 128k").
//
// Every product and sum is rounded separately (no fused multiply-add), in the same lane order in every variant,
// so every variant returns the same bits. Each score is summed in 8 lanes over the head dimension, then the lanes
// in a fixed tree; each output value is summed over the keys in key order.
#pragma clang fp contract(off)
#include "kernel_blocks.h"
#include "vector8.h"

INLINE void scores_body(const float *q, int rows, int d, const float *keys, int64_t key_stride, int64_t n,
                        float *scores) {
    for (int64_t c = 0; c < n; c++) {
        const float *k = keys + c * key_stride;
        f32x8 acc[LONGLM_FEW_ROWS_MAX];
        for (int r = 0; r < rows; r++) acc[r] = 0;
        int i = 0;
        for (; i + 8 <= d; i += 8) {
            f32x8 kv = load8(k + i);
            for (int r = 0; r < rows; r++) acc[r] += load8(q + r * d + i) * kv;
        }
        for (int r = 0; r < rows; r++) {
            f32x8 a = acc[r];
            float s = sum8(a);
            for (int j = i; j < d; j++) s += q[r * d + j] * k[j];
            scores[r * n + c] = s;
        }
    }
}

INLINE void values_body(const float *p, int rows, int64_t n, const float *values, int64_t value_stride, int d,
                        float *acc) {
    for (int64_t c = 0; c < n; c++) {
        const float *v = values + c * value_stride;
        for (int r = 0; r < rows; r++) {
            float w = p[r * n + c];
            float *a = acc + r * d;
            int i = 0;
            for (; i + 8 <= d; i += 8) store8(a + i, load8(a + i) + (f32x8)w * load8(v + i));
            for (; i < d; i++) a[i] += w * v[i];
        }
    }
}

static void scores_portable(const float *q, int rows, int d, const float *keys, int64_t key_stride, int64_t n,
                            float *scores) {
    scores_body(q, rows, d, keys, key_stride, n, scores);
}

static void values_portable(const float *p, int rows, int64_t n, const float *values, int64_t value_stride, int d,
                            float *acc) {
    values_body(p, rows, n, values, value_stride, d, acc);
}

#if defined(__x86_64__)
__attribute__((target("avx2,fma"))) static void scores_avx2(const float *q, int rows, int d, const float *keys,
                                                             int64_t key_stride, int64_t n, float *scores) {
    scores_body(q, rows, d, keys, key_stride, n, scores);
}

__attribute__((target("avx2,fma"))) static void values_avx2(const float *p, int rows, int64_t n, const float *values,
                                                             int64_t value_stride, int d, float *acc) {
    values_body(p, rows, n, values, value_stride, d, acc);
}
#endif

int longlm_few_row_scores(longlm_kernel_variant variant, const float *q, int rows, int d, const float *keys,
                          int64_t key_stride, int64_t n, float *scores) {
    if (rows < 1 || rows > LONGLM_FEW_ROWS_MAX || !longlm_kernels_compiled(variant)) return -1;
#if defined(__x86_64__)
    if (variant == LONGLM_KERNELS_AVX2) { scores_avx2(q, rows, d, keys, key_stride, n, scores); return 0; }
#endif
    scores_portable(q, rows, d, keys, key_stride, n, scores);
    return 0;
}

int longlm_few_row_values(longlm_kernel_variant variant, const float *p, int rows, int64_t n, const float *values,
                          int64_t value_stride, int d, float *acc) {
    if (rows < 1 || rows > LONGLM_FEW_ROWS_MAX || !longlm_kernels_compiled(variant)) return -1;
#if defined(__x86_64__)
    if (variant == LONGLM_KERNELS_AVX2) { values_avx2(p, rows, n, values, value_stride, d, acc); return 0; }
#endif
    values_portable(p, rows, n, values, value_stride, d, acc);
    return 0;
}
