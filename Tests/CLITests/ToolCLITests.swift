import XCTest
import LongLMModels
import Foundation

/// The evaluation and batch tools end to end on a tiny checkpoint with a tokenizer: one process and
/// `mpirun -np 2` give the same results; outputs resume; a killed batch loses and duplicates nothing.
extension CLITests {
    static let tools = repository + "/Tests/Fixtures/hf-tiny-tools"
    static let selfExtend = ["--method", "selfextend", "--group-size", "4", "--window", "64"]

    var hasMPI: Bool { FileManager.default.isExecutableFile(atPath: "/usr/bin/mpirun") }

    func jsonLines(_ path: String) throws -> [[String: Any]] {
        let text = try String(contentsOfFile: path, encoding: .utf8)
        XCTAssertTrue(text.isEmpty || text.hasSuffix("\n"), "the file ends with a whole line")
        return try text.split(separator: "\n").map { try XCTUnwrap(JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]) }
    }

    func testPasskeyGivesTheSameTrialsUnderMpirunAndResumes() throws {
        let single = temporaryPath(".jsonl"), ranked = temporaryPath(".jsonl")
        let arguments = ["passkey", "--model", Self.tools, "--length", "180,500", "--trials", "2", "--quiet"] + Self.selfExtend
        let r = try run(arguments + ["--output", single])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("length (tokens)  accuracy"), r.stdout)
        let trials = try jsonLines(single)
        XCTAssertEqual(trials.count, 4)
        for trial in trials {
            for key in ["length", "tokens", "depth", "key", "answer", "success", "seconds"] { XCTAssertNotNil(trial[key], key) }
            XCTAssertEqual(Double(trial["tokens"] as! Int), Double(trial["length"] as! Int), accuracy: 0.05 * Double(trial["length"] as! Int))
        }
        XCTAssertEqual(trials.map { $0["depth"] as! Double }, [0.25, 0.75, 0.25, 0.75])
        // A rerun finds every trial done.
        XCTAssertEqual(try run(arguments + ["--output", single]).status, 0)
        XCTAssertEqual(try jsonLines(single).count, 4)

        guard hasMPI else { throw XCTSkip("mpirun not installed: run scripts/setup.sh") }
        let m = try runMPI(ranks: 2, transport: "vader", arguments: arguments + ["--output", ranked])
        XCTAssertEqual(m.status, 0, m.stderr)
        let distributed = try jsonLines(ranked)
        XCTAssertEqual(distributed.map { $0["answer"] as? String }, trials.map { $0["answer"] as? String })
        XCTAssertEqual(distributed.map { $0["key"] as? String }, trials.map { $0["key"] as? String })
        XCTAssertEqual(distributed.map { $0["ranks"] as? Int }, [2, 2, 2, 2])
    }

    func testNeedleGridWritesEveryCellOnceWithCSVAndSVGAndResumes() throws {
        let output = temporaryPath(".jsonl"), csv = temporaryPath(".csv"), svg = temporaryPath(".svg")
        let common = ["needle", "--model", Self.tools, "--depths", "0,0.5,1", "--max-new-tokens", "6", "--quiet",
                      "--output", output, "--csv", csv, "--svg", svg] + Self.selfExtend
        XCTAssertEqual(try run(common + ["--lengths", "150,300"]).status, 0)
        XCTAssertEqual(try jsonLines(output).count, 6)
        // A bigger grid reruns only the new cells, and the pictures cover the whole grid.
        let r = try run(common + ["--lengths", "150,300,450"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let cells = try jsonLines(output)
        XCTAssertEqual(cells.count, 9)
        XCTAssertEqual(Set(cells.map { "\($0["length"]!)/\($0["depth"]!)" }).count, 9)
        let picture = try String(contentsOfFile: svg, encoding: .utf8)
        XCTAssertEqual(picture.components(separatedBy: "class=\"cell\"").count - 1, 9)
        XCTAssertTrue(picture.hasPrefix("<?xml") && picture.hasSuffix("</svg>\n"))
        let table = try String(contentsOfFile: csv, encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(table.first, "depth,150,300,450")
        XCTAssertEqual(table.count, 4)

        guard hasMPI else { throw XCTSkip("mpirun not installed: run scripts/setup.sh") }
        let ranked = temporaryPath(".jsonl")
        let m = try runMPI(ranks: 2, transport: "vader", arguments: ["needle", "--model", Self.tools, "--depths", "0,0.5,1",
                                                                    "--max-new-tokens", "6", "--quiet", "--output", ranked,
                                                                    "--lengths", "150,300,450"] + Self.selfExtend)
        XCTAssertEqual(m.status, 0, m.stderr)
        let byCell = { (rows: [[String: Any]]) in Dictionary(uniqueKeysWithValues: rows.map { ("\($0["length"]!)/\($0["depth"]!)", $0["answer"] as! String) }) }
        XCTAssertEqual(byCell(try jsonLines(ranked)), byCell(cells))
    }

    func testPerplexityIsTheSameUnderMpirun() throws {
        let text = temporaryPath(".txt")
        try String(repeating: "In the beginning was the word, and the word was with the text. ", count: 60)
            .write(toFile: text, atomically: true, encoding: .utf8)
        // f32 attention tiles: BF16 tiles round each tile's probabilities, and a ring's tiles hold other keys than
        // one process's (CLITests.testLogitsOfEveryPositionUnderMpirunEqualTheSingleProcess bounds that difference).
        let arguments = ["perplexity", "--model", Self.tools, "--text-file", text, "--max-tokens", "400", "--stride", "200",
                         "--bucket", "100", "--quiet", "--attention-tiles", "f32"] + Self.selfExtend
        let single = temporaryPath(".jsonl"), ranked = temporaryPath(".jsonl")
        let r = try run(arguments + ["--output", single])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("all: perplexity"), r.stdout)
        let one = try XCTUnwrap(try jsonLines(single).first)
        XCTAssertEqual((one["buckets"] as? [[String: Any]])?.count, 4)
        guard hasMPI else { throw XCTSkip("mpirun not installed: run scripts/setup.sh") }
        let m = try runMPI(ranks: 2, transport: "vader", arguments: arguments + ["--output", ranked])
        XCTAssertEqual(m.status, 0, m.stderr)
        let two = try XCTUnwrap(try jsonLines(ranked).first)
        XCTAssertEqual(two["tokens"] as? Int, one["tokens"] as? Int)
        XCTAssertEqual(try XCTUnwrap(two["mean_nll"] as? Double), try XCTUnwrap(one["mean_nll"] as? Double), accuracy: 1e-5)
    }

    /// Writes `count` jobs (documents of varied lengths, one bad job) and returns the jobs file.
    func writeJobs(count: Int) throws -> String {
        let jobs = temporaryPath(".jsonl")
        var lines: [String] = []
        for i in 0..<count {
            let words = (0..<(20 + i % 40)).map { "word\(($0 * 7 + i) % 50)" }.joined(separator: " ")
            lines.append(i == 3 ? #"{"id": "job3", "document": "x", "options": {"method": "ntk"}}"#
                         : #"{"id": "job\#(i)", "document": "\#(words)", "max_new_tokens": 8}"#)
        }
        try (lines.joined(separator: "\n") + "\n").write(toFile: jobs, atomically: true, encoding: .utf8)
        return jobs
    }

    func testBatchUnderMpirunGivesTheSingleProcessResults() throws {
        guard hasMPI else { throw XCTSkip("mpirun not installed: run scripts/setup.sh") }
        let jobs = try writeJobs(count: 6)
        let single = temporaryPath(".jsonl"), ranked = temporaryPath(".jsonl")
        let r = try run(["batch", "--model", Self.tools, "--jobs", jobs, "--output", single, "--quiet"] + Self.selfExtend)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("5 done, 1 failed"), r.stdout)
        let m = try runMPI(ranks: 2, transport: "tcp", arguments: ["batch", "--model", Self.tools, "--jobs", jobs, "--output", ranked, "--quiet"] + Self.selfExtend)
        XCTAssertEqual(m.status, 0, m.stderr)
        let texts = { (rows: [[String: Any]]) in rows.map { "\($0["id"]!): \($0["text"] ?? $0["error"]!)" } }
        XCTAssertEqual(texts(try jsonLines(ranked)), texts(try jsonLines(single)))
        XCTAssertTrue(try jsonLines(single).contains { $0["id"] as? String == "job3" && ($0["error"] as? String)?.contains("--factor") == true })
    }

    func testBatchRunsJobsOverOneDocumentBackToBackAndReusesItsPrefill() throws {
        // Questions about two documents, interleaved in the file: the jobs over one document run back to back, the
        // later ones prefill only their question, and every answer equals the job run alone (no cache to reuse).
        let docA = (0..<120).map { "alpha\($0 % 37)" }.joined(separator: " ")
        let docB = (0..<100).map { "beta\($0 % 23)" }.joined(separator: " ")
        let job = { (id: String, doc: String, question: String) in
            #"{"id": "\#(id)", "document": "\#(doc)", "prompt": "{document}\n\#(question)", "max_new_tokens": 6}"#
        }
        let lines = [job("a1", docA, "first question"), job("b1", docB, "first question"), job("a2", docA, "second question?"),
                     job("b2", docB, "another one")]
        let jobs = temporaryPath(".jsonl"), output = temporaryPath(".jsonl")
        try (lines.joined(separator: "\n") + "\n").write(toFile: jobs, atomically: true, encoding: .utf8)
        let r = try run(["batch", "--model", Self.tools, "--jobs", jobs, "--output", output, "--quiet"] + Self.selfExtend)
        XCTAssertEqual(r.status, 0, r.stderr)
        let results = try jsonLines(output)
        XCTAssertEqual(results.map { $0["id"] as? String }, ["a1", "a2", "b1", "b2"], "grouped by document, file order within")
        let reused = results.map { $0["reused_prompt_tokens"] as? Int ?? -1 }
        XCTAssertEqual(reused[0], 0)
        XCTAssertLessThanOrEqual(reused[2], 1, "another document shares at most its BOS")
        XCTAssertGreaterThan(reused[1], 300, "a2 reuses a1's document")
        XCTAssertGreaterThan(reused[3], 250, "b2 reuses b1's document")
        for (line, result) in zip([lines[0], lines[2], lines[1], lines[3]], results) {
            let alone = temporaryPath(".jsonl"), aloneOutput = temporaryPath(".jsonl")
            try (line + "\n").write(toFile: alone, atomically: true, encoding: .utf8)
            XCTAssertEqual(try run(["batch", "--model", Self.tools, "--jobs", alone, "--output", aloneOutput, "--quiet"] + Self.selfExtend).status, 0)
            let single = try jsonLines(aloneOutput)[0]
            XCTAssertEqual(single["text"] as? String, result["text"] as? String, "\(result["id"]!)")
            XCTAssertEqual(single["reused_prompt_tokens"] as? Int, 0)
        }
        guard hasMPI else { throw XCTSkip("mpirun not installed: run scripts/setup.sh") }
        let ranked = temporaryPath(".jsonl")
        let m = try runMPI(ranks: 2, transport: "vader", arguments: ["batch", "--model", Self.tools, "--jobs", jobs, "--output", ranked,
                                                                       "--quiet"] + Self.selfExtend)
        XCTAssertEqual(m.status, 0, m.stderr)
        let distributed = try jsonLines(ranked)
        XCTAssertEqual(distributed.map { $0["text"] as? String }, results.map { $0["text"] as? String })
        XCTAssertEqual(distributed.map { ($0["reused_prompt_tokens"] as? Int ?? 0) > 1 }, [false, true, false, true])
    }

    func testSavedKVCacheAnswersALaterQuestionLikeAFullPrefill() throws {
        // --save-kv after a document, --load-kv with the document and a question: only the question is prefilled, and
        // the answer equals a run without the cache; alone and under mpirun (each rank its own file).
        let document = (0..<90).map { "gamma\($0 % 29)" }.joined(separator: " ")
        let question = document + " and then what?"
        let common = ["generate", "--model", Self.tools, "-n", "6", "--json", "--quiet"] + Self.selfExtend
        func json(_ r: Result) throws -> [String: Any] {
            XCTAssertEqual(r.status, 0, r.stderr)
            return try XCTUnwrap(JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        }
        let full = try json(try run(common + ["--prompt", question]))
        for ranks in [1, 2] {
            if ranks == 2 && !hasMPI { throw XCTSkip("mpirun not installed: run scripts/setup.sh") }
            let directory = temporaryPath("-kv")
            let launch = { (arguments: [String]) in ranks == 1 ? try self.run(arguments) : try self.runMPI(ranks: 2, transport: "vader", arguments: arguments) }
            _ = try json(try launch(common + ["--prompt", document, "--save-kv", directory]))
            XCTAssertTrue(FileManager.default.fileExists(atPath: directory + "/rank-\(ranks - 1)-of-\(ranks).kv"))
            let loaded = try json(try launch(common + ["--prompt", question, "--load-kv", directory]))
            XCTAssertEqual(loaded["ids"] as? [Int], full["ids"] as? [Int], "ranks=\(ranks)")
            XCTAssertGreaterThan(loaded["reused_prompt_tokens"] as? Int ?? 0, 300, "ranks=\(ranks)")
            XCTAssertEqual(loaded["prompt_tokens"] as? Int, full["prompt_tokens"] as? Int)
            // Another method, or another number of ranks, is refused with what differs.
            let otherMethod = try run(["generate", "--model", Self.tools, "-n", "2", "--prompt", question, "--method", "dca", "--load-kv", directory])
            XCTAssertNotEqual(otherMethod.status, 0)
            XCTAssertTrue(otherMethod.stderr.contains(ranks == 1 ? "was saved for the method" : "does not exist"), otherMethod.stderr)
        }
        // A cache stored in another KV type is refused, naming both types.
        let typed = temporaryPath("-kv")
        _ = try json(try run(common + ["--prompt", document, "--save-kv", typed, "--kv-type", "bf16"]))
        let otherType = try run(common + ["--prompt", question, "--load-kv", typed])
        XCTAssertEqual(otherType.status, 1)
        XCTAssertTrue(otherType.stderr.contains("KV type bf16") && otherType.stderr.contains("f16"), otherType.stderr)
        XCTAssertEqual(try json(try run(common + ["--prompt", question, "--load-kv", typed, "--kv-type", "bf16"]))["reused_prompt_tokens"] as? Int ?? 0 > 300, true)
        // A truncated file is an error, not a crash.
        let directory = temporaryPath("-kv")
        _ = try json(try run(common + ["--prompt", document, "--save-kv", directory]))
        let file = directory + "/rank-0-of-1.kv"
        let data = try Data(contentsOf: URL(fileURLWithPath: file))
        try data.prefix(data.count - 100).write(to: URL(fileURLWithPath: file))
        let broken = try run(common + ["--prompt", question, "--load-kv", directory])
        XCTAssertEqual(broken.status, 1)
        XCTAssertTrue(broken.stderr.contains("truncated"), broken.stderr)
    }

    /// Starts the binary without waiting for it (its output discarded).
    func start(_ arguments: [String]) throws -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = arguments
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        return process
    }

    /// `ruler`: one JSON line per (task, haystack, length, sample) with its score, a summary table with the
    /// effective length; a rerun skips every finished sample; two ranks answer as one process.
    func testRulerWritesEverySampleResumesAndAgreesUnderMPI() throws {
        let output = temporaryPath(".jsonl")
        let arguments = ["ruler", "--model", Self.tools, "--lengths", "400,600", "--samples", "1", "--haystacks", "noise,text",
                         "--text-file", Self.repository + "/data/kjv.txt", "--max-new-tokens", "6", "--output", output, "--quiet"]
            + Self.selfExtend
        let first = try run(arguments)
        XCTAssertEqual(first.status, 0, first.stderr)
        let records = try jsonLines(output)
        // 4 needle tasks x 2 haystacks + variable tracking + frequent words, at 2 lengths.
        XCTAssertEqual(records.count, 20)
        XCTAssertEqual(Set(records.map { $0["task"] as? String ?? "" }), Set(RulerTaskNames.all))
        for record in records {
            XCTAssertNotNil(record["score"] as? Double)
            XCTAssertFalse((record["expected"] as? [String] ?? []).isEmpty, "\(record)")
            // A length counts the prompt and its answer: the prompt fills the length less the answer tokens.
            let sequence = (record["tokens"] as? Int ?? 0) + (record["max_new_tokens"] as? Int ?? 0), length = record["length"] as? Int ?? 1
            XCTAssertLessThanOrEqual(sequence, length, "\(record)")
            // Whole sentences only: short of the length by less than one sentence (a KJV verse is up to ~90 tokens
            // of this tiny vocabulary, a fifth of these short lengths).
            XCTAssertGreaterThan(Double(sequence), 0.75 * Double(length), "\(record)")
        }
        XCTAssertTrue(first.stdout.contains("niah_multikey (text)"), first.stdout)
        XCTAssertTrue(first.stdout.contains("effective length"), first.stdout)
        let again = try run(arguments)
        XCTAssertEqual(again.status, 0, again.stderr)
        XCTAssertEqual(try jsonLines(output).count, 20, "a rerun adds nothing")
        XCTAssertEqual(again.stdout, first.stdout)
        if hasMPI {
            let ranked = temporaryPath(".jsonl")
            let m = try runMPI(ranks: 2, transport: "vader", arguments: Array(arguments.dropLast(3 + Self.selfExtend.count))
                               + ["--output", ranked, "--quiet"] + Self.selfExtend)
            XCTAssertEqual(m.status, 0, m.stderr)
            XCTAssertEqual(try jsonLines(ranked).map { $0["answer"] as? String }, records.map { $0["answer"] as? String })
        }
        let unknown = try run(["ruler", "--model", Self.tools, "--lengths", "200", "--tasks", "niah_single,qa_hotpot"])
        XCTAssertNotEqual(unknown.status, 0)
        XCTAssertTrue(unknown.stderr.contains("qa_hotpot") && unknown.stderr.contains("variable_tracking"), unknown.stderr)
    }

    func testKilledBatchLosesNoResultAndDuplicatesNone() throws {
        let jobs = try writeJobs(count: 300)
        let output = temporaryPath(".jsonl")
        let arguments = ["batch", "--model", Self.tools, "--jobs", jobs, "--output", output, "--quiet"]
        var partialKills = 0
        for delay in [0.25, 0.5, 0.8, 1.2, 1.6, 2.0] {
            let process = try start(arguments)
            Thread.sleep(forTimeInterval: delay)
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            let rows = FileManager.default.fileExists(atPath: output) ? try jsonLines(output) : []
            let ids = rows.map { $0["id"] as! String }
            XCTAssertEqual(Set(ids).count, ids.count, "no id twice after a kill at \(delay) s")
            for row in rows { XCTAssertTrue(row["text"] is String || row["error"] is String, "complete result: \(row)") }
            if process.terminationReason == .uncaughtSignal && !rows.isEmpty && rows.count < 300 { partialKills += 1 }
        }
        XCTAssertGreaterThan(partialKills, 0, "at least one kill should land in the middle of the batch")
        let r = try run(arguments)
        XCTAssertEqual(r.status, 0, r.stderr)
        let ids = try jsonLines(output).map { $0["id"] as! String }
        XCTAssertEqual(ids.count, 300)
        XCTAssertEqual(Set(ids), Set((0..<300).map { "job\($0)" }))
    }
}

extension CLITests {
    func testClusterScriptsAreValidBash() throws {
        for script in ["batch.slurm", "generate.slurm"] {
            let r = try launch("/bin/bash", ["-n", Self.repository + "/cluster/" + script])
            XCTAssertEqual(r.status, 0, "\(script): \(r.stderr)")
        }
    }

    /// Long prefills report tokens done, the rate and an ETA on stderr (plain lines when stderr is not a
    /// terminal); --quiet turns them off; under mpirun only rank 0 reports, with its rank.
    func testARunThatDoesNotFitIsRefusedWithItsMemoryPlanAndStatsReportThePeak() throws {
        // The node is said to have 100 MB: the Gemma weights alone (241 MiB) do not fit, so the run stops before
        // loading anything more, with the plan; --no-memory-check runs it with a warning; --stats gives the peak.
        guard FileManager.default.fileExists(atPath: Self.gemma) else { throw XCTSkip("run scripts/setup.sh for the Gemma 3 model") }
        var environment = ProcessInfo.processInfo.environment
        environment[MemoryPlan.assumedAvailableVariable] = "100000000"
        let common = [binary, "generate", "--model", Self.gemma, "--tokens", "2,1234,5678", "--max-new-tokens", "2"]
        let refused = try launch("/usr/bin/env", common, environment: environment)
        XCTAssertNotEqual(refused.status, 0)
        XCTAssertTrue(refused.stderr.contains("does not fit in this node's available memory"), refused.stderr)
        XCTAssertTrue(refused.stderr.contains("weights (mapped)") && refused.stderr.contains("--no-memory-check"), refused.stderr)
        XCTAssertEqual(refused.stdout, "")
        let forced = try launch("/usr/bin/env", common + ["--no-memory-check", "--stats"], environment: environment)
        XCTAssertEqual(forced.status, 0, forced.stderr)
        XCTAssertTrue(forced.stderr.contains("warning: the memory plan does not fit"), forced.stderr)
        XCTAssertTrue(forced.stderr.contains("peak resident memory: "), forced.stderr)
    }

    func testGenerateChoosesTheSmallestGroupThatFitsAndSaysSo() throws {
        // The tiny model's trained context is far below 4,100 tokens: without --group-size, generate picks the
        // smallest group that reaches the sequence with the given window, says so once, and runs.
        let tokens = (0..<4100).map { String(($0 * 37) % 256) }.joined(separator: ",")
        let r = try run(["generate", "--model", Self.tiny, "--tokens", tokens, "--max-new-tokens", "2", "--quiet", "--json",
                         "--method", "selfextend", "--window", "64"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stderr.contains("selfextend: chose --group-size "), r.stderr)
        XCTAssertTrue(r.stderr.contains("for 4101 tokens (the smallest that fits)"), r.stderr)
        // The JSON output records the method with the chosen group.
        let object = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any]
        XCTAssertTrue((object?["method"] as? String)?.hasPrefix("selfextend (group size ") ?? false, r.stdout)
    }

    func testProgressLinesAndQuiet() throws {
        let tokens = (0..<4100).map { String(($0 * 37) % 256) }.joined(separator: ",")
        let common = ["generate", "--model", Self.tiny, "--tokens", tokens, "--max-new-tokens", "2", "--json",
                      "--method", "selfextend", "--group-size", "64", "--window", "64"]
        let loud = try run(common)
        XCTAssertEqual(loud.status, 0, loud.stderr)
        XCTAssertTrue(loud.stderr.contains("prefill: 4100/4100 tokens (100%)"), loud.stderr)
        let quiet = try run(common + ["--quiet"])
        XCTAssertEqual(quiet.status, 0, quiet.stderr)
        XCTAssertFalse(quiet.stderr.contains("prefill:"), quiet.stderr)
        guard hasMPI else { throw XCTSkip("mpirun not installed: run scripts/setup.sh") }
        let m = try runMPI(ranks: 2, transport: "vader", arguments: common)
        XCTAssertEqual(m.status, 0, m.stderr)
        XCTAssertTrue(m.stderr.contains("[rank 0] prefill: 4100/4100 tokens (100%)"), m.stderr)
        XCTAssertFalse(m.stderr.contains("[rank 1] prefill"), m.stderr)
        // A refused parameter under mpirun ends the job at once with the rank's one-line error.
        let started = Date()
        let bad = try runMPI(ranks: 2, transport: "vader", arguments: common.dropLast() + ["32"])
        XCTAssertNotEqual(bad.status, 0)
        XCTAssertTrue(bad.stderr.contains("[rank 0] error: --window 32 must be a multiple of --group-size 64"), bad.stderr)
        XCTAssertLessThan(Date().timeIntervalSince(started), 20)
    }
}

/// Outputs are written where their path points, one run at a time; bad jobs and bad lengths are refused
/// one by one, with messages naming what is wrong.
extension CLITests {
    func fileType(_ path: String) -> mode_t {
        var info = stat()
        XCTAssertEqual(lstat(path, &info), 0, path)
        return info.st_mode & S_IFMT
    }

    func testLogitsOutputFollowsLinksRefusesReadOnlyFilesAndReportsAFullDevice() throws {
        let arguments = ["logits", "--model", Self.tiny, "--tokens", "5,17,200", "--output"]
        let target = temporaryPath(".npy"), link = temporaryPath(".npy"), second = temporaryPath(".npy")
        try "old".write(toFile: target, atomically: false, encoding: .utf8)
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: target)
        XCTAssertEqual(Foundation.link(target, second), 0)
        let r = try run(arguments + [link])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(fileType(link), S_IFLNK, "the link is still a link")
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: target)).count, 128 + 256 * 4)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: second)), try Data(contentsOf: URL(fileURLWithPath: target)),
                       "the hard link sees the new contents")

        let readOnly = temporaryPath(".npy")
        try "keep".write(toFile: readOnly, atomically: false, encoding: .utf8)
        XCTAssertEqual(chmod(readOnly, 0o444), 0)
        assertOneLineError(try run(arguments + [readOnly]), mentions: "\(readOnly) is read-only")
        XCTAssertEqual(try String(contentsOfFile: readOnly, encoding: .utf8), "keep")

        guard FileManager.default.fileExists(atPath: "/dev/full") else { throw XCTSkip("no /dev/full") }
        assertOneLineError(try run(arguments + ["/dev/full"]), mentions: "cannot write /dev/full: No space left on device")
        XCTAssertEqual(fileType("/dev/full"), S_IFCHR, "the device node is still a device")
    }

    func testSecondBatchOnTheSameOutputIsRefusedNamingTheFirst() throws {
        let jobs = try writeJobs(count: 300)
        let output = temporaryPath(".jsonl")
        let arguments = ["batch", "--model", Self.tools, "--jobs", jobs, "--output", output, "--quiet"]
        let first = try start(arguments)
        defer { if first.isRunning { kill(first.processIdentifier, SIGKILL); first.waitUntilExit() } }
        let deadline = Date().addingTimeInterval(60)
        while (FileManager.default.contents(atPath: output)?.isEmpty ?? true) && Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
        let started = Date()
        let second = try run(arguments)
        XCTAssertTrue(first.isRunning, "the first run was still writing when the second started")
        assertOneLineError(second, mentions: "is in use by process \(first.processIdentifier)")
        XCTAssertLessThan(Date().timeIntervalSince(started), 20, "refused at once, not after running jobs")
        first.waitUntilExit()
        XCTAssertEqual(first.terminationStatus, 0)
        let ids = try jsonLines(output).map { $0["id"] as! String }
        XCTAssertEqual(ids.count, 300)
        XCTAssertEqual(Set(ids).count, 300, "no job twice")
    }

    /// A job line that cannot run is that line's error, alone and under mpirun; an id-less line's error is
    /// not confused with a job named after its line; duplicate ids are reported as such; a corrupt result
    /// in the middle of the output is reported and its job runs again.
    func testBadJobsAreTheirOwnErrorLinesAndTheBookkeepingSaysWhatItSees() throws {
        let jobs = temporaryPath(".jsonl")
        try """
        {"id": "ok1", "document": "word1 word2 word3", "max_new_tokens": 4}
        {"id": "huge", "document": "word1", "max_new_tokens": 9223372036854775807}
        {"id": "ok2", "document": "word4 word5", "max_new_tokens": 4}
        nonsense
        {"id": "line 4", "document": "word6", "max_new_tokens": 4}
        {"id": "ok1", "document": "again", "max_new_tokens": 4}

        """.write(toFile: jobs, atomically: true, encoding: .utf8)
        let output = temporaryPath(".jsonl")
        let arguments = ["batch", "--model", Self.tools, "--jobs", jobs, "--quiet"]
        let r = try run(arguments + ["--output", output])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("3 done, 2 failed, 0 already in \(output), 1 skipped as duplicate ids"), r.stdout)
        XCTAssertTrue(r.stderr.contains("jobs line 6: id \"ok1\" is already used on line 1"), r.stderr)
        let rows = try jsonLines(output)
        XCTAssertEqual(rows.map { $0["line"] as? Int }, [1, 2, 3, 4, 5])
        XCTAssertEqual(rows.map { $0["id"] as? String }, ["ok1", "huge", "ok2", nil, "line 4"])
        XCTAssertTrue((rows[1]["error"] as? String)?.contains("max_new_tokens") == true, "\(rows[1])")
        XCTAssertTrue((rows[3]["error"] as? String)?.contains("jobs line 4: not a JSON object") == true, "\(rows[3])")
        XCTAssertTrue(rows[4]["text"] is String, "the job named \"line 4\" ran: \(rows[4])")

        // Cut ok2's result in the middle: the rerun says so and runs ok2 again, and nothing else.
        var lines = try String(contentsOfFile: output, encoding: .utf8).split(separator: "\n").map(String.init)
        lines[2] = String(lines[2].prefix(12))
        try (lines.joined(separator: "\n") + "\n").write(toFile: output, atomically: true, encoding: .utf8)
        let again = try run(arguments + ["--output", output])
        XCTAssertEqual(again.status, 0, again.stderr)
        XCTAssertTrue(again.stderr.contains("\(output) line 3 is not a JSON object"), again.stderr)
        XCTAssertTrue(again.stdout.contains("1 done, 0 failed, 4 already in"), again.stdout)
        let whole = try String(contentsOfFile: output, encoding: .utf8).split(separator: "\n")
            .compactMap { (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any] }
        XCTAssertEqual(whole.map { $0["line"] as? Int }, [1, 2, 4, 5, 3], "the four whole results, then ok2 again")

        guard hasMPI else { throw XCTSkip("mpirun not installed: run scripts/setup.sh") }
        let ranked = temporaryPath(".jsonl")
        let m = try runMPI(ranks: 2, transport: "vader", arguments: arguments + ["--output", ranked])
        XCTAssertEqual(m.status, 0, m.stderr)
        let texts = { (rows: [[String: Any]]) in rows.map { "\($0["line"]!): \($0["text"] ?? $0["error"]!)" } }
        XCTAssertEqual(texts(try jsonLines(ranked)), texts(rows), "under mpirun rank 0 writes the same results, once")
    }

    func testEvaluationLengthsAreCheckedBeforeAnyPromptIsBuilt() throws {
        let output = temporaryPath(".jsonl")
        let huge = "9223372036854775807"
        assertOneLineError(try run(["passkey", "--model", Self.tools, "--length", "180,\(huge)", "--output", output] + Self.selfExtend),
                           mentions: "--length: '\(huge)' is not an integer in 1...10000000")
        assertOneLineError(try run(["needle", "--model", Self.tools, "--lengths", huge, "--output", output] + Self.selfExtend),
                           mentions: "--lengths: '\(huge)' is not an integer in 1...10000000")
        // SelfExtend with G = 4, W = 64 on a 256-token model positions (256 - 64) * 4 + 64 = 832 tokens.
        assertOneLineError(try run(["passkey", "--model", Self.tools, "--length", "180,5000", "--output", output] + Self.selfExtend),
                           mentions: "--length 5000: the prompt has 5007 tokens but this method and its parameters allow at most 832")
        assertOneLineError(try run(["needle", "--model", Self.tools, "--lengths", "5000", "--output", output] + Self.selfExtend),
                           mentions: "--lengths 5000: the prompt has 5023 tokens")
        XCTAssertFalse(FileManager.default.fileExists(atPath: output), "no trial ran")
    }

    func testNeedleRerunWithAnotherNeedleRunsItsOwnCells() throws {
        let output = temporaryPath(".jsonl"), csv = temporaryPath(".csv")
        let common = ["needle", "--model", Self.tools, "--lengths", "150", "--depths", "0,1", "--max-new-tokens", "4", "--quiet",
                      "--output", output, "--csv", csv] + Self.selfExtend
        XCTAssertEqual(try run(common).status, 0)
        XCTAssertEqual(try jsonLines(output).count, 2)
        let other = try run(common + ["--needle", "The secret number is 4417.", "--question", "What is the secret number? It is",
                                      "--answer", "4417"])
        XCTAssertEqual(other.status, 0, other.stderr)
        let cells = try jsonLines(output)
        XCTAssertEqual(cells.count, 4, "the other needle's cells ran instead of reusing the first needle's scores")
        XCTAssertEqual(cells.suffix(2).map { $0["needle"] as? String }, ["The secret number is 4417.", "The secret number is 4417."])
        // The same settings again reuse every cell.
        XCTAssertEqual(try run(common).status, 0)
        XCTAssertEqual(try jsonLines(output).count, 4)
    }
}

