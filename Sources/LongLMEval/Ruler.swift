import Foundation
import LongLMCore
import LongLMModels

/// The RULER-style synthetic tasks (docs/ruler.md): needles of the form "One of the special magic numbers for KEY
/// is: VALUE." hidden in a haystack, variable tracking and frequent-word extraction. Everything is generated here
/// from a seed, so every rank and every rerun builds the same sample.
public enum RulerTask: String, CaseIterable, Sendable {
    /// One needle; asked for its value.
    case niahSingle = "niah_single"
    /// Four needles with different keys; asked for one of them.
    case niahMultikey = "niah_multikey"
    /// Four needles with the same key and different values; asked for all values.
    case niahMultivalue = "niah_multivalue"
    /// Four needles with different keys; asked for all four values.
    case niahMultiquery = "niah_multiquery"
    /// A chain "VAR A = 12345", "VAR B = VAR A", ... of five variables spread over the haystack; asked which
    /// variables hold the value.
    case variableTracking = "variable_tracking"
    /// Coded words repeated with Zipf frequencies (the k-th most common about 1/k^2 as often as the first); asked
    /// for the three most frequent.
    case frequentWords = "frequent_words"

    /// Tokens the answer may take by default.
    public var defaultMaxNewTokens: Int {
        switch self {
        case .niahSingle, .niahMultikey: return 24
        case .niahMultivalue, .niahMultiquery: return 64
        case .variableTracking, .frequentWords: return 32
        }
    }

    /// Whether the haystack choice (noise or text) applies: the needle tasks; variable tracking always uses the
    /// repeated noise (as RULER's does), frequent words has no sentences at all.
    public var usesHaystackChoice: Bool { rawValue.hasPrefix("niah") }
}

/// What the needles of the NIAH tasks hide: 7-digit numbers or UUIDs.
public enum RulerValues: String, CaseIterable, Sendable {
    case numbers
    case uuids
}

/// The haystack of the NIAH tasks: the passkey filler sentences repeated, or the sentences of a real text.
public enum RulerHaystack: String, CaseIterable, Sendable {
    case noise
    case text
}

/// One sample: the prompt's parts and the answers that score it.
public struct RulerSample: Sendable {
    public var introduction: String
    /// Sentences cycled to fill the haystack.
    public var sentences: [String]
    /// Needles with their depths (0: first, 1: last).
    public var needles: [(String, Double)]
    public var question: String
    /// Each expected answer scores when it appears in the generated text (case-insensitive).
    public var expected: [String]
    /// The frequent-words task's words, in order: the haystack is exactly these (no needles).
    public var words: [String]?
}

/// Sample generation, scoring and the summary of a RULER-style run.
public enum Ruler {
    public static let defaultSamples = 5
    /// The score (0...1) a length's average over tasks must reach to count as effective (RULER's threshold is
    /// Llama-2-7B's 4k average, 85.6%).
    public static let defaultThreshold = 0.85

    static let needleCount = 4
    static let chainLength = 5
    static let noiseSentences = HaystackRecipe.passkey(key: "").sentences
    static let adjectives = ["amber", "bold", "calm", "dusty", "eager", "fancy", "gentle", "hollow", "icy", "jolly", "keen",
                             "lively", "mellow", "narrow", "odd", "proud", "quiet", "rapid", "silent", "tidy", "upbeat",
                             "vivid", "wary", "young", "zesty", "brave", "crisp", "damp", "empty", "frosty"]
    static let nouns = ["anchor", "badger", "candle", "desert", "engine", "falcon", "garden", "harbor", "island", "jacket",
                        "kettle", "ladder", "meadow", "needle", "orchard", "pepper", "quarry", "river", "saddle", "tunnel",
                        "umbrella", "valley", "walrus", "yogurt", "zebra", "bridge", "canyon", "dragon", "feather", "glacier"]

    /// A generator for sample `index` of `task` at `length` in `haystack`: the same inputs give the same sample, and
    /// the two haystacks get unrelated keys and values.
    static func random(task: RulerTask, haystack: RulerHaystack, length: Int, index: Int, seed: UInt64) -> SplitMix64 {
        let taskNumber = UInt64(RulerTask.allCases.firstIndex(of: task)!)
        let haystackNumber = UInt64(RulerHaystack.allCases.firstIndex(of: haystack)!)
        return SplitMix64(seed: seed &+ UInt64(length) &* 1_000_003 &+ UInt64(index) &* 7919 &+ taskNumber &* 104_729
                          &+ haystackNumber &* 15_485_863)
    }

    static func key(_ random: inout SplitMix64) -> String {
        adjectives[Int(random.next() % UInt64(adjectives.count))] + "-" + nouns[Int(random.next() % UInt64(nouns.count))]
    }

    static func value(_ kind: RulerValues, _ random: inout SplitMix64) -> String {
        switch kind {
        case .numbers:
            return String(1_000_000 + Int(random.next() % 9_000_000))
        case .uuids:
            let hex = (0..<32).map { _ in String(Int(random.next() % 16), radix: 16) }.joined()
            let c = Array(hex)
            return [0..<8, 8..<12, 12..<16, 16..<20, 20..<32].map { String(c[$0]) }.joined(separator: "-")
        }
    }

