import Foundation

/// Full-matrix attention straight from a method's definition, in Double: a logit function gives every
/// (i, j) logit, then causal (and window) mask, one softmax per row, times V. O(T*S) memory; used only
/// by tests as the reference for the tiled kernel.
public enum NaiveAttention {
    /// `logit(i, j, q, k)` for query position i, key position j (j <= i), the query head's un-rotated q
    /// and the key head's un-rotated k.
    public static func attend(queries: [Float], queryPositions: [Int32], keys: [Float], values: [Float],
                              keyPositions: [Int32], shape: AttentionShape, window: Int?,
                              logit: (Int, Int, ArraySlice<Float>, ArraySlice<Float>) -> Double) -> [Float] {
        let T = queryPositions.count, S = keyPositions.count, d = shape.headDim
        let qStride = shape.heads * d, kvStride = shape.kvHeads * d
        var output = [Float](repeating: 0, count: T * qStride)
        for h in 0..<shape.heads {
            let g = h / shape.groupSize
            for t in 0..<T {
                let q = queries[(t * qStride + h * d)..<(t * qStride + h * d + d)]
                let i = Int(queryPositions[t])
                var logits = [Double](repeating: -.infinity, count: S)
                for s in 0..<S {
                    let j = Int(keyPositions[s])
                    guard j <= i, window.map({ i - j < $0 }) ?? true else { continue }
                    logits[s] = logit(i, j, q, keys[(s * kvStride + g * d)..<(s * kvStride + g * d + d)])
                }
                let m = logits.max()!
                if m == -.infinity { continue }
                let weights = logits.map { exp($0 - m) }
                let total = weights.reduce(0, +)
                for c in 0..<d {
                    var acc = 0.0
                    for s in 0..<S where weights[s] > 0 { acc += weights[s] * Double(values[s * kvStride + g * d + c]) }
                    output[t * qStride + h * d + c] = Float(acc / total)
                }
            }
        }
        return output
    }

    /// < R(a) q, R(b) k > in Double, with the given frequencies and pairing (positions may be fractional).
    public static func rotatedDot(_ q: ArraySlice<Float>, _ k: ArraySlice<Float>, queryPosition a: Double, keyPosition b: Double,
                                  inverseFrequencies: [Double], pairing: RotaryPairing) -> Double {
        let d = q.count
        let q = Array(q), k = Array(k)
        var sum = 0.0
        for m in 0..<(d / 2) {
            let (x, y) = pairing == .halves ? (m, m + d / 2) : (2 * m, 2 * m + 1)
            // For one pair: R(a)q . R(b)k = (qx kx + qy ky) cos((a-b) theta) + (qx ky - qy kx) sin((a-b) theta).
            let angle = (a - b) * inverseFrequencies[m]
            sum += (Double(q[x]) * Double(k[x]) + Double(q[y]) * Double(k[y])) * cos(angle)
                 + (Double(q[x]) * Double(k[y]) - Double(q[y]) * Double(k[x])) * sin(angle)
        }
        return sum
    }
}
