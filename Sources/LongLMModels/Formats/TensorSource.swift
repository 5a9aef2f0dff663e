import LongLMCore

/// One stored tensor, viewed as row-major [rows, cols] where cols is the contiguous dimension
/// (GGUF ne[0], the last dimension of a safetensors shape). 1-D tensors have rows == 1.
public struct StoredTensor {
    public let name: String
    public let type: GGMLType
    public let rows: Int
    public let cols: Int
    public let data: UnsafeRawPointer
    public let byteCount: Int
}

public enum WeightError: Error, CustomStringConvertible {
    case missingTensor(String)
    case wrongShape(name: String, found: [Int], expected: [Int])
    case unsupportedType(name: String, type: String)
    case unsupportedModel(String)
    case missingConfig(key: String, source: String)
    case invalidConfig(key: String, detail: String)
    /// A bad value in a named file (config.json, the GGUF file).
    case invalidConfigValue(file: String, key: String, detail: String)
    public var description: String {
        switch self {
        case .missingTensor(let n): return "model file has no tensor \(quoted(n))"
        case .wrongShape(let n, let f, let e): return "tensor \(quoted(n)) has shape \(f), expected \(e) (rows, cols)"
        case .unsupportedType(let n, let t): return "tensor \(quoted(n)) has type \(t), which this engine cannot dequantize"
        case .unsupportedModel(let s): return "unsupported model: \(s)"
        case .missingConfig(let k, let s): return "\(s) is missing the required key '\(k)'"
        case .invalidConfig(let k, let d): return "invalid value for '\(k)': \(d)"
        case .invalidConfigValue(let f, let k, let d): return "\(f): invalid value for \(quoted(k, limit: 96)): \(d)"
        }
    }
}

/// Where a model's tensors come from (a GGUF file, or safetensors shards).
public protocol TensorSource: AnyObject {
    func tensor(named name: String) -> StoredTensor?
}

extension TensorSource {
    public func require(_ name: String) throws -> StoredTensor {
        guard let t = tensor(named: name) else { throw WeightError.missingTensor(name) }
        return t
    }

    /// Dequantizes a whole tensor to f32, checking its shape. Rows are dequantized in parallel.
    public func loadMatrix(_ name: String, rows: Int, cols: Int) throws -> FloatBuffer {
        let t = try require(name)
        guard t.rows == rows, t.cols == cols else {
            throw WeightError.wrongShape(name: name, found: [t.rows, t.cols], expected: [rows, cols])
        }
        return try dequantize(t)
    }

    public func loadVector(_ name: String, count: Int) throws -> FloatBuffer {
        try loadMatrix(name, rows: 1, cols: count)
    }

    public func dequantize(_ t: StoredTensor) throws -> FloatBuffer {
        guard t.type.isDequantizable, let rowBytes = t.type.rowBytes(count: t.cols) else {
            throw WeightError.unsupportedType(name: t.name, type: t.type.name)
        }
        let out = FloatBuffer(rows: t.rows, cols: t.cols, zeroed: false)
        var failure: Error?
        Parallel.forRanges(t.rows, minimumPerChunk: 8) { range in
            do {
                for r in range {
                    try dequantizeRow(type: t.type, source: t.data + r * rowBytes, count: t.cols, into: out.row(r))
                }
            } catch { failure = error }
        }
        if let failure { throw failure }
        return out
    }
}

extension GGUFFile: TensorSource {
    public func tensor(named name: String) -> StoredTensor? {
        guard let info = tensorsByName[name] else { return nil }
        let cols = info.shape[0]
        let rows = info.shape.dropFirst().reduce(1, *)
        return StoredTensor(name: name, type: info.type, rows: rows, cols: cols, data: data(of: info), byteCount: info.byteCount)
    }
}
