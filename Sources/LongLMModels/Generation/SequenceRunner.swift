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
    public init(ids: [Int32], promptTokens: Int, prefillSeconds: Double, decodeSeconds: Double) {
        self.ids = ids
        self.promptTokens = promptTokens
        self.prefillSeconds = prefillSeconds
        self.decodeSeconds = decodeSeconds
    }
}

/// Runs requests on one process or, in the distributed implementation, across the ranks of an MPI job
/// (there only rank 0 holds a runner; the other ranks serve). `progress(done, total)` reports prompt tokens.
public protocol SequenceRunner: AnyObject {
    var model: TransformerModel { get }
    func generate(_ request: GenerationRequest, progress: ((Int, Int) -> Void)?) throws -> GenerationOutcome
    /// The negative log-likelihoods (natural log) of `tokens[scoredFrom...]`, one per token.
    func score(_ request: ScoringRequest, progress: ((Int, Int) -> Void)?) throws -> [Float]
}

/// The single-process runner: a `Generator` per request.
public final class LocalRunner: SequenceRunner {
    public let model: TransformerModel
    public let prefillChunk: Int

    public init(model: TransformerModel, prefillChunk: Int = 1024) {
        self.model = model
        self.prefillChunk = prefillChunk
    }

    public func generate(_ request: GenerationRequest, progress: ((Int, Int) -> Void)?) throws -> GenerationOutcome {
        try request.check(config: model.config)
        var generator = Generator(model: model, prefillChunk: prefillChunk)
        generator.method = request.method
        generator.enforcesMaximumLength = request.checksLength
        generator.onPrefillProgress = progress
        let (ids, timings) = try generator.generate(prompt: request.prompt, maxNewTokens: request.maxNewTokens, sampler: .greedy,
                                                    stopTokens: Set(request.stopTokens)) { _, _ in true }
        return GenerationOutcome(ids: ids, promptTokens: request.prompt.count,
                                 prefillSeconds: timings.prefillSeconds, decodeSeconds: timings.decodeSeconds)
    }

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
