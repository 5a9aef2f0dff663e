import XCTest
@testable import LongLMModels
import LongLMAttention
import LongLMCore

/// The server's prefix cache: a runner that keeps its last sequence prefills only what a new prompt does not share
/// with it, and gives the tokens and logits of a full prefill.
final class PrefixReuseTests: XCTestCase {
    static let checkpoint = Fixtures.path("hf-tiny/llama-gqa-tied-bf16")

    /// Greedy tokens and the logits of every step.
    func complete(_ runner: LocalRunner, _ prompt: [Int32], _ method: ContextMethod, tokens: Int = 6) throws -> (GenerationOutcome, [[Float]]) {
        var logits: [[Float]] = []
        let request = GenerationRequest(prompt: prompt, maxNewTokens: tokens, method: method, checksLength: false)
        let outcome = try runner.complete(request, sampler: .greedy, callbacks: CompletionCallbacks(onToken: { _, row in
            logits.append(Array(row))
            return true
        }))
        return (outcome, logits)
    }

    func worst(_ a: [[Float]], _ b: [[Float]]) -> Float {
        zip(a, b).map { x, y in zip(x, y).map { abs($0 - $1) }.max()! / y.map(abs).max()! }.max() ?? .infinity
    }

    func testASecondQuestionAboutTheSameDocumentReusesItAndMatchesAFullPrefill() throws {
        let loaded = try ModelLoader.load(path: Self.checkpoint)
        let document = Array(try Fixtures.ints("hf-tiny/llama-gqa-tied-bf16/prompt.npy").prefix(170))   // past L = 128
        let first = document + [17, 42, 99]
        let second = document + [5, 250, 31, 8]
        let methods = ContextMethodTests.methods + [
            try ContextMethod(name: "yarn", given: MethodArguments(["factor": "2"]), config: loaded.model.config),
        ]
        for method in methods {
            let reusing = LocalRunner(model: loaded.model, prefillChunk: 64)
            reusing.reusesPrefix = true
            let (a, _) = try complete(reusing, first, method)
            XCTAssertEqual(a.reusedPromptTokens, 0, "\(method)")
            let (b, bLogits) = try complete(reusing, second, method)
            XCTAssertEqual(b.reusedPromptTokens, document.count, "\(method): the shared document is not prefilled again")
            let (fresh, freshLogits) = try complete(LocalRunner(model: loaded.model, prefillChunk: 64), second, method)
            XCTAssertEqual(b.ids, fresh.ids, "\(method)")
            XCTAssertEqual(bLogits.count, freshLogits.count)
            XCTAssertLessThan(worst(bLogits, freshLogits), 1e-5, "\(method)")
        }
    }

    func testAContinuationReusesTheGeneratedTokensToo() throws {
        // A follow-up turn whose prompt is the previous prompt plus the answer plus more: everything in the cache is
        // reused, the previous answer's tokens included.
        let loaded = try ModelLoader.load(path: Self.checkpoint)
        let prompt = Array(try Fixtures.ints("hf-tiny/llama-gqa-tied-bf16/prompt.npy").prefix(90))
        let method = ContextMethodTests.methods[0]
        let runner = LocalRunner(model: loaded.model, prefillChunk: 32)
        runner.reusesPrefix = true
        let (a, _) = try complete(runner, prompt, method, tokens: 5)
        let followUp = prompt + a.ids + [3, 4, 5]
        let (b, bLogits) = try complete(runner, followUp, method)
        // The last sampled token was never decoded, so it is not in the cache.
        XCTAssertEqual(b.reusedPromptTokens, prompt.count + a.ids.count - 1)
        let (fresh, freshLogits) = try complete(LocalRunner(model: loaded.model, prefillChunk: 32), followUp, method)
        XCTAssertEqual(b.ids, fresh.ids)
        XCTAssertLessThan(worst(bLogits, freshLogits), 1e-5)
    }

