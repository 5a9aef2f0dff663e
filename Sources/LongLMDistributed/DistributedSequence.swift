import Foundation
import LongLMAttention
import LongLMCore
import LongLMModels

/// One sequence spread over the ranks of a communicator: every rank holds the weights and the tokens of
/// its shard (and their KV cache); prefill runs the ring in every layer, decode runs every new token on
/// every rank with attention merged by allreduce, and the new token's keys stay on the rank with the
/// smallest shard. All ranks call the same methods in the same order.
public final class DistributedSequence: TokenSequence {
    public let model: TransformerModel
    public let communicator: any Communicator
    public let layout: Layout
    public let timeout: Double
    public let cache: KVCache
    /// Tokens held by each rank (every rank keeps the same table); decode adds to the smallest.
    public var counts: [Int] { heldPositions.map(\.count) }
    /// The positions each rank holds in its cache, in cache order (the same table on every rank): the prompt's
    /// shards by the layout, then each decoded token on the rank that stored it.
    public private(set) var heldPositions: [[Int32]]
    /// The prompt positions each rank holds, by the layout.
    public private(set) var promptShards: [[Int32]] = []
    public private(set) var length = 0
    /// Set by `reuse(prefix:)`: the next `prefill` gets only the tokens after this position.
    private var suffixStart: Int?
    /// Tokens per forward call when a suffix is prefilled on every rank.
    public var suffixChunk = 1024
    /// Ring time and traffic of this rank's prefill, per layer.
    public let statistics = RingStatistics()

    /// `sequenceLength`: prompt plus generated tokens when known (the rotary tables are sized for it once).
    public init(model: TransformerModel, communicator: any Communicator, layout: Layout, method: ContextMethod,
                promptLength: Int, sequenceLength: Int? = nil, timeout: Double) throws {
        self.model = model
        self.communicator = communicator
        self.layout = layout
        self.timeout = timeout
        cache = KVCache(config: model.config)
        cache.globalScheme = try method.scheme(for: model, promptLength: promptLength)
        // Every rank rotates keys of every position (the travelling blocks), so each tabulates the whole sequence.
        if let sequenceLength, sequenceLength > 0 { model.preparePositions(upTo: sequenceLength - 1, scheme: cache.globalScheme!) }
        heldPositions = Array(repeating: [], count: communicator.size)
    }

    public var isCoordinator: Bool { communicator.rank == 0 }

    /// Rank 0's token on every rank.
    public func agree(on token: Int32) throws -> Int32 {
        var token = token
        try withUnsafeMutableBytes(of: &token) { try communicator.broadcast($0, root: 0, timeout: timeout) }
        return token
    }

    /// Called on every rank after each layer of the prefill with (done, total) in prompt tokens, `done` weighted
    /// by the work of the layers so far (`PrefillWork`: a global layer at long context counts for far more than a
    /// sliding-window one).
    public var onPrefillProgress: ((Int, Int) -> Void)?
    /// Set on every rank to make the prefill stoppable: after each layer rank 0 calls it and broadcasts the
    /// answer, and on true every rank throws `GenerationCancelled` at that same layer (the other ranks' closures
    /// are not called).
    public var prefillCancellation: (() -> Bool)?

    /// Runs the prompt (the same ids on every rank) and returns the logits of its last position on rank 0
    /// (nil on the other ranks).
    public func prefill(_ tokens: [Int32]) throws -> [Float]? {
        if let start = suffixStart {
            suffixStart = nil
            return try prefillSuffix(tokens, from: start)
        }
        let (hidden, mine) = try prefillHidden(tokens)
        // The rank holding the last position sends its logits to rank 0.
        let last = Int32(tokens.count - 1)
        let holder = promptShards.firstIndex { $0.contains(last) }!
        return try gatherLogits(hidden: hidden, row: mine.firstIndex(of: last), holder: holder)
    }

