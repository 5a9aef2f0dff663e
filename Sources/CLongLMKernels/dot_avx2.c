// The AVX2 variant (x86-64-v3: AVX2 + FMA + F16C). Each function carries its own target attribute, so the file is
// built for baseline x86-64 and these functions only run where the caller checked the CPU supports them.
//
// Integer dot products: `vpmaddubsw` multiplies unsigned weight bytes by signed activation bytes and adds
// neighbouring pairs into int16 (no overflow: |weight| <= 128 and |activation| <= 127 give at most 32,512);
// `vpmaddwd` then multiplies those pairs by a 16-bit sub-block scale (or 1) and adds pairs into int32.
// Signed weights (Q8_0, IQ4) use the sign trick: |w| times (a with w's sign).
#include "kernel_blocks.h"

#if defined(__x86_64__)
#include <immintrin.h>

#define AVX2 __attribute__((target("avx2,fma,f16c")))

/// An f16 scale with F16C's conversion (exact for every finite value).
static inline AVX2 float half_f16c(const uint8_t *p) {
    uint16_t h;
    memcpy(&h, p, 2);
    return _cvtsh_ss(h);
}

static inline AVX2 __m256i ones16(void) { return _mm256_set1_epi16(1); }

/// int32x8: sums of 4 neighbouring products of unsigned `u` and signed `s` bytes.
static inline AVX2 __m256i dot_u8_s8(__m256i u, __m256i s) {
    return _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), ones16());
}

/// The same for signed weights `w`.
static inline AVX2 __m256i dot_s8_s8(__m256i w, __m256i s) {
    return dot_u8_s8(_mm256_sign_epi8(w, w), _mm256_sign_epi8(s, w));
}

/// int32x8 products summed, with each 16-byte half's int16 pair sums scaled by its own scale.
static inline AVX2 __m256i dot_u8_s8_scaled(__m256i u, __m256i s, int scale_low, int scale_high) {
    __m256i scales = _mm256_set_m128i(_mm_set1_epi16((short)scale_high), _mm_set1_epi16((short)scale_low));
    return _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), scales);
}

static inline AVX2 float sum_f32x8(__m256 v) {
    __m128 r = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    r = _mm_add_ps(r, _mm_movehl_ps(r, r));
    r = _mm_add_ss(r, _mm_movehdup_ps(r));
    return _mm_cvtss_f32(r);
}

/// 16 bytes to 32: low nibbles (weights 0..15), then high nibbles (weights 16..31).
static inline AVX2 __m256i nibbles_32(const uint8_t *p) {
    __m128i q = _mm_loadu_si128((const __m128i *)p);
    __m128i mask = _mm_set1_epi8(0x0F);
    return _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(q, 4), mask), _mm_and_si128(q, mask));
}

/// Byte j = 0x10 where bit j of `bits` is set, else 0.
static inline AVX2 __m256i bits_to_0x10(uint32_t bits) {
    __m256i v = _mm256_set1_epi32((int)bits);
    const __m256i spread = _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1,
                                            2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3);
    const __m256i bit = _mm256_set1_epi64x(0x8040201008040201LL);
    v = _mm256_and_si256(_mm256_shuffle_epi8(v, spread), bit);
    return _mm256_and_si256(_mm256_cmpeq_epi8(v, bit), _mm256_set1_epi8(0x10));
}

/// Each byte of `v` shifted right by `count` (0..7), as 16-bit shifts masked to the byte's own bits by the caller.
static inline AVX2 __m256i shift_right_16(__m256i v, int count) {
    return _mm256_srl_epi16(v, _mm_cvtsi32_si128(count));
}

static inline AVX2 __m256i iq4_table(void) {
    __m128i t = _mm_loadu_si128((const __m128i *)iq4_levels);
    return _mm256_set_m128i(t, t);
}

// MARK: 32-weight blocks
//
// Two blocks per iteration into two accumulators: with one, every block waited on the previous block's fused
// multiply-add, and the loop ran at about a third of its throughput. Offsets (Q4_0's -8, Q5_0's -16) are taken
// into signed weights, so no scalar chain remains; Q4_1's and Q5_1's mins (m · d_a · sum) are summed in two
// scalar accumulators.

/// Signed Q4_0 weights (q - 8) of a block.
static inline AVX2 __m256i weights_q4_0(const uint8_t *block) {
    return _mm256_sub_epi8(nibbles_32(block + 2), _mm256_set1_epi8(8));
}

/// Signed Q5_0 weights (q - 16) of a block.
static inline AVX2 __m256i weights_q5_0(const uint8_t *block) {
    return _mm256_sub_epi8(_mm256_or_si256(nibbles_32(block + 6), bits_to_0x10(load_u32(block + 2))), _mm256_set1_epi8(16));
}

