import Foundation
import LongLMAttention
import LongLMCore

/// What one rank of a run will hold in memory, estimated from the model's shapes before anything is allocated,
/// so a run that cannot fit is refused at the start instead of being killed by the OOM killer halfway through a
/// long prefill. Every figure follows an allocation the engine makes (docs/memory.md explains each):
///
/// - weights: the tensors stay in the memory-mapped file (shared by the ranks of a node; counted once per rank
///   here, as resident pages are charged to each process that touches them); f32 copies of tensors without a
///   kernel count in full;
/// - KV cache: keys and values in the cache's storage type (`KVType`) for every layer, for this rank's share of the
///   tokens; decode also keeps the global layers' keys transformed once per key class, in 16 bits for f16 and
///   bf16 caches, else f32 (`KVCache.keepsTransformedKeys`);
/// - activations: the buffers of one forward call over `callTokens` tokens (the prefill batch on one process, the
///   whole shard on a ring): x, q, the attention output and the attention's running softmax state of its queries
///   for every token of the call; h, k, v, gate and up for one batch of rows;
/// - attention keys: the keys of one call transformed per key class (one process: the whole cache; the ring:
///   one travelling block), and on the ring the send and receive buffers of a block (in the storage type); with
///   BF16 attention tiles also the call's key and value panels (built from the f32 keys, which are then freed);
/// - rotary tables: cos and sin of every position of the sequence (headDim floats per position), for the global
///   layers and, on models with sliding-window layers, their own table;
/// - logits: one row per token the run scores (every position for perplexity, the last one otherwise);
/// - the process itself (runtime, libraries, tokenizer): a measured constant.
///
/// The two phases do not overlap: a prefill call's activations and transformed keys are freed when it returns,
/// before decode builds its kept keys. The plan's total is the larger phase (measured at 128k tokens on 1, 2, 4
/// and 8 ranks: 0.95 to 1.105 of the peak, docs/memory.md).
public struct MemoryPlan: Sendable {
    public struct Rank: Sendable {
        public var tokens: Int
        public var weights: Int
        public var kvCache: Int
        public var decodeKeys: Int
        public var activations: Int
        public var attentionKeys: Int
        public var rotaryTables: Int
        public var logits: Int
        /// The process itself: the Swift runtime, OpenBLAS's and MPI's buffers, the tokenizer, allocator slack.
        public var runtime: Int
        /// What the whole run keeps: the weights, the cache, the rotary tables and the process itself.
        public var resident: Int { weights + kvCache + rotaryTables + runtime }
        /// Prefill holds one call's activations and transformed keys; both are freed when the call returns.
        public var prefill: Int { resident + activations + attentionKeys }
        /// Decode holds the kept transformed keys (built at the first step, after the prefill) and the logits.
        public var decode: Int { resident + decodeKeys + logits }
        /// The peak: the larger phase.
        public var total: Int { max(prefill, decode) }
    }

    public let ranks: Int
    public let kvType: KVType
    /// Per rank; the largest share first (the zigzag and contiguous layouts differ by at most one token).
    public let rank: Rank

    /// - Parameters:
    ///   - weightBytes: resident bytes of the weights (mapped file tensors plus f32 copies).
    ///   - tokens: the whole sequence (prompt plus generated tokens).
    ///   - prefillChunk: tokens per forward call on one process (ignored on a ring, which runs whole shards).
    ///   - keyClasses: key classes of the global layers' scheme (SelfExtend 2, most 1).
    ///   - scoredRows: logits rows the run keeps at once (perplexity: the chunk; generation: 1).
    public init(config c: ModelConfig, weightBytes: Int, tokens: Int, ranks: Int, prefillChunk: Int, keyClasses: Int = 1,
                scoredRows: Int = 1, kvType: KVType = .f32, attentionTiles: AttentionTiles = .f32) {
        self.ranks = ranks
        self.kvType = kvType
        let float = 4
        let share = (tokens + ranks - 1) / ranks
        let kvWidth = c.kvHeads * c.headDim, qWidth = c.heads * c.headDim
        let globalLayers = c.slidingLayers.filter { !$0 }.count
        let callTokens = ranks > 1 ? share : min(prefillChunk, tokens)
        // Per token of the call: x, q, the attention output and the softmax state of the queries; h, k, v and the
        // feed-forward's gate and up only for a batch of `TransformerModel.batchRows` rows.
        let perCallToken = c.hiddenSize + 3 * qWidth
        let feedForward = min(callTokens, TransformerModel.batchRows) * (c.hiddenSize + 2 * kvWidth + 2 * c.ffnSize)
        let keysPerCall = ranks > 1 ? share : tokens
        let storedRow = kvType.bytes(kvWidth)
        let ringBytes = ranks > 1 ? 2 * share * (2 * storedRow + 4) : 0
        rank = Rank(
            tokens: share,
            weights: weightBytes,
            kvCache: share * c.layerCount * 2 * storedRow,
            decodeKeys: share * globalLayers * keyClasses * kvType.transformedKeyType.bytes(kvWidth),
            activations: (callTokens * perCallToken + feedForward) * float,
            attentionKeys: keysPerCall * max(keyClasses, 1) * kvWidth * float + ringBytes
                + (attentionTiles == .f32 ? 0 : BF16Panels.bytes(keys: keysPerCall, kvHeads: c.kvHeads, headDim: c.headDim,
                                                                 keyClasses: max(keyClasses, 1))),
            // Every rank rotates keys of every position (the ring's travelling blocks), so each tabulates cos and
            // sin of all positions: the global layers' table, and the sliding layers' own one (Gemma 3's base).
            rotaryTables: (c.slidingLayers.contains(true) ? 2 : 1) * tokens * c.headDim * float,
            logits: max(1, scoredRows) * c.vocabularySize * float,
            runtime: Self.runtimeBytes)
    }

