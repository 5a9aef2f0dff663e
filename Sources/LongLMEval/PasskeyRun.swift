import Foundation
import LongLMCore
import LongLMModels

/// A passkey evaluation: which trials it runs (a key and a depth for each length and trial index), and
/// which of them an earlier run's records already answer.
public struct PasskeyRun {
    public static let defaultTrials = 3
    public static let defaultMaxNewTokens = 8

    /// Everything besides the length and trial that decides a trial's prompt and answer.
    public var model: String
    public var method: String
    public var seed: UInt64
    public var maxNewTokens: Int
    public var trials: Int
    /// Depths cycled over the trials; nil spreads them evenly.
    public var depths: [Double]?
    /// The prompt as one user turn of this chat format; nil: a plain prompt.
    public var chat: ChatTurn?

    public init(model: String, method: String, seed: UInt64, maxNewTokens: Int, trials: Int, depths: [Double]?, chat: ChatTurn? = nil) {
        precondition(trials >= 1 && depths?.isEmpty != true)
        self.model = model
        self.method = method
        self.seed = seed
        self.maxNewTokens = maxNewTokens
        self.trials = trials
        self.depths = depths
        self.chat = chat
    }

    public struct Trial: Equatable {
        public var length: Int
        public var index: Int
        public var depth: Double
        /// The five-digit key hidden in the prompt.
        public var key: String
    }

    /// Trial t of K sits at depth (t + 0.5) / K unless depths are given (then cycled).
    public func depth(ofTrial t: Int) -> Double {
        depths.map { $0[t % $0.count] } ?? (Double(t) + 0.5) / Double(trials)
    }

    /// The key of a trial: the same seed, length and trial always give the same key (on every rank and
    /// every rerun), and neighbouring trials get unrelated ones.
    public static func key(seed: UInt64, length: Int, trial: Int) -> String {
        var random = SplitMix64(seed: seed &+ UInt64(length) &* 1_000_003 &+ UInt64(trial))
        return String(10_000 + Int(random.next() % 90_000))
    }

    public func trials(length: Int) -> [Trial] {
        (0..<trials).map { Trial(length: length, index: $0, depth: depth(ofTrial: $0), key: Self.key(seed: seed, length: length, trial: $0)) }
    }

    /// The fields that identify a trial's record.
    public func key(of trial: Trial) -> ResultKey {
        ResultKey(["kind": .text("passkey"), "model": .text(model), "method": .text(method), "seed": .text(String(seed)),
                   "max_new_tokens": .integer(maxNewTokens), "length": .integer(trial.length), "trial": .integer(trial.index),
                   "depth": .number(trial.depth), "key": .text(trial.key)]).appendingChat(chat)
    }

    /// The latest earlier record of this trial, if any.
    public func previous(_ trial: Trial, in records: [[String: Any]]) -> [String: Any]? {
        let key = key(of: trial)
        return records.last { key.matches($0) }
    }
}
