import Foundation

/// Unnormalised attention of T query tokens (all heads) over the keys seen so far: per (token, head) row
/// the running max m, sum l and accumulator acc of online softmax. Keys can arrive in any split and order
/// (ring steps, cache shards); `merge` combines partials over disjoint keys and `finish` normalises.
public struct AttentionPartial {
    public let tokens: Int
    public let heads: Int
    public let headDim: Int
    /// [tokens * heads], row r = t * heads + h.
    public var maxima: [Float]
    public var sums: [Float]
    /// [tokens * heads * headDim].
    public var accumulator: [Float]

    public init(tokens: Int, heads: Int, headDim: Int) {
        self.tokens = tokens
        self.heads = heads
        self.headDim = headDim
        maxima = [Float](repeating: -.infinity, count: tokens * heads)
        sums = [Float](repeating: 0, count: tokens * heads)
        accumulator = [Float](repeating: 0, count: tokens * heads * headDim)
    }

    /// Combines with a partial over a disjoint set of keys for the same queries.
    public mutating func merge(_ other: AttentionPartial) {
        precondition(other.tokens == tokens && other.heads == heads && other.headDim == headDim)
        let d = headDim
        for r in 0..<(tokens * heads) {
            let m1 = maxima[r], m2 = other.maxima[r]
            let m = max(m1, m2)
            if m == -.infinity { continue }
            let a1 = m1 == -.infinity ? 0 : expf(m1 - m), a2 = m2 == -.infinity ? 0 : expf(m2 - m)
            sums[r] = sums[r] * a1 + other.sums[r] * a2
            maxima[r] = m
            for c in 0..<d { accumulator[r * d + c] = accumulator[r * d + c] * a1 + other.accumulator[r * d + c] * a2 }
        }
    }

    /// Rescales every row to a new (larger or equal) maximum, e.g. the global maximum across ranks, so that
    /// sums and accumulators can then simply be added up (an allreduce-sum).
    public mutating func rescale(toMaxima newMaxima: [Float]) {
        let d = headDim
        for r in 0..<(tokens * heads) {
            let m = newMaxima[r]
            let a: Float = maxima[r] == -.infinity ? 0 : expf(maxima[r] - m)
            sums[r] *= a
            for c in 0..<d { accumulator[r * d + c] *= a }
            maxima[r] = m
        }
    }

    /// output[t, h, :] = acc / l; rows that saw no key give zeros.
    public func finish(into output: UnsafeMutablePointer<Float>) {
        let d = headDim
        for r in 0..<(tokens * heads) {
            let l = sums[r]
            let inv: Float = l > 0 ? 1 / l : 0
            for c in 0..<d { output[r * d + c] = accumulator[r * d + c] * inv }
        }
    }
}
