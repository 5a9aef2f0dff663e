import Foundation
import XCTest
import LongLMCore

/// Pins `QuantizedMatrix` to `dequantizeRow`: its rows bit for bit, its products to the Double-precision dot of
/// the dequantized rows within f32 summation rounding. Blocks are random (seeded) with finite f16 scales, and the
/// llama.cpp-quantized blocks of Tests/Fixtures/quant; the real-tensor tests read the two default models
/// (scripts/setup.sh) and compare with dequantize + BLAS sgemv.
final class QuantizedMatrixTests: XCTestCase {
    /// Tolerance on |y - exact dot| relative to sum |w x| of the row: f32 summation of n terms errs by at most
    /// about n · 2⁻²⁴ of that sum in the worst case, and by far less for these lengths in practice.
    static let relativeTolerance = 1e-5

    static let quantizedTypes: [GGMLType] = [.q8_0, .q4_0, .q4_1, .q5_0, .q5_1, .q2_K, .q3_K, .q4_K, .q5_K, .q6_K,
                                             .iq4_nl, .iq4_xs]
    static let plainTypes: [GGMLType] = [.f32, .f16, .bf16]

    // MARK: rows bit-identical to dequantizeRow

    func testEveryKernelRebuildsRowsBitIdenticalToDequantizeRow() throws {
        var rng = SplitMix(seed: 1)
        for type in Self.quantizedTypes + Self.plainTypes {
            let cols = type.blockSize == 1 ? 16 * 5 + 7 : 5 * type.blockSize
            let matrix = try TestMatrix(type: type, rows: 4, cols: cols, byteOffset: 3, rng: &rng)
            for r in 0..<4 {
                assertBitIdentical(matrix.decodedRow(r), matrix.referenceRow(r), "\(type.name) row \(r)")
            }
        }
    }

    func testF16KernelConvertsEveryBitPatternLikeHalfToFloat() throws {
        let halves = [UInt16](UInt16.min...UInt16.max).map(\.littleEndian)
        let raw = halves.withUnsafeBytes { [UInt8]($0) }
        let matrix = try TestMatrix(type: .f16, rows: 1, cols: halves.count, raw: raw, byteOffset: 1)
        assertBitIdentical(matrix.decodedRow(0), matrix.referenceRow(0), "F16 all patterns")
    }

    func testEveryDequantizableTypeHasAKernel() {
        XCTAssertEqual(Set(QuantizedMatrix.supportedTypes), Set(GGMLType.allCases.filter(\.isDequantizable)))
        XCTAssertEqual(Set(Self.quantizedTypes + Self.plainTypes), Set(QuantizedMatrix.supportedTypes),
                       "every kernel is tested below")
    }

    // MARK: llama.cpp's blocks (Tests/Fixtures/quant)

    /// The fixture blocks as matrices of 256-weight rows and as one long row: the kernel's rows equal ggml's
    /// dequantization bit for bit, and its single and batched products the exact dot of those rows.
    func testKernelsDecodeAndMultiplyLlamaCppQuantizedBlocksExactly() throws {
        var rng = SplitMix(seed: 6)
        for type in Self.quantizedTypes {
            let fixture = try QuantFixture(type)
            for cols in [256, fixture.expected.count] {
                let rows = fixture.expected.count / cols
                let matrix = try TestMatrix(type: type, rows: rows, cols: cols, raw: fixture.raw, byteOffset: 5)
                for r in 0..<rows {
                    assertBitIdentical(matrix.decodedRow(r), Array(fixture.expected[r * cols ..< (r + 1) * cols]),
                                       "\(type.name) fixture row \(r) of \(cols)")
                }
                for count in [1, 3] {
                    matrix.assertMultiplies(count: count, rng: &rng, "\(type.name) fixture [\(rows), \(cols)]")
                }
            }
        }
    }

    // MARK: products

    func testMultiplyMatchesExactDotOfDequantizedRowsForEveryShape() throws {
        try withThreads(3) {
            var rng = SplitMix(seed: 2)
            for type in Self.quantizedTypes + Self.plainTypes {
                for (rows, cols) in Self.shapes(type) {
                    let matrix = try TestMatrix(type: type, rows: rows, cols: cols, byteOffset: 1, rng: &rng)
                    matrix.assertMultiplies(count: 1, rng: &rng, "\(type.name) [\(rows), \(cols)]")
                }
            }
        }
    }

