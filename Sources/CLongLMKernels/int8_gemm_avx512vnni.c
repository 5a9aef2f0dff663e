// The int8 GEMM's register tile on AVX-512 VNNI: 4 weight rows by 4 activation vectors (layout: int8_gemm.h).
// Per group and pair, L / 4 `vpdpbusd` add four u * q products into each of 16 int32 lanes (one lane per
// lane-block), starting from the activation's -o * sum; then the 16 exact lane sums are converted to float and
// added with their scale s * d (and t * A for types with a min): one conversion, one multiply and one or two
// multiply-adds per 16 lane-blocks, where a row-by-row product pays them per block.
#include "int8_gemm.h"

#if defined(__x86_64__)
#include <immintrin.h>

#define VNNI __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni")))

/// The 16 sums of sums[r][c] (each over its 16 lanes) in one vector, lane 4c + r: four levels of pairwise
/// shuffles and adds (15 adds) instead of 16 separate horizontal reductions.
static inline __attribute__((always_inline)) VNNI __m512 sum_lanes(__m512 sums[GEMM_TILE_ROWS][GEMM_TILE_VECTORS]) {
    __m512 v[16], s[8], t[4], u[2];
    for (int r = 0; r < 4; r++)
        for (int c = 0; c < 4; c++) v[4 * r + c] = sums[r][c];
    // s[i]: lanes 0-7 partial sums of v[2i], lanes 8-15 of v[2i + 1].
    for (int i = 0; i < 8; i++)
        s[i] = _mm512_add_ps(_mm512_shuffle_f32x4(v[2 * i], v[2 * i + 1], 0x44), _mm512_shuffle_f32x4(v[2 * i], v[2 * i + 1], 0xEE));
    // t[j]: quarter q holds 4 partial sums of v[4j + q].
    for (int j = 0; j < 4; j++)
        t[j] = _mm512_add_ps(_mm512_shuffle_f32x4(s[2 * j], s[2 * j + 1], 0x88), _mm512_shuffle_f32x4(s[2 * j], s[2 * j + 1], 0xDD));
    // u[k]: in quarter q, elements 0-1 partial sums of v[8k + q], elements 2-3 of v[8k + 4 + q].
    for (int k = 0; k < 2; k++)
        u[k] = _mm512_add_ps(_mm512_shuffle_ps(t[2 * k], t[2 * k + 1], 0x44), _mm512_shuffle_ps(t[2 * k], t[2 * k + 1], 0xEE));
    // Quarter q, element e: the sum of v[q + 4e] = sums[e][q], i.e. lane 4c + r holds sums[r][c].
    return _mm512_add_ps(_mm512_shuffle_ps(u[0], u[1], 0x88), _mm512_shuffle_ps(u[0], u[1], 0xDD));
}

static inline __attribute__((always_inline)) VNNI void
tile_lanes(const uint8_t *const *w, const uint8_t *const *a, int64_t groups, const int L, const int has_min,
           float out[GEMM_TILE_VECTORS][GEMM_TILE_ROWS]) {
    const size_t group_bytes = gemm_group_bytes(L);
    __m512 sums[GEMM_TILE_ROWS][GEMM_TILE_VECTORS];
    for (int r = 0; r < GEMM_TILE_ROWS; r++)
        for (int c = 0; c < GEMM_TILE_VECTORS; c++) sums[r][c] = _mm512_setzero_ps();
    for (int64_t g = 0; g < groups; g++) {
        const size_t at = (size_t)g * group_bytes;
        __m512i acc[GEMM_TILE_ROWS][GEMM_TILE_VECTORS];
        for (int c = 0; c < GEMM_TILE_VECTORS; c++) {
            __m512i start = _mm512_loadu_si512(gemm_slot(a[c] + at, L, GEMM_START));
            for (int r = 0; r < GEMM_TILE_ROWS; r++) acc[r][c] = start;
        }
        for (int j = 0; j < L / 4; j++) {
            __m512i wv[GEMM_TILE_ROWS], av[GEMM_TILE_VECTORS];
            for (int r = 0; r < GEMM_TILE_ROWS; r++) wv[r] = _mm512_loadu_si512(w[r] + at + 64 * j);
            for (int c = 0; c < GEMM_TILE_VECTORS; c++) av[c] = _mm512_loadu_si512(a[c] + at + 64 * j);
            for (int r = 0; r < GEMM_TILE_ROWS; r++)
                for (int c = 0; c < GEMM_TILE_VECTORS; c++) acc[r][c] = _mm512_dpbusd_epi32(acc[r][c], wv[r], av[c]);
        }
        for (int r = 0; r < GEMM_TILE_ROWS; r++) {
            __m512 s = _mm512_loadu_ps(gemm_slot(w[r] + at, L, GEMM_SCALE));
            for (int c = 0; c < GEMM_TILE_VECTORS; c++) {
                __m512 d = _mm512_loadu_ps(gemm_slot(a[c] + at, L, GEMM_SCALE));
                sums[r][c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(acc[r][c]), _mm512_mul_ps(s, d), sums[r][c]);
            }
            if (has_min) {
                __m512 t = _mm512_loadu_ps(gemm_slot(w[r] + at, L, GEMM_MIN_TERM));
                for (int c = 0; c < GEMM_TILE_VECTORS; c++) {
                    __m512 m = _mm512_loadu_ps(gemm_slot(a[c] + at, L, GEMM_MIN_TERM));
                    sums[r][c] = _mm512_fmadd_ps(t, m, sums[r][c]);
                }
            }
        }
    }
    _mm512_storeu_ps(&out[0][0], sum_lanes(sums));
}

VNNI void longlm_avx512vnni_gemm_tile(const uint8_t *const *w, const uint8_t *const *a, int64_t groups, int lane,
                                      int has_min, float out[GEMM_TILE_VECTORS][GEMM_TILE_ROWS]) {
    // One instance per lane width and min, so the loops above unroll with constant bounds.
    if (lane == 32) {
        if (has_min) tile_lanes(w, a, groups, 32, 1, out);
        else tile_lanes(w, a, groups, 32, 0, out);
    } else {
        if (has_min) tile_lanes(w, a, groups, 16, 1, out);
        else tile_lanes(w, a, groups, 16, 0, out);
    }
}
#endif
