import XCTest
@testable import LongLMModels
import LongLMCore

final class MemoryPlanTests: XCTestCase {
    func testRingPlanCountsTheShardsCacheAndTheWholeShardsActivations() {
        // Gemma 3 270M, 129,428 tokens over 2 ranks, SelfExtend (two key classes): each rank holds 64,714 tokens.
        let c = TestConfigs.gemma3_270m()
        let plan = MemoryPlan(config: c, weightBytes: 253_113_024, tokens: 129_428, ranks: 2, prefillChunk: 1024, keyClasses: 2)
        let share = 64_714, kvWidth = 256
        XCTAssertEqual(plan.rank.tokens, share)
        XCTAssertEqual(plan.rank.kvCache, share * 18 * 2 * kvWidth * 4)
        // Decode keeps the 3 global layers' keys once per class.
        XCTAssertEqual(plan.rank.decodeKeys, share * 3 * 2 * kvWidth * 4)
        // A ring runs the whole shard in one forward call: x (640), q and the attention output (1024 each) and the
        // softmax state of the queries (1024) for every token; h (640), k and v (256 each) and the feed-forward's
        // gate and up (2048 each) for one batch of 1024 rows.
        XCTAssertEqual(plan.rank.activations, (share * (640 + 3 * 1024) + 1024 * (640 + 2 * 256 + 2 * 2048)) * 4)
        // cos and sin of every position of the sequence (head dim 256 floats), for the global layers and the
        // sliding layers' own base.
        XCTAssertEqual(plan.rank.rotaryTables, 2 * 129_428 * 256 * 4)
        // Keys of one travelling block per class, plus the send and receive buffers (keys, values, positions).
        XCTAssertEqual(plan.rank.attentionKeys, (share * 2 * kvWidth + 2 * share * (2 * kvWidth + 1)) * 4)
        XCTAssertEqual(plan.rank.logits, 262_144 * 4)
        // The two phases do not overlap: prefill's activations and call keys are freed before decode keeps its keys.
        let resident = plan.rank.weights + plan.rank.kvCache + plan.rank.rotaryTables + MemoryPlan.runtimeBytes
        XCTAssertEqual(plan.rank.prefill, resident + plan.rank.activations + plan.rank.attentionKeys)
        XCTAssertEqual(plan.rank.decode, resident + plan.rank.decodeKeys + plan.rank.logits)
        XCTAssertEqual(plan.rank.total, max(plan.rank.prefill, plan.rank.decode))
        XCTAssertEqual(plan.rank.total, plan.rank.prefill, "a ring's shard-wide activations outweigh the decode keys")
        let one = MemoryPlan(config: c, weightBytes: 253_113_024, tokens: 129_428, ranks: 1, prefillChunk: 1024, keyClasses: 2)
        XCTAssertEqual(one.rank.total, one.rank.decode, "one process's batched prefill is smaller than its decode keys")
    }

    func testTheCacheAndTheRingBuffersAreCountedInTheStoredKVType() {
        let c = TestConfigs.gemma3_270m()
        let share = 64_714, kvWidth = 256
        for (type, rowBytes, keptKeyBytes) in [(KVType.f32, 1024, 4), (.f16, 512, 2), (.bf16, 512, 2), (.q8_0, 272, 4)] {
            let plan = MemoryPlan(config: c, weightBytes: 0, tokens: 129_428, ranks: 2, prefillChunk: 1024, keyClasses: 2, kvType: type)
            XCTAssertEqual(plan.rank.kvCache, share * 18 * 2 * rowBytes, "\(type)")
            // A prefill call's transformed keys are f32; the two travelling blocks hold stored rows and 4-byte
            // positions; decode keeps transformed keys in 16 bits for f16 and bf16 caches.
            XCTAssertEqual(plan.rank.attentionKeys, share * 2 * kvWidth * 4 + 2 * share * (2 * rowBytes + 4), "\(type)")
            XCTAssertEqual(plan.rank.decodeKeys, share * 3 * 2 * kvWidth * keptKeyBytes, "\(type)")
            XCTAssertTrue(plan.table(ranksOnThisNode: 2, available: nil).contains { $0.contains("KV cache (\(type))") })
        }
    }

