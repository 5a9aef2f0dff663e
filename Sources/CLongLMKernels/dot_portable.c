// The portable variant: plain C, one weight at a time, integer sums per (sub-)block. It is also the reference
// the other variants are tested against (same integers; only the order of the float sums differs).
#include "kernel_blocks.h"

static float dot_q4_0(const uint8_t *row, const longlm_q8_32 *a, int64_t blocks) {
    float sum = 0;
    for (int64_t b = 0; b < blocks; b++) {
        const uint8_t *block = row + 18 * b;
        int32_t s = 0;
        for (int j = 0; j < 16; j++) {
            s += ((block[2 + j] & 0x0F) - 8) * a[b].qs[j] + ((block[2 + j] >> 4) - 8) * a[b].qs[j + 16];
        }
        sum += load_half(block) * a[b].d * (float)s;
    }
    return sum;
}

static float dot_q4_1(const uint8_t *row, const longlm_q8_32 *a, int64_t blocks) {
    float sum = 0;
    for (int64_t b = 0; b < blocks; b++) {
        const uint8_t *block = row + 20 * b;
        int32_t s = 0;
        for (int j = 0; j < 16; j++) {
            s += (block[4 + j] & 0x0F) * a[b].qs[j] + (block[4 + j] >> 4) * a[b].qs[j + 16];
        }
        sum += load_half(block) * a[b].d * (float)s + load_half(block + 2) * a[b].d_sum;
    }
    return sum;
}

static float dot_q5_0(const uint8_t *row, const longlm_q8_32 *a, int64_t blocks) {
    float sum = 0;
    for (int64_t b = 0; b < blocks; b++) {
        const uint8_t *block = row + 22 * b;
        uint32_t qh = load_u32(block + 2);
        int32_t s = 0;
        for (int j = 0; j < 16; j++) {
            int low = (block[6 + j] & 0x0F) | (((qh >> j) & 1) << 4);
            int high = (block[6 + j] >> 4) | (((qh >> (j + 16)) & 1) << 4);
            s += (low - 16) * a[b].qs[j] + (high - 16) * a[b].qs[j + 16];
        }
        sum += load_half(block) * a[b].d * (float)s;
    }
    return sum;
}

static float dot_q5_1(const uint8_t *row, const longlm_q8_32 *a, int64_t blocks) {
    float sum = 0;
    for (int64_t b = 0; b < blocks; b++) {
        const uint8_t *block = row + 24 * b;
        uint32_t qh = load_u32(block + 4);
        int32_t s = 0;
        for (int j = 0; j < 16; j++) {
            int low = (block[8 + j] & 0x0F) | (((qh >> j) & 1) << 4);
            int high = (block[8 + j] >> 4) | (((qh >> (j + 16)) & 1) << 4);
            s += low * a[b].qs[j] + high * a[b].qs[j + 16];
        }
        sum += load_half(block) * a[b].d * (float)s + load_half(block + 2) * a[b].d_sum;
    }
    return sum;
}

static float dot_q8_0(const uint8_t *row, const longlm_q8_32 *a, int64_t blocks) {
    float sum = 0;
    for (int64_t b = 0; b < blocks; b++) {
        const uint8_t *block = row + 34 * b;
        int32_t s = 0;
        for (int j = 0; j < 32; j++) s += (int8_t)block[2 + j] * a[b].qs[j];
        sum += load_half(block) * a[b].d * (float)s;
    }
    return sum;
}

static float dot_iq4_nl(const uint8_t *row, const longlm_q8_32 *a, int64_t blocks) {
    float sum = 0;
    for (int64_t b = 0; b < blocks; b++) {
        const uint8_t *block = row + 18 * b;
        int32_t s = 0;
        for (int j = 0; j < 16; j++) {
            s += iq4_levels[block[2 + j] & 0x0F] * a[b].qs[j] + iq4_levels[block[2 + j] >> 4] * a[b].qs[j + 16];
        }
        sum += load_half(block) * a[b].d * (float)s;
    }
    return sum;
}

static float dot_q2_K(const uint8_t *row, const longlm_q8_256 *a, int64_t blocks) {
    float sum = 0;
    for (int64_t b = 0; b < blocks; b++) {
        const uint8_t *block = row + 84 * b;
        const int8_t *x = a[b].qs;
        int32_t isum = 0, msum = 0;
        for (int h = 0; h < 2; h++) {
            for (int j = 0; j < 4; j++) {
                for (int k = 0; k < 2; k++) {
                    int s = 8 * h + 2 * j + k;
                    int32_t dot = 0;
                    for (int l = 0; l < 16; l++) {
                        int q = (block[16 + 32 * h + 16 * k + l] >> (2 * j)) & 3;
                        dot += q * x[16 * s + l];
                    }
                    isum += (block[s] & 0x0F) * dot;
                    msum += (block[s] >> 4) * a[b].bsums[s];
                }
            }
        }
        sum += load_half(block + 80) * a[b].d * (float)isum - load_half(block + 82) * a[b].d * (float)msum;
    }
    return sum;
}

