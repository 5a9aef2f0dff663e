import Foundation
import LongLMModels

/// What a needle-in-a-haystack prompt is made of: an introduction, haystack sentences (cycled until the
/// prompt is long enough), the needle hidden among them, and a closing question ending with the first words
/// of the answer. Each part is tokenized on its own and the ids are joined, so the needle's token position
/// and the prompt's length are exact; sentences after the first start with a space.
public struct HaystackRecipe: Sendable {
    public var introduction: String
    public var sentences: [String]
    public var needle: String
    public var question: String

    public init(introduction: String, sentences: [String], needle: String, question: String) {
        self.introduction = introduction
        self.sentences = sentences
        self.needle = needle
        self.question = question
    }

    /// The passkey prompt of Landmark Attention / LongLM: the filler sentences repeated, the key sentence
    /// at the chosen depth, and "The pass key is" as the answer's start.
    public static func passkey(key: String) -> HaystackRecipe {
        HaystackRecipe(
            introduction: "There is an important info hidden inside a lot of irrelevant text. Find it and memorize it. I will quiz you about the important information there.",
            sentences: ["The grass is green.", "The sky is blue.", "The sun is yellow.", "Here we go.", "There and back again."],
            needle: "The pass key is \(key). Remember it. \(key) is the pass key.",
            question: "What is the pass key? The pass key is")
    }

    /// A document's text cut into sentences (at ". ", "? ", "! " and line breaks), for a haystack of real prose.
    public static func sentences(of text: String) -> [String] {
        var result: [String] = []
        var current = ""
        let characters = Array(text)
        for (i, c) in characters.enumerated() {
            if c == "\n" || c == "\r" {
                if !current.trimmingCharacters(in: .whitespaces).isEmpty { result.append(current.trimmingCharacters(in: .whitespaces)) }
                current = ""
                continue
            }
            current.append(c)
            if ".?!".contains(c), i + 1 < characters.count, characters[i + 1] == " " {
                result.append(current.trimmingCharacters(in: .whitespaces))
                current = ""
            }
        }
        if !current.trimmingCharacters(in: .whitespaces).isEmpty { result.append(current.trimmingCharacters(in: .whitespaces)) }
        return result
    }
}

/// A built prompt and where its parts are, in tokens.
public struct HaystackPrompt: Sendable {
    public let tokens: [Int32]
    /// Token indices of the needle.
    public let needle: Range<Int>
    /// Token indices of the haystack (the needle included).
    public let haystack: Range<Int>

    /// The needle's depth as built: haystack tokens before it over all haystack tokens (needle excluded).
    public var depth: Double {
        let hay = haystack.count - needle.count
        return hay == 0 ? 0 : Double(needle.lowerBound - haystack.lowerBound) / Double(hay)
    }

    public enum Failure: Error, CustomStringConvertible {
        case tooShort(requested: Int, minimum: Int)
        case emptyHaystack
        case badDepth(Double)
        public var description: String {
            switch self {
            case .tooShort(let n, let m): return "a prompt of \(n) tokens is too short: the introduction, needle and question alone take \(m)"
            case .emptyHaystack: return "the haystack has no sentences"
            case .badDepth(let d): return "depth \(d) is outside 0...1"
            }
        }
    }

    /// Builds a prompt of about `length` tokens (within half a sentence) with the needle at `depth` (0: right
    /// after the introduction, 1: right before the question), placed at the sentence boundary nearest to it.
    /// With `chat`, the whole prompt is the content of one user turn: the turn's opening (BOS included) comes
    /// before the introduction and its close, with the assistant's turn opened, after the question.
    public static func build(_ recipe: HaystackRecipe, tokenizer: any Tokenizer, length: Int, depth: Double,
                             chat: ChatFrame? = nil) throws -> HaystackPrompt {
        guard (0...1).contains(depth) else { throw Failure.badDepth(depth) }
        let sentences = try recipe.sentences.map { try tokenizer.encode(" " + $0, addSpecial: false) }.filter { !$0.isEmpty }
        guard !sentences.isEmpty else { throw Failure.emptyHaystack }
        let introduction = try chat.map { $0.prefix + (try tokenizer.encode(recipe.introduction, addSpecial: false)) }
            ?? tokenizer.encode(recipe.introduction, addSpecial: true)
        let needle = try tokenizer.encode(" " + recipe.needle, addSpecial: false)
        let question = try tokenizer.encode(" " + recipe.question, addSpecial: false) + (chat?.suffix ?? [])
        let fixed = introduction.count + needle.count + question.count
        guard length > fixed else { throw Failure.tooShort(requested: length, minimum: fixed + 1) }

        // Sentences, cycled, until the next one would overshoot by more than half of itself.
        let budget = length - fixed
        var hay: [[Int32]] = [], total = 0
        while true {
            let next = sentences[hay.count % sentences.count]
            if total + next.count - budget > next.count / 2 || (total >= budget) { break }
            hay.append(next)
            total += next.count
        }
        // The sentence boundary nearest to depth * total (haystack tokens before the needle).
        let target = depth * Double(total)
        var bestBefore = 0, cumulative = 0
        for sentence in hay {
            cumulative += sentence.count
            if abs(Double(cumulative) - target) < abs(Double(bestBefore) - target) { bestBefore = cumulative }
        }
        var tokens = introduction
        var placed = false, running = 0
        for sentence in hay {
            if !placed && running == bestBefore { tokens += needle; placed = true }
            tokens += sentence
            running += sentence.count
        }
        let needleStart: Int
        if placed {
            needleStart = introduction.count + bestBefore
        } else {
            needleStart = tokens.count
            tokens += needle
        }
        let haystackEnd = tokens.count
        tokens += question
        return HaystackPrompt(tokens: tokens, needle: needleStart..<(needleStart + needle.count),
                              haystack: introduction.count..<haystackEnd)
    }
}
