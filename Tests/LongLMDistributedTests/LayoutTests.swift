import XCTest
@testable import LongLMDistributed

final class LayoutTests: XCTestCase {
    func testEveryLayoutCoversEveryPositionExactlyOnceWithBalancedShards() {
        for layout in Layout.allCases {
            for ranks in [1, 2, 3, 4, 8] {
                for n in [0, 1, 3, 7, 15, 16, 17, 100, 1001] {
                    let shards = (0..<ranks).map { layout.positions(tokens: n, ranks: ranks, rank: $0) }
                    XCTAssertEqual(shards.flatMap { $0 }.sorted(), (0..<Int32(n)).map { $0 }, "\(layout) n=\(n) ranks=\(ranks)")
                    let sizes = shards.map(\.count)
                    XCTAssertLessThanOrEqual(sizes.max()! - sizes.min()!, layout == .zigzag ? 2 : 1, "\(layout) n=\(n) ranks=\(ranks)")
                    for s in shards { XCTAssertEqual(s, s.sorted()) }
                }
            }
        }
    }

    func testZigzagGivesRankRChunksRAnd2NMinus1MinusR() {
        // 16 tokens, 4 ranks: 8 chunks of 2.
        XCTAssertEqual(Layout.zigzag.positions(tokens: 16, ranks: 4, rank: 0), [0, 1, 14, 15])
        XCTAssertEqual(Layout.zigzag.positions(tokens: 16, ranks: 4, rank: 1), [2, 3, 12, 13])
        XCTAssertEqual(Layout.zigzag.positions(tokens: 16, ranks: 4, rank: 3), [6, 7, 8, 9])
        XCTAssertEqual(Layout.contiguous.positions(tokens: 10, ranks: 3, rank: 0), [0, 1, 2, 3])
        XCTAssertEqual(Layout.zigzag.positions(tokens: 3, ranks: 4, rank: 3), [])
    }
}