    func testBatchedMultiplyMatchesExactDotForEachVector() throws {
        try withThreads(2) {
            var rng = SplitMix(seed: 3)
            for type in Self.quantizedTypes + Self.plainTypes {
                for (rows, cols) in Self.shapes(type) {
                    let matrix = try TestMatrix(type: type, rows: rows, cols: cols, byteOffset: 0, rng: &rng)
                    for count in [2, 3, 5] {
                        matrix.assertMultiplies(count: count, rng: &rng, "\(type.name) [\(rows), \(cols)]")
                    }
                }
            }
        }
    }

    func testSplittingRowsAcrossThreadsDoesNotChangeResults() throws {
        var rng = SplitMix(seed: 4)
        // 347 rows of 768 columns: about 266 Ki weights, so 2 and 3 threads both really split (at 64 Ki each).
        let matrix = try TestMatrix(type: .q4_K, rows: 347, cols: 768, byteOffset: 0, rng: &rng)
        let x = (0..<768).map { _ in rng.nextFloat(-1, 1) }
        func product(threads: Int) -> [Float] {
            withThreads(threads) {
                var y = [Float](repeating: .nan, count: 347)
                x.withUnsafeBufferPointer { x in
                    y.withUnsafeMutableBufferPointer { matrix.matrix.multiply(x.baseAddress!, into: $0.baseAddress!) }
                }
                return y
            }
        }
        let single = product(threads: 1)
        assertBitIdentical(product(threads: 2), single, "2 threads vs 1")
        assertBitIdentical(product(threads: 3), single, "3 threads vs 1")
    }

    // MARK: errors

    func testTypesWithoutKernelAndPartialBlocksAreRejectedWithAdvice() throws {
        let byte: UInt8 = 0
        try withUnsafeBytes(of: byte) { raw in
            for type in GGMLType.allCases where !QuantizedMatrix.hasKernel(type) {
                XCTAssertThrowsError(try QuantizedMatrix(type: type, rows: 1, cols: type.blockSize, data: raw.baseAddress!),
                                     type.name) { error in
                    guard case QuantizedMatrix.Failure.noKernel(let t) = error else { return XCTFail("\(error)") }
                    XCTAssertEqual(t, type)
                    XCTAssertTrue("\(error)".contains("dequantizeRow"), "\(error)")
                }
            }
            XCTAssertThrowsError(try QuantizedMatrix(type: .q4_K, rows: 1, cols: 640, data: raw.baseAddress!)) { error in
                guard case QuantizedMatrix.Failure.columnsNotWholeBlocks(.q4_K, 640) = error else {
                    return XCTFail("\(error)")
                }
            }
        }
    }

    // MARK: the default models

    func testGemma3TensorsMatchDequantizeAndBLASSgemv() throws {
        // One tensor of each type the model holds; for the 262144-row embedding only its first and last rows.
        let typesSeen = try assertTensorsMatchBLAS(ModelTensors.gemma3, [
            ("blk.0.attn_q.weight", nil), ("blk.0.attn_output.weight", nil), ("blk.0.ffn_down.weight", nil),
            ("blk.0.attn_v.weight", nil), ("blk.2.ffn_down.weight", nil), ("token_embd.weight", 0..<4096),
            ("token_embd.weight", (262144 - 1000)..<262144),
        ])
        XCTAssertEqual(typesSeen, [.q8_0, .q5_0, .q4_K, .q6_K], "Gemma 3's matrix types")
    }

    func testSmolLM2Q4_1TensorsMatchDequantizeAndBLASSgemv() throws {
        let typesSeen = try assertTensorsMatchBLAS(ModelTensors.smolLM2, [
            ("blk.0.attn_q.weight", nil), ("blk.0.attn_k.weight", nil), ("blk.0.ffn_down.weight", nil),
            ("blk.29.ffn_gate.weight", nil), ("token_embd.weight", 0..<4096),
        ])
        XCTAssertEqual(typesSeen, [.q4_1, .q8_0], "SmolLM2's matrix types")
    }

