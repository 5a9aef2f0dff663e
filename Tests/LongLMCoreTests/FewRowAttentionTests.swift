import XCTest
import CLongLMKernels
@testable import LongLMCore

/// Pins the few-row attention products (`FewRowAttention`, CLongLMKernels): each against a double-precision
/// product within f32 summation rounding, every variant this node runs bit for bit against the portable one, and
/// the row counts they refuse.
final class FewRowAttentionTests: XCTestCase {
    /// f32 sums of up to 256 terms: a few units of 2^-24 times the number of terms, relative to sum |a_i b_i|.
    static let relativeTolerance = 1e-5

    func random(_ count: Int, _ rng: inout SplitMix) -> [Float] { (0..<count).map { _ in rng.nextFloat(-1, 1) } }

    func testScoresEqualTheDotProductsOnEveryVariant() {
        var rng = SplitMix(seed: 5)
        for (d, n, stride) in [(64, 1, 64), (67, 13, 70), (256, 256, 256), (128, 37, 384)] {
            for rows in 1...FewRowAttention.maxRows {
                let q = random(rows * d, &rng), k = random(n * stride, &rng)
                var reference: [Float]? = nil
                for variant in KernelVariant.supportedHere {
                    var scores = [Float](repeating: .nan, count: rows * n)
                    FewRowAttention.scores(queries: q, rows: rows, headDim: d, keys: k, keyStride: stride, count: n,
                                           into: &scores, variant: variant)
                    for r in 0..<rows {
                        for c in 0..<n {
                            let terms = (0..<d).map { Double(q[r * d + $0]) * Double(k[c * stride + $0]) }
                            let exact = terms.reduce(0, +), scale = terms.map(abs).reduce(0, +)
                            XCTAssertEqual(Double(scores[r * n + c]), exact, accuracy: Self.relativeTolerance * scale,
                                           "d \(d) rows \(rows) r \(r) c \(c) \(variant)")
                        }
                    }
                    if let reference {
                        XCTAssertEqual(scores.map(\.bitPattern), reference.map(\.bitPattern), "d \(d) rows \(rows) \(variant)")
                    } else {
                        reference = scores
                    }
                }
            }
        }
    }

    func testValuesAccumulateTheWeightedSumOnEveryVariant() {
        var rng = SplitMix(seed: 6)
        for (d, n, stride) in [(64, 1, 64), (67, 13, 70), (256, 256, 256), (128, 37, 384)] {
            for rows in 1...FewRowAttention.maxRows {
                let p = (0..<(rows * n)).map { _ in rng.nextFloat(0, 1) }, v = random(n * stride, &rng)
                let start = random(rows * d, &rng)
                var reference: [Float]? = nil
                for variant in KernelVariant.supportedHere {
                    var acc = start
                    FewRowAttention.accumulateValues(probabilities: p, rows: rows, count: n, values: v, valueStride: stride,
                                                     headDim: d, into: &acc, variant: variant)
                    for r in 0..<rows {
                        for i in 0..<d {
                            let terms = (0..<n).map { Double(p[r * n + $0]) * Double(v[$0 * stride + i]) }
                            let exact = Double(start[r * d + i]) + terms.reduce(0, +)
                            let scale = abs(Double(start[r * d + i])) + terms.map(abs).reduce(0, +)
                            XCTAssertEqual(Double(acc[r * d + i]), exact, accuracy: Self.relativeTolerance * scale,
                                           "d \(d) rows \(rows) r \(r) i \(i) \(variant)")
                        }
                    }
                    if let reference {
                        XCTAssertEqual(acc.map(\.bitPattern), reference.map(\.bitPattern), "d \(d) rows \(rows) \(variant)")
                    } else {
                        reference = acc
                    }
                }
            }
        }
    }

