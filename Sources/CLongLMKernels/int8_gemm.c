// The int8 GEMM of the fast precision's prefill: many activation vectors times one quantized weight matrix, in
// lane-blocks (docs/kernels.md, "The int8 GEMM").
//
// Every weight type is rewritten, a few rows at a time, as lane-blocks of L weights (32 for the 32-block types, 16
// for the K-quants and IQ4_XS, whose sub-blocks of 32 then span two lanes with the same scale)
//     w[i] = s * (u[i] - o) + t        u[i] an unsigned byte, o the type's integer offset, s and t floats,
// and every activation vector, once per product, as lane-blocks of the same L values
//     x[i] ~ d * q[i]                  q[i] an int8 activation:
//   32-block types: exactly the decode kernels' rounding (llama.cpp's Q8_0 / Q8_1 blocks);
//   256-block types: each 16 values rounded on their own with the Q8_K recipe. The row kernels (and llama.cpp)
//     round 256 values with one scale, so one large value flattens the other 255; a lane scale costs the GEMM
//     nothing. On Gemma 3 this halved the fast prefill's largest logit difference from the exact path
//     (docs/kernels.md, "The int8 GEMM").
// A lane-block's product is then  s * d * I + t * A  with the integer I = sum u q - o sum q, exact in int32, and A
// the activation term a min meets (llama.cpp's f16 d_sum for Q4_1/Q5_1; d * sum q for the K-quants).
// Sixteen lane-blocks make a group; a group is stored transposed (step j, lane k: bytes 4j ..< 4j + 4 of
// lane-block k), so one `vpdpbusd` adds four products into each of 16 lanes, one lane per lane-block, and the
// scales are applied once per 16 lane-blocks instead of once per block.
//
// This file: the panel layouts, the rewriting of each type (portable C, run once per 4 rows per product, so its
// cost is shared by every vector of the batch), the portable reference kernel and the driver.
#pragma clang fp contract(off)
#include <stdlib.h>
#include "kernel_blocks.h"
#include "int8_gemm.h"

/// The lane-block form of a weight type: lane width and integer offset. L = 0 when the type has no GEMM.
typedef struct {
    int lane;       // L: 32 or 16 weights per lane-block
    int offset;     // o
    int has_min;    // whether t is ever nonzero (a type with a min)
    int block;      // the activation block (32 or 256)
    int lanes_per_block;  // lane-blocks per weight block
    int block_bytes;      // bytes per weight block
    int natural_lanes;    // lane-blocks per weight block as the block's own scales come (its sub-blocks)
} gemm_form;

static gemm_form form_of(int type) {
    switch (type) {
    case TYPE_Q4_0: return (gemm_form){32, 8, 0, 32, 1, 18, 1};
    case TYPE_Q4_1: return (gemm_form){32, 0, 1, 32, 1, 20, 1};
    case TYPE_Q5_0: return (gemm_form){32, 16, 0, 32, 1, 22, 1};
    case TYPE_Q5_1: return (gemm_form){32, 0, 1, 32, 1, 24, 1};
    case TYPE_Q8_0: return (gemm_form){32, 128, 0, 32, 1, 34, 1};
    case TYPE_IQ4_NL: return (gemm_form){32, 128, 0, 32, 1, 18, 1};
    case TYPE_Q2_K: return (gemm_form){16, 0, 1, 256, 16, 84, 16};
    case TYPE_Q3_K: return (gemm_form){16, 4, 0, 256, 16, 110, 16};
    case TYPE_Q4_K: return (gemm_form){16, 0, 1, 256, 16, 144, 8};
    case TYPE_Q5_K: return (gemm_form){16, 0, 1, 256, 16, 176, 8};
    case TYPE_Q6_K: return (gemm_form){16, 32, 0, 256, 16, 210, 16};
    case TYPE_IQ4_XS: return (gemm_form){16, 128, 0, 256, 16, 136, 8};
    default: return (gemm_form){0, 0, 0, 0, 0, 0};
    }
}

static int64_t groups_of(gemm_form f, int64_t cols) {
    int64_t lanes = cols / f.lane;
    return (lanes + GEMM_GROUP_LANES - 1) / GEMM_GROUP_LANES;
}

size_t longlm_int8_gemm_panel_bytes(int type, int64_t cols) {
    gemm_form f = form_of(type);
    if (f.lane == 0 || cols <= 0 || cols % f.block != 0) return 0;
    return (size_t)groups_of(f, cols) * gemm_group_bytes(f.lane);
}

