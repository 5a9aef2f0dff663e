import XCTest
@testable import LongLMAttention
import LongLMCore

/// Runs the tiled kernel with a scheme and the naive reference with a logit function on the same random
/// inputs; returns max |diff| / max |reference|.
func tiledVersusNaive(scheme: any PositionScheme, T: Int, S: Int, heads: Int = 4, kvHeads: Int = 2, d: Int = 16,
                      queryBlock: Int, keyBlock: Int, window: Int? = nil, seed: UInt64 = 1, tiles: AttentionTiles = .f32,
                      logit: (Int, Int, ArraySlice<Float>, ArraySlice<Float>) -> Double) -> Double {
    var rng = SplitMix(seed: seed &+ UInt64(T * 7919 + S))
    let shape = AttentionShape(heads: heads, kvHeads: kvHeads, headDim: d)
    let q = (0..<(T * heads * d)).map { _ in rng.nextFloat() * 2 - 1 }
    let k = (0..<(S * kvHeads * d)).map { _ in (rng.nextFloat() * 2 - 1) * 3 }
    let v = (0..<(S * kvHeads * d)).map { _ in rng.nextFloat() * 2 - 1 }
    let keyPositions = (0..<Int32(S)).map { $0 }
    let queryPositions = (0..<Int32(T)).map { Int32(S - T) + $0 }
    var out = [Float](repeating: .nan, count: T * heads * d)
    TiledAttention.attend(queries: q, queryPositions: queryPositions, keys: k, values: v, keyPositions: keyPositions,
                          shape: shape, scheme: scheme, scale: 1 / Float(d).squareRoot(), window: window, output: &out,
                          queryBlock: queryBlock, keyBlock: keyBlock, tiles: tiles)
    let reference = NaiveAttention.attend(queries: q, queryPositions: queryPositions, keys: k, values: v,
                                          keyPositions: keyPositions, shape: shape, window: window) { i, j, q, k in
        logit(i, j, q, k) / Double(d).squareRoot()
    }
    let maxRef = reference.map { abs(Double($0)) }.max()!
    return zip(out, reference).map { abs(Double($0) - Double($1)) }.max()! / maxRef
}

func standardTable(d: Int, base: Double = 10000, pairing: RotaryPairing = .halves) -> RotaryTable {
    RotaryTable(dimensions: d, pairing: pairing, inverseFrequencies: RotaryTable.standardFrequencies(base: base, dimensions: d))
}