    /// BF16 attention tiles add the call's key panels (one per key class) and value panels: 2 bytes per value,
    /// key blocks of 256 rounded up.
    func testBF16AttentionTilesAddTheCallsPanels() {
        let c = TestConfigs.gemma3_270m()
        let share = 64_714, kvWidth = 256, blocks = (share + 255) / 256
        let f32 = MemoryPlan(config: c, weightBytes: 0, tokens: 129_428, ranks: 2, prefillChunk: 1024, keyClasses: 2, kvType: .f16)
        let bf16 = MemoryPlan(config: c, weightBytes: 0, tokens: 129_428, ranks: 2, prefillChunk: 1024, keyClasses: 2, kvType: .f16,
                              attentionTiles: .bf16(.portable))
        XCTAssertEqual(bf16.rank.attentionKeys - f32.rank.attentionKeys, blocks * 256 * kvWidth * 2 * (2 + 1))
        XCTAssertEqual(bf16.rank.decodeKeys, f32.rank.decodeKeys)
    }

    func testOneProcessPlanBoundsActivationsByTheBatchAndTransformsTheWholeCache() {
        let c = TestConfigs.gemma3_270m()
        let plan = MemoryPlan(config: c, weightBytes: 0, tokens: 40_000, ranks: 1, prefillChunk: 1024)
        XCTAssertEqual(plan.rank.activations, 1024 * (640 + 3 * 1024 + 640 + 2 * 256 + 2 * 2048) * 4)
        XCTAssertEqual(plan.rank.attentionKeys, 40_000 * 256 * 4)
        let short = MemoryPlan(config: c, weightBytes: 0, tokens: 100, ranks: 1, prefillChunk: 1024)
        XCTAssertEqual(short.rank.activations, 100 * (640 + 3 * 1024 + 640 + 2 * 256 + 2 * 2048) * 4)
        // A call larger than a batch runs its per-row work in batches of 1024 rows.
        let big = MemoryPlan(config: c, weightBytes: 0, tokens: 40_000, ranks: 1, prefillChunk: 4096)
        XCTAssertEqual(big.rank.activations, (4096 * (640 + 3 * 1024) + 1024 * (640 + 2 * 256 + 2 * 2048)) * 4)
    }

    /// Every rank of the node counts, and the mapped weights once (their pages are shared).
    func testFitIsJudgedForEveryRankOnTheNode() {
        let weights = 253_113_024
        let plan = MemoryPlan(config: TestConfigs.gemma3_270m(), weightBytes: weights, tokens: 10_000, ranks: 4, prefillChunk: 1024)
        let node = weights + (plan.rank.total - weights) * 4
        XCTAssertEqual(plan.nodeTotal(ranksOnThisNode: 4), node)
        XCTAssertEqual(plan.nodeTotal(ranksOnThisNode: 1), plan.rank.total)
        XCTAssertTrue(plan.fits(ranksOnThisNode: 4, available: node))
        XCTAssertFalse(plan.fits(ranksOnThisNode: 4, available: node - 1))
        let table = plan.table(ranksOnThisNode: 4, available: node - 1)
        XCTAssertTrue(table.last!.hasSuffix("does not fit"), table.joined(separator: "\n"))
    }

    func testPeakResidentMemoryIsReadFromTheOperatingSystem() {
        let before = MemoryPlan.peakResidentBytes()
        XCTAssertGreaterThan(before, 1 << 20)
        let block = UnsafeMutablePointer<UInt8>.allocate(capacity: 64 << 20)
        block.initialize(repeating: 1, count: 64 << 20)
        defer { block.deallocate() }
        XCTAssertGreaterThanOrEqual(MemoryPlan.peakResidentBytes(), 64 << 20)
    }
}
