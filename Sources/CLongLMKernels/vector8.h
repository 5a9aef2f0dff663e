#pragma once
// Eight-lane f32 vectors for the kernels written once and compiled per variant: clang lowers them to one 256-bit
// register under an AVX2 target attribute and to two 128-bit ones on baseline x86-64 (or NEON), with the same
// IEEE result per lane. Loads and stores go through memcpy: any alignment.
#include <string.h>

#define INLINE static inline __attribute__((always_inline))

typedef float f32x8 __attribute__((ext_vector_type(8)));

INLINE f32x8 load8(const float *p) {
    f32x8 v;
    memcpy(&v, p, sizeof v);
    return v;
}

INLINE void store8(float *p, f32x8 v) { memcpy(p, &v, sizeof v); }

/// The lanes summed in a fixed tree: ((0+1)+(2+3))+((4+5)+(6+7)).
INLINE float sum8(f32x8 v) { return ((v[0] + v[1]) + (v[2] + v[3])) + ((v[4] + v[5]) + (v[6] + v[7])); }