    func testAKeysScoreHasTheSameBitsInABlockOfEightAndAlone() {
        var rng = SplitMix(seed: 7)
        for (d, n, stride) in [(64, 19, 64), (67, 17, 70), (256, 9, 256)] {
            for rows in [1, 3, 4, 8] {
                let q = random(rows * d, &rng), k = random(n * stride, &rng)
                for variant in KernelVariant.supportedHere {
                    var block = [Float](repeating: .nan, count: rows * n)
                    FewRowAttention.scores(queries: q, rows: rows, headDim: d, keys: k, keyStride: stride, count: n,
                                           into: &block, variant: variant)
                    for c in 0..<n {
                        var alone = [Float](repeating: .nan, count: rows)
                        k.withUnsafeBufferPointer { keys in
                            FewRowAttention.scores(queries: q, rows: rows, headDim: d, keys: keys.baseAddress! + c * stride,
                                                   keyStride: stride, count: 1, into: &alone, variant: variant)
                        }
                        for r in 0..<rows {
                            XCTAssertEqual(block[r * n + c].bitPattern, alone[r].bitPattern, "d \(d) rows \(rows) key \(c) \(variant)")
                        }
                    }
                }
            }
        }
    }

    /// Values stored as f16 or bf16 give the bits of the f32 product on the decoded values, on every variant.
    func testStoredValuesGiveTheBitsOfTheDecodedValues() {
        var rng = SplitMix(seed: 8)
        for type in KVType.allCases where FewRowAttention.readsStored(type) {
            for (d, n, stride) in [(64, 1, 64), (67, 13, 70), (256, 40, 256), (128, 37, 384)] {
                for rows in 1...FewRowAttention.maxRows {
                    let p = (0..<(rows * n)).map { _ in rng.nextFloat(0, 1) }
                    let x = random(n * stride, &rng).map { $0 * 3 }
                    var stored = [UInt8](repeating: 0, count: type.bytes(n * stride))
                    var decoded = [Float](repeating: 0, count: n * stride)
                    stored.withUnsafeMutableBytes { type.encode(x, count: n * stride, into: $0.baseAddress!) }
                    stored.withUnsafeBytes { type.decode($0.baseAddress!, count: n * stride, into: &decoded, variant: .portable) }
                    let start = random(rows * d, &rng)
                    for variant in KernelVariant.supportedHere {
                        var expected = start, got = start
                        FewRowAttention.accumulateValues(probabilities: p, rows: rows, count: n, values: decoded,
                                                         valueStride: stride, headDim: d, into: &expected, variant: variant)
                        stored.withUnsafeBytes { raw in
                            FewRowAttention.accumulateStoredValues(probabilities: p, rows: rows, count: n,
                                                                   values: raw.baseAddress!, type: type, valueStride: stride,
                                                                   headDim: d, into: &got, variant: variant)
                        }
                        XCTAssertEqual(got.map(\.bitPattern), expected.map(\.bitPattern), "\(type) d \(d) rows \(rows) \(variant)")
                    }
                }
            }
        }
    }

    func testRowCountsOutsideOneToTheMaximumAreRefused() {
        var q8 = [Float](repeating: 0, count: 64)
        let ones = [Float](repeating: 1, count: 64)
        XCTAssertEqual(longlm_few_row_values_stored(LONGLM_KERNELS_PORTABLE, ones, 1, 1, LONGLM_KV_Q8_0, ones, 32, 32, &q8), -1,
                       "q8_0 values are decoded first")
        var out = [Float](repeating: 0, count: 64)
        let x = [Float](repeating: 1, count: 64 * 9)
        for rows in [0, FewRowAttention.maxRows + 1] {
            XCTAssertEqual(longlm_few_row_scores(LONGLM_KERNELS_PORTABLE, x, Int32(rows), 8, x, 8, 1, &out), -1)
            XCTAssertEqual(longlm_few_row_values(LONGLM_KERNELS_PORTABLE, x, Int32(rows), 1, x, 8, 8, &out), -1)
            XCTAssertEqual(longlm_few_row_values_stored(LONGLM_KERNELS_PORTABLE, x, Int32(rows), 1, LONGLM_KV_F16, x, 8, 8, &out), -1)
        }
    }
}
