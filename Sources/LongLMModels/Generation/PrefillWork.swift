/// The arithmetic of a prefill, estimated from the model's shapes, so that progress and its ETA move with the
/// work done rather than with tokens or layers. A global layer's attention grows with the square of the prompt
/// while the matrix products and a sliding-window layer's attention grow linearly: at 129k tokens Gemma 3's
/// three global layers are most of the time, and a bar that advances one layer's share per layer races through
/// the sliding layers and then sits at each global one under a wrong ETA.
///
/// Progress callbacks still speak in prompt tokens: `tokens(atFraction:)` turns a fraction of the work into the
/// matching share of the prompt, so the reporter's percentage and ETA follow the work.
public struct PrefillWork: Sendable {
    public let promptLength: Int
    /// Multiply-adds of one token's matrix products in one layer (q, k, v, output, gate, up, down).
    let productsPerToken: Double
    /// Multiply-adds per visible (query, key) pair in one layer: q.k and p.v for every query head.
    let attentionPerPair: Double
    /// Each layer's window (nil: global).
    let windows: [Int?]

    public init(config c: ModelConfig, promptLength: Int) {
        self.promptLength = promptLength
        let H = Double(c.hiddenSize), q = Double(c.heads * c.headDim), kv = Double(c.kvHeads * c.headDim)
        productsPerToken = H * q + 2 * H * kv + q * H + 3 * H * Double(c.ffnSize)
        attentionPerPair = 2 * Double(c.heads * c.headDim)
        windows = c.slidingLayers.map { $0 ? c.slidingWindow : nil }
    }

    /// Visible (query, key) pairs among the first n tokens of a causal prefill under `window`.
    static func pairs(tokens n: Int, window: Int?) -> Double {
        let n = Double(n)
        guard let w = window.map(Double.init), n > w else { return n * (n + 1) / 2 }
        return w * (w + 1) / 2 + (n - w) * w
    }

    /// Work of the first n prompt tokens in layer l.
    func layer(_ l: Int, tokens n: Int) -> Double {
        Double(n) * productsPerToken + Self.pairs(tokens: n, window: windows[l]) * attentionPerPair
    }

    var total: Double { (0..<windows.count).reduce(0) { $0 + layer($1, tokens: promptLength) } }

    /// Share of the work done once the first n tokens went through every layer (one process, chunk by chunk).
    public func fraction(afterTokens n: Int) -> Double {
        let total = self.total
        return total > 0 ? (0..<windows.count).reduce(0) { $0 + layer($1, tokens: n) } / total : 1
    }

    /// Share of the work done once the whole prompt went through layers 0..<l (the ring, layer by layer).
    public func fraction(afterLayers l: Int) -> Double {
        let total = self.total
        return total > 0 ? (0..<min(l, windows.count)).reduce(0) { $0 + layer($1, tokens: promptLength) } / total : 1
    }

    /// The prompt tokens a progress report shows for a share of the work.
    public func tokens(atFraction f: Double) -> Int { min(promptLength, Int((Double(promptLength) * f).rounded(.down))) }
}
