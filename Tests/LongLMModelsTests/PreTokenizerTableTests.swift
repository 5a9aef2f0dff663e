import Foundation
import XCTest
@testable import LongLMModels

/// Pins every `tokenizer.ggml.pre` name llama.cpp knows to llama.cpp's ids, and SmolLM2's tokenizer to llama.cpp's
/// ids on the real model. Fixtures: Tests/Fixtures/pretokenizers, made by scripts/make_pretokenizer_fixtures.py
/// (llama-cpp-python 0.3.36; see its README.md). The per-name GGUFs llama.cpp loaded differ from the committed
/// vocabularies only in `tokenizer.ggml.pre` (and, for "whitespace", the tokenizer model), which the tests set in
/// the metadata the same way.
final class PreTokenizerTableTests: XCTestCase {
    private struct Fixture: Decodable {
        struct Group: Decodable {
            let names: [String]
            let vocabulary: String
            let tokenizer_model: String
            let ids: [[Int32]]
            let decoded_where_different: [String: String]
        }
        let strings: [String]
        let groups: [Group]
    }

    private struct SmolLM2Fixture: Decodable {
        struct Case: Decodable {
            let text: String
            let ids: [Int32]
            let decoded: String
        }
        let cases: [Case]
    }

    private static let fixture: Result<Fixture, Error> = Result {
        try JSONDecoder().decode(Fixture.self, from: Data(contentsOf: URL(fileURLWithPath: Fixtures.path("pretokenizers/ids.json"))))
    }

    private static let vocabularies: Result<[String: [String: GGUFValue]], Error> = Result {
        var metadata: [String: [String: GGUFValue]] = [:]
        for name in ["byte-level.gguf", "raw-utf8.gguf"] {
            metadata[name] = try GGUFFile(path: Fixtures.path("pretokenizers/" + name)).metadata
        }
        return metadata
    }

    private static let smolLM2Path = Fixtures.repository + "/models/SmolLM2-135M-Instruct.Q4_1.gguf"

    /// The committed vocabulary of `group` with `name` as its pre-tokenizer, as llama.cpp loaded it.
    private func tokenizer(_ name: String, _ group: Fixture.Group) throws -> any Tokenizer {
        var metadata = try XCTUnwrap(Self.vocabularies.get()[group.vocabulary], group.vocabulary)
        metadata["tokenizer.ggml.pre"] = .string(name)
        metadata["tokenizer.ggml.model"] = .string(group.tokenizer_model)
        return try TokenizerLoader.load(metadata: metadata)
    }

    /// Fixture text, shortened for failure messages.
    private func label(_ text: String) -> String {
        (text.count > 40 ? String(text.prefix(37)) + "..." : text).debugDescription
    }

    /// UTF-8 bytes: `String` equality is canonical equivalence, which would let "e\u{301}" equal "é".
    private func bytes(_ s: String) -> [UInt8] { Array(s.utf8) }

    func testTableHoldsExactlyTheNinetyOneNamesLlamaCppKnows() throws {
        let fixtureNames = try Self.fixture.get().groups.flatMap(\.names)
        XCTAssertEqual(fixtureNames.count, 91)
        XCTAssertEqual(PreTokenizerTable.names.count, 91)
        XCTAssertEqual(Set(PreTokenizerTable.names), Set(fixtureNames))
        XCTAssertNotNil(PreTokenizerTable.spec(named: "smollm"))
    }

    /// Every rule's words cover the text exactly once, in order, none empty, on every fixture string.
    func testEveryRuleSplitsEveryStringIntoWordsThatTileIt() throws {
        let strings = try Self.fixture.get().strings
        for rule in PreTokenizerRule.allCases {
            let preTokenizer = try BPEPreTokenizer(name: rule.rawValue, rule: rule)
            for text in strings {
                let utf8 = Array(text.utf8)
                var next = 0
                for word in preTokenizer.words(utf8[...]) {
                    XCTAssertEqual(word.lowerBound, next, "\(rule) \(label(text))")
                    XCTAssertFalse(word.isEmpty, "\(rule) \(label(text))")
                    next = word.upperBound
                }
                XCTAssertEqual(next, utf8.count, "\(rule) \(label(text))")
            }
        }
    }

    func testEveryNameGivesLlamaCppIdsOnEveryString() throws {
        let fixture = try Self.fixture.get()
        var compared = 0
        for group in fixture.groups {
            for name in group.names {
                let tokenizer = try tokenizer(name, group)
                for (text, expected) in zip(fixture.strings, group.ids) {
                    XCTAssertEqual(try tokenizer.encode(text, addSpecial: true), expected, "\(name) \(label(text))")
                    compared += 1
                }
            }
        }
        XCTAssertEqual(compared, 91 * fixture.strings.count)
        XCTAssertGreaterThan(fixture.strings.count, 40)
    }

