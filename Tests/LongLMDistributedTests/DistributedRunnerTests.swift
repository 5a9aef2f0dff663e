import XCTest
import Foundation
@testable import LongLMDistributed
import LongLMModels
import LongLMCore

/// The server's path through the distributed runner: sampled generation with callbacks on rank 0, a request
/// cancelled mid-prefill on every rank at the same layer, idle keep-alives, and the next request still exact.
final class DistributedRunnerTests: XCTestCase {
    func testACancelledRequestStopsEveryRankAndTheNextOneEqualsTheSingleProcessRun() throws {
        let loaded = try ModelLoader.load(path: DistributedSequenceTests.fixtures + "/hf-tiny/llama-gqa-tied-bf16")
        let model = loaded.model
        let prompt: [Int32] = (0..<70).map { Int32(($0 * 29 + 3) % 256) }
        let method = ContextMethod(SelfExtendMethod(groupSize: 2, window: 16))
        let request = GenerationRequest(prompt: prompt, maxNewTokens: 6, method: method)
        let sampler = Sampler(temperature: 0.8, topK: 20, topP: 0.9, seed: 7)
        let single = LocalRunner(model: model, prefillChunk: 64)
        let expected = try single.complete(request, sampler: sampler, callbacks: CompletionCallbacks()).ids

        for ranks in [2, 3] {
            let got = RankZeroOutputs()
            let layersSeen = RankZeroOutputs()
            let cancelledOn = CancelledRanks()
            try LocalCommunicator.run(size: ranks) { comm in
                let runner = DistributedRunner(model: model, communicator: comm, timeout: 30)
                guard comm.rank == 0 else {
                    try runner.serve()
                    return
                }
                var progressCalls = 0
                XCTAssertThrowsError(try runner.complete(request, sampler: sampler, callbacks: CompletionCallbacks(
                    progress: { _, _ in progressCalls += 1 }, isCancelled: { progressCalls >= 2 }))) { error in
                    XCTAssertTrue(error is GenerationCancelled, "\(error)")
                    cancelledOn.add(0)
                }
                layersSeen.tokens.append(Int32(progressCalls))
                try runner.keepAlive()
                let outcome = try runner.complete(request, sampler: sampler, callbacks: CompletionCallbacks(onToken: { token, _ in
                    got.tokens.append(token)
                    return true
                }))
                XCTAssertEqual(outcome.ids, got.tokens)
                try runner.finish()
            }
            XCTAssertEqual(cancelledOn.ranks, [0])
            XCTAssertEqual(layersSeen.tokens, [2], "ranks=\(ranks): stopped at the layer that saw the cancellation")
            XCTAssertEqual(got.tokens, expected, "ranks=\(ranks): sampled tokens equal the single-process run")
        }
    }
}

final class CancelledRanks: @unchecked Sendable {
    private let lock = NSLock()
    private(set) var ranks: [Int] = []
    func add(_ rank: Int) { lock.withLock { ranks.append(rank) } }
}
