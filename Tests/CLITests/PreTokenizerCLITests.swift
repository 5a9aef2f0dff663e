import XCTest
import Foundation

/// A model whose `tokenizer.ggml.pre` this build does not know still runs on token ids; only encoding text fails.
extension CLITests {
    /// Fuzz/corpus/gguf/llama-bpe.gguf (a whole tiny Llama with a byte-level BPE vocabulary) with its pre-tokenizer
    /// name replaced by an unknown name of the same length, so every offset in the file stays valid.
    func modelWithUnknownPreTokenizer() throws -> (path: String, name: String) {
        var data = try Data(contentsOf: URL(fileURLWithPath: Self.repository + "/Fuzz/corpus/gguf/llama-bpe.gguf"))
        let known = Data("llama-bpe".utf8), unknown = "unknown-x"
        let found = try XCTUnwrap(data.range(of: Data("tokenizer.ggml.pre".utf8)), "the seed names a pre-tokenizer")
        let value = try XCTUnwrap(data.range(of: known, in: found.upperBound..<data.count))
        data.replaceSubrange(value, with: Data(unknown.utf8))
        let path = temporaryPath(".gguf")
        try data.write(to: URL(fileURLWithPath: path))
        return (path, unknown)
    }

    func testUnknownPreTokenizerStillGeneratesFromTokenIds() throws {
        let (model, _) = try modelWithUnknownPreTokenizer()
        let generated = try run(["generate", "--model", model, "--tokens", "1,2,3", "--max-new-tokens", "2", "--greedy", "--json"])
        XCTAssertEqual(generated.status, 0, generated.stderr)
        XCTAssertTrue(generated.stdout.contains("\"ids\""), generated.stdout)
        let logits = try run(["logits", "--model", model, "--tokens", "1,2,3", "--output", temporaryPath(".npy")])
        XCTAssertEqual(logits.status, 0, logits.stderr)
    }

    func testUnknownPreTokenizerFailsWhenTextMustBeEncoded() throws {
        let (model, name) = try modelWithUnknownPreTokenizer()
        assertOneLineError(try run(["tokenize", "--model", model, "--text", "hello"]), mentions: "'\(name)'")
        let prompt = try run(["generate", "--model", model, "--prompt", "hello", "--max-new-tokens", "1"])
        assertOneLineError(prompt, mentions: "'\(name)'")
        XCTAssertTrue(prompt.stderr.contains("--tokens"), prompt.stderr)
    }
}
