// The AVX-512 VNNI variant (x86-64-v4 plus VNNI: AVX-512 F/BW/VL/DQ and `vpdpbusd`, with AVX2, FMA and F16C).
// Each function carries its own target attribute; the caller runs them only where CPUFeatures says the CPU has
// these features *and* the OS saves the 512-bit registers.
//
// 32-weight blocks, two per 512-bit register. `vpdpbusd` multiplies unsigned weight bytes by signed activation
// bytes and adds each group of four products into an int32 lane, with no intermediate 16-bit sums (so no
// saturation and no sign trick). Every weight type is therefore multiplied as unsigned bytes:
//   Q4_0  q in 0..15, weight q - 8         Q5_0  q in 0..31, weight q - 16
//   Q8_0  w in -128..127, as w + 128       IQ4_NL level in -127..113, as level + 128
// and the offset comes back exactly, in integers: dot(q - c, x) = dot(q, x) - c * sum(x), where sum(x) is the
// activation block's stored sum. The lane sums start from -c * sum(x) (one lane per block), so the int32 total of
// each block is exact before it is converted to float, as in the AVX2 variant.
//
// Q4_1 and Q5_1 keep the AVX2 functions: their weights are unsigned already, so AVX2 needs no sign trick for
// them, and two blocks per 512-bit register measured 4-16% slower than AVX2's one block per 256-bit register
// (`bench-kernels`, docs/performance.md). For the four types above it measured 4-15% faster.
//
// 256-weight super-blocks (the K-quants and IQ4_XS) multiply each 32-weight sub-block by its own small integer
// scale; `vpmaddubsw` + `vpmaddwd` with the scale already does that in two instructions per 32 weights, as
// `vpdpbusd` plus a scaling multiply would, so this variant keeps the AVX2 functions for them (a VNNI form of
// them has not been written or measured).
#include "kernel_blocks.h"

#if defined(__x86_64__)
#include <immintrin.h>

#define VNNI __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,avx2,fma,f16c")))
#define VNNI_INLINE static inline __attribute__((always_inline)) VNNI

VNNI_INLINE float half_f16c(const uint8_t *p) {
    uint16_t h;
    memcpy(&h, p, 2);
    return _cvtsh_ss(h);
}

/// The 16 IQ4 levels plus 128, as unsigned bytes, in both 128-bit lanes.
VNNI_INLINE __m256i iq4_unsigned_table(void) {
    __m128i t = _mm_xor_si128(_mm_loadu_si128((const __m128i *)iq4_levels), _mm_set1_epi8((char)0x80));
    return _mm256_set_m128i(t, t);
}

enum block_kind { KIND_Q4_0, KIND_Q5_0, KIND_Q8_0, KIND_IQ4_NL };

/// Bytes per block, and the offset c of the weight as stored unsigned (weight = stored - c).
VNNI_INLINE int block_bytes(enum block_kind kind) {
    switch (kind) {
    case KIND_Q4_0: return 18;
    case KIND_Q5_0: return 22;
    case KIND_Q8_0: return 34;
    case KIND_IQ4_NL: return 18;
    }
    return 0;
}

VNNI_INLINE int block_offset(enum block_kind kind) {
    switch (kind) {
    case KIND_Q4_0: return 8;
    case KIND_Q5_0: return 16;
    case KIND_Q8_0: return 128;
    case KIND_IQ4_NL: return 128;
    }
    return 0;
}

/// 16 bytes to 32: low nibbles (weights 0..15), then high nibbles (weights 16..31), each 0..15.
VNNI_INLINE __m256i nibbles_32(const uint8_t *p) {
    __m128i q = _mm_loadu_si128((const __m128i *)p);
    __m128i mask = _mm_set1_epi8(0x0F);
    return _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(q, 4), mask), _mm_and_si128(q, mask));
}

/// Adds 16 to byte j where bit j of the 32 high bits at `p` is set (Q5_0).
VNNI_INLINE __m256i with_fifth_bits(__m256i low, const uint8_t *p) {
    return _mm256_mask_add_epi8(low, (__mmask32)load_u32(p), low, _mm256_set1_epi8(16));
}

/// The 32 weights of a block as unsigned bytes (stored value plus the type's offset).
VNNI_INLINE __m256i unsigned_weights(enum block_kind kind, const uint8_t *block, __m256i iq4_table) {
    switch (kind) {
    case KIND_Q4_0: return nibbles_32(block + 2);
    case KIND_Q5_0: return with_fifth_bits(nibbles_32(block + 6), block + 2);
    case KIND_Q8_0: return _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)(block + 2)), _mm256_set1_epi8((char)0x80));
    case KIND_IQ4_NL: return _mm256_shuffle_epi8(iq4_table, nibbles_32(block + 2));
    }
    return _mm256_setzero_si256();
}

