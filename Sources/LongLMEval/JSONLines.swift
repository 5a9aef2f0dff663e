import Foundation
import LongLMCore

/// Append-only JSON Lines output that survives `kill -9`: each record is written with one `write(2)` of a
/// complete line to a file opened with O_APPEND, then fsync'd, so a reader sees whole lines only; a torn
/// last line (power loss mid-write) is cut off when the file is opened again. The file is locked
/// (exclusively, for as long as the writer lives): a second run on the same output would read the same
/// finished records and append every remaining result a second time, so it is refused at once.
public final class JSONLinesWriter {
    public let path: String
    private let output: OutputFile.Writer
    /// What the file held when it was opened (read under the lock, after the torn line was cut).
    public let existing: JSONLinesContents

    public init(path: String) throws {
        self.path = path
        let file = try OutputFile(path)
        output = try file.appending()
        guard file.kind != .special else {
            // A device or FIFO holds no earlier records and cannot be shared by mistake between runs.
            existing = JSONLinesContents(records: [], corruptLines: [])
            return
        }
        try output.lockExclusively()
        let data = FileManager.default.contents(atPath: file.target) ?? Data()
        if let last = data.last, last != 0x0A {
            try output.truncate(to: data.lastIndex(of: 0x0A).map { $0 + 1 } ?? 0)
        }
        existing = JSONLinesContents(data)
    }

    public func append(_ object: [String: Any]) throws {
        var line = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
        line.append(0x0A)
        try output.appendRecord(line)
    }

    /// The complete records of a file (missing file: none).
    public static func read(path: String) throws -> JSONLinesContents {
        JSONLinesContents(FileManager.default.contents(atPath: path) ?? Data())
    }
}

/// The records of a JSON Lines file with their line numbers, and the lines that are not JSON objects. A
/// last line without its newline is a torn write, not a record.
public struct JSONLinesContents {
    public struct Record {
        /// 1-based line number in the file.
        public var line: Int
        public var object: [String: Any]
    }
    public var records: [Record]
    /// 1-based numbers of lines that are not JSON objects (blank lines are neither).
    public var corruptLines: [Int]

    public init(records: [Record], corruptLines: [Int]) {
        self.records = records
        self.corruptLines = corruptLines
    }

    public init(_ data: Data) {
        var lines = data.split(separator: 0x0A, omittingEmptySubsequences: false)
        lines.removeLast()   // after the last newline: empty, or a torn record
        records = []
        corruptLines = []
        for (index, line) in lines.enumerated() where !line.allSatisfy({ $0 == 0x20 || $0 == 0x09 || $0 == 0x0D }) {
            if let object = (try? JSONSerialization.jsonObject(with: Data(line))) as? [String: Any] {
                records.append(Record(line: index + 1, object: object))
            } else {
                corruptLines.append(index + 1)
            }
        }
    }

    public var objects: [[String: Any]] { records.map(\.object) }
}

/// Whether a value from `JSONSerialization` is a JSON `true` or `false`. `value is Bool` cannot tell: a
/// parsed 0 or 1 is an NSNumber that casts to Bool too; only booleans are stored as a C `char`.
public func isJSONBoolean(_ value: Any?) -> Bool {
    guard let number = value as? NSNumber else { return false }
    return String(cString: number.objCType) == "c"
}
