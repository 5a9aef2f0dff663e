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

extension CLITests {
    /// Method options inside job lines that used to trap (division by zero, infinity to Int) are each their
    /// own job's error line; the batch goes on, alone and under mpirun, and a rerun does not die there again.
    func testJobOptionsThatUsedToTrapAreTheirJobsErrors() throws {
        let jobs = temporaryPath(".jsonl")
        try """
        {"id": "g0", "document": "word1 word2", "max_new_tokens": 2, "options": {"method": "selfextend", "group_size": 0}}
        {"id": "f308", "document": "word1 word2", "max_new_tokens": 2, "options": {"method": "ntk", "factor": 1e308}}
        {"id": "l308", "document": "word1 word2", "max_new_tokens": 2, "options": {"method": "llama3", "factor": 1e308}}
        {"id": "ctx", "document": "word1 word2", "max_new_tokens": 2, "options": {"method": "yarn", "factor": 2, "original_context": 9223372036854775807}}
        {"id": "unused", "document": "word1 word2", "max_new_tokens": 2, "options": {"factor": 2}}
        {"id": "ok", "document": "word3 word4", "max_new_tokens": 2}

        """.write(toFile: jobs, atomically: true, encoding: .utf8)
        let arguments = ["batch", "--model", Self.repository + "/Tests/Fixtures/hf-tiny-tools", "--jobs", jobs, "--quiet"]
        let expected = ["g0": "--group-size", "f308": "--factor", "l308": "--factor", "ctx": "--original-context",
                        "unused": "does not apply to --method none"]
        func check(_ output: String, _ r: Result) throws {
            XCTAssertEqual(r.status, 0, r.stderr)
            XCTAssertFalse(r.stderr.contains("Fatal error"), r.stderr)
            let rows = try jsonLines(output)
            XCTAssertEqual(rows.count, 6)
            for row in rows {
                let id = try XCTUnwrap(row["id"] as? String)
                if let fragment = expected[id] {
                    XCTAssertTrue((row["error"] as? String)?.contains(fragment) == true, "\(id): \(row)")
                } else {
                    XCTAssertTrue(row["text"] is String, "\(row)")
                }
            }
        }
        let output = temporaryPath(".jsonl")
        try check(output, try run(arguments + ["--output", output]))
        let rerun = try run(arguments + ["--output", output])
        XCTAssertEqual(rerun.status, 0, rerun.stderr)
        XCTAssertEqual(try jsonLines(output).count, 6, "a rerun adds nothing")
        guard hasMPI else { return }
        let ranked = temporaryPath(".jsonl")
        try check(ranked, try runMPI(ranks: 2, transport: "vader", arguments: arguments + ["--output", ranked]))
    }
}
