import Foundation
import LongLMCore

/// The one generation loop: prefill, then sample on the coordinator, agree on the token with every
/// participant, decode, until a stop token, the token budget, or the caller says stop. `generate`, `logits`,
/// the evaluation tools, `batch` and the server all run it, on one process or under mpirun.
public struct DecodeLoop {
    public var maxNewTokens: Int
    public var sampler: Sampler
    public var stopTokens: Set<Int32>

    public init(maxNewTokens: Int, sampler: Sampler = .greedy, stopTokens: Set<Int32> = []) {
        self.maxNewTokens = maxNewTokens
        self.sampler = sampler
        self.stopTokens = stopTokens
    }

    public struct Outcome: Sendable {
        /// The sampled tokens (the coordinator's; empty elsewhere), a stop token included.
        public var ids: [Int32] = []
        public var promptTokens = 0
        public var prefillSeconds = 0.0
        public var decodeSeconds = 0.0
    }

    public enum Failure: Error, CustomStringConvertible {
        case nonFiniteLogits(step: Int, position: Int)
        public var description: String {
            switch self {
            case .nonFiniteLogits(let step, let position):
                return "the model produced non-finite logits (NaN or infinity) at generated token \(step) (position \(position)): "
                    + "the weights or a norm epsilon in the model file are broken"
            }
        }
    }

    /// Runs `prompt` on `sequence`. `onToken(token, logits)` runs on the coordinator for each sampled token;
    /// returning false stops. An error on the coordinator (bad logits, a failing callback) first stops every
    /// participant, then is thrown, so the other ranks are never left waiting.
    /// `firstPosition`: the prompt's first position (tokens before it are in the sequence's cache already).
    public func run(_ sequence: any TokenSequence, prompt: [Int32], firstPosition: Int = 0,
                    onToken: (Int32, UnsafeBufferPointer<Float>) throws -> Bool = { _, _ in true }) throws -> Outcome {
        var outcome = Outcome()
        outcome.promptTokens = prompt.count
        var sampler = self.sampler
        let start = Date()
        var logits = try sequence.prefill(prompt)
        outcome.prefillSeconds = Date().timeIntervalSince(start)
        let decodeStart = Date()
        var failure: Error?
        while true {
            var token: Int32 = -1   // -1: stop
            if sequence.isCoordinator {
                do {
                    token = try next(logits!, step: outcome.ids.count, position: firstPosition + prompt.count + outcome.ids.count - 1,
                                     sampler: &sampler, ids: &outcome.ids, onToken: onToken)
                } catch {
                    failure = error
                    token = -1
                }
            }
            token = try sequence.agree(on: token)
            if token < 0 { break }
            logits = try sequence.decode(token)
        }
        outcome.decodeSeconds = Date().timeIntervalSince(decodeStart)
        if let failure { throw failure }
        return outcome
    }

    /// Samples the next token from `logits` and reports it; -1 when generation ends after it (or before it).
    private func next(_ logits: [Float], step: Int, position: Int, sampler: inout Sampler, ids: inout [Int32],
                      onToken: (Int32, UnsafeBufferPointer<Float>) throws -> Bool) throws -> Int32 {
        guard logits.allSatisfy(\.isFinite) else { throw Failure.nonFiniteLogits(step: step, position: position) }
        return try logits.withUnsafeBufferPointer { row in
            let token = sampler.sample(row)
            ids.append(token)
            let goOn = try onToken(token, row)
            return !goOn || stopTokens.contains(token) || ids.count >= maxNewTokens ? -1 : token
        }
    }
}
