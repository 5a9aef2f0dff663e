import XCTest
@testable import LongLMModels
import LongLMAttention
import LongLMCore

/// The load-time rules of docs/architectures.md, on the converted fixtures of Tests/Fixtures/gguf-arch/.
final class ArchitectureRulesTests: XCTestCase {
    func fixture(_ name: String) -> String { Fixtures.path("gguf-arch/\(name).gguf") }

    func testUnknownGGUFArchitectureIsRefusedWithTheSupportedList() {
        XCTAssertThrowsError(try ArchitectureRegistry.lookup(gguf: "falcon")) { error in
            let message = "\(error)"
            XCTAssertTrue(message.contains("'falcon'"), message)
            XCTAssertTrue(message.contains("gemma3, llama, mistral3, phi3, qwen2, qwen3"), message)
        }
        XCTAssertThrowsError(try ArchitectureRegistry.lookup(huggingFace: "phi3")) { error in
            XCTAssertTrue("\(error)".contains("supported from GGUF files"), "\(error)")
        }
    }

    func testLlama31RopeFreqsTensorBecomesTheModelsFrequencyDivisors() throws {
        let file = try GGUFFile(path: fixture("llama-F32"))
        let config = try ModelLoader.ggufConfig(file)
        let factors = try XCTUnwrap(config.ropeFrequencyFactors)
        let stored = try file.loadVector("rope_freqs.weight", count: config.headDim / 2)
        XCTAssertEqual(factors.short, (0..<config.headDim / 2).map { Double(stored.pointer[$0]) })
        XCTAssertNil(factors.long)
        // The converter's llama3 factors: 1 for the fastest pair, the full factor 8 for the slowest.
        XCTAssertEqual(factors.short.first, 1)
        XCTAssertEqual(factors.short.last, 8)
        XCTAssertNil(config.ropeScaling, "llama3 scaling lives in the tensor, not in rope.scaling.*")
    }

    func testLlama3MethodIsRefusedOnAFileThatAlreadyScalesItsFrequencies() throws {
        let config = try ModelLoader.config(path: fixture("llama-F32"))
        XCTAssertThrowsError(try ContextMethod(name: "llama3", given: MethodArguments(["factor": "2"]), config: config)) { error in
            XCTAssertTrue("\(error)".contains("a second time"), "\(error)")
        }
        XCTAssertNoThrow(try ContextMethod(name: "yarn", given: MethodArguments(["factor": "2"]), config: config))
    }

    func testFrequencyFactorsDivideTheTablesOfTheRopeScalingMethods() {
        let factors: [Double] = [1, 2, 4, 8]
        let standard = RotaryTable.standardFrequencies(base: 10000, dimensions: 8)
        let linear = RopeScaling.linear(factor: 2).scheme(base: 10000, dimensions: 8, pairing: .halves, promptLength: 1,
                                                           frequencyFactors: factors) as! RotaryScheme
        for m in 0..<4 { XCTAssertEqual(linear.table.inverseFrequencies[m], standard[m] / 2 / factors[m], accuracy: 1e-15) }
        let yarn = RopeScaling.yarn(factor: 4, originalContext: 64, betaFast: 32, betaSlow: 1, attentionFactor: nil)
        let plainYarn = yarn.frequencies(base: 10000, dimensions: 8).frequencies
        let scaled = yarn.scheme(base: 10000, dimensions: 8, pairing: .halves, promptLength: 1, frequencyFactors: factors) as! RotaryScheme
        for m in 0..<4 { XCTAssertEqual(scaled.table.inverseFrequencies[m], plainYarn[m] / factors[m], accuracy: 1e-15) }
    }

