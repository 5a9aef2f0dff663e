import XCTest
@testable import LongLMAttention
import Foundation

final class LogNScalingTests: XCTestCase {
    func testLogNFactorVectors() {
        // docs/methods.md §C.5, L0 = 2048.
        XCTAssertEqual(LogNScaling.factor(position: 2047, trainedContext: 2048), 1)
        XCTAssertEqual(LogNScaling.factor(position: 100, trainedContext: 2048), 1)
        XCTAssertEqual(LogNScaling.factor(position: 4095, trainedContext: 2048), 1.0909, accuracy: 1e-4)
        XCTAssertEqual(LogNScaling.factor(position: 8191, trainedContext: 2048), 1.1818, accuracy: 1e-4)
    }

    func testLogNComposedWithPlainRoPEAndSelfExtendEqualsNaiveReference() {
        let L = 16
        for (G, W) in [(1, 0), (2, 8)] {
            let table = standardTable(d: 16)
            let frequencies = table.inverseFrequencies
            let base: any PositionScheme = G == 1 ? RotaryScheme(table: table) : SelfExtend(groupSize: G, window: W, table: table)
            let error = tiledVersusNaive(scheme: LogNScaling(base, trainedContext: L), T: 45, S: 45, queryBlock: 7, keyBlock: 10) { i, j, q, k in
                let (a, b) = G == 1 || i - j < W ? (i, j) : (i / G + W - W / G, j / G)
                let logn = max(1, log(Double(i + 1)) / log(Double(L)))
                return logn * NaiveAttention.rotatedDot(q, k, queryPosition: Double(a), keyPosition: Double(b),
                                                        inverseFrequencies: frequencies, pairing: .halves)
            }
            XCTAssertLessThan(error, 1e-5, "G=\(G)")
        }
    }
}
