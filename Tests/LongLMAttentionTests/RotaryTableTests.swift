import XCTest
@testable import LongLMAttention

/// How a rotary table grows: by an eighth at a time (decode adds one position per step), never by doubling,
/// and rows computed in any order of growth equal rows of a table built at once.
final class RotaryTableTests: XCTestCase {
    func testTableGrowsByAnEighthAndKeepsEveryRow() {
        let frequencies = RotaryTable.standardFrequencies(base: 10_000, dimensions: 8)
        let grown = RotaryTable(dimensions: 8, pairing: .halves, inverseFrequencies: frequencies)
        grown.reserve(positions: 10)
        XCTAssertEqual(grown.positionCount, 1024, "the smallest table")
        grown.reserve(positions: 8_000)
        XCTAssertEqual(grown.positionCount, 8_000, "a large request is met exactly")
        grown.reserve(positions: 8_001)
        XCTAssertEqual(grown.positionCount, 9_000, "one more position grows the table by an eighth")
        grown.reserve(positions: 8_500)
        XCTAssertEqual(grown.positionCount, 9_000, "positions already tabulated change nothing")

        let once = RotaryTable(dimensions: 8, pairing: .halves, inverseFrequencies: frequencies)
        once.reserve(positions: 9_000)
        XCTAssertEqual(grown.cosines, once.cosines)
        XCTAssertEqual(grown.sines, once.sines)
    }
}
