import XCTest
import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
@testable import LongLMEval

final class ReportTests: XCTestCase {
    func testHeatmapIsValidXMLWithOneCellPerGridPoint() throws {
        let lengths = [1000, 2000, 4500, 8000], depths = [0, 0.25, 0.5, 0.75, 1.0]
        let scores = depths.map { d in lengths.map { l -> Double? in l == 8000 && d == 1 ? nil : Double(l) / 8000 * (1 - d / 2) } }
        let svg = Heatmap(title: "needle <&> test", lengths: lengths, depths: depths, scores: scores).svg()
        final class Counter: NSObject, XMLParserDelegate {
            var cells = 0, rects = 0, root: String?
            var fills: [String] = []
            func parser(_ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?, attributes: [String: String] = [:]) {
                if root == nil { root = name }
                if name == "rect" { rects += 1 }
                if name == "rect" && attributes["class"] == "cell" { cells += 1; fills.append(attributes["fill"] ?? "") }
            }
        }
        let parser = XMLParser(data: Data(svg.utf8))
        let counter = Counter()
        parser.delegate = counter
        XCTAssertTrue(parser.parse(), "not well-formed: \(String(describing: parser.parserError))")
        XCTAssertEqual(counter.root, "svg")
        XCTAssertEqual(counter.cells, lengths.count * depths.count)
        XCTAssertEqual(counter.fills.last, "#d0d0d0", "an unmeasured cell is grey")
        XCTAssertTrue(svg.contains("needle &lt;&amp;&gt; test"))
        XCTAssertNotEqual(Heatmap.colour(0), Heatmap.colour(1))
    }

    func testWindowsScoreEveryTokenOnce() {
        for (n, window, stride) in [(10, 4, 4), (10, 4, 2), (1000, 300, 100), (5, 10, 10), (1001, 250, 250), (7, 2, 1)] {
            let windows = PerplexityWindow.plan(tokens: n, maxTokens: window, stride: stride)
            var scored: [Int] = []
            for w in windows {
                XCTAssertLessThanOrEqual(w.range.count, window)
                XCTAssertGreaterThanOrEqual(w.scoredFrom, 1)
                scored += (w.range.lowerBound + w.scoredFrom)..<w.range.upperBound
            }
            // Non-overlapping windows cannot score a window's first token; overlapping ones score all but token 0.
            XCTAssertEqual(Set(scored).count, scored.count, "no token twice (\(n), \(window), \(stride))")
            if stride < window { XCTAssertEqual(scored, Array(1..<n), "(\(n), \(window), \(stride))") }
            // The text is covered to its end, except a last window of one token (nothing in it can be predicted).
            XCTAssertGreaterThanOrEqual(windows.last!.range.upperBound, n - 1)
        }
        XCTAssertEqual(PerplexityWindow.plan(tokens: 10, maxTokens: 4, stride: 4).map(\.range), [0..<4, 4..<8, 8..<10])
    }

    func testBucketsAndCumulativePerplexity() {
        var report = PerplexityReport(bucketSize: 2)
        report.add([1, 3, 2], firstIndex: 1)     // indices 1, 2, 3 -> buckets 0, 1, 1
        report.add([4], firstIndex: 0)          // index 0 -> bucket 0
        let b = report.buckets
        XCTAssertEqual(b.map(\.count), [2, 2])
        XCTAssertEqual(b[0].meanNLL, 2.5, accuracy: 1e-12)
        XCTAssertEqual(b[1].meanNLL, 2.5, accuracy: 1e-12)
        XCTAssertEqual(b[1].cumulativePerplexity, exp(2.5), accuracy: 1e-9)
        XCTAssertEqual(report.perplexity, exp(2.5), accuracy: 1e-9)
    }

    func testBatchJobLines() throws {
        let directory = NSTemporaryDirectory() + "longlm-jobs-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try "the text".write(toFile: directory + "/doc.txt", atomically: true, encoding: .utf8)

        let job = try BatchJob.parse(line: #"{"id": "j1", "document_path": "doc.txt", "prompt": "Summarise: {document}!", "max_new_tokens": 7, "options": {"method": "selfextend", "group_size": 8, "logn": true, "no_window_check": false}}"#, directory: directory)
        XCTAssertEqual(job, BatchJob(id: "j1", text: "Summarise: the text!", maxNewTokens: 7,
                                     options: ["--group-size=8", "--logn", "--method=selfextend"]))
        XCTAssertEqual(try BatchJob.parse(line: #"{"id": "j2", "document": "d", "options": "--method ntk  --factor 2"}"#, directory: directory).options,
                       ["--method", "ntk", "--factor", "2"])
        XCTAssertNil(try BatchJob.parse(line: #"{"id": "j3", "document": "d"}"#, directory: directory).options)
        let chat = try BatchJob.parse(line: #"{"id": "j4", "document": "d", "chat": true, "system": "Be brief."}"#, directory: directory)
        XCTAssertEqual(chat.chat, true)
        XCTAssertEqual(chat.system, "Be brief.")
        XCTAssertNil(try BatchJob.parse(line: #"{"id": "j5", "document": "d"}"#, directory: directory).chat, "the command line decides")

        let bad: [(String, String?, String)] = [
            ("nonsense", nil, "not a JSON object"),
            (#"{"document": "d"}"#, nil, "no \"id\""),
            (#"{"id": "x"}"#, "x", "needs \"document\""),
            (#"{"id": "x", "document": "d", "document_path": "doc.txt"}"#, "x", "not both"),
            (#"{"id": "x", "document_path": "missing.txt"}"#, "x", "cannot read"),
            (#"{"id": "x", "document": "d", "prompt": "no placeholder"}"#, "x", "{document}"),
            (#"{"id": "x", "document": "d", "max_new_tokens": 0}"#, "x", "an integer in 1...1000000"),
            (#"{"id": "x", "document": "d", "max_new_tokens": true}"#, "x", "an integer in 1...1000000"),
            (#"{"id": "x", "document": "d", "options": 3}"#, "x", "object or a string"),
            (#"{"id": "x", "document": "d", "colour": "red"}"#, "x", "unknown field"),
            (#"{"id": "x", "document": "d", "chat": 1}"#, "x", "\"chat\" must be true or false"),
            (#"{"id": "x", "document": "d", "chat": true, "system": ""}"#, "x", "\"system\" must be a non-empty string"),
        ]
        for (line, id, message) in bad {
            XCTAssertThrowsError(try BatchJob.parse(line: line, directory: directory), line) { error in
                let failure = error as? BatchJob.Failure
                XCTAssertEqual(failure?.id, id, line)
                XCTAssertTrue(failure?.message.contains(message) == true, "\(line): \(String(describing: failure))")
            }
        }
    }
}
