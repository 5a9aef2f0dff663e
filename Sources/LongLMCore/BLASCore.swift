/// Which OpenBLAS kernel set ("core") to run, decided from the node's OS-enabled features.
///
/// Debian's OpenBLAS is built with DYNAMIC_ARCH: it carries kernels for many CPUs and picks one when it loads,
/// from the CPU's family and model. On a CPU newer than the library it falls back to its SSE3 kernels
/// (Prescott), several times slower, without a word. `OPENBLAS_CORETYPE` overrides that pick, but is read
/// only when the library loads, so the choice is made at start-up and applied by re-executing the process.
public enum BLASCore {
    /// OpenBLAS core names by the instruction set their kernels need, weakest first. A name not listed here
    /// (another architecture, a newer library) is never replaced.
    public enum Tier: Int, Comparable, Sendable {
        case sse = 1, avx, avx2, avx512, avx512bf16, amx
        public static func < (a: Tier, b: Tier) -> Bool { a.rawValue < b.rawValue }
    }

    static let tiers: [String: Tier] = [
        "prescott": .sse, "core2": .sse, "penryn": .sse, "dunnington": .sse, "nehalem": .sse, "atom": .sse,
        "nano": .sse, "barcelona": .sse, "bobcat": .sse, "opteron": .sse, "opteron_sse3": .sse, "athlon": .sse,
        "katmai": .sse, "coppermine": .sse, "northwood": .sse, "banias": .sse,
        "sandybridge": .avx, "bulldozer": .avx, "piledriver": .avx, "steamroller": .avx, "excavator": .avx,
        "haswell": .avx2, "zen": .avx2,
        "skylakex": .avx512,
        "cooperlake": .avx512bf16,
        "sapphirerapids": .amx,
    ]

    /// The tier of an OpenBLAS core name (case-insensitive), or nil for a name we do not know.
    public static func tier(of core: String) -> Tier? { tiers[core.lowercased()] }

    /// The best tier whose instructions this node lets a process run.
    public static func supportedTier(_ f: CPUFeatures) -> Tier? {
        let avx512bf16 = f.hasAVX512Core && f.has(.avx512bf16)
        if avx512bf16 && f.has(.amxTile) && f.has(.amxBF16) && f.has(.amxInt8) { return .amx }
        if avx512bf16 { return .avx512bf16 }
        if f.hasAVX512Core { return .avx512 }
        if f.has(.avx2) && f.has(.fma) { return .avx2 }
        if f.has(.avx) { return .avx }
        if f.has(.sse3) { return .sse }
        return nil
    }

    /// Core names to try for a tier, best first, in the spelling OPENBLAS_CORETYPE takes.
    static func candidates(for tier: Tier, vendor: CPUFeatures.Vendor) -> [String] {
        switch tier {
        case .amx: return ["SapphireRapids", "Cooperlake", "SkylakeX", "Haswell"]
        case .avx512bf16: return ["Cooperlake", "SkylakeX", "Haswell"]
        case .avx512: return ["SkylakeX", "Haswell"]
        case .avx2: return vendor == .amd ? ["Zen", "Haswell"] : ["Haswell", "Zen"]
        case .avx: return vendor == .amd ? ["Bulldozer", "Sandybridge"] : ["Sandybridge", "Bulldozer"]
        case .sse: return []
        }
    }

    public enum Reason: Equatable, Sendable {
        case userSetCoreType(String)   // OPENBLAS_CORETYPE was set: the user's word wins
        case disabled                  // --blas-core library or LONGLM_BLAS_CORE=library
        case libraryChoseWell          // the library's core is as good as the node allows
        case unknownLibraryCore        // a core name we do not know: left alone
        case noBetterCoreInLibrary     // the node could do better, but this build has no such core
        case libraryCoreTooWeak(Tier)  // the library fell back to a weaker core than the node supports
        case libraryCoreNotSupported   // the library's core needs instructions the OS does not enable
    }

    public struct Decision: Equatable, Sendable {
        /// The core to set in OPENBLAS_CORETYPE, or nil to keep the library's own choice.
        public var replacement: String?
        public var reason: Reason
    }

    /// The pure decision: given the node's features, the core the library picked, the cores the library was
    /// built with (lower-case or any case) and the user's OPENBLAS_CORETYPE, which core should run.
    public static func decide(features: CPUFeatures, libraryCore: String, availableCores: Set<String>,
                              userCoreType: String?, disabled: Bool = false) -> Decision {
        if let user = userCoreType, !user.isEmpty { return Decision(replacement: nil, reason: .userSetCoreType(user)) }
        if disabled { return Decision(replacement: nil, reason: .disabled) }
        guard let libraryTier = tier(of: libraryCore) else { return Decision(replacement: nil, reason: .unknownLibraryCore) }
        guard let nodeTier = supportedTier(features) else { return Decision(replacement: nil, reason: .libraryChoseWell) }
        if libraryTier == nodeTier { return Decision(replacement: nil, reason: .libraryChoseWell) }
        let available = Set(availableCores.map { $0.lowercased() })
        let inLibrary = candidates(for: nodeTier, vendor: features.vendor).filter { available.contains($0.lowercased()) }
        if libraryTier > nodeTier {
            // The library picked kernels whose instructions this process may not run (AVX-512 or AMX listed by
            // cpuid but not enabled by the OS, say): step down to the best core the node supports.
            guard let pick = inLibrary.first else { return Decision(replacement: nil, reason: .noBetterCoreInLibrary) }
            return Decision(replacement: pick, reason: .libraryCoreNotSupported)
        }
        guard let pick = inLibrary.first(where: { (tier(of: $0) ?? .sse) > libraryTier }) else {
            return Decision(replacement: nil, reason: .noBetterCoreInLibrary)
        }
        return Decision(replacement: pick, reason: .libraryCoreTooWeak(nodeTier))
    }
}
