import XCTest
import Foundation
import LongLMModels
@testable import LongLMEval

/// What the evaluation tools reuse from an earlier run, what they run, and how they read their options.
final class EvaluationBookkeepingTests: XCTestCase {
    func contents(_ text: String) -> JSONLinesContents { JSONLinesContents(Data(text.utf8)) }

    // MARK: comma lists

    func testCommaListParsesTrimmedItemsAndRefusesEmptyBadAndOutOfRangeItems() throws {
        XCTAssertEqual(try CommaList.parse(" 512, 2048 ,8192", option: "--lengths", in: 1...10_000), [512, 2048, 8192])
        XCTAssertEqual(try CommaList.parse("0,0.5,1", option: "--depths", in: 0.0...1.0), [0, 0.5, 1])
        XCTAssertEqual(try CommaList.parse("none,dca", option: "--methods") as [String], ["none", "dca"])
        let cases: [(String, CommaList.Failure)] = [
            ("", .empty(option: "--lengths")),
            ("512,,2048", .emptyItem(option: "--lengths", text: "512,,2048")),
            ("512,", .emptyItem(option: "--lengths", text: "512,")),
            ("512,2k", .invalid(option: "--lengths", item: "2k", expected: "an integer in 1...10000")),
            ("9223372036854775807", .invalid(option: "--lengths", item: "9223372036854775807", expected: "an integer in 1...10000")),
            ("0", .invalid(option: "--lengths", item: "0", expected: "an integer in 1...10000")),
        ]
        for (text, failure) in cases {
            XCTAssertThrowsError(try CommaList.parse(text, option: "--lengths", in: 1...10_000) as [Int], text) {
                XCTAssertEqual($0 as? CommaList.Failure, failure, text)
                XCTAssertTrue("\($0)".hasPrefix("--lengths"), "the message names the option: \($0)")
            }
        }
        XCTAssertThrowsError(try CommaList.parse("0.5,nan", option: "--depths", in: 0.0...1.0) as [Double])
        XCTAssertThrowsError(try CommaList.parse("1.5", option: "--depths", in: 0.0...1.0) as [Double])
    }

    // MARK: JSON Lines

    func testContentsNumberEveryLineAndReportCorruptOnesButNotATornLastLine() {
        let file = contents("{\"id\":\"a\"}\n{\"id\":\"b\",\"te\n\n[1]\n{\"id\":\"c\"}\n{\"id\":\"d\"")
        XCTAssertEqual(file.records.map(\.line), [1, 5])
        XCTAssertEqual(file.records.map { $0.object["id"] as? String }, ["a", "c"])
        XCTAssertEqual(file.corruptLines, [2, 4], "a torn line in the middle and a non-object are reported; the blank line and the torn last line are not")
    }

    // MARK: passkey

    func testPasskeyKeysAreFiveDigitsFixedBySeedLengthAndTrial() {
        let keys = (0..<50).map { PasskeyRun.key(seed: 0, length: 1000, trial: $0) }
        XCTAssertTrue(keys.allSatisfy { $0.count == 5 && Int($0).map { (10_000...99_999).contains($0) } == true }, "\(keys)")
        XCTAssertGreaterThan(Set(keys).count, 45, "trials get different keys")
        XCTAssertEqual(PasskeyRun.key(seed: 0, length: 1000, trial: 7), keys[7], "the same trial always hides the same key")
        XCTAssertNotEqual(PasskeyRun.key(seed: 1, length: 1000, trial: 7), keys[7])
        XCTAssertNotEqual(PasskeyRun.key(seed: 0, length: 2000, trial: 7), keys[7])
    }

    func testPasskeyDepthsSpreadEvenlyOrCycleTheGivenOnes() {
        let run = PasskeyRun(model: "m", method: "none", seed: 0, maxNewTokens: 8, trials: 4, depths: nil)
        XCTAssertEqual(run.trials(length: 100).map(\.depth), [0.125, 0.375, 0.625, 0.875])
        var given = run
        given.depths = [0, 1]
        XCTAssertEqual(given.trials(length: 100).map(\.depth), [0, 1, 0, 1])
    }

