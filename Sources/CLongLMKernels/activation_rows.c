// The feed-forward's gated activation in the fast precision: gate[i] = act(gate[i]) * up[i], eight lanes at a
// time with the polynomial exp of vector_exp8.h instead of the C library's tanhf / expf per value.
//   GELU (tanh form): 0.5 x (1 + tanh(u)) with u = sqrt(2/pi) (x + 0.044715 x^3). Since 1 + tanh(u) =
//                     2 / (1 + exp(-2u)), this is x / (1 + exp(-2u)): no cancellation for negative u, where
//                     1 + tanhf(u) loses the digits of a small result.
//   SiLU:             x / (1 + exp(-x)).
// Every operation is rounded separately, so every variant gives the same bits; the error against the exact
// functions is stated and tested in Tests/LongLMCoreTests (GatedActivationTests).
#pragma clang fp contract(off)
#include "kernel_blocks.h"
#include "vector_exp8.h"

INLINE f32x8 activation8(f32x8 x, int activation) {
    if (activation == LONGLM_ACTIVATION_GELU_TANH) {
        f32x8 u = 0.7978845608028654f * (x + 0.044715f * x * x * x);
        return x / (1.0f + exp8(-2.0f * u));
    }
    return x / (1.0f + exp8(-x));
}

INLINE void gated_body(int activation, float *gate, const float *up, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) store8(gate + i, activation8(load8(gate + i), activation) * load8(up + i));
    if (i < n) {
        float g[8] = {0}, u[8] = {0};
        for (int l = 0; i + l < n; l++) {
            g[l] = gate[i + l];
            u[l] = up[i + l];
        }
        f32x8 r = activation8(load8(g), activation) * load8(u);
        for (int l = 0; i + l < n; l++) gate[i + l] = r[l];
    }
}

static void gated_portable(int activation, float *gate, const float *up, int64_t n) {
    gated_body(activation, gate, up, n);
}

#if defined(__x86_64__)
__attribute__((target("avx2,fma"))) static void gated_avx2(int activation, float *gate, const float *up, int64_t n) {
    gated_body(activation, gate, up, n);
}
#endif

void longlm_gated_activation(longlm_kernel_variant variant, longlm_activation activation, float *gate,
                             const float *up, int64_t n) {
#if defined(__x86_64__)
    if (longlm_uses_avx2_code(variant)) {
        gated_avx2((int)activation, gate, up, n);
        return;
    }
#endif
    gated_portable((int)activation, gate, up, n);
}
