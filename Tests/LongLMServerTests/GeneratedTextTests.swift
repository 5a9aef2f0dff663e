import XCTest
@testable import LongLMServer

final class GeneratedTextTests: XCTestCase {
    func released(_ pieces: [String], stops: [String]) -> (chunks: [String], text: String, stopped: Bool) {
        var text = GeneratedText(stops: stops)
        var chunks = pieces.map { text.add(Array($0.utf8)) }
        chunks.append(text.finish())
        return (chunks, text.text, text.stopped)
    }

    func testTextWithoutStopsIsReleasedAsItComes() {
        let r = released([" Paris", " is", " nice"], stops: [])
        XCTAssertEqual(r.chunks, [" Paris", " is", " nice", ""])
        XCTAssertEqual(r.text, " Paris is nice")
        XCTAssertFalse(r.stopped)
    }

    func testAStopStringSpanningTokensEndsTheTextBeforeIt() {
        let r = released(["Answer: 42", "\n\n", "Question", ": next"], stops: ["\n\nQuestion"])
        XCTAssertEqual(r.text, "Answer: 42")
        XCTAssertTrue(r.stopped)
        // "\n\n" could start the stop string, so it is held back and never released.
        XCTAssertEqual(r.chunks.joined(), "Answer: 42")
        XCTAssertEqual(r.chunks[0], "Answer: 42")
        XCTAssertEqual(r.chunks[1], "")
    }

    func testHeldBackTextIsReleasedWhenItTurnsOutNotToBeAStop() {
        let r = released(["a", "\n", "b"], stops: ["\nQ"])
        XCTAssertEqual(r.chunks, ["a", "", "\nb", ""])
        XCTAssertFalse(r.stopped)
    }

    func testTheEarliestOfSeveralStopsWins() {
        let r = released(["x END y STOP"], stops: ["STOP", "END"])
        XCTAssertEqual(r.text, "x ")
        XCTAssertTrue(r.stopped)
    }

    func testAStopInsideOneTokenAndNothingAfterIt() {
        var text = GeneratedText(stops: ["."])
        XCTAssertEqual(text.add(Array("Paris. The".utf8)), "Paris")
        XCTAssertEqual(text.add(Array(" end".utf8)), "")
        XCTAssertEqual(text.finish(), "")
        XCTAssertTrue(text.stopped)
    }

    func testAMultiByteCharacterSplitAcrossTokensIsReleasedWhole() {
        let euro = Array("€".utf8)   // 3 bytes
        var text = GeneratedText(stops: [])
        XCTAssertEqual(text.add([UInt8(ascii: "a")] + euro.prefix(1)), "a")
        XCTAssertEqual(text.add(Array(euro[1..<2])), "")
        XCTAssertEqual(text.add(Array(euro[2...]) + [UInt8(ascii: "b")]), "€b")
        XCTAssertEqual(text.text, "a€b")
    }

    func testInvalidBytesAtTheEndAreReleasedByFinish() {
        var text = GeneratedText(stops: [])
        XCTAssertEqual(text.add([0x61, 0xE2, 0x82]), "a")
        XCTAssertEqual(text.finish(), "\u{FFFD}")
    }
}
