// The attention's two products in BF16 tiles (the fast precision, on CPUs with AVX-512 BF16): queries, keys,
// probabilities and values rounded to bfloat16, products summed in f32 by `vdpbf16ps`, the online-softmax state
// kept in f32 by the caller. docs/kernels.md, "BF16 attention tiles".
//
// One `vdpbf16ps` multiplies 16 lanes of bfloat16 pairs and adds both products to 16 f32 sums. So the operands
// are laid out in pairs:
//
// - scores = Q K^T sums over the head dimension: a query row is d/2 pairs (dimensions 2p, 2p + 1), broadcast;
//   keys sit 16 to a block, transposed, lane k of step p holding key k's pair p (the key panel);
// - PV sums over the keys: a probability row is n/2 pairs (keys 2q, 2q + 1), broadcast; the values of keys 2q
//   and 2q + 1 are interleaved per dimension, lane i holding dimension i of both (the value panel).
//
// Rounding to bfloat16 is to nearest even, with subnormal inputs read as zero (what `vcvtne2ps2bf16` does).
// Each lane adds the pair's high product, then its low product, to its sum, each addition rounded to nearest
// even with subnormal inputs and results flushed to zero (the instruction's definition); the portable code does
// the same in that order and is the reference the AVX-512 code is tested against.
#pragma clang fp contract(off)
#include "kernel_blocks.h"
#if defined(__x86_64__)
#include <immintrin.h>
#endif

#define INLINE static inline __attribute__((always_inline))

// MARK: rounding and panels (plain C, shared by every variant)

/// bfloat16 of f: nearest even; subnormals to a zero of their sign; NaNs stay quiet NaNs.
INLINE uint16_t to_bfloat(float f) {
    uint32_t x = float_bits(f);
    if ((x & 0x7F800000u) == 0) return (uint16_t)((x >> 16) & 0x8000u);
    if ((x & 0x7FFFFFFFu) > 0x7F800000u) return (uint16_t)((x >> 16) | 0x40);
    return (uint16_t)((x + 0x7FFFu + ((x >> 16) & 1)) >> 16);
}

INLINE uint32_t pair_of(float low, float high) { return (uint32_t)to_bfloat(low) | ((uint32_t)to_bfloat(high) << 16); }


static void round_pairs_portable(const float *x, int64_t n, uint32_t *pairs) {
    int64_t i = 0;
    for (; i + 1 < n; i += 2) pairs[i / 2] = pair_of(x[i], x[i + 1]);
    if (i < n) pairs[i / 2] = pair_of(x[i], 0);
}

#if defined(__x86_64__)
__attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16")))
static void round_pairs_avx512(const float *x, int64_t n, uint32_t *pairs) {
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        __m512 low = _mm512_loadu_ps(x + i), high = _mm512_loadu_ps(x + i + 16);
        // Element e of the result is element e of the concatenation (low, high): the second operand first.
        __m512bh both = _mm512_cvtne2ps_pbh(high, low);
        _mm512_storeu_si512((void *)(pairs + i / 2), (__m512i)both);
    }
    round_pairs_portable(x + i, n - i, pairs + i / 2);
}
#endif

int longlm_bf16_round_pairs(longlm_bf16_variant variant, const float *x, int64_t n, uint32_t *pairs) {
#if defined(__x86_64__)
    if (variant == LONGLM_BF16_AVX512) {
        round_pairs_avx512(x, n, pairs);
        return 0;
    }
#endif
    if (variant != LONGLM_BF16_PORTABLE) return -1;
    round_pairs_portable(x, n, pairs);
    return 0;
}

size_t longlm_bf16_key_panel_words(int64_t n, int32_t d) { return (size_t)((n + 15) / 16) * 16 * (size_t)(d / 2); }

