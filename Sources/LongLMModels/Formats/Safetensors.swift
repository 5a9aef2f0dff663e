import Foundation
import LongLMCore

// safetensors layout: u64 little-endian header length N | N bytes of JSON
//   { "name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, ..., "__metadata__": {...} }
// | data (offsets relative to 8 + N). Every extent is checked against the file.

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
        let headerData = Data(bytes: file.base + 8, count: Int(headerLength))
        guard let header = try? JSONSerialization.jsonObject(with: headerData) as? [String: Any] else {
            throw fail("header (offset 8, \(headerLength) bytes) is not a JSON object")
        }
        let dataStart = 8 + Int(headerLength)
        let dataSize = file.size - dataStart
        for (name, value) in header.sorted(by: { $0.key < $1.key }) where name != "__metadata__" {
            guard let info = value as? [String: Any], let dtype = info["dtype"] as? String,
                  let shape = info["shape"] as? [Int], let offsets = info["data_offsets"] as? [Int], offsets.count == 2 else {
                throw fail("tensor '\(name)' has no valid dtype/shape/data_offsets")
            }
            let type: GGMLType
            switch dtype {
            case "F32": type = .f32
            case "F16": type = .f16
            case "BF16": type = .bf16
            default: throw fail("tensor '\(name)' has dtype \(dtype); supported: F32, F16, BF16")
            }
            guard shape.allSatisfy({ $0 >= 0 }), shape.count <= 4 else { throw fail("tensor '\(name)' has invalid shape \(shape)") }
            var elements = 1
            for d in shape {
                let (p, o) = elements.multipliedReportingOverflow(by: d)
                guard !o else { throw fail("tensor '\(name)' shape \(shape) overflows") }
                elements = p
            }
            let begin = offsets[0], end = offsets[1]
            guard begin >= 0, end >= begin, end <= dataSize else {
                throw fail("tensor '\(name)' data [\(begin), \(end)) is outside the data section of \(dataSize) bytes")
            }
            guard end - begin == elements * type.bytesPerBlock else {
                throw fail("tensor '\(name)' has \(end - begin) bytes but shape \(shape) of \(dtype) needs \(elements * type.bytesPerBlock)")
            }
            guard entries[name] == nil else { throw fail("tensor '\(name)' appears in more than one shard") }
            let cols = shape.last ?? 1
            let rows = shape.count <= 1 ? 1 : shape.dropLast().reduce(1, *)
            entries[name] = StoredTensor(name: name, type: type, rows: rows, cols: cols,
                                         data: file.base + dataStart + begin, byteCount: end - begin)
            tensorNames.append(name)
        }
    }
}
