// A peak probe for the int8 GEMM: `vpdpbusd` on registers only, 12 independent accumulators (more than the
// instruction's latency times its throughput), so the loop runs at the core's multiply-add rate with no memory
// traffic. `bench-kernels --vectors` quotes the GEMM's speed as a fraction of this.
#include "kernel_blocks.h"

#if defined(__x86_64__)
#include <immintrin.h>

__attribute__((target("avx512f,avx512bw,avx512vnni"))) static uint64_t vnni_probe(int64_t iterations) {
    __m512i acc[12];
    for (int k = 0; k < 12; k++) acc[k] = _mm512_set1_epi32(k);
    const __m512i u = _mm512_set1_epi8(1), s = _mm512_set1_epi8(-1);
    for (int64_t i = 0; i < iterations; i++) {
        for (int k = 0; k < 12; k++) acc[k] = _mm512_dpbusd_epi32(acc[k], u, s);
        __asm__ volatile("" : "+v"(acc[0]), "+v"(acc[1]), "+v"(acc[2]), "+v"(acc[3]), "+v"(acc[4]), "+v"(acc[5]));
    }
    __m512i total = acc[0];
    for (int k = 1; k < 12; k++) total = _mm512_add_epi32(total, acc[k]);
    return (uint64_t)(uint32_t)_mm512_reduce_add_epi32(total);
}
#endif

int64_t longlm_int8_peak_multiply_adds_per_iteration(void) { return 12 * 64; }

int longlm_int8_peak_probe(longlm_kernel_variant variant, int64_t iterations, uint64_t *checksum) {
#if defined(__x86_64__)
    if (variant == LONGLM_KERNELS_AVX512VNNI) {
        *checksum = vnni_probe(iterations);
        return 0;
    }
#endif
    (void)iterations;
    *checksum = 0;
    return -1;
}
