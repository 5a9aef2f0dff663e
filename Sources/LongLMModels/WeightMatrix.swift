import LongLMCore

/// A weight matrix [out, in] (rows are output features). Quantized and half-precision weights stay in their
/// file encoding inside the memory map (shared by every rank on a node) and are dequantized on the fly:
/// exactly, so results are those of the f32 weights; only f32 weights are copied (BLAS reads them directly).
enum WeightMatrix {
    case dense(FloatBuffer)
    case encoded(QuantizedMatrix)

    var rows: Int { switch self { case .dense(let m): return m.rows; case .encoded(let q): return q.rows } }
    var cols: Int { switch self { case .dense(let m): return m.cols; case .encoded(let q): return q.cols } }

    /// Rows `range` (output features), sharing the storage.
    func rows(_ range: Range<Int>) -> WeightMatrix {
        switch self {
        case .dense(let m): return .dense(FloatBuffer(rowsOf: m, range))
        case .encoded(let q): return .encoded(q.rows(range))
        }
    }

    /// Writes row r as f32 (an embedding lookup).
    func row(_ r: Int, into out: UnsafeMutablePointer<Float>) {
        switch self {
        case .dense(let m): out.update(from: m.row(r), count: m.cols)
        case .encoded(let q): q.dequantizeRow(r, into: out)
        }
    }
}

/// Why a weight matrix cannot be used as stored.
public enum WeightMatrixError: Error, CustomStringConvertible {
    /// The tensor's type has no matrix-vector kernel. It is refused rather than expanded to f32, which would
    /// cost 4 bytes per weight (a 1 GB copy for a 256M-weight matrix) and hide the slow path.
    case noKernel(tensor: String, type: GGMLType)

    public var description: String {
        switch self {
        case .noKernel(let tensor, let type):
            let kernels = QuantizedMatrix.supportedTypes.map(\.name).joined(separator: ", ")
            return "tensor \(quoted(tensor)) has type \(type.name), which has no matrix-vector kernel here "
                + "(weight types supported: \(kernels)); re-quantize the model to one of them, e.g. "
                + "`llama-quantize --allow-requantize model.gguf out.gguf Q4_K_M`, or pick a published file of "
                + "one of these types"
        }
    }
}

extension TensorSource {
    /// Loads a weight matrix: f32 as a dense copy, every other type kept encoded with its kernel. A type
    /// without a kernel is an error naming the tensor and its type, never a silent f32 expansion.
    func loadWeight(_ name: String, rows: Int, cols: Int) throws -> WeightMatrix {
        let t = try require(name)
        guard t.rows == rows, t.cols == cols else {
            throw WeightError.wrongShape(name: name, found: [t.rows, t.cols], expected: [rows, cols])
        }
        if t.type == .f32 { return .dense(try dequantize(t)) }
        guard QuantizedMatrix.hasKernel(t.type) else { throw WeightMatrixError.noKernel(tensor: name, type: t.type) }
        return .encoded(try QuantizedMatrix(type: t.type, rows: rows, cols: cols, data: t.data))
    }
}
