import Foundation
import XCTest
@testable import LongLMCore

final class LogitNoiseTests: XCTestCase {
    /// The generator's f32 logarithm and cosine against Double's, over random bits and the edges of its range
    /// reductions (the smallest u1, u1 = 1, quarter turns, the octant boundaries, the last angle).
    func testBoxMullerMatchesTheDoubleFormula() {
        func exact(_ radius: UInt32, _ angle: UInt32) -> Double {
            let u1 = Double(radius + 1) / 16_777_216, turn = Double(angle) / 16_777_216
            return (-2 * Foundation.log(u1)).squareRoot() * Foundation.cos(2 * Double.pi * turn)
        }
        var rng = SplitMix64(seed: 11)
        var radii: [UInt32] = [0, 1, 2, 1 << 23, (1 << 24) - 2, (1 << 24) - 1]
        var angles: [UInt32] = [0, 1, (1 << 21) - 1, 1 << 21, (1 << 21) + 1, 1 << 22, 3 << 21, 1 << 23, 3 << 22, 7 << 21,
                                (1 << 24) - (1 << 21), (1 << 24) - 1]
        for _ in 0..<300 {
            radii.append(UInt32.random(in: 0..<(1 << 24), using: &rng))
            angles.append(UInt32.random(in: 0..<(1 << 24), using: &rng))
        }
        var worst = 0.0
        for r in radii {
            for a in angles {
                let value = Double(LogitNoise.boxMuller(radiusBits: r, angleBits: a))
                worst = max(worst, abs(value - exact(r, a)))
            }
        }
        // |eps| <= sqrt(48 ln 2) = 5.77; f32 carries about 6e-8 of that per rounding, the series less.
        XCTAssertLessThan(worst, 4e-6, "worst absolute error \(worst)")
        XCTAssertEqual(LogitNoise.boxMuller(radiusBits: (1 << 24) - 1, angleBits: 12345), 0)
    }

    /// Random rows of logits with keys in shuffled order and lengths that leave tails: every variant gives the
    /// portable code's bits, and the portable code is the definition (draw times std on the keys that get noise).
    func testEveryVariantAddsThePortableBits() {
        var rng = SplitMix64(seed: 5)
        for trial in 0..<260 {
            // The last 60 trials: positions near the top of int32 and groups up to 2^20 - 1 (the AVX-512 code's
            // quotient in double, exact there; larger groups take the scalar code).
            let large = trial >= 200
            let query = large ? Int.random(in: 2_000_000_000..<Int(Int32.max) - 25, using: &rng) : Int.random(in: 0..<40_000, using: &rng)
            let count = Int.random(in: 0..<70, using: &rng)
            let groupSize = large ? [2, 3, 1000, 65_535, (1 << 20) - 1, 1 << 20, 5_000_000][trial % 7] : Int.random(in: 1...17, using: &rng)
            let row = LogitNoise.Row(
                rowKey: rng.next(), query: query,
                prefixLength: large ? query - Int.random(in: -20..<5_000, using: &rng) : Int.random(in: 0...(query + 1), using: &rng),
                groupSize: groupSize, fractionalOnly: trial % 3 != 0,
                stdPerDistance: trial % 5 == 0 ? 0 : Float.random(in: 1e-6..<1e-3, using: &rng),
                stdConstant: trial % 5 == 0 ? 1 : 0)
            let lowest = large ? Int32(query - 5_000) : 0
            let keys = (0..<count).map { _ in Int32.random(in: lowest...Int32(query + 20), using: &rng) }
            let logits = (0..<count).map { c in c % 9 == 0 ? -0.0 : Float.random(in: -30..<30, using: &rng) }

            var expected = logits
            for c in 0..<count {
                let j = Int(keys[c])
                let fractional = j < row.prefixLength && j % groupSize != 0
                guard j <= query, !row.fractionalOnly || fractional else { continue }
                let std = Float(query - j) * row.stdPerDistance + row.stdConstant
                expected[c] = logits[c] + LogitNoise.standardNormal(rowKey: row.rowKey, key: j) * std
            }
            for variant in KernelVariant.supportedHere {
                var out = logits
                keys.withUnsafeBufferPointer { kp in
                    out.withUnsafeMutableBufferPointer { o in
                        LogitNoise.add(to: o.baseAddress!, keyPositions: kp.baseAddress ?? UnsafePointer(bitPattern: 8)!,
                                       count: count, row: row, variant: variant)
                    }
                }
                XCTAssertEqual(out.map(\.bitPattern), expected.map(\.bitPattern), "trial \(trial), \(variant)")
            }
        }
    }
}
