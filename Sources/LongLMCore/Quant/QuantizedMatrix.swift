import CLongLMSIMD

/// A weight matrix [rows, cols] kept in its file encoding (a borrowed pointer into the memory map, rows of
/// `rowBytes`), multiplied by f32 vectors without expanding it to f32.
///
/// Why: decoding one token reads every weight once, so it is bound by memory bandwidth; reading Q8_0 moves
/// 34/128 of the bytes of its f32 expansion, Q4_K 144/1024.
///
/// Exactness: each kernel (`Dot*.swift`) rebuilds every weight bit for bit as `dequantizeRow` does (same
/// operations in the same order, no fused multiply-add), then multiply-accumulates it with the activation in
/// f32, 16 lanes at a time. So `y[r]` is the f32 dot product of the dequantized row with `x`; only the order of
/// the sum differs from a sequential or BLAS one. This is not llama.cpp's decode path, which rounds the
/// activations to 8 bits (`quantize_row_q8_0`/`q8_K`) and multiplies integers.
///
/// Speed: the kernels are Swift SIMD code that LLVM vectorizes for the target it is given, with the byte-to-float
/// conversions and the IQ4 table lookup from CLongLMSIMD. Without target flags that is baseline x86-64 (SSE2);
/// `-Xswiftc -Xcc -Xswiftc -march=native` (or x86-64-v4) lets it use AVX-512, about 3x faster here. The kernels
/// also need a whole-module (release) build to inline across files. Formats and kernels: docs/quantization.md.
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

    /// y[r] = sum_c W[r, c] * x[c] for r in 0..<rows, W the exactly dequantized weight. Rows are split across
    /// `Parallel.threads`. `x` holds `cols` floats, `y` room for `rows`.
    public func multiply(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>) {
        Parallel.forRanges(rows, minimumPerChunk: minimumRowsPerThread) { range in
            dotRows(range, x, y)
        }
    }

    /// The same for `count` vectors at once: x is [count, cols], y is [count, rows] (y[v * rows + r]). Each row
    /// is rebuilt once into an f32 scratch row (L1-resident) and multiplied with the vectors four at a time, so
    /// a small batch reads the weights once.
    public func multiply(_ x: UnsafePointer<Float>, count: Int, into y: UnsafeMutablePointer<Float>) {
        if Compute.precision == .fast, multiplyInt8(x, count: count, into: y) { return }
        if count == 1 { multiply(x, into: y); return }
        guard count > 0 else { return }
        Parallel.forRanges(rows, minimumPerChunk: minimumRowsPerThread) { range in
            let scratch = UnsafeMutablePointer<Float>.allocate(capacity: max(cols, 1))
            defer { scratch.deallocate() }
            for r in range {
                dequantizeRow(r, into: scratch)
                var v = 0
                while v < count {
                    // Groups of four; the last group repeats its last vector and drops the extra sums.
                    let group = min(4, count - v)
                    let xs = (x + v * cols, x + min(v + 1, count - 1) * cols,
                              x + min(v + 2, count - 1) * cols, x + min(v + 3, count - 1) * cols)
                    let sums = dotF32x4(scratch, xs, count: cols)
                    for k in 0..<group { y[(v + k) * rows + r] = sums[k] }
                    v += group
                }
            }
        }
    }

    /// About 64 Ki weights per thread at least, so small matrices are not split into slivers whose dispatch
    /// costs more than their work.
    private var minimumRowsPerThread: Int { max(1, (1 << 16) / max(cols, 1)) }

    // MARK: dispatch (one switch per range of rows, not per row)

    /// y[r] = dot(row r, x) for r in `range`.
    private func dotRows(_ range: Range<Int>, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>) {
        withKernel(DotRows(matrix: self, range: range, x: x, y: y))
    }

    /// Writes row `r`'s weights to `out[0..<cols]`, bit-identical to `dequantizeRow(type:source:count:into:)`
    /// and faster; e.g. an embedding lookup in a matrix that is only kept quantized.
    public func dequantizeRow(_ r: Int, into out: UnsafeMutablePointer<Float>) {
        withKernel(DecodeRow(matrix: self, row: data + r * rowBytes, out: out))
    }

    /// Runs `task` with the kernel of `type`: the one switch over types, each case a specialised call.
    private func withKernel<Task: KernelTask>(_ task: Task) {
        switch type {
        case .f32: task.run(F32Kernel.self)
        case .f16: task.run(F16Kernel.self)
        case .bf16: task.run(BF16Kernel.self)
        case .q8_0: task.run(Q8_0.self)
        case .q4_0: task.run(Q4_0.self)
        case .q4_1: task.run(Q4_1.self)
        case .q5_0: task.run(Q5_0.self)
        case .q5_1: task.run(Q5_1.self)
        case .q2_K: task.run(Q2_K.self)
        case .q3_K: task.run(Q3_K.self)
        case .q4_K: task.run(Q4_K.self)
        case .q5_K: task.run(Q5_K.self)
        case .q6_K: task.run(Q6_K.self)
        case .iq4_nl: task.run(IQ4_NL.self)
        case .iq4_xs: task.run(IQ4_XS.self)
        default: preconditionFailure("QuantizedMatrix.init admits only supportedTypes")
        }
    }

    private struct DotRows: KernelTask {
        let matrix: QuantizedMatrix, range: Range<Int>, x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>
        func run<K: DotKernel>(_ kernel: K.Type) { matrix.dotRows(K.self, range, x, y) }
    }

    private struct DecodeRow: KernelTask {
        let matrix: QuantizedMatrix, row: UnsafeRawPointer, out: UnsafeMutablePointer<Float>
        func run<K: DotKernel>(_ kernel: K.Type) { matrix.dequantizeRow(K.self, row, into: out) }
    }

    private func dotRows<K: DotKernel>(_ kernel: K.Type, _ range: Range<Int>, _ x: UnsafePointer<Float>,
                                       _ y: UnsafeMutablePointer<Float>) {
        let blocks = cols / K.blockSize
        let tail = cols - blocks * K.blockSize  // only plain types have one
        for r in range {
            let row = data + r * rowBytes
            var sum = dotBlocks(K.self, row, x, blocks: blocks)
            if tail > 0 {
                let start = blocks * K.blockSize
                for c in start..<cols { sum += K.element(row, c) * x[c] }
            }
            y[r] = sum
        }
    }

    private func dequantizeRow<K: DotKernel>(_ kernel: K.Type, _ row: UnsafeRawPointer,
                                         into out: UnsafeMutablePointer<Float>) {
        let blocks = cols / K.blockSize
        let raw = UnsafeMutableRawPointer(out)
        for b in 0..<blocks {
            let base = 4 * b * K.blockSize
            K.forEachChunk(row + b * K.bytesPerBlock) { column, w in
                raw.storeBytes(of: w, toByteOffset: base + 4 * column, as: SIMD16<Float>.self)
            }
        }
        for c in (blocks * K.blockSize)..<cols { out[c] = K.element(row, c) }
    }
}

