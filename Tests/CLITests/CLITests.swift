import XCTest
import Foundation
import LongLMModels

/// Runs the built `longlm-dist` binary as a user would.
final class CLITests: XCTestCase {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
    static let gemma = repository + "/models/gemma-3-270m-q4_k_m.gguf"
    static let tiny = repository + "/Tests/Fixtures/hf-tiny/llama-mha"

    var binary: String {
        // The products directory is the test bundle's directory or (for an .xctest bundle) its parent.
        let bundle = Bundle(for: CLITests.self).bundleURL
        let candidates = [bundle, bundle.deletingLastPathComponent()].map { $0.appendingPathComponent("longlm-dist").path }
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0) } ?? candidates[0]
    }

    struct Result { let status: Int32; let stdout: String; let stderr: String }

    func run(_ arguments: [String]) throws -> Result { try launch(binary, arguments) }

    /// Runs an executable to completion, capturing its output.
    func launch(_ executable: String, _ arguments: [String], environment: [String: String]? = nil) throws -> Result {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        if let environment { process.environment = environment }
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        let stderr = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Result(status: process.terminationStatus, stdout: String(decoding: stdout, as: UTF8.self),
                      stderr: String(decoding: stderr, as: UTF8.self))
    }

    func temporaryPath(_ suffix: String) -> String {
        let path = NSTemporaryDirectory() + "longlm-cli-\(UUID().uuidString)\(suffix)"
        addTeardownBlock { try? FileManager.default.removeItem(atPath: path) }
        return path
    }

    /// A failure is one line on stderr starting with "error:" and a non-zero status.
    func assertOneLineError(_ r: Result, mentions fragment: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertNotEqual(r.status, 0, file: file, line: line)
        let lines = r.stderr.split(separator: "\n").filter { $0.hasPrefix("error:") || $0.hasPrefix("Error:") }
        XCTAssertEqual(lines.count, 1, "stderr: \(r.stderr)", file: file, line: line)
        XCTAssertTrue(r.stderr.contains(fragment), "stderr should mention '\(fragment)': \(r.stderr)", file: file, line: line)
        XCTAssertFalse(r.stderr.contains("Fatal error") || r.stderr.contains("Stack dump"), "crashed: \(r.stderr)", file: file, line: line)
    }

    func testHelpDocumentsEveryCommand() throws {
        let r = try run(["--help"])
        XCTAssertEqual(r.status, 0)
        let commands = ["generate", "serve", "logits", "passkey", "needle", "ruler", "perplexity", "batch", "bench-exchange", "tokenize",
                        "info", "bench", "bench-attention", "bench-kernels"]
        for command in commands {
            XCTAssertTrue(r.stdout.contains("  \(command) "), "--help lists \(command): \(r.stdout)")
            let help = try run([command, "--help"])
            XCTAssertEqual(help.status, 0, command)
            XCTAssertTrue(help.stdout.contains("USAGE: longlm-dist \(command)"), "\(command) --help: \(help.stdout)")
        }
        // Every subcommand the binary has is in the list above.
        let listed = r.stdout.components(separatedBy: "SUBCOMMANDS:").last ?? ""
        let names = listed.split(separator: "\n").filter { $0.hasPrefix("  ") && !$0.hasPrefix("   ") }
            .compactMap { $0.split(separator: " ").first.map(String.init) }.filter { $0 != "See" }
        XCTAssertEqual(Set(names), Set(commands), listed)
    }

    /// `--precision` and `--kernels`: both precisions and a forced portable variant run; a name that is not a
    /// variant is refused with the list; `info` reports the choice.
    func testPrecisionAndKernelOptions() throws {
        let common = ["generate", "--model", Self.tiny, "--tokens", "1,2,3", "--max-new-tokens", "2", "--greedy", "--json"]
        for extra in [["--precision", "exact"], ["--precision", "fast", "--kernels", "portable"], ["--kernels", "auto"]] {
            let r = try run(common + extra)
            XCTAssertEqual(r.status, 0, "\(extra): \(r.stderr)")
        }
        let bad = try run(common + ["--kernels", "avx9000"])
        XCTAssertNotEqual(bad.status, 0)
        XCTAssertTrue(bad.stderr.contains("portable"), bad.stderr)
        let precision = try run(common + ["--precision", "approximate"])
        XCTAssertNotEqual(precision.status, 0)
        XCTAssertTrue(precision.stderr.contains("exact"), precision.stderr)
        let info = try run(["info", "--model", Self.tiny])
        XCTAssertEqual(info.status, 0, info.stderr)
        XCTAssertTrue(info.stdout.contains("kernels:"), info.stdout)
        XCTAssertTrue(info.stdout.contains("(f16 keys and values"), info.stdout)
    }

    /// --kv-type stores the cache as asked; q8_0 needs heads of whole 32-value blocks and is refused on this
    /// model (head dim 16) with the reason; an unknown type lists the known ones. f32 storage in the fast precision
    /// gives the exact run's tokens on this f32 model (whose products have no quantized weights to round).
    func testKVTypeOption() throws {
        let common = ["generate", "--model", Self.tiny, "--tokens", "1,2,3,4,5,6", "--max-new-tokens", "6", "--greedy", "--json", "--quiet"]
        func ids(_ extra: [String]) throws -> [Int] {
            let r = try run(common + extra)
            XCTAssertEqual(r.status, 0, "\(extra): \(r.stderr)")
            let object = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any]
            return object?["ids"] as? [Int] ?? []
        }
        let exact = try ids(["--precision", "exact"])
        XCTAssertEqual(exact.count, 6)
        XCTAssertEqual(try ids(["--kv-type", "f32"]), exact)
        for type in ["f16", "bf16"] { XCTAssertEqual(try ids(["--kv-type", type]).count, 6, type) }
        let q8 = try run(common + ["--kv-type", "q8_0"])
        XCTAssertEqual(q8.status, 1)
        XCTAssertTrue(q8.stderr.contains("head dim is 16"), q8.stderr)
        let unknown = try run(common + ["--kv-type", "f8"])
        XCTAssertNotEqual(unknown.status, 0)
        XCTAssertTrue(unknown.stderr.contains("bf16"), unknown.stderr)
        let info = try run(["info", "--model", Self.tiny, "--kv-type", "q8_0"])
        XCTAssertEqual(info.status, 1)
        XCTAssertTrue(info.stderr.contains("head dim is 16"), info.stderr)
    }

    /// The last position's logits for a 3-token prompt equal transformers' row for that position (logits.npy of
    /// the fixture covers the 200-token prompt.npy; position 2 sees only the first three tokens).
    func testLogitsOfGivenTokensMatchTheReferenceRow() throws {
        let prompt = try npyInts(Self.tiny + "/prompt.npy")
        let reference = try npyFloats(Self.tiny + "/logits.npy")
        let vocabulary = 256
        let expected = Array(reference[(2 * vocabulary)..<(3 * vocabulary)])
        let output = temporaryPath(".npy")
        // The exact precision (f32 KV cache): the reference path, compared with transformers at 1e-4.
        let r = try run(["logits", "--model", Self.tiny, "--tokens", prompt.prefix(3).map(String.init).joined(separator: ","),
                         "--output", output, "--precision", "exact"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let header = String(decoding: try Data(contentsOf: URL(fileURLWithPath: output)).prefix(128), as: UTF8.self)
        XCTAssertTrue(header.contains("'shape': (1, 256)"), header)
        let got = try npyFloats(output)
        XCTAssertEqual(got.count, vocabulary)
        XCTAssertLessThan(relativeDifference(expected, got), 1e-4)
    }

    func testLogitsAllPositionsHasOneRowPerToken() throws {
        let output = temporaryPath(".npy")
        let r = try run(["logits", "--model", Self.tiny, "--tokens", "5,17,200,3", "--all-positions", "--output", output])
        XCTAssertEqual(r.status, 0, r.stderr)
        let header = String(decoding: try Data(contentsOf: URL(fileURLWithPath: output)).prefix(128), as: UTF8.self)
        XCTAssertTrue(header.contains("'shape': (4, 256)"), header)
    }

    func testGreedyGenerateJSONGivesTheTransformersTokens() throws {
        // greedy_prompt.npy / greedy_tokens.npy of the llama-mha fixture, read back through numpy's layout.
        func ints(_ name: String) throws -> [Int] { try npyInts(Self.tiny + "/" + name) }
        let prompt = try ints("greedy_prompt.npy"), expected = try ints("greedy_tokens.npy")
        let r = try run(["generate", "--model", Self.tiny, "--tokens", prompt.map(String.init).joined(separator: ","),
                         "--max-new-tokens", "\(expected.count)", "--greedy", "--json"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let object = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as! [String: Any]
        XCTAssertEqual(object["ids"] as? [Int], expected)
    }

    func testEveryMethodRunsPastTheTrainedContextFromTheCommandLine() throws {
        // llama-mha has max_position_embeddings 128; 150 tokens need a method.
        let tokens = (0..<150).map { String(($0 * 37) % 256) }.joined(separator: ",")
        let methods: [[String]] = [
            ["--method", "selfextend", "--group-size", "4", "--window", "32"], ["--method", "dca", "--chunk-size", "96", "--local-window", "16"],
            ["--method", "gali", "--local-window", "16", "--gali-chunk", "20"], ["--method", "linear", "--factor", "2"],
            ["--method", "ntk", "--factor", "2"], ["--method", "dynamic-ntk", "--factor", "2"], ["--method", "consistent-ntk", "--factor", "2"],
            ["--method", "yarn", "--factor", "2"], ["--method", "llama3", "--factor", "2"], ["--method", "dca", "--logn"],
        ]
        // Every registered method is in the list (a new method gets a line here).
        XCTAssertEqual(Set(methods.map { $0[1] }).union(["none"]), Set(ContextMethod.names))
        for method in methods {
            let output = temporaryPath(".npy")
            let r = try run(["logits", "--model", Self.tiny, "--tokens", tokens, "--output", output] + method)
            XCTAssertEqual(r.status, 0, "\(method): \(r.stderr)")
            let data = try Data(contentsOf: URL(fileURLWithPath: output))
            let values = data.dropFirst(128).withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
            XCTAssertEqual(values.count, 256)
            XCTAssertTrue(values.allSatisfy(\.isFinite), "\(method)")
        }
        assertOneLineError(try run(["logits", "--model", Self.tiny, "--tokens", tokens, "--output", temporaryPath(".npy")]), mentions: "at most 128")
        assertOneLineError(try run(["logits", "--model", Self.tiny, "--tokens", tokens, "--output", temporaryPath(".npy"),
                                    "--method", "selfextend", "--group-size", "3", "--window", "32"]), mentions: "multiple")
        assertOneLineError(try run(["logits", "--model", Self.tiny, "--tokens", tokens, "--output", temporaryPath(".npy"),
                                    "--method", "linear", "--factor", "1.1"]), mentions: "--factor 1.18")
        let forced = try run(["logits", "--model", Self.tiny, "--tokens", tokens, "--output", temporaryPath(".npy"), "--no-window-check"])
        XCTAssertEqual(forced.status, 0, forced.stderr)
        XCTAssertTrue(forced.stderr.contains("warning"), forced.stderr)
    }

    func testGenerateUnderMpirunGivesTheSingleProcessTokens() throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/mpirun") else { throw XCTSkip("mpirun not installed: run scripts/setup.sh") }
        let tokens = (0..<150).map { String(($0 * 37) % 256) }.joined(separator: ",")
        let common = ["generate", "--model", Self.tiny, "--tokens", tokens, "--max-new-tokens", "12", "--json",
                      "--method", "selfextend", "--group-size", "4", "--window", "32"]
        let single = try run(common)
        XCTAssertEqual(single.status, 0, single.stderr)
        let expected = (try JSONSerialization.jsonObject(with: Data(single.stdout.utf8)) as! [String: Any])["ids"] as! [Int]
        for (ranks, transport) in [(2, "vader"), (3, "tcp"), (4, "vader"), (2, "tcp")] {
            let r = try runMPI(ranks: ranks, transport: transport, arguments: common + ["--layout", ranks == 3 ? "contiguous" : "zigzag"])
            XCTAssertEqual(r.status, 0, "\(ranks) ranks over \(transport): \(r.stderr)")
            let lines = r.stdout.split(separator: "\n")
            XCTAssertEqual(lines.count, 1, "only rank 0 prints: \(r.stdout)")
            let object = try JSONSerialization.jsonObject(with: Data((lines.first ?? "").utf8)) as? [String: Any]
            XCTAssertEqual(object?["ids"] as? [Int], expected, "\(ranks) ranks over \(transport)")
        }
    }

    /// Starts a 2-rank Gemma 3 run on 3000 tokens, sends `signal` to one rank mid-prefill, and returns the
    /// job's result and how long it took to end.
    func mpirunWithFault(signal: String, stepTimeout: Int) throws -> (Result, Double) {
        let prompt = Self.repository + "/Tests/Fixtures/gemma3-llamacpp/prompt-3000.npy"
        let data = try Data(contentsOf: URL(fileURLWithPath: prompt))
        let headerLength = Int(data[8]) | Int(data[9]) << 8
        let ids = data.dropFirst(10 + headerLength).withUnsafeBytes { raw in
            (0..<(raw.count / 4)).map { String(Int32(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 4, as: Int32.self))) }
        }
        let tokens = temporaryPath(".txt")
        try ids.joined(separator: ",").write(toFile: tokens, atomically: true, encoding: .utf8)
        // A step timeout no other test uses marks this job's ranks for pkill.
        let marker = "\(stepTimeout).\(Int.random(in: 100...999))"
        let start = Date()
        let outcome = Outcome()
        let job = Thread {
            outcome.set(try? self.runMPI(ranks: 2, transport: "vader", arguments: [
                "generate", "--model", Self.gemma, "--tokens-file", tokens, "--max-new-tokens", "400", "--step-timeout", marker]))
        }
        job.start()
        // Both ranks loaded: inside the prefill on a slow node (the ring's exchange names its peer), already
        // decoding on a fast one (a collective, which names the other rank when there are two). The 400 decode
        // steps keep a fast node's job running well past this point (the 3000-token prefill alone took about
        // 4 s on 2 ranks with the int8 GEMM, and the job used to end before the signal).
        Thread.sleep(forTimeInterval: 6)
        _ = try launch("/usr/bin/pkill", ["-\(signal)", "-n", "-f", "step-timeout \(marker)"])
        while outcome.get() == nil && Date().timeIntervalSince(start) < 300 { Thread.sleep(forTimeInterval: 0.2) }
        _ = try? launch("/usr/bin/pkill", ["-9", "-f", "step-timeout \(marker)"])   // never leave a rank behind
        return (try XCTUnwrap(outcome.get()), Date().timeIntervalSince(start))
    }

    func testKilledRankEndsTheJobWithANonZeroExit() throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/mpirun"), FileManager.default.fileExists(atPath: Self.gemma) else {
            throw XCTSkip("run scripts/setup.sh")
        }
        let (r, seconds) = try mpirunWithFault(signal: "9", stepTimeout: 60)
        XCTAssertNotEqual(r.status, 0)
        XCTAssertLessThan(seconds, 60, "the job should end well before the step timeout")
        XCTAssertTrue(r.stderr.contains("signal 9") || r.stderr.contains("Killed"), r.stderr)
    }

    func testStoppedRankMakesTheWatchdogEndTheJobNamingThePeer() throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/mpirun"), FileManager.default.fileExists(atPath: Self.gemma) else {
            throw XCTSkip("run scripts/setup.sh")
        }
        let (r, seconds) = try mpirunWithFault(signal: "STOP", stepTimeout: 8)
        XCTAssertNotEqual(r.status, 0)
        XCTAssertLessThan(seconds, 120)
        XCTAssertTrue(r.stderr.contains("timed out") && r.stderr.contains("waiting for rank"), r.stderr)
    }

    /// `mpirun` as a user runs it in a container: as root, oversubscribed, on shared memory or TCP over loopback.
    func runMPI(ranks: Int, transport: String, arguments: [String], extraEnvironment: [String: String] = [:]) throws -> Result {
        let btl = transport == "tcp" ? ["--mca", "btl", "self,tcp", "--mca", "btl_tcp_if_include", "lo"] : ["--mca", "btl", "self,vader"]
        var environment = ProcessInfo.processInfo.environment.merging(extraEnvironment) { $1 }
        environment["OMPI_ALLOW_RUN_AS_ROOT"] = "1"
        environment["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] = "1"
        return try launch("/usr/bin/mpirun", ["--oversubscribe", "--bind-to", "none", "-np", "\(ranks)"] + btl + [binary] + arguments,
                          environment: environment)
    }

    func testEmptyPromptIsAOneLineError() throws {
        assertOneLineError(try run(["logits", "--model", Self.tiny, "--tokens", "", "--output", temporaryPath(".npy")]), mentions: "empty")
    }

    func testTokenIdsOutsideTheVocabularyAreAOneLineError() throws {
        assertOneLineError(try run(["generate", "--model", Self.tiny, "--tokens", "1,256"]), mentions: "outside the vocabulary")
        assertOneLineError(try run(["generate", "--model", Self.tiny, "--tokens", "1,-3"]), mentions: "outside the vocabulary")
    }

    func testTruncatedGGUFIsAOneLineError() throws {
        guard FileManager.default.fileExists(atPath: Self.gemma) else { throw XCTSkip("run scripts/setup.sh") }
        let path = temporaryPath(".gguf")
        let handle = try FileHandle(forReadingFrom: URL(fileURLWithPath: Self.gemma))
        try handle.readData(ofLength: 50_000_000).write(to: URL(fileURLWithPath: path))   // cut inside the tensor data
        assertOneLineError(try run(["generate", "--model", path, "--prompt", "Hello"]), mentions: "past the end of the file")
        let header = temporaryPath(".gguf")
        try Data(try Data(contentsOf: URL(fileURLWithPath: path)).prefix(100_000)).write(to: URL(fileURLWithPath: header))
        assertOneLineError(try run(["info", "--model", header]), mentions: "tokenizer.ggml.tokens")   // inside the metadata
    }

    func testMissingModelIsAOneLineError() throws {
        assertOneLineError(try run(["info", "--model", "/nonexistent/model.gguf"]), mentions: "does not exist")
    }

    func testGemmaTokenizeAndInfo() throws {
        guard FileManager.default.fileExists(atPath: Self.gemma) else { throw XCTSkip("run scripts/setup.sh") }
        let t = try run(["tokenize", "--model", Self.gemma, "--text", "Hello world", "--json"])
        XCTAssertEqual(t.status, 0, t.stderr)
        let object = try JSONSerialization.jsonObject(with: Data(t.stdout.utf8)) as! [String: Any]
        XCTAssertEqual((object["ids"] as? [Int])?.first, 2, "BOS first")
        let i = try run(["info", "--model", Self.gemma])
        XCTAssertEqual(i.status, 0, i.stderr)
        XCTAssertTrue(i.stdout.contains("gemma3") && i.stdout.contains("32768"), i.stdout)
    }
}

/// The result of a job running on another thread.
final class Outcome: @unchecked Sendable {
    private let lock = NSLock()
    private var value: CLITests.Result?
    func set(_ v: CLITests.Result?) { lock.lock(); value = v; lock.unlock() }
    func get() -> CLITests.Result? { lock.lock(); defer { lock.unlock() }; return value }
}
