import Foundation
import LongLMCore
import LongLMModels

/// Runs requests across all ranks of a communicator. Rank 0 holds the runner and drives it like a local
/// one: each request is broadcast to the other ranks, which wait in `serve()` until `finish()`. Every rank
/// then prefills its shard through the ring; rank 0 picks each greedy token and broadcasts it, or gathers
/// the per-token scores. A request is checked on rank 0 before it is sent, so a refused request costs no
/// communication and the workers never see it.
public final class DistributedRunner: SequenceRunner {
    public let model: TransformerModel
    public let communicator: any Communicator
    public let layout: Layout
    public let timeout: Double
    /// Ring statistics of the most recent prefill on this rank.
    public private(set) var lastStatistics = RingStatistics()
    /// Keep the last `complete` request's sequence on every rank (each its own shard of the KV cache) and reuse the
    /// prefix a new prompt shares with it. Set the same on every rank.
    public var reusesPrefix = false
    /// The kept sequence on every rank; on rank 0 also the tokens in its cache and its scheme's prompt length.
    private var kept: (sequence: DistributedSequence, tokens: [Int32], method: ContextMethod, schemeLength: Int)?

    enum Message: Codable {
        /// Generation (rank 0 samples) whose prefill asks rank 0 after every layer whether to stop, reusing the first
        /// `reuse` positions of the kept sequence (0: a new sequence).
        case complete(GenerationRequest, reuse: Int)
        case score(ScoringRequest)
        /// Rank 0 is waiting for work (keeps the serving ranks' step timeout from firing while a server idles).
        case idle
        case stop
    }

    public init(model: TransformerModel, communicator: any Communicator, layout: Layout = .zigzag, timeout: Double) {
        self.model = model
        self.communicator = communicator
        self.layout = layout
        self.timeout = timeout
    }

    // MARK: rank 0

    public func generate(_ request: GenerationRequest, progress: ((Int, Int) -> Void)?) throws -> GenerationOutcome {
        try complete(request, sampler: .greedy, callbacks: CompletionCallbacks(progress: progress))
    }

    public func score(_ request: ScoringRequest, progress: ((Int, Int) -> Void)?) throws -> [Float] {
        precondition(communicator.rank == 0, "only rank 0 drives the runner; the other ranks serve()")
        try request.check(config: model.config)
        try broadcast(.score(request))
        return try runScoring(request, progress: progress)!
    }

    public func complete(_ request: GenerationRequest, sampler: Sampler, callbacks: CompletionCallbacks) throws -> GenerationOutcome {
        precondition(communicator.rank == 0, "only rank 0 drives the runner; the other ranks serve()")
        try request.check(config: model.config)
        let reuse = reusablePrefix(for: request)
        try broadcast(.complete(request, reuse: reuse))
        return try runCompletion(request, reuse: reuse, sampler: sampler, callbacks: callbacks)!
    }

    /// How many leading positions of the kept sequence the request can reuse (0: none). A shared prefix is reused when
    /// the positions would be placed alike and the tokens after it are at most one rank's share of the prompt (every
    /// rank computes all of them; more is cheaper through the ring). At least the last prompt token is run again.
    func reusablePrefix(for request: GenerationRequest) -> Int {
        guard reusesPrefix, let kept, kept.method.description == request.method.description,
              kept.method.placesPositionsAlike(config: model.config, cachedLength: kept.schemeLength, promptLength: request.prompt.count)
        else { return 0 }
        let prompt = request.prompt
        let shared = reusablePrefixLength(cached: kept.tokens, prompt: prompt)
        let suffix = prompt.count - shared
        return shared > 0 && suffix <= max(1, prompt.count / communicator.size) ? shared : 0
    }