void longlm_bf16_key_panel(longlm_kv_type type, const void *keys, int64_t key_stride, int64_t n, int32_t d,
                           uint32_t *panel) {
    const int64_t pairs = d / 2, blocks = (n + 15) / 16;
    for (int64_t b = 0; b < blocks; b++) {
        uint32_t *block = panel + b * 16 * pairs;
        for (int k = 0; k < 16; k++) {
            const int64_t c = b * 16 + k;
            if (c >= n) {
                for (int64_t p = 0; p < pairs; p++) block[p * 16 + k] = 0;
                continue;
            }
            for (int64_t p = 0; p < pairs; p++) {
                float low = load_stored_value(type, keys, c * key_stride + 2 * p);
                float high = load_stored_value(type, keys, c * key_stride + 2 * p + 1);
                block[p * 16 + k] = pair_of(low, high);
            }
        }
    }
}

size_t longlm_bf16_value_panel_words(int64_t n, int32_t d) { return (size_t)((n + 1) / 2) * (size_t)d; }

void longlm_bf16_value_panel(longlm_kv_type type, const void *values, int64_t value_stride, int64_t n, int32_t d,
                             uint32_t *panel) {
    for (int64_t q = 0; q < (n + 1) / 2; q++) {
        const int64_t c = 2 * q;
        for (int32_t i = 0; i < d; i++) {
            float low = load_stored_value(type, values, c * value_stride + i);
            float high = c + 1 < n ? load_stored_value(type, values, (c + 1) * value_stride + i) : 0;
            panel[q * d + i] = pair_of(low, high);
        }
    }
}

// MARK: the products, portable (the reference)

/// A bfloat16 as f32, subnormals read as zero.
INLINE float bfloat_daz(uint16_t h) {
    if ((h & 0x7F80u) == 0) return bits_float((uint32_t)(h & 0x8000u) << 16);
    return bits_float((uint32_t)h << 16);
}

/// f with a subnormal result flushed to a zero of its sign.
INLINE float flush(float f) {
    uint32_t x = float_bits(f);
    return (x & 0x7F800000u) == 0 ? bits_float(x & 0x80000000u) : f;
}

/// One lane of `vdpbf16ps`: sum + high products, then + low products.
INLINE float pair_step(float sum, uint32_t a, uint32_t b) {
    float high = bfloat_daz((uint16_t)(a >> 16)) * bfloat_daz((uint16_t)(b >> 16));
    float low = bfloat_daz((uint16_t)a) * bfloat_daz((uint16_t)b);
    sum = flush(flush(sum) + high);
    return flush(sum + low);
}

static void scores_portable(const uint32_t *q, int rows, int32_t d, const uint32_t *panel, int64_t n, float *scores,
                            int64_t ldc) {
    const int64_t pairs = d / 2;
    for (int r = 0; r < rows; r++) {
        for (int64_t c = 0; c < n; c++) {
            const uint32_t *block = panel + (c / 16) * 16 * pairs;
            float sum = 0;
            for (int64_t p = 0; p < pairs; p++) sum = pair_step(sum, q[r * pairs + p], block[p * 16 + c % 16]);
            scores[r * ldc + c] = sum;
        }
    }
}

static void accumulate_portable(const uint32_t *p, int rows, int64_t n, int64_t p_stride, const uint32_t *panel,
                                int32_t d, float *acc) {
    for (int r = 0; r < rows; r++) {
        for (int32_t i = 0; i < d; i++) {
            float sum = acc[r * d + i];
            for (int64_t q = 0; q < (n + 1) / 2; q++) sum = pair_step(sum, p[r * p_stride + q], panel[q * d + i]);
            acc[r * d + i] = sum;
        }
    }
}

// MARK: the products, AVX-512 BF16 register tiles

#if defined(__x86_64__)
#define BF16_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16")))
enum { TILE_ROWS = 6, TILE_VECTORS = 4 };

