#include "cpu_features.h"
#include <string.h>

#if defined(__x86_64__)
#include <cpuid.h>
#if defined(__linux__)
#include <sys/syscall.h>
#include <unistd.h>
#endif

// XCR0 state components (Intel SDM vol. 1, 13.1).
#define XCR0_SSE       (1ull << 1)
#define XCR0_AVX       (1ull << 2)
#define XCR0_OPMASK    (1ull << 5)
#define XCR0_ZMM_HI256 (1ull << 6)
#define XCR0_HI16_ZMM  (1ull << 7)
#define XCR0_TILECFG   (1ull << 17)
#define XCR0_TILEDATA  (1ull << 18)

// Linux arch_prctl codes for dynamically enabled state (asm/prctl.h); defined here so older headers build.
#define LONGLM_ARCH_GET_XCOMP_PERM 0x1022
#define LONGLM_ARCH_REQ_XCOMP_PERM 0x1023
#define LONGLM_XFEATURE_XTILEDATA 18

static uint64_t read_xcr0(void) {
    uint32_t lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((uint64_t)hi << 32) | lo;
}

/// Asks Linux for permission to use AMX tile data; true only if the kernel grants it.
static int amx_permitted(void) {
#if defined(__linux__)
    if (syscall(SYS_arch_prctl, LONGLM_ARCH_REQ_XCOMP_PERM, LONGLM_XFEATURE_XTILEDATA) != 0) return 0;
    unsigned long permitted = 0;
    if (syscall(SYS_arch_prctl, LONGLM_ARCH_GET_XCOMP_PERM, &permitted) != 0) return 0;
    return (permitted & (1ul << LONGLM_XFEATURE_XTILEDATA)) != 0;
#else
    return 0;
#endif
}

void longlm_cpu_features_read(longlm_cpu_features *f) {
    memset(f, 0, sizeof *f);
    f->is_x86_64 = 1;
    unsigned a, b, c, d;
    if (!__get_cpuid(0, &a, &b, &c, &d)) return;
    unsigned max_leaf = a;
    memcpy(f->vendor + 0, &b, 4);
    memcpy(f->vendor + 4, &d, 4);
    memcpy(f->vendor + 8, &c, 4);
    f->vendor[12] = 0;

    __get_cpuid(1, &a, &b, &c, &d);
    unsigned base_family = (a >> 8) & 0xf, base_model = (a >> 4) & 0xf;
    unsigned ext_family = (a >> 20) & 0xff, ext_model = (a >> 16) & 0xf;
    f->family = (int)(base_family == 0xf ? base_family + ext_family : base_family);
    f->model = (int)((base_family == 0x6 || base_family == 0xf) ? (ext_model << 4) + base_model : base_model);
    int osxsave = (c >> 27) & 1;
    f->xcr0 = osxsave ? read_xcr0() : 0;
    int os_sse = (f->xcr0 & XCR0_SSE) != 0 || !osxsave;   // without OSXSAVE, SSE state is still saved (FXSR)
    int os_avx = osxsave && (f->xcr0 & (XCR0_SSE | XCR0_AVX)) == (XCR0_SSE | XCR0_AVX);
    int os_avx512 = os_avx && (f->xcr0 & (XCR0_OPMASK | XCR0_ZMM_HI256 | XCR0_HI16_ZMM))
                                  == (XCR0_OPMASK | XCR0_ZMM_HI256 | XCR0_HI16_ZMM);
    int os_amx = osxsave && (f->xcr0 & (XCR0_TILECFG | XCR0_TILEDATA)) == (XCR0_TILECFG | XCR0_TILEDATA);

    f->sse3 = os_sse && (c & 1);
    f->ssse3 = os_sse && ((c >> 9) & 1);
    f->sse4_1 = os_sse && ((c >> 19) & 1);
    f->sse4_2 = os_sse && ((c >> 20) & 1);
    f->avx = os_avx && ((c >> 28) & 1);
    f->fma = f->avx && ((c >> 12) & 1);
    f->f16c = f->avx && ((c >> 29) & 1);

    if (max_leaf < 7) return;
    unsigned b7, c7, d7, a71 = 0;
    __cpuid_count(7, 0, a, b7, c7, d7);
    unsigned max_subleaf = a;
    if (max_subleaf >= 1) { unsigned x, y, z; __cpuid_count(7, 1, a71, x, y, z); }
    f->avx2 = f->avx && ((b7 >> 5) & 1);
    f->cpuid_avx512f = (b7 >> 16) & 1;
    f->avx512f = os_avx512 && f->cpuid_avx512f;
    f->avx512dq = f->avx512f && ((b7 >> 17) & 1);
    f->avx512cd = f->avx512f && ((b7 >> 28) & 1);
    f->avx512bw = f->avx512f && ((b7 >> 30) & 1);
    f->avx512vl = f->avx512f && ((b7 >> 31) & 1);
    f->avx512_vnni = f->avx512f && ((c7 >> 11) & 1);
    f->avx512_bf16 = f->avx512f && ((a71 >> 5) & 1);
    f->avx_vnni = f->avx && ((a71 >> 4) & 1);
    f->cpuid_amx_tile = (d7 >> 24) & 1;
    if (f->cpuid_amx_tile && os_amx && amx_permitted()) {
        f->amx_tile = 1;
        f->amx_bf16 = (d7 >> 22) & 1;
        f->amx_int8 = (d7 >> 25) & 1;
    }
}

#else
void longlm_cpu_features_read(longlm_cpu_features *f) { memset(f, 0, sizeof *f); }
#endif
