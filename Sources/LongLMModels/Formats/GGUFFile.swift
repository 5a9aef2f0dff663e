import LongLMCore

// GGUF layout (ggml's gguf.h; versions 2 and 3, little endian):
//   u32 magic "GGUF" | u32 version | u64 tensor_count | u64 kv_count
//   kv_count x { string key | u32 value_type | value }          string = u64 length + UTF-8 bytes
//   tensor_count x { string name | u32 n_dims | u64 ne[n_dims] | u32 ggml_type | u64 offset }
//   padding to `general.alignment` (default 32) | tensor data (each offset relative to here, aligned)
// Every count, length and extent is checked against the file size before it is used, and names, strings and
// arrays against `InputLimits` (a 250 MB "name" must not become a 250 MB allocation or error message).

public enum GGUFValueType: UInt32, Sendable {
    case uint8 = 0, int8 = 1, uint16 = 2, int16 = 3, uint32 = 4, int32 = 5, float32 = 6, bool = 7
    case string = 8, array = 9, uint64 = 10, int64 = 11, float64 = 12
}

// Not `indirect`: an array's elements are stored inline (about 24 bytes each) rather than boxed one by one.
public enum GGUFValue: Sendable, CustomStringConvertible {
    case uint8(UInt8), int8(Int8), uint16(UInt16), int16(Int16), uint32(UInt32), int32(Int32)
    case float32(Float), bool(Bool), string(String), uint64(UInt64), int64(Int64), float64(Double)
    case array(GGUFValueType, [GGUFValue])

    /// Any integer type as Int (nil for non-integers or values that do not fit).
    public var int: Int? {
        switch self {
        case .uint8(let v): return Int(v); case .int8(let v): return Int(v)
        case .uint16(let v): return Int(v); case .int16(let v): return Int(v)
        case .uint32(let v): return Int(v); case .int32(let v): return Int(v)
        case .uint64(let v): return v <= UInt64(Int.max) ? Int(v) : nil
        case .int64(let v): return Int(v)
        default: return nil
        }
    }
    public var double: Double? {
        switch self {
        case .float32(let v): return Double(v); case .float64(let v): return v
        default: return int.map(Double.init)
        }
    }
    public var string: String? { if case .string(let s) = self { return s }; return nil }
    public var bool: Bool? { if case .bool(let b) = self { return b }; return nil }
    public var array: [GGUFValue]? { if case .array(_, let a) = self { return a }; return nil }

    public var description: String {
        switch self {
        case .string(let s): return quoted(s, limit: 60)
        case .bool(let b): return "\(b)"
        case .float32(let v): return "\(v)"
        case .float64(let v): return "\(v)"
        case .array(let t, let a): return "[\(a.count) x \(t)]"
        default: return int.map { "\($0)" } ?? "?"
        }
    }
}

public struct GGUFTensorInfo: Sendable {
    public let name: String
    public let type: GGMLType
    /// ne[0] is the innermost (contiguous) dimension, as in ggml.
    public let shape: [Int]
    /// Absolute byte offset of the data in the file.
    public let fileOffset: Int
    public let byteCount: Int
    public var elementCount: Int { shape.reduce(1, *) }
}

public enum GGUFError: Error, CustomStringConvertible {
    case truncated(field: String, offset: Int, needed: Int, fileSize: Int)
    case badMagic(found: UInt32)
    case unsupportedVersion(UInt32)
    case invalidValue(field: String, offset: Int, detail: String)
    case tensor(name: String, offset: Int, detail: String)
    case duplicateKey(String, offset: Int)
    /// Any of the above in the file at `path` (what `GGUFFile(path:)` throws).
    indirect case inFile(path: String, GGUFError)

