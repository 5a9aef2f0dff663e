import Foundation
import XCTest
@testable import LongLMModels

/// Pins the tokenizers to llama.cpp's ids. Fixtures: Tests/Fixtures/tokenizer, made by
/// scripts/make_tokenizer_fixtures.py (each JSON's "source" names the llama-cpp-python / tokenizers versions and
/// the model's sha256).
final class TokenizerTests: XCTestCase {
    private static let fixtureDirectory = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent()  // LongLMModelsTests
        .deletingLastPathComponent()  // Tests
        .appendingPathComponent("Fixtures/tokenizer")
    private static let gemmaPath = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("models/gemma-3-270m-q4_k_m.gguf").path

    private struct Case: Decodable {
        let text: String
        let ids: [Int32]?
        let decoded: String?
        let hf_ids: [Int32]?
        let llamacpp_ids: [Int32]?
        let llamacpp_decoded: String?
    }
    private struct Fixture: Decodable { let cases: [Case] }

    private static func fixture(_ name: String) throws -> [Case] {
        let data = try Data(contentsOf: fixtureDirectory.appendingPathComponent(name))
        return try JSONDecoder().decode(Fixture.self, from: data).cases
    }

    private static let gemmaResult: Result<any Tokenizer, Error> = Result {
        try TokenizerLoader.load(gguf: GGUFFile(path: gemmaPath))
    }

    private func gemma() throws -> any Tokenizer {
        guard FileManager.default.fileExists(atPath: Self.gemmaPath) else {
            throw XCTSkip("Gemma 3 model not present at \(Self.gemmaPath)")
        }
        return try Self.gemmaResult.get()
    }

    /// Fixture text, shortened for failure messages.
    private func label(_ text: String) -> String {
        let s = text.count > 40 ? String(text.prefix(37)) + "..." : text
        return s.debugDescription
    }

    /// Compares UTF-8 bytes: `String` equality is canonical equivalence, which would let "e\u{301}" equal "é".
    private func assertSameBytes(_ a: String, _ b: String?, _ message: String, line: UInt = #line) {
        XCTAssertEqual(Array(a.utf8), b.map { Array($0.utf8) }, message, line: line)
    }

    // MARK: Gemma 3 (SentencePiece) against llama.cpp

    func testGemma3IdsMatchLlamaCppForEveryFixtureString() throws {
        let tokenizer = try gemma()
        let cases = try Self.fixture("gemma3-llamacpp.json")
        XCTAssertGreaterThan(cases.count, 50)
        for c in cases {
            XCTAssertEqual(try tokenizer.encode(c.text, addSpecial: true), c.ids, label(c.text))
        }
    }

    func testGemma3DecodeMatchesLlamaCppDetokenize() throws {
        let tokenizer = try gemma()
        for c in try Self.fixture("gemma3-llamacpp.json") {
            assertSameBytes(tokenizer.decode(c.ids ?? []), c.decoded, label(c.text))
        }
    }

    /// Every string comes back, except that a literal U+2581 decodes as a space (llama.cpp does the same: the
    /// tokenizer escapes spaces to U+2581, so the two are one token).
    func testGemma3DecodeOfEncodeRoundTripsExceptLiteralLowerBlock() throws {
        let tokenizer = try gemma()
        for c in try Self.fixture("gemma3-llamacpp.json") {
            let back = tokenizer.decode(try tokenizer.encode(c.text, addSpecial: false))
            if c.text.unicodeScalars.contains("\u{2581}") {
                assertSameBytes(back, c.text.replacingOccurrences(of: "\u{2581}", with: " "), label(c.text))
            } else {
                assertSameBytes(back, c.text, label(c.text))
            }
        }
    }

    func testGemma3StreamedPieceBytesConcatenateToDecode() throws {
        let tokenizer = try gemma()
        for c in try Self.fixture("gemma3-llamacpp.json") {
            let ids = try tokenizer.encode(c.text, addSpecial: true)
            let streamed = ids.flatMap { tokenizer.pieceBytes($0) }
            XCTAssertEqual(streamed, Array(tokenizer.decode(ids).utf8), label(c.text))
        }
        XCTAssertEqual(tokenizer.pieceBytes(2), [], "BOS is a control token: no text")
        XCTAssertEqual(tokenizer.pieceBytes(303), [0x41], "<0x41> is byte fallback for 'A'")
        XCTAssertEqual(tokenizer.pieceBytes(138), [0x20, 0x20], "user-defined run of two spaces")
    }