    func testNothingIsReusedAcrossMethodsOrWhereTheMethodDependsOnTheLength() throws {
        let loaded = try ModelLoader.load(path: Self.checkpoint)
        let config = loaded.model.config
        let prompt = Array(try Fixtures.ints("hf-tiny/llama-gqa-tied-bf16/prompt.npy").prefix(150))
        let runner = LocalRunner(model: loaded.model, prefillChunk: 64)
        runner.reusesPrefix = true
        let selfExtend = ContextMethodTests.methods[0]
        _ = try complete(runner, prompt, selfExtend)
        let (other, _) = try complete(runner, prompt + [1], .plain)
        XCTAssertEqual(other.reusedPromptTokens, 0, "a different method places positions differently")
        let gali = try ContextMethod(name: "gali", given: MethodArguments(), config: config)
        XCTAssertFalse(gali.placesPositionsAlike(config: config, cachedLength: 150, promptLength: 151))
        XCTAssertTrue(gali.placesPositionsAlike(config: config, cachedLength: 150, promptLength: 150))
        _ = try complete(runner, prompt, gali)
        let (longer, longerLogits) = try complete(runner, prompt + [1, 2], gali)
        XCTAssertEqual(longer.reusedPromptTokens, 0, "GALI's chunks depend on the prompt length")
        let (fresh, freshLogits) = try complete(LocalRunner(model: loaded.model, prefillChunk: 64), prompt + [1, 2], gali)
        XCTAssertEqual(longer.ids, fresh.ids)
        XCTAssertEqual(longerLogits, freshLogits)
        let dynamic = try ContextMethod(name: "dynamic-ntk", given: MethodArguments(["factor": "2"]), config: config)
        XCTAssertFalse(dynamic.placesPositionsAlike(config: config, cachedLength: 150, promptLength: 151))
        XCTAssertTrue(selfExtend.placesPositionsAlike(config: config, cachedLength: 150, promptLength: 151))
    }

    func testACancelledPrefillStopsBetweenChunksAndTheNextRequestIsExact() throws {
        let loaded = try ModelLoader.load(path: Self.checkpoint)
        let prompt = Array(try Fixtures.ints("hf-tiny/llama-gqa-tied-bf16/prompt.npy").prefix(160))
        let method = ContextMethodTests.methods[1]
        let runner = LocalRunner(model: loaded.model, prefillChunk: 32)
        runner.reusesPrefix = true
        _ = try complete(runner, prompt, method)   // something to reuse
        var chunks = 0
        var tokens = 0
        let request = GenerationRequest(prompt: Array(prompt.prefix(10)) + Array(prompt.suffix(100)), maxNewTokens: 4, method: method)
        XCTAssertThrowsError(try runner.complete(request, sampler: .greedy, callbacks: CompletionCallbacks(
            progress: { _, _ in chunks += 1 }, isCancelled: { chunks >= 2 }, onToken: { _, _ in tokens += 1; return true }))) {
            XCTAssertTrue($0 is GenerationCancelled, "\($0)")
        }
        XCTAssertEqual(chunks, 2, "stopped after the chunk that saw the cancellation")
        XCTAssertEqual(tokens, 0)
        // The half-prefilled cache is never reused: the next request prefills from scratch and is exact.
        let (next, nextLogits) = try complete(runner, prompt, method)
        XCTAssertEqual(next.reusedPromptTokens, 0)
        let (fresh, freshLogits) = try complete(LocalRunner(model: loaded.model, prefillChunk: 32), prompt, method)
        XCTAssertEqual(next.ids, fresh.ids)
        XCTAssertEqual(nextLogits, freshLogits)
    }

    func testTruncateKeepsTheFirstRowsAndDropsKeptKeys() throws {
        let loaded = try ModelLoader.load(path: Self.checkpoint)
        let prompt = Array(try Fixtures.ints("hf-tiny/llama-gqa-tied-bf16/prompt.npy").prefix(40))
        var generator = Generator(model: loaded.model, prefillChunk: 16)
        generator.method = ContextMethodTests.methods[0]
        let cache = try generator.makeCache(promptLength: prompt.count)
        try generator.prefill(prompt, cache: cache)
        cache.keepsTransformedKeys = true
        _ = try loaded.model.forward(tokens: [7], cache: cache)
        XCTAssertFalse(cache.transformedKeys.compactMap { $0 }.isEmpty)
        let keys = cache.keys.map { Array($0.prefix(25 * cache.rowBytes)) }
        cache.truncate(to: 25)
        XCTAssertEqual(cache.count, 25)
        XCTAssertEqual(cache.positions, (0..<25).map(Int32.init))
        XCTAssertEqual(cache.keys, keys)
        XCTAssertTrue(cache.values.allSatisfy { $0.count == 25 * cache.rowBytes })
        XCTAssertTrue(cache.transformedKeys.allSatisfy { $0 == nil })
    }
}
