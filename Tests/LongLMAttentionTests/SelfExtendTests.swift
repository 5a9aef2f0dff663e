import XCTest
@testable import LongLMAttention

final class SelfExtendTests: XCTestCase {
    /// rel(i, j) = Pq(i) - Pk(j) of the variant the pair uses.
    func relative(_ s: SelfExtend, _ i: Int, _ j: Int) -> Int {
        s.variant(query: i, key: j) == SelfExtend.neighbour ? i - j : s.groupedQueryPosition(i) - s.groupedKeyPosition(j)
    }

    func testSelfExtendPositionsMatchWorkedExampleW4G2N12() {
        // docs/methods.md §A.10, rows of the lower triangle.
        let table: [[Int]] = [
            [0], [1, 0], [2, 1, 0], [3, 2, 1, 0], [4, 3, 2, 1, 0], [4, 4, 3, 2, 1, 0], [5, 5, 4, 3, 2, 1, 0],
            [5, 5, 4, 4, 3, 2, 1, 0], [6, 6, 5, 5, 4, 3, 2, 1, 0], [6, 6, 5, 5, 4, 4, 3, 2, 1, 0],
            [7, 7, 6, 6, 5, 5, 4, 3, 2, 1, 0], [7, 7, 6, 6, 5, 5, 4, 4, 3, 2, 1, 0]]
        let s = SelfExtend(groupSize: 2, window: 4, table: standardTable(d: 8))
        for i in 0..<12 { XCTAssertEqual((0...i).map { relative(s, i, $0) }, table[i], "row \(i)") }
        XCTAssertEqual((0..<12).map(s.groupedQueryPosition), [2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7])
        XCTAssertEqual((0..<12).map(s.groupedKeyPosition), [0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5])
        XCTAssertEqual(SelfExtend.maximumLength(trainedContext: 8, groupSize: 2, window: 4), 12)
    }

    func testSelfExtendScalarVectorsW1024G8() {
        let s = SelfExtend(groupSize: 8, window: 1024, table: standardTable(d: 8))
        XCTAssertEqual(relative(s, 25599, 0), 4095)
        XCTAssertEqual(relative(s, 5000, 3977), 1023)
        XCTAssertEqual(relative(s, 5000, 3976), 1024)
        XCTAssertEqual(relative(s, 5000, 0), 1521)
        XCTAssertEqual(relative(s, 1024, 0), 1024)
        XCTAssertEqual(SelfExtend.maximumLength(trainedContext: 4096, groupSize: 8, window: 1024), 25600)
        XCTAssertEqual(SelfExtend.maximumLength(trainedContext: 4096, groupSize: 16, window: 512), 57856)
    }

    func testTileClassifierNeedsBothVariantsOnlyOnTheBand() {
        let s = SelfExtend(groupSize: 4, window: 64, table: standardTable(d: 8))
        XCTAssertEqual(s.variants(queries: 100...131, keys: 80...99), [SelfExtend.neighbour])
        XCTAssertEqual(s.variants(queries: 200...231, keys: 0...99), [SelfExtend.grouped])
        XCTAssertEqual(s.variants(queries: 100...131, keys: 40...79), [SelfExtend.neighbour, SelfExtend.grouped])
    }

    func testTiledSelfExtendEqualsNaiveReference() {
        for (G, W, T, qb, kb) in [(2, 4, 37, 8, 16), (4, 8, 53, 7, 13), (4, 16, 64, 16, 16), (8, 8, 41, 5, 9)] {
            let table = standardTable(d: 16)
            let frequencies = table.inverseFrequencies
            let scheme = SelfExtend(groupSize: G, window: W, table: table)
            let error = tiledVersusNaive(scheme: scheme, T: T, S: T, queryBlock: qb, keyBlock: kb) { i, j, q, k in
                // docs/methods.md §A.2, straight from the definition.
                let (a, b) = i - j < W ? (i, j) : (i / G + W - W / G, j / G)
                return NaiveAttention.rotatedDot(q, k, queryPosition: Double(a), keyPosition: Double(b),
                                                 inverseFrequencies: frequencies, pairing: .halves)
            }
            XCTAssertLessThan(error, 1e-5, "G=\(G) W=\(W) T=\(T) tiles \(qb)x\(kb)")
        }
    }

    func testTiledSelfExtendDecodeRowEqualsNaiveReference() {
        let table = standardTable(d: 16)
        let frequencies = table.inverseFrequencies
        let scheme = SelfExtend(groupSize: 4, window: 8, table: table)
        let error = tiledVersusNaive(scheme: scheme, T: 1, S: 45, queryBlock: 4, keyBlock: 16) { i, j, q, k in
            let (a, b) = i - j < 8 ? (i, j) : (i / 4 + 8 - 2, j / 4)
            return NaiveAttention.rotatedDot(q, k, queryPosition: Double(a), keyPosition: Double(b),
                                             inverseFrequencies: frequencies, pairing: .halves)
        }
        XCTAssertLessThan(error, 1e-5)
    }
}
