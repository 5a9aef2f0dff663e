import Foundation

/// Append-only JSON Lines output that survives `kill -9`: each record is written with one `write(2)` of a
/// complete line to a file opened with O_APPEND, then fsync'd, so a reader sees whole lines only; a torn
/// last line (power loss mid-write) is ignored and overwritten on the next run.
public final class JSONLinesWriter {
    public let path: String
    private let descriptor: Int32

    public init(path: String) throws {
        self.path = path
        try JSONLinesWriter.dropTornLastLine(path: path)
        descriptor = open(path, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        guard descriptor >= 0 else {
            throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: path, NSLocalizedDescriptionKey: String(cString: strerror(errno))])
        }
    }

    deinit { close(descriptor) }

    public func append(_ object: [String: Any]) throws {
        var line = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
        line.append(0x0A)
        let written = line.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
        guard written == line.count else {
            throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: path, NSLocalizedDescriptionKey: "short write"])
        }
        fsync(descriptor)
    }

    /// The complete records already in a file (missing file: none).
    public static func read(path: String) throws -> [[String: Any]] {
        guard let data = FileManager.default.contents(atPath: path) else { return [] }
        return data.split(separator: 0x0A, omittingEmptySubsequences: true).compactMap {
            try? JSONSerialization.jsonObject(with: Data($0)) as? [String: Any]
        }
    }

    /// A file whose last byte is not a newline ends in a torn record: cut it off.
    static func dropTornLastLine(path: String) throws {
        guard let data = FileManager.default.contents(atPath: path), let last = data.last, last != 0x0A else { return }
        let keep = data.lastIndex(of: 0x0A).map { $0 + 1 } ?? 0
        try data.prefix(keep).write(to: URL(fileURLWithPath: path), options: .atomic)
    }
}
