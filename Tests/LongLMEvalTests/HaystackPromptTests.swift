import XCTest
import Foundation
import LongLMModels
@testable import LongLMEval

/// One token per word: makes the expected positions easy to state.
struct WordTokenizer: Tokenizer {
    var vocabularySize: Int { 1_000_000 }
    var bosToken: Int32? { 1 }
    var eosToken: Int32? { 2 }
    var endOfGenerationTokens: Set<Int32> { [2] }
    var addsBOS: Bool { true }
    func encode(_ text: String, addSpecial: Bool, parseSpecial: Bool) -> [Int32] {
        (addSpecial ? [1] : []) + text.split(separator: " ").map { Int32(abs($0.hashValue) % 900_000 + 10) }
    }
    func decode(_ ids: [Int32]) -> String { ids.map(String.init).joined(separator: " ") }
    func pieceBytes(_ id: Int32) -> [UInt8] { [] }
}

final class HaystackPromptTests: XCTestCase {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

    /// The needle sits where the depth says, in tokens, and the prompt is within 1% of the requested length.
    func checkPlacement(tokenizer: any Tokenizer, recipe: HaystackRecipe, lengths: [Int], file: StaticString = #filePath, line: UInt = #line) throws {
        let needle = try tokenizer.encode(" " + recipe.needle, addSpecial: false)
        let longestSentence = try recipe.sentences.map { try tokenizer.encode(" " + $0, addSpecial: false).count }.max()!
        for length in lengths {
            for depth in [0, 0.1, 0.25, 0.5, 0.77, 0.9, 1] {
                let prompt = try HaystackPrompt.build(recipe, tokenizer: tokenizer, length: length, depth: depth)
                XCTAssertLessThanOrEqual(abs(prompt.tokens.count - length), max(length / 100, longestSentence / 2),
                                         "length \(length)", file: file, line: line)
                XCTAssertEqual(Array(prompt.tokens[prompt.needle]), needle, file: file, line: line)
                // Haystack tokens before the needle over all haystack tokens, within one sentence.
                let hay = prompt.haystack.count - prompt.needle.count
                let expectedStart = prompt.haystack.lowerBound + Int((depth * Double(hay)).rounded())
                XCTAssertLessThanOrEqual(abs(prompt.needle.lowerBound - expectedStart), longestSentence / 2 + 1,
                                         "length \(length) depth \(depth)", file: file, line: line)
                XCTAssertEqual(prompt.depth, depth, accuracy: Double(longestSentence) / Double(hay), file: file, line: line)
                XCTAssertEqual(prompt.tokens.first, tokenizer.bosToken, file: file, line: line)
                XCTAssertEqual(Array(prompt.tokens.suffix(try tokenizer.encode(" " + recipe.question, addSpecial: false).count)),
                               try tokenizer.encode(" " + recipe.question, addSpecial: false), file: file, line: line)
            }
        }
    }

    func testPasskeyPlacementWithOneTokenPerWord() throws {
        try checkPlacement(tokenizer: WordTokenizer(), recipe: .passkey(key: "12345"), lengths: [200, 1000, 5000])
    }

    func testPasskeyPlacementWithTheGemmaTokenizerAtLongLengths() throws {
        let path = Self.repository + "/models/gemma-3-270m-q4_k_m.gguf"
        guard FileManager.default.fileExists(atPath: path) else { throw XCTSkip("run scripts/setup.sh for the Gemma 3 model") }
        let tokenizer = try TokenizerLoader.load(modelPath: path)
        try checkPlacement(tokenizer: tokenizer, recipe: .passkey(key: "71432"), lengths: [1000, 30000, 48000])
        let prompt = try HaystackPrompt.build(.passkey(key: "71432"), tokenizer: tokenizer, length: 2000, depth: 0.5)
        let text = tokenizer.decode(prompt.tokens)
        XCTAssertTrue(text.contains("The pass key is 71432. Remember it. 71432 is the pass key."))
        XCTAssertTrue(text.hasSuffix("What is the pass key? The pass key is"))
    }

