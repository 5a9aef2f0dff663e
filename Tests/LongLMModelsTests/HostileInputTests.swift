import XCTest
@testable import LongLMModels
import LongLMCore

/// Files written to make the loader crash or allocate without bound (a hostile-user probe and the fuzz targets in
/// Fuzz/): each must instead fail fast with a typed error that names the file and key and stays one short line.
final class HostileInputTests: XCTestCase {
    // MARK: Helpers

    func temporaryDirectory() throws -> String {
        let dir = NSTemporaryDirectory() + "longlm-hostile-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(atPath: dir) }
        return dir
    }

    /// A copy of the tiny Llama checkpoint (2 layers, 4 heads of 16, vocabulary 256) with `edit` applied to its config.
    func checkpoint(editing edit: (inout [String: Any]) -> Void) throws -> String {
        let dir = try temporaryDirectory()
        let source = Fixtures.path("hf-tiny/llama-mha")
        try FileManager.default.copyItem(atPath: source + "/model.safetensors", toPath: dir + "/model.safetensors")
        var config = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: source + "/config.json"))) as! [String: Any]
        edit(&config)
        try JSONSerialization.data(withJSONObject: config).write(to: URL(fileURLWithPath: dir + "/config.json"))
        return dir
    }

    /// `body` throws an error whose one-line description contains every fragment and no Foundation error code.
    func assertError<T>(_ body: @autoclosure () throws -> T, mentions fragments: [String],
                        file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try body(), file: file, line: line) { error in
            let text = String(describing: error)
            for fragment in fragments {
                XCTAssertTrue(text.contains(fragment), "'\(text)' should mention '\(fragment)'", file: file, line: line)
            }
            XCTAssertFalse(text.contains("NSCocoaErrorDomain"), "'\(text)' is a raw Foundation error", file: file, line: line)
            XCTAssertFalse(text.contains("\n"), "'\(text)' should be one line", file: file, line: line)
            XCTAssertLessThan(text.utf8.count, 400, "'\(text.prefix(400))...' is too long", file: file, line: line)
        }
    }

    // MARK: config.json

    func testConfigSizesOutsideSaneLimitsAreRejectedNamingKeyAndFile() throws {
        let cases: [(String, Int)] = [("num_hidden_layers", -4), ("num_hidden_layers", 1 << 40),
                                      ("head_dim", Int.max), ("num_attention_heads", Int.max),
                                      ("intermediate_size", 0), ("vocab_size", 1 << 40)]
        for (key, value) in cases {
            let dir = try checkpoint { $0[key] = value }
            assertError(try ModelLoader.config(path: dir), mentions: [key, "\(value)", dir + "/config.json", "outside the supported range"])
            assertError(try ModelLoader.load(path: dir), mentions: [key, dir + "/config.json"])
        }
    }

    func testConfigLayerCountThatDisagreesWithTheTensorsIsRejectedBeforeLoading() throws {
        let more = try checkpoint { $0["num_hidden_layers"] = 3 }
        assertError(try ModelLoader.load(path: more), mentions: ["num_hidden_layers", "model.layers.2.self_attn.q_proj.weight", "config.json"])
        let fewer = try checkpoint { $0["num_hidden_layers"] = 1 }
        assertError(try ModelLoader.load(path: fewer), mentions: ["num_hidden_layers", "tensors for more"])
        let heads = try checkpoint { $0["num_attention_heads"] = 8; $0["num_key_value_heads"] = 8 }
        assertError(try ModelLoader.load(path: heads), mentions: ["num_attention_heads x head_dim", "8 x 16", "64 rows"])
    }

    func testConfigValuesOfTheWrongTypeAreErrorsNotDefaults() throws {
        let cases: [(String, (inout [String: Any]) -> Void)] = [
            ("rope_theta", { $0["rope_theta"] = "x" }),
            ("rope_parameters.rope_theta", { $0["rope_parameters"] = ["rope_theta": "x", "rope_type": "default"] }),
            ("eos_token_id", { $0["eos_token_id"] = "x" }),
            ("tie_word_embeddings", { $0["tie_word_embeddings"] = 1 }),
            ("num_hidden_layers", { $0["num_hidden_layers"] = 2.5 }),
            ("hidden_size", { $0["hidden_size"] = true }),
        ]
        for (key, edit) in cases {
            let dir = try checkpoint(editing: edit)
            assertError(try ModelLoader.config(path: dir), mentions: ["'\(key)'", dir + "/config.json"])
        }
    }

    func testMalformedConfigJSONIsOneMessageNamingTheFile() throws {
        let dir = try checkpoint { _ in }
        try Data("{\"model_type\": llama}".utf8).write(to: URL(fileURLWithPath: dir + "/config.json"))
        assertError(try ModelLoader.config(path: dir), mentions: [dir + "/config.json", "not valid JSON", "character"])
        try Data("[1, 2]".utf8).write(to: URL(fileURLWithPath: dir + "/config.json"))
        assertError(try ModelLoader.config(path: dir), mentions: [dir + "/config.json", "an array, not a JSON object"])
    }

    // MARK: tokenizer.json

    /// A byte-level BPE tokenizer.json with four tokens; `addedId` is the id of its one added token.
    func tokenizerJSON(addedId: String = "4", extra: String = "") -> String {
        """
        {"model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2, "Ġ": 3}, "merges": ["a b"]\(extra)},
         "added_tokens": [{"id": \(addedId), "content": "<x>", "special": true}],
         "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": false}, "decoder": {"type": "ByteLevel"}}
        """
    }

    func writeTokenizer(_ text: String, in dir: String) throws -> String {
        let path = dir + "/tokenizer.json"
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
        return path
    }

    func testTokenizerJSONBaselineLoads() throws {
        let dir = try temporaryDirectory()
        let tokenizer = try TokenizerLoader.load(tokenizerJSON: writeTokenizer(tokenizerJSON(), in: dir), configDirectory: dir)
        XCTAssertEqual(tokenizer.vocabularySize, 5)
        XCTAssertEqual(try tokenizer.encode("ab", addSpecial: false), [2])
    }

    func testTokenizerAddedTokenIdFarBeyondTheVocabularyIsRejectedBeforeAllocating() throws {
        let dir = try temporaryDirectory()
        let path = try writeTokenizer(tokenizerJSON(addedId: "\(1 << 40)"), in: dir)
        assertError(try TokenizerLoader.load(tokenizerJSON: path, configDirectory: dir),
                    mentions: [path, "added_tokens[0] id 1099511627776", "'<x>'", "out of range"])
        for bad in ["-1", "1.5", "1e300", "true", "\"4\""] {
            let path = try writeTokenizer(tokenizerJSON(addedId: bad), in: dir)
            assertError(try TokenizerLoader.load(tokenizerJSON: path, configDirectory: dir),
                        mentions: [path, "added_tokens[0] id", "not a non-negative integer"])
        }
    }

    func testTokenizerFlagsOfTheWrongTypeAreErrorsNotDefaults() throws {
        let dir = try temporaryDirectory()
        let path = try writeTokenizer(tokenizerJSON(extra: #", "byte_fallback": "yes""#), in: dir)
        assertError(try TokenizerLoader.load(tokenizerJSON: path, configDirectory: dir), mentions: [path, "model.byte_fallback", "not true or false"])
        let merges = try writeTokenizer(tokenizerJSON().replacingOccurrences(of: #""merges": ["a b"]"#, with: #""merges": "a b""#), in: dir)
        assertError(try TokenizerLoader.load(tokenizerJSON: merges, configDirectory: dir), mentions: [merges, "model.merges"])
    }

    func testGenerationConfigEOSOfTheWrongTypeIsAnErrorNamingKeyAndFile() throws {
        let dir = try temporaryDirectory()
        let path = try writeTokenizer(tokenizerJSON(), in: dir)
        try Data(#"{"eos_token_id": "x"}"#.utf8).write(to: URL(fileURLWithPath: dir + "/generation_config.json"))
        assertError(try TokenizerLoader.load(tokenizerJSON: path, configDirectory: dir),
                    mentions: [dir + "/generation_config.json", "eos_token_id", "'x'"])
        try Data(#"{"eos_token_id": [4, 1]}"#.utf8).write(to: URL(fileURLWithPath: dir + "/generation_config.json"))
        let tokenizer = try TokenizerLoader.load(tokenizerJSON: path, configDirectory: dir)
        XCTAssertEqual(tokenizer.endOfGenerationTokens.intersection([1, 4]), [1, 4])
    }

    func testMalformedTokenizerJSONIsOneMessageNamingTheFile() throws {
        let dir = try temporaryDirectory()
        let path = try writeTokenizer("{\"model\": {", in: dir)
        assertError(try TokenizerLoader.load(tokenizerJSON: path, configDirectory: nil), mentions: [path, "not valid JSON"])
    }

    func testPostProcessorIdOutsideTheVocabularyIsRejected() throws {
        let dir = try temporaryDirectory()
        let text = tokenizerJSON().replacingOccurrences(
            of: #""decoder""#, with: #""post_processor": {"type": "RobertaProcessing", "cls": ["<s>", 99999999999], "sep": ["</s>", 2]}, "decoder""#)
        let path = try writeTokenizer(text, in: dir)
        assertError(try TokenizerLoader.load(tokenizerJSON: path, configDirectory: nil), mentions: [path, "post_processor", "outside the vocabulary"])
    }

    // MARK: safetensors

    func safetensors(header: String, dataBytes: Int = 16) throws -> String {
        var d = Data()
        withUnsafeBytes(of: UInt64(header.utf8.count).littleEndian) { d.append(contentsOf: $0) }
        d.append(contentsOf: Array(header.utf8))
        d.append(Data(count: dataBytes))
        let path = try temporaryDirectory() + "/model.safetensors"
        try d.write(to: URL(fileURLWithPath: path))
        return path
    }

    func testSafetensorsShapeWhoseByteCountOverflowsIsRejected() throws {
        // 2^63 - 1 elements fit in an Int; 4 bytes each do not.
        let path = try safetensors(header: #"{"w": {"dtype": "F32", "shape": [9223372036854775807], "data_offsets": [0, 16]}}"#)
        assertError(try SafetensorsCheckpoint(paths: [path]), mentions: [path, "'w'", "overflows a byte count"])
        let split = try safetensors(header: #"{"w": {"dtype": "BF16", "shape": [4611686018427387904, 2], "data_offsets": [0, 16]}}"#)
        assertError(try SafetensorsCheckpoint(paths: [split]), mentions: ["overflows a byte count"])
    }

    func testSafetensorsMalformedHeaderSaysWhatIsWrong() throws {
        let path = try safetensors(header: #"{"w": {"dtype": "F32", "#)
        assertError(try SafetensorsCheckpoint(paths: [path]), mentions: [path, "not valid JSON"])
        let long = String(repeating: "n", count: 100_000)
        let named = try safetensors(header: "{\"\(long)\": {\"dtype\": \"F64\", \"shape\": [2], \"data_offsets\": [0, 16]}}")
        assertError(try SafetensorsCheckpoint(paths: [named]), mentions: ["(100000 bytes)", "'F64'"])
    }

    // MARK: GGUF

    func writeGGUF(_ data: Data) throws -> String {
        let path = try temporaryDirectory() + "/model.gguf"
        try data.write(to: URL(fileURLWithPath: path))
        return path
    }

    /// The probe's file: a tensor name length of 246,585,344 in a file long enough to hold it (sparse here). The
    /// reader used to decode the whole "name" and repeat it in its error (22 s, 1.8 GB, a 455 MB message).
    func testGiantTensorNameIsRejectedQuicklyWithAShortMessage() throws {
        var d = Data()
        GGUFBuilder.u32(0x4655_4747, &d); GGUFBuilder.u32(3, &d)
        GGUFBuilder.u64(1, &d); GGUFBuilder.u64(0, &d)
        GGUFBuilder.u64(246_585_344, &d)
        let path = try writeGGUF(d)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        try handle.truncate(atOffset: 250_000_000)
        try handle.close()
        let start = Date()
        assertError(try GGUFFile(path: path), mentions: [path, "name of tensor #0", "246585344 bytes", "limit of \(InputLimits.nameBytes)"])
        XCTAssertLessThan(Date().timeIntervalSince(start), 1)
    }

    func testLongNamesAreQuotedShortInErrors() throws {
        // A duplicate key just under the name limit: the message quotes a few dozen bytes of it.
        var b = GGUFBuilder.valid
        let key = String(repeating: "k", count: InputLimits.nameBytes)
        b.addUInt32(key, 1)
        b.addUInt32(key, 2)
        assertError(try GGUFFile(path: writeGGUF(b.build())), mentions: ["duplicate metadata key 'kkkk", "(\(InputLimits.nameBytes) bytes)"])
        var t = GGUFBuilder.valid
        let name = String(repeating: "t", count: 3000) + "\n"
        t.addF32Tensor(name, shape: [4])
        t.addF32Tensor(name, shape: [4])
        assertError(try GGUFFile(path: writeGGUF(t.build())), mentions: ["duplicate tensor name", "(3001 bytes)"])
    }

    func testMetadataArraysBeyondTheElementLimitsAreRejected() throws {
        var b = GGUFBuilder.valid
        let count = InputLimits.arrayCount + 1
        b.metadata.append(("big", { d in
            GGUFBuilder.u32(0, &d); GGUFBuilder.u64(UInt64(count), &d); d.append(Data(count: count))
        }, 9))
        assertError(try GGUFFile(path: writeGGUF(b.build())), mentions: ["'big'", "array length", "exceed the limit"])
        // Many arrays each under the per-array limit, together over the total.
        var many = GGUFBuilder.valid
        let each = InputLimits.arrayCount
        for i in 0...(InputLimits.metadataElements / each) {
            many.metadata.append(("a\(i)", { d in
                GGUFBuilder.u32(0, &d); GGUFBuilder.u64(UInt64(each), &d); d.append(Data(count: each))
            }, 9))
        }
        assertError(try GGUFFile(path: writeGGUF(many.build())), mentions: ["array length", "in all"])
    }

    func testGGUFConfigSizesOutsideSaneLimitsAreRejectedNamingKeyAndFile() throws {
        for (key, value) in [("llama.block_count", UInt64(1) << 40), ("llama.embedding_length", 0),
                             ("llama.attention.head_count", UInt64.max >> 1)] {
            var b = GGUFBuilder.valid
            b.metadata.removeAll { $0.0 == key }
            b.metadata.append((key, { GGUFBuilder.u64(value, &$0) }, 10))
            for k in ["llama.embedding_length", "llama.attention.head_count", "llama.feed_forward_length", "llama.context_length"]
            where k != key {
                b.addUInt32(k, 4)
            }
            let path = try writeGGUF(b.build())
            assertError(try ModelLoader.config(path: path), mentions: ["'\(key)'", path, "outside the supported range"])
        }
    }

    /// Gemma 3's layer pattern divides the layer index: 0 used to be a division by zero.
    func testGemma3SlidingWindowPatternZeroIsRejected() throws {
        var b = GGUFBuilder()
        b.addString("general.architecture", "gemma3")
        for (k, v) in [("embedding_length", 4), ("attention.head_count", 1), ("attention.key_length", 4), ("block_count", 1),
                       ("attention.sliding_window_pattern", 0), ("attention.head_count_kv", 1), ("feed_forward_length", 8),
                       ("context_length", 32), ("attention.sliding_window", 8)] as [(String, UInt32)] {
            b.addUInt32("gemma3." + k, v)
        }
        b.addFloat32("gemma3.attention.layer_norm_rms_epsilon", 1e-6)
        b.addFloat32("gemma3.rope.freq_base", 10000)
        b.addF32Tensor("token_embd.weight", shape: [4, 3])
        let path = try writeGGUF(b.build())
        assertError(try ModelLoader.config(path: path), mentions: ["'gemma3.attention.sliding_window_pattern'", "0"])
    }

    func testQuotedCutsLongTextAndEscapesControlCharacters() {
        XCTAssertEqual(quoted("a\nb'c"), #"'a\nb\'c'"#)
        XCTAssertEqual(quoted("\u{1}"), #"'\u{1}'"#)
        let long = quoted(String(repeating: "é", count: 1000))
        XCTAssertEqual(long, "'" + String(repeating: "é", count: InputLimits.quotedBytes / 2) + "'... (2000 bytes)")
        // One grapheme cluster of many scalars is still cut.
        XCTAssertLessThan(quoted("e" + String(repeating: "\u{301}", count: 10_000)).utf8.count, 100)
    }
}
