import XCTest
@testable import LongLMModels
import LongLMAttention
import LongLMCore

final class ContextMethodTests: XCTestCase {
    static let methods: [ContextMethod] = [
        ContextMethod(.selfExtend(groupSize: 4, window: 32)),
        ContextMethod(.dualChunk(chunkSize: 96, localWindow: 16)),
        ContextMethod(.none, logN: true),
        ContextMethod(.selfExtend(groupSize: 2, window: 16), logN: true),
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

    func testGALIResultDoesNotDependOnThePrefillBatchSize() throws {
        // GALI's context length per row comes from its own chunk schedule, not from how the engine batches
        // the prompt; so any prefill batching gives the same logits (noise included: it is keyed by position).
        let loaded = try ModelLoader.load(path: Fixtures.path("hf-tiny/llama-mha"))
        let prompt = Array(try Fixtures.ints("hf-tiny/llama-mha/prompt.npy").prefix(190))   // T = 128
        for mode in [GALIMode.interpolated, .referenceBF16] {
            let method = ContextMethod(.gali(localWindow: 16, chunk: .size(20), mode: mode, noise: .gaussian, seed: 5))
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
        let wide = try lastLogits(loaded.model, ContextMethod(.selfExtend(groupSize: 2, window: 160)), prompt, chunk: 64, decodeLast: false)
        XCTAssertEqual(plain, wide)
        // With a small window it differs (the method is really applied).
        let narrow = try lastLogits(loaded.model, ContextMethod(.selfExtend(groupSize: 4, window: 32)), prompt, chunk: 64, decodeLast: false)
        XCTAssertGreaterThan(zip(plain, narrow).map { abs($0 - $1) }.max()!, 1e-3)
    }

    func testWindowChecksNameTheSmallestGroupThatFits() throws {
        let config = try ModelLoader.config(path: Fixtures.path("hf-tiny/llama-mha"))   // L = 128
        XCTAssertNoThrow(try ContextMethod(.selfExtend(groupSize: 4, window: 32)).checkLength(416, config: config))
        XCTAssertThrowsError(try ContextMethod(.selfExtend(groupSize: 4, window: 32)).checkLength(417, config: config)) {
            XCTAssertTrue("\($0)".contains("--group-size 5"), "\($0)")   // (128-32)*5+32 = 512 >= 417
        }
        XCTAssertThrowsError(try ContextMethod(.none).checkLength(129, config: config)) { XCTAssertTrue("\($0)".contains("at most 128"), "\($0)") }
        XCTAssertThrowsError(try ContextMethod(.selfExtend(groupSize: 3, window: 32)).validate(config: config)) {
            XCTAssertTrue("\($0)".contains("multiple"), "\($0)")
        }
        XCTAssertThrowsError(try ContextMethod(.dualChunk(chunkSize: 200, localWindow: 16)).validate(config: config))
        XCTAssertNil(ContextMethod(.dualChunk(chunkSize: 96, localWindow: 16)).maximumLength(config: config))
        // Group sizes larger than the window (this once looped forever looking for a window that is a multiple).
        XCTAssertThrowsError(try ContextMethod(.selfExtend(groupSize: 32, window: 32)).checkLength(3200, config: config)) {
            XCTAssertTrue("\($0)".contains("--group-size 34 (with --window 34"), "\($0)")   // 95*33+33 = 3168 < 3200 <= 94*34+34
        }
        XCTAssertThrowsError(try ContextMethod(.selfExtend(groupSize: 4, window: 64)).checkLength(100_000, config: config)) {
            XCTAssertTrue("\($0)".contains("no group size fits"), "\($0)")
        }
        XCTAssertThrowsError(try ContextMethod(.selfExtend(groupSize: 64, window: 32)).validate(config: config)) {
            XCTAssertTrue("\($0)".contains("try --window 64"), "\($0)")
            XCTAssertFalse("\($0)".contains("--window 0"), "\($0)")
        }
    }

    func testGemma3SelfExtendWithAWindowLargerThanThePromptEqualsPlainAttention() throws {
        guard FileManager.default.fileExists(atPath: Fixtures.gemmaModel) else { throw XCTSkip("run scripts/setup.sh") }
        let loaded = try Gemma3ReferenceTests.sharedModel()
        let prompt = try Fixtures.ints("gemma3-llamacpp/prompt-1500.npy")
        let plain = try lastLogits(loaded.model, .plain, prompt, chunk: 512, decodeLast: false)
        let wide = try lastLogits(loaded.model, ContextMethod(.selfExtend(groupSize: 4, window: 2048)), prompt, chunk: 512, decodeLast: false)
        XCTAssertEqual(plain, wide)
    }
}