/// Stores lane-block `lane` (of L bytes u) into its group, transposed.
static void scatter_lane(uint8_t *panel, int L, int64_t lane, const uint8_t *u) {
    uint8_t *group = panel + (size_t)(lane / GEMM_GROUP_LANES) * gemm_group_bytes(L);
    int k = (int)(lane % GEMM_GROUP_LANES);
    for (int j = 0; j < L / 4; j++) memcpy(group + 64 * j + 4 * k, u + 4 * j, 4);
}

static float *group_floats(uint8_t *panel, int L, int64_t lane, int which) {
    return (float *)gemm_slot(panel + (size_t)(lane / GEMM_GROUP_LANES) * gemm_group_bytes(L), L, which);
}

// ---- Activations ----

int longlm_int8_gemm_activations(longlm_kernel_variant variant, int type, const float *x, int64_t cols, int vectors,
                                 void *panels) {
    gemm_form f = form_of(type);
    size_t bytes = longlm_int8_gemm_panel_bytes(type, cols);
    if (bytes == 0) return -1;
    int L = f.lane;
    int64_t blocks = cols / f.block;
    longlm_q8_32 *rounded = f.block == 32 ? malloc((size_t)blocks * sizeof(longlm_q8_32)) : 0;
    if (f.block == 32 && !rounded) return -1;
    for (int v = 0; v < vectors; v++) {
        uint8_t *panel = (uint8_t *)panels + (size_t)v * bytes;
        memset(panel, 0, bytes);  // lanes past the last lane-block stay zero: q = 0, d = 0, start = 0, A = 0
        if (f.block == 32) {
            longlm_q8_32 *a = rounded;
            longlm_quantize_q8_32(variant, x + (size_t)v * cols, cols, a);
            for (int64_t b = 0; b < blocks; b++) {
                scatter_lane(panel, L, b, (const uint8_t *)a[b].qs);
                group_floats(panel, L, b, GEMM_SCALE)[b % 16] = a[b].d;
                ((int32_t *)group_floats(panel, L, b, GEMM_START))[b % 16] = -f.offset * a[b].sum;
                group_floats(panel, L, b, GEMM_MIN_TERM)[b % 16] = a[b].d_sum;
            }
        } else {
            // The 256-block types: each lane-block of L = 16 values is rounded on its own (scale 1 / m, m = 127 /
            // max |x| over the 16 values: llama.cpp's Q8_K recipe on 16 values instead of 256).
            const float *xv = x + (size_t)v * cols;
            int8_t q[32];
            for (int64_t lane = 0; lane < cols / L; lane++) {
                float amax;
                int32_t sum;
                float multiplier = longlm_round_block_with(variant, xv + L * lane, L, q, &amax, &sum);
                float d = multiplier > 0 ? 1.0f / multiplier : 0.0f;
                scatter_lane(panel, L, lane, (const uint8_t *)q);
                group_floats(panel, L, lane, GEMM_SCALE)[lane % 16] = d;
                ((int32_t *)group_floats(panel, L, lane, GEMM_START))[lane % 16] = -f.offset * sum;
                group_floats(panel, L, lane, GEMM_MIN_TERM)[lane % 16] = d * (float)sum;
            }
        }
    }
    free(rounded);
    return 0;
}

// ---- Weights: one block rewritten as lane-blocks (u, s, t), in the order of the activations it meets ----

static void lanes_q4_0(const uint8_t *block, uint8_t *u, float *s, float *t) {
    for (int j = 0; j < 16; j++) {
        u[j] = block[2 + j] & 0x0F;
        u[j + 16] = block[2 + j] >> 4;
    }
    s[0] = load_half(block);
    t[0] = 0;
}

static void lanes_q4_1(const uint8_t *block, uint8_t *u, float *s, float *t) {
    for (int j = 0; j < 16; j++) {
        u[j] = block[4 + j] & 0x0F;
        u[j + 16] = block[4 + j] >> 4;
    }
    s[0] = load_half(block);
    t[0] = load_half(block + 2);
}

static void lanes_q5(const uint8_t *qh_bytes, const uint8_t *qs, uint8_t *u) {
    uint32_t qh = load_u32(qh_bytes);
    for (int j = 0; j < 16; j++) {
        u[j] = (uint8_t)((qs[j] & 0x0F) | (((qh >> j) & 1) << 4));
        u[j + 16] = (uint8_t)((qs[j] >> 4) | (((qh >> (j + 16)) & 1) << 4));
    }
}

static void lanes_q5_0(const uint8_t *block, uint8_t *u, float *s, float *t) {
    lanes_q5(block + 2, block + 6, u);
    s[0] = load_half(block);
    t[0] = 0;
}

