import XCTest
import Foundation
@testable import LongLMDistributed
import LongLMModels
import LongLMCore

/// A whole model run over ranks (threads) equals the single-process run: prefill logits and greedy decode.
final class DistributedSequenceTests: XCTestCase {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures").path

    func testDistributedPrefillAndDecodeEqualTheSingleProcessRun() throws {
        let loaded = try ModelLoader.load(path: Self.fixtures + "/hf-tiny/llama-gqa-tied-bf16")
        let model = loaded.model
        let prompt: [Int32] = (0..<61).map { Int32(($0 * 37 + 11) % 256) }
        let methods: [ContextMethod] = [.plain, ContextMethod(SelfExtendMethod(groupSize: 2, window: 16)),
                                        ContextMethod(DualChunkMethod(chunkSize: 24, localWindow: 4), logN: true)]
        for method in methods {
            // Single process: prefill then 8 greedy steps.
            var generator = Generator(model: model, prefillChunk: 64)
            generator.method = method
            var expectedLogits: [[Float]] = []
            let (expected, _) = try generator.generate(prompt: prompt, maxNewTokens: 8, sampler: .greedy, stopTokens: []) { _, logits in
                expectedLogits.append(Array(logits))
                return true
            }
            for ranks in [1, 2, 3, 4] {
                for layout in Layout.allCases {
                    let got = RankZeroOutputs()
                    try LocalCommunicator.run(size: ranks) { comm in
                        let sequence = try DistributedSequence(model: model, communicator: comm, layout: layout, method: method,
                                                               promptLength: prompt.count, timeout: 30)
                        var logits = try sequence.prefill(prompt)
                        for _ in 0..<8 {
                            // Rank 0 picks the token and broadcasts it.
                            var token: Int32 = comm.rank == 0 ? logits!.withUnsafeBufferPointer { Sampler.argmax($0) } : 0
                            if comm.rank == 0 { got.add(logits!) }
                            try withUnsafeMutableBytes(of: &token) { try comm.broadcast($0, root: 0, timeout: 30) }
                            if comm.rank == 0 { got.tokens.append(token) }
                            logits = try sequence.decode(token)
                        }
                    }
                    XCTAssertEqual(got.tokens, expected, "\(method) ranks=\(ranks) \(layout)")
                    var worst: Float = 0
                    for (a, b) in zip(got.logits, expectedLogits) {
                        worst = max(worst, zip(a, b).map { abs($0 - $1) }.max()! / b.map(abs).max()!)
                    }
                    XCTAssertEqual(got.logits.count, 8)
                    XCTAssertLessThan(worst, 1e-5, "\(method) ranks=\(ranks) \(layout)")
                }
            }
        }
    }
}

final class RankZeroOutputs: @unchecked Sendable {
    var logits: [[Float]] = []
    var tokens: [Int32] = []
    func add(_ l: [Float]) { logits.append(l) }
}
