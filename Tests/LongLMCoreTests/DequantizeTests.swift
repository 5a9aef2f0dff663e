import Foundation
import XCTest
@testable import LongLMCore

/// Pins the dequantizers to llama.cpp's reference output bit for bit. Fixtures: Tests/Fixtures/quant, made by
/// scripts/make_quant_fixtures.py (ggml's quantizer and dequantizer for the quantized types, gguf-py for the float
/// types; its README names the versions).
final class DequantizeTests: XCTestCase {
    /// Dequantizes `raw` placed `offset` bytes into a fresh buffer, so blocks start at that misalignment.
    private func dequantize(_ type: GGMLType, _ raw: [UInt8], count: Int, atByteOffset offset: Int) throws -> [Float] {
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: raw.count + offset, alignment: 64)
        defer { buffer.deallocate() }
        raw.withUnsafeBytes { (buffer + offset).copyMemory(from: $0.baseAddress!, byteCount: raw.count) }
        var out = [Float](repeating: .nan, count: count)
        try out.withUnsafeMutableBufferPointer { dst in
            try dequantizeRow(type: type, source: UnsafeRawPointer(buffer + offset), count: count, into: dst.baseAddress!)
        }
        return out
    }

    private func assertMatchesReference(_ type: GGMLType, file: StaticString = #filePath, line: UInt = #line) throws {
        let fixture = try QuantFixture(type, file: file, line: line)
        let out = try dequantize(type, fixture.raw, count: fixture.expected.count, atByteOffset: 0)
        assertBitIdentical(out, fixture.expected, type.name, file: file, line: line)
    }

    // MARK: bit-exact against ggml (quantized types) and gguf-py (float types)

    func testF32CopiesBitPatternsIncludingNaNPayloads() throws { try assertMatchesReference(.f32) }
    func testF16MatchesReferenceIncludingSubnormalsInfinitiesAndNaNs() throws { try assertMatchesReference(.f16) }
    func testBF16MatchesReferenceIncludingSpecialValues() throws { try assertMatchesReference(.bf16) }
    func testQ8_0MatchesReferenceBitExactly() throws { try assertMatchesReference(.q8_0) }
    func testQ4_0MatchesReferenceBitExactly() throws { try assertMatchesReference(.q4_0) }
    func testQ4_1MatchesReferenceBitExactly() throws { try assertMatchesReference(.q4_1) }
    func testQ5_0MatchesReferenceBitExactly() throws { try assertMatchesReference(.q5_0) }
    func testQ5_1MatchesReferenceBitExactly() throws { try assertMatchesReference(.q5_1) }
    func testQ2_KMatchesReferenceBitExactly() throws { try assertMatchesReference(.q2_K) }
    func testQ3_KMatchesReferenceBitExactly() throws { try assertMatchesReference(.q3_K) }
    func testQ4_KMatchesReferenceBitExactly() throws { try assertMatchesReference(.q4_K) }
    func testQ5_KMatchesReferenceBitExactly() throws { try assertMatchesReference(.q5_K) }
    func testQ6_KMatchesReferenceBitExactly() throws { try assertMatchesReference(.q6_K) }
    func testIQ4_NLMatchesReferenceBitExactly() throws { try assertMatchesReference(.iq4_nl) }
    func testIQ4_XSMatchesReferenceBitExactly() throws { try assertMatchesReference(.iq4_xs) }

    func testEveryDequantizableTypeHasAFixture() {
        XCTAssertEqual(Set(QuantFixture.types), Set(GGMLType.allCases.filter(\.isDequantizable)))
    }

    func testEveryTypeDecodesIdenticallyFromUnalignedSource() throws {
        for type in QuantFixture.types {
            let fixture = try QuantFixture(type)
            for offset in [1, 3, 7] {
                let out = try dequantize(type, fixture.raw, count: fixture.expected.count, atByteOffset: offset)
                assertBitIdentical(out, fixture.expected, "\(type.name) at byte offset \(offset)")
            }
        }
    }

    func testBlockGeometryOfEachKernelMatchesGGMLType() {
        let kernels: [(GGMLType, Int, Int)] = [
            (.f32, F32.blockSize, F32.bytesPerBlock), (.f16, F16.blockSize, F16.bytesPerBlock),
            (.bf16, BF16.blockSize, BF16.bytesPerBlock), (.q8_0, Q8_0.blockSize, Q8_0.bytesPerBlock),
            (.q4_0, Q4_0.blockSize, Q4_0.bytesPerBlock), (.q4_1, Q4_1.blockSize, Q4_1.bytesPerBlock),
            (.q5_0, Q5_0.blockSize, Q5_0.bytesPerBlock), (.q5_1, Q5_1.blockSize, Q5_1.bytesPerBlock),
            (.q2_K, Q2_K.blockSize, Q2_K.bytesPerBlock), (.q3_K, Q3_K.blockSize, Q3_K.bytesPerBlock),
            (.q4_K, Q4_K.blockSize, Q4_K.bytesPerBlock), (.q5_K, Q5_K.blockSize, Q5_K.bytesPerBlock),
            (.q6_K, Q6_K.blockSize, Q6_K.bytesPerBlock), (.iq4_nl, IQ4_NL.blockSize, IQ4_NL.bytesPerBlock),
            (.iq4_xs, IQ4_XS.blockSize, IQ4_XS.bytesPerBlock),
        ]
        for (type, blockSize, bytesPerBlock) in kernels {
            XCTAssertEqual(type.blockSize, blockSize, type.name)
            XCTAssertEqual(type.bytesPerBlock, bytesPerBlock, type.name)
        }
        XCTAssertEqual(Set(kernels.map(\.0)), Set(GGMLType.allCases.filter(\.isDequantizable)))
    }

    // MARK: half and bfloat16 conversion

    func testHalfToFloatDecodesKnownValues() {
        XCTAssertEqual(halfToFloat(0x3C00), 1.0)
        XCTAssertEqual(halfToFloat(0xC000), -2.0)
        XCTAssertEqual(halfToFloat(0x0001), 5.9604645e-08)
        XCTAssertEqual(halfToFloat(0x0001), Float(sign: .plus, exponent: -24, significand: 1))
        XCTAssertEqual(halfToFloat(0x03FF), Float(1023) * 0x1p-24)   // largest subnormal
        XCTAssertEqual(halfToFloat(0x0400), 0x1p-14)                 // smallest normal
        XCTAssertEqual(halfToFloat(0x7BFF), 65504)
        XCTAssertEqual(halfToFloat(0x7C00), .infinity)
        XCTAssertEqual(halfToFloat(0xFC00), -.infinity)
        XCTAssertEqual(halfToFloat(0x8000).bitPattern, (-0.0 as Float).bitPattern)
        XCTAssertTrue(halfToFloat(0x7E00).isNaN)
        XCTAssertTrue(halfToFloat(0x7C01).isSignalingNaN, "a signalling NaN stays signalling, as in numpy")
    }

    func testHalfToFloatAgreesWithFloat16ConversionForEveryNonNaNPattern() {
        #if arch(x86_64) || arch(arm64)
        for bits in UInt16.min...UInt16.max {
            let half = Float16(bitPattern: bits)
            if half.isNaN {
                XCTAssertTrue(halfToFloat(bits).isNaN, "0x\(String(bits, radix: 16))")
            } else {
                XCTAssertEqual(halfToFloat(bits).bitPattern, Float(half).bitPattern, "0x\(String(bits, radix: 16))")
            }
        }
        #endif
    }

    func testBFloat16ToFloatIsTheUpperHalfOfAFloat() {
        XCTAssertEqual(bfloat16ToFloat(0x3F80), 1.0)
        XCTAssertEqual(bfloat16ToFloat(0xC000), -2.0)
        XCTAssertEqual(bfloat16ToFloat(0x7F80), .infinity)
        XCTAssertEqual(bfloat16ToFloat(0x0001).bitPattern, 0x0001_0000)
        XCTAssertEqual(bfloat16ToFloat(0x7FC1).bitPattern, 0x7FC1_0000)
    }

    // MARK: errors

    func testCountThatIsNotWholeBlocksThrows() throws {
        let raw = [UInt8](repeating: 0, count: 2 * GGMLType.q4_K.bytesPerBlock)
        var out = [Float](repeating: 0, count: 512)
        for (type, count) in [(GGMLType.q4_K, 100), (.q4_K, 257), (.q8_0, 33), (.q4_0, -32)] {
            XCTAssertThrowsError(try raw.withUnsafeBytes { src in
                try out.withUnsafeMutableBufferPointer {
                    try dequantizeRow(type: type, source: src.baseAddress!, count: count, into: $0.baseAddress!)
                }
            }) { error in
                guard case DequantizeError.countNotWholeBlocks(let t, let c) = error else {
                    return XCTFail("expected countNotWholeBlocks, got \(error)")
                }
                XCTAssertEqual(t, type)
                XCTAssertEqual(c, count)
                XCTAssertTrue("\(error)".contains("multiple of \(type.blockSize)"), "\(error)")
            }
        }
    }

    func testUnsupportedTypeThrowsUnsupportedType() {
        let raw = [UInt8](repeating: 0, count: 512)
        var out = [Float](repeating: 0, count: 256)
        for type in GGMLType.allCases where !type.isDequantizable {
            XCTAssertThrowsError(try raw.withUnsafeBytes { src in
                try out.withUnsafeMutableBufferPointer {
                    try dequantizeRow(type: type, source: src.baseAddress!, count: type.blockSize, into: $0.baseAddress!)
                }
            }, type.name) { error in
                guard case DequantizeError.unsupportedType(let t) = error else {
                    return XCTFail("expected unsupportedType for \(type.name), got \(error)")
                }
                XCTAssertEqual(t, type)
            }
        }
        XCTAssertTrue("\(DequantizeError.unsupportedType(.iq2_xxs))".contains("IQ2_XXS"))
    }

    func testZeroCountWritesNothing() throws {
        var sentinel: Float = 42
        let byte: UInt8 = 0xFF
        try withUnsafeBytes(of: byte) { src in
            try dequantizeRow(type: .q6_K, source: src.baseAddress!, count: 0, into: &sentinel)
        }
        XCTAssertEqual(sentinel, 42)
    }
}

