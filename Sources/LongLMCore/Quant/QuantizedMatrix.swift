import CLongLMKernels

/// A weight matrix [rows, cols] kept in its file encoding (a borrowed pointer into the memory map, rows of
/// `rowBytes`), multiplied by f32 vectors without expanding it to f32.
///
/// Why: decoding one token reads every weight once, so it is bound by memory bandwidth; reading Q8_0 moves
/// 34/128 of the bytes of its f32 expansion, Q4_K 144/1024.
///
/// Two arithmetics (`Compute.precision`):
/// - exact: each kernel rebuilds every weight bit for bit as `dequantizeRow` does (same operations in the same
///   order, no fused multiply-add) and multiply-accumulates it with the activation in f32. So `y[r]` is the f32
///   dot product of the dequantized row with `x`; only the order of the sum differs from a sequential or BLAS
///   one.
/// - fast (`multiplyInt8`): the activations are rounded to 8 bits per block and the products summed in integers,
///   as llama.cpp's decode does.
///
/// The kernels are C (CLongLMKernels), one function per CPU variant chosen at run time (`Compute.kernels`).
/// Formats and kernels: docs/quantization.md and docs/kernels.md.
public struct QuantizedMatrix: @unchecked Sendable {
    public let type: GGMLType
    public let rows: Int
    public let cols: Int
    public let data: UnsafeRawPointer
    /// Bytes per row: `cols / type.blockSize * type.bytesPerBlock`.
    public let rowBytes: Int

    /// Why a matrix cannot be multiplied in its encoding.
    public enum Failure: Error, CustomStringConvertible {
        case noKernel(GGMLType)
        case columnsNotWholeBlocks(type: GGMLType, cols: Int)
        case negativeShape(rows: Int, cols: Int)

        public var description: String {
            switch self {
            case .noKernel(let type):
                let supported = QuantizedMatrix.supportedTypes.map(\.name).joined(separator: ", ")
                return "no quantized matrix-vector kernel for \(type.name) (kernels: \(supported)); "
                    + "dequantize this tensor to f32 with dequantizeRow and use BLAS instead"
            case .columnsNotWholeBlocks(let type, let cols):
                return "a row of \(cols) \(type.name) weights is not a whole number of \(type.blockSize)-weight "
                    + "blocks; the file is inconsistent, or the tensor's dimensions were read in the wrong order"
            case .negativeShape(let rows, let cols):
                return "matrix shape [\(rows), \(cols)] has a negative dimension"
            }
        }
    }

    /// Types with a kernel, in `GGMLType` order.
    public static let supportedTypes: [GGMLType] = [
        .f32, .f16, .q4_0, .q4_1, .q5_0, .q5_1, .q8_0, .q2_K, .q3_K, .q4_K, .q5_K, .q6_K, .iq4_nl, .iq4_xs, .bf16,
    ]

    public static func hasKernel(_ type: GGMLType) -> Bool { supportedTypes.contains(type) }

    /// Throws for types without a kernel and for rows that are not whole blocks. `data` must hold
    /// `rows * rowBytes` bytes and stay valid (mapped) while the matrix is used; it needs no alignment.
    public init(type: GGMLType, rows: Int, cols: Int, data: UnsafeRawPointer) throws {
        guard Self.hasKernel(type) else { throw Failure.noKernel(type) }
        guard rows >= 0, cols >= 0 else { throw Failure.negativeShape(rows: rows, cols: cols) }
        guard let rowBytes = type.rowBytes(count: cols) else {
            throw Failure.columnsNotWholeBlocks(type: type, cols: cols)
        }
        self.type = type
        self.rows = rows
        self.cols = cols
        self.data = data
        self.rowBytes = rowBytes
    }

    /// Rows `range` of this matrix, sharing its data.
    public func rows(_ range: Range<Int>) -> QuantizedMatrix {
        precondition(range.lowerBound >= 0 && range.upperBound <= rows)
        return try! QuantizedMatrix(type: type, rows: range.count, cols: cols, data: data + range.lowerBound * rowBytes)
    }

    /// y[r] = sum_c W[r, c] * x[c] for r in 0..<rows, W the exactly dequantized weight. Rows are split across
    /// `Parallel.threads`. `x` holds `cols` floats, `y` room for `rows`.
    public func multiply(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>) {
        multiplyExact(x, count: 1, into: y)
    }

    /// The same for `count` vectors at once: x is [count, cols], y is [count, rows] (y[v * rows + r]), in the
    /// process's precision (`Compute.precision`). Exact: each block is rebuilt once and multiplied with the
    /// vectors four at a time, so a small batch reads the weights once.
    public func multiply(_ x: UnsafePointer<Float>, count: Int, into y: UnsafeMutablePointer<Float>) {
        if Compute.precision == .fast, multiplyInt8(x, count: count, into: y) { return }
        multiplyExact(x, count: count, into: y)
    }

    /// The exact product for `count` vectors with `variant`'s kernels.
    public func multiplyExact(_ x: UnsafePointer<Float>, count: Int, into y: UnsafeMutablePointer<Float>,
                              variant: KernelVariant = Compute.kernels) {
        guard count > 0 else { return }
        let type = Int32(self.type.rawValue), rowBytes = self.rowBytes, cols = Int64(self.cols), rows = self.rows
        let data = self.data
        Parallel.forRanges(rows, minimumPerChunk: minimumRowsPerThread) { range in
            let status = longlm_exact_dot_rows(variant.cVariant, type, data, rowBytes, Int64(range.lowerBound),
                                               Int64(range.upperBound), cols, x, Int32(count), y, Int64(rows))
            precondition(status == 0, "exact kernel missing for \(self.type.name) (\(variant))")
        }
    }

    /// About 64 Ki weights per thread at least, so small matrices are not split into slivers whose dispatch
    /// costs more than their work.
    var minimumRowsPerThread: Int { max(1, (1 << 16) / max(cols, 1)) }

    /// Writes row `r`'s weights to `out[0..<cols]`, bit-identical to `dequantizeRow(type:source:count:into:)`
    /// and faster; e.g. an embedding lookup in a matrix that is only kept quantized.
    public func dequantizeRow(_ r: Int, into out: UnsafeMutablePointer<Float>, variant: KernelVariant = Compute.kernels) {
        let status = longlm_rebuild_row(variant.cVariant, Int32(type.rawValue), data + r * rowBytes, Int64(cols), out)
        precondition(status == 0, "no kernel rebuilds \(type.name) rows (\(variant))")
    }
}
