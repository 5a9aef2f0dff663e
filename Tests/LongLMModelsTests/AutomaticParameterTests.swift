import XCTest
@testable import LongLMModels

/// Parameters left out that the sequence length decides: the smallest setting that fits.
final class AutomaticParameterTests: XCTestCase {
    let config = TestConfigs.gemma3_270m()   // trained context 32,768

    func testSelfExtendChoosesTheSmallestGroupThatFitsWithTheDefaultWindow() throws {
        for tokens in [1000, 32_768, 40_000, 100_000, 300_000] {
            let (method, chosen) = try ContextMethod.fitted(name: "selfextend", given: MethodArguments(), config: config, tokens: tokens)
            let G = try XCTUnwrap(Int(try XCTUnwrap(chosen["group-size"])), "\(tokens)")
            XCTAssertGreaterThanOrEqual(try XCTUnwrap(method.maximumLength(config: config)), tokens, "\(tokens)")
            if G > 1 {
                let smaller = SelfExtendMethod(groupSize: G - 1, window: SelfExtendMethod.defaultWindow(trainedContext: 32_768, groupSize: G - 1))
                XCTAssertLessThan(try XCTUnwrap(smaller.maximumLength(config: config)), tokens, "G - 1 would fit \(tokens)")
            }
        }
        // Inside the trained context the smallest group is 1: plain attention.
        XCTAssertEqual(try ContextMethod.fitted(name: "selfextend", given: MethodArguments(), config: config, tokens: 1000).chosen,
                       ["group-size": "1"])
    }

    func testSelfExtendKeepsTheUsersWindowAndTheUsersGroup() throws {
        let withWindow = try ContextMethod.fitted(name: "selfextend", given: MethodArguments(["window": "1024"]), config: config,
                                                  tokens: 100_000)
        XCTAssertEqual(withWindow.method.description, "selfextend (group size 4, window 1024)")
        let given = try ContextMethod.fitted(name: "selfextend", given: MethodArguments(["group-size": "2"]), config: config,
                                             tokens: 100_000)
        XCTAssertEqual(given.chosen, [:])
        XCTAssertThrowsError(try given.method.checkLength(100_000, config: config), "the user's too-small group is not overridden")
    }

    func testRopeScalingChoosesTheSmallestFactorToAHundredth() throws {
        for name in ["linear", "ntk", "yarn", "llama3"] {
            let (method, chosen) = try ContextMethod.fitted(name: name, given: MethodArguments(), config: config, tokens: 100_000)
            XCTAssertEqual(chosen, ["factor": "3.06"], name)   // 100,000 / 32,768 = 3.0518
            XCTAssertGreaterThanOrEqual(try XCTUnwrap(method.maximumLength(config: config)), 100_000, name)
        }
        let yarn = try ContextMethod.fitted(name: "yarn", given: MethodArguments(["original-context": "8192"]), config: config,
                                            tokens: 100_000)
        XCTAssertEqual(yarn.chosen, ["factor": "12.21"], "the factor multiplies the given original context")
        XCTAssertEqual(try ContextMethod.fitted(name: "yarn", given: MethodArguments(), config: config, tokens: 2000).chosen,
                       ["factor": "1.00"])
    }

    func testMethodsWithoutALengthLimitChooseNothing() throws {
        for name in ["dca", "gali", "none"] {
            XCTAssertEqual(try ContextMethod.fitted(name: name, given: MethodArguments(), config: config, tokens: 100_000).chosen, [:], name)
        }
        // Dynamic NTK's base grows with the sequence: no limit to fit, so its factor stays required.
        XCTAssertThrowsError(try ContextMethod.fitted(name: "dynamic-ntk", given: MethodArguments(), config: config, tokens: 100_000))
    }
}