    public var description: String {
        switch self {
        case .truncated(let field, let offset, let needed, let size):
            return "GGUF truncated: \(field) at offset \(offset) needs \(needed) bytes but the file has \(size) bytes"
        case .badMagic(let m):
            return "not a GGUF file: magic is 0x\(String(m, radix: 16)) (expected 0x46554747, \"GGUF\")"
        case .unsupportedVersion(let v):
            return "unsupported GGUF version \(v) (supported: 2, 3)"
        case .invalidValue(let field, let offset, let detail):
            return "GGUF invalid \(field) at offset \(offset): \(detail)"
        case .tensor(let name, let offset, let detail):
            return "GGUF tensor \(quoted(name)) (info at offset \(offset)): \(detail)"
        case .duplicateKey(let key, let offset):
            return "GGUF duplicate metadata key \(quoted(key)) at offset \(offset)"
        case .inFile(let path, let error):
            return "\(path): \(error)"
        }
    }
}

/// A parsed GGUF file: metadata, tensor directory, and the memory map that holds the tensor data.
public final class GGUFFile: @unchecked Sendable {
    public let file: MappedFile
    public let version: UInt32
    public let metadata: [String: GGUFValue]
    /// Metadata keys in file order (for `info`).
    public let metadataKeys: [String]
    public let tensors: [GGUFTensorInfo]
    public let tensorsByName: [String: GGUFTensorInfo]
    public let alignment: Int
    public let dataOffset: Int

    public convenience init(path: String) throws {
        let file = try MappedFile(path: path)
        do { try self.init(file: file) } catch let error as GGUFError { throw GGUFError.inFile(path: path, error) }
    }

