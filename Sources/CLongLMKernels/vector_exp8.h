#pragma once
// exp on eight f32 lanes, shared by the softmax rows and the activation rows.
//
// exp(x) = 2^n * exp(r), n = round(x / ln 2), r = x - n ln 2 split Cody-Waite style into a high and a low part,
// exp(r) by its Taylor series to r^7/7! (|r| <= ln2/2, relative error below 2e-7). Inputs below -87.3 (masked
// -inf included) give exactly 0; inputs above 88.7 give exp(88.7). Every operation is rounded separately (the
// including file turns off contraction), so every variant returns the same bits.
#include "vector8.h"

typedef int32_t i32x8 __attribute__((ext_vector_type(8)));

/// mask ? a : b, lane by lane (mask lanes are all ones or all zeros).
INLINE f32x8 select8(i32x8 mask, f32x8 a, f32x8 b) {
    return (f32x8)((mask & (i32x8)a) | (~mask & (i32x8)b));
}

INLINE f32x8 exp8(f32x8 x) {
    const float log2e = 1.4426950408889634f;
    const float ln2_high = 0.693145751953125f, ln2_low = 1.428606765330187e-06f;
    // Adding 1.5 * 2^23 rounds to the nearest integer and leaves it in the low mantissa bits.
    const float magic = 12582912.0f;
    f32x8 clamped = select8(x > 88.7f, (f32x8)88.7f, x);
    clamped = select8(x < -87.3f, (f32x8)-87.3f, clamped);
    f32x8 shifted = clamped * log2e + magic;
    f32x8 n = shifted - magic;
    f32x8 r = clamped - n * ln2_high - n * ln2_low;
    f32x8 p = (f32x8)(1.0f / 5040);
    p = p * r + 1.0f / 720;
    p = p * r + 1.0f / 120;
    p = p * r + 1.0f / 24;
    p = p * r + 1.0f / 6;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    i32x8 integer = (i32x8)shifted - (i32x8)((f32x8)magic);
    f32x8 scale = (f32x8)((integer + 127) << 23);
    return select8(x < -87.3f, (f32x8)0.0f, p * scale);
}

