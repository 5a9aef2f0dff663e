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
                XCTAssertEqual(outcome.ringBlockedSeconds?.count, comm.size, "every rank's ring blocked time")
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

/// The prefix cache across ranks: every rank keeps its shard, cuts it to the shared prefix, and computes the new
/// tokens with attention merged across ranks; the answer equals a full single-process prefill.
final class DistributedPrefixReuseTests: XCTestCase {
    func testASecondQuestionReusesEachRanksShardAndEqualsAFullPrefill() throws {
        let loaded = try ModelLoader.load(path: DistributedSequenceTests.fixtures + "/hf-tiny/llama-gqa-tied-bf16")
        let model = loaded.model
        let document: [Int32] = (0..<150).map { Int32(($0 * 31 + 5) % 256) }   // past the checkpoint's 128
        let first = GenerationRequest(prompt: document + [9, 77, 13], maxNewTokens: 5, method: ContextMethod(SelfExtendMethod(groupSize: 4, window: 32)))
        var second = first
        second.prompt = document + [200, 4, 61, 18]
        var expectedLogits: [[Float]] = []
        let expected = try LocalRunner(model: model, prefillChunk: 64).complete(second, sampler: .greedy, callbacks: CompletionCallbacks(
            onToken: { _, row in expectedLogits.append(Array(row)); return true }))
        for ranks in [2, 3] {
            for layout in Layout.allCases {
                let got = RankZeroOutputs()
                let reused = RankZeroOutputs()
                try LocalCommunicator.run(size: ranks) { comm in
                    let runner = DistributedRunner(model: model, communicator: comm, layout: layout, timeout: 30)
                    runner.reusesPrefix = true
                    guard comm.rank == 0 else {
                        try runner.serve()
                        return
                    }
                    let a = try runner.complete(first, sampler: .greedy, callbacks: CompletionCallbacks())
                    reused.tokens.append(Int32(a.reusedPromptTokens))
                    let b = try runner.complete(second, sampler: .greedy, callbacks: CompletionCallbacks(onToken: { token, row in
                        got.tokens.append(token)
                        got.add(Array(row))
                        return true
                    }))
                    reused.tokens.append(Int32(b.reusedPromptTokens))
                    try runner.finish()
                }
                XCTAssertEqual(reused.tokens, [0, Int32(document.count)], "ranks=\(ranks) \(layout)")
                XCTAssertEqual(got.tokens, expected.ids, "ranks=\(ranks) \(layout)")
                let worst = zip(got.logits, expectedLogits).map { a, b in zip(a, b).map { abs($0 - $1) }.max()! / b.map(abs).max()! }.max()!
                XCTAssertLessThan(worst, 1e-5, "ranks=\(ranks) \(layout)")
            }
        }
    }

    func testAPromptThatSharesLittleIsPrefilledThroughTheRing() throws {
        let loaded = try ModelLoader.load(path: DistributedSequenceTests.fixtures + "/hf-tiny/llama-gqa-tied-bf16")
        let document: [Int32] = (0..<60).map { Int32(($0 * 7 + 1) % 256) }
        let first = GenerationRequest(prompt: document, maxNewTokens: 2, method: .plain)
        var second = first
        second.prompt = Array(document.prefix(10)) + (0..<80).map { Int32(($0 * 13 + 2) % 256) }
        let reused = RankZeroOutputs()
        try LocalCommunicator.run(size: 2) { comm in
            let runner = DistributedRunner(model: loaded.model, communicator: comm, timeout: 30)
            runner.reusesPrefix = true
            guard comm.rank == 0 else { try runner.serve(); return }
            _ = try runner.complete(first, sampler: .greedy, callbacks: CompletionCallbacks())
            reused.tokens.append(Int32(try runner.complete(second, sampler: .greedy, callbacks: CompletionCallbacks()).reusedPromptTokens))
            try runner.finish()
        }
        XCTAssertEqual(reused.tokens, [0], "80 new tokens are more than one rank's share of 90: a fresh ring prefill")
    }
}