    /// `count` distinct values of distinct keys.
    static func distinctKeys(_ count: Int, _ random: inout SplitMix64) -> [String] {
        var keys: [String] = []
        while keys.count < count {
            let k = key(&random)
            if !keys.contains(k) { keys.append(k) }
        }
        return keys
    }

    static func needle(key: String, value: String, kind: String) -> String { "One of the special magic \(kind)s for \(key) is: \(value)." }

    /// Depths of `count` insertions, one in each of `count` equal parts of the haystack: (i + 0.2 + 0.6 u) / count.
    static func spreadDepths(_ count: Int, _ random: inout SplitMix64) -> [Double] {
        (0..<count).map { i -> Double in
            let u = Double(random.next() % 1000) / 1000
            return (Double(i) + 0.2 + 0.6 * u) / Double(count)
        }
    }

    /// Builds sample `index` of `task` for a prompt of `length` tokens. `text` holds the sentences of the
    /// natural-text haystack (used when `haystack` is `.text`).
    public static func sample(_ task: RulerTask, length: Int, index: Int, seed: UInt64, values: RulerValues,
                              haystack: RulerHaystack, text: [String]) -> RulerSample {
        var random = random(task: task, haystack: task.usesHaystackChoice ? haystack : .noise, length: length, index: index, seed: seed)
        let sentences = haystack == .text && task.usesHaystackChoice
            ? excerpt(text, from: Int(random.next() % UInt64(max(1, text.count))), characters: 6 * length)
            : noiseSentences
        let kind = values == .numbers ? "number" : "uuid"
        let niahIntroduction: String = "Some special magic \(kind)s are hidden within the following text. Make sure to memorize it. "
            + "I will quiz you about the \(kind)s afterwards."
        switch task {
        case .niahSingle:
            let k = key(&random), v = value(values, &random)
            let depth = Double(random.next() % 1001) / 1000
            return RulerSample(introduction: niahIntroduction, sentences: sentences, needles: [(needle(key: k, value: v, kind: kind), depth)],
                               question: "What is the special magic \(kind) for \(k) mentioned in the provided text? "
                                   + "The special magic \(kind) for \(k) mentioned in the provided text is", expected: [v])
        case .niahMultikey:
            let keys = distinctKeys(needleCount, &random)
            let vals = keys.map { _ in value(values, &random) }
            let depths = spreadDepths(needleCount, &random)
            let asked = Int(random.next() % UInt64(needleCount))
            return RulerSample(introduction: niahIntroduction, sentences: sentences,
                               needles: (0..<needleCount).map { (needle(key: keys[$0], value: vals[$0], kind: kind), depths[$0]) },
                               question: "What is the special magic \(kind) for \(keys[asked]) mentioned in the provided text? "
                                   + "The special magic \(kind) for \(keys[asked]) mentioned in the provided text is", expected: [vals[asked]])
        case .niahMultivalue:
            let k = key(&random)
            var vals: [String] = []
            while vals.count < needleCount { let v = value(values, &random); if !vals.contains(v) { vals.append(v) } }
            let depths = spreadDepths(needleCount, &random)
            return RulerSample(introduction: niahIntroduction, sentences: sentences,
                               needles: (0..<needleCount).map { (needle(key: k, value: vals[$0], kind: kind), depths[$0]) },
                               question: "What are all the special magic \(kind)s for \(k) mentioned in the provided text? "
                                   + "The special magic \(kind)s for \(k) mentioned in the provided text are", expected: vals)
        case .niahMultiquery:
            let keys = distinctKeys(needleCount, &random)
            let vals = keys.map { _ in value(values, &random) }
            let depths = spreadDepths(needleCount, &random)
            let list = keys.dropLast().joined(separator: ", ") + ", and " + keys.last!
            return RulerSample(introduction: niahIntroduction, sentences: sentences,
                               needles: (0..<needleCount).map { (needle(key: keys[$0], value: vals[$0], kind: kind), depths[$0]) },
                               question: "What are all the special magic \(kind)s for \(list) mentioned in the provided text? "
                                   + "The special magic \(kind)s for \(list) mentioned in the provided text are", expected: vals)
        case .variableTracking:
            var names: [String] = []
            while names.count < chainLength {
                let name = String((0..<5).map { _ in Character(UnicodeScalar(65 + UInt8(random.next() % 26))) })
                if !names.contains(name) { names.append(name) }
            }
            let v = String(10_000 + Int(random.next() % 90_000))
            let statements = ["VAR \(names[0]) = \(v)."] + (1..<chainLength).map { "VAR \(names[$0]) = VAR \(names[$0 - 1])." }
            let depths = (0..<chainLength).map { (Double($0) + 0.5) / Double(chainLength) }
            return RulerSample(introduction: "Memorize and track the chain(s) of variable assignment hidden in the following text.",
                               sentences: noiseSentences, needles: Array(zip(statements, depths)),
                               question: "Question: Find all variables that are assigned the value \(v) in the text above. "
                                   + "Answer: According to the chain(s) of variable assignment in the text above, \(chainLength) variables "
                                   + "are assigned the value \(v), they are:", expected: names)
        case .frequentWords:
            return frequentWords(length: length, random: &random)
        }
    }

