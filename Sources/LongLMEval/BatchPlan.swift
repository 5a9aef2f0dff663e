import Foundation

/// What a batch run still has to do: the jobs file's lines against the results already in the output.
/// A job is known by its id; a line without one (not JSON, no "id") is known by its line number, and its
/// error is recorded with "line" and no "id", so that no job can be mistaken for it. A result is a record
/// with "text" or "error" and an "id" or (for such lines) a "line" number.
public struct BatchPlan {
    public struct Line: Equatable {
        /// 1-based line number in the jobs file.
        public var number: Int
        public var text: String
        /// The id, when the line has one.
        public var id: String?
    }

    public struct Duplicate: Equatable, CustomStringConvertible {
        public var id: String
        public var line: Int
        public var firstLine: Int
        public var description: String { "jobs line \(line): id \"\(id)\" is already used on line \(firstLine); this line is skipped" }
    }

    /// Lines to run (or to record an error for), in file order.
    public var pending: [Line] = []
    /// Lines whose result is already in the output.
    public var finished = 0
    /// Lines repeating an earlier line's id: only the first runs.
    public var duplicates: [Duplicate] = []
    /// Output lines that are not results: they are ignored (their jobs run again), and said so.
    public var outputProblems: [String] = []

    public init(jobs: String, output: JSONLinesContents, outputName: String) {
        var doneIDs = Set<String>(), doneLines = Set<Int>()
        for line in output.corruptLines {
            outputProblems.append("\(outputName) line \(line) is not a JSON object; ignored (its job, if any, runs again)")
        }
        for record in output.records {
            let object = record.object
            let isResult = object["text"] is String || object["error"] is String
            if isResult, let id = object["id"] as? String, !id.isEmpty {
                doneIDs.insert(id)
            } else if isResult, object["id"] == nil, let line = object["line"] as? Int, !isJSONBoolean(object["line"]) {
                doneLines.insert(line)
            } else {
                outputProblems.append("\(outputName) line \(record.line) is not a batch result (it needs an \"id\" and a \"text\" or \"error\"); ignored")
            }
        }
        var firstLine: [String: Int] = [:]
        for (index, raw) in jobs.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let text = raw.trimmingCharacters(in: .whitespacesAndNewlines)
            guard !text.isEmpty else { continue }
            let line = Line(number: index + 1, text: text, id: BatchJob.id(ofLine: text))
            if let id = line.id {
                if let first = firstLine[id] {
                    duplicates.append(Duplicate(id: id, line: line.number, firstLine: first))
                    continue
                }
                firstLine[id] = line.number
                if doneIDs.contains(id) { finished += 1; continue }
            } else if doneLines.contains(line.number) {
                finished += 1
                continue
            }
            pending.append(line)
        }
    }

    /// `lines` with the jobs over the same document brought together, so that they run back to back and each reuses
    /// the document's prefill (the runner's prefix cache): documents in the order they first appear, each document's
    /// jobs in file order. Lines without a document keep their place relative to the first job of their own.
    public static func groupedByDocument(_ lines: [Line]) -> [Line] {
        var order: [String] = []
        var groups: [String: [Line]] = [:]
        for line in lines {
            let key = BatchJob.documentKey(ofLine: line.text) ?? "line:\(line.number)"
            if groups[key] == nil { order.append(key) }
            groups[key, default: []].append(line)
        }
        return order.flatMap { groups[$0]! }
    }

    /// The fields that tie a result to its line: the id, or for a line without one, its number.
    public static func identity(of line: Line) -> [String: Any] {
        line.id.map { ["id": $0, "line": line.number] } ?? ["line": line.number]
    }
}
