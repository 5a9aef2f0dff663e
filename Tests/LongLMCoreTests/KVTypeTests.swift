import XCTest
@testable import LongLMCore

/// The KV cache's storage types: each conversion against an independent statement of its rounding rule, and every
/// kernel variant against the portable one, byte for byte.
final class KVTypeTests: XCTestCase {
    /// Values across every binade f16 has (subnormals, the overflow edge, ties), plus random ones.
    func sampleValues() -> [Float] {
        var values: [Float] = [0, -0, 1, -1, 65504, 65519.99, 65520, -65520, 1e-8, 6e-8, 5.96e-8, 2.98e-8, 6.1e-5, 6.104e-5,
                               .infinity, -.infinity, .greatestFiniteMagnitude, .leastNonzeroMagnitude, 3.14159265, 1 + 1.0 / 2048,
                               1 + 3.0 / 2048, 1 + 1.0 / 256, 1 + 3.0 / 256]
        var state: UInt64 = 12345
        for _ in 0..<20_000 {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            let bits = UInt32(truncatingIfNeeded: state >> 32)
            let value = Float(bitPattern: bits)
            if value.isFinite, abs(value) < 1e6 { values.append(value) }
            values.append(Float(Int64(bitPattern: state) % 100_000) / 997)
        }
        while values.count % 32 != 0 { values.append(0.5) }
        return values
    }

    func encode(_ type: KVType, _ x: [Float], variant: KernelVariant) -> [UInt8] {
        var out = [UInt8](repeating: 0xAA, count: type.bytes(x.count))
        x.withUnsafeBufferPointer { xs in out.withUnsafeMutableBytes { type.encode(xs.baseAddress!, count: x.count, into: $0.baseAddress!, variant: variant) } }
        return out
    }

    func decode(_ type: KVType, _ bytes: [UInt8], count: Int, variant: KernelVariant) -> [Float] {
        var out = [Float](repeating: .nan, count: count)
        bytes.withUnsafeBytes { b in out.withUnsafeMutableBufferPointer { type.decode(b.baseAddress!, count: count, into: $0.baseAddress!, variant: variant) } }
        return out
    }

    func testF16IsIEEEBinary16RoundedToNearestEven() {
        let x = sampleValues()
        for variant in KernelVariant.supportedHere {
            let bytes = encode(.f16, x, variant: variant)
            let stored = bytes.withUnsafeBytes { Array($0.bindMemory(to: UInt16.self)) }
            let back = decode(.f16, bytes, count: x.count, variant: variant)
            for (i, value) in x.enumerated() {
                // Swift's Float16 conversion rounds to nearest even (IEEE 754): the independent reference.
                XCTAssertEqual(stored[i], Float16(value).bitPattern, "\(variant) \(value)")
                XCTAssertEqual(back[i].bitPattern, Float(Float16(bitPattern: stored[i])).bitPattern, "\(variant) \(value)")
                if stored[i] != Float16(value).bitPattern { return }
            }
        }
    }

    func testBF16KeepsTheNearestOfTheTwoTruncationsTiesToEven() {
        let x = sampleValues()
        for variant in KernelVariant.supportedHere {
            let back = decode(.bf16, encode(.bf16, x, variant: variant), count: x.count, variant: variant)
            for (i, value) in x.enumerated() where value.isFinite {
                let low = Float(bitPattern: value.bitPattern & 0xFFFF_0000)
                let high = Float(bitPattern: (value.bitPattern & 0xFFFF_0000) &+ 0x1_0000)
                // Past the largest bf16 the upper neighbour is 2^128 (which rounds to infinity).
                let highValue = high.isInfinite ? Double(sign: value.sign, exponent: 128, significand: 1) : Double(high)
                let dLow = abs(Double(value) - Double(low)), dHigh = abs(Double(value) - highValue)
                let expected = dLow < dHigh ? low : dHigh < dLow ? high : ((low.bitPattern >> 16) & 1 == 0 ? low : high)
                XCTAssertEqual(back[i].bitPattern, expected.bitPattern, "\(variant) \(value)")
                if back[i].bitPattern != expected.bitPattern { return }
            }
        }
    }

    func testQ8_0BlocksHoldAnF16ScaleAndRoundedQuotients() {
        // Scales stay inside f16's range for |x| up to 127 * 65504 (about 8.3e6); keys and values are far smaller.
        let x = sampleValues().map { $0.isFinite && abs($0) < 1e6 ? $0 : 0 }
        for variant in KernelVariant.supportedHere {
            let bytes = encode(.q8_0, x, variant: variant)
            XCTAssertEqual(bytes.count, x.count / 32 * 34)
            let back = decode(.q8_0, bytes, count: x.count, variant: variant)
            for b in 0..<(x.count / 32) {
                let block = x[(b * 32)..<(b * 32 + 32)]
                let d = block.map(abs).max()! / 127
                let id: Float = d != 0 ? 1 / d : 0
                let scaleBits = bytes[b * 34..<(b * 34 + 2)].withUnsafeBytes { $0.loadUnaligned(as: UInt16.self) }
                XCTAssertEqual(scaleBits, Float16(d).bitPattern, "block \(b)")
                let scale = Float(Float16(d))
                for (i, value) in block.enumerated() {
                    let q = (value * id).rounded(.toNearestOrEven)
                    XCTAssertLessThanOrEqual(abs(q), 127)
                    XCTAssertEqual(Int8(bitPattern: bytes[b * 34 + 2 + i]), Int8(q), "\(variant) block \(b) value \(value)")
                    XCTAssertEqual(back[b * 32 + i], scale * q)
                }
            }
        }
    }

    func testEveryVariantWritesAndReadsTheSameBytesAsThePortableOne() {
        let x = sampleValues().map { $0.isFinite ? $0 : 1 }
        for type in KVType.allCases {
            let portable = encode(type, x, variant: .portable)
            let portableBack = decode(type, portable, count: x.count, variant: .portable)
            for variant in KernelVariant.supportedHere {
                XCTAssertEqual(encode(type, x, variant: variant), portable, "\(type) \(variant)")
                XCTAssertEqual(decode(type, portable, count: x.count, variant: variant).map(\.bitPattern), portableBack.map(\.bitPattern),
                               "\(type) \(variant)")
            }
            // Odd lengths take the scalar tails of the vector loops.
            if type != .q8_0 {
                for n in [1, 7, 9, 15] {
                    let part = Array(x.prefix(n))
                    for variant in KernelVariant.supportedHere {
                        XCTAssertEqual(encode(type, part, variant: variant), encode(type, part, variant: .portable), "\(type) n=\(n)")
                    }
                }
            }
        }
    }

    func testSizesAndWhichHeadDimsEachTypeStores() {
        XCTAssertEqual(KVType.f32.bytes(256), 1024)
        XCTAssertEqual(KVType.f16.bytes(256), 512)
        XCTAssertEqual(KVType.bf16.bytes(256), 512)
        XCTAssertEqual(KVType.q8_0.bytes(256), 272)
        XCTAssertNil(KVType.q8_0.unsupportedReason(headDim: 64))
        XCTAssertNotNil(KVType.q8_0.unsupportedReason(headDim: 16))
        XCTAssertTrue(KVType.q8_0.unsupportedReason(headDim: 16)!.contains("16"))
        for type in [KVType.f32, .f16, .bf16] { XCTAssertNil(type.unsupportedReason(headDim: 8)) }
    }
}