static inline AVX2 __m256 block_term(const uint8_t *block, const longlm_q8_32 *a, __m256i products, __m256 acc) {
    return _mm256_fmadd_ps(_mm256_set1_ps(half_f16c(block) * a->d), _mm256_cvtepi32_ps(products), acc);
}

static inline AVX2 __m256i activations(const longlm_q8_32 *a) { return _mm256_loadu_si256((const __m256i *)a->qs); }

static AVX2 float dot_q4_0(const uint8_t *row, const longlm_q8_32 *a, int64_t blocks) {
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    int64_t b = 0;
    for (; b + 2 <= blocks; b += 2) {
        const uint8_t *b0 = row + 18 * b, *b1 = b0 + 18;
        acc0 = block_term(b0, a + b, dot_s8_s8(weights_q4_0(b0), activations(a + b)), acc0);
        acc1 = block_term(b1, a + b + 1, dot_s8_s8(weights_q4_0(b1), activations(a + b + 1)), acc1);
    }
    for (; b < blocks; b++) {
        const uint8_t *b0 = row + 18 * b;
        acc0 = block_term(b0, a + b, dot_s8_s8(weights_q4_0(b0), activations(a + b)), acc0);
    }
    return sum_f32x8(_mm256_add_ps(acc0, acc1));
}

static AVX2 float dot_q4_1(const uint8_t *row, const longlm_q8_32 *a, int64_t blocks) {
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    float offset0 = 0, offset1 = 0;
    int64_t b = 0;
    for (; b + 2 <= blocks; b += 2) {
        const uint8_t *b0 = row + 20 * b, *b1 = b0 + 20;
        acc0 = block_term(b0, a + b, dot_u8_s8(nibbles_32(b0 + 4), activations(a + b)), acc0);
        acc1 = block_term(b1, a + b + 1, dot_u8_s8(nibbles_32(b1 + 4), activations(a + b + 1)), acc1);
        offset0 += half_f16c(b0 + 2) * a[b].d_sum;
        offset1 += half_f16c(b1 + 2) * a[b + 1].d_sum;
    }
    for (; b < blocks; b++) {
        const uint8_t *b0 = row + 20 * b;
        acc0 = block_term(b0, a + b, dot_u8_s8(nibbles_32(b0 + 4), activations(a + b)), acc0);
        offset0 += half_f16c(b0 + 2) * a[b].d_sum;
    }
    return sum_f32x8(_mm256_add_ps(acc0, acc1)) + (offset0 + offset1);
}

static AVX2 float dot_q5_0(const uint8_t *row, const longlm_q8_32 *a, int64_t blocks) {
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    int64_t b = 0;
    for (; b + 2 <= blocks; b += 2) {
        const uint8_t *b0 = row + 22 * b, *b1 = b0 + 22;
        acc0 = block_term(b0, a + b, dot_s8_s8(weights_q5_0(b0), activations(a + b)), acc0);
        acc1 = block_term(b1, a + b + 1, dot_s8_s8(weights_q5_0(b1), activations(a + b + 1)), acc1);
    }
    for (; b < blocks; b++) {
        const uint8_t *b0 = row + 22 * b;
        acc0 = block_term(b0, a + b, dot_s8_s8(weights_q5_0(b0), activations(a + b)), acc0);
    }
    return sum_f32x8(_mm256_add_ps(acc0, acc1));
}

static inline AVX2 __m256i weights_q5_1(const uint8_t *block) {
    return _mm256_or_si256(nibbles_32(block + 8), bits_to_0x10(load_u32(block + 4)));
}

static AVX2 float dot_q5_1(const uint8_t *row, const longlm_q8_32 *a, int64_t blocks) {
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    float offset0 = 0, offset1 = 0;
    int64_t b = 0;
    for (; b + 2 <= blocks; b += 2) {
        const uint8_t *b0 = row + 24 * b, *b1 = b0 + 24;
        acc0 = block_term(b0, a + b, dot_u8_s8(weights_q5_1(b0), activations(a + b)), acc0);
        acc1 = block_term(b1, a + b + 1, dot_u8_s8(weights_q5_1(b1), activations(a + b + 1)), acc1);
        offset0 += half_f16c(b0 + 2) * a[b].d_sum;
        offset1 += half_f16c(b1 + 2) * a[b + 1].d_sum;
    }
    for (; b < blocks; b++) {
        const uint8_t *b0 = row + 24 * b;
        acc0 = block_term(b0, a + b, dot_u8_s8(weights_q5_1(b0), activations(a + b)), acc0);
        offset0 += half_f16c(b0 + 2) * a[b].d_sum;
    }
    return sum_f32x8(_mm256_add_ps(acc0, acc1)) + (offset0 + offset1);
}