    /// Runs the prompt and returns this rank's final hidden states with the positions of their rows.
    public func prefillHidden(_ tokens: [Int32]) throws -> (hidden: FloatBuffer, positions: [Int32]) {
        let ranks = communicator.size, rank = communicator.rank
        let shards = (0..<ranks).map { layout.positions(tokens: tokens.count, ranks: ranks, rank: $0) }
        promptShards = shards
        heldPositions = shards
        let mine = shards[rank]
        var ringAttention = RingAttention(communicator: communicator, stepTimeout: timeout)
        ringAttention.statistics = statistics
        let work = PrefillWork(config: model.config, promptLength: tokens.count)
        let onLayer = onPrefillProgress.map { report in
            { (layer: Int) in report(work.tokens(atFraction: work.fraction(afterLayers: layer + 1)), tokens.count) }
        }
        let ring = RingBackend(ring: ringAttention, shards: shards, onLayer: onLayer, cancellation: cancellationCheck)
        let hidden = try model.forward(tokens: mine.map { tokens[Int($0)] }, positions: mine, cache: cache, attention: ring)
        length = tokens.count
        return (hidden, mine)
    }

    /// With `prefillCancellation` set: a check every rank calls at the same point, throwing `GenerationCancelled` on
    /// every rank when rank 0's request was cancelled.
    private var cancellationCheck: (() throws -> Void)? {
        let communicator = self.communicator, timeout = self.timeout
        return prefillCancellation.map { isCancelled in
            {
                var flag: Int32 = communicator.rank == 0 && isCancelled() ? 1 : 0
                try withUnsafeMutableBytes(of: &flag) { try communicator.broadcast($0, root: 0, timeout: timeout) }
                if flag != 0 { throw GenerationCancelled() }
            }
        }
    }

    /// Takes over a sequence read back from disk: `heldPositions` is every rank's table (this rank's rows already
    /// in `cache`), `length` the sequence's length. Follow with `reuse(prefix:)`.
    public func restore(heldPositions table: [[Int32]], length n: Int) {
        precondition(table.count == communicator.size && table[communicator.rank] == cache.positions)
        heldPositions = table
        length = n
    }

    /// Keeps the first `n` positions of the sequence (the prefix a new prompt shares with it; every rank keeps its
    /// own rows of it) and makes the next `prefill` take only the tokens after it.
    public func reuse(prefix n: Int) {
        precondition(n >= 1 && n <= length, "reuse(prefix: \(n)) outside 1...\(length)")
        cache.truncate(keepingPositionsBelow: Int32(n))
        heldPositions = heldPositions.map { $0.filter { $0 < Int32(n) } }
        length = n
        suffixStart = n
    }

    /// Runs the tokens after a reused prefix: every rank computes all of them (attention over its own rows, merged by
    /// allreduce, as in decode), in chunks of `suffixChunk`; their keys go to the rank holding the fewest. Returns the
    /// last position's logits on rank 0.
    func prefillSuffix(_ tokens: [Int32], from start: Int) throws -> [Float]? {
        precondition(start == length)
        let owner = counts.indices.min { counts[$0] < counts[$1] }!
        let backend = DecodeBackend(communicator: communicator, timeout: timeout)
        let check = cancellationCheck
        cache.keepsTransformedKeys = true
        var hidden: FloatBuffer?
        var done = 0
        while done < tokens.count {
            let end = min(tokens.count, done + suffixChunk)
            let positions = (done..<end).map { Int32(start + $0) }
            hidden = try model.forward(tokens: Array(tokens[done..<end]), positions: positions, cache: cache, attention: backend,
                                       appendToCache: communicator.rank == owner)
            heldPositions[owner] += positions
            length = start + end
            done = end
            onPrefillProgress?(done, tokens.count)
            if done < tokens.count { try check?() }
        }
        return communicator.rank == 0 ? model.logits(hidden: hidden!, rows: (hidden!.rows - 1)..<hidden!.rows).array : nil
    }

    /// Collects `width` floats per prompt position from every rank (this rank's rows in `values`, in the order
    /// of its positions) into one array in position order on rank 0; nil on the other ranks.
    public func gatherByPosition(_ values: [Float], width: Int) throws -> [Float]? {
        let ranks = communicator.size, rank = communicator.rank
        precondition(values.count == promptShards[rank].count * width)
        if rank != 0 {
            try values.withUnsafeBytes { try communicator.send($0, to: 0, tag: 1_000_001, timeout: timeout) }
            return nil
        }
        var result = [Float](repeating: 0, count: promptShards.reduce(0) { $0 + $1.count } * width)
        for source in 0..<ranks {
            var rows = values
            if source != 0 {
                rows = [Float](repeating: 0, count: promptShards[source].count * width)
                try rows.withUnsafeMutableBytes { try communicator.receive($0, from: source, tag: 1_000_001, timeout: timeout) }
            }
            for (i, position) in promptShards[source].enumerated() {
                for c in 0..<width { result[Int(position) * width + c] = rows[i * width + c] }
            }
        }
        return result
    }

