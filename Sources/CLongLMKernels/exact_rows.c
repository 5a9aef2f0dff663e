// The exact path: weights rebuilt bit for bit as the reference dequantizer (LongLMCore `dequantizeRow`)
// rebuilds them, then multiplied with f32 activations. Each block's weights are written to a small f32
// buffer and multiplied 8 lanes at a time; only the order of the sums differs from a sequential dot product.
//
// The arithmetic is written once (`static inline`, always inlined) and compiled into one function per variant:
// the portable one for baseline targets and an AVX2 + FMA one through a target attribute, where the compiler
// vectorizes the same loops with 256-bit registers.
//
// Bit-exact weights need every product and sum rounded separately, as the reference does: no fused
// multiply-add may be formed from `d * q + m`.
#pragma clang fp contract(off)
#include "kernel_blocks.h"
#include "vector8.h"

// MARK: one block's weights, as the reference rebuilds them

INLINE void rebuild_q4_0(const uint8_t *b, float *y) {
    float d = load_half(b);
    for (int j = 0; j < 16; j++) {
        y[j] = (float)((b[2 + j] & 0x0F) - 8) * d;
        y[j + 16] = (float)((b[2 + j] >> 4) - 8) * d;
    }
}

INLINE void rebuild_q4_1(const uint8_t *b, float *y) {
    float d = load_half(b), m = load_half(b + 2);
    for (int j = 0; j < 16; j++) {
        y[j] = (float)(b[4 + j] & 0x0F) * d + m;
        y[j + 16] = (float)(b[4 + j] >> 4) * d + m;
    }
}

INLINE void rebuild_q5_0(const uint8_t *b, float *y) {
    float d = load_half(b);
    uint32_t qh = load_u32(b + 2);
    for (int j = 0; j < 16; j++) {
        int x0 = (int)((b[6 + j] & 0x0F) | (((qh >> j) << 4) & 0x10)) - 16;
        int x1 = (int)((b[6 + j] >> 4) | ((qh >> (j + 12)) & 0x10)) - 16;
        y[j] = (float)x0 * d;
        y[j + 16] = (float)x1 * d;
    }
}

INLINE void rebuild_q5_1(const uint8_t *b, float *y) {
    float d = load_half(b), m = load_half(b + 2);
    uint32_t qh = load_u32(b + 4);
    for (int j = 0; j < 16; j++) {
        uint32_t x0 = (b[8 + j] & 0x0F) | (((qh >> j) << 4) & 0x10);
        uint32_t x1 = (b[8 + j] >> 4) | ((qh >> (j + 12)) & 0x10);
        y[j] = (float)x0 * d + m;
        y[j + 16] = (float)x1 * d + m;
    }
}

INLINE void rebuild_q8_0(const uint8_t *b, float *y) {
    float d = load_half(b);
    for (int j = 0; j < 32; j++) y[j] = (float)(int8_t)b[2 + j] * d;
}

INLINE void rebuild_iq4_nl(const uint8_t *b, float *y) {
    float d = load_half(b);
    for (int j = 0; j < 16; j++) {
        y[j] = d * (float)iq4_levels[b[2 + j] & 0x0F];
        y[j + 16] = d * (float)iq4_levels[b[2 + j] >> 4];
    }
}

INLINE void rebuild_q2_K(const uint8_t *b, float *y) {
    float d = load_half(b + 80), dmin = load_half(b + 82);
    for (int h = 0; h < 2; h++) {
        for (int j = 0; j < 4; j++) {
            for (int k = 0; k < 2; k++) {
                int s = 8 * h + 2 * j + k;
                float dl = d * (float)(b[s] & 0x0F), ml = dmin * (float)(b[s] >> 4);
                float *out = y + 128 * h + 32 * j + 16 * k;
                for (int l = 0; l < 16; l++) out[l] = dl * (float)((b[16 + 32 * h + 16 * k + l] >> (2 * j)) & 3) - ml;
            }
        }
    }
}

