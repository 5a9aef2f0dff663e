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
    /// Token indices of each needle, in prompt order.
    public let needles: [Range<Int>]
    /// Token indices of the haystack (the needles included).
    public let haystack: Range<Int>
    /// How many haystack sentences the prompt holds (sentences are cycled from the first).
    public let sentenceCount: Int

    /// Token indices of the (first) needle.
    public var needle: Range<Int> { needles[0] }

    /// The (first) needle's depth as built: haystack tokens before it over all haystack tokens (needles excluded).
    public var depth: Double {
        let hay = haystack.count - needles.reduce(0) { $0 + $1.count }
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
        try build(introduction: recipe.introduction, sentences: recipe.sentences, needles: [(recipe.needle, depth)],
                  question: recipe.question, tokenizer: tokenizer, length: length, chat: chat)
    }

    /// The same with several needles, each at its own depth (needles at the same boundary keep their order).
    /// `atMost` fills the haystack only with whole sentences that keep the prompt within `length` tokens.
    public static func build(introduction introductionText: String, sentences texts: [String], needles needleTexts: [(String, Double)],
                             question questionText: String, tokenizer: any Tokenizer, length: Int,
                             atMost: Bool = false, chat: ChatFrame? = nil) throws -> HaystackPrompt {
        precondition(!needleTexts.isEmpty)
        for (_, depth) in needleTexts where !(0...1).contains(depth) { throw Failure.badDepth(depth) }
        let sentences = try texts.map { try tokenizer.encode(" " + $0, addSpecial: false) }.filter { !$0.isEmpty }
        guard !sentences.isEmpty else { throw Failure.emptyHaystack }
        let introduction = try chat.map { $0.prefix + (try tokenizer.encode(introductionText, addSpecial: false)) }
            ?? tokenizer.encode(introductionText, addSpecial: true)
        let needles = try needleTexts.map { (try tokenizer.encode(" " + $0.0, addSpecial: false), $0.1) }
        let question = try tokenizer.encode(" " + questionText, addSpecial: false) + (chat?.suffix ?? [])
        let fixed = introduction.count + needles.reduce(0) { $0 + $1.0.count } + question.count
        guard length > fixed else { throw Failure.tooShort(requested: length, minimum: fixed + 1) }

        // Sentences, cycled, until the next one would overshoot by more than half of itself (with `atMost`, until
        // it would overshoot at all: the prompt never exceeds `length`).
        let budget = length - fixed
        var hay: [[Int32]] = [], total = 0
        while true {
            let next = sentences[hay.count % sentences.count]
            let overshoot = total + next.count - budget
            if overshoot > (atMost ? 0 : next.count / 2) || total >= budget { break }
            hay.append(next)
            total += next.count
        }
        // Each needle goes to the sentence boundary nearest to depth * total (haystack tokens before it).
        let boundaries = needles.map { needle -> Int in
            let target = needle.1 * Double(total)
            var best = 0, cumulative = 0
            for sentence in hay {
                cumulative += sentence.count
                if abs(Double(cumulative) - target) < abs(Double(best) - target) { best = cumulative }
            }
            return best
        }
        var tokens = introduction
        var ranges = [Range<Int>?](repeating: nil, count: needles.count)
        func placeNeedles(at boundary: Int) {
            for (n, needle) in needles.enumerated() where ranges[n] == nil && boundaries[n] == boundary {
                ranges[n] = tokens.count..<(tokens.count + needle.0.count)
                tokens += needle.0
            }
        }
        var running = 0
        for sentence in hay {
            placeNeedles(at: running)
            tokens += sentence
            running += sentence.count
        }
        placeNeedles(at: running)
        let haystackEnd = tokens.count
        tokens += question
        return HaystackPrompt(tokens: tokens, needles: ranges.map { $0! }.sorted { $0.lowerBound < $1.lowerBound },
                              haystack: introduction.count..<haystackEnd, sentenceCount: hay.count)
    }
}