    /// Decoding llama.cpp's ids gives llama.cpp's `llama_detokenize` text, except for the "whitespace" tokenizer:
    /// there llama.cpp reads raw UTF-8 tokens as GPT-2 byte characters, which garbles non-ASCII text, while this
    /// decoder returns the token text (the input without its white space).
    func testEveryNameDecodesAsLlamaCppDetokenizes() throws {
        let fixture = try Self.fixture.get()
        for group in fixture.groups {
            for name in group.names {
                let tokenizer = try tokenizer(name, group)
                for (index, (text, ids)) in zip(fixture.strings, group.ids).enumerated() {
                    let llamaCpp = group.decoded_where_different[String(index)] ?? text
                    if name == "whitespace" {
                        let stripped = String(String.UnicodeScalarView(text.unicodeScalars.filter { !$0.properties.isWhitespace }))
                        XCTAssertEqual(bytes(tokenizer.decode(ids)), bytes(stripped), "\(name) \(label(text))")
                        if text.unicodeScalars.allSatisfy(\.isASCII) {
                            XCTAssertEqual(bytes(llamaCpp), bytes(stripped), "llama.cpp agrees on ASCII: \(label(text))")
                        }
                    } else {
                        XCTAssertEqual(bytes(tokenizer.decode(ids)), bytes(llamaCpp), "\(name) \(label(text))")
                    }
                }
            }
        }
    }

    /// Names that keep spaces when decoding (no `clean_spaces`) give back every string exactly; one that also
    /// escapes spaces as U+2581 gives back a literal U+2581 as a space.
    func testSpaceKeepingNamesRoundTripEveryString() throws {
        let fixture = try Self.fixture.get()
        var checked = Set<String>()
        for group in fixture.groups {
            for name in group.names {
                let flags = try XCTUnwrap(PreTokenizerTable.spec(named: name)).flags
                guard flags.contains(.keepsSpaces), group.tokenizer_model == "gpt2" else { continue }
                let tokenizer = try tokenizer(name, group)
                for text in fixture.strings {
                    let expected = flags.contains(.escapesSpaces) ? text.replacingOccurrences(of: "\u{2581}", with: " ") : text
                    XCTAssertEqual(bytes(tokenizer.decode(try tokenizer.encode(text, addSpecial: false))), bytes(expected),
                                   "\(name) \(label(text))")
                }
                checked.insert(name)
            }
        }
        XCTAssertTrue(checked.isSuperset(of: ["smollm", "qwen2", "gpt-4o", "kimi-k2", "sarvam-moe"]), "\(checked)")
    }

    // MARK: SmolLM2 against llama.cpp

    private static let smolLM2: Result<any Tokenizer, Error> = Result {
        try TokenizerLoader.load(gguf: GGUFFile(path: smolLM2Path))
    }

    private func smolLM2() throws -> (any Tokenizer, [SmolLM2Fixture.Case]) {
        guard FileManager.default.fileExists(atPath: Self.smolLM2Path) else {
            throw XCTSkip("SmolLM2 model not present at \(Self.smolLM2Path) (scripts/setup.sh fetches it)")
        }
        let data = try Data(contentsOf: URL(fileURLWithPath: Fixtures.path("pretokenizers/smollm2-llamacpp.json")))
        return (try Self.smolLM2.get(), try JSONDecoder().decode(SmolLM2Fixture.self, from: data).cases)
    }

    func testSmolLM2IdsMatchLlamaCppIncludingAThreeThousandTokenPassage() throws {
        let (tokenizer, cases) = try smolLM2()
        for c in cases {
            XCTAssertEqual(try tokenizer.encode(c.text, addSpecial: true), c.ids, label(c.text))
        }
        XCTAssertGreaterThanOrEqual(cases.last?.ids.count ?? 0, 3000, "the King James slice")
        XCTAssertFalse(tokenizer.addsBOS, "smollm adds no BOS unless the file asks")
    }

    func testSmolLM2DecodeMatchesLlamaCppDetokenizeAndRoundTrips() throws {
        let (tokenizer, cases) = try smolLM2()
        for c in cases {
            XCTAssertEqual(bytes(tokenizer.decode(c.ids)), bytes(c.decoded), label(c.text))
            XCTAssertEqual(bytes(tokenizer.decode(c.ids)), bytes(c.text), "smollm keeps spaces: \(label(c.text))")
        }
    }

    // MARK: Behaviour pinned by hand