    func testGemma3PrependsBOSOnlyWhenAddingSpecialTokens() throws {
        let tokenizer = try gemma()
        XCTAssertTrue(tokenizer.addsBOS)
        XCTAssertEqual(tokenizer.bosToken, 2)
        XCTAssertEqual(try tokenizer.encode("", addSpecial: true), [2])
        XCTAssertEqual(try tokenizer.encode("", addSpecial: false), [])
        let with = try tokenizer.encode("Hello world", addSpecial: true)
        XCTAssertEqual(with.first, 2)
        XCTAssertEqual(Array(with.dropFirst()), try tokenizer.encode("Hello world", addSpecial: false))
    }

    func testGemma3SplitsUserDefinedTokensButNotControlTokensFromText() throws {
        let tokenizer = try gemma()
        XCTAssertEqual(try tokenizer.encode("[multimodal]", addSpecial: false), [5])  // USER_DEFINED
        XCTAssertFalse(try tokenizer.encode("<start_of_turn>", addSpecial: false).contains(105))  // CONTROL
        // "</s>" is USER_DEFINED in the file, but llama.cpp makes it CONTROL because it names an end of generation.
        XCTAssertFalse(try tokenizer.encode("</s>", addSpecial: false).contains(212))
        XCTAssertEqual(tokenizer.pieceBytes(212), [])
    }

    func testGemma3EndOfGenerationIncludesEndOfTurn() throws {
        let tokenizer = try gemma()
        XCTAssertEqual(tokenizer.eosToken, 1)
        XCTAssertTrue(tokenizer.endOfGenerationTokens.isSuperset(of: [1, 106]))
        XCTAssertEqual(tokenizer.vocabularySize, 262_144)
    }

    /// About 100k tokens must encode in well under a few seconds (the merge loop is heap-based, not quadratic).
    func testGemma3EncodesHundredThousandTokensQuickly() throws {
        let tokenizer = try gemma()
        let passage = try Self.fixture("gemma3-llamacpp.json").map(\.text).joined(separator: "\n")
        var document = ""
        while document.utf8.count < 400_000 { document += passage }
        let start = Date()
        let ids = try tokenizer.encode(document, addSpecial: true)
        let seconds = Date().timeIntervalSince(start)
        XCTAssertGreaterThan(ids.count, 100_000)
        XCTAssertLessThan(seconds, 10, "\(ids.count) tokens took \(seconds) s")
        print("encoded \(ids.count) tokens (\(document.utf8.count) bytes) in \(String(format: "%.2f", seconds)) s")
    }

    // MARK: Byte-level BPE

    /// The qwen2 fixture's tokenizer.json has Qwen 2's NFC normalizer, so its text comes back composed.
    func testByteLevelBPEFromTokenizerJSONMatchesTokenizersLibrary() throws {
        for style in ["llama3", "qwen2", "gpt2"] {
            let tokenizer = try TokenizerLoader.load(
                tokenizerJSON: Self.fixtureDirectory.appendingPathComponent("tiny-bpe-\(style)/tokenizer.json").path,
                configDirectory: nil)
            for c in try Self.fixture("tiny-bpe-\(style).json") {
                let ids = try tokenizer.encode(c.text, addSpecial: true)
                XCTAssertEqual(ids, c.hf_ids, "\(style) \(label(c.text))")
                let expected = style == "qwen2" ? c.text.precomposedStringWithCanonicalMapping : c.text
                assertSameBytes(tokenizer.decode(ids), expected, "\(style) round trip \(label(c.text))")
            }
        }
    }

    /// llama.cpp ignores Qwen 2's NFC normalizer, so for "e\u{301}" the GGUF ids differ from the tokenizer.json ones.
    func testByteLevelBPEFromGGUFMatchesLlamaCpp() throws {
        for style in ["llama3", "qwen2", "gpt2"] {
            let file = try GGUFFile(path: Self.fixtureDirectory.appendingPathComponent("tiny-bpe-\(style).gguf").path)
            let tokenizer = try TokenizerLoader.load(gguf: file)
            XCTAssertEqual(tokenizer.addsBOS, style == "llama3")
            for c in try Self.fixture("tiny-bpe-\(style).json") {
                let ids = try tokenizer.encode(c.text, addSpecial: true)
                XCTAssertEqual(ids, c.llamacpp_ids, "\(style) \(label(c.text))")
                assertSameBytes(tokenizer.decode(ids), c.llamacpp_decoded, "\(style) decode \(label(c.text))")
            }
        }
    }

