import Foundation

/// Full-matrix attention straight from the definition, in Double: rotate every query and key, build the
/// whole logit matrix, mask, softmax, multiply by V. O(T*S) memory; used only by tests as the reference.
public enum NaiveAttention {
    public static func attend(queries: [Float], queryPositions: [Int32], keys: [Float], values: [Float],
                              keyPositions: [Int32], shape: AttentionShape, inverseFrequencies: [Double],
                              pairing: RotaryPairing, scale: Double, window: Int?) -> [Float] {
        let T = queryPositions.count, S = keyPositions.count, d = shape.headDim
        let qStride = shape.heads * d, kvStride = shape.kvHeads * d
        func rotate(_ x: ArraySlice<Float>, _ p: Int32) -> [Double] {
            var out = [Double](repeating: 0, count: d)
            let x = Array(x)
            for m in 0..<(d / 2) {
                let angle = Double(p) * inverseFrequencies[m]
                let (a, b) = pairing == .halves ? (m, m + d / 2) : (2 * m, 2 * m + 1)
                out[a] = Double(x[a]) * cos(angle) - Double(x[b]) * sin(angle)
                out[b] = Double(x[a]) * sin(angle) + Double(x[b]) * cos(angle)
            }
            return out
        }
        var output = [Float](repeating: 0, count: T * qStride)
        for h in 0..<shape.heads {
            let g = h / shape.groupSize
            let rotatedKeys = (0..<S).map { j in rotate(keys[(j * kvStride + g * d)..<(j * kvStride + g * d + d)], keyPositions[j]) }
            for t in 0..<T {
                let q = rotate(queries[(t * qStride + h * d)..<(t * qStride + h * d + d)], queryPositions[t])
                let i = Int(queryPositions[t])
                var logits = [Double](repeating: -.infinity, count: S)
                for j in 0..<S {
                    let p = Int(keyPositions[j])
                    guard p <= i, window.map({ i - p < $0 }) ?? true else { continue }
                    logits[j] = scale * zip(q, rotatedKeys[j]).reduce(0) { $0 + $1.0 * $1.1 }
                }
                let m = logits.max()!
                if m == -.infinity { continue }
                let weights = logits.map { exp($0 - m) }
                let total = weights.reduce(0, +)
                for c in 0..<d {
                    var acc = 0.0
                    for j in 0..<S where weights[j] > 0 { acc += weights[j] * Double(values[j * kvStride + g * d + c]) }
                    output[t * qStride + h * d + c] = Float(acc / total)
                }
            }
        }
        return output
    }
}
