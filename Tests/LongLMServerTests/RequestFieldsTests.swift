import XCTest
@testable import LongLMServer
import LongLMModels

final class RequestFieldsTests: XCTestCase {
    func fields(_ json: String) throws -> RequestFields { try RequestFields(JSONValue.parse(Array(json.utf8))) }

    func error(_ body: () throws -> Void) -> APIError? {
        do { try body() } catch let e as APIError { return e } catch { XCTFail("not an APIError: \(error)") }
        return nil
    }

    func testTypesAreCheckedAndErrorsNameTheField() throws {
        let f = try fields(#"{"max_tokens": "12", "temperature": 0.5, "stream": 1, "n": 1.5, "stop": null, "longlm": {"group_size": true}}"#)
        XCTAssertEqual(error { _ = try f.int("max_tokens", in: 1...10) }?.param, "max_tokens")
        XCTAssertEqual(try f.double("temperature", in: 0...2), 0.5)
        XCTAssertEqual(error { _ = try f.bool("stream") }?.message, "'stream' must be a boolean, not a number")
        XCTAssertEqual(error { _ = try f.int("n", in: 1...10) }?.message, "'n' must be an integer, not a number")
        XCTAssertNil(try f.string("stop"), "null is absent")
        let longlm = try XCTUnwrap(f.object("longlm"))
        XCTAssertEqual(error { _ = try MethodSettings(name: "none", given: MethodArguments(), logN: false, checksLength: true).applying(longlm) }?.param,
                       "longlm.group_size")
    }

    func testRangesAndUnknownFields() throws {
        let f = try fields(#"{"max_tokens": 0, "tempreature": 1}"#)
        let e = error { _ = try f.int("max_tokens", in: 1...10) }
        XCTAssertEqual(e?.status, 400)
        XCTAssertEqual(e?.message, "'max_tokens' is 0: it must be from 1 to 10")
        XCTAssertEqual(error { try f.rejectUnknown(["max_tokens", "temperature"]) }?.message, "unknown field 'tempreature'")
    }

    func testBodiesThatAreNotJSONObjects() {
        XCTAssertEqual(error { _ = try JSONValue.parse(Array("{\"a\": ".utf8)) }?.status, 400)
        XCTAssertEqual(error { _ = try RequestFields(JSONValue.parse(Array("[1, 2]".utf8))) }?.message,
                       "the body must be a JSON object, not an array")
    }

    func testJSONRoundTripKeepsIntegersWhole() throws {
        let value: JSONValue = ["ids": [1, 2, 262143], "p": 0.25, "s": "a\"b", "t": true, "n": nil]
        XCTAssertEqual(value.text, #"{"ids":[1,2,262143],"n":null,"p":0.25,"s":"a\"b","t":true}"#)
        XCTAssertEqual(try JSONValue.parse(Array(value.text.utf8)), value)
    }

    func longlm(_ json: String) throws -> RequestFields? { try fields(#"{"longlm": "# + json + "}").object("longlm") }

    func testTheLongLMObjectReplacesOrExtendsTheServersMethod() throws {
        let server = MethodSettings(name: "selfextend", given: MethodArguments(["group-size": "4", "window": "512"]), logN: false,
                                    checksLength: true)
        let extended = try server.applying(longlm(#"{"group_size": 8}"#))
        XCTAssertEqual(extended.name, "selfextend")
        XCTAssertEqual(extended.given.values, ["group-size": "8", "window": "512"])
        let replaced = try server.applying(longlm(#"{"method": "yarn", "factor": 2.5, "check_window": false, "logn": true}"#))
        XCTAssertEqual(replaced.name, "yarn")
        XCTAssertEqual(replaced.given.values, ["factor": "2.5"])
        XCTAssertFalse(replaced.checksLength)
        XCTAssertTrue(replaced.logN)
        XCTAssertEqual(error { _ = try server.applying(longlm(#"{"method": "selfextnd"}"#)) }?.param, "longlm.method")
        XCTAssertEqual(error { _ = try server.applying(longlm(#"{"windw": 3}"#)) }?.message, "unknown field 'longlm.windw'")
    }
}
