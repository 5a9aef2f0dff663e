import XCTest
import Foundation
@testable import LongLMDistributed
import LongLMAttention

/// Ring attention and sharded decode with ranks as threads equal the single-process kernel.
final class RingAttentionTests: XCTestCase {
    let heads = 4, kvHeads = 2, d = 16

    func schemes(promptLength: Int) throws -> [(String, any PositionScheme)] {
        func table() -> RotaryTable {
            RotaryTable(dimensions: d, pairing: .halves, inverseFrequencies: RotaryTable.standardFrequencies(base: 10000, dimensions: d))
        }
        return [
            ("rope", RotaryScheme(table: table())),
            ("selfextend", SelfExtend(groupSize: 4, window: 8, table: table())),
            ("dca", DualChunk(chunkSize: 12, localWindow: 4, table: table())),
            ("gali", try GALI(trainedContext: 16, localWindow: 4, chunk: .size(7), promptLength: promptLength,
                              noise: .gaussian, seed: 3, table: table())),
            ("consistent-ntk+logn", LogNScaling(RopeScaling.consistentNTK(factor: 2, originalContext: 16)
                .scheme(base: 10000, dimensions: d, pairing: .halves, promptLength: promptLength), trainedContext: 16)),
        ]
    }

    struct Inputs { let q: [Float]; let k: [Float]; let v: [Float] }

    func inputs(_ n: Int) -> Inputs {
        var state: UInt64 = UInt64(n) &* 2654435761
        func next() -> Float {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Float(state >> 40) / Float(1 << 24) * 2 - 1
        }
        return Inputs(q: (0..<(n * heads * d)).map { _ in next() }, k: (0..<(n * kvHeads * d)).map { _ in next() * 3 },
                      v: (0..<(n * kvHeads * d)).map { _ in next() })
    }

    /// An `AttentionCall` over arrays with this suite's scale, valid inside `body`.
    func withCall<R>(queries: [Float], queryPositions: [Int32], keys: [Float], values: [Float], keyPositions: [Int32],
                     shape: AttentionShape, scheme: any PositionScheme, window: Int?, layer: Int,
                     _ body: (AttentionCall) throws -> R) rethrows -> R {
        try AttentionCall.withArrays(queries: queries, queryPositions: queryPositions, keys: keys, values: values,
                                     keyPositions: keyPositions, shape: shape, scheme: scheme, scale: 0.25, window: window,
                                     layer: layer, body)
    }

    func rows(_ x: [Float], _ positions: [Int32], width: Int) -> [Float] {
        positions.flatMap { p in x[(Int(p) * width)..<((Int(p) + 1) * width)] }
    }

    func testRingPrefillEqualsSingleProcessForEveryScheme() throws {
        let shape = AttentionShape(heads: heads, kvHeads: kvHeads, headDim: d)
        for n in [5, 23, 40] {
            let x = inputs(n)
            let all = (0..<Int32(n)).map { $0 }
            for (name, scheme) in try schemes(promptLength: n) {
                for window in [nil, 6] as [Int?] {
                    var reference = [Float](repeating: 0, count: n * heads * d)
                    TiledAttention.attend(queries: x.q, queryPositions: all, keys: x.k, values: x.v, keyPositions: all, shape: shape,
                                          scheme: scheme, scale: 0.25, window: window, output: &reference, layer: 2)
                    let scale = reference.map(abs).max()!
                    for ranks in [1, 2, 3, 4, 8] {
                        for layout in Layout.allCases {
                            let results = Results(n * heads * d)
                            try LocalCommunicator.run(size: ranks) { comm in
                                let mine = layout.positions(tokens: n, ranks: ranks, rank: comm.rank)
                                let shards = (0..<ranks).map { layout.positions(tokens: n, ranks: ranks, rank: $0) }
                                var out = [Float](repeating: .nan, count: mine.count * self.heads * self.d)
                                let q = self.rows(x.q, mine, width: self.heads * self.d)
                                let k = self.rows(x.k, mine, width: self.kvHeads * self.d), v = self.rows(x.v, mine, width: self.kvHeads * self.d)
                                try self.withCall(queries: q, queryPositions: mine, keys: k, values: v, keyPositions: mine,
                                                  shape: shape, scheme: scheme, window: window, layer: 2) { call in
                                    try out.withUnsafeMutableBufferPointer {
                                        try RingAttention(communicator: comm, stepTimeout: 20).attend(call, shards: shards, output: $0.baseAddress!)
                                    }
                                }
                                results.store(out, positions: mine, width: self.heads * self.d)
                            }
                            XCTAssertFalse(results.values.contains { $0.isNaN }, "a row was not written")
                            let error = zip(results.values, reference).map { abs($0 - $1) }.max()! / scale
                            XCTAssertLessThan(error, 1e-5, "\(name) window \(String(describing: window)) n=\(n) ranks=\(ranks) \(layout)")
                        }
                    }
                }
            }
        }
    }

