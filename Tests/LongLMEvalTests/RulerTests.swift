import XCTest
import Foundation
import LongLMModels
@testable import LongLMEval

/// The RULER-style samples: reproducible from the seed, each task's needles and answers where the prompt says,
/// and the scoring and effective-length rules.
final class RulerTests: XCTestCase {
    let text = HaystackRecipe.sentences(of: (0..<400).map { "Sentence number \($0) of a long story goes on here." }.joined(separator: " "))

    func testTheSameSeedGivesTheSameSampleAndOtherIndicesOtherOnes() {
        for task in RulerTask.allCases {
            let a = Ruler.sample(task, length: 2000, index: 3, seed: 7, values: .numbers, haystack: .text, text: text)
            let b = Ruler.sample(task, length: 2000, index: 3, seed: 7, values: .numbers, haystack: .text, text: text)
            let c = Ruler.sample(task, length: 2000, index: 4, seed: 7, values: .numbers, haystack: .text, text: text)
            XCTAssertEqual(a.question, b.question, "\(task)")
            XCTAssertEqual(a.needles.map(\.0), b.needles.map(\.0), "\(task)")
            XCTAssertEqual(a.words, b.words, "\(task)")
            XCTAssertTrue(a.needles.map(\.0) != c.needles.map(\.0) || a.words != c.words, "\(task)")
        }
    }

    func testEachNeedleTaskHidesItsAnswersInTheNeedlesAndAsksForThem() throws {
        let tokenizer = WordTokenizer()
        for values in RulerValues.allCases {
            for task in [RulerTask.niahSingle, .niahMultikey, .niahMultivalue, .niahMultiquery] {
                for index in 0..<5 {
                    let sample = Ruler.sample(task, length: 3000, index: index, seed: 1, values: values, haystack: .noise, text: [])
                    let expectedCount = [RulerTask.niahMultivalue, .niahMultiquery].contains(task) ? 4 : 1
                    XCTAssertEqual(sample.expected.count, expectedCount, "\(task)")
                    XCTAssertEqual(sample.needles.count, task == .niahSingle ? 1 : 4, "\(task)")
                    for answer in sample.expected {
                        XCTAssertEqual(sample.needles.filter { $0.0.hasSuffix(" is: \(answer).") }.count, 1, "\(task) \(answer)")
                        if values == .numbers {
                            XCTAssertEqual(answer.count, 7)
                            XCTAssertNotNil(Int(answer))
                        } else {
                            XCTAssertEqual(answer.split(separator: "-").map(\.count), [8, 4, 4, 4, 12])
                        }
                    }
                    // The key asked about is the key of the needles holding the answers.
                    for needle in sample.needles where sample.expected.contains(where: { needle.0.hasSuffix(" is: \($0).") }) {
                        let key = needle.0.components(separatedBy: " for ")[1].components(separatedBy: " is: ")[0]
                        XCTAssertTrue(sample.question.contains(key), "\(task): \(sample.question)")
                    }
                    let (prompt, expected) = try Ruler.prompt(sample, tokenizer: tokenizer, length: 3000)
                    XCTAssertEqual(expected, sample.expected)
                    XCTAssertLessThanOrEqual(abs(prompt.tokens.count - 3000), 10)
                    XCTAssertEqual(prompt.needles.count, sample.needles.count)
                    // Every needle's tokens are in the prompt where the prompt says.
                    let needleTokens = try sample.needles.map { try tokenizer.encode(" " + $0.0, addSpecial: false) }
                    XCTAssertEqual(Set(prompt.needles.map { Array(prompt.tokens[$0]) }), Set(needleTokens))
                }
            }
        }
    }

    /// Needles go to the sentence boundary nearest their depths, in order, and the single-needle prompt is the
    /// passkey's as before (the multi-needle builder with one needle).
    func testSeveralNeedlesSitAtTheirDepths() throws {
        let tokenizer = WordTokenizer()
        let sentences = ["a b c d", "e f g h", "i j k l", "m n o p"]
        let prompt = try HaystackPrompt.build(introduction: "start", sentences: sentences,
                                              needles: [("X1 X2", 0.5), ("Y1 Y2", 0.0), ("Z1 Z2", 1.0), ("W1 W2", 0.5)],
                                              question: "end ?", tokenizer: tokenizer, length: 2 + 8 + 402)
        let hay = prompt.haystack.count - 8
        XCTAssertEqual(hay, 400)
        let starts = prompt.needles.map { $0.lowerBound - prompt.haystack.lowerBound }
        // Y at 0, X and W (in that order) at the middle, Z at the end: needles before each shift it by 2 tokens.
        XCTAssertEqual(starts, [0, 2 + 200, 2 + 200 + 2, 2 + 400 + 4])
        let xTokens = try tokenizer.encode(" X1 X2", addSpecial: false), wTokens = try tokenizer.encode(" W1 W2", addSpecial: false)
        XCTAssertEqual(Array(prompt.tokens[prompt.needles[1]]), xTokens)
        XCTAssertEqual(Array(prompt.tokens[prompt.needles[2]]), wTokens)
        XCTAssertEqual(prompt.sentenceCount, 100)
    }

