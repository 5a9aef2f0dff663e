import Foundation
import LongLMCore

/// Head geometry of one attention layer. Query head h uses key/value head h / (heads / kvHeads).
public struct AttentionShape: Sendable {
    public let heads: Int
    public let kvHeads: Int
    public let headDim: Int
    public init(heads: Int, kvHeads: Int, headDim: Int) {
        precondition(heads % kvHeads == 0)
        self.heads = heads; self.kvHeads = kvHeads; self.headDim = headDim
    }
    public var groupSize: Int { heads / kvHeads }
}

/// Causal attention over keys given *before* RoPE, with absolute positions, computed tile by tile
/// (query block x key block) with sgemm and an online softmax per query row (running max m, sum l,
/// accumulator acc). Memory is O(tile) per thread plus one rotated copy of the keys; never O(n^2).
///
/// A query at position i sees a key at position j iff j <= i and (no window, or i - j < window).
/// Masking is by position, not by index, so any subset or order of keys gives the same answer.
public enum TiledAttention {
    public static let defaultQueryBlock = 32
    public static let defaultKeyBlock = 256

    /// - Parameters:
    ///   - queries: [T, heads * headDim], un-rotated.
    ///   - keys, values: [S, kvHeads * headDim], keys un-rotated.
    ///   - scale: multiplies every logit (1/sqrt(d), or a model's query pre-attention scalar).
    ///   - output: [T, heads * headDim].
    public static func attend(queries: UnsafePointer<Float>, queryPositions: [Int32],
                              keys: UnsafePointer<Float>, values: UnsafePointer<Float>, keyPositions: [Int32],
                              shape: AttentionShape, rotary: RotaryTable, scale: Float, window: Int?,
                              output: UnsafeMutablePointer<Float>,
                              queryBlock: Int = defaultQueryBlock, keyBlock: Int = defaultKeyBlock) {
        let T = queryPositions.count, S = keyPositions.count
        let d = shape.headDim, group = shape.groupSize
        let qStride = shape.heads * d, kvStride = shape.kvHeads * d
        precondition(rotary.dimensions == d)
        if T == 0 { return }
        let maxPosition = Int(max(queryPositions.max() ?? 0, keyPositions.max() ?? 0))
        rotary.reserve(positions: maxPosition + 1)

        // Rotated keys, per kv head: [kvHeads][S][d].
        let rotatedKeys = UnsafeMutablePointer<Float>.allocate(capacity: max(1, shape.kvHeads * S * d))
        defer { rotatedKeys.deallocate() }
        Parallel.forRanges(S, minimumPerChunk: 64) { range in
            for j in range {
                for g in 0..<shape.kvHeads {
                    rotary.rotate(keys + j * kvStride + g * d, position: Int(keyPositions[j]),
                                  into: rotatedKeys + (g * S + j) * d)
                }
            }
        }

        // Position bounds of each key block, for skipping and for the no-mask fast path.
        let keyBlocks = (S + keyBlock - 1) / keyBlock
        var keyBounds: [(min: Int32, max: Int32)] = []
        for b in 0..<keyBlocks {
            let slice = keyPositions[(b * keyBlock)..<min(S, (b + 1) * keyBlock)]
            keyBounds.append((slice.min()!, slice.max()!))
        }

        let queryBlocks = (T + queryBlock - 1) / queryBlock
        let items = shape.kvHeads * queryBlocks
        Parallel.forEach(items) { item in
            let g = item / queryBlocks, qb = item % queryBlocks
            let t0 = qb * queryBlock, t1 = min(T, t0 + queryBlock)
            let rows = (t1 - t0) * group
            var state = SoftmaxState(rows: rows, headDim: d)
            let qTile = UnsafeMutablePointer<Float>.allocate(capacity: rows * d)
            let scores = UnsafeMutablePointer<Float>.allocate(capacity: rows * keyBlock)
            defer { qTile.deallocate(); scores.deallocate() }
            // Row r = (t - t0) * group + hh holds query head g * group + hh of token t.
            var qMin = Int32.max, qMax = Int32.min
            var rowPositions = [Int32](repeating: 0, count: rows)
            for t in t0..<t1 {
                let p = queryPositions[t]
                qMin = min(qMin, p); qMax = max(qMax, p)
                for hh in 0..<group {
                    let r = (t - t0) * group + hh
                    rowPositions[r] = p
                    rotary.rotate(queries + t * qStride + (g * group + hh) * d, position: Int(p), scale: scale,
                                  into: qTile + r * d)
                }
            }
            for kb in 0..<keyBlocks {
                let (kMin, kMax) = keyBounds[kb]
                if kMin > qMax { continue }                                   // all keys in the future
                if let w = window, Int(qMin) - Int(kMax) >= w { continue }    // all keys out of the window
                let j0 = kb * keyBlock, n = min(S, j0 + keyBlock) - j0
                BLAS.matmulTransposedB(m: rows, n: n, k: d, a: qTile, lda: d,
                                       b: rotatedKeys + (g * S + j0) * d, ldb: d, c: scores, ldc: n)
                let fullyVisible = kMax <= qMin && (window.map { Int(qMax) - Int(kMin) < $0 } ?? true)
                if !fullyVisible {
                    keyPositions.withUnsafeBufferPointer { kp in
                        for r in 0..<rows {
                            let i = Int(rowPositions[r])
                            let row = scores + r * n
                            for c in 0..<n {
                                let j = Int(kp[j0 + c])
                                if j > i || (window.map { i - j >= $0 } ?? false) { row[c] = -Float.infinity }
                            }
                        }
                    }
                }
                state.absorb(scores: scores, keyCount: n, values: values + j0 * kvStride + g * d, valueStride: kvStride)
            }
            state.finish { r, normalized in
                let t = t0 + r / group, hh = r % group
                let dst = output + t * qStride + (g * group + hh) * d
                for c in 0..<d { dst[c] = normalized[c] }
            }
        }
    }
}
