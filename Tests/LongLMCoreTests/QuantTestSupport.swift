import Foundation
import XCTest
import LongLMCore

/// One type's blocks and their reference dequantization from Tests/Fixtures/quant, made by
/// scripts/make_quant_fixtures.py (its README names the llama.cpp, gguf and numpy versions).
struct QuantFixture {
    static let directory = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent()  // LongLMCoreTests
        .deletingLastPathComponent()  // Tests
        .appendingPathComponent("Fixtures/quant")

    /// Every type with a fixture: all dequantizable types.
    static let types: [GGMLType] = [.f32, .f16, .bf16, .q8_0, .q4_0, .q4_1, .q5_0, .q5_1,
                                    .q2_K, .q3_K, .q4_K, .q5_K, .q6_K, .iq4_nl, .iq4_xs]

    let raw: [UInt8]
    let expected: [Float]

    init(_ type: GGMLType, file: StaticString = #filePath, line: UInt = #line) throws {
        let base = Self.directory.appendingPathComponent(type.name)
        raw = try [UInt8](Data(contentsOf: base.appendingPathExtension("bin")))
        let expectedBytes = try Data(contentsOf: base.appendingPathExtension("expected.f32"))
        XCTAssertEqual(expectedBytes.count % 4, 0, "\(type.name).expected.f32 is not whole floats", file: file, line: line)
        expected = stride(from: 0, to: expectedBytes.count, by: 4).map { offset -> Float in
            var bits: UInt32 = 0
            for k in 0..<4 { bits |= UInt32(expectedBytes[expectedBytes.startIndex + offset + k]) << (8 * k) }
            return Float(bitPattern: bits)
        }
        XCTAssertEqual(type.rowBytes(count: expected.count), raw.count,
                       "\(type.name) fixture: byte count does not match element count", file: file, line: line)
    }
}

/// Compares bit patterns, so -0 differs from +0 and a NaN matches only the same NaN; reports the first few
/// mismatches and their count.
func assertBitIdentical(_ actual: [Float], _ expected: [Float], _ what: String,
                        file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(actual.count, expected.count, what, file: file, line: line)
    let mismatches = zip(actual, expected).enumerated().filter { $0.element.0.bitPattern != $0.element.1.bitPattern }
    for (i, (a, e)) in mismatches.prefix(5) {
        XCTFail("\(what) element \(i): got \(a) (0x\(String(a.bitPattern, radix: 16))), "
                + "expected \(e) (0x\(String(e.bitPattern, radix: 16)))", file: file, line: line)
    }
    if mismatches.count > 5 { XCTFail("\(what): \(mismatches.count) mismatching elements in all", file: file, line: line) }
}