    func testLlamaCppCleanSpacesPasses() {
        func clean(_ s: String) -> String {
            String(decoding: ByteLevelBPETokenizer.llamaCppCleanSpaces(Array(s.utf8)), as: UTF8.self)
        }
        XCTAssertEqual(clean("Hello , world !"), "Hello, world!")
        XCTAssertEqual(clean("a ' b"), "a'b")
        XCTAssertEqual(clean("it 's I 'm we 're they 've"), "it's I'm we're they've")
        XCTAssertEqual(clean("don 't you 'll"), "don 't you 'll")
    }

    // MARK: Metadata errors

    private func minimalSentencePiece() -> [String: GGUFValue] {
        let tokens = ["<unk>", "<s>", "</s>", "\u{2581}a", "a", "b"]
        return [
            "tokenizer.ggml.model": .string("llama"),
            "tokenizer.ggml.tokens": .array(.string, tokens.map { .string($0) }),
            "tokenizer.ggml.scores": .array(.float32, tokens.map { _ in .float32(0) }),
            "tokenizer.ggml.token_type": .array(.int32, [2, 3, 3, 1, 1, 1].map { .int32($0) }),
        ]
    }

    func testMissingMetadataThrowsErrorNamingTheKey() {
        func assertMissing(_ key: String, removing removed: String? = nil, in metadata: [String: GGUFValue],
                           line: UInt = #line) {
            var m = metadata
            if let removed { m[removed] = nil }
            XCTAssertThrowsError(try TokenizerLoader.load(metadata: m), line: line) { error in
                guard case TokenizerError.missingMetadata(let k) = error else {
                    return XCTFail("expected missingMetadata, got \(error)", line: line)
                }
                XCTAssertEqual(k, key, line: line)
                XCTAssertTrue("\(error)".contains(key), line: line)
            }
        }
        let spm = minimalSentencePiece()
        XCTAssertNoThrow(try TokenizerLoader.load(metadata: spm))
        assertMissing("tokenizer.ggml.model", removing: "tokenizer.ggml.model", in: spm)
        assertMissing("tokenizer.ggml.tokens", removing: "tokenizer.ggml.tokens", in: spm)
        assertMissing("tokenizer.ggml.scores", removing: "tokenizer.ggml.scores", in: spm)
        var bpe = spm
        bpe["tokenizer.ggml.model"] = .string("gpt2")
        bpe["tokenizer.ggml.pre"] = .string("llama-bpe")
        assertMissing("tokenizer.ggml.merges", in: bpe)
    }

    func testUnsupportedTokenizerKindsThrowTypedErrors() {
        var m = minimalSentencePiece()
        m["tokenizer.ggml.model"] = .string("bert")
        XCTAssertThrowsError(try TokenizerLoader.load(metadata: m)) { error in
            guard case TokenizerError.unsupportedModel = error else { return XCTFail("got \(error)") }
        }
        m["tokenizer.ggml.model"] = .string("gpt2")
        m["tokenizer.ggml.pre"] = .string("llama-bpe")
        m["tokenizer.ggml.merges"] = .array(.string, [.string("a b")])
        m["tokenizer.ggml.tokens"] = .string("not an array")
        XCTAssertThrowsError(try TokenizerLoader.load(metadata: m)) { error in
            guard case TokenizerError.wrongMetadataType(let key, _) = error else { return XCTFail("got \(error)") }
            XCTAssertEqual(key, "tokenizer.ggml.tokens")
        }
    }

    /// Hand-checked SPM behaviour on a six-token vocabulary: the space prefix, merging, and byte fallback to the
    /// unknown token when no `<0xXX>` tokens exist.
    func testSentencePieceOnTinyVocabulary() throws {
        let tokenizer = try TokenizerLoader.load(metadata: minimalSentencePiece())
        XCTAssertEqual(try tokenizer.encode("a", addSpecial: true), [1, 3])   // "▁a" with add_space_prefix by default
        XCTAssertEqual(try tokenizer.encode("ab", addSpecial: false), [3, 5])
        // "▁c": no token for "▁", "c" or their bytes, so each of the four bytes becomes <unk>.
        XCTAssertEqual(try tokenizer.encode("c", addSpecial: false), [0, 0, 0, 0])
        // llama_detokenize(remove_special: false) strips the prefix space from the first token only, even when
        // that token is BOS (which renders as nothing).
        XCTAssertEqual(tokenizer.decode([3, 5]), "ab")
        XCTAssertEqual(tokenizer.decode([1, 3, 5]), " ab")
    }
}