    /// A process running a tiny model peaks at 31 MiB alone and 41 MiB under mpirun (measured here); a real
    /// vocabulary's tokenizer and the allocator's per-thread arenas add a few tens more.
    public static let runtimeBytes = 64 << 20

    /// Testing hook: pretend the node has this many bytes available (a run can then be refused on any machine).
    public static let assumedAvailableVariable = "LONGLM_ASSUME_AVAILABLE_MEMORY"

    /// Memory the kernel says a new allocation can use without swapping (`MemAvailable`), or nil off Linux.
    public static func availableBytes() -> Int? {
        if let assumed = ProcessInfo.processInfo.environment[assumedAvailableVariable].flatMap(Int.init) { return assumed }
        guard let text = try? String(contentsOfFile: "/proc/meminfo", encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix("MemAvailable:") {
            let fields = line.split(separator: " ")
            if fields.count >= 2, let kib = Int(fields[1]) { return kib * 1024 }
        }
        return nil
    }

    /// This process's peak resident memory so far.
    public static func peakResidentBytes() -> Int {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return Int(usage.ru_maxrss) * 1024
    }

    /// The table `info` prints and a refused run shows: per rank, then the node's share.
    public func table(ranksOnThisNode: Int, available: Int?) -> [String] {
        let r = rank
        func row(_ name: String, _ bytes: Int) -> String { name.padding(toLength: 34, withPad: " ", startingAt: 0) + Self.format(bytes) }
        var lines = [
            "memory plan per rank (\(r.tokens) tokens of the sequence on each of \(ranks) rank\(ranks == 1 ? "" : "s")):",
            row("  weights (mapped)", r.weights),
            row("  KV cache (\(kvType))", r.kvCache),
            row("  decode: transformed global keys", r.decodeKeys),
            row("  activations of one forward call", r.activations),
            row("  attention keys of one call", r.attentionKeys),
            row("  rotary tables", r.rotaryTables),
            row("  logits", r.logits),
            row("  process, libraries, tokenizer", r.runtime),
            row("  peak in prefill", r.prefill),
            row("  peak in decode", r.decode),
            row("  total per rank (the larger)", r.total),
        ]
        let node = nodeTotal(ranksOnThisNode: ranksOnThisNode)
        if let available {
            lines.append(row("  \(ranksOnThisNode) rank\(ranksOnThisNode == 1 ? "" : "s") on this node", node)
                         + " of \(Self.format(available)) available: " + (node <= available ? "fits" : "does not fit"))
        }
        return lines
    }

    /// What the node's ranks take together: the mapped weights once (the ranks of a node share the file's pages in
    /// the page cache, though each process's resident size counts them), everything else once per rank.
    public func nodeTotal(ranksOnThisNode: Int) -> Int { rank.weights + (rank.total - rank.weights) * ranksOnThisNode }

    public func fits(ranksOnThisNode: Int, available: Int) -> Bool { nodeTotal(ranksOnThisNode: ranksOnThisNode) <= available }

    public static func format(_ n: Int) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB"]
        var v = Double(n), u = 0
        while v >= 1024 && u < units.count - 1 { v /= 1024; u += 1 }
        return u == 0 ? "\(n) B" : String(format: "%.2f %@", v, units[u])
    }
}
