import Foundation
import LongLMCore

// safetensors layout: u64 little-endian header length N | N bytes of JSON
//   { "name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, ..., "__metadata__": {...} }
// | data (offsets relative to 8 + N). Every extent is checked against the file, every size product for overflow.

public enum SafetensorsError: Error, CustomStringConvertible {
    case malformed(path: String, detail: String)
    public var description: String {
        switch self { case .malformed(let path, let detail): return "malformed safetensors file \(path): \(detail)" }
    }
}

/// One or more safetensors shards of a checkpoint, memory-mapped.
public final class SafetensorsCheckpoint: TensorSource, @unchecked Sendable {
    private var files: [MappedFile] = []
    private var entries: [String: StoredTensor] = [:]
    public private(set) var tensorNames: [String] = []

    public init(paths: [String]) throws {
        for path in paths { try add(path: path) }
    }

    public func tensor(named name: String) -> StoredTensor? { entries[name] }

    private func add(path: String) throws {
        let file = try MappedFile(path: path)
        files.append(file)
        func fail(_ detail: String) -> SafetensorsError { .malformed(path: path, detail: detail) }
        guard file.size >= 8 else { throw fail("file has \(file.size) bytes, shorter than the 8-byte header length") }
        let headerLength = UInt64(littleEndian: file.base.loadUnaligned(as: UInt64.self))
        guard headerLength <= UInt64(file.size - 8) else {
            throw fail("header length \(headerLength) at offset 0 exceeds the file size \(file.size)")
        }
        guard headerLength <= UInt64(InputLimits.safetensorsHeaderBytes) else {
            throw fail("header length \(headerLength) exceeds the limit of \(InputLimits.safetensorsHeaderBytes) bytes")
        }
        let headerData = Data(bytes: file.base + 8, count: Int(headerLength))
        let parsed: Any
        do { parsed = try JSONSerialization.jsonObject(with: headerData) } catch {
            throw fail("header (offset 8, \(headerLength) bytes) is not valid JSON: \(JSONFile.reason(error))")
        }
        guard let header = parsed as? [String: Any] else {
            throw fail("header (offset 8, \(headerLength) bytes) is not a JSON object")
        }
        let dataStart = 8 + Int(headerLength)
        let dataSize = file.size - dataStart
        for (name, value) in header.sorted(by: { $0.key < $1.key }) where name != "__metadata__" {
            let shown = quoted(name)
            guard let info = value as? [String: Any], let dtype = info["dtype"] as? String,
                  let shape = JSONFile.integers(info["shape"]), let offsets = JSONFile.integers(info["data_offsets"]),
                  offsets.count == 2 else {
                throw fail("tensor \(shown) has no valid dtype/shape/data_offsets")
            }
            let type: GGMLType
            switch dtype {
            case "F32": type = .f32
            case "F16": type = .f16
            case "BF16": type = .bf16
            default: throw fail("tensor \(shown) has dtype \(quoted(dtype)); supported: F32, F16, BF16")
            }
            guard shape.allSatisfy({ $0 >= 0 }), shape.count <= 4 else { throw fail("tensor \(shown) has invalid shape \(shape)") }
            // The byte count, not only the element count, must fit in an Int.
            var bytes = type.bytesPerBlock
            for d in shape {
                let (p, o) = bytes.multipliedReportingOverflow(by: d)
                guard !o else { throw fail("tensor \(shown) shape \(shape) of \(dtype) overflows a byte count") }
                bytes = p
            }
            let begin = offsets[0], end = offsets[1]
            guard begin >= 0, end >= begin, end <= dataSize else {
                throw fail("tensor \(shown) data [\(begin), \(end)) is outside the data section of \(dataSize) bytes")
            }
            guard end - begin == bytes else {
                throw fail("tensor \(shown) has \(end - begin) bytes but shape \(shape) of \(dtype) needs \(bytes)")
            }
            guard entries[name] == nil else { throw fail("tensor \(shown) appears in more than one shard") }
            let cols = shape.last ?? 1
            let rows = shape.count <= 1 ? 1 : shape.dropLast().reduce(1, *)
            entries[name] = StoredTensor(name: name, type: type, rows: rows, cols: cols,
                                         data: file.base + dataStart + begin, byteCount: end - begin)
            tensorNames.append(name)
        }
    }
}