INLINE void rebuild_q3_K(const uint8_t *b, float *y) {
    float d = load_half(b + 108);
    for (int h = 0; h < 2; h++) {
        for (int j = 0; j < 4; j++) {
            for (int k = 0; k < 2; k++) {
                float dl = d * (float)k3_scale(b + 96, 8 * h + 2 * j + k);
                float *out = y + 128 * h + 32 * j + 16 * k;
                for (int l = 0; l < 16; l++) {
                    int low = (b[32 + 32 * h + 16 * k + l] >> (2 * j)) & 3;
                    int high = (b[16 * k + l] >> (4 * h + j)) & 1;
                    out[l] = dl * (float)(high ? low : low - 4);
                }
            }
        }
    }
}

/// Q4_K / Q5_K: the two sub-blocks of 64-weight chunk c, their multipliers d · scale and offsets dmin · min,
/// each product rounded before any weight is touched (as the reference).
INLINE void k4_chunk_multipliers(const uint8_t *b, int c, float *d1, float *min1, float *d2, float *min2) {
    float d = load_half(b), dmin = load_half(b + 2);
    int sc1, m1, sc2, m2;
    k4_scale_min(b + 4, 2 * c, &sc1, &m1);
    k4_scale_min(b + 4, 2 * c + 1, &sc2, &m2);
    *d1 = d * (float)sc1;
    *min1 = dmin * (float)m1;
    *d2 = d * (float)sc2;
    *min2 = dmin * (float)m2;
}

INLINE void rebuild_q4_K(const uint8_t *b, float *y) {
    for (int c = 0; c < 4; c++) {
        float d1, min1, d2, min2;
        k4_chunk_multipliers(b, c, &d1, &min1, &d2, &min2);
        for (int l = 0; l < 32; l++) {
            uint8_t q = b[16 + 32 * c + l];
            y[64 * c + l] = d1 * (float)(q & 0x0F) - min1;
            y[64 * c + 32 + l] = d2 * (float)(q >> 4) - min2;
        }
    }
}

INLINE void rebuild_q5_K(const uint8_t *b, float *y) {
    for (int c = 0; c < 4; c++) {
        float d1, min1, d2, min2;
        k4_chunk_multipliers(b, c, &d1, &min1, &d2, &min2);
        for (int l = 0; l < 32; l++) {
            uint8_t q = b[48 + 32 * c + l];
            uint8_t h = b[16 + l] >> (2 * c);
            y[64 * c + l] = d1 * (float)((q & 0x0F) | ((h & 1) << 4)) - min1;
            y[64 * c + 32 + l] = d2 * (float)((q >> 4) | ((h & 2) << 3)) - min2;
        }
    }
}