static inline AVX2 __m256i weights_q8_0(const uint8_t *block) { return _mm256_loadu_si256((const __m256i *)(block + 2)); }

static AVX2 float dot_q8_0(const uint8_t *row, const longlm_q8_32 *a, int64_t blocks) {
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    int64_t b = 0;
    for (; b + 2 <= blocks; b += 2) {
        const uint8_t *b0 = row + 34 * b, *b1 = b0 + 34;
        acc0 = block_term(b0, a + b, dot_s8_s8(weights_q8_0(b0), activations(a + b)), acc0);
        acc1 = block_term(b1, a + b + 1, dot_s8_s8(weights_q8_0(b1), activations(a + b + 1)), acc1);
    }
    for (; b < blocks; b++) {
        const uint8_t *b0 = row + 34 * b;
        acc0 = block_term(b0, a + b, dot_s8_s8(weights_q8_0(b0), activations(a + b)), acc0);
    }
    return sum_f32x8(_mm256_add_ps(acc0, acc1));
}

static AVX2 float dot_iq4_nl(const uint8_t *row, const longlm_q8_32 *a, int64_t blocks) {
    const __m256i table = iq4_table();
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    int64_t b = 0;
    for (; b + 2 <= blocks; b += 2) {
        const uint8_t *b0 = row + 18 * b, *b1 = b0 + 18;
        acc0 = block_term(b0, a + b, dot_s8_s8(_mm256_shuffle_epi8(table, nibbles_32(b0 + 2)), activations(a + b)), acc0);
        acc1 = block_term(b1, a + b + 1, dot_s8_s8(_mm256_shuffle_epi8(table, nibbles_32(b1 + 2)), activations(a + b + 1)), acc1);
    }
    for (; b < blocks; b++) {
        const uint8_t *b0 = row + 18 * b;
        acc0 = block_term(b0, a + b, dot_s8_s8(_mm256_shuffle_epi8(table, nibbles_32(b0 + 2)), activations(a + b)), acc0);
    }
    return sum_f32x8(_mm256_add_ps(acc0, acc1));
}

// MARK: 256-weight super-blocks

static AVX2 float dot_q2_K(const uint8_t *row, const longlm_q8_256 *a, int64_t blocks) {
    __m256 acc = _mm256_setzero_ps();
    float offset = 0;
    const __m256i three = _mm256_set1_epi8(3);
    for (int64_t b = 0; b < blocks; b++) {
        const uint8_t *block = row + 84 * b;
        __m256i isum = _mm256_setzero_si256();
        int32_t msum = 0;
        for (int h = 0; h < 2; h++) {
            __m256i q = _mm256_loadu_si256((const __m256i *)(block + 16 + 32 * h));
            for (int j = 0; j < 4; j++) {
                int s = 8 * h + 2 * j;
                __m256i w = _mm256_and_si256(shift_right_16(q, 2 * j), three);
                __m256i x = _mm256_loadu_si256((const __m256i *)(a[b].qs + 128 * h + 32 * j));
                isum = _mm256_add_epi32(isum, dot_u8_s8_scaled(w, x, block[s] & 0x0F, block[s + 1] & 0x0F));
            }
        }
        for (int s = 0; s < 16; s++) msum += (block[s] >> 4) * a[b].bsums[s];
        float d = half_f16c(block + 80) * a[b].d;
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(isum), acc);
        offset -= half_f16c(block + 82) * a[b].d * (float)msum;
    }
    return sum_f32x8(acc) + offset;
}

