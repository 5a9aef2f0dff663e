import XCTest
@testable import LongLMModels
import LongLMAttention
import LongLMCore

final class ContextMethodTests: XCTestCase {
    static let methods: [ContextMethod] = [
        ContextMethod(SelfExtendMethod(groupSize: 4, window: 32)),
        ContextMethod(DualChunkMethod(chunkSize: 96, localWindow: 16)),
        ContextMethod(PlainMethod(), logN: true),
        ContextMethod(SelfExtendMethod(groupSize: 2, window: 16), logN: true),
    ]

    /// Last-position logits of `tokens`, prefilled in chunks of `chunk`, or prefilled without the last token
    /// and then decoded one step.
    func lastLogits(_ model: TransformerModel, _ method: ContextMethod, _ tokens: [Int32], chunk: Int, decodeLast: Bool) throws -> [Float] {
        var generator = Generator(model: model, prefillChunk: chunk)
        generator.method = method
        let cache = try generator.makeCache(promptLength: decodeLast ? tokens.count - 1 : tokens.count)
        var hidden = try generator.prefill(decodeLast ? Array(tokens.dropLast()) : tokens, cache: cache)
        if decodeLast { hidden = try model.forward(tokens: [tokens.last!], cache: cache) }
        return model.logits(hidden: hidden, rows: (hidden.rows - 1)..<hidden.rows).array
    }

    func testPrefillThenDecodeEqualsLongerPrefillForEveryStaticMethod() throws {
        let loaded = try ModelLoader.load(path: Fixtures.path("hf-tiny/llama-gqa-tied-bf16"))
        let prompt = Array(try Fixtures.ints("hf-tiny/llama-gqa-tied-bf16/prompt.npy").prefix(181))   // past L = 128
        for method in Self.methods {
            let prefill = try lastLogits(loaded.model, method, prompt, chunk: 64, decodeLast: false)
            let decoded = try lastLogits(loaded.model, method, prompt, chunk: 37, decodeLast: true)
            let scale = prefill.map(abs).max()!
            let diff = zip(prefill, decoded).map { abs($0 - $1) }.max()!
            XCTAssertLessThan(diff / scale, 1e-5, "\(method)")
        }
    }

    func testDecodeWithKeptTransformedKeysEqualsTransformingTheWholeCacheEachStep() throws {
        // Decode keeps the global layers' keys transformed (one new key per step); the logits are bit for bit those
        // of a cache that transforms every key at every step, for single steps and a 12-token call, for every cache type (f16 and bf16 caches keep them
        // in 16 bits, and the per-step transform rounds through the same type). GALI's keys are not fixed, so it
        // keeps none.
        let loaded = try ModelLoader.load(path: Fixtures.path("hf-tiny/llama-gqa-tied-bf16"))
        let prompt = Array(try Fixtures.ints("hf-tiny/llama-gqa-tied-bf16/prompt.npy").prefix(150))
        let gali = try ContextMethod(name: "gali", given: MethodArguments(), config: loaded.model.config)
        let saved = Compute.kvType
        defer { Compute.kvType = saved }
        for type in KVType.allCases where type.unsupportedReason(headDim: loaded.model.config.headDim) == nil {
            Compute.kvType = type
            for method in Self.methods + [gali] {
                var generator = Generator(model: loaded.model, prefillChunk: 64)
                generator.method = method
                var logits: [[[Float]]] = []
                for keeps in [false, true] {
                    let cache = try generator.makeCache(promptLength: prompt.count)
                    try generator.prefill(prompt, cache: cache)
                    cache.keepsTransformedKeys = keeps
                    var steps: [[Float]] = []
                    for token in prompt.prefix(4) {
                        let hidden = try loaded.model.forward(tokens: [token], cache: cache)
                        steps.append(loaded.model.logits(hidden: hidden, rows: 0..<1).array)
                    }
                    // Then 12 tokens in one call: more query rows than the few-row kernels take, so 16-bit kept
                    // keys are decoded per tile for sgemm.
                    let hidden = try loaded.model.forward(tokens: Array(prompt[4..<16]), cache: cache)
                    steps.append(loaded.model.logits(hidden: hidden, rows: 0..<12).array)
                    let kept = cache.transformedKeys.compactMap { $0 }
                    if keeps && method.name != "gali" {
                        XCTAssertEqual(kept.count, loaded.model.config.layerCount, "\(method)")
                        XCTAssertTrue(kept.allSatisfy { $0.count == cache.count }, "\(method)")
                    } else {
                        XCTAssertTrue(kept.isEmpty, "\(method)")
                    }
                    logits.append(steps)
                }
                XCTAssertEqual(logits[0], logits[1], "\(method) \(type)")
            }
        }
    }