INLINE void rebuild_q6_K(const uint8_t *b, float *y) {
    float d = load_half(b + 208);
    for (int half = 0; half < 2; half++) {
        const uint8_t *ql = b + 64 * half, *qh = b + 128 + 32 * half;
        const int8_t *sc = (const int8_t *)(b + 192 + 8 * half);
        float *out = y + 128 * half;
        for (int g = 0; g < 2; g++) {
            float s0 = d * (float)sc[g], s1 = d * (float)sc[g + 2], s2 = d * (float)sc[g + 4], s3 = d * (float)sc[g + 6];
            for (int l = 16 * g; l < 16 * g + 16; l++) {
                out[l] = s0 * (float)((int)((ql[l] & 0x0F) | ((qh[l] & 3) << 4)) - 32);
                out[l + 32] = s1 * (float)((int)((ql[l + 32] & 0x0F) | (((qh[l] >> 2) & 3) << 4)) - 32);
                out[l + 64] = s2 * (float)((int)((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32);
                out[l + 96] = s3 * (float)((int)((ql[l + 32] >> 4) | ((qh[l] >> 6) << 4)) - 32);
            }
        }
    }
}

INLINE void rebuild_iq4_xs(const uint8_t *b, float *y) {
    float d = load_half(b);
    for (int s = 0; s < 8; s++) {
        float dl = d * (float)iq4xs_scale(b, s);
        for (int j = 0; j < 16; j++) {
            uint8_t q = b[8 + 16 * s + j];
            y[32 * s + j] = dl * (float)iq4_levels[q & 0x0F];
            y[32 * s + 16 + j] = dl * (float)iq4_levels[q >> 4];
        }
    }
}

// Plain types in 16-element chunks (a row's last cols % 16 elements go through `plain_element`).
INLINE void rebuild_f32(const uint8_t *b, float *y) { memcpy(y, b, 64); }

INLINE void rebuild_f16(const uint8_t *b, float *y) {
    for (int j = 0; j < 16; j++) y[j] = load_half(b + 2 * j);
}

INLINE void rebuild_bf16(const uint8_t *b, float *y) {
    for (int j = 0; j < 16; j++) {
        uint16_t h;
        memcpy(&h, b + 2 * j, 2);
        uint32_t bits = (uint32_t)h << 16;
        memcpy(y + j, &bits, 4);
    }
}

INLINE float plain_element(int type, const uint8_t *row, int64_t c) {
    float out;
    if (type == TYPE_F32) {
        memcpy(&out, row + 4 * c, 4);
    } else if (type == TYPE_F16) {
        out = load_half(row + 2 * c);
    } else {
        uint16_t h;
        memcpy(&h, row + 2 * c, 2);
        uint32_t bits = (uint32_t)h << 16;
        memcpy(&out, &bits, 4);
    }
    return out;
}

// MARK: the row loops, per type

typedef void (*rebuild_fn)(const uint8_t *, float *);

/// y[v * y_stride + r] = dot(row r, x_v) for up to 4 vectors: each block is rebuilt once and multiplied
/// with every vector.
INLINE void dot_rows_with(rebuild_fn rebuild, int type, int block_size, int block_bytes, const uint8_t *w,
                          size_t row_bytes, int64_t r0, int64_t r1, int64_t cols, const float *x, int vectors,
                          float *y, int64_t y_stride) {
    float buffer[256];
    int64_t blocks = cols / block_size;
    for (int64_t r = r0; r < r1; r++) {
        const uint8_t *row = w + (size_t)r * row_bytes;
        for (int v0 = 0; v0 < vectors; v0 += 4) {
            int group = vectors - v0 < 4 ? vectors - v0 : 4;
            f32x8 even[4] = {0}, odd[4] = {0};
            for (int64_t b = 0; b < blocks; b++) {
                rebuild(row + b * block_bytes, buffer);
                for (int g = 0; g < group; g++) {
                    const float *xb = x + (size_t)(v0 + g) * cols + b * block_size;
                    for (int i = 0; i < block_size; i += 16) {
                        even[g] += load8(buffer + i) * load8(xb + i);
                        odd[g] += load8(buffer + i + 8) * load8(xb + i + 8);
                    }
                }
            }
            for (int g = 0; g < group; g++) {
                float sum = sum8(even[g] + odd[g]);
                const float *xv = x + (size_t)(v0 + g) * cols;
                for (int64_t c = blocks * block_size; c < cols; c++) sum += plain_element(type, row, c) * xv[c];
                y[(v0 + g) * y_stride + r] = sum;
            }
        }
    }
}

INLINE void rebuild_row_with(rebuild_fn rebuild, int type, int block_size, int block_bytes, const uint8_t *row,
                             int64_t cols, float *out) {
    int64_t blocks = cols / block_size;
    for (int64_t b = 0; b < blocks; b++) rebuild(row + b * block_bytes, out + b * block_size);
    for (int64_t c = blocks * block_size; c < cols; c++) out[c] = plain_element(type, row, c);
}

/// Calls MACRO(rebuild function, block size, block bytes) for `type`; returns -1 for a type without a kernel.
#define FOR_TYPE(type, MACRO) \
    switch (type) { \
    case TYPE_F32: MACRO(rebuild_f32, 16, 64); break; \
    case TYPE_F16: MACRO(rebuild_f16, 16, 32); break; \
    case TYPE_BF16: MACRO(rebuild_bf16, 16, 32); break; \
    case TYPE_Q4_0: MACRO(rebuild_q4_0, 32, 18); break; \
    case TYPE_Q4_1: MACRO(rebuild_q4_1, 32, 20); break; \
    case TYPE_Q5_0: MACRO(rebuild_q5_0, 32, 22); break; \
    case TYPE_Q5_1: MACRO(rebuild_q5_1, 32, 24); break; \
    case TYPE_Q8_0: MACRO(rebuild_q8_0, 32, 34); break; \
    case TYPE_IQ4_NL: MACRO(rebuild_iq4_nl, 32, 18); break; \
    case TYPE_Q2_K: MACRO(rebuild_q2_K, 256, 84); break; \
    case TYPE_Q3_K: MACRO(rebuild_q3_K, 256, 110); break; \
    case TYPE_Q4_K: MACRO(rebuild_q4_K, 256, 144); break; \
    case TYPE_Q5_K: MACRO(rebuild_q5_K, 256, 176); break; \
    case TYPE_Q6_K: MACRO(rebuild_q6_K, 256, 210); break; \
    case TYPE_IQ4_XS: MACRO(rebuild_iq4_xs, 256, 136); break; \
    default: return -1; \
    }

INLINE int exact_dot_rows_body(int type, const uint8_t *w, size_t row_bytes, int64_t r0, int64_t r1, int64_t cols,
                               const float *x, int vectors, float *y, int64_t y_stride) {
#define DOT(fn, bs, bb) dot_rows_with(fn, type, bs, bb, w, row_bytes, r0, r1, cols, x, vectors, y, y_stride)
    FOR_TYPE(type, DOT)
#undef DOT
    return 0;
}

INLINE int rebuild_row_body(int type, const uint8_t *row, int64_t cols, float *out) {
#define REBUILD(fn, bs, bb) rebuild_row_with(fn, type, bs, bb, row, cols, out)
    FOR_TYPE(type, REBUILD)
#undef REBUILD
    return 0;
}

static int exact_dot_rows_portable(int type, const uint8_t *w, size_t row_bytes, int64_t r0, int64_t r1, int64_t cols,
                                   const float *x, int vectors, float *y, int64_t y_stride) {
    return exact_dot_rows_body(type, w, row_bytes, r0, r1, cols, x, vectors, y, y_stride);
}

static int rebuild_row_portable(int type, const uint8_t *row, int64_t cols, float *out) {
    return rebuild_row_body(type, row, cols, out);
}

#if defined(__x86_64__)
__attribute__((target("avx2,fma")))
static int exact_dot_rows_avx2(int type, const uint8_t *w, size_t row_bytes, int64_t r0, int64_t r1, int64_t cols,
                               const float *x, int vectors, float *y, int64_t y_stride) {
    return exact_dot_rows_body(type, w, row_bytes, r0, r1, cols, x, vectors, y, y_stride);
}

__attribute__((target("avx2,fma")))
static int rebuild_row_avx2(int type, const uint8_t *row, int64_t cols, float *out) {
    return rebuild_row_body(type, row, cols, out);
}
#endif

int longlm_exact_dot_rows(longlm_kernel_variant variant, int type, const void *weights, size_t row_bytes,
                          int64_t row_begin, int64_t row_end, int64_t cols, const float *x, int vectors, float *y,
                          int64_t y_stride) {
#if defined(__x86_64__)
    if (longlm_uses_avx2_code(variant)) {
        return exact_dot_rows_avx2(type, (const uint8_t *)weights, row_bytes, row_begin, row_end, cols, x, vectors, y, y_stride);
    }
#endif
    if (variant != LONGLM_KERNELS_PORTABLE) return -1;
    return exact_dot_rows_portable(type, (const uint8_t *)weights, row_bytes, row_begin, row_end, cols, x, vectors, y, y_stride);
}

int longlm_rebuild_row(longlm_kernel_variant variant, int type, const void *row, int64_t cols, float *out) {
#if defined(__x86_64__)
    if (longlm_uses_avx2_code(variant)) return rebuild_row_avx2(type, (const uint8_t *)row, cols, out);
#endif
    if (variant != LONGLM_KERNELS_PORTABLE) return -1;
    return rebuild_row_portable(type, (const uint8_t *)row, cols, out);
}