static AVX2 float dot_q3_K(const uint8_t *row, const longlm_q8_256 *a, int64_t blocks) {
    __m256 acc = _mm256_setzero_ps();
    const __m256i three = _mm256_set1_epi8(3), one = _mm256_set1_epi8(1);
    for (int64_t b = 0; b < blocks; b++) {
        const uint8_t *block = row + 110 * b;
        int scales[16];
        int32_t correction = 0;
        for (int s = 0; s < 16; s++) {
            scales[s] = k3_scale(block + 96, s);
            correction += scales[s] * a[b].bsums[s];
        }
        __m256i hmask = _mm256_loadu_si256((const __m256i *)block);
        __m256i isum = _mm256_setzero_si256();
        for (int h = 0; h < 2; h++) {
            __m256i q = _mm256_loadu_si256((const __m256i *)(block + 32 + 32 * h));
            for (int j = 0; j < 4; j++) {
                int s = 8 * h + 2 * j;
                __m256i low = _mm256_and_si256(shift_right_16(q, 2 * j), three);
                __m256i high = _mm256_and_si256(shift_right_16(hmask, 4 * h + j), one);
                __m256i w = _mm256_or_si256(low, _mm256_slli_epi16(high, 2));  // low + 4 * high, 0..7
                __m256i x = _mm256_loadu_si256((const __m256i *)(a[b].qs + 128 * h + 32 * j));
                isum = _mm256_add_epi32(isum, dot_u8_s8_scaled(w, x, scales[s], scales[s + 1]));
            }
        }
        // weight = (low + 4 * high) - 4
        isum = _mm256_sub_epi32(isum, _mm256_setr_epi32(4 * correction, 0, 0, 0, 0, 0, 0, 0));
        acc = _mm256_fmadd_ps(_mm256_set1_ps(half_f16c(block + 108) * a[b].d), _mm256_cvtepi32_ps(isum), acc);
    }
    return sum_f32x8(acc);
}

static AVX2 float dot_q4_K(const uint8_t *row, const longlm_q8_256 *a, int64_t blocks) {
    __m256 acc = _mm256_setzero_ps();
    float offset = 0;
    const __m256i mask = _mm256_set1_epi8(0x0F);
    for (int64_t b = 0; b < blocks; b++) {
        const uint8_t *block = row + 144 * b;
        int scales[8], mins[8];
        k4_scales_mins(block + 4, scales, mins);
        int32_t msum = k4_min_sum(mins, a[b].bsums);
        __m256i isum = _mm256_setzero_si256();
        for (int c = 0; c < 4; c++) {
            int sc1 = scales[2 * c], sc2 = scales[2 * c + 1];
            __m256i q = _mm256_loadu_si256((const __m256i *)(block + 16 + 32 * c));
            __m256i x1 = _mm256_loadu_si256((const __m256i *)(a[b].qs + 64 * c));
            __m256i x2 = _mm256_loadu_si256((const __m256i *)(a[b].qs + 64 * c + 32));
            isum = _mm256_add_epi32(isum, dot_u8_s8_scaled(_mm256_and_si256(q, mask), x1, sc1, sc1));
            isum = _mm256_add_epi32(isum, dot_u8_s8_scaled(_mm256_and_si256(_mm256_srli_epi16(q, 4), mask), x2, sc2, sc2));
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(half_f16c(block) * a[b].d), _mm256_cvtepi32_ps(isum), acc);
        offset -= half_f16c(block + 2) * a[b].d * (float)msum;
    }
    return sum_f32x8(acc) + offset;
}

static AVX2 float dot_q5_K(const uint8_t *row, const longlm_q8_256 *a, int64_t blocks) {
    __m256 acc = _mm256_setzero_ps();
    float offset = 0;
    const __m256i mask = _mm256_set1_epi8(0x0F), one = _mm256_set1_epi8(1);
    for (int64_t b = 0; b < blocks; b++) {
        const uint8_t *block = row + 176 * b;
        __m256i qh = _mm256_loadu_si256((const __m256i *)(block + 16));
        int scales[8], mins[8];
        k4_scales_mins(block + 4, scales, mins);
        int32_t msum = k4_min_sum(mins, a[b].bsums);
        __m256i isum = _mm256_setzero_si256();
        for (int c = 0; c < 4; c++) {
            int sc1 = scales[2 * c], sc2 = scales[2 * c + 1];
            __m256i q = _mm256_loadu_si256((const __m256i *)(block + 48 + 32 * c));
            __m256i h1 = _mm256_slli_epi16(_mm256_and_si256(shift_right_16(qh, 2 * c), one), 4);
            __m256i h2 = _mm256_slli_epi16(_mm256_and_si256(shift_right_16(qh, 2 * c + 1), one), 4);
            __m256i w1 = _mm256_or_si256(_mm256_and_si256(q, mask), h1);
            __m256i w2 = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(q, 4), mask), h2);
            __m256i x1 = _mm256_loadu_si256((const __m256i *)(a[b].qs + 64 * c));
            __m256i x2 = _mm256_loadu_si256((const __m256i *)(a[b].qs + 64 * c + 32));
            isum = _mm256_add_epi32(isum, dot_u8_s8_scaled(w1, x1, sc1, sc1));
            isum = _mm256_add_epi32(isum, dot_u8_s8_scaled(w2, x2, sc2, sc2));
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(half_f16c(block) * a[b].d), _mm256_cvtepi32_ps(isum), acc);
        offset -= half_f16c(block + 2) * a[b].d * (float)msum;
    }
    return sum_f32x8(acc) + offset;
}

