import Foundation
import XCTest
@testable import LongLMCore

/// The BF16 attention tiles (`BF16Tiles`, attention_bf16.c):
/// - rounding to bfloat16 is to the nearest value, ties to even, subnormals to zero, identical in every variant;
/// - each product equals the sum of the bfloat16 operands' products (computed in Double) within the f32 sums'
///   rounding: |tile - exact| <= (terms + 1) 2^-24 sum |products|;
/// - the AVX-512 tiles give the portable reference's bits (the same additions in the same order), over every
///   row count, partial key blocks, odd key counts and several head dims.
final class BF16TilesTests: XCTestCase {
    /// The value of a bfloat16 (the high half of an f32).
    func value(_ h: UInt16) -> Float { Float(bitPattern: UInt32(h) << 16) }
    func low(_ pair: UInt32) -> Float { value(UInt16(pair & 0xFFFF)) }
    func high(_ pair: UInt32) -> Float { value(UInt16(pair >> 16)) }

    func rounded(_ x: [Float], _ variant: BF16Variant) -> [UInt32] {
        var pairs = [UInt32](repeating: 0xDEAD_BEEF, count: (x.count + 1) / 2)
        x.withUnsafeBufferPointer { BF16Tiles.roundPairs($0.baseAddress!, count: x.count, into: &pairs, variant: variant) }
        return pairs
    }

    func testRoundingIsToTheNearestBfloatTiesToEvenInEveryVariant() {
        var rng = SplitMix(seed: 41)
        var x = (0..<1001).map { _ in rng.nextFloat(-4, 4) * powf(2, Float(Int(rng.next() % 60)) - 30) }
        // Ties (the low 16 bits exactly 0x8000, both parities), subnormals, zeros, infinities, the largest float.
        x += [Float(bitPattern: 0x3F80_8000), Float(bitPattern: 0x3F81_8000), Float(bitPattern: 0xBF80_8000),
              Float(bitPattern: 0x0000_0001), Float(bitPattern: 0x807F_FFFF), 0, -0.0, .infinity, -.infinity,
              .greatestFiniteMagnitude, Float(bitPattern: 0x0080_0000), 1.5]
        XCTAssertEqual(x.count % 2, 1)
        let reference = rounded(x, .portable)
        for (i, v) in x.enumerated() {
            let r = i % 2 == 0 ? low(reference[i / 2]) : high(reference[i / 2])
            let bits = v.bitPattern
            if bits & 0x7F80_0000 == 0 {
                XCTAssertEqual(r.bitPattern, bits & 0x8000_0000, "subnormal \(v) goes to a zero of its sign")
                continue
            }
            if !v.isFinite { XCTAssertEqual(r, v); continue }
            // The two bfloat16 values around v, and the rule: nearest, ties to the even one.
            // Past the largest bfloat16 the next value up is 2^128 (and rounding there gives infinity).
            let down = Float(bitPattern: bits & 0xFFFF_0000), up = Float(bitPattern: (bits & 0xFFFF_0000) + 0x10000)
            let upValue = up.isFinite ? Double(up) : (v < 0 ? -0x1p128 : 0x1p128)
            let dDown = abs(Double(v) - Double(down)), dUp = abs(Double(v) - upValue)
            let expected = dDown < dUp ? down : dUp < dDown ? up : ((down.bitPattern >> 16) & 1 == 0 ? down : up)
            XCTAssertEqual(r.bitPattern, expected.bitPattern, "x = \(v)")
        }
        XCTAssertEqual(high(reference.last!), 0, "an odd count is padded with zero")
        for variant in BF16Variant.supportedHere {
            XCTAssertEqual(rounded(x, variant), reference, "\(variant)")
            for count in [1, 15, 31, 32, 33, 64, 65] {
                XCTAssertEqual(rounded(Array(x[0..<count]), variant), rounded(Array(x[0..<count]), .portable), "\(variant) \(count)")
            }
        }
    }

    struct Case { let rows: Int, keys: Int, headDim: Int }
    let cases = [Case(rows: 1, keys: 1, headDim: 16), Case(rows: 6, keys: 64, headDim: 64), Case(rows: 7, keys: 65, headDim: 64),
                 Case(rows: 13, keys: 100, headDim: 32), Case(rows: 128, keys: 256, headDim: 256),
                 Case(rows: 96, keys: 201, headDim: 64), Case(rows: 5, keys: 17, headDim: 80)]