    func testPasskeyReusesOnlyTrialsOfTheSameSetup() {
        let run = PasskeyRun(model: "/m.gguf", method: "none", seed: 3, maxNewTokens: 8, trials: 2, depths: nil)
        let trial = run.trials(length: 500)[1]
        let record = run.key(of: trial).object.merging(["success": true, "answer": "x"]) { a, _ in a }
        XCTAssertNotNil(run.previous(trial, in: [record]))
        XCTAssertNil(run.previous(run.trials(length: 500)[0], in: [record]), "another trial")
        var other = run
        other.seed = 4
        XCTAssertNil(other.previous(other.trials(length: 500)[1], in: [record]), "another seed hides another key")
        other = run
        other.maxNewTokens = 16
        XCTAssertNil(other.previous(trial, in: [record]), "a longer answer may find the key")
        other = run
        other.model = "/other.gguf"
        XCTAssertNil(other.previous(trial, in: [record]), "another model")
        other = run
        other.depths = [0.9]
        XCTAssertNil(other.previous(other.trials(length: 500)[1], in: [record]), "another depth")
        // Records come back from JSON: trial 0 and 1 are NSNumbers that also cast to Bool, and still match.
        let parsed = contents(String(decoding: try! JSONSerialization.data(withJSONObject: record), as: UTF8.self) + "\n").objects
        XCTAssertNotNil(run.previous(trial, in: parsed))
        // A record written before the key fields existed is not reused.
        XCTAssertNil(run.previous(trial, in: [["kind": "passkey", "method": "none", "length": 500, "trial": 1, "success": true]]))
    }

    /// A chat trial never answers for a plain one nor the other way round; plain trials still match records written
    /// before the chat fields existed.
    func testPasskeyChatTrialsAreKeptApartFromPlainOnes() {
        let plain = PasskeyRun(model: "m", method: "none", seed: 0, maxNewTokens: 8, trials: 1, depths: nil)
        let chat = PasskeyRun(model: "m", method: "none", seed: 0, maxNewTokens: 8, trials: 1, depths: nil,
                              chat: ChatTurn(template: .chatml, system: "Be brief."))
        let trial = plain.trials(length: 100)[0]
        let plainRecord = plain.key(of: trial).object, chatRecord = chat.key(of: trial).object
        XCTAssertEqual(plainRecord["chat"] as? Bool, false)
        XCTAssertEqual(chatRecord["chat"] as? Bool, true)
        XCTAssertEqual(chatRecord["chat_template"] as? String, "chatml")
        XCTAssertNotNil(plain.previous(trial, in: [plainRecord]))
        XCTAssertNil(plain.previous(trial, in: [chatRecord]))
        XCTAssertNil(chat.previous(trial, in: [plainRecord]))
        XCTAssertNotNil(chat.previous(trial, in: [chatRecord]))
        var older = plainRecord
        older["chat"] = nil
        XCTAssertNotNil(plain.previous(trial, in: [older]), "a record from before the chat fields is a plain trial")
        XCTAssertNil(chat.previous(trial, in: [older]))
        var otherSystem = chat
        otherSystem.chat?.system = nil
        XCTAssertNil(otherSystem.previous(trial, in: [chatRecord]))
        var otherTemplate = chat
        otherTemplate.chat?.template = .phi3
        XCTAssertNil(otherTemplate.previous(trial, in: [chatRecord]))
    }

    func testFirstNumberOfAnAnswer() {
        XCTAssertEqual(firstNumber(in: " 71432. Remember it"), "71432")
        XCTAssertEqual(firstNumber(in: "key is 12 34"), "12")
        XCTAssertNil(firstNumber(in: "no digits"))
    }

    // MARK: needle