    public init(file: MappedFile) throws {
        self.file = file
        var cursor = ByteCursor(base: file.base, size: file.size)
        var elementBudget = InputLimits.metadataElements
        let magic = try cursor.read(UInt32.self, field: "magic")
        guard magic == 0x4655_4747 else { throw GGUFError.badMagic(found: magic) }
        version = try cursor.read(UInt32.self, field: "version")
        guard version == 2 || version == 3 else { throw GGUFError.unsupportedVersion(version) }
        let tensorCount = try cursor.readCount(field: "tensor_count", minimumBytesEach: 4 + 8 + 4 + 8 + 4 + 8)
        let kvCount = try cursor.readCount(field: "kv_count", minimumBytesEach: 8 + 4 + 1)

        var metadata: [String: GGUFValue] = [:]
        var keys: [String] = []
        for index in 0..<kvCount {
            let keyOffset = cursor.offset
            let key = try cursor.readString(field: "metadata key #\(index)", maximumBytes: InputLimits.nameBytes)
            let shownKey = quoted(key)
            let typeOffset = cursor.offset
            let rawType = try cursor.read(UInt32.self, field: "type of \(shownKey)")
            guard let type = GGUFValueType(rawValue: rawType) else {
                throw GGUFError.invalidValue(field: "type of \(shownKey)", offset: typeOffset, detail: "unknown value type \(rawType)")
            }
            let value = try cursor.readValue(type: type, field: "value of \(shownKey)", elementBudget: &elementBudget)
            guard metadata[key] == nil else { throw GGUFError.duplicateKey(key, offset: keyOffset) }
            metadata[key] = value
            keys.append(key)
        }
        self.metadata = metadata
        self.metadataKeys = keys

        var alignment = 32
        if let a = metadata["general.alignment"] {
            guard let v = a.int, v > 0, v & (v - 1) == 0 else {
                throw GGUFError.invalidValue(field: "general.alignment", offset: 0, detail: "\(a) is not a power of two")
            }
            alignment = v
        }
        self.alignment = alignment

        struct RawInfo { let name: String; let type: GGMLType; let shape: [Int]; let relative: Int; let bytes: Int; let at: Int }
        var raws: [RawInfo] = []
        raws.reserveCapacity(tensorCount)
        var seen = Set<String>()
        for index in 0..<tensorCount {
            let infoOffset = cursor.offset
            let name = try cursor.readString(field: "name of tensor #\(index)", maximumBytes: InputLimits.nameBytes)
            let shownName = quoted(name)
            guard seen.insert(name).inserted else { throw GGUFError.tensor(name: name, offset: infoOffset, detail: "duplicate tensor name") }
            let dims = try cursor.read(UInt32.self, field: "n_dims of \(shownName)")
            guard dims >= 1 && dims <= 4 else { throw GGUFError.tensor(name: name, offset: infoOffset, detail: "n_dims \(dims) not in 1...4") }
            var shape: [Int] = []
            var elements = 1
            for d in 0..<Int(dims) {
                let ne = try cursor.read(UInt64.self, field: "ne[\(d)] of \(shownName)")
                guard ne <= UInt64(Int32.max) * 1024 else {
                    throw GGUFError.tensor(name: name, offset: infoOffset, detail: "dimension \(d) is \(ne), too large")
                }
                shape.append(Int(ne))
                let (p, overflow) = elements.multipliedReportingOverflow(by: Int(ne))
                guard !overflow else { throw GGUFError.tensor(name: name, offset: infoOffset, detail: "element count overflows") }
                elements = p
            }
            let typeOffset = cursor.offset
            let rawType = try cursor.read(UInt32.self, field: "type of \(shownName)")
            guard let type = GGMLType(rawValue: rawType) else {
                throw GGUFError.tensor(name: name, offset: typeOffset, detail: "unknown tensor type \(rawType)")
            }
            let relative = try cursor.read(UInt64.self, field: "offset of \(shownName)")
            guard shape[0] % type.blockSize == 0, let rowBytes = type.rowBytes(count: shape[0]) else {
                throw GGUFError.tensor(name: name, offset: infoOffset, detail: "ne[0] = \(shape[0]) is not a multiple of the \(type.name) block size \(type.blockSize)")
            }
            let (bytes, overflow) = rowBytes.multipliedReportingOverflow(by: shape[0] == 0 ? 0 : elements / shape[0])
            guard !overflow, relative <= UInt64(Int.max) else { throw GGUFError.tensor(name: name, offset: infoOffset, detail: "byte size overflows") }
            guard Int(relative) % alignment == 0 else {
                throw GGUFError.tensor(name: name, offset: infoOffset, detail: "data offset \(relative) is not a multiple of the alignment \(alignment)")
            }
            raws.append(RawInfo(name: name, type: type, shape: shape, relative: Int(relative), bytes: bytes, at: infoOffset))
        }
        let dataOffset = (cursor.offset + alignment - 1) / alignment * alignment
        self.dataOffset = dataOffset
        var infos: [GGUFTensorInfo] = []
        for raw in raws {
            let (start, o1) = dataOffset.addingReportingOverflow(raw.relative)
            let (end, o2) = start.addingReportingOverflow(raw.bytes)
            guard !o1, !o2, end <= file.size else {
                throw GGUFError.tensor(name: raw.name, offset: raw.at,
                                       detail: "data [\(start), \(start &+ raw.bytes)) extends past the end of the file (\(file.size) bytes)")
            }
            infos.append(GGUFTensorInfo(name: raw.name, type: raw.type, shape: raw.shape, fileOffset: start, byteCount: raw.bytes))
        }
        tensors = infos
        tensorsByName = Dictionary(uniqueKeysWithValues: infos.map { ($0.name, $0) })
    }

    /// Pointer to a tensor's bytes inside the map (valid while this object lives).
    public func data(of tensor: GGUFTensorInfo) -> UnsafeRawPointer { file.base + tensor.fileOffset }

    public subscript(key: String) -> GGUFValue? { metadata[key] }
}

/// Reads little-endian values from a mapped file, checking every read against the file size.
struct ByteCursor {
    let base: UnsafeRawPointer
    let size: Int
    var offset = 0

    mutating func need(_ n: Int, field: String) throws {
        guard n >= 0, offset <= size, n <= size - offset else {
            throw GGUFError.truncated(field: field, offset: offset, needed: n, fileSize: size)
        }
    }

    mutating func read<T: FixedWidthInteger>(_ type: T.Type, field: String) throws -> T {
        try need(MemoryLayout<T>.size, field: field)
        let v = base.loadUnaligned(fromByteOffset: offset, as: T.self)
        offset += MemoryLayout<T>.size
        return T(littleEndian: v)
    }

