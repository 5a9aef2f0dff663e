import XCTest
import Foundation
@testable import LongLMEval

final class JSONLinesTests: XCTestCase {
    func testTornLastLineIsDroppedAndCompleteRecordsSurvive() throws {
        let path = NSTemporaryDirectory() + "longlm-jsonl-\(UUID().uuidString).jsonl"
        defer { try? FileManager.default.removeItem(atPath: path) }
        try Data("{\"id\":\"a\"}\n{\"id\":\"b\"}\n{\"id\":\"c\",\"te".utf8).write(to: URL(fileURLWithPath: path))
        let writer = try JSONLinesWriter(path: path)
        try writer.append(["id": "d"])
        XCTAssertEqual(try JSONLinesWriter.read(path: path).objects.compactMap { $0["id"] as? String }, ["a", "b", "d"])
        XCTAssertEqual(String(decoding: try Data(contentsOf: URL(fileURLWithPath: path)), as: UTF8.self).last, "\n")
    }
}
