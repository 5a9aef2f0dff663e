// Activation rounding and the row loop that runs a variant's per-row dot product.
// Every product and sum is rounded separately (no fused multiply-add), so the rounding is the same on every build.
#pragma clang fp contract(off)
#include <math.h>
#include "kernel_blocks.h"

int longlm_int8_activation_block(int type) {
    if (longlm_portable_dot_32(type)) return 32;
    if (longlm_portable_dot_256(type)) return 256;
    return 0;
}

/// Rounds x[0..<n] to q[i] = round(x[i] * m), m = 127 / max |x| (0 for an all-zero block), and returns m, with
/// max |x| and the sum of q. This is llama.cpp's x86 recipe for its activation blocks: the multiplier is
/// 127 / max, not 1 / (max / 127), which can differ in the last bit and so move a value across a rounding boundary.
static float round_block_portable(const float *x, int n, int8_t *q, float *amax_out, int32_t *sum_out) {
    float amax = 0;
    for (int i = 0; i < n; i++) {
        float v = fabsf(x[i]);
        amax = v > amax ? v : amax;
    }
    float multiplier = amax > 0 ? 127.0f / amax : 0.0f;
    // Round to nearest, ties to even, by adding and subtracting 1.5 * 2^23 (exact for |v| < 2^22; here
    // |v| <= 127 plus rounding): the same result as nearbyintf, without a library call per value (a prefill
    // in the fast precision rounds every activation of every product).
    const float magic = 12582912.0f;
    int32_t sum = 0;
    for (int i = 0; i < n; i++) {
        float v = (x[i] * multiplier + magic) - magic;
        // Clamped so that NaN (0 times an infinite multiplier, from a subnormal maximum) becomes -127 rather than
        // an undefined conversion; the AVX2 code's max-then-min does the same.
        v = v > -127.0f ? v : -127.0f;
        v = v < 127.0f ? v : 127.0f;
        q[i] = (int8_t)v;
        sum += q[i];
    }
    *amax_out = amax;
    *sum_out = sum;
    return multiplier;
}

/// The scale of a 256-block from its multiplier: 1 / m (llama.cpp's Q8_K d = 1 / iscale).
static float block_scale_256(float multiplier) { return multiplier > 0 ? 1.0f / multiplier : 0.0f; }

#if defined(__x86_64__)
#include <immintrin.h>

/// Eight int32 lanes (each in -127 ... 127) stored as eight bytes.
__attribute__((target("avx2"))) static inline void store_bytes_8(int8_t *out, __m256i q) {
    __m256i words = _mm256_packs_epi32(q, q);        // per 128-bit half: q0-3 q0-3 | q4-7 q4-7
    __m256i bytes = _mm256_packs_epi16(words, words);
    uint32_t low = (uint32_t)_mm256_extract_epi32(bytes, 0), high = (uint32_t)_mm256_extract_epi32(bytes, 4);
    memcpy(out, &low, 4);
    memcpy(out + 4, &high, 4);
}

/// `round_block_portable` 8 values at a time (n a multiple of 8), also giving max |x| and the sum of q. The
/// maximum is exact in any order (`_mm256_max_ps(v, m)` is v > m ? v : m, the scalar comparison); each value
/// goes through the same multiply, add, subtract and clamp.
__attribute__((target("avx2"))) static float round_block_avx2(const float *x, int n, int8_t *q, float *amax_out,
                                                              int32_t *sum_out) {
    const __m256 sign = _mm256_set1_ps(-0.0f), magic = _mm256_set1_ps(12582912.0f);
    const __m256 high = _mm256_set1_ps(127.0f), low = _mm256_set1_ps(-127.0f);
    __m256 m = _mm256_setzero_ps();
    for (int i = 0; i < n; i += 8) m = _mm256_max_ps(_mm256_andnot_ps(sign, _mm256_loadu_ps(x + i)), m);
    float lanes[8];
    _mm256_storeu_ps(lanes, m);
    float amax = 0;
    for (int l = 0; l < 8; l++) amax = lanes[l] > amax ? lanes[l] : amax;
    float multiplier = amax > 0 ? 127.0f / amax : 0.0f;
    const __m256 mv = _mm256_set1_ps(multiplier);
    __m256i total = _mm256_setzero_si256();
    for (int i = 0; i < n; i += 8) {
        __m256 r = _mm256_sub_ps(_mm256_add_ps(_mm256_mul_ps(_mm256_loadu_ps(x + i), mv), magic), magic);
        __m256i v = _mm256_cvttps_epi32(_mm256_min_ps(_mm256_max_ps(r, low), high));
        total = _mm256_add_epi32(total, v);
        store_bytes_8(q + i, v);
    }
    int32_t sums[8], sum = 0;
    _mm256_storeu_si256((__m256i *)sums, total);
    for (int l = 0; l < 8; l++) sum += sums[l];
    *amax_out = amax;
    *sum_out = sum;
    return multiplier;
}
#endif