static AVX2 float dot_q6_K(const uint8_t *row, const longlm_q8_256 *a, int64_t blocks) {
    __m256 acc = _mm256_setzero_ps();
    const __m256i mask = _mm256_set1_epi8(0x0F), three = _mm256_set1_epi8(3);
    for (int64_t b = 0; b < blocks; b++) {
        const uint8_t *block = row + 210 * b;
        const int8_t *scales = (const int8_t *)(block + 192);
        int32_t correction = 0;
        for (int g = 0; g < 16; g++) correction += scales[g] * a[b].bsums[g];
        __m256i isum = _mm256_setzero_si256();
        for (int half = 0; half < 2; half++) {
            __m256i ql0 = _mm256_loadu_si256((const __m256i *)(block + 64 * half));
            __m256i ql1 = _mm256_loadu_si256((const __m256i *)(block + 64 * half + 32));
            __m256i qh = _mm256_loadu_si256((const __m256i *)(block + 128 + 32 * half));
            __m256i q[4];
            q[0] = _mm256_and_si256(ql0, mask);
            q[1] = _mm256_and_si256(ql1, mask);
            q[2] = _mm256_and_si256(_mm256_srli_epi16(ql0, 4), mask);
            q[3] = _mm256_and_si256(_mm256_srli_epi16(ql1, 4), mask);
            for (int k = 0; k < 4; k++) {
                __m256i high = _mm256_slli_epi16(_mm256_and_si256(shift_right_16(qh, 2 * k), three), 4);
                __m256i w = _mm256_or_si256(q[k], high);
                __m256i x = _mm256_loadu_si256((const __m256i *)(a[b].qs + 128 * half + 32 * k));
                int g = 8 * half + 2 * k;
                isum = _mm256_add_epi32(isum, dot_u8_s8_scaled(w, x, scales[g], scales[g + 1]));
            }
        }
        // weight = q - 32
        isum = _mm256_sub_epi32(isum, _mm256_setr_epi32(32 * correction, 0, 0, 0, 0, 0, 0, 0));
        acc = _mm256_fmadd_ps(_mm256_set1_ps(half_f16c(block + 208) * a[b].d), _mm256_cvtepi32_ps(isum), acc);
    }
    return sum_f32x8(acc);
}

static AVX2 float dot_iq4_xs(const uint8_t *row, const longlm_q8_256 *a, int64_t blocks) {
    __m256 acc = _mm256_setzero_ps();
    const __m256i table = iq4_table();
    for (int64_t b = 0; b < blocks; b++) {
        const uint8_t *block = row + 136 * b;
        __m256i isum = _mm256_setzero_si256();
        for (int s = 0; s < 8; s++) {
            __m256i w = _mm256_shuffle_epi8(table, nibbles_32(block + 8 + 16 * s));
            __m256i x = _mm256_loadu_si256((const __m256i *)(a[b].qs + 32 * s));
            __m256i p = _mm256_maddubs_epi16(_mm256_sign_epi8(w, w), _mm256_sign_epi8(x, w));
            isum = _mm256_add_epi32(isum, _mm256_madd_epi16(p, _mm256_set1_epi16((short)iq4xs_scale(block, s))));
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(half_f16c(block) * a[b].d), _mm256_cvtepi32_ps(isum), acc);
    }
    return sum_f32x8(acc);
}

row_dot_32 longlm_avx2_dot_32(int type) {
    switch (type) {
    case TYPE_Q4_0: return dot_q4_0;
    case TYPE_Q4_1: return dot_q4_1;
    case TYPE_Q5_0: return dot_q5_0;
    case TYPE_Q5_1: return dot_q5_1;
    case TYPE_Q8_0: return dot_q8_0;
    case TYPE_IQ4_NL: return dot_iq4_nl;
    default: return 0;
    }
}

row_dot_256 longlm_avx2_dot_256(int type) {
    switch (type) {
    case TYPE_Q2_K: return dot_q2_K;
    case TYPE_Q3_K: return dot_q3_K;
    case TYPE_Q4_K: return dot_q4_K;
    case TYPE_Q5_K: return dot_q5_K;
    case TYPE_Q6_K: return dot_q6_K;
    case TYPE_IQ4_XS: return dot_iq4_xs;
    default: return 0;
    }
}

#else
row_dot_32 longlm_avx2_dot_32(int type) { (void)type; return 0; }
row_dot_256 longlm_avx2_dot_256(int type) { (void)type; return 0; }
#endif