    func testVariableTrackingChainsFiveVariablesInOrder() throws {
        let sample = Ruler.sample(.variableTracking, length: 1000, index: 0, seed: 5, values: .numbers, haystack: .text, text: text)
        XCTAssertEqual(sample.expected.count, 5)
        XCTAssertEqual(Set(sample.expected).count, 5)
        XCTAssertTrue(sample.needles[0].0.hasPrefix("VAR \(sample.expected[0]) = "))
        for i in 1..<5 { XCTAssertEqual(sample.needles[i].0, "VAR \(sample.expected[i]) = VAR \(sample.expected[i - 1]).") }
        XCTAssertEqual(sample.needles.map(\.1), sample.needles.map(\.1).sorted())
        XCTAssertEqual(sample.sentences, HaystackRecipe.passkey(key: "").sentences, "variable tracking uses the noise haystack")
        let value = sample.needles[0].0.components(separatedBy: " = ")[1].dropLast()
        XCTAssertTrue(sample.question.contains("value \(value) "))
    }

    func testFrequentWordsAnswerTheThreeMostCommonWordsOfThePromptsPrefix() throws {
        let tokenizer = WordTokenizer()
        let sample = Ruler.sample(.frequentWords, length: 2000, index: 2, seed: 3, values: .numbers, haystack: .text, text: text)
        let words = try XCTUnwrap(sample.words)
        let (prompt, expected) = try Ruler.prompt(sample, tokenizer: tokenizer, length: 2000)
        XCTAssertEqual(expected.count, 3)
        let kept = words[..<prompt.sentenceCount]
        var counts: [String: Int] = [:]
        for w in kept { counts[w, default: 0] += 1 }
        let sortedCounts = counts.values.sorted(by: >)
        XCTAssertEqual(expected.map { counts[$0]! }, Array(sortedCounts.prefix(3)))
        // Zipf with exponent 2: the third is far ahead of the fourth, so the answer is not a tie.
        XCTAssertGreaterThan(sortedCounts[2], sortedCounts[3] + 10)
        XCTAssertEqual(Ruler.mostFrequent(["b", "a", "a", "c", "b", "d"]), ["b", "a", "c"])
    }

    func testTheTwoHaystacksGetUnrelatedKeysAndValues() {
        for task in [RulerTask.niahSingle, .niahMultikey, .niahMultivalue, .niahMultiquery] {
            let noise = Ruler.sample(task, length: 2000, index: 0, seed: 4, values: .numbers, haystack: .noise, text: text)
            let prose = Ruler.sample(task, length: 2000, index: 0, seed: 4, values: .numbers, haystack: .text, text: text)
            XCTAssertTrue(Set(noise.expected).isDisjoint(with: prose.expected), "\(task)")
            XCTAssertTrue(Set(noise.needles.map(\.0)).isDisjoint(with: prose.needles.map(\.0)), "\(task)")
        }
    }

    func testTheTextHaystackUsesTheTextFromADifferentPlacePerSample() {
        let a = Ruler.sample(.niahSingle, length: 500, index: 0, seed: 9, values: .numbers, haystack: .text, text: text)
        let b = Ruler.sample(.niahSingle, length: 500, index: 1, seed: 9, values: .numbers, haystack: .text, text: text)
        XCTAssertTrue(a.sentences.allSatisfy(text.contains))
        XCTAssertNotEqual(a.sentences.first, b.sentences.first)
        XCTAssertGreaterThanOrEqual(a.sentences.reduce(0) { $0 + $1.count + 1 }, 6 * 500)
        let noise = Ruler.sample(.niahSingle, length: 500, index: 0, seed: 9, values: .numbers, haystack: .noise, text: text)
        XCTAssertEqual(noise.sentences, HaystackRecipe.passkey(key: "").sentences)
    }

    func testStringMatchScoresTheShareOfAnswersFound() {
        XCTAssertEqual(Ruler.score(answer: " 1234567. The", expected: ["1234567"]), 1)
        XCTAssertEqual(Ruler.score(answer: "ABC and def", expected: ["abc", "DEF", "ghi", "jkl"]), 0.5)
        XCTAssertEqual(Ruler.score(answer: "nothing", expected: ["1234567"]), 0)
        XCTAssertEqual(Ruler.score(answer: "x", expected: []), 0)
    }

    func testEffectiveLengthIsTheLongestLengthUpToWhichEveryLengthPasses() {
        let averages = [(4096, 0.95), (8192, 0.9), (16384, 0.7), (32768, 0.9)].map { (length: $0.0, score: $0.1) }
        XCTAssertEqual(Ruler.effectiveLength(averages: averages, threshold: 0.85), 8192)
        XCTAssertEqual(Ruler.effectiveLength(averages: averages, threshold: 0.6), 32768)
        XCTAssertNil(Ruler.effectiveLength(averages: averages, threshold: 0.96))
        XCTAssertEqual(Ruler.effectiveLength(averages: averages.reversed(), threshold: 0.85), 8192)
    }
}