    func needleSetup() -> NeedleSetup {
        NeedleSetup(model: "/m.gguf", method: "dca", needle: NeedleSetup.defaultNeedle, question: NeedleSetup.defaultQuestion,
                    answer: NeedleSetup.defaultAnswer, haystackName: "kjv.txt", sentences: ["In the beginning.", "And then."],
                    maxNewTokens: 24, seed: 0)
    }

    func testNeedleGridReusesOnlyCellsOfTheSameNeedleQuestionAnswerHaystackAndMethod() {
        let setup = needleSetup()
        let cell = setup.key(length: 1000, depth: 0.5).object.merging(["score": 0.75]) { a, _ in a }
        XCTAssertEqual(NeedleGrid(setup: setup, lengths: [1000], depths: [0.5], records: [cell]).scores, [[0.75]])
        var changes: [(String, NeedleSetup)] = []
        var other = setup; other.needle = "The secret is 42."; changes.append(("needle", other))
        other = setup; other.question = "What is the secret? It is"; changes.append(("question", other))
        other = setup; other.answer = "42"; changes.append(("answer", other))
        other = setup; other.sentences = ["Other prose."]; changes.append(("haystack contents", other))
        other = setup; other.method = "selfextend (group size 4, window 64)"; changes.append(("method", other))
        other = setup; other.maxNewTokens = 6; changes.append(("answer length", other))
        other = setup; other.model = "/other.gguf"; changes.append(("model", other))
        for (what, changed) in changes {
            let grid = NeedleGrid(setup: changed, lengths: [1000], depths: [0.5], records: [cell])
            XCTAssertEqual(grid.scores, [[nil]], "another \(what): the cell runs again")
            XCTAssertEqual(grid.todo.count, 1, what)
        }
        other = setup
        other.haystackName = "/moved/kjv.txt"
        XCTAssertEqual(NeedleGrid(setup: other, lengths: [1000], depths: [0.5], records: [cell]).scores, [[0.75]],
                       "the same haystack from another file name keeps its cells")
    }

    func testNeedleGridTodoAndCSV() {
        let setup = needleSetup()
        let records = [setup.key(length: 300, depth: 0).object.merging(["score": 1.0]) { a, _ in a },
                       setup.key(length: 150, depth: 1).object.merging(["score": 0.25]) { a, _ in a }]
        var grid = NeedleGrid(setup: setup, lengths: [150, 300], depths: [0, 1], records: records)
        XCTAssertEqual(grid.todo.map { "\($0.length)/\($0.depth)" }, ["150/0.0", "300/1.0"])
        grid.record(length: 150, depth: 0, score: 0.5)
        XCTAssertEqual(grid.csv(), "depth,150,300\n0.0,0.5000,1.0000\n1.0,0.2500,\n")
    }

    // MARK: batch

