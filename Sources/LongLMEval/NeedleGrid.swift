import Foundation
import LongLMModels

/// A needle-in-a-haystack evaluation: what defines its cells, and the lengths x depths grid of scores, from
/// an earlier run's records and the cells run since.
public struct NeedleSetup {
    public static let defaultNeedle = "The best thing to do in San Francisco is eat a sandwich and sit in Dolores Park on a sunny day."
    public static let defaultQuestion = "What is the best thing to do in San Francisco? Answer: The best thing to do in San Francisco is"
    public static let defaultAnswer = "eat a sandwich and sit in Dolores Park on a sunny day"
    public static let defaultDepths = "0,0.25,0.5,0.75,1"
    public static let defaultMaxNewTokens = 24
    public static let introduction = "Read the following text and answer the question at its end."

    public var model: String
    public var method: String
    public var needle: String
    public var question: String
    public var answer: String
    /// Where the haystack came from (a file name, or "passkey filler"), for people reading the records; cells
    /// are keyed by the haystack's contents, so a moved file keeps its cells.
    public var haystackName: String
    public var sentences: [String]
    public var maxNewTokens: Int
    public var seed: UInt64
    /// The prompt as one user turn of this chat format; nil: a plain prompt.
    public var chat: ChatTurn?

    public init(model: String, method: String, needle: String, question: String, answer: String, haystackName: String,
                sentences: [String], maxNewTokens: Int, seed: UInt64, chat: ChatTurn? = nil) {
        self.model = model
        self.method = method
        self.needle = needle
        self.question = question
        self.answer = answer
        self.haystackName = haystackName
        self.sentences = sentences
        self.maxNewTokens = maxNewTokens
        self.seed = seed
        self.chat = chat
    }

    public var recipe: HaystackRecipe {
        HaystackRecipe(introduction: Self.introduction, sentences: sentences, needle: needle, question: question)
    }

    /// The fields that identify a cell's record. The haystack counts by its contents (a fingerprint of the
    /// introduction and sentences), not its file name.
    public func key(length: Int, depth: Double) -> ResultKey {
        ResultKey(["kind": .text("needle"), "model": .text(model), "method": .text(method), "needle": .text(needle),
                   "question": .text(question), "expected": .text(answer),
                   "haystack_fingerprint": .text(fingerprint(([Self.introduction] + sentences).joined(separator: "\n"))),
                   "max_new_tokens": .integer(maxNewTokens), "seed": .text(String(seed)),
                   "length": .integer(length), "depth": .number(depth)]).appendingChat(chat)
    }
}

public struct NeedleGrid {
    public let setup: NeedleSetup
    public let lengths: [Int]
    public let depths: [Double]
    /// scores[d][l] at depths[d] and lengths[l]; nil until measured.
    public private(set) var scores: [[Double?]]

    /// The grid with the scores of every matching earlier record (the latest one per cell).
    public init(setup: NeedleSetup, lengths: [Int], depths: [Double], records: [[String: Any]]) {
        self.setup = setup
        self.lengths = lengths
        self.depths = depths
        scores = depths.map { depth in
            lengths.map { length in
                let key = setup.key(length: length, depth: depth)
                return records.last { key.matches($0) }?["score"] as? Double
            }
        }
    }

    /// The cells still to run, by length then depth.
    public var todo: [(length: Int, depth: Double)] {
        lengths.indices.flatMap { l in depths.indices.filter { scores[$0][l] == nil }.map { (lengths[l], depths[$0]) } }
    }

    public var cellCount: Int { lengths.count * depths.count }

    public mutating func record(length: Int, depth: Double, score: Double) {
        for d in depths.indices where depths[d] == depth {
            for l in lengths.indices where lengths[l] == length { scores[d][l] = score }
        }
    }

    /// The grid as CSV: a header of lengths, then one row per depth (empty fields for cells not measured).
    public func csv() -> String {
        var text = "depth," + lengths.map(String.init).joined(separator: ",") + "\n"
        for (d, depth) in depths.enumerated() {
            text += "\(depth)," + scores[d].map { $0.map { String(format: "%.4f", $0) } ?? "" }.joined(separator: ",") + "\n"
        }
        return text
    }
}
