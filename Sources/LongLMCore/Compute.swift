import CLongLMKernels

/// How quantized weights are multiplied: set once per process at start-up (the CLI's `--precision` and
/// `--kernels`), like `Parallel.threads`.
public enum Compute {
    /// `.exact` (the library's default) is the reference; the CLI defaults to `.fast`.
    nonisolated(unsafe) public static var precision: Precision = .exact
    /// The kernel variant the fast path runs; the best this node supports unless forced.
    nonisolated(unsafe) public static var kernels: KernelVariant = .best(for: .current)
    /// How new KV caches store keys and values: `.f32` (the library's default) is the reference; the CLI defaults
    /// to `.f16` in the fast precision.
    nonisolated(unsafe) public static var kvType: KVType = .f32
    /// How the attention multiplies tiles of many query rows: `.f32` (the library's default) is the reference;
    /// the CLI takes `AttentionTiles.automatic` (BF16 tiles in the fast precision where the CPU has them).
    nonisolated(unsafe) public static var attentionTiles: AttentionTiles = .f32
}

/// The arithmetic of matrix products with quantized weights.
public enum Precision: String, CaseIterable, Sendable, CustomStringConvertible {
    /// Activations rounded once per vector to 8-bit blocks, integer dot products with the weights' small
    /// integers, scales applied per block (llama.cpp's decode arithmetic). Used for decode (a few rows at a
    /// time); prefill's matrix products stay f32.
    case fast
    /// f32 products on exactly dequantized weights: the reference every test compares with.
    case exact

    public var description: String { rawValue }
}

/// One build holds every variant; the process runs the one chosen at start-up from what the node supports
/// (`CPUFeatures`, which asks the OS too), never from the build machine's features.
public enum KernelVariant: String, CaseIterable, Sendable, CustomStringConvertible {
    /// AVX-512 F/BW/VL/DQ + VNNI on top of AVX2: `vpdpbusd` on 512-bit registers for the 32-weight block types
    /// Q4_0, Q5_0, Q8_0 and IQ4_NL (where it measured faster); the AVX2 code for everything else.
    case avx512vnni
    /// AVX2 + FMA + F16C (x86-64-v3): `vpmaddubsw`/`vpmaddwd` integer dot products.
    case avx2
    /// Plain C, any CPU: the reference the other variants are tested against.
    case portable

    public var description: String { rawValue }

    /// Whether this build holds the variant and `cpu` can run it.
    public func isSupported(by cpu: CPUFeatures) -> Bool {
        guard longlm_kernels_compiled(cVariant) != 0 else { return false }
        switch self {
        case .avx512vnni:
            return KernelVariant.avx2.isSupported(by: cpu) && cpu.hasAVX512Core && cpu.has(.avx512vnni)
        case .avx2: return cpu.has(.avx2) && cpu.has(.fma) && cpu.has(.f16c)
        case .portable: return true
        }
    }

    /// The fastest variant `cpu` supports.
    public static func best(for cpu: CPUFeatures) -> KernelVariant {
        allCases.first { $0.isSupported(by: cpu) } ?? .portable
    }

    /// The variants this node can run, fastest first (what the tests compare with `.portable`).
    public static var supportedHere: [KernelVariant] { allCases.filter { $0.isSupported(by: .current) } }

    var cVariant: longlm_kernel_variant {
        switch self {
        case .avx512vnni: return LONGLM_KERNELS_AVX512VNNI
        case .avx2: return LONGLM_KERNELS_AVX2
        case .portable: return LONGLM_KERNELS_PORTABLE
        }
    }
}
