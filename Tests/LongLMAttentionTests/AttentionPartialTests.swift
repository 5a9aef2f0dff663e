import XCTest
@testable import LongLMAttention

/// The property the ring and sharded decode rely on: attention over keys split into shards (any split,
/// any order), accumulated separately and merged, equals one pass over all keys, for every scheme.
final class AttentionPartialTests: XCTestCase {
    func schemes(promptLength: Int) throws -> [(String, any PositionScheme)] {
        let table = standardTable(d: 16)
        return [
            ("rope", RotaryScheme(table: table)),
            ("selfextend", SelfExtend(groupSize: 4, window: 8, table: table)),
            ("dca", DualChunk(chunkSize: 12, localWindow: 4, table: table)),
            ("gali", try GALI(trainedContext: 16, localWindow: 4, chunk: .size(7), promptLength: promptLength, mode: .interpolated,
                              noise: .gaussian, seed: 9, table: table)),
            ("dynamic-ntk", RopeScaling.dynamicNTK(factor: 2, originalContext: 16).scheme(base: 10000, dimensions: 16, pairing: .halves, promptLength: promptLength)),
            ("yarn+logn", LogNScaling(RopeScaling.yarn(factor: 4, originalContext: 16, betaFast: 32, betaSlow: 1, attentionFactor: nil)
                .scheme(base: 10000, dimensions: 16, pairing: .halves, promptLength: promptLength), trainedContext: 16)),
        ]
    }

    func testShardedAccumulationMergesToTheSinglePassForEveryScheme() throws {
        let T = 53, heads = 4, kvHeads = 2, d = 16
        let shape = AttentionShape(heads: heads, kvHeads: kvHeads, headDim: d)
        var rng = SplitMix(seed: 11)
        let q = (0..<(T * heads * d)).map { _ in rng.nextFloat() * 2 - 1 }
        let k = (0..<(T * kvHeads * d)).map { _ in (rng.nextFloat() * 2 - 1) * 3 }
        let v = (0..<(T * kvHeads * d)).map { _ in rng.nextFloat() * 2 - 1 }
        let positions = (0..<Int32(T)).map { $0 }
        // Zigzag-like shards of 3 ranks (2 * 3 chunks, rank r holds chunks r and 5 - r), visited in ring order.
        let chunk = (T + 5) / 6
        let shards: [[Int]] = (0..<3).map { r in
            [r, 5 - r].flatMap { c in Array((c * chunk)..<min(T, (c + 1) * chunk)) }
        }
        for (name, scheme) in try schemes(promptLength: T) {
            var whole = [Float](repeating: 0, count: T * heads * d)
            TiledAttention.attend(queries: q, queryPositions: positions, keys: k, values: v, keyPositions: positions,
                                  shape: shape, scheme: scheme, scale: 0.25, window: nil, output: &whole, layer: 3,
                                  queryBlock: 8, keyBlock: 8)
            var merged = AttentionPartial(tokens: T, heads: heads, headDim: d)
            var summed: [AttentionPartial] = []
            for shard in shards.reversed() {
                let shardKeys = shard.flatMap { j in k[(j * kvHeads * d)..<((j + 1) * kvHeads * d)] }
                let shardValues = shard.flatMap { j in v[(j * kvHeads * d)..<((j + 1) * kvHeads * d)] }
                var partial = AttentionPartial(tokens: T, heads: heads, headDim: d)
                AttentionCall.withArrays(queries: q, queryPositions: positions, keys: shardKeys, values: shardValues,
                                  keyPositions: shard.map { Int32($0) }, shape: shape, scheme: scheme, scale: 0.25, window: nil, layer: 3) {
                    TiledAttention.accumulate($0, into: &partial, queryBlock: 5, keyBlock: 6)
                }
                merged.merge(partial)
                summed.append(partial)
            }
            var out = [Float](repeating: .nan, count: T * heads * d)
            merged.finish(into: &out)
            let scale = whole.map(abs).max()!
            XCTAssertLessThan(zip(out, whole).map { abs($0 - $1) }.max()! / scale, 1e-5, "\(name): merge")

            // The allreduce form: rescale every shard to the global maximum, then add sums and accumulators.
            let globalMaxima = (0..<(T * heads)).map { r in summed.map { $0.maxima[r] }.max()! }
            var total = AttentionPartial(tokens: T, heads: heads, headDim: d)
            total.maxima = globalMaxima
            for var p in summed {
                p.rescale(toMaxima: globalMaxima)
                for i in total.sums.indices { total.sums[i] += p.sums[i] }
                for i in total.accumulator.indices { total.accumulator[i] += p.accumulator[i] }
            }
            total.finish(into: &out)
            XCTAssertLessThan(zip(out, whole).map { abs($0 - $1) }.max()! / scale, 1e-5, "\(name): rescale and sum")
        }
    }
}