    /// Multiplies each named matrix (or a range of its rows) by a random vector with its kernel and with BLAS
    /// sgemv on its dequantized rows; returns the types seen.
    private func assertTensorsMatchBLAS(_ path: String, _ cases: [(name: String, rowRange: Range<Int>?)],
                                        file: StaticString = #filePath, line: UInt = #line) throws -> Set<GGMLType> {
        guard FileManager.default.fileExists(atPath: path) else {
            throw XCTSkip("model absent (\(path)); run scripts/setup.sh")
        }
        let model = try ModelTensors(path: path)
        var rng = SplitMix(seed: 5)
        var typesSeen: Set<GGMLType> = []
        for (name, rowRange) in cases {
            let full = try model.matrix(name)
            let range = rowRange ?? 0..<full.rows
            let matrix = try QuantizedMatrix(type: full.type, rows: range.count, cols: full.cols,
                                             data: full.data + range.lowerBound * full.rowBytes)
            typesSeen.insert(matrix.type)
            let weights = FloatBuffer(rows: matrix.rows, cols: matrix.cols)
            for r in 0..<matrix.rows {
                try dequantizeRow(type: matrix.type, source: matrix.data + r * matrix.rowBytes, count: matrix.cols,
                                  into: weights.row(r))
            }
            let x = FloatBuffer((0..<matrix.cols).map { _ in rng.nextFloat(-1, 1) })
            let viaBLAS = FloatBuffer(rows: 1, cols: matrix.rows)
            BLAS.matmulTransposedB(m: 1, n: matrix.rows, k: matrix.cols, a: x.pointer, lda: matrix.cols,
                                   b: weights.pointer, ldb: matrix.cols, c: viaBLAS.pointer, ldc: matrix.rows)
            let y = FloatBuffer(rows: 1, cols: matrix.rows)
            matrix.multiply(x.pointer, into: y.pointer)
            var worst = 0.0
            for r in 0..<matrix.rows {
                var magnitude = 0.0
                for c in 0..<matrix.cols { magnitude += abs(Double(weights.row(r)[c]) * Double(x.pointer[c])) }
                let error = abs(Double(y.pointer[r]) - Double(viaBLAS.pointer[r])) / max(magnitude, .leastNormalMagnitude)
                worst = max(worst, error)
            }
            XCTAssertLessThan(worst, Self.relativeTolerance, "\(name) (\(matrix.type.name)) rows \(range)",
                              file: file, line: line)
        }
        return typesSeen
    }

    // MARK: helpers

    /// Row counts around the thread split and column counts of one to several blocks (plain types: 16-element
    /// chunks plus a tail).
    static func shapes(_ type: GGMLType) -> [(rows: Int, cols: Int)] {
        let columns = type.blockSize == 1 ? [5, 16, 37, 647] : type.blockSize == 32 ? [32, 96, 160, 768] : [256, 768, 1280]
        return [1, 7, 347].flatMap { rows in columns.map { (rows, $0) } }
    }

    private func withThreads<T>(_ n: Int, _ body: () throws -> T) rethrows -> T {
        let saved = Parallel.threads
        Parallel.threads = n
        defer { Parallel.threads = saved }
        return try body()
    }
}

/// A random matrix in some encoding, placed `byteOffset` bytes into its buffer so kernels see unaligned rows.
final class TestMatrix {
    let buffer: UnsafeMutableRawPointer
    let matrix: QuantizedMatrix

