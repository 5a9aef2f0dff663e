import XCTest
import Foundation
import LongLMCore

/// The OpenBLAS core chosen at start-up, as the binary reports it, alone and under mpirun.
extension CLITests {
    /// The core named on a "blas:" line ("... core Zen (chosen by ...").
    func reportedCores(_ text: String) -> [String] {
        text.split(separator: "\n").filter { $0.contains("blas: ") || $0.hasPrefix("blas:") }.compactMap { line in
            guard let range = line.range(of: ", core ") else { return nil }
            return String(line[range.upperBound...].prefix { $0 != " " })
        }
    }

    /// The reported core never needs more than the node's OS-enabled features, and on an AVX2 node is never
    /// an SSE core.
    func assertConsistentWithThisNode(_ core: String, file: StaticString = #filePath, line: UInt = #line) {
        let node = BLASCore.supportedTier(CPUFeatures.current)
        guard let tier = BLASCore.tier(of: core), let node else { return }
        XCTAssertLessThanOrEqual(tier, node, "core \(core) needs more than this node enables", file: file, line: line)
        if node >= .avx2 && !BLAS.availableCores.isEmpty {
            XCTAssertGreaterThanOrEqual(tier, .avx2, "an AVX2 node runs \(core)", file: file, line: line)
        }
    }

    func testInfoNamesACoreConsistentWithTheNode() throws {
        let r = try run(["info", "--model", Self.tiny])
        XCTAssertEqual(r.status, 0, r.stderr)
        let cores = reportedCores(r.stdout)
        XCTAssertEqual(cores.count, 1, r.stdout)
        assertConsistentWithThisNode(cores[0])
        XCTAssertTrue(r.stdout.contains("cpu: "), r.stdout)
    }

    /// A library that picked SSE3 kernels (simulated: the node's OpenBLAS detects this CPU) is replaced by the
    /// node's best core, with one note on stderr; the user's OPENBLAS_CORETYPE and --blas-core library win.
    func testAWeakLibraryCoreIsReplacedUnlessTheUserChose() throws {
        guard BLASCore.supportedTier(CPUFeatures.current).map({ $0 >= .avx }) == true, !BLAS.availableCores.isEmpty else {
            throw XCTSkip("needs an AVX node and a DYNAMIC_ARCH OpenBLAS")
        }
        var environment = ProcessInfo.processInfo.environment
        if let set = environment["OPENBLAS_CORETYPE"] {
            // This machine sets the variable on purpose (some CPUs need it); tests do not change it.
            throw XCTSkip("OPENBLAS_CORETYPE=\(set) is set on this machine: the user's choice wins, nothing to replace")
        }
        environment["LONGLM_BLAS_ASSUME_LIBRARY_CORE"] = "Prescott"
        let replaced = try launch(binary, ["info", "--model", Self.tiny], environment: environment)
        XCTAssertEqual(replaced.status, 0, replaced.stderr)
        let core = try XCTUnwrap(reportedCores(replaced.stdout).first)
        XCTAssertNotEqual(core.lowercased(), "prescott")
        assertConsistentWithThisNode(core)
        XCTAssertTrue(replaced.stdout.contains("chosen by longlm-dist"), replaced.stdout)
        XCTAssertEqual(replaced.stderr.split(separator: "\n").filter { $0.hasPrefix("note: OpenBLAS picked") }.count, 1, replaced.stderr)

        let kept = try launch(binary, ["--blas-core", "library", "info", "--model", Self.tiny], environment: environment)
        XCTAssertEqual(kept.status, 0, kept.stderr)
        XCTAssertFalse(kept.stderr.contains("note:"), kept.stderr)
        XCTAssertTrue(kept.stdout.contains("--blas-core library"), kept.stdout)

        environment["OPENBLAS_CORETYPE"] = "Prescott"
        let user = try launch(binary, ["info", "--model", Self.tiny], environment: environment)
        XCTAssertEqual(reportedCores(user.stdout), ["Prescott"], user.stdout)
        XCTAssertTrue(user.stdout.contains("set by OPENBLAS_CORETYPE=Prescott"), user.stdout)
        XCTAssertFalse(user.stderr.contains("note:"), user.stderr)

        assertOneLineError(try run(["--blas-core", "fastest", "info", "--model", Self.tiny]), mentions: "--blas-core")
    }

    /// Under mpirun every rank makes the choice before MPI starts; rank 0 alone says so; results are unchanged.
    func testEveryRankRunsTheChosenCoreUnderMpirun() throws {
        guard hasMPI else { throw XCTSkip("mpirun not installed: run scripts/setup.sh") }
        let arguments = ["generate", "--model", Self.tiny, "--tokens", "5,17,200,3,9,11", "--max-new-tokens", "3", "--greedy", "--stats"]
        let plain = try runMPI(ranks: 2, transport: "vader", arguments: arguments)
        XCTAssertEqual(plain.status, 0, plain.stderr)
        let cores = reportedCores(plain.stderr)
        XCTAssertEqual(cores.count, 2, plain.stderr)
        // Without --stats the ranks print no statistics.
        let quiet = try runMPI(ranks: 2, transport: "vader", arguments: arguments.filter { $0 != "--stats" })
        XCTAssertEqual(quiet.status, 0, quiet.stderr)
        XCTAssertFalse(quiet.stderr.contains("layer"), quiet.stderr)
        XCTAssertEqual(quiet.stdout, plain.stdout)
        cores.forEach { assertConsistentWithThisNode($0) }

        guard BLASCore.supportedTier(CPUFeatures.current).map({ $0 >= .avx }) == true, !BLAS.availableCores.isEmpty,
              ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"] == nil else { return }
        let replaced = try runMPI(ranks: 2, transport: "vader", arguments: arguments,
                                  extraEnvironment: ["LONGLM_BLAS_ASSUME_LIBRARY_CORE": "Prescott"])
        XCTAssertEqual(replaced.status, 0, replaced.stderr)
        XCTAssertEqual(replaced.stderr.split(separator: "\n").filter { $0.contains("note: OpenBLAS picked") }.count, 1, replaced.stderr)
        let replacedCores = reportedCores(replaced.stderr)
        XCTAssertEqual(replacedCores.count, 2, replaced.stderr)
        replacedCores.forEach { XCTAssertNotEqual($0.lowercased(), "prescott"); assertConsistentWithThisNode($0) }
        XCTAssertEqual(replaced.stdout, plain.stdout, "the same tokens")
    }
}
