import Foundation
import LongLMCore

/// A prompt to continue greedily: what the evaluation tools ask of a model.
public struct GenerationRequest: Codable, Sendable {
    public var prompt: [Int32]
    public var maxNewTokens: Int
    public var method: ContextMethod
    /// Refuse a sequence longer than `method` allows (off: run anyway, to study how a method degrades).
    public var checksLength: Bool
    /// Generation ends after one of these.
    public var stopTokens: [Int32]

    public init(prompt: [Int32], maxNewTokens: Int, method: ContextMethod, checksLength: Bool = true, stopTokens: [Int32] = []) {
        self.prompt = prompt
        self.maxNewTokens = maxNewTokens
        self.method = method
        self.checksLength = checksLength
        self.stopTokens = stopTokens
    }

    /// Checks the method's parameters and (if asked) the length; throws the user-facing error.
    public func check(config: ModelConfig) throws {
        guard !prompt.isEmpty else { throw TransformerModel.ForwardError.emptyInput }
        guard maxNewTokens >= 1 else { throw ContextMethod.Failure.invalid("max_new_tokens must be at least 1") }
        try method.validate(config: config)
        if checksLength { try method.checkLength(prompt.count + maxNewTokens - 1, config: config) }
    }
}

/// A text whose tokens are scored: the negative log-likelihood of each token from `scoredFrom` on, given
/// all the tokens before it.
public struct ScoringRequest: Codable, Sendable {
    public var tokens: [Int32]
    /// The first scored index (>= 1: the first token has no prediction).
    public var scoredFrom: Int
    public var method: ContextMethod
    public var checksLength: Bool

    public init(tokens: [Int32], scoredFrom: Int = 1, method: ContextMethod, checksLength: Bool = true) {
        self.tokens = tokens
        self.scoredFrom = scoredFrom
        self.method = method
        self.checksLength = checksLength
    }

    public func check(config: ModelConfig) throws {
        guard tokens.count >= 2 else { throw ContextMethod.Failure.invalid("a scored text needs at least 2 tokens (got \(tokens.count))") }
        guard scoredFrom >= 1 && scoredFrom < tokens.count else {
            throw ContextMethod.Failure.invalid("scored tokens start at \(scoredFrom), outside 1..<\(tokens.count)")
        }
        try method.validate(config: config)
        if checksLength { try method.checkLength(tokens.count, config: config) }
    }
}

public struct GenerationOutcome: Sendable {
    public var ids: [Int32]
    public var promptTokens: Int
    public var prefillSeconds: Double
    public var decodeSeconds: Double
    /// Prompt tokens whose keys and values came from the previous request's cache (not prefilled again).
    public var reusedPromptTokens: Int
    /// Under mpirun: each rank's seconds blocked waiting for the ring in this request's prefill, by rank (nil on one
    /// process).
    public var ringBlockedSeconds: [Double]?
    public init(ids: [Int32], promptTokens: Int, prefillSeconds: Double, decodeSeconds: Double, reusedPromptTokens: Int = 0) {
        self.ids = ids
        self.promptTokens = promptTokens
        self.prefillSeconds = prefillSeconds
        self.decodeSeconds = decodeSeconds
        self.reusedPromptTokens = reusedPromptTokens
        ringBlockedSeconds = nil
    }
}

/// How many leading tokens of `prompt` a cached sequence of `cached` tokens can give: their common prefix, short of
/// the prompt's last token (it is always run again, for the logits the answer starts from).
public func reusablePrefixLength(cached: [Int32], prompt: [Int32]) -> Int {
    var shared = 0
    while shared < min(cached.count, prompt.count - 1) && cached[shared] == prompt[shared] { shared += 1 }
    return shared
}

/// What a caller of `SequenceRunner.complete` hears while a request runs (on the coordinator only).
public struct CompletionCallbacks {
    /// Prefill progress (done, total) in prompt tokens.
    public var progress: ((Int, Int) -> Void)?
    /// Polled between prefill steps: true stops the request with `GenerationCancelled`.
    public var isCancelled: (() -> Bool)?
    /// Each sampled token and the logits it was sampled from; false stops after it.
    public var onToken: (Int32, UnsafeBufferPointer<Float>) throws -> Bool

    public init(progress: ((Int, Int) -> Void)? = nil, isCancelled: (() -> Bool)? = nil,
                onToken: @escaping (Int32, UnsafeBufferPointer<Float>) throws -> Bool = { _, _ in true }) {
        self.progress = progress
        self.isCancelled = isCancelled
        self.onToken = onToken
    }
}

/// Runs requests on one process or, in the distributed implementation, across the ranks of an MPI job
/// (there only rank 0 holds a runner; the other ranks serve). `progress(done, total)` reports prompt tokens.
public protocol SequenceRunner: AnyObject {
    var model: TransformerModel { get }
    func generate(_ request: GenerationRequest, progress: ((Int, Int) -> Void)?) throws -> GenerationOutcome
    /// The negative log-likelihoods (natural log) of `tokens[scoredFrom...]`, one per token.
    func score(_ request: ScoringRequest, progress: ((Int, Int) -> Void)?) throws -> [Float]
    /// Generation with `sampler` (used on the coordinator only), reporting through `callbacks`: what the server
    /// runs. A runner that keeps its last sequence (`LocalRunner.reusesPrefix`) prefills only what a new prompt
    /// does not share with it.
    func complete(_ request: GenerationRequest, sampler: Sampler, callbacks: CompletionCallbacks) throws -> GenerationOutcome
}