static void lanes_q5_1(const uint8_t *block, uint8_t *u, float *s, float *t) {
    lanes_q5(block + 4, block + 8, u);
    s[0] = load_half(block);
    t[0] = load_half(block + 2);
}

static void lanes_q8_0(const uint8_t *block, uint8_t *u, float *s, float *t) {
    for (int j = 0; j < 32; j++) u[j] = (uint8_t)((int8_t)block[2 + j] + 128);
    s[0] = load_half(block);
    t[0] = 0;
}

static void lanes_iq4_nl(const uint8_t *block, uint8_t *u, float *s, float *t) {
    for (int j = 0; j < 16; j++) {
        u[j] = (uint8_t)(iq4_levels[block[2 + j] & 0x0F] + 128);
        u[j + 16] = (uint8_t)(iq4_levels[block[2 + j] >> 4] + 128);
    }
    s[0] = load_half(block);
    t[0] = 0;
}

static void lanes_q2_K(const uint8_t *block, uint8_t *u, float *s, float *t) {
    float d = load_half(block + 80), dmin = load_half(block + 82);
    for (int h = 0; h < 2; h++)
        for (int j = 0; j < 4; j++)
            for (int k = 0; k < 2; k++) {
                int lane = 8 * h + 2 * j + k;
                for (int l = 0; l < 16; l++) u[16 * lane + l] = (block[16 + 32 * h + 16 * k + l] >> (2 * j)) & 3;
                s[lane] = d * (float)(block[lane] & 0x0F);
                t[lane] = -(dmin * (float)(block[lane] >> 4));
            }
}

static void lanes_q3_K(const uint8_t *block, uint8_t *u, float *s, float *t) {
    float d = load_half(block + 108);
    for (int h = 0; h < 2; h++)
        for (int j = 0; j < 4; j++)
            for (int k = 0; k < 2; k++) {
                int lane = 8 * h + 2 * j + k;
                for (int l = 0; l < 16; l++) {
                    int low = (block[32 + 32 * h + 16 * k + l] >> (2 * j)) & 3;
                    int high = (block[16 * k + l] >> (4 * h + j)) & 1;
                    u[16 * lane + l] = (uint8_t)(low + 4 * high);  // weight low + 4 high - 4
                }
                s[lane] = d * (float)k3_scale(block + 96, lane);
                t[lane] = 0;
            }
}

/// Q4_K / Q5_K: each sub-block's s = d · scale and t = -dmin · min (8 sub-blocks of 32).
static void k4_lane_scales(const uint8_t *block, float *s, float *t) {
    float d = load_half(block), dmin = load_half(block + 2);
    int scales[8], mins[8];
    k4_scales_mins(block + 4, scales, mins);
    for (int j = 0; j < 8; j++) {
        s[j] = d * (float)scales[j];
        t[j] = -(dmin * (float)mins[j]);
    }
}

static void lanes_q4_K(const uint8_t *block, uint8_t *u, float *s, float *t) {
    for (int c = 0; c < 4; c++) {
        for (int l = 0; l < 32; l++) {
            uint8_t q = block[16 + 32 * c + l];
            u[64 * c + l] = q & 0x0F;
            u[64 * c + 32 + l] = q >> 4;
        }
    }
    k4_lane_scales(block, s, t);
}

static void lanes_q5_K(const uint8_t *block, uint8_t *u, float *s, float *t) {
    for (int c = 0; c < 4; c++) {
        for (int l = 0; l < 32; l++) {
            uint8_t q = block[48 + 32 * c + l];
            uint8_t h = block[16 + l] >> (2 * c);
            u[64 * c + l] = (uint8_t)((q & 0x0F) | ((h & 1) << 4));
            u[64 * c + 32 + l] = (uint8_t)((q >> 4) | ((h & 2) << 3));
        }
    }
    k4_lane_scales(block, s, t);
}

static void lanes_q6_K(const uint8_t *block, uint8_t *u, float *s, float *t) {
    float d = load_half(block + 208);
    const int8_t *scales = (const int8_t *)(block + 192);
    for (int half = 0; half < 2; half++) {
        const uint8_t *ql = block + 64 * half, *qh = block + 128 + 32 * half;
        for (int k = 0; k < 4; k++) {
            for (int l = 0; l < 32; l++) {
                int low = k % 2 == 0 ? ql[l] : ql[l + 32];
                int nibble = k < 2 ? (low & 0x0F) : (low >> 4);
                u[128 * half + 32 * k + l] = (uint8_t)(nibble | (((qh[l] >> (2 * k)) & 3) << 4));
            }
        }
    }
    for (int lane = 0; lane < 16; lane++) {
        s[lane] = d * (float)scales[lane];
        t[lane] = 0;
    }
}