// MARK: - kernel interface and shared pieces

/// Work that needs a kernel type as a generic parameter (Swift has no generic closures), so that
/// `QuantizedMatrix.withKernel` can dispatch it once and the work is specialised per kernel.
protocol KernelTask {
    func run<K: DotKernel>(_ kernel: K.Type)
}

/// One encoding's inner loop: the dequantized weights of one block, 16 at a time.
protocol DotKernel {
    /// Weights per block; a multiple of 16.
    static var blockSize: Int { get }
    static var bytesPerBlock: Int { get }
    /// Calls `body(column, w)` once for each 16-weight chunk of the block at `block` (any alignment), where
    /// `w` holds the dequantized weights `column..<column + 16` of the block, bit-identical to `dequantizeRow`.
    /// Chunks may come in any order; `column` is a constant once the call is inlined.
    static func forEachChunk(_ block: UnsafeRawPointer, _ body: (_ column: Int, _ w: SIMD16<Float>) -> Void)
    /// Weight `column` of a row whose length is not a whole number of blocks (plain types only).
    static func element(_ row: UnsafeRawPointer, _ column: Int) -> Float
}

extension DotKernel {
    static func element(_ row: UnsafeRawPointer, _ column: Int) -> Float {
        preconditionFailure("\(Self.self) rows are whole blocks")
    }
}

