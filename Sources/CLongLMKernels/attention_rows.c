// Attention products for a few query rows (decode: the query heads that share one kv head), read straight from
// the keys and values where they lie. sgemm packs every tile before multiplying it, and for a handful of rows
// the packing costs more than the multiplication (docs/performance.md, "Decode at 8k, 32k and 128k").
//
// Every product and sum is rounded separately (no fused multiply-add), in the same lane order in every variant,
// so every variant returns the same bits. Each score is summed in 8 lanes over the head dimension, then the lanes
// in the fixed tree of sum8; each output value is summed over the keys in key order, starting from the
// accumulator's value.
//
// Both read keys or values stored as f32, f16 or bf16, converting each stored value to f32 once (exactly), so a
// product over stored rows has the bits of the same product over the decoded f32 rows.
//
// Scores take keys eight at a time: eight keys' lane sums are reduced together by a transposing tree that gives
// each key exactly sum8's order, so a key's score has the same bits in a block of eight and alone. Within a
// block, two keys meet up to four query rows at a time, so each stored key value is converted once for them.
// Values keep a few output columns of every row in registers across all the keys of the tile.
#pragma clang fp contract(off)
#include "kernel_blocks.h"
#include "vector8.h"
#if defined(__x86_64__)
#include <immintrin.h>
#endif

// MARK: loading stored rows

/// Eight stored values from `base` (element offset `at`) as f32; every conversion is exact.
typedef f32x8 (*load_values_fn)(const void *base, int64_t at);

INLINE f32x8 load_f32(const void *base, int64_t at) { return load8((const float *)base + at); }

INLINE f32x8 load_bf16(const void *base, int64_t at) {
    f32x8 out;
    const uint16_t *h = (const uint16_t *)base + at;
    for (int e = 0; e < 8; e++) {
        uint32_t bits = (uint32_t)h[e] << 16;
        float f;
        memcpy(&f, &bits, 4);
        out[e] = f;
    }
    return out;
}

INLINE f32x8 load_f16_portable(const void *base, int64_t at) {
    f32x8 out;
    const uint16_t *h = (const uint16_t *)base + at;
    for (int e = 0; e < 8; e++) out[e] = half_to_float(h[e]);
    return out;
}


/// Bytes of one stored value (f32, f16 or bf16).
INLINE int value_bytes(longlm_kv_type type) { return type == LONGLM_KV_F32 ? 4 : 2; }

/// Asks for the cache lines of `count` rows of `width` values (`stride` values apart, from element `first`) ahead
/// of their use. Rows of the KV cache lie in 4 KiB pages that the hardware prefetchers do not cross, and a tile
/// walks many of them; a prefetch changes no result.
INLINE void prefetch_rows(const void *base, longlm_kv_type type, int64_t first, int64_t count, int64_t stride, int width) {
    const int eb = value_bytes(type);
    for (int64_t e = 0; e < count; e++) {
        const char *row = (const char *)base + (first + e * stride) * eb;
        for (int offset = 0; offset < width * eb; offset += 64) __builtin_prefetch(row + offset, 0, 3);
    }
}

// MARK: scores

/// Scores prefetch the keys this many keys ahead.
enum { SCORES_PREFETCH_KEYS = 16 };

/// Lane c = sum8(v_c): pairwise sums of neighbouring lanes, twice, then the two halves.
INLINE f32x8 pair_sums(f32x8 a, f32x8 b) {
    return __builtin_shufflevector(a, b, 0, 2, 8, 10, 4, 6, 12, 14) + __builtin_shufflevector(a, b, 1, 3, 9, 11, 5, 7, 13, 15);
}

INLINE f32x8 sums_of_eight(f32x8 v0, f32x8 v1, f32x8 v2, f32x8 v3, f32x8 v4, f32x8 v5, f32x8 v6, f32x8 v7) {
    f32x8 low = pair_sums(pair_sums(v0, v1), pair_sums(v2, v3));    // lanes 0-3: keys 0-3 lanes 0-3; 4-7: their lanes 4-7
    f32x8 high = pair_sums(pair_sums(v4, v5), pair_sums(v6, v7));
    return __builtin_shufflevector(low, high, 0, 1, 2, 3, 8, 9, 10, 11) +
           __builtin_shufflevector(low, high, 4, 5, 6, 7, 12, 13, 14, 15);
}