extension CLITests {
    /// Every comma-separated option goes through one parser: a bad item is an error naming the option, not
    /// silently dropped.
    func testCommaListsAreParsedAlikeByEveryCommand() throws {
        assertOneLineError(try run(["bench-attention", "--lengths", "64,x"]), mentions: "--lengths: 'x' is not an integer")
        assertOneLineError(try run(["bench", "--model", Self.tiny, "--lengths", "64,,128"]), mentions: "--lengths '64,,128' has an empty item")
        assertOneLineError(try run(["passkey", "--model", Self.tools, "--length", "180", "--depths", "0.5,2"]),
                           mentions: "--depths: '2' is not a number in 0.0...1.0")
        assertOneLineError(try run(["needle", "--model", Self.tools, "--lengths", "150", "--depths", "0.5,", "--output", temporaryPath(".jsonl")]),
                           mentions: "--depths '0.5,' has an empty item")
    }

    /// Method options in a job that the option parser would misread (a negative number looks like a flag)
    /// reach the method's own check and become the job's error line.
    func testNegativeJobOptionIsTheJobsOwnError() throws {
        let jobs = temporaryPath(".jsonl"), output = temporaryPath(".jsonl")
        try """
        {"id": "neg", "document": "a b c", "max_new_tokens": 2, "options": {"method": "linear", "factor": -1}}
        {"id": "ok", "document": "a b", "max_new_tokens": 2}

        """.write(toFile: jobs, atomically: true, encoding: .utf8)
        let r = try run(["batch", "--model", Self.tools, "--jobs", jobs, "--output", output, "--quiet"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let rows = try jsonLines(output)
        XCTAssertEqual(rows.map { $0["id"] as? String }, ["neg", "ok"])
        let error = try XCTUnwrap(rows[0]["error"] as? String)
        XCTAssertFalse(error.contains("Missing value"), error)
        XCTAssertTrue(error.contains("-1"), error)
        XCTAssertTrue(rows[1]["text"] is String)
    }
}

/// The task names of `longlm-dist ruler --tasks` (the CLI tests do not link the evaluation module).
enum RulerTaskNames {
    static let all = ["niah_single", "niah_multikey", "niah_multivalue", "niah_multiquery", "variable_tracking", "frequent_words"]
}
