import Foundation
import LongLMCore

/// A request stopped by its caller before it finished (every participant throws it at the same step).
public struct GenerationCancelled: Error, CustomStringConvertible {
    public init() {}
    public var description: String { "the request was cancelled" }
}

/// Prefill of a prompt in chunks, then token-by-token decode from the KV cache.
public struct Generator {
    public let model: TransformerModel
    /// How the global layers place positions (context extension); plain RoPE by default.
    public var method: ContextMethod = .plain
    /// Refuse sequences longer than `method` allows (turn off to study how a method degrades).
    public var enforcesMaximumLength = true
    /// Tokens per forward call during prefill (bounds activation memory; the KV cache holds the rest).
    public var prefillChunk: Int
    /// Called after each prefill chunk with (done, total) in prompt tokens, `done` weighted by the work so far
    /// (`PrefillWork`: later chunks attend over more keys and count for more).
    public var onPrefillProgress: ((Int, Int) -> Void)?
    /// Asked after each prefill chunk; true stops the prefill with `GenerationCancelled` (a server whose client
    /// went away).
    public var isCancelled: (() -> Bool)?

    public init(model: TransformerModel, prefillChunk: Int = 1024) {
        self.model = model
        self.prefillChunk = prefillChunk
    }

    /// A KV cache for a sequence with a prompt of `promptLength` tokens, positioned by `method`; `reserve`
    /// (the whole sequence's tokens) sizes the cache and the rotary tables once.
    public func makeCache(promptLength: Int, reserve: Int = 0) throws -> KVCache {
        let cache = KVCache(config: model.config, reserve: reserve)
        cache.globalScheme = try method.scheme(for: model, promptLength: promptLength)
        if reserve > 0 { model.preparePositions(upTo: reserve - 1, scheme: cache.globalScheme!) }
        return cache
    }

    /// Runs the prompt through the model; returns the final hidden states of its last chunk, and calls
    /// `eachChunk(hidden, firstIndex)` for every chunk (e.g. to collect logits of every position).
    @discardableResult
    public func prefill(_ tokens: [Int32], cache: KVCache,
                        eachChunk: (FloatBuffer, Int) throws -> Void = { _, _ in }) throws -> FloatBuffer {
        guard !tokens.isEmpty else { throw TransformerModel.ForwardError.emptyInput }
        var last: FloatBuffer? = nil
        var start = 0
        let work = PrefillWork(config: model.config, promptLength: tokens.count)
        while start < tokens.count {
            let end = min(tokens.count, start + prefillChunk)
            let hidden = try model.forward(tokens: Array(tokens[start..<end]), cache: cache)
            try eachChunk(hidden, start)
            last = hidden
            start = end
            onPrefillProgress?(work.tokens(atFraction: work.fraction(afterTokens: start)), tokens.count)
            if start < tokens.count, isCancelled?() == true { throw GenerationCancelled() }
        }
        return last!
    }

    public struct Timings {
        public var promptTokens = 0
        public var prefillSeconds = 0.0
        public var generatedTokens = 0
        public var decodeSeconds = 0.0
    }

    /// Generates up to `maxNewTokens` after `prompt` on this process (the `DecodeLoop` over a `LocalSequence`).
    /// `onStep(token, logits)` sees each sampled token and the logits it was sampled from; returning false
    /// stops. Stops after a token in `stopTokens`.
    public func generate(prompt: [Int32], maxNewTokens: Int, sampler: Sampler, stopTokens: Set<Int32>,
                         onStep: (Int32, UnsafeBufferPointer<Float>) throws -> Bool) throws -> ([Int32], Timings) {
        guard !prompt.isEmpty else { throw TransformerModel.ForwardError.emptyInput }
        try method.validate(config: model.config)
        if enforcesMaximumLength { try method.checkLength(prompt.count + maxNewTokens - 1, config: model.config) }
        let sequence = try LocalSequence(generator: self, promptLength: prompt.count, reserve: prompt.count + maxNewTokens)
        let loop = DecodeLoop(maxNewTokens: maxNewTokens, sampler: sampler, stopTokens: stopTokens)
        let outcome = try loop.run(sequence, prompt: prompt, onToken: onStep)
        let timings = Timings(promptTokens: prompt.count, prefillSeconds: outcome.prefillSeconds,
                              generatedTokens: outcome.ids.count, decodeSeconds: outcome.decodeSeconds)
        return (outcome.ids, timings)
    }
}