/// sum over blocks of dot(weights, x), in two 16-lane accumulators (even and odd chunks) so consecutive adds do
/// not wait on each other.
@inline(__always)
func dotBlocks<K: DotKernel>(_ kernel: K.Type, _ row: UnsafeRawPointer, _ x: UnsafePointer<Float>,
                             blocks: Int) -> Float {
    var even = SIMD16<Float>(), odd = SIMD16<Float>()
    var block = row
    var xb = UnsafeRawPointer(x)
    for _ in 0..<blocks {
        K.forEachChunk(block) { column, w in
            let xv = xb.loadUnaligned(fromByteOffset: 4 * column, as: SIMD16<Float>.self)
            if column & 16 == 0 { even += w * xv } else { odd += w * xv }
        }
        block += K.bytesPerBlock
        xb += 4 * K.blockSize
    }
    return (even + odd).sum()
}

/// Four vectors of `cols` floats.
typealias Vectors4 = (UnsafePointer<Float>, UnsafePointer<Float>, UnsafePointer<Float>, UnsafePointer<Float>)

/// The four dot products of `w` with `xs` over `count` floats (any alignment), each weight load shared.
@inline(__always)
func dotF32x4(_ w: UnsafePointer<Float>, _ xs: Vectors4, count: Int) -> SIMD4<Float> {
    var a0 = SIMD16<Float>(), a1 = SIMD16<Float>(), a2 = SIMD16<Float>(), a3 = SIMD16<Float>()
    let rw = UnsafeRawPointer(w)
    let x0 = UnsafeRawPointer(xs.0), x1 = UnsafeRawPointer(xs.1)
    let x2 = UnsafeRawPointer(xs.2), x3 = UnsafeRawPointer(xs.3)
    var i = 0
    while i + 16 <= count {
        let wv = rw.loadUnaligned(fromByteOffset: 4 * i, as: SIMD16<Float>.self)
        a0 += wv * x0.loadUnaligned(fromByteOffset: 4 * i, as: SIMD16<Float>.self)
        a1 += wv * x1.loadUnaligned(fromByteOffset: 4 * i, as: SIMD16<Float>.self)
        a2 += wv * x2.loadUnaligned(fromByteOffset: 4 * i, as: SIMD16<Float>.self)
        a3 += wv * x3.loadUnaligned(fromByteOffset: 4 * i, as: SIMD16<Float>.self)
        i += 16
    }
    var sums = SIMD4(a0.sum(), a1.sum(), a2.sum(), a3.sum())
    while i < count {
        sums += w[i] * SIMD4(xs.0[i], xs.1[i], xs.2[i], xs.3[i])
        i += 1
    }
    return sums
}

// Conversions through clang's `__builtin_convertvector` (CLongLMSIMD): one widening and one cvtdq2ps sequence
// whatever the kernel around them. The generic `SIMD16<Float>(SIMD16<Int8>)` initializer stays an out-of-line
// call, and element loops depend on LLVM's re-vectorization, which split Q2_K's and Q3_K's chunks lane by lane.

/// Signed bytes to floats, exactly.
@inline(__always)
func floats(_ q: SIMD16<Int8>) -> SIMD16<Float> { longlm_i8_to_f32(q) }

/// `q - offset` as signed bytes, for unsigned quants below 128 + offset: one byte subtraction before the
/// conversion instead of a float one after it (also exact).
@inline(__always)
func signed(_ q: SIMD16<UInt8>, minus offset: UInt8) -> SIMD16<Int8> {
    unsafeBitCast(q &- offset, to: SIMD16<Int8>.self)
}

/// Unsigned bytes to floats, exactly.
@inline(__always)
func floats(_ q: SIMD16<UInt8>) -> SIMD16<Float> { longlm_u8_to_f32(q) }