/// Scores of `rows` query rows against `vectors` blocks of 16 keys (rows, vectors: compile-time constants where
/// this is inlined). The last block stores only its first `last_count` keys.
BF16_TARGET INLINE void scores_tile(const uint32_t *q, int64_t pairs, int rows, const uint32_t *blocks, int vectors,
                                    int last_count, float *out, int64_t ldc) {
    __m512 sum[TILE_ROWS][TILE_VECTORS];
    for (int r = 0; r < rows; r++)
        for (int v = 0; v < vectors; v++) sum[r][v] = _mm512_setzero_ps();
    const int64_t block_words = 16 * pairs;
    for (int64_t p = 0; p < pairs; p++) {
        __m512i k[TILE_VECTORS];
        for (int v = 0; v < vectors; v++) k[v] = _mm512_loadu_si512((const void *)(blocks + v * block_words + p * 16));
        for (int r = 0; r < rows; r++) {
            __m512i a = _mm512_set1_epi32((int)q[r * pairs + p]);
            for (int v = 0; v < vectors; v++) sum[r][v] = _mm512_dpbf16_ps(sum[r][v], (__m512bh)a, (__m512bh)k[v]);
        }
    }
    const __mmask16 last = (__mmask16)((1u << last_count) - 1);
    for (int r = 0; r < rows; r++) {
        for (int v = 0; v + 1 < vectors; v++) _mm512_storeu_ps(out + r * ldc + 16 * v, sum[r][v]);
        _mm512_mask_storeu_ps(out + r * ldc + 16 * (vectors - 1), last, sum[r][vectors - 1]);
    }
}

#define SCORES_TILE_CASE(R, V) \
    case (R) * 8 + (V): scores_tile(q, pairs, R, blocks, V, last_count, out, ldc); break;
#define SCORES_TILE_ROWS(R) SCORES_TILE_CASE(R, 1) SCORES_TILE_CASE(R, 2) SCORES_TILE_CASE(R, 3) SCORES_TILE_CASE(R, 4)

BF16_TARGET static void scores_tile_any(const uint32_t *q, int64_t pairs, int rows, const uint32_t *blocks,
                                        int vectors, int last_count, float *out, int64_t ldc) {
    switch (rows * 8 + vectors) {
        SCORES_TILE_ROWS(1) SCORES_TILE_ROWS(2) SCORES_TILE_ROWS(3) SCORES_TILE_ROWS(4) SCORES_TILE_ROWS(5)
        SCORES_TILE_ROWS(6)
    }
}

BF16_TARGET static void scores_avx512(const uint32_t *q, int rows, int32_t d, const uint32_t *panel, int64_t n,
                                      float *scores, int64_t ldc) {
    const int64_t pairs = d / 2, blocks = (n + 15) / 16;
    for (int64_t b = 0; b < blocks; b += TILE_VECTORS) {
        const int vectors = (int)(blocks - b < TILE_VECTORS ? blocks - b : TILE_VECTORS);
        const int64_t last_end = (b + vectors) * 16 < n ? (b + vectors) * 16 : n;
        const int last_count = (int)(last_end - (b + vectors - 1) * 16);
        for (int r = 0; r < rows; r += TILE_ROWS) {
            const int count = rows - r < TILE_ROWS ? rows - r : TILE_ROWS;
            scores_tile_any(q + r * pairs, pairs, count, panel + b * 16 * pairs, vectors, last_count,
                            scores + r * ldc + b * 16, ldc);
        }
    }
}

