#pragma once
#include <stdint.h>

/// What this CPU has *and* what the operating system lets a process use. A feature counts only when cpuid
/// reports it and the OS saves its register state (xgetbv's XCR0) and, for AMX tiles, grants the process
/// permission (Linux's arch_prctl). cpuinfo flags alone are not enough: a hypervisor may list AMX while the
/// instructions trap.
typedef struct {
    int is_x86_64;
    char vendor[13];           // "GenuineIntel", "AuthenticAMD", ... (empty off x86-64)
    int family, model;         // display family and model, as /proc/cpuinfo prints them
    // Each flag: cpuid says so AND the OS enables the registers it needs.
    int sse3, ssse3, sse4_1, sse4_2;
    int avx, avx2, fma, f16c;
    int avx512f, avx512cd, avx512bw, avx512dq, avx512vl, avx512_vnni, avx512_bf16;
    int avx_vnni;
    int amx_tile, amx_int8, amx_bf16;
    // What cpuid alone claims (for reports that explain a refusal).
    int cpuid_avx512f, cpuid_amx_tile;
    uint64_t xcr0;             // 0 when the OS does not expose xgetbv
} longlm_cpu_features;

/// Reads the features once per call (cpuid, xgetbv, arch_prctl); cheap, no side effects beyond asking the
/// kernel for AMX tile permission when cpuid and XCR0 both report AMX.
void longlm_cpu_features_read(longlm_cpu_features *out);
