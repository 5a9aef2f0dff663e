/// Which token positions each rank holds. Zigzag (the default) cuts the sequence into 2N chunks and gives
/// rank r chunks r and 2N-1-r, so every rank has the same share of early and late (cheap and expensive)
/// causal rows; contiguous gives rank r the r-th of N equal pieces. Sizes differ by at most one token
/// (and chunks may be empty when the sequence is shorter than the chunk count). Every rank computes the
/// same layout from (tokens, ranks), so nothing about it needs to be communicated.
public enum Layout: String, Sendable, CaseIterable {
    case zigzag, contiguous

    /// Positions held by `rank`, ascending.
    public func positions(tokens n: Int, ranks: Int, rank: Int) -> [Int32] {
        precondition(ranks >= 1 && rank >= 0 && rank < ranks && n >= 0)
        switch self {
        case .contiguous:
            return Array(Self.chunkRange(index: rank, chunks: ranks, tokens: n)).map { Int32($0) }
        case .zigzag:
            let first = Self.chunkRange(index: rank, chunks: 2 * ranks, tokens: n)
            let second = Self.chunkRange(index: 2 * ranks - 1 - rank, chunks: 2 * ranks, tokens: n)
            return (Array(first) + Array(second)).map { Int32($0) }
        }
    }

    /// Chunk `index` of `chunks` near-equal chunks of 0..<n: the first n % chunks chunks get one extra token.
    static func chunkRange(index: Int, chunks: Int, tokens n: Int) -> Range<Int> {
        let base = n / chunks, extra = n % chunks
        let start = index * base + min(index, extra)
        return start..<(start + base + (index < extra ? 1 : 0))
    }
}
