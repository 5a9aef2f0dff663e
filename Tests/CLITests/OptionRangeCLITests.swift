import XCTest
import Foundation

/// Numbers nobody validated used to trap (SIGILL, SIGFPE) or allocate without bound; each is now a one-line
/// error naming the option, before any work.
extension CLITests {
    func testOutOfRangeNumericOptionsAreOneLineErrorsNamingTheOption() throws {
        let huge = "9223372036854775807"
        let generate = ["generate", "--model", Self.tiny, "--tokens", "1,2,3"]
        let cases: [([String], String)] = [
            (generate + ["--method", "selfextend", "--group-size", "0"], "--group-size"),
            (["info", "--model", Self.tiny, "--method", "selfextend", "--group-size", "0"], "--group-size"),
            (generate + ["--method", "linear", "--factor", "1e308"], "--factor"),
            (generate + ["--method", "ntk", "--factor", "1e308"], "--factor"),
            (generate + ["--method", "yarn", "--factor", "1e17"], "--factor"),
            (generate + ["--method", "llama3", "--factor", "1e17"], "--factor"),
            (generate + ["--method", "dynamic-ntk", "--factor", "nan"], "--factor"),
            (generate + ["--method", "yarn", "--factor", "2", "--original-context", huge], "--original-context"),
            (generate + ["--max-new-tokens", huge], "--max-new-tokens"),
            (generate + ["--temperature", "nan"], "--temperature"),
            (generate + ["--temperature", "inf"], "--temperature"),
            (generate + ["--threads", "0"], "--threads"),
            (generate + ["--step-timeout", "inf"], "--step-timeout"),
            (generate + ["--method", "gali", "--gali-chunk", "0"], "--gali-chunk"),
            (generate + ["--method", "gali", "--gali-mode", "exact"], "--gali-mode"),
            (generate + ["--method", "dca", "--local-window", "500"], "--local-window"),
            (generate + ["--method", "banana"], "--method"),
            (generate + ["--factor", "2"], "--factor does not apply to --method none"),
            (generate + ["--method", "selfextend", "--factor", "2"], "--factor does not apply to --method selfextend"),
            (["info", "--model", Self.tiny, "--tokens", huge], "--tokens"),
            (["info", "--model", Self.tiny, "--tokens", "-5"], "--tokens"),
            (["bench", "--model", Self.tiny, "--lengths", huge], "--lengths"),
            (["bench", "--model", Self.tiny, "--lengths", "4096"], "at most 128"),
            (["bench-attention", "--kv-heads", "0"], "--kv-heads"),
            (["bench-attention", "--trained-context", "0"], "--trained-context"),
            (["bench-attention", "--group-size", "0"], "--group-size"),
            (["bench-attention", "--lengths", huge], "--lengths"),
            (["bench-exchange", "--sizes=-1"], "--sizes"),
        ]
        for (arguments, fragment) in cases {
            assertOneLineError(try run(arguments), mentions: fragment)
        }
    }

    /// `info` checks what `generate` checks, before printing anything.
    func testInfoRefusesWhatGenerateRefusesBeforePrinting() throws {
        let r = try run(["info", "--model", Self.tiny, "--method", "dca", "--chunk-size", "40", "--local-window", "60"])
        assertOneLineError(r, mentions: "--chunk-size")
        XCTAssertEqual(r.stdout, "")
    }

    func testPromptFileDashReadsStandardInput() throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = ["tokenize", "--model", Self.repository + "/Tests/Fixtures/hf-tiny-tools", "--file", "-", "--json"]
        let input = Pipe(), output = Pipe()
        process.standardInput = input
        process.standardOutput = output
        try process.run()
        input.fileHandleForWriting.write("hello world".data(using: .utf8)!)
        try input.fileHandleForWriting.close()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 0)
        let fromStdin = try XCTUnwrap(JSONSerialization.jsonObject(with: data) as? [String: Any])
        let direct = try run(["tokenize", "--model", Self.repository + "/Tests/Fixtures/hf-tiny-tools", "--text", "hello world", "--json"])
        let fromText = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(direct.stdout.utf8)) as? [String: Any])
        XCTAssertEqual(fromStdin["ids"] as? [Int], fromText["ids"] as? [Int])
        XCTAssertGreaterThan((fromText["ids"] as? [Int])?.count ?? 0, 1)
        assertOneLineError(try run(["generate", "--model", Self.tiny, "--prompt-file", "/nonexistent/doc.txt"]), mentions: "no such file")
    }

    /// Commands that describe one process print once under mpirun, not once per rank.
    func testInfoAndTokenizePrintOnceUnderMpirun() throws {
        guard hasMPI else { throw XCTSkip("mpirun not installed: run scripts/setup.sh") }
        let info = try runMPI(ranks: 2, transport: "vader", arguments: ["info", "--model", Self.tiny])
        XCTAssertEqual(info.status, 0, info.stderr)
        XCTAssertEqual(info.stdout.components(separatedBy: "architecture:").count - 1, 1, info.stdout)
        let tokens = try runMPI(ranks: 2, transport: "vader", arguments: ["tokenize", "--model", Self.repository + "/Tests/Fixtures/hf-tiny-tools", "--text", "hi there"])
        XCTAssertEqual(tokens.status, 0, tokens.stderr)
        XCTAssertEqual(tokens.stdout.split(separator: "\n").count, 1, tokens.stdout)
    }
}