float longlm_round_block_with(longlm_kernel_variant variant, const float *x, int n, int8_t *q, float *amax,
                              int32_t *sum) {
#if defined(__x86_64__)
    if (longlm_uses_avx2_code(variant) && n % 8 == 0) return round_block_avx2(x, n, q, amax, sum);
#endif
    return round_block_portable(x, n, q, amax, sum);
}

void longlm_quantize_q8_32(longlm_kernel_variant variant, const float *x, int64_t n, longlm_q8_32 *out) {
    for (int64_t b = 0; b < n / 32; b++) {
        float amax;
        int32_t sum;
        longlm_round_block_with(variant, x + 32 * b, 32, out[b].qs, &amax, &sum);
        float scale = amax / 127.0f;  // llama.cpp's Q8_0/Q8_1 d, before its rounding to f16
        out[b].d = round_to_half(scale);
        out[b].sum = sum;
        out[b].d_sum = round_to_half(scale * (float)sum);
    }
}

void longlm_quantize_q8_256(longlm_kernel_variant variant, const float *x, int64_t n, longlm_q8_256 *out) {
    for (int64_t b = 0; b < n / 256; b++) {
        float amax;
        int32_t total;
        out[b].d = block_scale_256(longlm_round_block_with(variant, x + 256 * b, 256, out[b].qs, &amax, &total));
        for (int g = 0; g < 16; g++) {
            int32_t sum = 0;
            for (int i = 0; i < 16; i++) sum += out[b].qs[16 * g + i];
            out[b].bsums[g] = (int16_t)sum;
        }
    }
}

int longlm_kernels_compiled(longlm_kernel_variant variant) {
    switch (variant) {
    case LONGLM_KERNELS_PORTABLE: return 1;
#if defined(__x86_64__)
    case LONGLM_KERNELS_AVX2: return 1;
    case LONGLM_KERNELS_AVX512VNNI: return 1;
#endif
    default: return 0;
    }
}

/// The variant's row product for a 32-weight (or 256-weight) block type; 0 when it has none.
static row_dot_32 dot_32_of(longlm_kernel_variant variant, int type) {
    switch (variant) {
    case LONGLM_KERNELS_AVX512VNNI: return longlm_avx512vnni_dot_32(type);
    case LONGLM_KERNELS_AVX2: return longlm_avx2_dot_32(type);
    default: return longlm_portable_dot_32(type);
    }
}

static row_dot_256 dot_256_of(longlm_kernel_variant variant, int type) {
    switch (variant) {
    case LONGLM_KERNELS_AVX512VNNI: return longlm_avx512vnni_dot_256(type);
    case LONGLM_KERNELS_AVX2: return longlm_avx2_dot_256(type);
    default: return longlm_portable_dot_256(type);
    }
}

int longlm_int8_dot_rows(longlm_kernel_variant variant, int type, const void *weights, size_t row_bytes,
                         int64_t row_begin, int64_t row_end, int64_t cols, const void *activations,
                         size_t activation_stride, int vectors, float *y, int64_t y_stride) {
    if (!longlm_kernels_compiled(variant)) return -1;
    const uint8_t *base = (const uint8_t *)weights;
    const uint8_t *act = (const uint8_t *)activations;
    int block = longlm_int8_activation_block(type);
    if (block == 32) {
        row_dot_32 dot = dot_32_of(variant, type);
        if (!dot) return -1;
        for (int64_t r = row_begin; r < row_end; r++) {
            for (int v = 0; v < vectors; v++) {
                const longlm_q8_32 *a = (const longlm_q8_32 *)(act + (size_t)v * activation_stride);
                y[v * y_stride + r] = dot(base + (size_t)r * row_bytes, a, cols / 32);
            }
        }
        return 0;
    }
    if (block == 256) {
        row_dot_256 dot = dot_256_of(variant, type);
        if (!dot) return -1;
        for (int64_t r = row_begin; r < row_end; r++) {
            for (int v = 0; v < vectors; v++) {
                const longlm_q8_256 *a = (const longlm_q8_256 *)(act + (size_t)v * activation_stride);
                y[v * y_stride + r] = dot(base + (size_t)r * row_bytes, a, cols / 256);
            }
        }
        return 0;
    }
    return -1;
}

uint64_t longlm_read_bytes(const void *buffer, size_t bytes) {
    const uint64_t *words = (const uint64_t *)buffer;
    uint64_t a = 0, b = 0, c = 0, d = 0;
    size_t n = bytes / 8, i = 0;
    for (; i + 4 <= n; i += 4) {
        a ^= words[i];
        b ^= words[i + 1];
        c ^= words[i + 2];
        d ^= words[i + 3];
    }
    for (; i < n; i++) a ^= words[i];
    return a ^ b ^ c ^ d;
}

void longlm_round_activations(const float *x, int64_t n, int block, float *out) {
    int8_t q[256];
    for (int64_t b = 0; b < n / block; b++) {
        float amax;
        int32_t sum;
        float multiplier = round_block_portable(x + block * b, block, q, &amax, &sum);
        float d = block == 32 ? round_to_half(amax / 127.0f) : block_scale_256(multiplier);
        for (int i = 0; i < block; i++) out[block * b + i] = d * (float)q[i];
    }
}