    /// A u64 count whose items need at least `minimumBytesEach` bytes each: rejects counts the rest of the
    /// file cannot hold before anything is allocated.
    mutating func readCount(field: String, minimumBytesEach: Int) throws -> Int {
        let at = offset
        let n = try read(UInt64.self, field: field)
        let remaining = UInt64(size - offset)
        guard n <= remaining / UInt64(max(1, minimumBytesEach)) else {
            throw GGUFError.invalidValue(field: field, offset: at, detail: "count \(n) cannot fit in the remaining \(remaining) bytes")
        }
        return Int(n)
    }

    mutating func readString(field: String, maximumBytes: Int = InputLimits.metadataStringBytes) throws -> String {
        let at = offset
        let length = try read(UInt64.self, field: "\(field) (length)")
        guard length <= UInt64(maximumBytes) else {
            throw GGUFError.invalidValue(field: "\(field) (length)", offset: at,
                                         detail: "string of \(length) bytes is longer than the limit of \(maximumBytes) bytes")
        }
        guard length <= UInt64(size - offset) else {
            throw GGUFError.truncated(field: "\(field) (string of \(length) bytes)", offset: at, needed: Int(clamping: length), fileSize: size)
        }
        let n = Int(length)
        let s = String(decoding: UnsafeRawBufferPointer(start: base + offset, count: n), as: UTF8.self)
        offset += n
        return s
    }

    /// `elementBudget`: array elements the rest of the metadata may still hold (`InputLimits.metadataElements`).
    mutating func readValue(type: GGUFValueType, field: String, elementBudget: inout Int) throws -> GGUFValue {
        switch type {
        case .uint8: return .uint8(try read(UInt8.self, field: field))
        case .int8: return .int8(try read(Int8.self, field: field))
        case .uint16: return .uint16(try read(UInt16.self, field: field))
        case .int16: return .int16(try read(Int16.self, field: field))
        case .uint32: return .uint32(try read(UInt32.self, field: field))
        case .int32: return .int32(try read(Int32.self, field: field))
        case .uint64: return .uint64(try read(UInt64.self, field: field))
        case .int64: return .int64(try read(Int64.self, field: field))
        case .float32: return .float32(Float(bitPattern: try read(UInt32.self, field: field)))
        case .float64: return .float64(Double(bitPattern: try read(UInt64.self, field: field)))
        case .bool:
            let at = offset
            let b = try read(UInt8.self, field: field)
            guard b <= 1 else { throw GGUFError.invalidValue(field: field, offset: at, detail: "bool byte is \(b)") }
            return .bool(b == 1)
        case .string: return .string(try readString(field: field))
        case .array:
            let at = offset
            let raw = try read(UInt32.self, field: "\(field) (element type)")
            guard let elementType = GGUFValueType(rawValue: raw) else {
                throw GGUFError.invalidValue(field: field, offset: at, detail: "unknown array element type \(raw)")
            }
            guard elementType != .array else {
                throw GGUFError.invalidValue(field: field, offset: at, detail: "nested arrays are not supported")
            }
            let minimum: Int
            switch elementType {
            case .uint8, .int8, .bool: minimum = 1
            case .uint16, .int16: minimum = 2
            case .uint32, .int32, .float32: minimum = 4
            case .uint64, .int64, .float64, .string: minimum = 8
            case .array: minimum = 1
            }
            let countOffset = offset
            let count = try readCount(field: "\(field) (array length)", minimumBytesEach: minimum)
            guard count <= InputLimits.arrayCount, count <= elementBudget else {
                throw GGUFError.invalidValue(
                    field: "\(field) (array length)", offset: countOffset,
                    detail: "\(count) elements exceed the limit (\(InputLimits.arrayCount) per array, \(InputLimits.metadataElements) in all)")
            }
            elementBudget -= count
            var values: [GGUFValue] = []
            values.reserveCapacity(count)
            for _ in 0..<count {
                values.append(try readValue(type: elementType, field: field, elementBudget: &elementBudget))  // the offset in an error locates the element
            }
            return .array(elementType, values)
        }
    }
}