static void lanes_iq4_xs(const uint8_t *block, uint8_t *u, float *s, float *t) {
    float d = load_half(block);
    for (int lane = 0; lane < 8; lane++) {
        for (int j = 0; j < 16; j++) {
            uint8_t q = block[8 + 16 * lane + j];
            u[32 * lane + j] = (uint8_t)(iq4_levels[q & 0x0F] + 128);
            u[32 * lane + 16 + j] = (uint8_t)(iq4_levels[q >> 4] + 128);
        }
        s[lane] = d * (float)iq4xs_scale(block, lane);
        t[lane] = 0;
    }
}

typedef void (*block_lanes)(const uint8_t *block, uint8_t *u, float *s, float *t);

static block_lanes lanes_of(int type) {
    switch (type) {
    case TYPE_Q4_0: return lanes_q4_0;
    case TYPE_Q4_1: return lanes_q4_1;
    case TYPE_Q5_0: return lanes_q5_0;
    case TYPE_Q5_1: return lanes_q5_1;
    case TYPE_Q8_0: return lanes_q8_0;
    case TYPE_IQ4_NL: return lanes_iq4_nl;
    case TYPE_Q2_K: return lanes_q2_K;
    case TYPE_Q3_K: return lanes_q3_K;
    case TYPE_Q4_K: return lanes_q4_K;
    case TYPE_Q5_K: return lanes_q5_K;
    case TYPE_Q6_K: return lanes_q6_K;
    case TYPE_IQ4_XS: return lanes_iq4_xs;
    default: return 0;
    }
}

/// Group `g`'s 16 lane-blocks (lane-major in `u`, 16 L bytes) stored transposed into the panel.
static void transpose_group(uint8_t *group, int L, const uint8_t *u) {
    for (int j = 0; j < L / 4; j++)
        for (int k = 0; k < GEMM_GROUP_LANES; k++) memcpy(group + 64 * j + 4 * k, u + L * k + 4 * j, 4);
}

/// One weight row as a panel (the same group layout as an activation panel; the float slots hold s and t).
/// Padding lanes past the row's last lane-block have u = 0, s = 0, t = 0.
static void weight_panel(int type, gemm_form f, const uint8_t *row, int64_t cols, uint8_t *panel) {
    block_lanes lanes = lanes_of(type);
    const int L = f.lane;
    const int64_t lane_count = cols / L, groups = groups_of(f, cols);
    const int blocks_per_group = GEMM_GROUP_LANES / f.lanes_per_block;  // 16 (32-blocks), 1 or 2 (256-blocks)
    uint8_t u[GEMM_GROUP_LANES * 32];
    float s[GEMM_GROUP_LANES], t[GEMM_GROUP_LANES];
    for (int64_t g = 0; g < groups; g++) {
        int64_t first = g * GEMM_GROUP_LANES;
        int present = (int)(lane_count - first < GEMM_GROUP_LANES ? lane_count - first : GEMM_GROUP_LANES);
        if (present < GEMM_GROUP_LANES) {
            memset(u, 0, sizeof u);
            memset(s, 0, sizeof s);
            memset(t, 0, sizeof t);
        }
        for (int b = 0; b < blocks_per_group && b * f.lanes_per_block < present; b++) {
            int64_t block = first / f.lanes_per_block + b;
            float natural_s[16], natural_t[16];
            lanes(row + (size_t)block * f.block_bytes, u + L * f.lanes_per_block * b, natural_s, natural_t);
            // A sub-block wider than L spreads over several lanes, each with the sub-block's scale and min.
            int per = f.lanes_per_block / f.natural_lanes;
            for (int l = 0; l < f.lanes_per_block; l++) {
                s[f.lanes_per_block * b + l] = natural_s[l / per];
                t[f.lanes_per_block * b + l] = natural_t[l / per];
            }
        }
        uint8_t *group = panel + (size_t)g * gemm_group_bytes(L);
        transpose_group(group, L, u);
        memcpy(gemm_slot(group, L, GEMM_SCALE), s, 64);
        memset(gemm_slot(group, L, GEMM_START), 0, 64);
        memcpy(gemm_slot(group, L, GEMM_MIN_TERM), t, 64);
    }
}

// ---- The portable tile: the reference the AVX-512 tile is tested against, and the arithmetic it follows ----

