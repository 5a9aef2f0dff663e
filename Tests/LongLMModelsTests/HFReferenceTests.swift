import XCTest
@testable import LongLMModels
import LongLMCore

/// Tiny random checkpoints made by scripts/make_hf_fixtures.py, against transformers' logits.
final class HFReferenceTests: XCTestCase {
    static let models = ["llama-mha", "llama-gqa-tied-bf16", "qwen2-bias-f16", "mistral-window",
                         "llama-rope-linear", "llama-rope-dynamic", "llama-rope-yarn", "llama-rope-llama3"]

    /// max |ours - reference| / max |reference| over a whole matrix.
    func relativeError(_ ours: UnsafeBufferPointer<Float>, _ reference: ArraySlice<Float>) -> Float {
        var maxDiff: Float = 0, maxRef: Float = 0
        for (a, b) in zip(ours, reference) { maxDiff = max(maxDiff, abs(a - b)); maxRef = max(maxRef, abs(b)) }
        return maxDiff / maxRef
    }

    func testFullPrefillLogitsPastTheTrainedContextMatchTransformers() throws {
        for name in Self.models {
            let loaded = try ModelLoader.load(path: Fixtures.path("hf-tiny/\(name)"))
            let prompt = try Fixtures.ints("hf-tiny/\(name)/prompt.npy")
            let (shape, reference) = try Fixtures.floats("hf-tiny/\(name)/logits.npy")
            XCTAssertGreaterThan(prompt.count, loaded.model.config.trainedContext, "the fixture should pass the trained context")
            let cache = KVCache(config: loaded.model.config)
            let hidden = try loaded.model.forward(tokens: prompt, cache: cache)
            let logits = loaded.model.logits(hidden: hidden, rows: 0..<prompt.count)
            XCTAssertEqual([logits.rows, logits.cols], shape)
            let error = relativeError(UnsafeBufferPointer(start: logits.pointer, count: logits.count), reference[...])
            XCTAssertLessThan(error, 1e-4, "\(name): relative logit error \(error)")
        }
    }

    func testChunkedPrefillEqualsOneBlock() throws {
        let loaded = try ModelLoader.load(path: Fixtures.path("hf-tiny/mistral-window"))
        let prompt = try Fixtures.ints("hf-tiny/mistral-window/prompt.npy")
        let (_, reference) = try Fixtures.floats("hf-tiny/mistral-window/logits.npy")
        let generator = Generator(model: loaded.model, prefillChunk: 33)
        let cache = KVCache(config: loaded.model.config)
        var worst: Float = 0
        try generator.prefill(prompt, cache: cache) { hidden, first in
            let logits = loaded.model.logits(hidden: hidden, rows: 0..<hidden.rows)
            let ref = reference[(first * logits.cols)..<((first + hidden.rows) * logits.cols)]
            worst = max(worst, self.relativeError(UnsafeBufferPointer(start: logits.pointer, count: logits.count), ref))
        }
        XCTAssertLessThan(worst, 1e-4)
    }

    func testGreedyDecodeThroughTheKVCacheMatchesTransformersStepLogits() throws {
        for name in Self.models {
            let loaded = try ModelLoader.load(path: Fixtures.path("hf-tiny/\(name)"))
            let prompt = try Fixtures.ints("hf-tiny/\(name)/greedy_prompt.npy")
            let expectedTokens = try Fixtures.ints("hf-tiny/\(name)/greedy_tokens.npy")
            let (_, expectedLogits) = try Fixtures.floats("hf-tiny/\(name)/greedy_logits.npy")
            let vocab = loaded.model.config.vocabularySize
            var step = 0
            var worst: Float = 0
            var generator = Generator(model: loaded.model, prefillChunk: 5)
            generator.enforcesMaximumLength = false   // some fixtures run past the window on purpose
            let (tokens, _) = try generator.generate(
                prompt: prompt, maxNewTokens: expectedTokens.count, sampler: .greedy, stopTokens: []) { _, logits in
                    worst = max(worst, self.relativeError(logits, expectedLogits[(step * vocab)..<((step + 1) * vocab)]))
                    step += 1
                    return true
                }
            XCTAssertEqual(tokens, expectedTokens, name)
            XCTAssertLessThan(worst, 1e-4, "\(name): worst step logit error \(worst)")
        }
    }
}