    /// Runs a `complete` request on every rank, on the kept sequence cut to `reuse` positions or a new one; the
    /// outcome on rank 0.
    func runCompletion(_ request: GenerationRequest, reuse: Int, sampler: Sampler, callbacks: CompletionCallbacks) throws -> GenerationOutcome? {
        let sequence: DistributedSequence
        let schemeLength: Int
        if reuse > 0, let kept {
            sequence = kept.sequence
            sequence.reuse(prefix: reuse)
            sequence.onPrefillProgress = callbacks.progress
            schemeLength = kept.schemeLength
        } else {
            sequence = try makeSequence(method: request.method, promptLength: request.prompt.count,
                                        sequenceLength: request.prompt.count + request.maxNewTokens + 1, progress: callbacks.progress)
            schemeLength = request.prompt.count
        }
        kept = nil   // a failure below leaves the caches out of step: never reuse them
        sequence.prefillCancellation = callbacks.isCancelled ?? { false }
        let loop = DecodeLoop(maxNewTokens: request.maxNewTokens, sampler: sampler, stopTokens: Set(request.stopTokens))
        let outcome = try loop.run(sequence, prompt: Array(request.prompt[reuse...]), firstPosition: reuse, onToken: callbacks.onToken)
        if reusesPrefix {
            kept = (sequence, Array((request.prompt + outcome.ids).prefix(sequence.length)), request.method, schemeLength)
        }
        // Each rank's time blocked on the ring, gathered on every rank (a reused prefix ran no ring).
        var blocked = [Float](repeating: 0, count: communicator.size)
        if reuse == 0 { blocked[communicator.rank] = Float(sequence.statistics.layers.values.reduce(0) { $0 + $1.blockedSeconds }) }
        try blocked.withUnsafeMutableBufferPointer { try communicator.allReduce($0, operation: .sum, timeout: timeout) }
        guard communicator.rank == 0 else { return nil }
        var result = GenerationOutcome(ids: outcome.ids, promptTokens: request.prompt.count, prefillSeconds: outcome.prefillSeconds,
                                       decodeSeconds: outcome.decodeSeconds, reusedPromptTokens: reuse)
        result.ringBlockedSeconds = blocked.map(Double.init)
        return result
    }

    /// Tells the serving ranks that rank 0 is idle; call more often than the step timeout while waiting for work.
    public func keepAlive() throws {
        precondition(communicator.rank == 0)
        try broadcast(.idle)
    }

    /// Releases the serving ranks.
    public func finish() throws {
        precondition(communicator.rank == 0)
        try broadcast(.stop)
    }

    // MARK: the other ranks

    /// Runs the requests rank 0 sends until it calls `finish()`.
    public func serve() throws {
        precondition(communicator.rank != 0)
        while true {
            switch try broadcast(nil) {
            case .complete(let request, let reuse):
                do {
                    _ = try runCompletion(request, reuse: reuse, sampler: .greedy, callbacks: CompletionCallbacks())
                } catch is GenerationCancelled {
                    continue   // rank 0 stopped it; every rank stopped at the same layer
                }
            case .score(let request): _ = try runScoring(request, progress: nil)
            case .idle: continue
            case .stop: return
            }
        }
    }

    // MARK: every rank

    /// Rank 0 sends `message`; the others pass nil and get it.
    @discardableResult
    func broadcast(_ message: Message?) throws -> Message {
        try communicator.broadcastValue(message, timeout: timeout)
    }

    func makeSequence(method: ContextMethod, promptLength: Int, sequenceLength: Int? = nil,
                      progress: ((Int, Int) -> Void)?) throws -> DistributedSequence {
        let sequence = try DistributedSequence(model: model, communicator: communicator, layout: layout, method: method,
                                               promptLength: promptLength, sequenceLength: sequenceLength ?? promptLength, timeout: timeout)
        lastStatistics = sequence.statistics
        sequence.onPrefillProgress = progress
        return sequence
    }

    /// Scores on every rank for its own positions, gathered on rank 0 (nil elsewhere).
    func runScoring(_ request: ScoringRequest, progress: ((Int, Int) -> Void)?) throws -> [Float]? {
        let tokens = request.tokens
        let sequence = try makeSequence(method: request.method, promptLength: tokens.count, progress: progress)
        let (hidden, positions) = try sequence.prefillHidden(tokens)
        // Row i (position p) predicts token p + 1; unscored rows get NaN.
        var mine = [Float](repeating: .nan, count: positions.count)
        let scored = positions.indices.filter { Int(positions[$0]) + 1 >= request.scoredFrom && Int(positions[$0]) + 1 < tokens.count }
        // Scored rows are contiguous runs (a shard is at most two ranges); score each run in one call.
        var runStart = 0
        while runStart < scored.count {
            var runEnd = runStart + 1
            while runEnd < scored.count && scored[runEnd] == scored[runEnd - 1] + 1 { runEnd += 1 }
            let rows = scored[runStart]..<(scored[runEnd - 1] + 1)
            let targets = rows.map { tokens[Int(positions[$0]) + 1] }
            for (offset, value) in model.negativeLogLikelihoods(hidden: hidden, rows: rows, targets: targets).enumerated() {
                mine[rows.lowerBound + offset] = value
            }
            runStart = runEnd
        }
        guard let all = try sequence.gatherByPosition(mine, width: 1) else { return nil }
        return Array(all[(request.scoredFrom - 1)..<(tokens.count - 1)])
    }
}