    /// As a chat turn, the whole prompt is the user's content: the turn's opening (with BOS) before the
    /// introduction, its close and the assistant's opening after the question, the needle still where the depth says.
    func testChatFramePutsTheWholePromptInOneUserTurn() throws {
        let path = Self.repository + "/models/gemma-3-270m-q4_k_m.gguf"
        guard FileManager.default.fileExists(atPath: path) else { throw XCTSkip("run scripts/setup.sh for the Gemma 3 model") }
        let tokenizer = try TokenizerLoader.load(modelPath: path)
        let turn = ChatTurn(template: .gemma, system: "Answer with the number.")
        let frame = try turn.frame(tokenizer: tokenizer)
        let recipe = HaystackRecipe.passkey(key: "71432")
        let prompt = try HaystackPrompt.build(recipe, tokenizer: tokenizer, length: 2000, depth: 0.5, chat: frame)
        let plain = try HaystackPrompt.build(recipe, tokenizer: tokenizer, length: 2000, depth: 0.5)
        XCTAssertEqual(Array(prompt.tokens.prefix(frame.prefix.count)), frame.prefix)
        XCTAssertEqual(Array(prompt.tokens.suffix(frame.suffix.count)), frame.suffix)
        XCTAssertEqual(prompt.tokens.filter { $0 == tokenizer.bosToken }.count, 1, "one BOS, the frame's")
        XCTAssertEqual(prompt.tokens.count, 2000, accuracy: 20)
        XCTAssertEqual(Array(prompt.tokens[prompt.needle]), Array(plain.tokens[plain.needle]))
        XCTAssertEqual(prompt.depth, 0.5, accuracy: 0.02)
        // Between the frame: the introduction, the haystack with the needle, and the question.
        let content = prompt.tokens.dropFirst(frame.prefix.count).dropLast(frame.suffix.count)
        XCTAssertTrue(tokenizer.decode(Array(content)).hasPrefix(recipe.introduction))
        XCTAssertTrue(tokenizer.decode(Array(content)).hasSuffix(recipe.question))
    }

    func testProseHaystackIsCutIntoSentences() throws {
        XCTAssertEqual(HaystackRecipe.sentences(of: "In the beginning. And then? Yes!\nA new line\n\nend"),
                       ["In the beginning.", "And then?", "Yes!", "A new line", "end"])
        let recipe = HaystackRecipe(introduction: "Read.", sentences: HaystackRecipe.sentences(of: "One two three. Four five six seven. Eight."),
                                    needle: "The needle is here.", question: "Where is it? It is")
        try checkPlacement(tokenizer: WordTokenizer(), recipe: recipe, lengths: [300, 3000])
    }

    func testTooShortAndBadDepthAreErrors() {
        XCTAssertThrowsError(try HaystackPrompt.build(.passkey(key: "1"), tokenizer: WordTokenizer(), length: 10, depth: 0.5)) {
            XCTAssertTrue("\($0)".contains("too short"))
        }
        XCTAssertThrowsError(try HaystackPrompt.build(.passkey(key: "1"), tokenizer: WordTokenizer(), length: 1000, depth: 1.5))
    }

    func testRecallScore() {
        XCTAssertEqual(recallScore(answer: " eat a sandwich and sit in Dolores Park on a sunny day.", expected: "eat a sandwich and sit in Dolores Park on a sunny day"), 1)
        XCTAssertEqual(recallScore(answer: "Eat a SANDWICH", expected: "eat a sandwich and sit"), 3.0 / 5.0, accuracy: 1e-12)
        XCTAssertEqual(recallScore(answer: "", expected: "x y"), 0)
    }

    func testProgressLine() {
        XCTAssertEqual(ProgressReporter.line(label: "prefill", unit: "tokens", done: 1000, total: 4000, seconds: 2),
                       "prefill: 1000/4000 tokens (25%), 500.0 tokens/s, ETA 6s")
        XCTAssertEqual(ProgressReporter.line(label: "batch", unit: "jobs", done: 3, total: 3, seconds: 125),
                       "batch: 3/3 jobs (100%), 0.0 jobs/s, 2m05s")
    }
}