    /// Bytes sent and received by all ranks together in one layer of a ring prefill over `shards`.
    func bytesMoved(n: Int, shards: [[Int32]], window: Int?) throws -> [Float] {
        let shape = AttentionShape(heads: heads, kvHeads: kvHeads, headDim: d)
        let x = inputs(n)
        let scheme = RotaryScheme(table: RotaryTable(dimensions: d, pairing: .halves,
                                                     inverseFrequencies: RotaryTable.standardFrequencies(base: 10000, dimensions: d)))
        let totals = Results(2)
        try LocalCommunicator.run(size: shards.count) { comm in
            let mine = shards[comm.rank]
            var ring = RingAttention(communicator: comm, stepTimeout: 20)
            let statistics = RingStatistics()
            ring.statistics = statistics
            var out = [Float](repeating: 0, count: mine.count * self.heads * self.d)
            try self.withCall(queries: self.rows(x.q, mine, width: self.heads * self.d), queryPositions: mine,
                              keys: self.rows(x.k, mine, width: self.kvHeads * self.d), values: self.rows(x.v, mine, width: self.kvHeads * self.d),
                              keyPositions: mine, shape: shape, scheme: scheme, window: window, layer: 5) { call in
                try out.withUnsafeMutableBufferPointer { try ring.attend(call, shards: shards, output: $0.baseAddress!) }
            }
            let layer = statistics.layers[5]!
            totals.add([Float(layer.bytesSent), Float(layer.bytesReceived)])
        }
        return totals.values
    }

    func testBytesMovedPerLayerEqualTheFormula() throws {
        let n = 29
        for ranks in [2, 3, 4] {
            let shards = (0..<ranks).map { Layout.zigzag.positions(tokens: n, ranks: ranks, rank: $0) }
            let expected = Float(RingStatistics.expectedBytesPerLayer(tokens: n, ranks: ranks, width: kvHeads * d))
            XCTAssertEqual(try bytesMoved(n: n, shards: shards, window: nil), [expected, expected], "ranks=\(ranks)")
        }
    }

    /// Sliding-window layers send each rank only the keys its queries see: the bytes equal a brute-force count
    /// of (key, receiving rank) pairs within the window, far below the full ring for long shards.
    func testSlidingWindowLayersMoveOnlyTheKeysInsideTheWindow() throws {
        for (n, ranks, window, layout) in [(400, 4, 16, Layout.zigzag), (400, 3, 16, .contiguous), (29, 4, 6, .zigzag), (7, 4, 3, .zigzag)] {
            let shards = (0..<ranks).map { layout.positions(tokens: n, ranks: ranks, rank: $0) }
            var pairs = 0
            for r in 0..<ranks {
                for s in 0..<ranks where s != r {
                    pairs += shards[r].filter { j in shards[s].contains { i in i >= j && Int(i - j) < window } }.count
                }
            }
            let moved = try bytesMoved(n: n, shards: shards, window: window)
            let expected = Float(pairs * (4 + 8 * kvHeads * d))
            XCTAssertEqual(moved, [expected, expected], "n=\(n) ranks=\(ranks) window=\(window) \(layout)")
            if n == 400 {
                XCTAssertLessThan(moved[0], 0.1 * Float(RingStatistics.expectedBytesPerLayer(tokens: n, ranks: ranks, width: kvHeads * d)))
            }
        }
    }

    func testShardedDecodeEqualsSingleProcessForEveryScheme() throws {
        let shape = AttentionShape(heads: heads, kvHeads: kvHeads, headDim: d)
        let n = 37   // keys 0..<37; the decoded token is the last one
        let x = inputs(n)
        let all = (0..<Int32(n)).map { $0 }
        for (name, scheme) in try schemes(promptLength: n - 1) {
            var reference = [Float](repeating: 0, count: heads * d)
            let q = Array(x.q[((n - 1) * heads * d)...])
            TiledAttention.attend(queries: q, queryPositions: [Int32(n - 1)], keys: x.k, values: x.v, keyPositions: all, shape: shape,
                                  scheme: scheme, scale: 0.25, window: nil, output: &reference, layer: 1)
            for ranks in [1, 2, 3, 4, 8] {
                let results = Results(heads * d)
                try LocalCommunicator.run(size: ranks) { comm in
                    let mine = Layout.zigzag.positions(tokens: n, ranks: ranks, rank: comm.rank)
                    var out = [Float](repeating: .nan, count: self.heads * self.d)
                    try self.withCall(queries: q, queryPositions: [Int32(n - 1)], keys: self.rows(x.k, mine, width: self.kvHeads * self.d),
                                      values: self.rows(x.v, mine, width: self.kvHeads * self.d), keyPositions: mine,
                                      shape: shape, scheme: scheme, window: nil, layer: 1) { call in
                        try out.withUnsafeMutableBufferPointer {
                            try ShardedDecode.attend(call, communicator: comm, timeout: 20, output: $0.baseAddress!)
                        }
                    }
                    if comm.rank == ranks - 1 { results.store(out, positions: [0], width: self.heads * self.d) }
                }
                XCTAssertFalse(results.values.contains { $0.isNaN }, "a row was not written")
                let error = zip(results.values, reference).map { abs($0 - $1) }.max()! / reference.map(abs).max()!
                XCTAssertLessThan(error, 1e-5, "\(name) ranks=\(ranks)")
            }
        }
    }
}

/// Rows written by rank threads into one array.
final class Results: @unchecked Sendable {
    private let lock = NSLock()
    var values: [Float]
    init(_ count: Int) { values = [Float](repeating: .nan, count: count) }
    /// Adds element-wise (NaN entries start at 0).
    func add(_ more: [Float]) {
        lock.lock(); defer { lock.unlock() }
        for i in more.indices { values[i] = (values[i].isNaN ? 0 : values[i]) + more[i] }
    }
    func store(_ rows: [Float], positions: [Int32], width: Int) {
        lock.lock(); defer { lock.unlock() }
        for (i, p) in positions.enumerated() {
            for c in 0..<width { values[Int(p) * width + c] = rows[i * width + c] }
        }
    }
}