    /// An unknown name is not a load error: decoding, pieces and special tokens need only the vocabulary. Encoding
    /// text throws, naming the pre-tokenizer and the way out.
    func testUnknownPreTokenizerLoadsAndFailsOnlyWhenEncodingText() throws {
        var metadata = try XCTUnwrap(Self.vocabularies.get()["byte-level.gguf"])
        metadata["tokenizer.ggml.pre"] = .string("no-such-pre-tokenizer")
        let tokenizer = try TokenizerLoader.load(metadata: metadata)
        let hello = Array("Hello".utf8).map { Int32($0) }  // ids 0-255 are the byte characters, in byte order
        XCTAssertEqual(tokenizer.decode(hello), "Hello")
        XCTAssertEqual(tokenizer.pieceBytes(hello[0]), Array("H".utf8))
        XCTAssertThrowsError(try tokenizer.encode("Hello", addSpecial: true)) { error in
            guard case TokenizerError.unsupportedPreTokenizer(let name, let supported) = error else {
                return XCTFail("got \(error)")
            }
            XCTAssertEqual(name, "no-such-pre-tokenizer")
            XCTAssertEqual(supported.count, 91)
            let message = "\(error)"
            for fragment in ["'no-such-pre-tokenizer'", "tokenizer.ggml.pre", "--tokens", "91", "smollm"] {
                XCTAssertTrue(message.contains(fragment), "'\(message)' should mention \(fragment)")
            }
        }
    }

    /// llama.cpp's digit grouping for AFMoE and Tiny Aya (a hand-written splitter, not a regex): groups of three
    /// from the right, and the text before a run of digits stays attached to its first group.
    func testDigitGroupingKeepsTextBeforeARunWithItsFirstGroup() throws {
        let expression = try SplitExpression(llamaCpp: SplitExpression.afmoeDigitsTrigger)
        func words(_ text: String) -> [String] {
            let utf8 = Array(text.utf8)
            var out: [Range<Int>] = []
            expression.split(utf8[...], into: &out)
            return out.map { String(decoding: utf8[$0], as: UTF8.self) }
        }
        XCTAssertEqual(words("ab1234 5"), ["ab1", "234", " 5"])
        XCTAssertEqual(words("123456"), ["123", "456"])
        XCTAssertEqual(words("x٣٤ and"), ["x٣٤", " and"])
        XCTAssertEqual(words("no digits"), ["no digits"])
    }

    /// On the std::regex path llama.cpp replaces every non-ASCII character by its category's stand-in, so `\p{Lu}`
    /// and `\p{Ll}` both match any non-ASCII letter, while ASCII letters keep their case.
    func testCategoryStandInsKeepCaseForASCIIOnly() throws {
        let tekken = try BPEPreTokenizer(name: "tekken", rule: .tekken)
        func words(_ text: String) -> [String] {
            let utf8 = Array(text.utf8)
            return tekken.words(utf8[...]).map { String(decoding: utf8[$0], as: UTF8.self) }
        }
        XCTAssertEqual(words("camelCase"), ["camel", "Case"])
        XCTAssertEqual(words("äpfelÖl"), ["äpfelÖl"])
    }

    /// llama.cpp accepts a Kimi K2 vocabulary without merges; every byte is then its own token (llama.cpp gives
    /// the same ids for this string on this vocabulary).
    func testKimiK2LoadsWithoutMergesAndSpellsEveryByte() throws {
        var metadata = try XCTUnwrap(Self.vocabularies.get()["byte-level.gguf"])
        metadata["tokenizer.ggml.pre"] = .string("kimi-k2")
        metadata["tokenizer.ggml.merges"] = nil
        let tokenizer = try TokenizerLoader.load(metadata: metadata)
        let text = "Hello 世界 the"
        XCTAssertEqual(try tokenizer.encode(text, addSpecial: true), Array(text.utf8).map { Int32($0) })
        metadata["tokenizer.ggml.pre"] = .string("qwen2")
        XCTAssertThrowsError(try TokenizerLoader.load(metadata: metadata)) { error in
            guard case TokenizerError.missingMetadata(let key) = error else { return XCTFail("got \(error)") }
            XCTAssertEqual(key, "tokenizer.ggml.merges")
        }
    }

    /// The "whitespace" tokenizer model drops white space and lowercases when the file's normalizer asks for it.
    func testWhitespaceTokenizerLowercasesOnlyWhenTheFileAsks() throws {
        var metadata = try XCTUnwrap(Self.vocabularies.get()["raw-utf8.gguf"])
        metadata["tokenizer.ggml.model"] = .string("whitespace")
        metadata["tokenizer.ggml.pre"] = .string("whitespace")
        let keeping = try TokenizerLoader.load(metadata: metadata)
        metadata["tokenizer.ggml.normalizer.lowercase"] = .bool(true)
        let lowering = try TokenizerLoader.load(metadata: metadata)
        XCTAssertEqual(keeping.decode(try keeping.encode(" Hello \t WORLD ", addSpecial: false)), "HelloWORLD")
        XCTAssertEqual(lowering.decode(try lowering.encode(" Hello \t WORLD ", addSpecial: false)), "helloworld")
    }
}