/// acc[rows, 16 vectors of dimensions] += P V over `key_pairs` pairs of keys (rows, vectors: constants where
/// inlined); `panel` starts at the tile's first dimension, `d` words per pair of keys.
BF16_TARGET INLINE void values_tile(const uint32_t *p, int64_t p_stride, int rows, int64_t key_pairs,
                                    const uint32_t *panel, int32_t d, int vectors, float *acc) {
    __m512 sum[TILE_ROWS][TILE_VECTORS];
    for (int r = 0; r < rows; r++)
        for (int v = 0; v < vectors; v++) sum[r][v] = _mm512_loadu_ps(acc + r * d + 16 * v);
    for (int64_t q = 0; q < key_pairs; q++) {
        __m512i value[TILE_VECTORS];
        for (int v = 0; v < vectors; v++) value[v] = _mm512_loadu_si512((const void *)(panel + q * d + 16 * v));
        for (int r = 0; r < rows; r++) {
            __m512i a = _mm512_set1_epi32((int)p[r * p_stride + q]);
            for (int v = 0; v < vectors; v++)
                sum[r][v] = _mm512_dpbf16_ps(sum[r][v], (__m512bh)a, (__m512bh)value[v]);
        }
    }
    for (int r = 0; r < rows; r++)
        for (int v = 0; v < vectors; v++) _mm512_storeu_ps(acc + r * d + 16 * v, sum[r][v]);
}

#define VALUES_TILE_CASE(R, V) \
    case (R) * 8 + (V): values_tile(p, p_stride, R, key_pairs, panel, d, V, acc); break;
#define VALUES_TILE_ROWS(R) VALUES_TILE_CASE(R, 1) VALUES_TILE_CASE(R, 2) VALUES_TILE_CASE(R, 3) VALUES_TILE_CASE(R, 4)

BF16_TARGET static void values_tile_any(const uint32_t *p, int64_t p_stride, int rows, int64_t key_pairs,
                                        const uint32_t *panel, int32_t d, int vectors, float *acc) {
    switch (rows * 8 + vectors) {
        VALUES_TILE_ROWS(1) VALUES_TILE_ROWS(2) VALUES_TILE_ROWS(3) VALUES_TILE_ROWS(4) VALUES_TILE_ROWS(5)
        VALUES_TILE_ROWS(6)
    }
}

BF16_TARGET static void accumulate_avx512(const uint32_t *p, int rows, int64_t n, int64_t p_stride,
                                          const uint32_t *panel, int32_t d, float *acc) {
    const int64_t key_pairs = (n + 1) / 2;
    const int dim_vectors = d / 16;
    for (int v = 0; v < dim_vectors; v += TILE_VECTORS) {
        const int vectors = dim_vectors - v < TILE_VECTORS ? dim_vectors - v : TILE_VECTORS;
        for (int r = 0; r < rows; r += TILE_ROWS) {
            const int count = rows - r < TILE_ROWS ? rows - r : TILE_ROWS;
            values_tile_any(p + r * p_stride, p_stride, count, key_pairs, panel + 16 * v, d, vectors,
                            acc + r * d + 16 * v);
        }
    }
}
#endif

int longlm_bf16_scores(longlm_bf16_variant variant, const uint32_t *q, int rows, int32_t d, const uint32_t *panel,
                       int64_t n, float *scores, int64_t ldc) {
    if (rows < 1 || d < 2 || d % 2 != 0 || n < 1) return -1;
#if defined(__x86_64__)
    if (variant == LONGLM_BF16_AVX512) {
        scores_avx512(q, rows, d, panel, n, scores, ldc);
        return 0;
    }
#endif
    if (variant != LONGLM_BF16_PORTABLE) return -1;
    scores_portable(q, rows, d, panel, n, scores, ldc);
    return 0;
}

int longlm_bf16_accumulate(longlm_bf16_variant variant, const uint32_t *p, int rows, int64_t n, int64_t p_stride,
                           const uint32_t *panel, int32_t d, float *acc) {
    if (rows < 1 || d < 16 || d % 16 != 0 || n < 1) return -1;
#if defined(__x86_64__)
    if (variant == LONGLM_BF16_AVX512) {
        accumulate_avx512(p, rows, n, p_stride, panel, d, acc);
        return 0;
    }
#endif
    if (variant != LONGLM_BF16_PORTABLE) return -1;
    accumulate_portable(p, rows, n, p_stride, panel, d, acc);
    return 0;
}