/// acc[r][e] (r < R, e < 2) += the 8-lane products of query row r0 + r with keys e0 and e0 + 1 of the block at
/// element offset k, over the head dimension's whole 8-lane steps. Each key's stored values are converted once
/// for all R rows; each accumulator still sums the dimensions in the same order as one row against one key.
INLINE void scores_tile(const float *q, int r0, const int R, int d, int dv, const void *keys, int64_t key_stride,
                        int64_t k, int e0, f32x8 acc[LONGLM_FEW_ROWS_MAX][8], load_values_fn load) {
    f32x8 a[4][2];
    for (int r = 0; r < R; r++) a[r][0] = a[r][1] = 0;
    const int64_t k0 = k + e0 * key_stride, k1 = k0 + key_stride;
    for (int i = 0; i < dv; i += 8) {
        f32x8 y0 = load(keys, k0 + i), y1 = load(keys, k1 + i);
        for (int r = 0; r < R; r++) {
            f32x8 x = load8(q + (r0 + r) * d + i);
            a[r][0] += x * y0;
            a[r][1] += x * y1;
        }
    }
    for (int r = 0; r < R; r++) {
        acc[r0 + r][e0] = a[r][0];
        acc[r0 + r][e0 + 1] = a[r][1];
    }
}

INLINE void scores_body(const float *q, int rows, int d, longlm_kv_type type, const void *keys, int64_t key_stride,
                        int64_t n, float *scores, load_values_fn load) {
    const int dv = d & ~7;
    int64_t c = 0;
    // Blocks of eight keys, two keys by up to four rows at a time (eight accumulators: with the two keys and a
    // query they fit the sixteen vector registers of AVX2).
    f32x8 acc[LONGLM_FEW_ROWS_MAX][8];
    for (; c + 8 <= n; c += 8) {
        const int64_t k = c * key_stride;   // element offset of the block's first key
        const int64_t ahead = c + SCORES_PREFETCH_KEYS;
        if (ahead < n) prefetch_rows(keys, type, ahead * key_stride, (n - ahead < 8 ? n - ahead : 8), key_stride, d);
        for (int e0 = 0; e0 < 8; e0 += 2) {
            for (int r0 = 0; r0 < rows; r0 += 4) {
                switch (rows - r0 < 4 ? rows - r0 : 4) {
                case 1: scores_tile(q, r0, 1, d, dv, keys, key_stride, k, e0, acc, load); break;
                case 2: scores_tile(q, r0, 2, d, dv, keys, key_stride, k, e0, acc, load); break;
                case 3: scores_tile(q, r0, 3, d, dv, keys, key_stride, k, e0, acc, load); break;
                default: scores_tile(q, r0, 4, d, dv, keys, key_stride, k, e0, acc, load); break;
                }
            }
        }
        for (int r = 0; r < rows; r++) {
            const float *qr = q + r * d;
            f32x8 s = sums_of_eight(acc[r][0], acc[r][1], acc[r][2], acc[r][3], acc[r][4], acc[r][5], acc[r][6], acc[r][7]);
            for (int j = dv; j < d; j++) {
                for (int e = 0; e < 8; e++) s[e] += qr[j] * load_stored_value(type, keys, k + e * key_stride + j);
            }
            store8(scores + r * n + c, s);
        }
    }
    for (; c < n; c++) {
        const int64_t k = c * key_stride;
        for (int r = 0; r < rows; r++) {
            const float *qr = q + r * d;
            f32x8 acc = 0;
            for (int i = 0; i < dv; i += 8) acc += load8(qr + i) * load(keys, k + i);
            float s = sum8(acc);
            for (int j = dv; j < d; j++) s += qr[j] * load_stored_value(type, keys, k + j);
            scores[r * n + c] = s;
        }
    }
}

// MARK: values

