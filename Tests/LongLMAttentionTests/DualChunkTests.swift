import XCTest
@testable import LongLMAttention

final class DualChunkTests: XCTestCase {
    func relative(_ s: DualChunk, _ i: Int, _ j: Int) -> Int {
        s.queryPosition(i, variant: s.variant(query: i, key: j)) - j % s.chunkLength
    }

    func testDualChunkPositionsMatchWorkedExampleS6w2() {
        // docs/methods.md §B.6(a): S=6, w=2, c=4, N=12; kinds a=intra, s=successive, e=inter.
        let rel: [[Int]] = [
            [0], [1, 0], [2, 1, 0], [3, 2, 1, 0], [4, 3, 2, 1, 0], [5, 4, 3, 2, 1, 0], [6, 5, 4, 3, 2, 1, 0],
            [6, 5, 4, 3, 3, 2, 1, 0], [6, 5, 4, 3, 4, 3, 2, 1, 0], [6, 5, 4, 3, 5, 4, 3, 2, 1, 0],
            [6, 5, 4, 3, 6, 5, 4, 3, 2, 1, 0], [6, 5, 4, 3, 6, 5, 4, 3, 3, 2, 1, 0]]
        let kinds = ["a", "aa", "aaa", "aaaa", "ssssa", "ssssaa", "ssssaaa", "ssssaaaa",
                     "eeeessssa", "eeeessssaa", "eeeessssaaa", "eeeessssaaaa"]
        let s = DualChunk(chunkSize: 6, localWindow: 2, table: standardTable(d: 8))
        for i in 0..<12 {
            XCTAssertEqual((0...i).map { relative(s, i, $0) }, rel[i], "row \(i)")
            XCTAssertEqual(String((0...i).map { ["a", "s", "e"][s.variant(query: i, key: $0)].first! }), kinds[i], "row \(i)")
        }
        XCTAssertEqual((0..<4).map { s.queryPosition($0, variant: DualChunk.successive) }, [4, 5, 6, 6])
        XCTAssertEqual(s.queryPosition(9, variant: DualChunk.inter), 6)
    }

    func testDualChunkPaperFigureExampleS9w3() {
        // docs/methods.md §B.6(b), rows 6..11.
        let rows: [Int: [Int]] = [6: [6, 5, 4, 3, 2, 1, 0], 7: [7, 6, 5, 4, 3, 2, 1, 0], 8: [8, 7, 6, 5, 4, 3, 2, 1, 0],
                                  9: [9, 8, 7, 6, 5, 4, 3, 2, 1, 0], 10: [9, 8, 7, 6, 5, 4, 4, 3, 2, 1, 0],
                                  11: [9, 8, 7, 6, 5, 4, 5, 4, 3, 2, 1, 0]]
        let s = DualChunk(chunkSize: 9, localWindow: 3, table: standardTable(d: 8))
        for (i, row) in rows { XCTAssertEqual((0...i).map { relative(s, i, $0) }, row, "row \(i)") }
    }

    func testDualChunkLlama2DefaultVectors() {
        XCTAssertTrue(DualChunk.defaults(trainedContext: 4096) == (3072, 512))
        let s = DualChunk(chunkSize: 3072, localWindow: 512, table: standardTable(d: 8))
        XCTAssertEqual(relative(s, 10000, 0), 3072)
        XCTAssertEqual(relative(s, 5200, 5000), 200)
        XCTAssertEqual(relative(s, 5900, 5000), 632)
        XCTAssertEqual(relative(s, 2560, 2559), 1)
        XCTAssertEqual(relative(s, 2560, 0), 2560)
        XCTAssertEqual(relative(s, 5119, 0), 3072)
        XCTAssertEqual(relative(s, 5120, 2559), 513)
    }

    func testTiledDualChunkEqualsNaiveReferenceWithTilesAlignedAndNot() {
        for (S, w, T, qb, kb) in [(6, 2, 37, 4, 4), (6, 2, 37, 5, 7), (9, 3, 50, 8, 16), (12, 4, 61, 3, 11)] {
            let table = standardTable(d: 16)
            let frequencies = table.inverseFrequencies
            let scheme = DualChunk(chunkSize: S, localWindow: w, table: table)
            let c = S - w
            let error = tiledVersusNaive(scheme: scheme, T: T, S: T, queryBlock: qb, keyBlock: kb) { i, j, q, k in
                // docs/methods.md §B.2, straight from the definition.
                let delta = i / c - j / c
                let a = delta == 0 ? i % c : delta == 1 ? min(i % c + c, S) : min(2 * c - 1, S)
                return NaiveAttention.rotatedDot(q, k, queryPosition: Double(a), keyPosition: Double(j % c),
                                                 inverseFrequencies: frequencies, pairing: .halves)
            }
            XCTAssertLessThan(error, 1e-5, "S=\(S) w=\(w) T=\(T) tiles \(qb)x\(kb)")
        }
    }
}
