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
/// accumulator acc). A position scheme says how queries and keys are rotated; a tile computes one sgemm
/// per variant it needs (most need one) and picks per element where it needs several.
/// Memory is O(tile) per thread plus the transformed keys of the variants in use; never O(n^2).
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
    ///   - layer: passed to the scheme's logit noise (GALI), so noise is keyed by layer.
    public static func attend(queries: UnsafePointer<Float>, queryPositions: [Int32],
                              keys: UnsafePointer<Float>, values: UnsafePointer<Float>, keyPositions: [Int32],
                              shape: AttentionShape, scheme: any PositionScheme, scale: Float, window: Int?,
                              output: UnsafeMutablePointer<Float>, layer: Int = 0,
                              queryBlock: Int = defaultQueryBlock, keyBlock: Int = defaultKeyBlock) {
        var partial = AttentionPartial(tokens: queryPositions.count, heads: shape.heads, headDim: shape.headDim)
        accumulate(queries: queries, queryPositions: queryPositions, keys: keys, values: values, keyPositions: keyPositions,
                   shape: shape, scheme: scheme, scale: scale, window: window, into: &partial, layer: layer,
                   queryBlock: queryBlock, keyBlock: keyBlock)
        partial.finish(into: output)
    }

    /// Adds the keys given here to `partial` (the queries' running state): the step of a ring, or one shard
    /// of a cache. Same arguments as `attend`.
    public static func accumulate(queries: UnsafePointer<Float>, queryPositions: [Int32],
                                  keys: UnsafePointer<Float>, values: UnsafePointer<Float>, keyPositions: [Int32],
                                  shape: AttentionShape, scheme: any PositionScheme, scale: Float, window: Int?,
                                  into partial: inout AttentionPartial, layer: Int = 0,
                                  queryBlock: Int = defaultQueryBlock, keyBlock: Int = defaultKeyBlock) {
        let T = queryPositions.count, S = keyPositions.count
        precondition(partial.tokens == T && partial.heads == shape.heads && partial.headDim == shape.headDim)
        let d = shape.headDim, group = shape.groupSize
        let qStride = shape.heads * d, kvStride = shape.kvHeads * d
        if T == 0 || S == 0 { return }
        scheme.prepare(maxPosition: Int(max(queryPositions.max() ?? 0, keyPositions.max() ?? 0)))

        func bounds(_ p: ArraySlice<Int32>) -> ClosedRange<Int> { Int(p.min()!)...Int(p.max()!) }
        let keyBlocks = (S + keyBlock - 1) / keyBlock
        let queryBlocks = (T + queryBlock - 1) / queryBlock
        let keyBounds = (0..<keyBlocks).map { bounds(keyPositions[($0 * keyBlock)..<min(S, ($0 + 1) * keyBlock)]) }
        let queryBounds = (0..<queryBlocks).map { bounds(queryPositions[($0 * queryBlock)..<min(T, ($0 + 1) * queryBlock)]) }

        // Which tiles are visible at all, and the variants each needs.
        func visibleKeys(_ q: ClosedRange<Int>, _ k: ClosedRange<Int>) -> ClosedRange<Int>? {
            if k.lowerBound > q.upperBound { return nil }                                   // all in the future
            if let w = window, q.lowerBound - k.upperBound >= w { return nil }              // all out of the window
            return k.lowerBound...min(k.upperBound, q.upperBound)
        }
        var tileVariants = [[Int]?](repeating: nil, count: queryBlocks * keyBlocks)
        var keyClassesPerBlock = [Set<Int>](repeating: [], count: keyBlocks)
        for qb in 0..<queryBlocks {
            for kb in 0..<keyBlocks {
                guard let k = visibleKeys(queryBounds[qb], keyBounds[kb]) else { continue }
                let v = scheme.variants(queries: queryBounds[qb], keys: k)
                tileVariants[qb * keyBlocks + kb] = v
                for variant in v { keyClassesPerBlock[kb].insert(scheme.keyClass(of: variant)) }
            }
        }

        // Transformed keys per (key class, kv head, key), only for the blocks that need each class.
        let classes = Array(Set(keyClassesPerBlock.flatMap { $0 })).sorted()
        let classIndex = Dictionary(uniqueKeysWithValues: classes.enumerated().map { ($1, $0) })
        let transformed = UnsafeMutablePointer<Float>.allocate(capacity: max(1, classes.count * shape.kvHeads * S * d))
        defer { transformed.deallocate() }
        func keyRow(_ cls: Int, _ g: Int, _ j: Int) -> UnsafeMutablePointer<Float> {
            transformed + ((classIndex[cls]! * shape.kvHeads + g) * S + j) * d
        }
        Parallel.forEach(keyBlocks) { kb in
            for cls in keyClassesPerBlock[kb] {
                for j in (kb * keyBlock)..<min(S, (kb + 1) * keyBlock) {
                    for g in 0..<shape.kvHeads {
                        scheme.transformKey(keys + j * kvStride + g * d, position: Int(keyPositions[j]), keyClass: cls,
                                            into: keyRow(cls, g, j))
                    }
                }
            }
        }

        // Work items read and write disjoint rows of the partial state.
        partial.state.maxima.withUnsafeMutableBufferPointer { maximaBuffer in
        partial.state.sums.withUnsafeMutableBufferPointer { sumsBuffer in
        partial.state.accumulator.withUnsafeMutableBufferPointer { accumulatorBuffer in
            let partialMaxima = maximaBuffer.baseAddress!, partialSums = sumsBuffer.baseAddress!
            let partialAccumulator = accumulatorBuffer.baseAddress!
                    Parallel.forEach(shape.kvHeads * queryBlocks) { item in
                        let g = item / queryBlocks, qb = item % queryBlocks
                        let t0 = qb * queryBlock, t1 = min(T, t0 + queryBlock)
                        let rows = (t1 - t0) * group
                        // Row r = (t - t0) * group + hh holds query head g * group + hh of token t.
                        let rowPositions = (0..<rows).map { Int(queryPositions[t0 + $0 / group]) }
                        let rowHeads = (0..<rows).map { g * group + $0 % group }
                        // This item's rows of the running state, in kernel row order r = (t - t0) * group + hh.
                        var state = SoftmaxState(rows: rows, headDim: d)
                        for r in 0..<rows {
                            let row = (t0 + r / group) * shape.heads + g * group + r % group
                            state.maxima[r] = partialMaxima[row]
                            state.sums[r] = partialSums[row]
                            for c in 0..<d { state.accumulator[r * d + c] = partialAccumulator[row * d + c] }
                        }
                        var rotatedQueries: [Int: UnsafeMutablePointer<Float>] = [:]
                        let scores = UnsafeMutablePointer<Float>.allocate(capacity: rows * keyBlock)
                        var variantScores: [Int: UnsafeMutablePointer<Float>] = [:]
                        defer {
                            scores.deallocate()
                            rotatedQueries.values.forEach { $0.deallocate() }
                            variantScores.values.forEach { $0.deallocate() }
                        }
                        func queriesRotated(_ v: Int) -> UnsafeMutablePointer<Float> {
                            if let q = rotatedQueries[v] { return q }
                            let q = UnsafeMutablePointer<Float>.allocate(capacity: rows * d)
                            for r in 0..<rows {
                                let t = t0 + r / group, hh = r % group
                                let i = rowPositions[r]
                                scheme.rotateQuery(queries + t * qStride + (g * group + hh) * d, position: i, variant: v,
                                                   scale: scale * scheme.queryScale(i), into: q + r * d)
                            }
                            rotatedQueries[v] = q
                            return q
                        }
                        let (qMin, qMax) = (queryBounds[qb].lowerBound, queryBounds[qb].upperBound)
                        for kb in 0..<keyBlocks {
                            guard let variants = tileVariants[qb * keyBlocks + kb] else { continue }
                            let j0 = kb * keyBlock, n = min(S, j0 + keyBlock) - j0
                            if variants.count == 1 {
                                let v = variants[0]
                                BLAS.matmulTransposedB(m: rows, n: n, k: d, a: queriesRotated(v), lda: d,
                                                       b: keyRow(scheme.keyClass(of: v), g, j0), ldb: d, c: scores, ldc: n)
                            } else {
                                for v in variants {
                                    let buffer = variantScores[v] ?? UnsafeMutablePointer<Float>.allocate(capacity: rows * keyBlock)
                                    variantScores[v] = buffer
                                    BLAS.matmulTransposedB(m: rows, n: n, k: d, a: queriesRotated(v), lda: d,
                                                           b: keyRow(scheme.keyClass(of: v), g, j0), ldb: d, c: buffer, ldc: n)
                                }
                                for r in 0..<rows {
                                    let i = rowPositions[r]
                                    for c in 0..<n {
                                        let j = Int(keyPositions[j0 + c])
                                        // Future keys are masked below; any variant's value will do for them.
                                        let v = j <= i ? scheme.variant(query: i, key: j) : variants[0]
                                        scores[r * n + c] = variantScores[v]![r * n + c]
                                    }
                                }
                            }
                            if scheme.addsLogitNoise {
                                keyPositions.withUnsafeBufferPointer { kp in
                                    scheme.addLogitNoise(scores, rowPositions: rowPositions, rowHeads: rowHeads,
                                                         keyPositions: UnsafeBufferPointer(rebasing: kp[j0..<(j0 + n)]), layer: layer)
                                }
                            }
                            let (kMin, kMax) = (keyBounds[kb].lowerBound, keyBounds[kb].upperBound)
                            let fullyVisible = kMax <= qMin && (window.map { qMax - kMin < $0 } ?? true)
                            if !fullyVisible {
                                keyPositions.withUnsafeBufferPointer { kp in
                                    for r in 0..<rows {
                                        let i = rowPositions[r]
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
                        for r in 0..<rows {
                            let row = (t0 + r / group) * shape.heads + g * group + r % group
                            partialMaxima[row] = state.maxima[r]
                            partialSums[row] = state.sums[r]
                            for c in 0..<d { partialAccumulator[row * d + c] = state.accumulator[r * d + c] }
                        }
                    }
        }
        }
        }
    }
}
