import XCTest
@testable import LongLMModels
import LongLMCore

/// The fuzz seeds (Fuzz/corpus, written by Fuzz/make_seeds.py) are valid inputs that reach deep into each
/// loader; a seed the loader rejects would leave the fuzzer mutating an error path only.
final class FuzzSeedTests: XCTestCase {
    let corpus = Fixtures.repository + "/Fuzz/corpus"

    func seeds(_ target: String) throws -> [String] {
        let names = try FileManager.default.contentsOfDirectory(atPath: corpus + "/" + target).sorted()
        XCTAssertFalse(names.isEmpty, "no seeds for \(target)")
        return names.map { corpus + "/" + target + "/" + $0 }
    }

    func testGGUFSeedsLoadAsModelsWithTokenizers() throws {
        for path in try seeds("gguf") {
            let loaded = try ModelLoader.load(path: path)
            let tokenizer = try XCTUnwrap(loaded.tokenizer, path)
            let ids = try tokenizer.encode("ab a", addSpecial: true)
            XCTAssertGreaterThan(ids.count, 1, path)
            let cache = KVCache(config: loaded.model.config)
            let hidden = try loaded.model.forward(tokens: ids, cache: cache)
            XCTAssertEqual(hidden.rows, ids.count, path)
        }
    }

    func testSafetensorsSeedReadsEveryTensor() throws {
        for path in try seeds("safetensors") {
            let checkpoint = try SafetensorsCheckpoint(paths: [path])
            XCTAssertEqual(checkpoint.tensorNames.sorted(), ["empty", "w.bf16", "w.f16", "w.f32"], path)
            XCTAssertEqual(try checkpoint.dequantize(XCTUnwrap(checkpoint.tensor(named: "w.f32"))).array, [1, -2, 0.5, 3])
            XCTAssertEqual(try checkpoint.dequantize(XCTUnwrap(checkpoint.tensor(named: "w.bf16"))).array, [1, 2, -1.5])
            XCTAssertEqual(try checkpoint.dequantize(XCTUnwrap(checkpoint.tensor(named: "w.f16"))).array, [1, -2])
        }
    }

    func testConfigSeedsAreAcceptedConfigs() throws {
        for path in try seeds("config") {
            let dir = NSTemporaryDirectory() + "longlm-seed-\(UUID().uuidString)"
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            addTeardownBlock { try? FileManager.default.removeItem(atPath: dir) }
            try FileManager.default.copyItem(atPath: path, toPath: dir + "/config.json")
            XCTAssertNoThrow(try ModelLoader.hfConfig(directory: dir), path)
        }
    }

    func testTokenizerSeedsLoadAndRoundTrip() throws {
        for path in try seeds("tokenizer") {
            let tokenizer = try TokenizerLoader.load(tokenizerJSON: path, configDirectory: nil)
            let text = "the tin, a<tool> in"
            let ids = try tokenizer.encode(text, addSpecial: false)
            XCTAssertEqual(tokenizer.decode(ids), text, path)
        }
    }
}