int longlm_bf16_compiled(longlm_bf16_variant variant) {
#if defined(__x86_64__)
    if (variant == LONGLM_BF16_AVX512) return 1;
#endif
    return variant == LONGLM_BF16_PORTABLE;
}

// MARK: the softmax step of a tile (probabilities as bfloat16 pairs)
//
// A tile's scores become probabilities exp(s - m') with m' the row's new running maximum, rounded to bfloat16
// pairs for the value product and, as rounded, summed in f32 (the softmax denominator), in one pass: the values'
// weights then add up to exactly the denominator (up to the f32 sums), so rounding moves the output within the
// values' span rather than scaling it.
// Their exp is this file's own: round-to-nearest n = x log2(e), r = x - n ln 2 (Cody-Waite, fused), exp(r) by
// its Taylor series to r^6 (|r| <= ln2/2: relative error below 1.3e-7), times 2^n; x below -87.3 (masked -inf
// included) gives 0. Products and sums are fused where `fmaf` is written and rounded separately elsewhere, so
// the portable code and the AVX-512 code give the same bits. Sums run in 16 lanes (key c in lane c mod 16),
// folded 8, 4, 2, 1 apart at the end; the row maximum is taken the same way.

#define EXP_LOG2E 1.44269502f
#define EXP_MAGIC 12582912.0f           // 1.5 * 2^23: adding it rounds to an integer in the low mantissa bits
#define EXP_LN2_HIGH 0.693145751953125f
#define EXP_LN2_LOW 1.42860677e-06f
#define EXP_FLOOR -87.3f

INLINE float tile_exp(float x) {
    if (!(x >= EXP_FLOOR)) return 0.0f;
    x = x < 0.0f ? x : 0.0f;            // s - m' <= 0; kept from overflowing whatever comes in
    float t = fmaf(x, EXP_LOG2E, EXP_MAGIC);
    float n = t - EXP_MAGIC;
    float r = fmaf(n, -EXP_LN2_HIGH, x);
    r = fmaf(n, -EXP_LN2_LOW, r);
    float p = fmaf(1.0f / 720, r, 1.0f / 120);
    p = fmaf(p, r, 1.0f / 24);
    p = fmaf(p, r, 1.0f / 6);
    p = fmaf(p, r, 0.5f);
    p = fmaf(p, r, 1.0f);
    p = fmaf(p, r, 1.0f);
    int32_t k = (int32_t)(float_bits(t) - float_bits(EXP_MAGIC));
    return p * bits_float((uint32_t)(k + 127) << 23);
}

INLINE float fold16(float lanes[16]) {
    for (int width = 8; width >= 1; width /= 2)
        for (int l = 0; l < width; l++) lanes[l] = lanes[l] + lanes[l + width];
    return lanes[0];
}

INLINE float max16(float lanes[16]) {
    for (int width = 8; width >= 1; width /= 2)
        for (int l = 0; l < width; l++) lanes[l] = lanes[l + width] > lanes[l] ? lanes[l + width] : lanes[l];
    return lanes[0];
}

/// The state update shared by the variants; returns alpha (1 when the row stays empty).
INLINE float update_state(float tile_max, float *m, float *l, float tile_sum, float *acc, int32_t d) {
    float old = *m;
    float next = tile_max > old ? tile_max : old;
    float alpha = old == -INFINITY ? 0.0f : expf(old - next);
    *l = *l * alpha + tile_sum;
    *m = next;
    if (alpha != 1.0f)
        for (int32_t c = 0; c < d; c++) acc[c] = acc[c] * alpha;
    return alpha;
}

