import CLongLMCPU

/// The instruction-set features this node lets a process use: cpuid's answer checked against what the OS
/// enables (XCR0 register state; Linux's permission for AMX tiles). Read at run time on the node that runs,
/// never taken from the build machine. The BLAS core choice and kernel dispatch both read this one value.
public struct CPUFeatures: Equatable, Sendable {
    public enum Feature: String, CaseIterable, Sendable {
        case sse3, ssse3, sse4_1 = "sse4.1", sse4_2 = "sse4.2", avx, avx2, fma, f16c
        case avx512f, avx512cd, avx512bw, avx512dq, avx512vl, avx512vnni = "avx512_vnni", avx512bf16 = "avx512_bf16"
        case avxvnni = "avx_vnni", amxTile = "amx_tile", amxInt8 = "amx_int8", amxBF16 = "amx_bf16"
    }

    public enum Vendor: String, Sendable { case intel, amd, other }

    public var vendor: Vendor
    public var family: Int
    public var model: Int
    public var enabled: Set<Feature>
    /// Features cpuid reports that the OS does not let this process use (a hypervisor that lists AMX or
    /// AVX-512 without enabling its registers): shown in reports so a surprising choice explains itself.
    public var claimedButDisabled: Set<Feature>

    public init(vendor: Vendor, family: Int = 0, model: Int = 0, enabled: Set<Feature>, claimedButDisabled: Set<Feature> = []) {
        self.vendor = vendor
        self.family = family
        self.model = model
        self.enabled = enabled
        self.claimedButDisabled = claimedButDisabled
    }

    public func has(_ feature: Feature) -> Bool { enabled.contains(feature) }

    /// AVX-512 F, CD, BW, DQ and VL: what OpenBLAS's SkylakeX kernels (and ours) need.
    public var hasAVX512Core: Bool { [.avx512f, .avx512cd, .avx512bw, .avx512dq, .avx512vl].allSatisfy(has) }

    /// This node, read once per process.
    public static let current: CPUFeatures = read()

    static func read() -> CPUFeatures {
        var raw = longlm_cpu_features()
        longlm_cpu_features_read(&raw)
        let vendorString = withUnsafeBytes(of: raw.vendor) { String(decoding: $0.prefix(12), as: UTF8.self) }
        let vendor: Vendor = vendorString == "GenuineIntel" ? .intel : vendorString == "AuthenticAMD" ? .amd : .other
        let flags: [(Feature, Int32)] = [
            (.sse3, raw.sse3), (.ssse3, raw.ssse3), (.sse4_1, raw.sse4_1), (.sse4_2, raw.sse4_2),
            (.avx, raw.avx), (.avx2, raw.avx2), (.fma, raw.fma), (.f16c, raw.f16c),
            (.avx512f, raw.avx512f), (.avx512cd, raw.avx512cd), (.avx512bw, raw.avx512bw), (.avx512dq, raw.avx512dq),
            (.avx512vl, raw.avx512vl), (.avx512vnni, raw.avx512_vnni), (.avx512bf16, raw.avx512_bf16),
            (.avxvnni, raw.avx_vnni), (.amxTile, raw.amx_tile), (.amxInt8, raw.amx_int8), (.amxBF16, raw.amx_bf16),
        ]
        var disabled: Set<Feature> = []
        if raw.cpuid_avx512f != 0 && raw.avx512f == 0 { disabled.insert(.avx512f) }
        if raw.cpuid_amx_tile != 0 && raw.amx_tile == 0 { disabled.insert(.amxTile) }
        return CPUFeatures(vendor: vendor, family: Int(raw.family), model: Int(raw.model),
                           enabled: Set(flags.filter { $0.1 != 0 }.map { $0.0 }), claimedButDisabled: disabled)
    }

    /// "avx2 fma f16c ..." in a fixed order; disabled claims as "avx512f(not enabled by the OS)".
    public var summary: String {
        let on = Feature.allCases.filter(has).map(\.rawValue)
        let off = Feature.allCases.filter(claimedButDisabled.contains).map { "\($0.rawValue)(listed by cpuid, not enabled by the OS)" }
        return (on + off).joined(separator: " ")
    }
}