/// acc[r][i0 ..< i0 + 8 * W] += p[r][c] * value c, over keys c0 ..< c1, with the 8 * W columns of all `rows`
/// rows held in registers (rows and W are constants after inlining).
INLINE void values_columns(const float *p, const int rows, int64_t n, const void *values, int64_t value_stride,
                           int i0, const int W, float *acc, const int d, load_values_fn load, int64_t c0, int64_t c1) {
    f32x8 a[LONGLM_FEW_ROWS_MAX][2];
    for (int r = 0; r < rows; r++)
        for (int w = 0; w < W; w++) a[r][w] = load8(acc + r * d + i0 + 8 * w);
    for (int64_t c = c0; c < c1; c++) {
        f32x8 v[2];
        for (int w = 0; w < W; w++) v[w] = load(values, c * value_stride + i0 + 8 * w);
        for (int r = 0; r < rows; r++) {
            f32x8 weight = p[r * n + c];
            for (int w = 0; w < W; w++) a[r][w] += weight * v[w];
        }
    }
    for (int r = 0; r < rows; r++)
        for (int w = 0; w < W; w++) store8(acc + r * d + i0 + 8 * w, a[r][w]);
}

INLINE void values_body(const float *p, const int rows, int64_t n, longlm_kv_type type, const void *values,
                        int64_t value_stride, int d, float *acc, load_values_fn load) {
    // Sixteen columns at a time while 2 * rows accumulators fit in the sixteen vector registers with the values.
    const int wide = rows <= 6 ? 2 : 1;
    // Keys in chunks of about 16 KiB of values, which stay in L1 while every column block passes over them; the
    // next chunk is prefetched meanwhile. Each output value is still summed over the keys in key order.
    int64_t chunk = 16384 / ((int64_t)d * value_bytes(type));
    chunk = chunk < 1 ? 1 : chunk > 64 ? 64 : chunk;
    for (int64_t c0 = 0; c0 < n; c0 += chunk) {
        const int64_t c1 = c0 + chunk < n ? c0 + chunk : n;
        if (c1 < n) prefetch_rows(values, type, c1 * value_stride, (n - c1 < chunk ? n - c1 : chunk), value_stride, d);
        int i0 = 0;
        if (wide == 2) {
            for (; i0 + 16 <= d; i0 += 16) values_columns(p, rows, n, values, value_stride, i0, 2, acc, d, load, c0, c1);
        }
        for (; i0 + 8 <= d; i0 += 8) values_columns(p, rows, n, values, value_stride, i0, 1, acc, d, load, c0, c1);
        for (int i = i0; i < d; i++) {
            for (int r = 0; r < rows; r++) {
                float a = acc[r * d + i];
                for (int64_t c = c0; c < c1; c++) a += p[r * n + c] * load_stored_value(type, values, c * value_stride + i);
                acc[r * d + i] = a;
            }
        }
    }
}

/// The body with the row count and the loader fixed, so the compiler keeps the accumulators in registers.
INLINE void values_dispatch(const float *p, int rows, int64_t n, longlm_kv_type type, const void *values,
                            int64_t value_stride, int d, float *acc, load_values_fn load) {
    switch (rows) {
    case 1: values_body(p, 1, n, type, values, value_stride, d, acc, load); break;
    case 2: values_body(p, 2, n, type, values, value_stride, d, acc, load); break;
    case 3: values_body(p, 3, n, type, values, value_stride, d, acc, load); break;
    case 4: values_body(p, 4, n, type, values, value_stride, d, acc, load); break;
    case 5: values_body(p, 5, n, type, values, value_stride, d, acc, load); break;
    case 6: values_body(p, 6, n, type, values, value_stride, d, acc, load); break;
    case 7: values_body(p, 7, n, type, values, value_stride, d, acc, load); break;
    default: values_body(p, 8, n, type, values, value_stride, d, acc, load); break;
    }
}

// Each variant switches on the storage type so that every call passes its body a constant loader: the body is
// then compiled once per type with the conversion inlined (a loader chosen at run time would be an indirect call
// per load in the inner loops).
static void scores_portable(const float *q, int rows, int d, longlm_kv_type type, const void *keys,
                            int64_t key_stride, int64_t n, float *scores) {
    switch (type) {
    case LONGLM_KV_F16: scores_body(q, rows, d, type, keys, key_stride, n, scores, load_f16_portable); break;
    case LONGLM_KV_BF16: scores_body(q, rows, d, type, keys, key_stride, n, scores, load_bf16); break;
    default: scores_body(q, rows, d, type, keys, key_stride, n, scores, load_f32); break;
    }
}