static void softmax_row_portable(const float *s, int64_t n, float *m, float *l, uint32_t *pairs, float *acc,
                                 int32_t d) {
    float lanes[16];
    for (int k = 0; k < 16; k++) lanes[k] = -INFINITY;
    for (int64_t c = 0; c < n; c++) lanes[c % 16] = s[c] > lanes[c % 16] ? s[c] : lanes[c % 16];
    float tile_max = max16(lanes);
    float next = tile_max > *m ? tile_max : *m;
    if (next == -INFINITY) {  // nothing visible in this row yet: zeros, state kept
        for (int64_t q = 0; q < (n + 1) / 2; q++) pairs[q] = 0;
        return;
    }
    for (int k = 0; k < 16; k++) lanes[k] = 0.0f;
    float previous = 0.0f;
    for (int64_t c = 0; c < n; c++) {
        float e = tile_exp(s[c] - next);
        lanes[c % 16] = lanes[c % 16] + bits_float((uint32_t)to_bfloat(e) << 16);
        if (c % 2 == 1) pairs[c / 2] = pair_of(previous, e);
        previous = e;
    }
    if (n % 2 == 1) pairs[n / 2] = pair_of(previous, 0.0f);
    update_state(tile_max, m, l, fold16(lanes), acc, d);
}

#if defined(__x86_64__)
#define SOFTMAX_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512bf16,fma")))

SOFTMAX_TARGET INLINE __m512 tile_exp_x16(__m512 x) {
    __mmask16 visible = _mm512_cmp_ps_mask(x, _mm512_set1_ps(EXP_FLOOR), _CMP_GE_OQ);
    x = _mm512_min_ps(x, _mm512_setzero_ps());
    __m512 t = _mm512_fmadd_ps(x, _mm512_set1_ps(EXP_LOG2E), _mm512_set1_ps(EXP_MAGIC));
    __m512 n = _mm512_sub_ps(t, _mm512_set1_ps(EXP_MAGIC));
    __m512 r = _mm512_fmadd_ps(n, _mm512_set1_ps(-EXP_LN2_HIGH), x);
    r = _mm512_fmadd_ps(n, _mm512_set1_ps(-EXP_LN2_LOW), r);
    __m512 p = _mm512_fmadd_ps(_mm512_set1_ps(1.0f / 720), r, _mm512_set1_ps(1.0f / 120));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 24));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 6));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.5f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    __m512i k = _mm512_sub_epi32(_mm512_castps_si512(t), _mm512_castps_si512(_mm512_set1_ps(EXP_MAGIC)));
    __m512 scale = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_add_epi32(k, _mm512_set1_epi32(127)), 23));
    return _mm512_maskz_mul_ps(visible, p, scale);
}

