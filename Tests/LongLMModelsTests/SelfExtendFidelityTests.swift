import XCTest
@testable import LongLMModels
import LongLMCore

/// SelfExtend against the official implementation (datamllab/LongLM @ cdbbb06, non-flash Llama patch on
/// transformers 4.38.2; fixtures by scripts/make_selfextend_fixtures.py): prefill logits of a prompt
/// almost twice the trained context, and greedy decoding through the KV cache.
final class SelfExtendFidelityTests: XCTestCase {
    struct Settings: Decodable { let group_size: Int; let window: Int }

    func relativeError(_ ours: UnsafeBufferPointer<Float>, _ reference: ArraySlice<Float>) -> Float {
        var maxDiff: Float = 0, maxRef: Float = 0
        for (a, b) in zip(ours, reference) { maxDiff = max(maxDiff, abs(a - b)); maxRef = max(maxRef, abs(b)) }
        return maxDiff / maxRef
    }

    func testSelfExtendEqualsTheOfficialImplementationInPrefillAndDecode() throws {
        for name in ["llama-mha", "llama-gqa-tied"] {
            let directory = "selfextend-longlm/\(name)"
            let settings = try JSONDecoder().decode(Settings.self, from: Data(contentsOf: URL(fileURLWithPath: Fixtures.path(directory + "/selfextend.json"))))
            let loaded = try ModelLoader.load(path: Fixtures.path(directory))
            var generator = Generator(model: loaded.model, prefillChunk: 50)
            generator.method = ContextMethod(SelfExtendMethod(groupSize: settings.group_size, window: settings.window))

            let prompt = try Fixtures.ints(directory + "/prompt.npy")
            let (_, reference) = try Fixtures.floats(directory + "/logits.npy")
            XCTAssertGreaterThan(prompt.count, loaded.model.config.trainedContext)
            var worst: Float = 0
            try generator.prefill(prompt, cache: try generator.makeCache(promptLength: prompt.count)) { hidden, first in
                let logits = loaded.model.logits(hidden: hidden, rows: 0..<hidden.rows)
                let ref = reference[(first * logits.cols)..<((first + hidden.rows) * logits.cols)]
                worst = max(worst, self.relativeError(UnsafeBufferPointer(start: logits.pointer, count: logits.count), ref))
            }
            XCTAssertLessThan(worst, 1e-4, "\(name) prefill")

            let greedyPrompt = try Fixtures.ints(directory + "/greedy_prompt.npy")
            let expectedTokens = try Fixtures.ints(directory + "/greedy_tokens.npy")
            let (_, expectedLogits) = try Fixtures.floats(directory + "/greedy_logits.npy")
            let vocab = loaded.model.config.vocabularySize
            var step = 0, worstStep: Float = 0
            let (tokens, _) = try generator.generate(prompt: greedyPrompt, maxNewTokens: expectedTokens.count, sampler: .greedy, stopTokens: []) { _, logits in
                worstStep = max(worstStep, self.relativeError(logits, expectedLogits[(step * vocab)..<((step + 1) * vocab)]))
                step += 1
                return true
            }
            XCTAssertEqual(tokens, expectedTokens, name)
            XCTAssertLessThan(worstStep, 1e-4, "\(name) decode")
            print("SelfExtend vs LongLM, \(name): prefill relative error \(worst), decode \(worstStep)")
        }
    }
}