static void tile_portable(const uint8_t *const *w, const uint8_t *const *a, int64_t groups, int L, int has_min,
                          float out[GEMM_TILE_VECTORS][GEMM_TILE_ROWS]) {
    size_t group_bytes = gemm_group_bytes(L);
    for (int r = 0; r < GEMM_TILE_ROWS; r++) {
        for (int c = 0; c < GEMM_TILE_VECTORS; c++) {
            float lanes_sum[16] = {0};
            for (int64_t g = 0; g < groups; g++) {
                const uint8_t *wg = w[r] + g * group_bytes, *ag = a[c] + g * group_bytes;
                const float *ws = (const float *)gemm_slot(wg, L, GEMM_SCALE), *wt = (const float *)gemm_slot(wg, L, GEMM_MIN_TERM);
                const float *ad = (const float *)gemm_slot(ag, L, GEMM_SCALE), *am = (const float *)gemm_slot(ag, L, GEMM_MIN_TERM);
                const int32_t *start = (const int32_t *)gemm_slot(ag, L, GEMM_START);
                for (int k = 0; k < 16; k++) {
                    int32_t sum = start[k];
                    for (int j = 0; j < L / 4; j++)
                        for (int i = 0; i < 4; i++) sum += wg[64 * j + 4 * k + i] * (int8_t)ag[64 * j + 4 * k + i];
                    lanes_sum[k] += (float)sum * (ws[k] * ad[k]);
                    if (has_min) lanes_sum[k] += wt[k] * am[k];
                }
            }
            float total = 0;
            for (int k = 0; k < 16; k++) total += lanes_sum[k];
            out[c][r] = total;
        }
    }
}

int longlm_int8_gemm_available(longlm_kernel_variant variant) {
    if (variant == LONGLM_KERNELS_PORTABLE) return 1;
    return variant == LONGLM_KERNELS_AVX512VNNI && longlm_kernels_compiled(variant);
}

int longlm_int8_gemm(longlm_kernel_variant variant, int type, const void *weights, size_t row_bytes,
                     int64_t row_begin, int64_t row_end, int64_t cols, const void *panels, int vectors, float *y,
                     int64_t y_stride) {
    if (!longlm_int8_gemm_available(variant)) return -1;
    gemm_form f = form_of(type);
    size_t bytes = longlm_int8_gemm_panel_bytes(type, cols);
    if (bytes == 0) return -1;
    gemm_tile tile = tile_portable;
#if defined(__x86_64__)
    if (variant == LONGLM_KERNELS_AVX512VNNI) tile = longlm_avx512vnni_gemm_tile;
#endif
    int64_t groups = groups_of(f, cols);
    // Panels of GEMM_PANEL_ROWS rows at a time, so each vector's panel is read once per that many rows.
    uint8_t *wpanels = aligned_alloc(64, bytes * GEMM_PANEL_ROWS);
    if (!wpanels) return -1;
    const uint8_t *a0 = panels;
    for (int64_t r0 = row_begin; r0 < row_end; r0 += GEMM_PANEL_ROWS) {
        int rows = (int)(row_end - r0 < GEMM_PANEL_ROWS ? row_end - r0 : GEMM_PANEL_ROWS);
        for (int r = 0; r < rows; r++)
            weight_panel(type, f, (const uint8_t *)weights + (size_t)(r0 + r) * row_bytes, cols, wpanels + bytes * r);
        for (int v0 = 0; v0 < vectors; v0 += GEMM_TILE_VECTORS) {
            const uint8_t *a[GEMM_TILE_VECTORS];
            for (int c = 0; c < GEMM_TILE_VECTORS; c++) a[c] = a0 + bytes * (size_t)(v0 + c < vectors ? v0 + c : vectors - 1);
            for (int t0 = 0; t0 < rows; t0 += GEMM_TILE_ROWS) {
                const uint8_t *w[GEMM_TILE_ROWS];
                for (int r = 0; r < GEMM_TILE_ROWS; r++) w[r] = wpanels + bytes * (size_t)(t0 + r < rows ? t0 + r : rows - 1);
                float out[GEMM_TILE_VECTORS][GEMM_TILE_ROWS];
                tile(w, a, groups, f.lane, f.has_min, out);
                const int tile_rows = rows - t0 < GEMM_TILE_ROWS ? rows - t0 : GEMM_TILE_ROWS;
                for (int c = 0; c < GEMM_TILE_VECTORS && v0 + c < vectors; c++)
                    memcpy(y + (int64_t)(v0 + c) * y_stride + r0 + t0, out[c], sizeof(float) * (size_t)tile_rows);
            }
        }
    }
    free(wpanels);
    return 0;
}