final class TopKTests: XCTestCase {
    func testTopKMatchesAFullSortIncludingTies() {
        var state: UInt64 = 42
        for n in [1, 5, 100, 1000] {
            var row: [Float] = []
            for _ in 0..<n {
                state = state &* 6364136223846793005 &+ 1442695040888963407
                let value: UInt64 = (state >> 33) % 50   // many ties
                row.append(Float(value))
            }
            let order: [Int] = (0..<n).sorted { (a: Int, b: Int) -> Bool in
                if row[a] != row[b] { return row[a] > row[b] }
                return a < b
            }
            let expected: [Int32] = order.prefix(20).map { Int32($0) }
            let got = row.withUnsafeBufferPointer { TopK.indices($0, count: 20) }
            XCTAssertEqual(got, expected, "n=\(n)")
        }
    }
}

final class VectorExpTests: XCTestCase {
    func testVectorExpMatchesExpfToTwoUlpsAndMapsMaskedToZero() {
        for variant in KernelVariant.supportedHere {
            var inputs: [Float] = []
            var x: Float = -87
            while x < 88 { inputs.append(x); x += 0.0137 }
            var row = inputs
            _ = row.withUnsafeMutableBufferPointer { VectorExp.expShiftedInPlace($0.baseAddress!, count: $0.count, shift: 0, variant: variant) }
            var worst: Float = 0
            for (v, x) in zip(row, inputs) { worst = max(worst, abs(v - expf(x)) / expf(x)) }
            XCTAssertLessThan(worst, 3e-7, "\(variant)")
            var masked: [Float] = [-.infinity, -100, -87.4, 0]
            _ = masked.withUnsafeMutableBufferPointer { VectorExp.expShiftedInPlace($0.baseAddress!, count: $0.count, shift: 0, variant: variant) }
            XCTAssertEqual(Array(masked[0..<3]), [0, 0, 0], "\(variant)")
            var tail: [Float] = [0, 1, -.infinity, 2, -1, 0.5, 3, -.infinity, 1, 1, 1, 1, 1, 1, 1, 1, 2, -.infinity, 0.25]
            let expected = tail.map { expf($0 - 3) }
            let sum = tail.withUnsafeMutableBufferPointer { VectorExp.expShiftedInPlace($0.baseAddress!, count: $0.count, shift: 3, variant: variant) }
            for (a, b) in zip(tail, expected) { XCTAssertEqual(a, b, accuracy: 1e-7) }
            XCTAssertEqual(sum, expected.reduce(0, +), accuracy: 1e-6)
            XCTAssertEqual(VectorExp.maximum([1, 5, -2, 7, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9, 1], count: 18, variant: variant), 9)
            XCTAssertEqual(VectorExp.maximum([-3, -.infinity, -1], count: 3, variant: variant), -1)
        }
    }

    func testEveryVariantGivesTheSameBitsAsPortable() {
        var rng = SplitMix64(seed: 3)
        let scores = (0..<1003).map { i -> Float in i % 17 == 0 ? -.infinity : Float(Int64(rng.next() % 4000) - 3000) / 100 }
        var reference = scores
        let referenceSum = reference.withUnsafeMutableBufferPointer { VectorExp.expShiftedInPlace($0.baseAddress!, count: $0.count, shift: 7, variant: .portable) }
        for variant in KernelVariant.supportedHere {
            var row = scores
            let sum = row.withUnsafeMutableBufferPointer { VectorExp.expShiftedInPlace($0.baseAddress!, count: $0.count, shift: 7, variant: variant) }
            XCTAssertEqual(row.map(\.bitPattern), reference.map(\.bitPattern), "\(variant)")
            XCTAssertEqual(sum.bitPattern, referenceSum.bitPattern, "\(variant)")
        }
    }
}