    func testScoresAreTheBfloatProductsWithinF32SummingAndEveryVariantGivesTheReferenceBits() {
        var rng = SplitMix(seed: 42)
        for c in cases {
            let d = c.headDim, pairsPerRow = d / 2
            let q = (0..<(c.rows * d)).map { _ in rng.nextFloat(-3, 3) }
            let stride = d + 16   // keys sit in wider rows, as in a cache of several kv heads
            let keys = (0..<(c.keys * stride)).map { _ in rng.nextFloat(-2, 2) }
            let queryPairs = rounded(q, .portable)
            var panel = [UInt32](repeating: 0, count: BF16Tiles.keyPanelWords(count: c.keys, headDim: d))
            keys.withUnsafeBytes { BF16Tiles.keyPanel(keys: $0.baseAddress!, type: .f32, stride: stride, count: c.keys, headDim: d, into: &panel) }
            let keyPairs = (0..<c.keys).map { j in rounded(Array(keys[(j * stride)..<(j * stride + d)]), .portable) }
            var reference: [Float]? = nil
            for variant in [BF16Variant.portable] + BF16Variant.supportedHere.filter({ $0 != .portable }) {
                let ldc = c.keys + 3
                var scores = [Float](repeating: .nan, count: c.rows * ldc)
                BF16Tiles.scores(queryPairs: queryPairs, rows: c.rows, headDim: d, keyPanel: panel, count: c.keys,
                                 into: &scores, ldc: ldc, variant: variant)
                for r in 0..<c.rows {
                    for j in 0..<c.keys {
                        var exact = 0.0, magnitude = 0.0
                        for p in 0..<pairsPerRow {
                            let a = queryPairs[r * pairsPerRow + p], b = keyPairs[j][p]
                            for (x, y) in [(low(a), low(b)), (high(a), high(b))] {
                                exact += Double(x) * Double(y)
                                magnitude += abs(Double(x) * Double(y))
                            }
                        }
                        let bound = Double(d + 1) * 0x1p-24 * magnitude
                        XCTAssertLessThanOrEqual(abs(Double(scores[r * ldc + j]) - exact), bound, "\(variant) \(c) (\(r), \(j))")
                    }
                    for j in c.keys..<ldc { XCTAssertTrue(scores[r * ldc + j].isNaN, "\(variant) writes past the keys") }
                }
                if let reference {
                    XCTAssertEqual(scores.map(\.bitPattern), reference.map(\.bitPattern), "\(variant) \(c) bits")
                }
                reference = reference ?? scores
            }
        }
    }

    func testValueSumsAreTheBfloatProductsWithinF32SummingAndEveryVariantGivesTheReferenceBits() {
        var rng = SplitMix(seed: 43)
        for c in cases where c.headDim % 16 == 0 {
            let d = c.headDim, pairStride = (c.keys + 1) / 2 + 2
            let stride = d + 16
            let values = (0..<(c.keys * stride)).map { _ in rng.nextFloat(-2, 2) }
            let probabilities = (0..<(c.rows * c.keys)).map { _ in rng.nextFloat(0, 1) }
            var probabilityPairs = [UInt32](repeating: 0, count: c.rows * pairStride)
            for r in 0..<c.rows {
                let row = rounded(Array(probabilities[(r * c.keys)..<((r + 1) * c.keys)]), .portable)
                for (i, pair) in row.enumerated() { probabilityPairs[r * pairStride + i] = pair }
            }
            var panel = [UInt32](repeating: 0, count: BF16Tiles.valuePanelWords(count: c.keys, headDim: d))
            values.withUnsafeBytes {
                BF16Tiles.valuePanel(values: $0.baseAddress!, type: .f32, stride: stride, count: c.keys, headDim: d, into: &panel)
            }
            let start = (0..<(c.rows * d)).map { _ in rng.nextFloat(-1, 1) }
            var reference: [Float]? = nil
            for variant in [BF16Variant.portable] + BF16Variant.supportedHere.filter({ $0 != .portable }) {
                var acc = start
                BF16Tiles.accumulate(probabilityPairs: probabilityPairs, rows: c.rows, count: c.keys, pairStride: pairStride,
                                     valuePanel: panel, headDim: d, into: &acc, variant: variant)
                for r in 0..<c.rows {
                    for i in 0..<d {
                        var exact = Double(start[r * d + i]), magnitude = abs(exact)
                        for j in 0..<c.keys {
                            let pj = j % 2 == 0 ? low(probabilityPairs[r * pairStride + j / 2]) : high(probabilityPairs[r * pairStride + j / 2])
                            let vj = low(rounded([values[j * stride + i]], .portable)[0])
                            exact += Double(pj) * Double(vj)
                            magnitude += abs(Double(pj) * Double(vj))
                        }
                        let bound = Double(c.keys + 2) * 0x1p-24 * magnitude
                        XCTAssertLessThanOrEqual(abs(Double(acc[r * d + i]) - exact), bound, "\(variant) \(c) (\(r), \(i))")
                    }
                }
                if let reference { XCTAssertEqual(acc.map(\.bitPattern), reference.map(\.bitPattern), "\(variant) \(c) bits") }
                reference = reference ?? acc
            }
        }
    }