    func testGALIResultDoesNotDependOnThePrefillBatchSize() throws {
        // GALI's context length per row comes from its own chunk schedule, not from how the engine batches
        // the prompt; so any prefill batching gives the same logits (noise included: it is keyed by position).
        let loaded = try ModelLoader.load(path: Fixtures.path("hf-tiny/llama-mha"))
        let prompt = Array(try Fixtures.ints("hf-tiny/llama-mha/prompt.npy").prefix(190))   // T = 128
        for mode in [GALIMode.interpolated, .referenceBF16] {
            let method = ContextMethod(GALIMethod(localWindow: 16, chunk: .size(20), mode: mode, noise: .gaussian, seed: 5))
            let a = try lastLogits(loaded.model, method, prompt, chunk: 64, decodeLast: false)
            let b = try lastLogits(loaded.model, method, prompt, chunk: 23, decodeLast: false)
            XCTAssertTrue(a.allSatisfy(\.isFinite))
            XCTAssertLessThan(zip(a, b).map { abs($0 - $1) }.max()! / a.map(abs).max()!, 1e-5, "\(mode)")
            let plain = try lastLogits(loaded.model, .plain, prompt, chunk: 64, decodeLast: false)
            XCTAssertGreaterThan(zip(a, plain).map { abs($0 - $1) }.max()!, 1e-3, "GALI must change something past T")
        }
    }

    func testMethodsChangeLogitsOnlyPastTheirNeighbourhood() throws {
        let loaded = try ModelLoader.load(path: Fixtures.path("hf-tiny/llama-mha"))
        let prompt = Array(try Fixtures.ints("hf-tiny/llama-mha/prompt.npy").prefix(150))
        let plain = try lastLogits(loaded.model, .plain, prompt, chunk: 64, decodeLast: false)
        // SelfExtend with a window larger than the sequence is plain attention, bit for bit.
        let wide = try lastLogits(loaded.model, ContextMethod(SelfExtendMethod(groupSize: 2, window: 160)), prompt, chunk: 64, decodeLast: false)
        XCTAssertEqual(plain, wide)
        // With a small window it differs (the method is really applied).
        let narrow = try lastLogits(loaded.model, ContextMethod(SelfExtendMethod(groupSize: 4, window: 32)), prompt, chunk: 64, decodeLast: false)
        XCTAssertGreaterThan(zip(plain, narrow).map { abs($0 - $1) }.max()!, 1e-3)
    }

    func testWindowChecksNameTheSmallestGroupThatFits() throws {
        let config = try ModelLoader.config(path: Fixtures.path("hf-tiny/llama-mha"))   // L = 128
        XCTAssertNoThrow(try ContextMethod(SelfExtendMethod(groupSize: 4, window: 32)).checkLength(416, config: config))
        XCTAssertThrowsError(try ContextMethod(SelfExtendMethod(groupSize: 4, window: 32)).checkLength(417, config: config)) {
            XCTAssertTrue("\($0)".contains("--group-size 5"), "\($0)")   // (128-32)*5+32 = 512 >= 417
        }
        XCTAssertThrowsError(try ContextMethod(PlainMethod()).checkLength(129, config: config)) { XCTAssertTrue("\($0)".contains("at most 128"), "\($0)") }
        XCTAssertThrowsError(try ContextMethod(SelfExtendMethod(groupSize: 3, window: 32)).validate(config: config)) {
            XCTAssertTrue("\($0)".contains("multiple"), "\($0)")
        }
        XCTAssertThrowsError(try ContextMethod(DualChunkMethod(chunkSize: 200, localWindow: 16)).validate(config: config))
        XCTAssertNil(ContextMethod(DualChunkMethod(chunkSize: 96, localWindow: 16)).maximumLength(config: config))
        // Group sizes larger than the window (this once looped forever looking for a window that is a multiple).
        XCTAssertThrowsError(try ContextMethod(SelfExtendMethod(groupSize: 32, window: 32)).checkLength(3200, config: config)) {
            XCTAssertTrue("\($0)".contains("--group-size 34 (with --window 34"), "\($0)")   // 95*33+33 = 3168 < 3200 <= 94*34+34
        }
        XCTAssertThrowsError(try ContextMethod(SelfExtendMethod(groupSize: 4, window: 64)).checkLength(100_000, config: config)) {
            XCTAssertTrue("\($0)".contains("no group size fits"), "\($0)")
        }
        XCTAssertThrowsError(try ContextMethod(SelfExtendMethod(groupSize: 64, window: 32)).validate(config: config)) {
            XCTAssertTrue("\($0)".contains("try --window 64"), "\($0)")
            XCTAssertFalse("\($0)".contains("--window 0"), "\($0)")
        }
    }

    func testGemma3SelfExtendWithAWindowLargerThanThePromptEqualsPlainAttention() throws {
        guard FileManager.default.fileExists(atPath: Fixtures.gemmaModel) else { throw XCTSkip("run scripts/setup.sh") }
        let loaded = try Gemma3ReferenceTests.sharedModel()
        let prompt = try Fixtures.ints("gemma3-llamacpp/prompt-1500.npy")
        let plain = try lastLogits(loaded.model, .plain, prompt, chunk: 512, decodeLast: false)
        let wide = try lastLogits(loaded.model, ContextMethod(SelfExtendMethod(groupSize: 4, window: 2048)), prompt, chunk: 512, decodeLast: false)
        XCTAssertEqual(plain, wide)
    }
}