    func testBatchJobRefusesMaxNewTokensOutsideItsRange() {
        for value in ["9223372036854775807", "1000001", "0", "1e308", "-1"] {
            XCTAssertThrowsError(try BatchJob.parse(line: #"{"id": "x", "document": "d", "max_new_tokens": \#(value)}"#, directory: "/"), value) {
                XCTAssertEqual(($0 as? BatchJob.Failure)?.id, "x")
                XCTAssertTrue("\($0)".contains("1...1000000"), "\($0)")
            }
        }
        XCTAssertEqual(try BatchJob.parse(line: #"{"id": "x", "document": "d", "max_new_tokens": 1000000}"#, directory: "/").maxNewTokens, 1_000_000)
        // A parsed 1 is an NSNumber that also casts to Bool; it is still a number.
        XCTAssertEqual(try BatchJob.parse(line: #"{"id": "x", "document": "d", "max_new_tokens": 1}"#, directory: "/").maxNewTokens, 1)
        XCTAssertEqual(try BatchJob.parse(line: #"{"id": "x", "document": "d", "options": {"method": "selfextend", "group_size": 1, "logn": true}}"#,
                                          directory: "/").options, ["--group-size=1", "--logn", "--method=selfextend"])
    }

    func testBatchJobOptionsKeepNegativeNumbersAsValues() throws {
        XCTAssertEqual(try BatchJob.parse(line: #"{"id": "x", "document": "d", "options": {"method": "linear", "factor": -1}}"#, directory: "/").options,
                       ["--factor=-1", "--method=linear"])
    }

    func testBatchErrorOfALineWithoutIdIsNotTakenForAJobNamedAfterTheLine() {
        let jobs = "not json\n{\"id\": \"line 1\", \"document\": \"d\"}\n"
        // Fresh output: both run.
        XCTAssertEqual(BatchPlan(jobs: jobs, output: contents(""), outputName: "out").pending.map(\.number), [1, 2])
        // The job "line 1" is finished; line 1's own error is not.
        var plan = BatchPlan(jobs: jobs, output: contents("{\"id\": \"line 1\", \"line\": 2, \"text\": \"t\"}\n"), outputName: "out")
        XCTAssertEqual(plan.pending.map(\.number), [1])
        XCTAssertEqual(plan.pending.first.map { BatchPlan.identity(of: $0) as NSDictionary }, ["line": 1] as NSDictionary)
        // And the other way round.
        plan = BatchPlan(jobs: jobs, output: contents("{\"line\": 1, \"error\": \"jobs line 1: not a JSON object\"}\n"), outputName: "out")
        XCTAssertEqual(plan.pending.map(\.number), [2])
        XCTAssertEqual(plan.finished, 1)
    }

    func testBatchDuplicateIdsAreReportedAsDuplicatesNotAsFinished() {
        let jobs = """
        {"id": "a", "document": "1"}
        {"id": "b", "document": "2"}
        {"id": "a", "document": "3"}
        {"id": "a", "colour": "red"}
        """
        let plan = BatchPlan(jobs: jobs, output: contents(""), outputName: "out")
        XCTAssertEqual(plan.pending.map(\.number), [1, 2])
        XCTAssertEqual(plan.finished, 0, "nothing is in a fresh output")
        XCTAssertEqual(plan.duplicates, [BatchPlan.Duplicate(id: "a", line: 3, firstLine: 1), BatchPlan.Duplicate(id: "a", line: 4, firstLine: 1)])
        XCTAssertTrue(plan.duplicates[0].description.contains("already used on line 1"), plan.duplicates[0].description)
    }

    func testBatchCorruptOutputLinesAreReportedAndNeverCountAsFinished() {
        let jobs = (1...4).map { "{\"id\": \"j\($0)\", \"document\": \"d\"}" }.joined(separator: "\n")
        let output = """
        {"id": "j1", "text": "one"}
        {"id": "j2", "te
        {"id": "j3"}
        {"id": "j4", "error": "bad"}

        """
        let plan = BatchPlan(jobs: jobs, output: contents(output), outputName: "results.jsonl")
        XCTAssertEqual(plan.pending.compactMap(\.id), ["j2", "j3"])
        XCTAssertEqual(plan.finished, 2)
        XCTAssertEqual(plan.outputProblems.count, 2)
        XCTAssertTrue(plan.outputProblems[0].hasPrefix("results.jsonl line 2 is not a JSON object"), plan.outputProblems[0])
        XCTAssertTrue(plan.outputProblems[1].hasPrefix("results.jsonl line 3 is not a batch result"), plan.outputProblems[1])
    }

    func testBatchJobsOverOneDocumentAreGroupedInFileOrder() {
        let jobs = [#"{"id": "a", "document": "one"}"#, #"{"id": "b", "document_path": "two.txt"}"#, "not json",
                    #"{"id": "c", "document": "one", "prompt": "{document} again"}"#, #"{"id": "d", "document_path": "two.txt"}"#,
                    #"{"id": "e", "document": "three"}"#].joined(separator: "\n")
        let plan = BatchPlan(jobs: jobs, output: contents(""), outputName: "out")
        XCTAssertEqual(BatchPlan.groupedByDocument(plan.pending).map(\.number), [1, 4, 2, 5, 3, 6])
    }
}
