import XCTest
@testable import LongLMAttention
import LongLMCore

final class TiledAttentionTests: XCTestCase {
    struct Case { let T: Int; let S: Int; let heads: Int; let kvHeads: Int; let d: Int; let window: Int?; let qBlock: Int; let kBlock: Int }

    func randomArray(_ n: Int, _ rng: inout SplitMix) -> [Float] { (0..<n).map { _ in rng.nextFloat() * 2 - 1 } }

    /// Tiled result vs the full-matrix reference; returns max |diff| / max |reference|.
    func relativeError(_ c: Case, pairing: RotaryPairing, queryPositionsStart: Int? = nil, shuffleKeys: Bool = false) -> Double {
        var rng = SplitMix(seed: UInt64(c.T * 1000 + c.S))
        let shape = AttentionShape(heads: c.heads, kvHeads: c.kvHeads, headDim: c.d)
        let q = randomArray(c.T * c.heads * c.d, &rng)
        let k = randomArray(c.S * c.kvHeads * c.d, &rng).map { $0 * 3 }   // sharper softmax
        let v = randomArray(c.S * c.kvHeads * c.d, &rng)
        var keyPositions = (0..<Int32(c.S)).map { $0 }
        if shuffleKeys { keyPositions.shuffle(using: &rng) }
        let start = Int32(queryPositionsStart ?? (c.S - c.T))
        let queryPositions = (0..<Int32(c.T)).map { start + $0 }
        let frequencies = RotaryTable.standardFrequencies(base: 10000, dimensions: c.d)
        let table = RotaryTable(dimensions: c.d, pairing: pairing, inverseFrequencies: frequencies)
        let scale = 1 / Float(c.d).squareRoot()
        var out = [Float](repeating: .nan, count: c.T * c.heads * c.d)
        TiledAttention.attend(queries: q, queryPositions: queryPositions, keys: k, values: v, keyPositions: keyPositions,
                              shape: shape, scheme: RotaryScheme(table: table), scale: scale, window: c.window, output: &out,
                              queryBlock: c.qBlock, keyBlock: c.kBlock)
        let reference = NaiveAttention.attend(queries: q, queryPositions: queryPositions, keys: k, values: v,
                                              keyPositions: keyPositions, shape: shape, window: c.window) { i, j, q, k in
            Double(scale) * NaiveAttention.rotatedDot(q, k, queryPosition: Double(i), keyPosition: Double(j),
                                                      inverseFrequencies: frequencies, pairing: pairing)
        }
        let maxRef = reference.map { abs(Double($0)) }.max()!
        let maxDiff = zip(out, reference).map { abs(Double($0) - Double($1)) }.max()!
        XCTAssertFalse(out.contains { $0.isNaN }, "output has NaN (an unwritten row?)")
        return maxDiff / maxRef
    }

    func testTiledAttentionMatchesFullMatrixReferenceForPrefill() {
        for c in [Case(T: 37, S: 37, heads: 4, kvHeads: 2, d: 16, window: nil, qBlock: 8, kBlock: 16),
                  Case(T: 64, S: 64, heads: 2, kvHeads: 2, d: 8, window: nil, qBlock: 16, kBlock: 16),
                  Case(T: 51, S: 51, heads: 4, kvHeads: 1, d: 32, window: nil, qBlock: 7, kBlock: 13)] {
            XCTAssertLessThan(relativeError(c, pairing: .halves), 1e-5, "\(c)")
            XCTAssertLessThan(relativeError(c, pairing: .adjacent), 1e-5, "\(c)")
        }
    }

    func testTiledAttentionMatchesReferenceWithSlidingWindowThatTilesDoNotDivide() {
        for c in [Case(T: 45, S: 45, heads: 2, kvHeads: 1, d: 16, window: 10, qBlock: 8, kBlock: 16),
                  Case(T: 33, S: 33, heads: 4, kvHeads: 2, d: 8, window: 7, qBlock: 5, kBlock: 3)] {
            XCTAssertLessThan(relativeError(c, pairing: .halves), 1e-5, "\(c)")
        }
    }

    func testTiledAttentionMatchesReferenceForDecodeAndChunkedQueries() {
        // One query (decode) and a chunk of queries against a longer cache.
        XCTAssertLessThan(relativeError(Case(T: 1, S: 70, heads: 4, kvHeads: 2, d: 16, window: nil, qBlock: 4, kBlock: 32), pairing: .halves), 1e-5)
        XCTAssertLessThan(relativeError(Case(T: 9, S: 70, heads: 4, kvHeads: 2, d: 16, window: 20, qBlock: 4, kBlock: 32), pairing: .halves), 1e-5)
    }

