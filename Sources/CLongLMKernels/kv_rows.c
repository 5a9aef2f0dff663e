// The KV cache's storage types: keys and values are computed in f32 and stored as f32, f16, bf16 or q8_0
// rows; the attention kernel decodes the rows it needs back to f32, one tile at a time.
//
// - f16: IEEE binary16, rounded to nearest even (overflow to infinity, subnormals kept).
// - bf16: the top half of the f32 bits, rounded to nearest even (NaNs stay quiet NaNs).
// - q8_0: blocks of 32 values {f16 scale d, 32 int8 q}, 34 bytes: d = max |x| / 127, q = x / d rounded to
//   nearest even, read back as f16(d) * q (the layout and the rule of ggml's Q8_0).
//
// The bodies are written once and compiled per variant; the AVX2 variant uses F16C for the binary16
// conversions. Every variant gives the same bits (tested), so a cache written on one node reads the same on
// another.
#pragma clang fp contract(off)
#include "kernel_blocks.h"
#if defined(__x86_64__)
#include <immintrin.h>
#endif

#define INLINE static inline __attribute__((always_inline))

size_t longlm_kv_bytes(longlm_kv_type type, int64_t n) {
    switch (type) {
    case LONGLM_KV_F32: return (size_t)n * 4;
    case LONGLM_KV_F16: return (size_t)n * 2;
    case LONGLM_KV_BF16: return (size_t)n * 2;
    case LONGLM_KV_Q8_0: return (size_t)(n / 32) * 34;
    }
    return 0;
}

INLINE uint16_t float_to_bfloat(float f) {
    uint32_t x;
    memcpy(&x, &f, 4);
    if ((x & 0x7FFFFFFFu) > 0x7F800000u) return (uint16_t)((x >> 16) | 0x40);
    return (uint16_t)((x + 0x7FFFu + ((x >> 16) & 1)) >> 16);
}

INLINE float bfloat_to_float(uint16_t h) {
    uint32_t bits = (uint32_t)h << 16;
    float out;
    memcpy(&out, &bits, 4);
    return out;
}

INLINE void encode_q8_0_block(const float *x, uint8_t *out) {
    float amax = 0;
    for (int i = 0; i < 32; i++) {
        float a = fabsf(x[i]);
        amax = a > amax ? a : amax;
    }
    float d = amax / 127.0f;
    float id = d != 0 ? 1.0f / d : 0.0f;
    uint16_t dh = float_to_half(d);
    memcpy(out, &dh, 2);
    int8_t *q = (int8_t *)(out + 2);
    // Adding 1.5 * 2^23 rounds to the nearest integer, ties to even.
    const float magic = 12582912.0f;
    for (int i = 0; i < 32; i++) {
        float rounded = (x[i] * id + magic) - magic;
        q[i] = (int8_t)(int32_t)rounded;
    }
}

INLINE void decode_q8_0_block(const uint8_t *in, float *out) {
    uint16_t dh;
    memcpy(&dh, in, 2);
    float d = half_to_float(dh);
    const int8_t *q = (const int8_t *)(in + 2);
    for (int i = 0; i < 32; i++) out[i] = d * (float)q[i];
}

INLINE void encode_body(longlm_kv_type type, const float *x, int64_t n, void *out) {
    switch (type) {
    case LONGLM_KV_F32:
        memcpy(out, x, (size_t)n * 4);
        break;
    case LONGLM_KV_F16: {
        uint16_t *h = out;
        for (int64_t i = 0; i < n; i++) h[i] = float_to_half(x[i]);
        break;
    }
    case LONGLM_KV_BF16: {
        uint16_t *h = out;
        for (int64_t i = 0; i < n; i++) h[i] = float_to_bfloat(x[i]);
        break;
    }
    case LONGLM_KV_Q8_0:
        for (int64_t b = 0; b < n / 32; b++) encode_q8_0_block(x + b * 32, (uint8_t *)out + b * 34);
        break;
    }
}

INLINE void decode_body(longlm_kv_type type, const void *in, int64_t n, float *out) {
    switch (type) {
    case LONGLM_KV_F32:
        memcpy(out, in, (size_t)n * 4);
        break;
    case LONGLM_KV_F16: {
        const uint16_t *h = in;
        for (int64_t i = 0; i < n; i++) out[i] = half_to_float(h[i]);
        break;
    }
    case LONGLM_KV_BF16: {
        const uint16_t *h = in;
        for (int64_t i = 0; i < n; i++) out[i] = bfloat_to_float(h[i]);
        break;
    }
    case LONGLM_KV_Q8_0:
        for (int64_t b = 0; b < n / 32; b++) decode_q8_0_block((const uint8_t *)in + b * 34, out + b * 32);
        break;
    }
}

static void encode_portable(longlm_kv_type type, const float *x, int64_t n, void *out) { encode_body(type, x, n, out); }
static void decode_portable(longlm_kv_type type, const void *in, int64_t n, float *out) { decode_body(type, in, n, out); }

#if defined(__x86_64__)
#define AVX2 __attribute__((target("avx2,fma,f16c")))

// F16C rounds to nearest even and keeps NaNs quiet with their top payload bits, as float_to_half does.
AVX2 static void encode_avx2(longlm_kv_type type, const float *x, int64_t n, void *out) {
    if (type != LONGLM_KV_F16) {
        encode_body(type, x, n, out);
        return;
    }
    uint16_t *h = out;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m128i packed = _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        _mm_storeu_si128((__m128i *)(h + i), packed);
    }
    for (; i < n; i++) h[i] = float_to_half(x[i]);
}

AVX2 static void decode_avx2(longlm_kv_type type, const void *in, int64_t n, float *out) {
    if (type != LONGLM_KV_F16) {
        decode_body(type, in, n, out);
        return;
    }
    const uint16_t *h = in;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(out + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(h + i))));
    for (; i < n; i++) out[i] = half_to_float(h[i]);
}
#endif

void longlm_kv_encode(longlm_kernel_variant variant, longlm_kv_type type, const float *x, int64_t n, void *out) {
#if defined(__x86_64__)
    if (longlm_uses_avx2_code(variant)) {
        encode_avx2(type, x, n, out);
        return;
    }
#endif
    (void)variant;
    encode_portable(type, x, n, out);
}

void longlm_kv_decode(longlm_kernel_variant variant, longlm_kv_type type, const void *in, int64_t n, float *out) {
#if defined(__x86_64__)
    if (longlm_uses_avx2_code(variant)) {
        decode_avx2(type, in, n, out);
        return;
    }
#endif
    (void)variant;
    decode_portable(type, in, n, out);
}
