import Foundation
import LongLMCore

/// Online-softmax state for a block of query rows: running max m, running sum l of exp(s - m), and the
/// unnormalised accumulator acc = sum_j exp(s_j - m) v_j. Any split of the keys, absorbed in any order
/// or merged from separate states, gives the same result up to rounding.
public struct SoftmaxState {
    public let rows: Int
    public let headDim: Int
    public var maxima: [Float]
    public var sums: [Float]
    public var accumulator: [Float]

    public init(rows: Int, headDim: Int) {
        self.rows = rows
        self.headDim = headDim
        maxima = [Float](repeating: -.infinity, count: rows)
        sums = [Float](repeating: 0, count: rows)
        accumulator = [Float](repeating: 0, count: rows * headDim)
    }

    /// Absorbs one tile of logits [rows, keyCount] (masked entries are -inf; the tile is overwritten with
    /// probabilities) and its values (keyCount rows of headDim, `valueStride` apart). `activeRows`: only the
    /// first rows take part (a state reused for a smaller block).
    public mutating func absorb(scores: UnsafeMutablePointer<Float>, keyCount n: Int,
                                values: UnsafePointer<Float>, valueStride: Int, rows activeRows: Int? = nil) {
        let d = headDim, rows = activeRows ?? self.rows
        precondition(rows <= self.rows)
        takeScores(scores, keyCount: n, rows: rows)
        accumulator.withUnsafeMutableBufferPointer { acc in
            if rows <= FewRowAttention.maxRows {
                FewRowAttention.accumulateValues(probabilities: scores, rows: rows, count: n, values: values,
                                                 valueStride: valueStride, headDim: d, into: acc.baseAddress!)
            } else {
                BLAS.matmul(m: rows, n: d, k: n, a: scores, lda: n, b: values, ldb: valueStride,
                            c: acc.baseAddress!, ldc: d, beta: 1)
            }
        }
    }

    /// `absorb` for a few rows (at most `FewRowAttention.maxRows`) with the values as the cache stores them
    /// (`FewRowAttention.readsStored(type)`), `valueStride` values apart: the same bits as decoding them first.
    public mutating func absorb(scores: UnsafeMutablePointer<Float>, keyCount n: Int, storedValues: UnsafeRawPointer,
                                type: KVType, valueStride: Int, rows: Int) {
        precondition(rows <= self.rows && rows <= FewRowAttention.maxRows && FewRowAttention.readsStored(type))
        takeScores(scores, keyCount: n, rows: rows)
        let d = headDim
        accumulator.withUnsafeMutableBufferPointer { acc in
            FewRowAttention.accumulateStoredValues(probabilities: scores, rows: rows, count: n, values: storedValues,
                                                   type: type, valueStride: valueStride, headDim: d,
                                                   into: acc.baseAddress!)
        }
    }

    /// `absorb` in BF16 tiles: the softmax step in one C pass (`BF16Tiles.softmaxPairs`: probabilities rounded to
    /// bfloat16 pairs into `pairScratch`, rows x ceil(n/2) words, and summed as rounded; the state updated), then
    /// the pairs multiplied with a value panel of the tile's n keys.
    public mutating func absorb(scores: UnsafeMutablePointer<Float>, keyCount n: Int, valuePanel: UnsafePointer<UInt32>,
                                pairScratch: UnsafeMutablePointer<UInt32>, variant: BF16Variant, rows: Int) {
        precondition(rows <= self.rows)
        let pairsPerRow = (n + 1) / 2, d = headDim
        maxima.withUnsafeMutableBufferPointer { m in
            sums.withUnsafeMutableBufferPointer { l in
                accumulator.withUnsafeMutableBufferPointer { acc in
                    BF16Tiles.softmaxPairs(scores: scores, rows: rows, count: n, maxima: m.baseAddress!, sums: l.baseAddress!,
                                           into: pairScratch, pairStride: pairsPerRow, accumulator: acc.baseAddress!,
                                           headDim: d, variant: variant)
                    BF16Tiles.accumulate(probabilityPairs: pairScratch, rows: rows, count: n, pairStride: pairsPerRow,
                                         valuePanel: valuePanel, headDim: d, into: acc.baseAddress!, variant: variant)
                }
            }
        }
    }

    /// Folds a tile's logits into the running maxima and sums, rescales the accumulator to the new maxima and
    /// turns the tile into the probabilities its values are to be weighted by.
    private mutating func takeScores(_ scores: UnsafeMutablePointer<Float>, keyCount n: Int, rows: Int) {
        let d = headDim
        maxima.withUnsafeMutableBufferPointer { m in
            sums.withUnsafeMutableBufferPointer { l in
                accumulator.withUnsafeMutableBufferPointer { acc in
                    for r in 0..<rows {
                        let row = scores + r * n
                        let tileMax = VectorExp.maximum(row, count: n)
                        let newMax = max(m[r], tileMax)
                        if newMax == -.infinity {
                            // Nothing visible yet in this row: keep the state, contribute zeros.
                            for c in 0..<n { row[c] = 0 }
                            continue
                        }
                        let alpha = m[r] == -.infinity ? 0 : expf(m[r] - newMax)
                        let tileSum = VectorExp.expShiftedInPlace(row, count: n, shift: newMax)   // masked -inf -> 0
                        l[r] = l[r] * alpha + tileSum
                        m[r] = newMax
                        if alpha != 1 {
                            let a = acc.baseAddress! + r * d
                            for c in 0..<d { a[c] *= alpha }
                        }
                    }
                }
            }
        }
    }

    /// Merges another partial state over a disjoint set of keys for the same rows.
    public mutating func merge(_ other: SoftmaxState) {
        precondition(other.rows == rows && other.headDim == headDim)
        for r in 0..<rows {
            let m1 = maxima[r], m2 = other.maxima[r]
            let newMax = max(m1, m2)
            if newMax == -.infinity { continue }
            let a1 = m1 == -.infinity ? 0 : expf(m1 - newMax)
            let a2 = m2 == -.infinity ? 0 : expf(m2 - newMax)
            sums[r] = sums[r] * a1 + other.sums[r] * a2
            maxima[r] = newMax
            for c in 0..<headDim {
                accumulator[r * headDim + c] = accumulator[r * headDim + c] * a1 + other.accumulator[r * headDim + c] * a2
            }
        }
    }

    /// Calls `emit(row, acc / l)` for every row; a row that saw no key (fully masked) emits zeros.
    public func finish(_ emit: (Int, UnsafePointer<Float>) -> Void) {
        var out = [Float](repeating: 0, count: headDim)
        out.withUnsafeMutableBufferPointer { o in
            for r in 0..<rows {
                let l = sums[r]
                if l > 0 {
                    let inv = 1 / l
                    for c in 0..<headDim { o[c] = accumulator[r * headDim + c] * inv }
                } else {
                    for c in 0..<headDim { o[c] = 0 }
                }
                emit(r, UnsafePointer(o.baseAddress!))
            }
        }
    }
}