    /// One softmax step over a tile: rows with masked (-inf) columns, rows with nothing visible yet, earlier states
    /// above and below the tile's maximum, odd and partial key counts.
    struct SoftmaxCase {
        var scores: [Float], maxima: [Float], sums: [Float], accumulator: [Float]
        let rows: Int, keys: Int, headDim: Int
    }

    func softmaxCase(rows: Int, keys: Int, headDim: Int, seed: UInt64) -> SoftmaxCase {
        var rng = SplitMix(seed: seed)
        var scores = (0..<(rows * keys)).map { _ in rng.nextFloat(-12, 12) }
        var maxima = [Float](repeating: -.infinity, count: rows), sums = [Float](repeating: 0, count: rows)
        for r in 0..<rows {
            switch r % 5 {
            case 1: for c in 0..<keys where (c + r) % 3 == 0 { scores[r * keys + c] = -.infinity }   // causal gaps
            case 2: for c in 0..<keys { scores[r * keys + c] = -.infinity }                          // nothing visible
            case 3: maxima[r] = 30; sums[r] = 2.5                                                     // earlier max above
            case 4: maxima[r] = -3; sums[r] = 7.25                                                    // earlier max below
            default: scores[r * keys + (r % keys)] = 95                                               // past exp's range
            }
        }
        let accumulator = (0..<(rows * headDim)).map { _ in rng.nextFloat(-1, 1) }
        return SoftmaxCase(scores: scores, maxima: maxima, sums: sums, accumulator: accumulator, rows: rows, keys: keys,
                           headDim: headDim)
    }

    func softmaxStep(_ c: SoftmaxCase, _ variant: BF16Variant) -> (SoftmaxCase, [UInt32]) {
        var out = c
        let stride = (c.keys + 1) / 2
        var pairs = [UInt32](repeating: 0xDEAD_BEEF, count: c.rows * stride)
        BF16Tiles.softmaxPairs(scores: c.scores, rows: c.rows, count: c.keys, maxima: &out.maxima, sums: &out.sums,
                               into: &pairs, pairStride: stride, accumulator: &out.accumulator, headDim: c.headDim,
                               variant: variant)
        return (out, pairs)
    }

