import Foundation

/// Unnormalised attention of T query tokens (all heads) over the keys seen so far: the online-softmax state
/// (running max m, sum l, accumulator acc) of every (token, head) row, row r = t * heads + h. Keys can arrive
/// in any split and order (ring steps, cache shards); `merge` combines partials over disjoint keys and
/// `finish` normalises.
public struct AttentionPartial {
    public let tokens: Int
    public let heads: Int
    public var state: SoftmaxState

    public init(tokens: Int, heads: Int, headDim: Int) {
        self.tokens = tokens
        self.heads = heads
        state = SoftmaxState(rows: tokens * heads, headDim: headDim)
    }

    public var headDim: Int { state.headDim }
    /// [tokens * heads].
    public var maxima: [Float] { get { state.maxima } set { state.maxima = newValue } }
    public var sums: [Float] { get { state.sums } set { state.sums = newValue } }
    /// [tokens * heads * headDim].
    public var accumulator: [Float] { get { state.accumulator } set { state.accumulator = newValue } }

    /// Combines with a partial over a disjoint set of keys for the same queries.
    public mutating func merge(_ other: AttentionPartial) {
        precondition(other.tokens == tokens && other.heads == heads)
        state.merge(other.state)
    }

    /// Rescales every row to a new (larger or equal) maximum, e.g. the global maximum across ranks, so that
    /// sums and accumulators can then simply be added up (an allreduce-sum).
    public mutating func rescale(toMaxima newMaxima: [Float]) {
        let d = headDim
        for r in 0..<(tokens * heads) {
            let a: Float = state.maxima[r] == -.infinity ? 0 : expf(state.maxima[r] - newMaxima[r])
            state.sums[r] *= a
            for c in 0..<d { state.accumulator[r * d + c] *= a }
            state.maxima[r] = newMaxima[r]
        }
    }

    /// output[t, h, :] = acc / l; rows that saw no key give zeros.
    public func finish(into output: UnsafeMutablePointer<Float>) {
        let d = headDim
        state.finish { r, row in (output + r * d).update(from: row, count: d) }
    }
}

extension AttentionPartial {
    /// The state's rows as raw storage, for workers that each read and write their own disjoint rows.
    public struct Rows: @unchecked Sendable {
        let maxima: UnsafeMutablePointer<Float>
        let sums: UnsafeMutablePointer<Float>
        let accumulator: UnsafeMutablePointer<Float>
        let headDim: Int

        /// Copies partial rows `row(0)`, `row(1)`, ... into the first `count` rows of `state`.
        func load(into state: inout SoftmaxState, count: Int, from row: (Int) -> Int) {
            let d = headDim
            for r in 0..<count {
                let p = row(r)
                state.maxima[r] = maxima[p]
                state.sums[r] = sums[p]
                state.accumulator.withUnsafeMutableBufferPointer { ($0.baseAddress! + r * d).update(from: accumulator + p * d, count: d) }
            }
        }

        /// Copies the first `count` rows of `state` back to partial rows `row(0)`, `row(1)`, ...
        func store(from state: SoftmaxState, count: Int, to row: (Int) -> Int) {
            let d = headDim
            for r in 0..<count {
                let p = row(r)
                maxima[p] = state.maxima[r]
                sums[p] = state.sums[r]
                state.accumulator.withUnsafeBufferPointer { (accumulator + p * d).update(from: $0.baseAddress! + r * d, count: d) }
            }
        }
    }

    /// Runs `body` with raw access to the rows (valid only inside it).
    public mutating func withRows<R>(_ body: (Rows) throws -> R) rethrows -> R {
        let d = headDim
        return try state.maxima.withUnsafeMutableBufferPointer { m in
            try state.sums.withUnsafeMutableBufferPointer { l in
                try state.accumulator.withUnsafeMutableBufferPointer { acc in
                    try body(Rows(maxima: m.baseAddress!, sums: l.baseAddress!, accumulator: acc.baseAddress!, headDim: d))
                }
            }
        }
    }
}
