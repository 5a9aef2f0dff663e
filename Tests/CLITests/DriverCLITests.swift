import XCTest
import Foundation

/// The one decode loop and the MPI job start, as a user meets them.
extension CLITests {
    /// A copy of the tiny checkpoint whose final norm weights are NaN: every logit is NaN. Generation must
    /// stop with an error, not print token 0 and exit 0.
    func testNonFiniteLogitsStopGenerationWithAnError() throws {
        let directory = temporaryPath("-nan-model")
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        for name in ["config.json", "model.safetensors"] {
            try FileManager.default.copyItem(atPath: Self.tiny + "/" + name, toPath: directory + "/" + name)
        }
        let path = directory + "/model.safetensors"
        var data = try Data(contentsOf: URL(fileURLWithPath: path))
        let headerLength = Int(data.prefix(8).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) })
        let header = try XCTUnwrap(JSONSerialization.jsonObject(with: data[8..<(8 + headerLength)]) as? [String: Any])
        let norm = try XCTUnwrap(header["model.norm.weight"] as? [String: Any])
        XCTAssertEqual(norm["dtype"] as? String, "F32")
        let offsets = try XCTUnwrap(norm["data_offsets"] as? [Int])
        let nan = withUnsafeBytes(of: Float.nan.bitPattern.littleEndian) { Data($0) }
        for offset in stride(from: 8 + headerLength + offsets[0], to: 8 + headerLength + offsets[1], by: 4) {
            data.replaceSubrange(offset..<(offset + 4), with: nan)
        }
        try data.write(to: URL(fileURLWithPath: path))
        assertOneLineError(try run(["generate", "--model", directory, "--tokens", "5,17,200", "--max-new-tokens", "4"]), mentions: "non-finite logits")
        if hasMPI {
            let m = try runMPI(ranks: 2, transport: "vader", arguments: ["generate", "--model", directory, "--tokens", "5,17,200,3", "--max-new-tokens", "4"])
            XCTAssertNotEqual(m.status, 0)
            XCTAssertTrue(m.stderr.contains("non-finite logits"), m.stderr)
        }
    }

    /// Ranks started with different command lines fail at once instead of waiting for the step timeout.
    func testRanksWithDifferentCommandLinesFailAtOnce() throws {
        guard hasMPI else { throw XCTSkip("mpirun not installed: run scripts/setup.sh") }
        var environment = ProcessInfo.processInfo.environment
        environment["OMPI_ALLOW_RUN_AS_ROOT"] = "1"
        environment["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] = "1"
        let start = Date()
        let common = ["--oversubscribe", "--bind-to", "none", "--mca", "btl", "self,vader"]
        let r = try launch("/usr/bin/mpirun", common + ["-np", "1", binary, "generate", "--model", Self.tiny, "--tokens", "5,17,200", "--max-new-tokens", "2", ":",
                                                         "-np", "1", binary, "logits", "--model", Self.tiny, "--tokens", "5,17,200", "--output", temporaryPath(".npy")],
                           environment: environment)
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("different command line"), r.stderr)
        XCTAssertLessThan(Date().timeIntervalSince(start), 60)
    }
}