    func testPhi3UsesItsLongFactorsOnlyForPromptsPastTheOriginalContext() throws {
        let model = try ModelLoader.ggufModel(path: fixture("phi3-F32"))
        let factors = try XCTUnwrap(model.config.ropeFrequencyFactors)
        XCTAssertEqual(factors.originalContext, 256)
        let long = try XCTUnwrap(factors.long)
        XCTAssertTrue(model.rotary(sequenceLength: 256) === model.globalRotary)
        let longTable = model.rotary(sequenceLength: 257)
        XCTAssertFalse(longTable === model.globalRotary)
        let standard = RotaryTable.standardFrequencies(base: model.config.ropeBase, dimensions: model.config.headDim)
        for m in 0..<standard.count {
            XCTAssertEqual(longTable.inverseFrequencies[m], standard[m] / long[m], accuracy: 1e-15)
            XCTAssertEqual(model.globalRotary.inverseFrequencies[m], standard[m] / factors.short[m], accuracy: 1e-15)
        }
        // attn_factor^2 = 1 + ln(1024 / 256) / ln(256) multiplies the usual 1 / sqrt(head_dim).
        let expected = (1 + log(4.0) / log(256.0)) / Double(model.config.headDim).squareRoot()
        XCTAssertEqual(Double(model.config.attentionScale), expected, accuracy: 1e-6)
    }

    func testPhi3FusedTensorsAreSplitByRowsWithoutCopying() throws {
        let file = try GGUFFile(path: fixture("phi3-Q8_0"))
        let config = try ModelLoader.ggufConfig(file)
        let view = try GGUFTensorView(file: file, config: config)
        let qkv = try XCTUnwrap(file.tensor(named: "blk.1.attn_qkv.weight"))
        let q = try XCTUnwrap(view.tensor(named: "blk.1.attn_q.weight"))
        let k = try XCTUnwrap(view.tensor(named: "blk.1.attn_k.weight"))
        let v = try XCTUnwrap(view.tensor(named: "blk.1.attn_v.weight"))
        let rowBytes = try XCTUnwrap(qkv.type.rowBytes(count: qkv.cols))
        let qRows = config.heads * config.headDim, kvRows = config.kvHeads * config.headDim
        XCTAssertEqual([q.rows, k.rows, v.rows], [qRows, kvRows, kvRows])
        XCTAssertEqual(q.data, qkv.data)
        XCTAssertEqual(k.data, qkv.data + qRows * rowBytes)
        XCTAssertEqual(v.data, qkv.data + (qRows + kvRows) * rowBytes)
        let up = try XCTUnwrap(file.tensor(named: "blk.0.ffn_up.weight"))
        let gate = try XCTUnwrap(view.tensor(named: "blk.0.ffn_gate.weight"))
        let upHalf = try XCTUnwrap(view.tensor(named: "blk.0.ffn_up.weight"))
        XCTAssertEqual(up.rows, 2 * config.ffnSize)
        XCTAssertEqual(gate.data, up.data, "the gate is the first half")
        XCTAssertEqual(upHalf.data, up.data + config.ffnSize * (try XCTUnwrap(up.type.rowBytes(count: up.cols))))
    }

    func testMinistralQueryTemperatureFollowsTheLlama4Formula() throws {
        let config = try ModelLoader.config(path: fixture("mistral3-F32"))
        let t = try XCTUnwrap(config.queryTemperature)
        XCTAssertEqual(t, AttentionTemperature(beta: Double(Float(0.1)), floorScale: 16))
        XCTAssertEqual(t.factor(position: 0), 1)
        XCTAssertEqual(t.factor(position: 15), 1)
        XCTAssertEqual(Double(t.factor(position: 16)), 1 + t.beta * log(2.0), accuracy: 1e-6)
        XCTAssertEqual(Double(t.factor(position: 47)), 1 + t.beta * log(3.0), accuracy: 1e-6)
        // yarn_log_multiplier 1: get_mscale(s, 1) / get_mscale(s, 1) = 1.
        guard case let .yarn(factor, original, _, _, attentionFactor) = config.ropeScaling else { return XCTFail("\(String(describing: config.ropeScaling))") }
        XCTAssertEqual([factor, Double(original), attentionFactor ?? -1], [16, 16, 1])
    }

