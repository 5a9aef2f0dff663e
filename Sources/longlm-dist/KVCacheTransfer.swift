import ArgumentParser
import Foundation
import LongLMDistributed
import LongLMModels

/// `generate --load-kv DIR` and `--save-kv DIR`: each rank reads or writes its own shard of the KV cache
/// (`KVCacheFile`), so a long document prefilled once can be asked about again in a later run.
enum KVCacheTransfer {
    /// The layout name a cache file records: "single" on one process.
    static func layoutName(_ run: PromptRun, _ layout: Layout) -> String { run.job == nil ? "single" : layout.rawValue }

    static func cache(of run: PromptRun) -> KVCache {
        if let local = run.sequence as? LocalSequence { return local.cache }
        return (run.sequence as! DistributedSequence).cache
    }

    /// Reads this rank's saved cache into the run's sequence and keeps the prefix it shares with the prompt; returns
    /// that prefix's length (the rest of the prompt is prefilled). Every mismatch is an error naming what differs.
    static func load(directory: String, run: PromptRun, modelPath: String, layout: Layout) throws -> Int {
        let ranks = run.job?.size ?? 1, rank = run.job?.rank ?? 0
        let path = (directory as NSString).appendingPathComponent(KVCacheFile.fileName(rank: rank, ranks: ranks))
        guard FileManager.default.fileExists(atPath: path) else {
            let saved = (try? FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasSuffix(".kv") }.sorted()) ?? []
            throw ValidationError("--load-kv: \(path) does not exist" + (saved.isEmpty ? "" : " (the directory has \(saved.joined(separator: ", ")))"))
        }
        let config = run.loaded.model.config
        let cache = cache(of: run)
        let header = try KVCacheFile.read(path, into: cache, vocabularySize: config.vocabularySize)
        func mismatch(_ what: String, _ saved: String, _ now: String) -> KVCacheFile.Failure {
            .mismatch(path: path, what: what, saved: saved, now: now)
        }
        let fingerprint = try ModelFingerprint.of(path: modelPath)
        guard header.model == fingerprint else { throw mismatch("the model", header.model, fingerprint) }
        guard header.method == run.method.description else { throw mismatch("the method", header.method, run.method.description) }
        let layoutNow = layoutName(run, layout)
        guard header.layout == layoutNow, header.ranks == ranks, header.rank == rank else {
            throw mismatch("the layout", "\(header.layout) over \(header.ranks) rank(s)", "\(layoutNow) over \(ranks) rank(s)")
        }
        guard run.method.placesPositionsAlike(config: config, cachedLength: header.schemeLength, promptLength: run.ids.count) else {
            throw mismatch("a prompt of", "\(header.schemeLength) tokens", "\(run.ids.count) (\(run.method) places positions by the prompt's length)")
        }
        let shared = reusablePrefixLength(cached: header.tokens, prompt: run.ids)
        guard shared > 0 else { throw ValidationError("--load-kv: the saved sequence shares no prefix with this prompt") }
        if let distributed = run.sequence as? DistributedSequence {
            distributed.restore(heldPositions: header.heldPositions, length: header.tokens.count)
            distributed.reuse(prefix: shared)
        } else {
            cache.truncate(keepingPositionsBelow: Int32(shared))
        }
        return shared
    }

    /// Writes this rank's cache and the sequence's tokens (`generated` is rank 0's; the others receive them).
    static func save(directory: String, run: PromptRun, generated: [Int32], modelPath: String, layout: Layout, timeout: Double) throws {
        let ranks = run.job?.size ?? 1, rank = run.job?.rank ?? 0
        var tokens = run.ids + generated
        if let job = run.job { tokens = try job.communicator.broadcastValue(rank == 0 ? tokens : nil, timeout: timeout) }
        let cache = cache(of: run)
        let held: [[Int32]]
        if let distributed = run.sequence as? DistributedSequence {
            held = distributed.heldPositions
            tokens = Array(tokens.prefix(distributed.length))
        } else {
            held = [cache.positions]
            tokens = Array(tokens.prefix(cache.count))
        }
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let header = KVCacheFile.Header(model: try ModelFingerprint.of(path: modelPath), method: run.method.description,
                                        schemeLength: run.ids.count, layout: layoutName(run, layout), ranks: ranks, rank: rank,
                                        tokens: tokens, heldPositions: held, layerCount: cache.layerCount, rowWidth: cache.rowWidth,
                                        kvType: cache.type)
        try KVCacheFile.write(cache, header: header, to: (directory as NSString).appendingPathComponent(KVCacheFile.fileName(rank: rank, ranks: ranks)))
    }
}