static float dot_q3_K(const uint8_t *row, const longlm_q8_256 *a, int64_t blocks) {
    float sum = 0;
    for (int64_t b = 0; b < blocks; b++) {
        const uint8_t *block = row + 110 * b;
        const int8_t *x = a[b].qs;
        int32_t isum = 0;
        for (int h = 0; h < 2; h++) {
            for (int j = 0; j < 4; j++) {
                for (int k = 0; k < 2; k++) {
                    int s = 8 * h + 2 * j + k;
                    int32_t dot = 0;
                    for (int l = 0; l < 16; l++) {
                        int low = (block[32 + 32 * h + 16 * k + l] >> (2 * j)) & 3;
                        int high = (block[16 * k + l] >> (4 * h + j)) & 1;
                        dot += (high ? low : low - 4) * x[16 * s + l];
                    }
                    isum += k3_scale(block + 96, s) * dot;
                }
            }
        }
        sum += load_half(block + 108) * a[b].d * (float)isum;
    }
    return sum;
}

static float dot_q4_K(const uint8_t *row, const longlm_q8_256 *a, int64_t blocks) {
    float sum = 0;
    for (int64_t b = 0; b < blocks; b++) {
        const uint8_t *block = row + 144 * b;
        const int8_t *x = a[b].qs;
        int scales[8], mins[8];
        k4_scales_mins(block + 4, scales, mins);
        int32_t isum = 0, msum = k4_min_sum(mins, a[b].bsums);
        for (int c = 0; c < 4; c++) {
            int sc1 = scales[2 * c], sc2 = scales[2 * c + 1];
            int32_t dot1 = 0, dot2 = 0;
            for (int l = 0; l < 32; l++) {
                uint8_t q = block[16 + 32 * c + l];
                dot1 += (q & 0x0F) * x[64 * c + l];
                dot2 += (q >> 4) * x[64 * c + 32 + l];
            }
            isum += sc1 * dot1 + sc2 * dot2;
        }
        sum += load_half(block) * a[b].d * (float)isum - load_half(block + 2) * a[b].d * (float)msum;
    }
    return sum;
}

static float dot_q5_K(const uint8_t *row, const longlm_q8_256 *a, int64_t blocks) {
    float sum = 0;
    for (int64_t b = 0; b < blocks; b++) {
        const uint8_t *block = row + 176 * b;
        const int8_t *x = a[b].qs;
        int scales[8], mins[8];
        k4_scales_mins(block + 4, scales, mins);
        int32_t isum = 0, msum = k4_min_sum(mins, a[b].bsums);
        for (int c = 0; c < 4; c++) {
            int sc1 = scales[2 * c], sc2 = scales[2 * c + 1];
            int32_t dot1 = 0, dot2 = 0;
            for (int l = 0; l < 32; l++) {
                uint8_t q = block[48 + 32 * c + l];
                uint8_t h = block[16 + l] >> (2 * c);
                dot1 += ((q & 0x0F) | ((h & 1) << 4)) * x[64 * c + l];
                dot2 += ((q >> 4) | ((h & 2) << 3)) * x[64 * c + 32 + l];
            }
            isum += sc1 * dot1 + sc2 * dot2;
        }
        sum += load_half(block) * a[b].d * (float)isum - load_half(block + 2) * a[b].d * (float)msum;
    }
    return sum;
}

static float dot_q6_K(const uint8_t *row, const longlm_q8_256 *a, int64_t blocks) {
    float sum = 0;
    for (int64_t b = 0; b < blocks; b++) {
        const uint8_t *block = row + 210 * b;
        const int8_t *x = a[b].qs;
        const int8_t *scales = (const int8_t *)(block + 192);
        int32_t isum = 0;
        for (int half = 0; half < 2; half++) {
            const uint8_t *ql = block + 64 * half, *qh = block + 128 + 32 * half;
            for (int k = 0; k < 4; k++) {
                for (int g = 0; g < 2; g++) {
                    int32_t dot = 0;
                    for (int l = 16 * g; l < 16 * g + 16; l++) {
                        int low = k % 2 == 0 ? ql[l] : ql[l + 32];
                        int nibble = k < 2 ? (low & 0x0F) : (low >> 4);
                        int q = nibble | (((qh[l] >> (2 * k)) & 3) << 4);
                        dot += (q - 32) * x[128 * half + 32 * k + l];
                    }
                    isum += scales[8 * half + 2 * k + g] * dot;
                }
            }
        }
        sum += load_half(block + 208) * a[b].d * (float)isum;
    }
    return sum;
}

static float dot_iq4_xs(const uint8_t *row, const longlm_q8_256 *a, int64_t blocks) {
    float sum = 0;
    for (int64_t b = 0; b < blocks; b++) {
        const uint8_t *block = row + 136 * b;
        const int8_t *x = a[b].qs;
        int32_t isum = 0;
        for (int s = 0; s < 8; s++) {
            int32_t dot = 0;
            for (int j = 0; j < 16; j++) {
                uint8_t q = block[8 + 16 * s + j];
                dot += iq4_levels[q & 0x0F] * x[32 * s + j] + iq4_levels[q >> 4] * x[32 * s + 16 + j];
            }
            isum += iq4xs_scale(block, s) * dot;
        }
        sum += load_half(block) * a[b].d * (float)isum;
    }
    return sum;
}

row_dot_32 longlm_portable_dot_32(int type) {
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

row_dot_256 longlm_portable_dot_256(int type) {
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