/// The single-process runner: a `Generator` per request.
public final class LocalRunner: SequenceRunner {
    public let model: TransformerModel
    public let prefillChunk: Int

    public init(model: TransformerModel, prefillChunk: Int = 1024) {
        self.model = model
        self.prefillChunk = prefillChunk
    }

    /// Keep the last request's sequence (its KV cache) and reuse the prefix a new prompt shares with it.
    public var reusesPrefix = false
    /// The kept sequence: the tokens in its cache and the prompt length its position scheme was built for.
    private var kept: (sequence: LocalSequence, tokens: [Int32], method: ContextMethod, schemeLength: Int)?

    public func generate(_ request: GenerationRequest, progress: ((Int, Int) -> Void)?) throws -> GenerationOutcome {
        try complete(request, sampler: .greedy, callbacks: CompletionCallbacks(progress: progress))
    }

    public func complete(_ request: GenerationRequest, sampler: Sampler, callbacks: CompletionCallbacks) throws -> GenerationOutcome {
        try request.check(config: model.config)
        var generator = Generator(model: model, prefillChunk: prefillChunk)
        generator.method = request.method
        generator.enforcesMaximumLength = request.checksLength
        generator.onPrefillProgress = callbacks.progress
        generator.isCancelled = callbacks.isCancelled
        let prompt = request.prompt
        let (sequence, reused, schemeLength) = try sequence(for: request, generator: generator)
        kept = nil   // an error below leaves the cache half-written: never reuse it
        let loop = DecodeLoop(maxNewTokens: request.maxNewTokens, sampler: sampler, stopTokens: Set(request.stopTokens))
        var outcome = try loop.run(sequence, prompt: Array(prompt[reused...]), firstPosition: reused, onToken: callbacks.onToken)
        outcome.promptTokens = prompt.count
        if reusesPrefix {
            kept = (sequence, Array((prompt + outcome.ids).prefix(sequence.cache.count)), request.method, schemeLength)
        }
        return GenerationOutcome(ids: outcome.ids, promptTokens: prompt.count, prefillSeconds: outcome.prefillSeconds,
                                 decodeSeconds: outcome.decodeSeconds, reusedPromptTokens: reused)
    }

    /// The kept sequence cut to the prefix it shares with the request's prompt (at least the last prompt token
    /// is run again, for its logits), or a new one; with the number of reused tokens.
    private func sequence(for request: GenerationRequest, generator: Generator) throws -> (LocalSequence, Int, Int) {
        let prompt = request.prompt
        if reusesPrefix, let kept, kept.method.description == request.method.description,
           kept.method.placesPositionsAlike(config: model.config, cachedLength: kept.schemeLength, promptLength: prompt.count) {
            let shared = reusablePrefixLength(cached: kept.tokens, prompt: prompt)
            if shared > 0 {
                kept.sequence.cache.truncate(to: shared)
                kept.sequence.generator = generator
                return (kept.sequence, shared, kept.schemeLength)
            }
        }
        kept = nil
        let reserve = prompt.count + request.maxNewTokens + 1
        return (try LocalSequence(generator: generator, promptLength: prompt.count, reserve: reserve), 0, prompt.count)
    }

    /// Forgets the kept sequence (frees its cache).
    public func forgetPrefix() { kept = nil }

    public func score(_ request: ScoringRequest, progress: ((Int, Int) -> Void)?) throws -> [Float] {
        try request.check(config: model.config)
        var generator = Generator(model: model, prefillChunk: prefillChunk)
        generator.method = request.method
        generator.onPrefillProgress = progress
        let tokens = request.tokens
        let cache = try generator.makeCache(promptLength: tokens.count, reserve: tokens.count)
        var scores: [Float] = []
        scores.reserveCapacity(tokens.count - request.scoredFrom)
        // Row i of a chunk starting at `first` predicts token first + i + 1.
        try generator.prefill(tokens, cache: cache) { hidden, first in
            let rows = max(0, request.scoredFrom - 1 - first)..<min(hidden.rows, tokens.count - 1 - first)
            guard !rows.isEmpty else { return }
            scores += model.negativeLogLikelihoods(hidden: hidden, rows: rows,
                                                   targets: Array(tokens[(first + rows.lowerBound + 1)...(first + rows.upperBound)]))
        }
        return scores
    }
}

extension TransformerModel {
    /// -log softmax(logits(row))[target] for each row of `rows`, with the logits made a few rows at a time
    /// (a whole chunk of vocabulary-wide rows would take gigabytes).
    public func negativeLogLikelihoods(hidden: FloatBuffer, rows: Range<Int>, targets: [Int32]) -> [Float] {
        precondition(targets.count == rows.count)
        let vocab = config.vocabularySize, block = 32
        var result: [Float] = []
        result.reserveCapacity(rows.count)
        var start = rows.lowerBound
        while start < rows.upperBound {
            let end = min(rows.upperBound, start + block)
            let logits = self.logits(hidden: hidden, rows: start..<end)
            for r in 0..<(end - start) {
                let row = logits.pointer + r * vocab
                let target = row[Int(targets[start - rows.lowerBound + r])]
                let maximum = VectorExp.maximum(row, count: vocab)
                let sum = VectorExp.expShiftedInPlace(row, count: vocab, shift: maximum)
                result.append(maximum + logf(sum) - target)
            }
            start = end
        }
        return result
    }
}
