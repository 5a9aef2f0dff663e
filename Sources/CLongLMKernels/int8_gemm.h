#pragma once
// The int8 GEMM's panel layout, shared by its driver (int8_gemm.c) and the AVX-512 tile (int8_gemm_avx512vnni.c).
// A panel is a row of weights (or one activation vector) as groups of 16 lane-blocks of L weights:
//   bytes 0 ..< 16 L        step j (0 ..< L / 4), lane k (0 ..< 16): bytes 4j ..< 4j + 4 of lane-block k
//   then three slots of 16 four-byte values, one per lane:
//     GEMM_SCALE     f32   weights: s; activations: d
//     GEMM_START     int32 activations: -o * sum q (the integer offset taken back); unused in weight panels
//     GEMM_MIN_TERM  f32   weights: t; activations: A, the term a min multiplies
#include <stddef.h>
#include <stdint.h>

enum { GEMM_GROUP_LANES = 16, GEMM_SCALE = 0, GEMM_START = 1, GEMM_MIN_TERM = 2 };
enum { GEMM_TILE_ROWS = 4, GEMM_TILE_VECTORS = 4, GEMM_PANEL_ROWS = 16 };

static inline size_t gemm_group_bytes(int lane) { return (size_t)16 * lane + 3 * 64; }

/// The 16 four-byte values of slot `which` (GEMM_SCALE, GEMM_START, GEMM_MIN_TERM) of the group at `group`.
static inline void *gemm_slot(const uint8_t *group, int lane, int which) { return (void *)(group + 16 * lane + 64 * which); }

/// out[c][r] = the products of weight panels w[r] with activation panels a[c] over `groups` groups (vector-major,
/// so each vector's 4 rows are adjacent, as in the output).
typedef void (*gemm_tile)(const uint8_t *const *w, const uint8_t *const *a, int64_t groups, int lane, int has_min,
                          float out[GEMM_TILE_VECTORS][GEMM_TILE_ROWS]);

void longlm_avx512vnni_gemm_tile(const uint8_t *const *w, const uint8_t *const *a, int64_t groups, int lane,
                                 int has_min, float out[GEMM_TILE_VECTORS][GEMM_TILE_ROWS]);
