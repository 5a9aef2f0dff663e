import XCTest
import Foundation
@testable import LongLMCore

/// The BLAS core decision as a table: (node features, library's pick, cores in the build, user's variable) -> choice.
final class BLASCoreTests: XCTestCase {
    func testOpenBLASRunsOneThreadPerCallWithoutTheCommandLinesStartUp() {
        // A library user never runs the CLI's start-up; the first product still makes OpenBLAS single-threaded,
        // since our own workers split every product (nested BLAS threads only spin).
        var c = [Float](repeating: 0, count: 4)
        [Float](repeating: 1, count: 4).withUnsafeBufferPointer { a in
            c.withUnsafeMutableBufferPointer { BLAS.matmul(m: 2, n: 2, k: 2, a: a.baseAddress!, lda: 2, b: a.baseAddress!, ldb: 2, c: $0.baseAddress!, ldc: 2) }
        }
        XCTAssertEqual(c, [2, 2, 2, 2])
        XCTAssertEqual(BLAS.threads, 1)
    }

    typealias F = CPUFeatures.Feature
    static let sse: Set<F> = [.sse3, .ssse3, .sse4_1, .sse4_2]
    static let avx: Set<F> = sse.union([.avx])
    static let avx2: Set<F> = avx.union([.avx2, .fma, .f16c])
    static let avx512: Set<F> = avx2.union([.avx512f, .avx512cd, .avx512bw, .avx512dq, .avx512vl, .avx512vnni])
    static let avx512bf16: Set<F> = avx512.union([.avx512bf16])
    static let amx: Set<F> = avx512bf16.union([.amxTile, .amxInt8, .amxBF16])
    /// Debian's OpenBLAS 0.3.21 (DYNAMIC_ARCH): no SapphireRapids.
    static let debian: Set<String> = ["Cooperlake", "SkylakeX", "Haswell", "Zen", "Sandybridge", "Bulldozer", "Nehalem", "Core2", "Prescott"]
    static let newer = debian.union(["SapphireRapids"])

    struct Row {
        let name: String
        let vendor: CPUFeatures.Vendor
        let features: Set<F>
        var claimedButDisabled: Set<F> = []
        let library: String
        var available: Set<String> = BLASCoreTests.debian
        var user: String? = nil
        var disabled = false
        let expected: String?
        let reason: BLASCore.Reason
    }

    static let table: [Row] = [
        Row(name: "Emerald Rapids, AMX listed but not enabled, library fell back to SSE3", vendor: .intel, features: avx512bf16,
            claimedButDisabled: [.amxTile], library: "Prescott", expected: "Cooperlake", reason: .libraryCoreTooWeak(.avx512bf16)),
        Row(name: "Sapphire Rapids core in the library but AMX not permitted", vendor: .intel, features: avx512bf16,
            library: "Prescott", available: newer, expected: "Cooperlake", reason: .libraryCoreTooWeak(.avx512bf16)),
        Row(name: "AMX permitted and the library has SapphireRapids", vendor: .intel, features: amx,
            library: "Prescott", available: newer, expected: "SapphireRapids", reason: .libraryCoreTooWeak(.amx)),
        Row(name: "AMX permitted, library without SapphireRapids", vendor: .intel, features: amx,
            library: "Haswell", expected: "Cooperlake", reason: .libraryCoreTooWeak(.amx)),
        Row(name: "AVX-512 without BF16", vendor: .intel, features: avx512, library: "Prescott",
            expected: "SkylakeX", reason: .libraryCoreTooWeak(.avx512)),
        Row(name: "Intel AVX2", vendor: .intel, features: avx2, library: "Prescott", expected: "Haswell",
            reason: .libraryCoreTooWeak(.avx2)),
        Row(name: "AMD AVX2", vendor: .amd, features: avx2, library: "Prescott", expected: "Zen", reason: .libraryCoreTooWeak(.avx2)),
        Row(name: "AMD AVX2, a build without Zen", vendor: .amd, features: avx2, library: "Nehalem",
            available: ["Haswell", "Nehalem", "Prescott"], expected: "Haswell", reason: .libraryCoreTooWeak(.avx2)),
        Row(name: "AMD AVX2, the library already chose Zen", vendor: .amd, features: avx2, library: "Zen",
            expected: nil, reason: .libraryChoseWell),
        Row(name: "AMD AVX2, the library chose Haswell (same instructions)", vendor: .amd, features: avx2, library: "Haswell",
            expected: nil, reason: .libraryChoseWell),
        Row(name: "the library already chose Cooperlake", vendor: .intel, features: avx512bf16, library: "Cooperlake",
            expected: nil, reason: .libraryChoseWell),
        Row(name: "a CPU without AVX2 (AVX only)", vendor: .intel, features: avx, library: "Prescott",
            expected: "Sandybridge", reason: .libraryCoreTooWeak(.avx)),
        Row(name: "a CPU with SSE only", vendor: .intel, features: sse, library: "Prescott", expected: nil, reason: .libraryChoseWell),
        Row(name: "the user's OPENBLAS_CORETYPE wins", vendor: .intel, features: avx512bf16, library: "Prescott",
            user: "Prescott", expected: nil, reason: .userSetCoreType("Prescott")),
        Row(name: "the choice turned off", vendor: .intel, features: avx512bf16, library: "Prescott", disabled: true,
            expected: nil, reason: .disabled),
        Row(name: "library picked AVX-512 kernels the OS does not enable", vendor: .intel, features: avx2,
            claimedButDisabled: [.avx512f], library: "SkylakeX", expected: "Haswell", reason: .libraryCoreNotSupported),
        Row(name: "a core name we do not know", vendor: .other, features: [], library: "NEOVERSEN1", expected: nil,
            reason: .unknownLibraryCore),
        Row(name: "a build without DYNAMIC_ARCH (no cores to switch to)", vendor: .intel, features: avx512bf16,
            library: "Prescott", available: [], expected: nil, reason: .noBetterCoreInLibrary),
    ]