SOFTMAX_TARGET static void softmax_row_avx512(const float *s, int64_t n, float *m, float *l, uint32_t *pairs,
                                              float *acc, int32_t d) {
    // `_mm512_max_ps(a, b)` is a > b ? a : b, lane by lane, as the portable loop; masked lanes load -inf.
    __m512 lane_max = _mm512_set1_ps(-INFINITY);
    for (int64_t c = 0; c < n; c += 16) {
        __mmask16 live = n - c >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (n - c)) - 1);
        __m512 x = _mm512_mask_loadu_ps(_mm512_set1_ps(-INFINITY), live, s + c);
        lane_max = _mm512_max_ps(x, lane_max);
    }
    float lanes[16];
    _mm512_storeu_ps(lanes, lane_max);
    float tile_max = max16(lanes);
    float next = tile_max > *m ? tile_max : *m;
    if (next == -INFINITY) {
        for (int64_t q = 0; q < (n + 1) / 2; q++) pairs[q] = 0;
        return;
    }
    const __m512 shift = _mm512_set1_ps(next);
    __m512 sums = _mm512_setzero_ps();
    for (int64_t c = 0; c < n; c += 32) {
        __mmask16 live_low = n - c >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (n - c)) - 1);
        __mmask16 live_high = n - c >= 32 ? (__mmask16)0xFFFF
                                          : (n - c <= 16 ? (__mmask16)0 : (__mmask16)((1u << (n - c - 16)) - 1));
        // Dead lanes read -inf, so their probability is 0: the padding of an odd last pair, and + 0 to the sums.
        __m512 low = tile_exp_x16(_mm512_sub_ps(_mm512_mask_loadu_ps(_mm512_set1_ps(-INFINITY), live_low, s + c), shift));
        __m512 high = tile_exp_x16(
            _mm512_sub_ps(_mm512_mask_loadu_ps(_mm512_set1_ps(-INFINITY), live_high, s + c + 16), shift));
        __m512bh both = _mm512_cvtne2ps_pbh(high, low);
        // The denominator sums the probabilities as rounded, so the weights the values get add up to it.
        sums = _mm512_add_ps(sums, _mm512_cvtpbh_ps((__m256bh)_mm512_castsi512_si256((__m512i)both)));
        sums = _mm512_add_ps(sums, _mm512_cvtpbh_ps((__m256bh)_mm512_extracti64x4_epi64((__m512i)both, 1)));
        int64_t words = n - c >= 32 ? 16 : (n - c + 1) / 2;
        __mmask16 store = words == 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << words) - 1);
        _mm512_mask_storeu_epi32((void *)(pairs + c / 2), store, (__m512i)both);
    }
    _mm512_storeu_ps(lanes, sums);
    update_state(tile_max, m, l, fold16(lanes), acc, d);
}
#endif

int longlm_bf16_softmax_pairs(longlm_bf16_variant variant, const float *scores, int rows, int64_t n,
                              float *maxima, float *sums, uint32_t *pairs, int64_t pair_stride, float *acc,
                              int32_t d) {
    if (rows < 0 || n < 1 || pair_stride < (n + 1) / 2 || d < 0) return -1;
#if defined(__x86_64__)
    if (variant == LONGLM_BF16_AVX512) {
        for (int r = 0; r < rows; r++)
            softmax_row_avx512(scores + r * n, n, maxima + r, sums + r, pairs + r * pair_stride, acc + (int64_t)r * d, d);
        return 0;
    }
#endif
    if (variant != LONGLM_BF16_PORTABLE) return -1;
    for (int r = 0; r < rows; r++)
        softmax_row_portable(scores + r * n, n, maxima + r, sums + r, pairs + r * pair_stride, acc + (int64_t)r * d, d);
    return 0;
}

// MARK: the peak probe

#if defined(__x86_64__)
BF16_TARGET static uint64_t bf16_probe(int64_t iterations) {
    __m512 acc[12];
    for (int k = 0; k < 12; k++) acc[k] = _mm512_set1_ps((float)k);
    const __m512bh a = (__m512bh)_mm512_set1_epi32(0x3F803F80), b = (__m512bh)_mm512_set1_epi32(0x3A803A80);
    for (int64_t i = 0; i < iterations; i++) {
        for (int k = 0; k < 12; k++) acc[k] = _mm512_dpbf16_ps(acc[k], a, b);
        __asm__ volatile("" : "+v"(acc[0]), "+v"(acc[1]), "+v"(acc[2]), "+v"(acc[3]), "+v"(acc[4]), "+v"(acc[5]));
    }
    __m512 total = acc[0];
    for (int k = 1; k < 12; k++) total = _mm512_add_ps(total, acc[k]);
    return (uint64_t)_mm512_reduce_add_ps(total);
}
#endif

int64_t longlm_bf16_peak_multiply_adds_per_iteration(void) { return 12 * 32; }

int longlm_bf16_peak_probe(longlm_bf16_variant variant, int64_t iterations, uint64_t *checksum) {
#if defined(__x86_64__)
    if (variant == LONGLM_BF16_AVX512) {
        *checksum = bf16_probe(iterations);
        return 0;
    }
#endif
    (void)iterations;
    *checksum = 0;
    return -1;
}
