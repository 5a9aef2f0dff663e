import XCTest
@testable import LongLMDistributed

final class CommunicationErrorTests: XCTestCase {
    func testTimeoutMessageNamesThePeer() {
        XCTAssertTrue("\(CommunicationError.timeout(operation: "ring exchange", peer: 3, seconds: 30))".contains("rank 3"))
    }
}