/// acc + (d_w d_x of block 0 in lanes 0-7, of block 1 in lanes 8-15) times the int32 lanes of
/// dot(weights, x) - offset * sum(x). `second` is 0 for a lone last block (its half of the register is zero).
VNNI_INLINE __m512 pair_term(enum block_kind kind, const uint8_t *b0, const longlm_q8_32 *a0, int second,
                             __m256i iq4_table, __m512 acc) {
    const uint8_t *b1 = b0 + block_bytes(kind);
    const longlm_q8_32 *a1 = a0 + 1;
    __m256i w0 = unsigned_weights(kind, b0, iq4_table);
    __m256i w1 = second ? unsigned_weights(kind, b1, iq4_table) : _mm256_setzero_si256();
    __m256i x0 = _mm256_loadu_si256((const __m256i *)a0->qs);
    __m256i x1 = second ? _mm256_loadu_si256((const __m256i *)a1->qs) : _mm256_setzero_si256();
    int offset = block_offset(kind);
    __m512i start = _mm512_setzero_si512();
    if (offset) {
        start = _mm512_maskz_set1_epi32(0x0001, -offset * a0->sum);
        if (second) start = _mm512_mask_set1_epi32(start, 0x0100, -offset * a1->sum);
    }
    __m512i w = _mm512_inserti64x4(_mm512_castsi256_si512(w0), w1, 1);
    __m512i x = _mm512_inserti64x4(_mm512_castsi256_si512(x0), x1, 1);
    __m512i p = _mm512_dpbusd_epi32(start, w, x);
    float s0 = half_f16c(b0) * a0->d;
    float s1 = second ? half_f16c(b1) * a1->d : 0.0f;
    __m512 scales = _mm512_insertf32x8(_mm512_set1_ps(s0), _mm256_set1_ps(s1), 1);
    return _mm512_fmadd_ps(scales, _mm512_cvtepi32_ps(p), acc);
}

/// One row: four blocks per iteration into two accumulators (one waited on the previous pair's fused
/// multiply-add), then a pair, then a lone block.
VNNI_INLINE float dot_32(enum block_kind kind, const uint8_t *row, const longlm_q8_32 *a, int64_t blocks) {
    const int bytes = block_bytes(kind);
    const __m256i table = kind == KIND_IQ4_NL ? iq4_unsigned_table() : _mm256_setzero_si256();
    __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
    int64_t b = 0;
    for (; b + 4 <= blocks; b += 4) {
        const uint8_t *p = row + (size_t)bytes * b;
        acc0 = pair_term(kind, p, a + b, 1, table, acc0);
        acc1 = pair_term(kind, p + 2 * bytes, a + b + 2, 1, table, acc1);
    }
    for (; b < blocks; b += 2) acc0 = pair_term(kind, row + (size_t)bytes * b, a + b, b + 1 < blocks, table, acc0);
    return _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1));
}

static VNNI float dot_q4_0(const uint8_t *row, const longlm_q8_32 *a, int64_t blocks) { return dot_32(KIND_Q4_0, row, a, blocks); }
static VNNI float dot_q5_0(const uint8_t *row, const longlm_q8_32 *a, int64_t blocks) { return dot_32(KIND_Q5_0, row, a, blocks); }
static VNNI float dot_q8_0(const uint8_t *row, const longlm_q8_32 *a, int64_t blocks) { return dot_32(KIND_Q8_0, row, a, blocks); }
static VNNI float dot_iq4_nl(const uint8_t *row, const longlm_q8_32 *a, int64_t blocks) { return dot_32(KIND_IQ4_NL, row, a, blocks); }

row_dot_32 longlm_avx512vnni_dot_32(int type) {
    switch (type) {
    case TYPE_Q4_0: return dot_q4_0;
    case TYPE_Q5_0: return dot_q5_0;
    case TYPE_Q8_0: return dot_q8_0;
    case TYPE_IQ4_NL: return dot_iq4_nl;
    default: return longlm_avx2_dot_32(type);
    }
}

row_dot_256 longlm_avx512vnni_dot_256(int type) { return longlm_avx2_dot_256(type); }

#else
row_dot_32 longlm_avx512vnni_dot_32(int type) { (void)type; return 0; }
row_dot_256 longlm_avx512vnni_dot_256(int type) { (void)type; return 0; }
#endif