    /// Methods whose rule reduces to plain RoPE on a short prompt (SelfExtend inside its window, DCA inside one
    /// chunk, linear and YaRN with factor 1) must give `none`'s logits on files with frequency factors: they all
    /// rotate with the factored frequencies (docs/architectures.md, "RoPE frequency factors").
    func testMethodsThatReduceToPlainRoPEKeepTheFilesFrequencyFactors() throws {
        for (name, promptName) in [("llama-F32", "36"), ("phi3-F32", "260")] {
            let model = try ModelLoader.ggufModel(path: fixture(name))
            let tokens = try Fixtures.ints("gguf-arch/prompt-\(promptName).npy")
            func logits(_ method: String, _ values: [String: String]) throws -> FloatBuffer {
                let cache = KVCache(config: model.config)
                cache.globalScheme = try ContextMethod(name: method, given: MethodArguments(values), config: model.config)
                    .scheme(for: model, promptLength: tokens.count)
                return model.logits(hidden: try model.forward(tokens: tokens, cache: cache), rows: 0..<tokens.count)
            }
            let plain = try logits("none", [:])
            let L = model.config.trainedContext
            for (method, values) in [("selfextend", ["group-size": "2", "window": "\(tokens.count + 2 - tokens.count % 2)"]),
                                     ("dca", ["chunk-size": "\(L - 1)", "local-window": "1"]),
                                     ("linear", ["factor": "1"]), ("yarn", ["factor": "1"])] {
                let other = try logits(method, values)
                var largest: Float = 0
                for i in 0..<plain.count { largest = max(largest, abs(plain.pointer[i] - other.pointer[i])) }
                XCTAssertLessThan(largest, 1e-5, "\(name) \(method)")
            }
        }
    }

    /// A minimal one-layer `llama` GGUF (hidden 8, two heads of 4, vocabulary 4), with `extra` tensors added.
    func minimalLlama(extra: [String: [UInt64]]) throws -> String {
        var b = GGUFBuilder()
        b.addString("general.architecture", "llama")
        for (key, value) in [("embedding_length", 8), ("block_count", 1), ("feed_forward_length", 8), ("context_length", 16),
                             ("attention.head_count", 2), ("attention.head_count_kv", 2)] {
            b.addUInt32("llama.\(key)", UInt32(value))
        }
        b.addFloat32("llama.attention.layer_norm_rms_epsilon", 1e-5)
        b.addF32Tensor("token_embd.weight", shape: [8, 4])
        b.addF32Tensor("output_norm.weight", shape: [8])
        for name in ["attn_norm", "ffn_norm"] { b.addF32Tensor("blk.0.\(name).weight", shape: [8]) }
        for name in ["attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"] {
            b.addF32Tensor("blk.0.\(name).weight", shape: [8, 8])
        }
        for (name, shape) in extra.sorted(by: { $0.key < $1.key }) { b.addF32Tensor(name, shape: shape) }
        let path = NSTemporaryDirectory() + "arch-rules-\(UUID().uuidString).gguf"
        try b.build().write(to: URL(fileURLWithPath: path))
        addTeardownBlock { try? FileManager.default.removeItem(atPath: path) }
        return path
    }

    func testATensorTheGraphDoesNotReadIsRefusedByName() throws {
        XCTAssertNoThrow(try ModelLoader.ggufModel(path: minimalLlama(extra: [:])))
        XCTAssertThrowsError(try ModelLoader.ggufModel(path: minimalLlama(extra: ["blk.0.attn_output.bias": [8]]))) { error in
            XCTAssertTrue("\(error)".contains("blk.0.attn_output.bias"), "\(error)")
        }
    }

    func testHeadDimensionFromKeyLengthWhenItIsNotHiddenOverHeads() throws {
        for name in ["mistral-F32", "qwen3-F32", "mistral3-F32"] {
            let config = try ModelLoader.config(path: fixture(name))
            XCTAssertEqual([config.hiddenSize, config.heads, config.headDim], [64, 4, 32], name)
        }
    }
}
