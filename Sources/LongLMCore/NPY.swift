import Foundation

/// Reads and writes NumPy .npy files (version 1.0, little-endian float32 or int32, C order).
public enum NPY {
    public enum Failure: Error, CustomStringConvertible {
        case malformed(path: String, detail: String)
        public var description: String {
            switch self { case .malformed(let p, let d): return "malformed .npy file \(p): \(d)" }
        }
    }

    public static func header(descr: String, shape: [Int]) -> Data {
        let shapeText = shape.count == 1 ? "(\(shape[0]),)" : "(" + shape.map(String.init).joined(separator: ", ") + ")"
        var dict = "{'descr': '\(descr)', 'fortran_order': False, 'shape': \(shapeText), }"
        let preamble = 10
        let total = (preamble + dict.utf8.count + 1 + 63) / 64 * 64
        dict += String(repeating: " ", count: total - preamble - dict.utf8.count - 1) + "\n"
        var data = Data([0x93]) + "NUMPY".data(using: .ascii)! + Data([1, 0])
        let length = UInt16(dict.utf8.count)
        data.append(contentsOf: [UInt8(length & 0xff), UInt8(length >> 8)])
        data.append(dict.data(using: .ascii)!)
        return data
    }

    /// Streams rows of float32 into a .npy file whose row count is fixed up front. The file is an
    /// `OutputFile`: it takes its new contents at `close()`; a writer dropped before that leaves it as it was.
    public final class FloatWriter {
        let output: OutputFile.Writer
        public let path: String
        public init(path: String, shape: [Int]) throws {
            self.path = path
            output = try OutputFile(path).replacing()
            try output.write(header(descr: "<f4", shape: shape))
        }
        public func write(_ values: UnsafeBufferPointer<Float>) throws {
            try output.write(UnsafeRawBufferPointer(values))
        }
        public func close() throws { try output.commit() }
    }

    public static func writeFloat32(path: String, shape: [Int], values: [Float]) throws {
        let w = try FloatWriter(path: path, shape: shape)
        try values.withUnsafeBufferPointer { try w.write($0) }
        try w.close()
    }

    /// Returns (shape, values) of a float32 ('<f4') or int32 ('<i4') array; int32 values are converted.
    public static func read(path: String) throws -> (shape: [Int], floats: [Float]) {
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        func fail(_ d: String) -> Failure { .malformed(path: path, detail: d) }
        guard data.count >= 10, data.prefix(6) == Data([0x93]) + "NUMPY".data(using: .ascii)! else { throw fail("bad magic") }
        let major = data[6]
        let headerLength: Int, start: Int
        if major == 1 { headerLength = Int(data[8]) | Int(data[9]) << 8; start = 10 }
        else { headerLength = Int(data[8]) | Int(data[9]) << 8 | Int(data[10]) << 16 | Int(data[11]) << 24; start = 12 }
        guard data.count >= start + headerLength,
              let header = String(data: data[start..<(start + headerLength)], encoding: .ascii) else { throw fail("truncated header") }
        guard header.contains("'fortran_order': False") else { throw fail("Fortran order is not supported") }
        let isFloat = header.contains("'<f4'"), isInt = header.contains("'<i4'")
        guard isFloat || isInt else { throw fail("only <f4 and <i4 are supported: \(header)") }
        guard let open = header.range(of: "'shape': ("), let close = header[open.upperBound...].firstIndex(of: ")") else {
            throw fail("no shape")
        }
        let shape = header[open.upperBound..<close].split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        let count = shape.reduce(1, *)
        let body = data.dropFirst(start + headerLength)
        guard body.count == count * 4 else { throw fail("expected \(count * 4) data bytes, found \(body.count)") }
        var out = [Float](repeating: 0, count: count)
        body.withUnsafeBytes { raw in
            for i in 0..<count {
                let bits = UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: i * 4, as: UInt32.self))
                out[i] = isFloat ? Float(bitPattern: bits) : Float(Int32(bitPattern: bits))
            }
        }
        return (shape, out)
    }
}