    init(type: GGMLType, rows: Int, cols: Int, raw: [UInt8], byteOffset: Int) throws {
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: raw.count + byteOffset, alignment: 64)
        raw.withUnsafeBytes { (buffer + byteOffset).copyMemory(from: $0.baseAddress!, byteCount: raw.count) }
        self.buffer = buffer
        do {
            matrix = try QuantizedMatrix(type: type, rows: rows, cols: cols, data: UnsafeRawPointer(buffer + byteOffset))
        } catch {
            buffer.deallocate()
            throw error
        }
    }

    convenience init(type: GGMLType, rows: Int, cols: Int, byteOffset: Int, rng: inout SplitMix) throws {
        let rowBytes = type.rowBytes(count: cols)!
        var raw = (0..<rows * rowBytes).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
        // Finite f16 fields where the format has them, with exponents from subnormal to 2^14 (bits 0...29).
        func finiteHalf() -> UInt16 {
            UInt16(rng.next() & 0x8000) | UInt16(rng.next() % 30) << 10 | UInt16(rng.next() & 0x3FF)
        }
        func setHalf(_ offset: Int) {
            let h = finiteHalf()
            raw[offset] = UInt8(h & 0xFF)
            raw[offset + 1] = UInt8(h >> 8)
        }
        let blocks = rows * cols / type.blockSize
        for b in 0..<blocks {
            let block = b * type.bytesPerBlock
            switch type {
            case .q8_0, .q4_0, .q5_0, .iq4_nl, .iq4_xs: setHalf(block)
            case .q4_1, .q5_1, .q4_K, .q5_K: setHalf(block); setHalf(block + 2)
            case .q2_K: setHalf(block + 80); setHalf(block + 82)
            case .q3_K: setHalf(block + 108)
            case .q6_K: setHalf(block + 208)
            case .f16: setHalf(block)
            case .bf16: raw[block + 1] = raw[block + 1] & 0x80 | UInt8(0x38 + rng.next() % 0x10)  // |x| ~ 2^-15...2^16
            case .f32: raw[block + 3] = raw[block + 3] & 0x80 | UInt8(0x38 + rng.next() % 0x10)  // |x| ~ 2^-15...2^16
            default: break
            }
        }
        try self.init(type: type, rows: rows, cols: cols, raw: raw, byteOffset: byteOffset)
    }

    deinit { buffer.deallocate() }

    func decodedRow(_ r: Int) -> [Float] {
        var out = [Float](repeating: .nan, count: matrix.cols)
        out.withUnsafeMutableBufferPointer { matrix.dequantizeRow(r, into: $0.baseAddress!) }
        return out
    }

    /// The f16 min m of 32-block `block` of row `r` (Q4_1, Q5_1: the field after the scale).
    func minOfBlock(row r: Int, block b: Int) -> Float {
        let blockBytes = matrix.type == .q4_1 ? 20 : 24
        precondition(matrix.type == .q4_1 || matrix.type == .q5_1)
        let bits = (matrix.data + r * matrix.rowBytes + b * blockBytes + 2).loadUnaligned(as: UInt16.self)
        return Float(Float16(bitPattern: bits))
    }

    func referenceRow(_ r: Int) -> [Float] {
        var out = [Float](repeating: .nan, count: matrix.cols)
        out.withUnsafeMutableBufferPointer {
            try! dequantizeRow(type: matrix.type, source: matrix.data + r * matrix.rowBytes, count: matrix.cols,
                               into: $0.baseAddress!)
        }
        return out
    }

    /// Multiplies `count` random vectors (one through `multiply(_:into:)`, more through the batched
    /// `multiply(_:count:into:)`) and checks every product with `assertProducts`.
    func assertMultiplies(count: Int, rng: inout SplitMix, _ what: String,
                          file: StaticString = #filePath, line: UInt = #line) {
        let (rows, cols) = (matrix.rows, matrix.cols)
        let x = (0..<count * cols).map { _ in rng.nextFloat(-2, 2) }
        var y = [Float](repeating: .nan, count: count * rows)
        x.withUnsafeBufferPointer { x in
            y.withUnsafeMutableBufferPointer {
                if count == 1 {
                    matrix.multiply(x.baseAddress!, into: $0.baseAddress!)
                } else {
                    matrix.multiply(x.baseAddress!, count: count, into: $0.baseAddress!)
                }
            }
        }
        for v in 0..<count {
            assertProducts(Array(y[v * rows ..< (v + 1) * rows]), x: Array(x[v * cols ..< (v + 1) * cols]),
                           vector: v, "\(what) batch \(count)", file: file, line: line)
        }
    }

    /// |y[r] - dot(dequantized row r, x)| ≤ tolerance · sum |w x|, the dot in Double.
    func assertProducts(_ y: [Float], x: [Float], vector: Int, _ what: String,
                        file: StaticString = #filePath, line: UInt = #line) {
        var failures = 0
        for r in 0..<matrix.rows {
            let w = referenceRow(r)
            var exact = 0.0, magnitude = 0.0
            for c in 0..<matrix.cols {
                let product = Double(w[c]) * Double(x[c])
                exact += product
                magnitude += abs(product)
            }
            let error = abs(Double(y[r]) - exact)
            if !(error <= QuantizedMatrixTests.relativeTolerance * magnitude) {
                failures += 1
                if failures <= 3 {
                    XCTFail("\(what) vector \(vector) row \(r): got \(y[r]), exact \(exact), sum|wx| \(magnitude)",
                            file: file, line: line)
                }
            }
        }
    }
}

