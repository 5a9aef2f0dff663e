import XCTest
@testable import LongLMAttention
import LongLMCore

/// The attention with BF16 tiles (`AttentionTiles.bf16`) against the full-matrix reference of each position
/// scheme, and the AVX-512 tiles against the portable ones.
///
/// Budget: max |tiled - reference| <= 2^-6 max |reference|. Where it comes from: queries, keys, probabilities and
/// values are each rounded to bfloat16 (relative error up to 2^-9 each); a score of these inputs (|q| ~ 1,
/// |k| ~ 3, 16-32 dims, scaled by 1 / sqrt(d)) moves by up to ~2^-9 of its sum of |terms|, a few hundredths,
/// and the probabilities follow it by the same relative amount; the values add 2^-9 more. The measured worst
/// case over these cases is printed by the test; it stays well inside the budget. The f32 tiles meet 1e-5.
final class BF16AttentionTests: XCTestCase {
    let budget = 0x1p-6

    func variants() -> [BF16Variant] { [.portable] + BF16Variant.supportedHere.filter { $0 != .portable } }

    func schemes(d: Int) -> [(String, any PositionScheme, (Int, Int, ArraySlice<Float>, ArraySlice<Float>) -> Double)] {
        let table = standardTable(d: d)
        let f = table.inverseFrequencies
        let (G, W) = (4, 8)
        let (chunk, local) = (12, 4)
        return [
            ("rope", RotaryScheme(table: table), { i, j, q, k in
                NaiveAttention.rotatedDot(q, k, queryPosition: Double(i), keyPosition: Double(j), inverseFrequencies: f, pairing: .halves)
            }),
            ("selfextend", SelfExtend(groupSize: G, window: W, table: table), { i, j, q, k in
                let (a, b) = i - j < W ? (i, j) : (i / G + W - W / G, j / G)
                return NaiveAttention.rotatedDot(q, k, queryPosition: Double(a), keyPosition: Double(b), inverseFrequencies: f, pairing: .halves)
            }),
            ("dca", DualChunk(chunkSize: chunk, localWindow: local, table: table), { i, j, q, k in
                let c = chunk - local, delta = i / c - j / c
                let a = delta == 0 ? i % c : delta == 1 ? min(i % c + c, chunk) : min(2 * c - 1, chunk)
                return NaiveAttention.rotatedDot(q, k, queryPosition: Double(a), keyPosition: Double(j % c), inverseFrequencies: f, pairing: .halves)
            }),
        ]
    }

    func testEverySchemeInBF16TilesIsWithinTheBudgetOfItsReference() {
        var worst = 0.0
        for d in [16, 32] {
            for (name, scheme, logit) in schemes(d: d) {
                for (T, S, qb, kb, window) in [(61, 61, 8, 32, nil), (45, 70, 5, 13, nil), (53, 53, 16, 16, 20)] as [(Int, Int, Int, Int, Int?)] {
                    for variant in variants() {
                        let error = tiledVersusNaive(scheme: scheme, T: T, S: S, d: d, queryBlock: qb, keyBlock: kb, window: window,
                                                     tiles: .bf16(variant), logit: logit)
                        worst = max(worst, error)
                        XCTAssertLessThan(error, budget, "\(name) d=\(d) T=\(T) S=\(S) tiles \(qb)x\(kb) window \(window.map(String.init) ?? "none") \(variant)")
                    }
                }
            }
        }
        print("BF16 tiles: worst relative error against the references \(worst) (budget \(budget))")
    }

    /// The whole attention: the AVX-512 tiles give the portable tiles' bits; decode-sized calls (a few rows) are
    /// not changed by the setting at all.
    func testVariantsGiveTheSameBitsAndFewRowCallsStayF32() {
        let d = 64, heads = 4, kvHeads = 2
        let table = standardTable(d: d)
        var rng = SplitMix(seed: 9)
        let shape = AttentionShape(heads: heads, kvHeads: kvHeads, headDim: d)
        for (T, S) in [(40, 300), (1, 300), (4, 300)] {
            let q = (0..<(T * heads * d)).map { _ in rng.nextFloat() * 2 - 1 }
            let k = (0..<(S * kvHeads * d)).map { _ in rng.nextFloat() * 2 - 1 }
            let v = (0..<(S * kvHeads * d)).map { _ in rng.nextFloat() * 2 - 1 }
            let kp = (0..<Int32(S)).map { $0 }, qp = (0..<Int32(T)).map { Int32(S - T) + $0 }
            func run(_ tiles: AttentionTiles) -> [UInt32] {
                var out = [Float](repeating: .nan, count: T * heads * d)
                TiledAttention.attend(queries: q, queryPositions: qp, keys: k, values: v, keyPositions: kp, shape: shape,
                                      scheme: SelfExtend(groupSize: 4, window: 32, table: table), scale: 0.125, window: nil,
                                      output: &out, tiles: tiles)
                return out.map(\.bitPattern)
            }
            let portable = run(.bf16(.portable))
            for variant in variants() { XCTAssertEqual(run(.bf16(variant)), portable, "T=\(T) \(variant)") }
            if T * heads / kvHeads <= FewRowAttention.maxRows {
                XCTAssertEqual(portable, run(.f32), "T=\(T): a few rows stay in the f32 kernels")
            } else {
                XCTAssertNotEqual(portable, run(.f32), "T=\(T): the BF16 tiles ran")
            }
        }
    }
}
