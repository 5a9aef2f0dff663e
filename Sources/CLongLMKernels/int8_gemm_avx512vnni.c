// The int8 GEMM's register tile on AVX-512 VNNI: 4 weight rows by 4 activation vectors (layout: int8_gemm.h).
// Per group and pair, L / 4 `vpdpbusd` add four u * q products into each of 16 int32 lanes (one lane per
// lane-block), starting from the activation's -o * sum; then the 16 exact lane sums are converted to float and
// added with their scale s * d (and t * A for types with a min): one conversion, one multiply and one or two
// multiply-adds per 16 lane-blocks, where a row-by-row product pays them per block.
#include "int8_gemm.h"

#if defined(__x86_64__)
#include <immintrin.h>

#define VNNI __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni")))

static inline __attribute__((always_inline)) VNNI void
tile_lanes(const uint8_t *const *w, const uint8_t *const *a, int64_t groups, const int L, const int has_min,
           float out[GEMM_TILE_ROWS][GEMM_TILE_VECTORS]) {
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
    for (int r = 0; r < GEMM_TILE_ROWS; r++)
        for (int c = 0; c < GEMM_TILE_VECTORS; c++) out[r][c] = _mm512_reduce_add_ps(sums[r][c]);
}

VNNI void longlm_avx512vnni_gemm_tile(const uint8_t *const *w, const uint8_t *const *a, int64_t groups, int lane,
                                      int has_min, float out[GEMM_TILE_ROWS][GEMM_TILE_VECTORS]) {
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
