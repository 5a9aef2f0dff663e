// GALI's logit noise: eps * std added to the logits of keys at fractional positions, eps a standard normal draw
// keyed by (seed, layer, head, N, i, j) so that any split of rows and keys, on any rank, draws the same numbers.
// docs/gali.md, "The noise generator".
//
// A draw: the row key (seed, layer, head, N, i chained through the SplitMix64 finaliser) xor j, finalised twice;
// the top 24 bits of that word give u1 in (0, 1], the low 24 bits an angle of k / 2^24 turns; eps = sqrt(-2 ln u1)
// * cos(angle) (Box-Muller), in f32 with the logarithm and cosine written out below as polynomials, so that every
// variant computes the same bits: the portable code is the reference, the AVX-512 code is tested against it.
#pragma clang fp contract(off)
#include "kernel_blocks.h"
#if defined(__x86_64__)
#include <immintrin.h>
#endif

#define INLINE static inline __attribute__((always_inline))

// MARK: the draw, in plain C

/// SplitMix64's output function (Steele, Lea, Flood 2014), with its golden-ratio increment.
INLINE uint64_t mix64(uint64_t x) {
    uint64_t z = x + 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

uint64_t longlm_gali_noise_row_key(uint64_t seed, int64_t layer, int64_t head, int64_t context_length, int64_t query) {
    uint64_t h = mix64(seed);
    h = mix64(h ^ (uint64_t)layer);
    h = mix64(h ^ (uint64_t)head);
    h = mix64(h ^ (uint64_t)context_length);
    return mix64(h ^ (uint64_t)query);
}

INLINE uint64_t draw_word(uint64_t row_key, int64_t key) { return mix64(mix64(row_key ^ (uint64_t)key)); }

// ln m for m in [sqrt(1/2), sqrt(2)]: 2 atanh(s) with s = (m - 1) / (m + 1), |s| <= 0.1716, as
// 2 s (1 + s^2/3 + s^4/5 + s^6/7 + s^8/9); the first term left out, s^10 / 11, is below 2^-28 of the sum.
#define LOG_C9 0.11111111f
#define LOG_C7 0.14285715f
#define LOG_C5 0.2f
#define LOG_C3 0.33333334f
#define LN2 0.69314718f
#define SQRT2 1.41421354f

/// -2 ln u for u in (0, 1] (normal floats only: u >= 2^-24 here).
INLINE float minus_two_log(float u) {
    uint32_t x = float_bits(u);
    int32_t e = (int32_t)(x >> 23) - 127;
    float m = bits_float((x & 0x007FFFFFu) | 0x3F800000u);  // [1, 2)
    if (m > SQRT2) {
        m = m * 0.5f;
        e = e + 1;
    }
    float f = m - 1.0f;
    float s = f / (f + 2.0f);
    float s2 = s * s;
    float series = fmaf(fmaf(fmaf(fmaf(s2, LOG_C9, LOG_C7), s2, LOG_C5), s2, LOG_C3), s2, 1.0f);
    float log_m = (s + s) * series;
    return -2.0f * fmaf((float)e, LN2, log_m);
}

// cos and sin on [-pi/4, pi/4] by their Taylor series to x^8 and x^9 (remainders below 3e-8 and 1e-9).
#define COS_C8 2.4801587e-05f
#define COS_C6 -1.3888889e-03f
#define COS_C4 4.1666668e-02f
#define COS_C2 -0.5f
#define SIN_C9 2.7557319e-06f
#define SIN_C7 -1.9841270e-04f
#define SIN_C5 8.3333333e-03f
#define SIN_C3 -0.16666667f
#define TURN24 3.7450702e-07f  // 2 pi / 2^24

/// cos(2 pi k / 2^24) for k in [0, 2^24): the nearest quarter turn q taken off in integers (exact), the rest
/// x in [-pi/4, pi/4) through the cos or sin series as q requires.
INLINE float cos_turn24(uint32_t k) {
    uint32_t q = (k + (1u << 21)) >> 22;                    // 0 ... 4
    int32_t r = (int32_t)k - (int32_t)(q << 22);            // [-2^21, 2^21)
    float x = (float)r * TURN24;
    float x2 = x * x;
    float c = fmaf(fmaf(fmaf(fmaf(x2, COS_C8, COS_C6), x2, COS_C4), x2, COS_C2), x2, 1.0f);
    float s = x * fmaf(fmaf(fmaf(fmaf(x2, SIN_C9, SIN_C7), x2, SIN_C5), x2, SIN_C3), x2, 1.0f);
    switch (q & 3) {
    case 0: return c;
    case 1: return -s;
    case 2: return -c;
    default: return s;
    }
}

/// eps from the 64-bit draw word: u1 = (top 24 bits + 1) / 2^24 in (0, 1], angle = low 24 bits / 2^24 turns.
INLINE float box_muller(uint64_t word) {
    float u1 = (float)((uint32_t)(word >> 40) + 1u) * 0x1p-24f;
    return sqrtf(minus_two_log(u1)) * cos_turn24((uint32_t)word & 0xFFFFFFu);
}

float longlm_gali_standard_normal(uint64_t row_key, int64_t key) { return box_muller(draw_word(row_key, key)); }

float longlm_gali_box_muller(uint32_t radius_bits, uint32_t angle_bits) {
    return box_muller(((uint64_t)(radius_bits & 0xFFFFFFu) << 40) | (angle_bits & 0xFFFFFFu));
}

/// Whether logit (i, j) gets noise: causal, and (fractional_only) j in the prefix at a fractional position.
INLINE int gets_noise(int64_t i, int64_t j, int64_t prefix_length, int64_t group_size, int fractional_only) {
    if (j > i) return 0;
    return !fractional_only || (j < prefix_length && j % group_size != 0);
}

/// The noise of logit (i, j): eps * std with std = (i - j) * std_per_distance + std_constant in f32.
INLINE float noise_of(uint64_t row_key, int64_t i, int64_t j, float std_per_distance, float std_constant) {
    float std = (float)(i - j) * std_per_distance + std_constant;
    return longlm_gali_standard_normal(row_key, j) * std;
}

#define ADD_NOISE_PORTABLE_BODY                                                                                      \
    for (int64_t c = 0; c < n; c++) {                                                                                \
        int64_t j = key_positions[c];                                                                                \
        if (gets_noise(query, j, prefix_length, group_size, fractional_only))                                        \
            row[c] = row[c] + noise_of(row_key, query, j, std_per_distance, std_constant);                           \
    }

static void add_noise_portable(float *row, const int32_t *key_positions, int64_t n, uint64_t row_key, int64_t query,
                               int64_t prefix_length, int64_t group_size, int fractional_only, float std_per_distance,
                               float std_constant) {
    ADD_NOISE_PORTABLE_BODY
}

#if defined(__x86_64__)
// The same C with FMA instructions for the `fmaf` calls (the AVX2 nodes); the bits are the portable code's.
__attribute__((target("avx2,fma")))
static void add_noise_avx2(float *row, const int32_t *key_positions, int64_t n, uint64_t row_key, int64_t query,
                           int64_t prefix_length, int64_t group_size, int fractional_only, float std_per_distance,
                           float std_constant) {
    ADD_NOISE_PORTABLE_BODY
}

#define AVX512 __attribute__((target("avx512f,avx512dq,avx512bw,avx512vl,fma")))

AVX512 static inline __m512i mix64_x8(__m512i x) {
    __m512i z = _mm512_add_epi64(x, _mm512_set1_epi64((long long)0x9E3779B97F4A7C15ull));
    z = _mm512_mullo_epi64(_mm512_xor_si512(z, _mm512_srli_epi64(z, 30)), _mm512_set1_epi64((long long)0xBF58476D1CE4E5B9ull));
    z = _mm512_mullo_epi64(_mm512_xor_si512(z, _mm512_srli_epi64(z, 27)), _mm512_set1_epi64((long long)0x94D049BB133111EBull));
    return _mm512_xor_si512(z, _mm512_srli_epi64(z, 31));
}

/// Eight keys' draw words split into radius bits (top 24) and angle bits (low 24), as 32-bit lanes, and their
/// noise mask.
AVX512 static inline void words_x8(__m256i keys, __m512i row_key, __m256i *radius, __m256i *angle) {
    __m512i word = mix64_x8(mix64_x8(_mm512_xor_si512(row_key, _mm512_cvtepi32_epi64(keys))));
    *radius = _mm512_cvtepi64_epi32(_mm512_srli_epi64(word, 40));
    *angle = _mm512_cvtepi64_epi32(_mm512_and_si512(word, _mm512_set1_epi64(0xFFFFFF)));
}

/// Lanes whose key is at a fractional prefix position: j < P and j mod g != 0 (j / g in double is exact enough
/// for its floor for any 32-bit j: 1/g stays far above the spacing of doubles near j / g).
AVX512 static inline __mmask8 fractional_x8(__m256i keys, __m256i prefix, __m512d group) {
    __m512d jd = _mm512_cvtepi32_pd(keys);
    __m512d quotient = _mm512_roundscale_pd(_mm512_div_pd(jd, group), _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
    __m512d rest = _mm512_sub_pd(jd, _mm512_mul_pd(quotient, group));
    return _mm256_cmplt_epi32_mask(keys, prefix) & _mm512_cmp_pd_mask(rest, _mm512_setzero_pd(), _CMP_NEQ_OQ);
}

AVX512 static inline __m512 minus_two_log_x16(__m512 u) {
    __m512i x = _mm512_castps_si512(u);
    __m512i e = _mm512_sub_epi32(_mm512_srli_epi32(x, 23), _mm512_set1_epi32(127));
    __m512 m = _mm512_castsi512_ps(_mm512_or_si512(_mm512_and_si512(x, _mm512_set1_epi32(0x007FFFFF)),
                                                   _mm512_set1_epi32(0x3F800000)));
    __mmask16 high = _mm512_cmp_ps_mask(m, _mm512_set1_ps(SQRT2), _CMP_GT_OQ);
    m = _mm512_mask_mul_ps(m, high, m, _mm512_set1_ps(0.5f));
    e = _mm512_mask_add_epi32(e, high, e, _mm512_set1_epi32(1));
    __m512 f = _mm512_sub_ps(m, _mm512_set1_ps(1.0f));
    __m512 s = _mm512_div_ps(f, _mm512_add_ps(f, _mm512_set1_ps(2.0f)));
    __m512 s2 = _mm512_mul_ps(s, s);
    __m512 series = _mm512_fmadd_ps(s2, _mm512_set1_ps(LOG_C9), _mm512_set1_ps(LOG_C7));
    series = _mm512_fmadd_ps(series, s2, _mm512_set1_ps(LOG_C5));
    series = _mm512_fmadd_ps(series, s2, _mm512_set1_ps(LOG_C3));
    series = _mm512_fmadd_ps(series, s2, _mm512_set1_ps(1.0f));
    __m512 log_m = _mm512_mul_ps(_mm512_add_ps(s, s), series);
    return _mm512_mul_ps(_mm512_set1_ps(-2.0f), _mm512_fmadd_ps(_mm512_cvtepi32_ps(e), _mm512_set1_ps(LN2), log_m));
}

AVX512 static inline __m512 cos_turn24_x16(__m512i k) {
    __m512i q = _mm512_srli_epi32(_mm512_add_epi32(k, _mm512_set1_epi32(1 << 21)), 22);
    __m512i r = _mm512_sub_epi32(k, _mm512_slli_epi32(q, 22));
    __m512 x = _mm512_mul_ps(_mm512_cvtepi32_ps(r), _mm512_set1_ps(TURN24));
    __m512 x2 = _mm512_mul_ps(x, x);
    __m512 c = _mm512_fmadd_ps(x2, _mm512_set1_ps(COS_C8), _mm512_set1_ps(COS_C6));
    c = _mm512_fmadd_ps(c, x2, _mm512_set1_ps(COS_C4));
    c = _mm512_fmadd_ps(c, x2, _mm512_set1_ps(COS_C2));
    c = _mm512_fmadd_ps(c, x2, _mm512_set1_ps(1.0f));
    __m512 s = _mm512_fmadd_ps(x2, _mm512_set1_ps(SIN_C9), _mm512_set1_ps(SIN_C7));
    s = _mm512_fmadd_ps(s, x2, _mm512_set1_ps(SIN_C5));
    s = _mm512_fmadd_ps(s, x2, _mm512_set1_ps(SIN_C3));
    s = _mm512_fmadd_ps(s, x2, _mm512_set1_ps(1.0f));
    s = _mm512_mul_ps(x, s);
    __m512i quadrant = _mm512_and_si512(q, _mm512_set1_epi32(3));
    __mmask16 odd = _mm512_test_epi32_mask(quadrant, _mm512_set1_epi32(1));
    __mmask16 negative = _mm512_cmp_epu32_mask(_mm512_sub_epi32(quadrant, _mm512_set1_epi32(1)),
                                               _mm512_set1_epi32(1), _MM_CMPINT_LE);  // quadrant 1 or 2 (unsigned)
    __m512 value = _mm512_mask_blend_ps(odd, c, s);
    return _mm512_mask_xor_ps(value, negative, value, _mm512_set1_ps(-0.0f));  // the sign flipped, as -x in C
}

AVX512 static void add_noise_avx512(float *row, const int32_t *key_positions, int64_t n, uint64_t row_key,
                                    int64_t query, int64_t prefix_length, int64_t group_size, int fractional_only,
                                    float std_per_distance, float std_constant) {
    // Positions are int32 (the KV cache's); a query past them, or a prefix or group past int32, goes the scalar way.
    if (query > INT32_MAX || prefix_length > INT32_MAX || group_size > INT32_MAX) {
        add_noise_portable(row, key_positions, n, row_key, query, prefix_length, group_size, fractional_only,
                           std_per_distance, std_constant);
        return;
    }
    __m512i key64 = _mm512_set1_epi64((long long)row_key);
    __m256i prefix = _mm256_set1_epi32((int32_t)prefix_length);
    __m512d group = _mm512_set1_pd((double)group_size);
    __m512i i32 = _mm512_set1_epi32((int32_t)query);
    __m512 per_distance = _mm512_set1_ps(std_per_distance), constant = _mm512_set1_ps(std_constant);
    for (int64_t c = 0; c < n; c += 16) {
        __mmask16 live = n - c >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (n - c)) - 1);
        __m512i keys = _mm512_maskz_loadu_epi32(live, key_positions + c);
        __mmask16 noisy = live & _mm512_cmp_epi32_mask(keys, i32, _MM_CMPINT_LE);
        __m256i low = _mm512_castsi512_si256(keys), high = _mm512_extracti64x4_epi64(keys, 1);
        if (fractional_only)
            noisy &= (__mmask16)(fractional_x8(low, prefix, group) | (fractional_x8(high, prefix, group) << 8));
        if (noisy == 0) continue;
        __m256i radius_low, angle_low, radius_high, angle_high;
        words_x8(low, key64, &radius_low, &angle_low);
        words_x8(high, key64, &radius_high, &angle_high);
        __m512i radius = _mm512_inserti64x4(_mm512_castsi256_si512(radius_low), radius_high, 1);
        __m512i angle = _mm512_inserti64x4(_mm512_castsi256_si512(angle_low), angle_high, 1);
        __m512 u1 = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_add_epi32(radius, _mm512_set1_epi32(1))),
                                  _mm512_set1_ps(0x1p-24f));
        __m512 eps = _mm512_mul_ps(_mm512_sqrt_ps(minus_two_log_x16(u1)), cos_turn24_x16(angle));
        __m512 distance = _mm512_cvtepi32_ps(_mm512_sub_epi32(i32, keys));
        __m512 std = _mm512_add_ps(_mm512_mul_ps(distance, per_distance), constant);
        __m512 scores = _mm512_maskz_loadu_ps(live, row + c);
        scores = _mm512_mask_add_ps(scores, noisy, scores, _mm512_mul_ps(eps, std));
        _mm512_mask_storeu_ps(row + c, live, scores);
    }
}
#endif

int longlm_gali_add_noise(longlm_kernel_variant variant, float *row, const int32_t *key_positions, int64_t n,
                          uint64_t row_key, int64_t query, int64_t prefix_length, int64_t group_size,
                          int fractional_only, float std_per_distance, float std_constant) {
    if (group_size < 1) return -1;
    switch (variant) {
    case LONGLM_KERNELS_PORTABLE:
        add_noise_portable(row, key_positions, n, row_key, query, prefix_length, group_size, fractional_only,
                           std_per_distance, std_constant);
        return 0;
#if defined(__x86_64__)
    case LONGLM_KERNELS_AVX2:
        add_noise_avx2(row, key_positions, n, row_key, query, prefix_length, group_size, fractional_only,
                       std_per_distance, std_constant);
        return 0;
    case LONGLM_KERNELS_AVX512VNNI:
        add_noise_avx512(row, key_positions, n, row_key, query, prefix_length, group_size, fractional_only,
                         std_per_distance, std_constant);
        return 0;
#endif
    default:
        return -1;
    }
}
