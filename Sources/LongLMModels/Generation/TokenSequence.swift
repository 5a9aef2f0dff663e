import Foundation
import LongLMCore

/// One sequence being run, on one process (`LocalSequence`) or across the ranks of an MPI job
/// (`DistributedSequence`). Every participant calls the same methods in the same order; logits come back
/// on the coordinator only (the only process, or rank 0), which samples and reports.
public protocol TokenSequence: AnyObject {
    var isCoordinator: Bool { get }
    /// Runs the prompt; the last position's logits on the coordinator, nil elsewhere.
    func prefill(_ tokens: [Int32]) throws -> [Float]?
    /// Appends one token (the same on every participant); its logits on the coordinator, nil elsewhere.
    func decode(_ token: Int32) throws -> [Float]?
    /// The coordinator's `token` on every participant (one process: the token itself).
    func agree(on token: Int32) throws -> Int32
}

/// A sequence on this process: the model, a KV cache positioned by the method, prefill in chunks.
public final class LocalSequence: TokenSequence {
    /// Replaceable between requests (a reused sequence takes the new request's callbacks).
    public var generator: Generator
    public let cache: KVCache
    public var isCoordinator: Bool { true }

    /// `reserve`: tokens the cache makes room for up front (prompt plus generated tokens).
    public init(generator: Generator, promptLength: Int, reserve: Int = 0) throws {
        self.generator = generator
        cache = try generator.makeCache(promptLength: promptLength, reserve: reserve)
    }

    public func prefill(_ tokens: [Int32]) throws -> [Float]? {
        let hidden = try generator.prefill(tokens, cache: cache)
        return generator.model.logits(hidden: hidden, rows: (hidden.rows - 1)..<hidden.rows).array
    }

    public func decode(_ token: Int32) throws -> [Float]? {
        cache.keepsTransformedKeys = true
        let hidden = try generator.model.forward(tokens: [token], cache: cache)
        return generator.model.logits(hidden: hidden, rows: 0..<1).array
    }

    public func agree(on token: Int32) throws -> Int32 { token }
}