    func testSoftmaxStepIsTheSoftmaxInBfloatAndEveryVariantGivesTheReferenceBits() {
        var worstProbability = 0.0, worstSum = 0.0
        for (n, shape) in [(1, 1, 16), (3, 1, 16), (7, 15, 32), (10, 16, 16), (10, 17, 64), (12, 31, 64), (10, 32, 16),
                           (9, 33, 48), (20, 64, 64), (15, 100, 256), (6, 256, 64)].enumerated() {
            let c = softmaxCase(rows: shape.0, keys: shape.1, headDim: shape.2, seed: UInt64(n))
            let (reference, pairs) = softmaxStep(c, .portable)
            let stride = (c.keys + 1) / 2
            for r in 0..<c.rows {
                let row = Array(c.scores[(r * c.keys)..<((r + 1) * c.keys)])
                let tileMax = row.max()!
                let next = max(c.maxima[r], tileMax)
                if next == -.infinity {
                    XCTAssertEqual(reference.maxima[r], c.maxima[r]); XCTAssertEqual(reference.sums[r], c.sums[r])
                    XCTAssertEqual(Array(pairs[(r * stride)..<((r + 1) * stride)]), [UInt32](repeating: 0, count: stride))
                    continue
                }
                XCTAssertEqual(reference.maxima[r], next)
                var roundedSum = 0.0
                for k in 0..<c.keys {
                    let exact = Foundation.exp(Double(row[k]) - Double(next))
                    let word = pairs[r * stride + k / 2]
                    let p = Double(k % 2 == 0 ? low(word) : high(word))
                    roundedSum += p   // the denominator sums the probabilities as rounded
                    // Below -87.3 (and masked -inf) the kernel's exp gives 0 (f32 would go subnormal there).
                    if !(row[k] - next >= -87.3) { XCTAssertEqual(p, 0); continue }
                    // bfloat16 keeps 8 significant bits: rounding moves a value by at most 2^-8 of itself; exp adds below 2e-7.
                    worstProbability = max(worstProbability, abs(p - exact) / exact)
                }
                if c.keys % 2 == 1 { XCTAssertEqual(high(pairs[r * stride + stride - 1]), 0, "odd count padded with 0") }
                let alpha = c.maxima[r] == -.infinity ? 0 : Foundation.exp(Double(c.maxima[r]) - Double(next))
                let expectedSum = Double(c.sums[r]) * alpha + roundedSum
                worstSum = max(worstSum, abs(Double(reference.sums[r]) - expectedSum) / expectedSum)
                for i in 0..<c.headDim {
                    let a = Double(c.accumulator[r * c.headDim + i]) * alpha
                    XCTAssertEqual(Double(reference.accumulator[r * c.headDim + i]), a, accuracy: 1e-6 * max(1, abs(a)))
                }
            }
            for variant in BF16Variant.supportedHere where variant != .portable {
                let (other, otherPairs) = softmaxStep(c, variant)
                XCTAssertEqual(otherPairs, pairs, "\(variant) pairs, case \(n)")
                XCTAssertEqual(other.maxima.map(\.bitPattern), reference.maxima.map(\.bitPattern), "\(variant) maxima")
                XCTAssertEqual(other.sums.map(\.bitPattern), reference.sums.map(\.bitPattern), "\(variant) sums")
                XCTAssertEqual(other.accumulator.map(\.bitPattern), reference.accumulator.map(\.bitPattern), "\(variant) acc")
            }
        }
        XCTAssertLessThanOrEqual(worstProbability, 0x1p-8 + 2e-7, "probabilities: worst relative error \(worstProbability)")
        XCTAssertLessThan(worstSum, 1e-6, "sums: worst relative error \(worstSum)")
    }

    func testKeyAndValuePanelsReadF16AndBf16RowsAsTheirF32Values() {
        var rng = SplitMix(seed: 44)
        let d = 32, n = 21, stride = 48
        let x = (0..<(n * stride)).map { _ in rng.nextFloat(-3, 3) }
        for type in [KVType.f16, .bf16] {
            var stored = [UInt8](repeating: 0, count: type.bytes(x.count))
            var decoded = [Float](repeating: 0, count: x.count)
            x.withUnsafeBufferPointer { type.encode($0.baseAddress!, count: x.count, into: &stored, variant: .portable) }
            stored.withUnsafeBytes { type.decode($0.baseAddress!, count: x.count, into: &decoded, variant: .portable) }
            for (name, words, build) in [
                ("keys", BF16Tiles.keyPanelWords(count: n, headDim: d), BF16Tiles.keyPanel),
                ("values", BF16Tiles.valuePanelWords(count: n, headDim: d), BF16Tiles.valuePanel),
            ] as [(String, Int, (UnsafeRawPointer, KVType, Int, Int, Int, UnsafeMutablePointer<UInt32>) -> Void)] {
                var fromStored = [UInt32](repeating: 0, count: words), fromFloats = fromStored
                stored.withUnsafeBytes { build($0.baseAddress!, type, stride, n, d, &fromStored) }
                decoded.withUnsafeBytes { build($0.baseAddress!, .f32, stride, n, d, &fromFloats) }
                XCTAssertEqual(fromStored, fromFloats, "\(name) from \(type)")
            }
        }
    }
}