    func testDecodeSplitAcrossKeyBlocksMatchesReference() {
        // One query token and one kv head give fewer work items than threads, so the keys are split and each
        // split's partial is merged; with 4 threads the 300 keys in blocks of 16 make 16 splits.
        let saved = Parallel.threads
        Parallel.threads = 4
        defer { Parallel.threads = saved }
        XCTAssertLessThan(relativeError(Case(T: 1, S: 300, heads: 3, kvHeads: 1, d: 16, window: nil, qBlock: 4, kBlock: 16), pairing: .halves), 1e-5)
        XCTAssertLessThan(relativeError(Case(T: 2, S: 300, heads: 2, kvHeads: 1, d: 8, window: 40, qBlock: 4, kBlock: 16), pairing: .adjacent), 1e-5)
        XCTAssertLessThan(relativeError(Case(T: 1, S: 300, heads: 2, kvHeads: 1, d: 8, window: nil, qBlock: 4, kBlock: 16),
                                        pairing: .halves, shuffleKeys: true), 1e-5)
    }

    func testDecodeWithMoreKVHeadsThanThreadsButNotAMultipleSplitsTheKeys() {
        // 3 kv heads on 2 threads: 2 key splits make 6 equal items (before, one thread took two heads).
        XCTAssertEqual(TiledAttention.keySplits(pairs: 3, threads: 2), 2)
        XCTAssertEqual(TiledAttention.keySplits(pairs: 1, threads: 2), 8)
        XCTAssertEqual(TiledAttention.keySplits(pairs: 2, threads: 2), 1)
        XCTAssertEqual(TiledAttention.keySplits(pairs: 5, threads: 4), 4)
        XCTAssertEqual(TiledAttention.keySplits(pairs: 48, threads: 2), 1, "prefill: many query blocks")
        XCTAssertEqual(TiledAttention.keySplits(pairs: 3, threads: 1), 1)
        for pairs in 1...20 {
            for threads in 1...8 {
                let s = TiledAttention.keySplits(pairs: pairs, threads: threads)
                XCTAssertGreaterThanOrEqual(s, 1)
                if s > 1 { XCTAssertEqual((pairs * s) % threads, 0, "pairs \(pairs) threads \(threads)") }
            }
        }
        let saved = Parallel.threads
        Parallel.threads = 2
        defer { Parallel.threads = saved }
        XCTAssertLessThan(relativeError(Case(T: 1, S: 300, heads: 6, kvHeads: 3, d: 16, window: nil, qBlock: 4, kBlock: 16), pairing: .halves), 1e-5)
    }

    func testPretransformedKeysGiveExactlyTheKernelsOwnTransform() {
        // A decode cache hands the kernel keys it transformed when they were cached; the output is bit for bit the
        // output of the kernel transforming them itself, for a two-class scheme (SelfExtend) and a plain one.
        var rng = SplitMix(seed: 11)
        let d = 16, kvHeads = 2, S = 150, T = 3
        let shape = AttentionShape(heads: 4, kvHeads: kvHeads, headDim: d)
        let q = randomArray(T * 4 * d, &rng), k = randomArray(S * kvHeads * d, &rng), v = randomArray(S * kvHeads * d, &rng)
        let keyPositions = (0..<Int32(S)).map { $0 }, queryPositions = (0..<Int32(T)).map { Int32(S - T) + $0 }
        let table = standardTable(d: d)
        for scheme in [SelfExtend(groupSize: 4, window: 16, table: table), RotaryScheme(table: table)] as [any PositionScheme] {
            scheme.prepare(maxPosition: S)
            let classes = scheme.fixedKeyClasses!
            // Class c's rows at offset c * rowsPerClass of one array.
            let rowsPerClass = S * kvHeads * d
            var transformed = [Float](repeating: 0, count: classes.count * rowsPerClass)
            transformed.withUnsafeMutableBufferPointer { out in
                k.withUnsafeBufferPointer { raw in
                    for (c, cls) in classes.enumerated() {
                        for j in 0..<S {
                            for g in 0..<kvHeads {
                                scheme.transformKey(raw.baseAddress! + (j * kvHeads + g) * d, position: j, keyClass: cls,
                                                    into: out.baseAddress! + c * rowsPerClass + (j * kvHeads + g) * d)
                            }
                        }
                    }
                }
            }
            var plain = [Float](repeating: .nan, count: T * 4 * d), given = plain
            TiledAttention.attend(queries: q, queryPositions: queryPositions, keys: k, values: v, keyPositions: keyPositions,
                                  shape: shape, scheme: scheme, scale: 0.25, window: nil, output: &plain, queryBlock: 2, keyBlock: 32)
            AttentionCall.withArrays(queries: q, queryPositions: queryPositions, keys: k, values: v, keyPositions: keyPositions,
                                     shape: shape, scheme: scheme, scale: 0.25, window: nil) { call in
                transformed.withUnsafeBufferPointer { rows in
                    var call = call
                    call.keys.transformed = PretransformedKeys(classes: Dictionary(uniqueKeysWithValues: classes.enumerated().map {
                        ($0.element, rows.baseAddress! + $0.offset * rowsPerClass)
                    }))
                    given.withUnsafeMutableBufferPointer { TiledAttention.attend(call, output: $0.baseAddress!, queryBlock: 2, keyBlock: 32) }
                }
            }
            XCTAssertEqual(plain, given, scheme.name)

            // The same keys head-major (a decode cache's layout: each kv head's keys contiguous, `capacity` keys
            // apart), also split into two blocks as a sharded cache hands them over.
            let capacity = S + 10
            var headMajor = [Float](repeating: .nan, count: classes.count * kvHeads * capacity * d)
            for c in 0..<classes.count {
                for j in 0..<S {
                    for g in 0..<kvHeads {
                        for i in 0..<d {
                            headMajor[(c * kvHeads + g) * capacity * d + j * d + i] = transformed[c * rowsPerClass + (j * kvHeads + g) * d + i]
                        }
                    }
                }
            }
            var fromHeadMajor = plain
            AttentionCall.withArrays(queries: q, queryPositions: queryPositions, keys: k, values: v, keyPositions: keyPositions,
                                     shape: shape, scheme: scheme, scale: 0.25, window: nil) { call in
                headMajor.withUnsafeBufferPointer { keys in
                    var call = call
                    call.keys.transformed = PretransformedKeys(
                        classes: Dictionary(uniqueKeysWithValues: classes.enumerated().map {
                            ($0.element, UnsafeRawPointer(keys.baseAddress! + $0.offset * kvHeads * capacity * d))
                        }), type: .f32, layout: .headMajor(headDim: d, headStride: capacity * d))
                    var partial = AttentionPartial(tokens: T, heads: 4, headDim: d)
                    for range in [0..<70, 70..<S] {
                        TiledAttention.accumulate(call.over(call.keys.rows(range)), into: &partial, queryBlock: 2, keyBlock: 32)
                    }
                    fromHeadMajor.withUnsafeMutableBufferPointer { partial.finish(into: $0.baseAddress!) }
                }
            }
            XCTAssertLessThan(zip(plain, fromHeadMajor).map { abs($0 - $1) }.max()!, 1e-5, "\(scheme.name) head-major")
        }
    }

