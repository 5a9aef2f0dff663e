import XCTest
@testable import LongLMModels
import LongLMAttention

final class PrefillWorkTests: XCTestCase {
    func testVisiblePairsMatchACountOfTheCausalMask() {
        for window in [nil, 1, 3, 7] as [Int?] {
            for n in 0..<20 {
                var count = 0
                for i in 0..<n { for j in 0...i where window.map({ i - j < $0 }) ?? true { count += 1 } }
                XCTAssertEqual(PrefillWork.pairs(tokens: n, window: window), Double(count), "n \(n), window \(String(describing: window))")
            }
        }
    }

    func testLayerProgressAtLongContextIsDominatedByTheGlobalLayers() {
        // 129,428 tokens layer by layer: the five sliding layers before the first global one are a small share of
        // the work (under a tenth; counting layers said 5/18 = 28%), and each global layer is more than a quarter.
        let work = PrefillWork(config: TestConfigs.gemma3_270m(), promptLength: 129_428)
        let afterSliding = work.fraction(afterLayers: 5), afterFirstGlobal = work.fraction(afterLayers: 6)
        XCTAssertLessThan(afterSliding, 0.1)
        XCTAssertGreaterThan(afterFirstGlobal - afterSliding, 0.25)
        XCTAssertEqual(work.fraction(afterLayers: 18), 1, accuracy: 1e-12)
        let fractions = (0...18).map { work.fraction(afterLayers: $0) }
        XCTAssertEqual(fractions, fractions.sorted(), "progress never goes back")
        XCTAssertEqual(work.tokens(atFraction: 1), 129_428)
    }

    func testChunkProgressWeighsLaterChunksMore() {
        // One process, chunk by chunk: the second half of a long prompt attends over more keys, so half the tokens
        // is well under half the work; a short prompt is almost linear.
        let long = PrefillWork(config: TestConfigs.gemma3_270m(), promptLength: 131_072)
        XCTAssertLessThan(long.fraction(afterTokens: 65_536), 0.4)
        let short = PrefillWork(config: TestConfigs.gemma3_270m(), promptLength: 1024)
        XCTAssertEqual(short.fraction(afterTokens: 512), 0.5, accuracy: 0.05)
        XCTAssertEqual(long.fraction(afterTokens: 131_072), 1, accuracy: 1e-12)
    }
}