    /// Consecutive sentences from `start` (wrapping around) until they hold `characters` characters: more than the
    /// prompt needs at any tokenizer's 2 to 5 characters per token, without tokenizing the whole text.
    static func excerpt(_ sentences: [String], from start: Int, characters: Int) -> [String] {
        guard !sentences.isEmpty else { return [] }
        var result: [String] = [], total = 0, i = start % sentences.count
        while total < characters && result.count < 4 * sentences.count {
            result.append(sentences[i])
            total += sentences[i].count + 1
            i = (i + 1) % sentences.count
        }
        return result
    }

    /// Coded words (5 or 6 random lowercase letters) repeated with Zipf frequencies: the word of rank r appears
    /// about N / r^2 times, shuffled. The words are enough for `length` tokens at one token per word or more; the
    /// prompt keeps a prefix of them (`HaystackPrompt.sentenceCount`) and the expected answer is counted on it.
    static func frequentWords(length: Int, random: inout SplitMix64) -> RulerSample {
        let vocabularySize = 200
        var vocabulary: [String] = []
        while vocabulary.count < vocabularySize {
            let letters = 5 + Int(random.next() % 2)
            let word = String((0..<letters).map { _ in Character(UnicodeScalar(97 + UInt8(random.next() % 26))) })
            if !vocabulary.contains(word) { vocabulary.append(word) }
        }
        let harmonic = (1...vocabularySize).reduce(0.0) { $0 + 1 / Double($1 * $1) }
        let first = Double(length) / harmonic
        var words: [String] = []
        for (r, word) in vocabulary.enumerated() {
            words += Array(repeating: word, count: max(1, Int((first / Double((r + 1) * (r + 1))).rounded())))
        }
        for i in stride(from: words.count - 1, to: 0, by: -1) {
            words.swapAt(i, Int(random.next() % UInt64(i + 1)))
        }
        return RulerSample(introduction: "Read the following coded text and track the frequency of each coded word. Find the three most "
                               + "frequently appeared coded words.", sentences: words, needles: [],
                           question: "Question: Do not provide any explanation. Please ignore the dots '....'. What are the three most "
                               + "frequently appeared words in the above coded text? Answer: According to the coded text above, the three "
                               + "most frequently appeared words are:", expected: [], words: words)
    }

    /// The three most frequent of the first `count` words (ties broken by first appearance).
    public static func mostFrequent(_ words: ArraySlice<String>, top: Int = 3) -> [String] {
        var counts: [String: Int] = [:], order: [String] = []
        for w in words {
            if counts[w] == nil { order.append(w) }
            counts[w, default: 0] += 1
        }
        return order.enumerated().sorted { a, b in
            counts[a.element]! != counts[b.element]! ? counts[a.element]! > counts[b.element]! : a.offset < b.offset
        }.prefix(top).map(\.element)
    }

    /// Builds the prompt of a sample, at most `length` tokens, and the answers that score it.
    public static func prompt(_ sample: RulerSample, tokenizer: any Tokenizer, length: Int,
                              chat: ChatFrame? = nil) throws -> (prompt: HaystackPrompt, expected: [String]) {
        if let words = sample.words {
            // No needles: the haystack is the words themselves; a marker needle of nothing is not allowed, so the
            // question is the only fixed part after the words.
            let built = try HaystackPrompt.build(introduction: sample.introduction, sentences: words, needles: [("....", 1)],
                                                 question: sample.question, tokenizer: tokenizer, length: length, atMost: true, chat: chat)
            return (built, mostFrequent(words[..<min(words.count, built.sentenceCount)]))
        }
        let built = try HaystackPrompt.build(introduction: sample.introduction, sentences: sample.sentences, needles: sample.needles,
                                             question: sample.question, tokenizer: tokenizer, length: length, atMost: true, chat: chat)
        return (built, sample.expected)
    }

    /// RULER's string match: the share of expected answers that appear in the text, ignoring case.
    public static func score(answer: String, expected: [String]) -> Double {
        guard !expected.isEmpty else { return 0 }
        let text = answer.lowercased()
        return Double(expected.filter { text.contains($0.lowercased()) }.count) / Double(expected.count)
    }

    /// The longest length L such that every tested length up to L averages at least `threshold` over the tasks,
    /// or nil when the shortest does not.
    public static func effectiveLength(averages: [(length: Int, score: Double)], threshold: Double) -> Int? {
        var best: Int? = nil
        for (length, score) in averages.sorted(by: { $0.length < $1.length }) {
            if score < threshold { break }
            best = length
        }
        return best
    }
}