    func testKeyOrderDoesNotChangeTheResult() {
        // Masking is by position, so shuffled keys (as a ring delivers them) give the same answer.
        XCTAssertLessThan(relativeError(Case(T: 30, S: 30, heads: 2, kvHeads: 1, d: 16, window: 9, qBlock: 8, kBlock: 8),
                                        pairing: .halves, shuffleKeys: true), 1e-5)
    }

    func testFullyMaskedRowsGiveZerosNotNaN() {
        // Queries at positions before every key see nothing.
        let shape = AttentionShape(heads: 1, kvHeads: 1, headDim: 4)
        let table = RotaryTable(dimensions: 4, pairing: .halves, inverseFrequencies: RotaryTable.standardFrequencies(base: 10000, dimensions: 4))
        var out = [Float](repeating: .nan, count: 2 * 4)
        TiledAttention.attend(queries: [Float](repeating: 1, count: 8), queryPositions: [0, 1],
                              keys: [Float](repeating: 1, count: 8), values: [Float](repeating: 1, count: 8), keyPositions: [5, 6],
                              shape: shape, scheme: RotaryScheme(table: table), scale: 1, window: nil, output: &out)
        XCTAssertEqual(out, [Float](repeating: 0, count: 8))
    }

    func testMergingTwoPartialStatesEqualsOneStateOverAllKeys() {
        var rng = SplitMix(seed: 7)
        let rows = 3, d = 4, n = 10
        let scores = randomArray(rows * n, &rng).map { $0 * 5 }
        let values = randomArray(n * d, &rng)
        var whole = SoftmaxState(rows: rows, headDim: d)
        var s = scores
        s.withUnsafeMutableBufferPointer { whole.absorb(scores: $0.baseAddress!, keyCount: n, values: values, valueStride: d) }
        var first = SoftmaxState(rows: rows, headDim: d), second = SoftmaxState(rows: rows, headDim: d)
        var a = (0..<rows).flatMap { r in scores[(r * n)..<(r * n + 4)] }
        var b = (0..<rows).flatMap { r in scores[(r * n + 4)..<(r * n + n)] }
        a.withUnsafeMutableBufferPointer { first.absorb(scores: $0.baseAddress!, keyCount: 4, values: values, valueStride: d) }
        b.withUnsafeMutableBufferPointer { second.absorb(scores: $0.baseAddress!, keyCount: 6, values: Array(values[(4 * d)...]), valueStride: d) }
        first.merge(second)
        var x: [Float] = [], y: [Float] = []
        whole.finish { _, row in x += UnsafeBufferPointer(start: row, count: d) }
        first.finish { _, row in y += UnsafeBufferPointer(start: row, count: d) }
        for (p, q) in zip(x, y) { XCTAssertEqual(p, q, accuracy: 1e-6) }
    }
}

/// Deterministic test randomness (Core's SplitMix64).
typealias SplitMix = SplitMix64

extension SplitMix64 {
    mutating func nextFloat() -> Float { Float(next() >> 40) / Float(1 << 24) }
}