/// Seeded test randomness (Core's SplitMix64), so failures reproduce.
typealias SplitMix = SplitMix64

extension SplitMix64 {
    mutating func nextFloat(_ low: Float, _ high: Float) -> Float {
        low + (high - low) * Float(next() >> 40) * 0x1p-24
    }
}

/// The tensor directory of a GGUF file (format: ggml docs/gguf.md, version 2 and 3), just enough to find a
/// matrix by name; LongLMModels has the full reader, which Core's tests cannot import.
struct ModelTensors {
    static let models = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("models")
    static let gemma3 = models.appendingPathComponent("gemma-3-270m-q4_k_m.gguf").path
    static let smolLM2 = models.appendingPathComponent("SmolLM2-135M-Instruct.Q4_1.gguf").path

    struct Entry { let type: GGMLType; let dims: [Int]; let offset: Int }

    enum Failure: Error { case malformed(String) }

    let file: MappedFile
    let entries: [String: Entry]
    let dataStart: Int

    init(path: String) throws {
        file = try MappedFile(path: path)
        var reader = Reader(base: file.base, size: file.size)
        guard try reader.u32() == 0x4655_4747 else { throw Failure.malformed("not a GGUF file") }  // "GGUF"
        _ = try reader.u32()  // version
        let tensorCount = try reader.u64(), kvCount = try reader.u64()
        var alignment = 32
        for _ in 0..<kvCount {
            let key = try reader.string()
            let type = try reader.u32()
            if key == "general.alignment", type == 4 { alignment = Int(try reader.u32()) } else { try reader.skipValue(type) }
        }
        var entries: [String: Entry] = [:]
        for _ in 0..<tensorCount {
            let name = try reader.string()
            let dims = try (0..<Int(try reader.u32())).map { _ in Int(try reader.u64()) }
            guard let type = GGMLType(rawValue: try reader.u32()) else { throw Failure.malformed("tensor type of \(name)") }
            entries[name] = Entry(type: type, dims: dims, offset: Int(try reader.u64()))
        }
        self.entries = entries
        dataStart = (reader.position + alignment - 1) / alignment * alignment
    }

    /// A 2-D tensor as a matrix: GGUF lists dimensions innermost first, so dims = [cols, rows].
    func matrix(_ name: String) throws -> QuantizedMatrix {
        guard let entry = entries[name], entry.dims.count == 2 else { throw Failure.malformed("no matrix \(name)") }
        return try QuantizedMatrix(type: entry.type, rows: entry.dims[1], cols: entry.dims[0],
                                   data: file.base + dataStart + entry.offset)
    }

    struct Reader {
        let base: UnsafeRawPointer
        let size: Int
        var position = 0

        mutating func bytes(_ n: Int) throws -> UnsafeRawPointer {
            guard n >= 0, position + n <= size else { throw Failure.malformed("truncated at \(position)") }
            defer { position += n }
            return base + position
        }
        mutating func u32() throws -> UInt32 { UInt32(littleEndian: try bytes(4).loadUnaligned(as: UInt32.self)) }
        mutating func u64() throws -> UInt64 { UInt64(littleEndian: try bytes(8).loadUnaligned(as: UInt64.self)) }
        mutating func string() throws -> String {
            let n = Int(try u64())
            return String(decoding: UnsafeRawBufferPointer(start: try bytes(n), count: n), as: UTF8.self)
        }
        /// Value types: 0 u8, 1 i8, 2 u16, 3 i16, 4 u32, 5 i32, 6 f32, 7 bool, 8 string, 9 array, 10 u64, 11 i64, 12 f64.
        mutating func skipValue(_ type: UInt32) throws {
            switch type {
            case 0, 1, 7: _ = try bytes(1)
            case 2, 3: _ = try bytes(2)
            case 4, 5, 6: _ = try bytes(4)
            case 10, 11, 12: _ = try bytes(8)
            case 8: _ = try string()
            case 9:
                let element = try u32()
                for _ in 0..<(try u64()) { try skipValue(element) }
            default: throw Failure.malformed("value type \(type) at \(position)")
            }
        }
    }
}
