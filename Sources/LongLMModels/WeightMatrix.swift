import LongLMCore

/// A weight matrix [out, in] (rows are output features). Quantized and half-precision weights stay in their
/// file encoding inside the memory map (shared by every rank on a node) and are dequantized on the fly:
/// exactly, so results are those of the f32 weights; only f32 files (and types without a kernel) are copied.
enum WeightMatrix {
    case dense(FloatBuffer)
    case encoded(QuantizedMatrix)

    var rows: Int { switch self { case .dense(let m): return m.rows; case .encoded(let q): return q.rows } }
    var cols: Int { switch self { case .dense(let m): return m.cols; case .encoded(let q): return q.cols } }

    /// Bytes of memory this matrix occupies (mapped bytes for encoded ones).

    /// Writes row r as f32 (an embedding lookup).
    func row(_ r: Int, into out: UnsafeMutablePointer<Float>) {
        switch self {
        case .dense(let m): out.update(from: m.row(r), count: m.cols)
        case .encoded(let q): q.dequantizeRow(r, into: out)
        }
    }
}

extension TensorSource {
    /// Loads a weight matrix, keeping it encoded when a kernel exists for its type.
    func loadWeight(_ name: String, rows: Int, cols: Int) throws -> WeightMatrix {
        let t = try require(name)
        guard t.rows == rows, t.cols == cols else {
            throw WeightError.wrongShape(name: name, found: [t.rows, t.cols], expected: [rows, cols])
        }
        if t.type != .f32, QuantizedMatrix.hasKernel(t.type) {
            return .encoded(try QuantizedMatrix(type: t.type, rows: rows, cols: cols, data: t.data))
        }
        return .dense(try dequantize(t))
    }
}