static void values_portable(const float *p, int rows, int64_t n, longlm_kv_type type, const void *values,
                            int64_t value_stride, int d, float *acc) {
    switch (type) {
    case LONGLM_KV_F16: values_dispatch(p, rows, n, type, values, value_stride, d, acc, load_f16_portable); break;
    case LONGLM_KV_BF16: values_dispatch(p, rows, n, type, values, value_stride, d, acc, load_bf16); break;
    default: values_dispatch(p, rows, n, type, values, value_stride, d, acc, load_f32); break;
    }
}

#if defined(__x86_64__)
#define AVX2 __attribute__((target("avx2,fma,f16c")))

/// F16C's conversion: exact, as half_to_float.
static inline AVX2 f32x8 load_f16_f16c(const void *base, int64_t at) {
    __m256 v = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)((const uint16_t *)base + at)));
    f32x8 out;
    memcpy(&out, &v, sizeof out);
    return out;
}

AVX2 static void scores_avx2(const float *q, int rows, int d, longlm_kv_type type, const void *keys,
                             int64_t key_stride, int64_t n, float *scores) {
    switch (type) {
    case LONGLM_KV_F16: scores_body(q, rows, d, type, keys, key_stride, n, scores, load_f16_f16c); break;
    case LONGLM_KV_BF16: scores_body(q, rows, d, type, keys, key_stride, n, scores, load_bf16); break;
    default: scores_body(q, rows, d, type, keys, key_stride, n, scores, load_f32); break;
    }
}

AVX2 static void values_avx2(const float *p, int rows, int64_t n, longlm_kv_type type, const void *values,
                             int64_t value_stride, int d, float *acc) {
    switch (type) {
    case LONGLM_KV_F16: values_dispatch(p, rows, n, type, values, value_stride, d, acc, load_f16_f16c); break;
    case LONGLM_KV_BF16: values_dispatch(p, rows, n, type, values, value_stride, d, acc, load_bf16); break;
    default: values_dispatch(p, rows, n, type, values, value_stride, d, acc, load_f32); break;
    }
}
#endif

/// Whether the products take these arguments: 1 ... LONGLM_FEW_ROWS_MAX rows, a variant compiled here, and rows
/// stored as f32, f16 or bf16.
static int takes(longlm_kernel_variant variant, int rows, longlm_kv_type type) {
    return rows >= 1 && rows <= LONGLM_FEW_ROWS_MAX && longlm_kernels_compiled(variant) &&
           (type == LONGLM_KV_F32 || type == LONGLM_KV_F16 || type == LONGLM_KV_BF16);
}

int longlm_few_row_scores_stored(longlm_kernel_variant variant, const float *q, int rows, int d, longlm_kv_type type,
                                 const void *keys, int64_t key_stride, int64_t n, float *scores) {
    if (!takes(variant, rows, type)) return -1;
#if defined(__x86_64__)
    if (longlm_uses_avx2_code(variant)) { scores_avx2(q, rows, d, type, keys, key_stride, n, scores); return 0; }
#endif
    scores_portable(q, rows, d, type, keys, key_stride, n, scores);
    return 0;
}

int longlm_few_row_scores(longlm_kernel_variant variant, const float *q, int rows, int d, const float *keys,
                          int64_t key_stride, int64_t n, float *scores) {
    return longlm_few_row_scores_stored(variant, q, rows, d, LONGLM_KV_F32, keys, key_stride, n, scores);
}

int longlm_few_row_values_stored(longlm_kernel_variant variant, const float *p, int rows, int64_t n,
                                 longlm_kv_type type, const void *values, int64_t value_stride, int d, float *acc) {
    if (!takes(variant, rows, type)) return -1;
#if defined(__x86_64__)
    if (longlm_uses_avx2_code(variant)) { values_avx2(p, rows, n, type, values, value_stride, d, acc); return 0; }
#endif
    values_portable(p, rows, n, type, values, value_stride, d, acc);
    return 0;
}

int longlm_few_row_values(longlm_kernel_variant variant, const float *p, int rows, int64_t n, const float *values,
                          int64_t value_stride, int d, float *acc) {
    return longlm_few_row_values_stored(variant, p, rows, n, LONGLM_KV_F32, values, value_stride, d, acc);
}