    func testDecisionTable() {
        for row in Self.table {
            let features = CPUFeatures(vendor: row.vendor, enabled: row.features, claimedButDisabled: row.claimedButDisabled)
            let decision = BLASCore.decide(features: features, libraryCore: row.library, availableCores: row.available,
                                           userCoreType: row.user, disabled: row.disabled)
            XCTAssertEqual(decision.replacement, row.expected, row.name)
            XCTAssertEqual(decision.reason, row.reason, row.name)
        }
    }

    func testCoreNamesAreMatchedWithoutRegardToCase() {
        XCTAssertEqual(BLASCore.tier(of: "SKYLAKEX"), .avx512)
        XCTAssertEqual(BLASCore.tier(of: "zen"), .avx2)
        XCTAssertNil(BLASCore.tier(of: "ARMV8"))
    }

    /// Every feature this node reports as usable is one the kernel lists in /proc/cpuinfo (the OS check only
    /// ever removes features), and the implied ones are present.
    func testNodeFeaturesAreASubsetOfCpuinfoAndConsistent() throws {
        let f = CPUFeatures.current
        XCTAssertTrue(f.enabled.isDisjoint(with: f.claimedButDisabled))
        if f.has(.avx2) { XCTAssertTrue(f.has(.avx)) }
        if f.has(.avx512f) { XCTAssertTrue(f.has(.avx2)) }
        if f.has(.amxInt8) || f.has(.amxBF16) { XCTAssertTrue(f.has(.amxTile)) }
        guard let cpuinfo = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
              let flagsLine = cpuinfo.split(separator: "\n").first(where: { $0.hasPrefix("flags") }) else {
            throw XCTSkip("no /proc/cpuinfo")
        }
        let flags = Set(flagsLine.split(separator: ":")[1].split(separator: " ").map(String.init))
        let cpuinfoName: [F: String] = [.sse3: "pni", .sse4_1: "sse4_1", .sse4_2: "sse4_2"]
        for feature in f.enabled {
            let name = cpuinfoName[feature] ?? feature.rawValue
            XCTAssertTrue(flags.contains(name), "\(feature) enabled but not in cpuinfo as \(name)")
        }
        // The decision for this node never leaves an AVX2-capable node on SSE kernels.
        if let tier = BLASCore.supportedTier(f), tier >= .avx2 {
            let d = BLASCore.decide(features: f, libraryCore: "Prescott", availableCores: BLAS.availableCores, userCoreType: nil)
            if !BLAS.availableCores.isEmpty { XCTAssertNotNil(d.replacement) }
        }
    }

    func testThisOpenBLASReportsItsCoreAndBuild() {
        let report = BLAS.report
        XCTAssertEqual(report.name, "OpenBLAS")
        XCTAssertFalse(report.core.isEmpty)
        XCTAssertTrue(report.config.contains(report.core), "the config string names the running core: \(report.config)")
        if report.config.contains("DYNAMIC_ARCH") {
            XCTAssertTrue(BLAS.availableCores.contains("Haswell"), "\(BLAS.availableCores)")
        }
    }
}