/// The method registry: one type per method, its own defaults, ranges and errors.
final class ContextMethodRegistryTests: XCTestCase {
    static func config() throws -> ModelConfig { try ModelLoader.config(path: Fixtures.path("hf-tiny/llama-mha")) }   // L = 128

    /// Values that make every method valid on the tiny model (the RoPE-scaling family needs a factor).
    static func example(_ name: String) -> [String: String] {
        ContextMethod.type(named: name)!.parameterNames.contains("factor") ? ["factor": "2"] : [:]
    }

    func testEveryMethodHasAUniqueNameAndRoundTripsThroughJSON() throws {
        let config = try Self.config()
        XCTAssertEqual(Set(ContextMethod.names).count, ContextMethod.registry.count)
        for name in ContextMethod.names {
            for logN in [false, true] {
                let method = try ContextMethod(name: name, given: MethodArguments(Self.example(name)), logN: logN, config: config)
                XCTAssertEqual(method.name, name)
                let decoded = try JSONDecoder().decode(ContextMethod.self, from: try JSONEncoder().encode(method))
                XCTAssertEqual(decoded.description, method.description, name)
                XCTAssertEqual(decoded.logN, logN)
                XCTAssertEqual(decoded.maximumLength(config: config), method.maximumLength(config: config), name)
            }
        }
    }

    func testDefaultsComeFromTheMethodAndTheModel() throws {
        let config = try Self.config()
        let selfExtend = try XCTUnwrap(try ContextMethod(name: "selfextend", given: MethodArguments(), config: config).method as? SelfExtendMethod)
        XCTAssertEqual(selfExtend.groupSize, SelfExtendMethod.defaultGroupSize)
        XCTAssertEqual(selfExtend.window, 32)   // a quarter of 128, a multiple of 4
        // A group size past a quarter of the context: the window falls back to one group (no division by zero).
        let wide = try XCTUnwrap(try ContextMethod(name: "selfextend", given: MethodArguments(["group-size": "64"]), config: config).method as? SelfExtendMethod)
        XCTAssertEqual(wide.window, 64)
        let dca = try XCTUnwrap(try ContextMethod(name: "dca", given: MethodArguments(), config: config).method as? DualChunkMethod)
        XCTAssertEqual([dca.chunkSize, dca.localWindow], [96, 16])
        let yarn = try XCTUnwrap(try ContextMethod(name: "yarn", given: MethodArguments(["factor": "2"]), config: config).method as? YaRNMethod)
        XCTAssertEqual(yarn.originalContext, 128)
        XCTAssertEqual(yarn.betaFast, YaRNMethod.defaultBetaFast)
    }

    func testOutOfRangeValuesNameTheParameter() throws {
        let config = try Self.config()
        let cases: [(String, [String: String], String)] = [
            ("selfextend", ["group-size": "0"], "--group-size 0"),
            ("selfextend", ["group-size": "128"], "--group-size 128"),
            ("selfextend", ["window": "-4"], "--window -4"),
            ("selfextend", ["group-size": "x"], "--group-size x"),
            ("linear", ["factor": "1e308"], "--factor"),
            ("ntk", ["factor": "inf"], "--factor"),
            ("yarn", ["factor": "1e17"], "--factor"),
            ("llama3", ["factor": "0"], "--factor"),
            ("linear", [:], "--factor is required"),
            ("dynamic-ntk", ["factor": "2", "original-context": "9223372036854775807"], "--original-context"),
            ("yarn", ["factor": "2", "yarn-beta-fast": "nan"], "--yarn-beta-fast"),
            ("yarn", ["factor": "2", "yarn-beta-fast": "1", "yarn-beta-slow": "2"], "betaFast"),
            ("llama3", ["factor": "2", "low-freq-factor": "4", "high-freq-factor": "1"], "highFrequencyFactor"),
            ("dca", ["chunk-size": "0"], "--chunk-size 0"),
            ("dca", ["chunk-size": "40", "local-window": "60"], "--chunk-size (40) must be larger"),
            ("gali", ["gali-chunk": "0"], "--gali-chunk 0"),
            ("gali", ["gali-chunk": "1.5"], "--gali-chunk 1.5"),
            ("gali", ["local-window": "128"], "--local-window 128"),
            ("gali", ["noise": "loud"], "--noise loud"),
            ("gali", ["seed": "-1"], "--seed -1"),
            ("none", ["group-size": "4"], "--group-size does not apply to --method none"),
            ("banana", [:], "--method banana"),
        ]
        for (name, values, fragment) in cases {
            XCTAssertThrowsError(try ContextMethod(name: name, given: MethodArguments(values), config: config), "\(name) \(values)") {
                XCTAssertTrue("\($0)".contains(fragment), "\(name) \(values): \($0)")
            }
        }
        // A pasted document as a value is quoted short.
        let long = String(repeating: "7", count: 10_000)
        XCTAssertThrowsError(try ContextMethod(name: "selfextend", given: MethodArguments(["group-size": long]), config: config)) {
            XCTAssertLessThan("\($0)".count, 200)
        }
    }
}
