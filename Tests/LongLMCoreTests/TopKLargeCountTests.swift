import XCTest
@testable import LongLMCore

final class TopKLargeCountTests: XCTestCase {
    /// The slow, obvious answer: every index ordered by value (descending), ties by index.
    func reference(_ values: [Float], _ k: Int) -> [Int32] {
        Array(values.indices.sorted { values[$0] > values[$1] || (values[$0] == values[$1] && $0 < $1) }.prefix(k).map(Int32.init))
    }

    func testEveryKGivesTheSortedOrderWithTiesByIndex() {
        var generator = SplitMix64(seed: 5)
        // Few distinct values, so ties are everywhere; a length on both sides of the sort threshold.
        let values = (0..<3000).map { _ in Float(generator.next() % 40) - 20 }
        values.withUnsafeBufferPointer { row in
            for k in [1, 2, 40, TopK.sortAbove, TopK.sortAbove + 1, 1000, 3000, 5000] {
                XCTAssertEqual(TopK.indices(row, count: k), reference(values, k), "k = \(k)")
            }
        }
    }
}
