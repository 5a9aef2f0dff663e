import Foundation

/// The windows of a long text scored the Hugging Face way: windows of `maxTokens` starting every `stride`
/// tokens; each window scores only the tokens no earlier window scored, so every token after the first is
/// scored once, with as much context as the window gives it.
public struct PerplexityWindow: Equatable, Sendable {
    /// Tokens per window when the user does not say.
    public static let defaultMaxTokens = 4096
    /// Token range of the text that the window runs.
    public var range: Range<Int>
    /// Index inside the window of its first scored token (>= 1).
    public var scoredFrom: Int

    public static func plan(tokens n: Int, maxTokens: Int, stride: Int) -> [PerplexityWindow] {
        precondition(maxTokens >= 2 && stride >= 1 && stride <= maxTokens)
        var windows: [PerplexityWindow] = []
        var previousEnd = 0
        var begin = 0
        while begin < n {
            let end = min(begin + maxTokens, n)
            let scoredFrom = max(1, previousEnd - begin)
            if scoredFrom < end - begin { windows.append(PerplexityWindow(range: begin..<end, scoredFrom: scoredFrom)) }
            previousEnd = end
            if end == n { break }
            begin += stride
        }
        return windows
    }
}

/// Negative log-likelihoods grouped by the context a token had (its index inside its window), in buckets.
public struct PerplexityReport {
    public struct Bucket: Equatable {
        public var range: Range<Int>
        public var count: Int
        public var meanNLL: Double
        public var perplexity: Double { exp(meanNLL) }
        /// Perplexity of every scored token with a context below this bucket's end.
        public var cumulativePerplexity: Double
    }
    /// Bucket width in tokens of context when the user does not say.
    public static let defaultBucketSize = 1024
    public let bucketSize: Int
    private(set) var sums: [Double] = []
    private(set) var counts: [Int] = []

    public init(bucketSize: Int = defaultBucketSize) { self.bucketSize = bucketSize }

    /// Adds the scores of tokens whose indices in their window start at `firstIndex`.
    public mutating func add(_ nll: [Float], firstIndex: Int) {
        for (i, value) in nll.enumerated() {
            let bucket = (firstIndex + i) / bucketSize
            while sums.count <= bucket { sums.append(0); counts.append(0) }
            sums[bucket] += Double(value)
            counts[bucket] += 1
        }
    }

    public var tokens: Int { counts.reduce(0, +) }
    public var meanNLL: Double { tokens == 0 ? .nan : sums.reduce(0, +) / Double(tokens) }
    public var perplexity: Double { exp(meanNLL) }

    public var buckets: [Bucket] {
        var result: [Bucket] = []
        var sum = 0.0, count = 0
        for b in sums.indices where counts[b] > 0 {
            sum += sums[b]
            count += counts[b]
            result.append(Bucket(range: (b * bucketSize)..<((b + 1) * bucketSize), count: counts[b],
                                 meanNLL: sums[b] / Double(counts[b]), cumulativePerplexity: exp(sum / Double(count))))
        }
        return result
    }
}