    /// Runs one new token (the same on every rank) and returns its logits on rank 0 (nil elsewhere).
    public func decode(_ token: Int32) throws -> [Float]? {
        let owner = counts.indices.min { counts[$0] < counts[$1] }!   // smallest shard, lowest rank on ties
        let position = Int32(length)
        let backend = DecodeBackend(communicator: communicator, timeout: timeout)
        cache.keepsTransformedKeys = true
        let hidden = try model.forward(tokens: [token], positions: [position], cache: cache, attention: backend,
                                       appendToCache: communicator.rank == owner)
        heldPositions[owner].append(position)
        length += 1
        // Every rank computed the same hidden state; each makes the logits of its share of the vocabulary and
        // rank 0 collects them (the output head is the largest matrix of a step: Gemma 3's is 178 MB).
        return try gatherVocabularyShares(hidden: hidden)
    }

    /// Rank r's share of the vocabulary in distributed decode: contiguous, in rank order, sizes differing by at
    /// most one.
    static func vocabularyShare(rank: Int, ranks: Int, vocabulary: Int) -> Range<Int> {
        let base = vocabulary / ranks, extra = vocabulary % ranks
        let start = rank * base + min(rank, extra)
        return start..<(start + base + (rank < extra ? 1 : 0))
    }

    /// Every rank computes the logits of its vocabulary share for hidden row 0; rank 0 returns the whole row.
    func gatherVocabularyShares(hidden: FloatBuffer) throws -> [Float]? {
        let vocab = model.config.vocabularySize, ranks = communicator.size, rank = communicator.rank
        let mine = Self.vocabularyShare(rank: rank, ranks: ranks, vocabulary: vocab)
        let share = model.logits(hidden: hidden, row: 0, vocabulary: mine)
        if rank != 0 {
            if !share.isEmpty {
                try share.withUnsafeBytes { try communicator.send($0, to: 0, tag: 1_000_002, timeout: timeout) }
            }
            return nil
        }
        var logits = [Float](repeating: 0, count: vocab)
        logits.replaceSubrange(mine, with: share)
        for source in 1..<max(ranks, 1) {
            let range = Self.vocabularyShare(rank: source, ranks: ranks, vocabulary: vocab)
            if range.isEmpty { continue }
            try logits.withUnsafeMutableBytes { all in
                let part = UnsafeMutableRawBufferPointer(rebasing: all[(range.lowerBound * 4)..<(range.upperBound * 4)])
                try communicator.receive(part, from: source, tag: 1_000_002, timeout: timeout)
            }
        }
        return logits
    }

    func gatherLogits(hidden: FloatBuffer, row: Int?, holder: Int) throws -> [Float]? {
        let vocab = model.config.vocabularySize
        if communicator.rank == holder {
            let logits = model.logits(hidden: hidden, rows: row!..<(row! + 1)).array
            if holder == 0 { return logits }
            try logits.withUnsafeBytes { try communicator.send($0, to: 0, tag: 1_000_000, timeout: timeout) }
            return nil
        }
        guard communicator.rank == 0 else { return nil }
        var logits = [Float](repeating: 0, count: vocab)
        try logits.withUnsafeMutableBytes { try communicator.receive($0, from: holder, tag: 1_000_000, timeout: timeout) }
        return logits
    }
}

/// Prefill attention through the ring.
struct RingBackend: AttentionBackend {
    let ring: RingAttention
    let shards: [[Int32]]
    let onLayer: ((Int) -> Void)?
    /// Throws `GenerationCancelled` on every rank when rank 0's request was cancelled (nil: not checked).
    let cancellation: (() throws -> Void)?
    func attend(_ call: AttentionCall, output: UnsafeMutablePointer<Float>) throws {
        try ring.attend(call, shards: shards, output: output)
        onLayer?(call.layer)
        try cancellation?()
    }
}

/// Decode attention: each rank over its shard, merged by allreduce.
struct DecodeBackend: AttentionBackend {
    let communicator: any Communicator
    let timeout: Double
    func attend(_ call: AttentionCall, output: UnsafeMutablePointer<Float>) throws {
        try ShardedDecode.attend(call, communicator: communicator, timeout: timeout, output: output)
    }
}
