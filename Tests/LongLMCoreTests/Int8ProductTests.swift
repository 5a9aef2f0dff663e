import Foundation
import XCTest
import CLongLMKernels
@testable import LongLMCore

/// Pins the fast path (`QuantizedMatrix.multiplyInt8`, CLongLMKernels):
/// - the activation rounding (q = round(x / s), s = max |x| / 127; 32-blocks keep d = s rounded to f16 and
///   d_sum = s · sum(q) rounded to f16, as llama.cpp's Q8_0/Q8_1 blocks; 256-blocks keep d = s; the sums);
/// - the portable kernel: its product is the dot of the exactly dequantized row with the rounded activations
///   (d · q), within f32 summation rounding: every weight type's integer unpacking is checked against
///   `dequantizeRow`, the reference of the exact path;
/// - the error against the exact product stays within the rounding's own bound, half a step per weight
///   plus the f16 rounding of a 32-block's scale (`stepBound`);
/// - every variant this node runs gives the portable kernel's results within f32 summation rounding (the
///   integers are the same; only the order of the float sums differs);
/// - on the two default models' tensors, the same bound.
final class Int8ProductTests: XCTestCase {
    static let relativeTolerance = 1e-5

    func testEveryQuantizedTypeHasAnInt8Kernel() {
        XCTAssertEqual(Set(QuantizedMatrix.int8Types), Set(QuantizedMatrixTests.quantizedTypes))
    }

    func testTheVariantIsChosenFromWhatTheNodeLetsAProcessUse() {
        let avx2: Set<CPUFeatures.Feature> = [.sse3, .ssse3, .sse4_1, .sse4_2, .avx, .avx2, .fma, .f16c]
        let avx512 = avx2.union([.avx512f, .avx512cd, .avx512bw, .avx512dq, .avx512vl])
        func best(_ enabled: Set<CPUFeatures.Feature>) -> KernelVariant {
            KernelVariant.best(for: CPUFeatures(vendor: .amd, enabled: enabled))
        }
        XCTAssertEqual(best(avx512.union([.avx512vnni])), .avx512vnni)
        XCTAssertEqual(best(avx512), .avx2, "AVX-512 without VNNI (Skylake-SP)")
        XCTAssertEqual(best(avx2.union([.avx512vnni])), .avx2, "VNNI listed without the AVX-512 core")
        XCTAssertEqual(best(avx2), .avx2)
        XCTAssertEqual(best([.sse3]), .portable)
        // cpuid lists AVX-512 but the OS does not save its registers: CPUFeatures leaves it out of `enabled`.
        let hidden = CPUFeatures(vendor: .intel, enabled: avx2, claimedButDisabled: [.avx512f])
        XCTAssertEqual(KernelVariant.best(for: hidden), .avx2)
    }

    func testActivationRoundingUsesMaxOverBlockAndKeepsSums() {
        var rng = SplitMix(seed: 11)
        let x = (0..<512).map { _ in rng.nextFloat(-3, 3) } + [Float](repeating: 0, count: 256)
        let rounded = RoundedActivations(x, block: 32)
        for b in 0..<(x.count / 32) {
            let slice = x[(32 * b)..<(32 * b + 32)]
            let amax = slice.map(abs).max()!
            // q is rounded with the f32 scale; the block keeps that scale rounded to f16 (llama.cpp's Q8_0/Q8_1).
            XCTAssertEqual(rounded.scales[b], Float(Float16(amax / 127)), "block \(b) scale")
            for i in 0..<32 {
                // llama.cpp's x86 recipe: the multiplier is 127 / max, not 1 / (max / 127).
                let expected = amax == 0 ? 0 : Int((x[32 * b + i] * (127 / amax)).rounded(.toNearestOrEven))
                XCTAssertEqual(Int(rounded.values[32 * b + i]), max(-127, min(127, expected)), "block \(b) value \(i)")
            }
        }
        XCTAssertEqual(rounded.blockSums, (0..<(x.count / 32)).map { b in (0..<32).reduce(0) { $0 + Int(rounded.values[32 * b + $1]) } })
        for b in 0..<(x.count / 32) {
            let amax = x[(32 * b)..<(32 * b + 32)].map(abs).max()!
            XCTAssertEqual(rounded.scaledSums[b], Float(Float16(amax / 127 * Float(rounded.blockSums[b]))), "block \(b) d_sum")
        }
        // Q8_K: d = 1 / (127 / max), in f32 (llama.cpp's d = 1 / iscale).
        let unroundedScales = (0..<(x.count / 256)).map { b -> Float in
            let amax = x[(256 * b)..<(256 * b + 256)].map(abs).max()!
            return amax == 0 ? 0 : 1 / (127 / amax)
        }
        let rounded256 = RoundedActivations(x, block: 256)
        XCTAssertEqual(rounded256.scales, unroundedScales, "256-blocks keep the f32 scale (Q8_K)")
        for b in 0..<(x.count / 256) {
            let amax = x[(256 * b)..<(256 * b + 256)].map(abs).max()!
            for i in 0..<256 {
                let expected = amax == 0 ? 0 : Int((x[256 * b + i] * (127 / amax)).rounded(.toNearestOrEven))
                XCTAssertEqual(Int(rounded256.values[256 * b + i]), max(-127, min(127, expected)), "256-block \(b) value \(i)")
            }
        }
        XCTAssertEqual(rounded256.groupSums, (0..<(x.count / 16)).map { g in (0..<16).reduce(0) { $0 + Int(rounded256.values[16 * g + $1]) } })
        XCTAssertEqual(rounded256.scales[2], 0, "an all-zero block has scale 0")
    }

    /// The activation rounding of every variant (32-blocks, 256-blocks, the GEMM's panels) gives the portable code's: random scales, an all-zero block,
    /// a block of one value, ties at the rounding boundary, subnormals, negative zeros.
    func testEveryVariantRoundsActivationBlocksAsThePortableCode() {
        var rng = SplitMix(seed: 12)
        var x: [Float] = []
        for b in 0..<64 {
            let scale = powf(2, Float(Int(rng.next() % 40)) - 20)
            x += (0..<32).map { _ in rng.nextFloat(-1, 1) * scale }
            if b == 3 { for i in 0..<32 { x[32 * b + i] = 0 } }
            if b == 4 { for i in 0..<32 { x[32 * b + i] = i == 7 ? -2.5 : 0 } }
            if b == 5 { for i in 0..<32 { x[32 * b + i] = i == 0 ? 127 : Float(i - 16) + 0.5 } }   // multiplier 1: ties
            if b == 6 { for i in 0..<32 { x[32 * b + i] = i % 2 == 0 ? Float.leastNonzeroMagnitude : -0.0 } }
        }
        func blocks(_ variant: longlm_kernel_variant) -> [[UInt8]] {
            var out = [longlm_q8_32](repeating: longlm_q8_32(), count: x.count / 32)
            longlm_quantize_q8_32(variant, x, Int64(x.count), &out)
            return out.map { b in withUnsafeBytes(of: b) { Array($0) } }
        }
        // 256-blocks (decode's K-quant activations), and the GEMM's panels, whose K-quant lanes round 16 values.
        func blocks256(_ variant: longlm_kernel_variant) -> [[UInt8]] {
            var out = [longlm_q8_256](repeating: longlm_q8_256(), count: x.count / 256)
            longlm_quantize_q8_256(variant, x, Int64(x.count), &out)
            return out.map { b in withUnsafeBytes(of: b) { Array($0) } }
        }
        func panels(_ variant: longlm_kernel_variant, type: Int32) -> [UInt8] {
            let bytes = Int(longlm_int8_gemm_panel_bytes(type, Int64(x.count / 2)))
            var out = [UInt8](repeating: 0xAB, count: 2 * bytes)
            XCTAssertEqual(longlm_int8_gemm_activations(variant, type, x, Int64(x.count / 2), 2, &out), 0)
            return out
        }
        let reference = blocks(LONGLM_KERNELS_PORTABLE), reference256 = blocks256(LONGLM_KERNELS_PORTABLE)
        let q4K = Int32(12), q4_1 = Int32(3)
        for variant in KernelVariant.supportedHere {
            for (b, block) in blocks(variant.cVariant).enumerated() {
                XCTAssertEqual(block, reference[b], "\(variant), block \(b)")
            }
            XCTAssertEqual(blocks256(variant.cVariant), reference256, "\(variant), 256-blocks")
            for type in [q4K, q4_1] {
                XCTAssertEqual(panels(variant.cVariant, type: type), panels(LONGLM_KERNELS_PORTABLE, type: type),
                               "\(variant), GEMM panels of type \(type)")
            }
        }
    }

    func testPortableProductIsTheDotOfDequantizedRowsWithRoundedActivations() throws {
        var rng = SplitMix(seed: 12)
        for type in QuantizedMatrix.int8Types {
            for (rows, cols) in [(1, 256), (7, 768), (33, 1280)] {
                let m = try TestMatrix(type: type, rows: rows, cols: cols, byteOffset: 1, rng: &rng)
                for count in [1, 3] {
                    let x = (0..<count * cols).map { _ in rng.nextFloat(-2, 2) }
                    let y = product(m.matrix, x, count: count, variant: .portable)
                    for v in 0..<count {
                        let rounded = RoundedActivations(Array(x[(v * cols)..<((v + 1) * cols)]), block: m.matrix.int8ActivationBlock!)
                        for r in 0..<rows {
                            let w = m.referenceRow(r)
                            var (dot, magnitude) = exactDot(w, rounded.dequantized)
                            // Q4_1 and Q5_1: the min m meets the stored f16 d_sum, not d times the sum (llama.cpp's
                            // Q8_1 "s"); the difference is part of the product.
                            for b in 0..<(cols / 32) where type == .q4_1 || type == .q5_1 {
                                let minimum = Double(m.minOfBlock(row: r, block: b))
                                dot += minimum * (Double(rounded.scaledSums[b]) - Double(rounded.scales[b]) * Double(rounded.blockSums[b]))
                                magnitude += abs(minimum * Double(rounded.scaledSums[b]))
                            }
                            XCTAssertLessThanOrEqual(abs(Double(y[v * rows + r]) - dot), Self.relativeTolerance * magnitude,
                                                     "\(type.name) [\(rows)x\(cols)] vector \(v) row \(r)")
                        }
                    }
                }
            }
        }
    }

    func testErrorAgainstTheExactProductStaysWithinHalfARoundingStepPerWeight() throws {
        var rng = SplitMix(seed: 13)
        for type in QuantizedMatrix.int8Types {
            let (rows, cols) = (9, 1024)
            let m = try TestMatrix(type: type, rows: rows, cols: cols, byteOffset: 0, rng: &rng)
            let x = (0..<cols).map { _ in rng.nextFloat(-1, 1) }
            let block = m.matrix.int8ActivationBlock!
            let rounded = RoundedActivations(x, block: block)
            for variant in KernelVariant.supportedHere {
                let y = product(m.matrix, x, count: 1, variant: variant)
                for r in 0..<rows {
                    let w = m.referenceRow(r)
                    let (exact, magnitude) = exactDot(w, x)
                    var bound = 0.0
                    for c in 0..<cols { bound += rounded.stepBound(c) * abs(Double(w[c])) }
                    XCTAssertLessThanOrEqual(abs(Double(y[r]) - exact), bound + 2 * Self.relativeTolerance * magnitude,
                                             "\(type.name) \(variant) row \(r)")
                }
            }
        }
    }

    func testEveryVariantThisNodeRunsMatchesPortable() throws {
        var rng = SplitMix(seed: 14)
        XCTAssertTrue(KernelVariant.supportedHere.contains(.portable))
        for type in QuantizedMatrix.int8Types {
            let (rows, cols) = (37, 1536)
            let m = try TestMatrix(type: type, rows: rows, cols: cols, byteOffset: 5, rng: &rng)
            let x = (0..<2 * cols).map { _ in rng.nextFloat(-4, 4) }
            let reference = product(m.matrix, x, count: 2, variant: .portable)
            for variant in KernelVariant.supportedHere where variant != .portable {
                let y = product(m.matrix, x, count: 2, variant: variant)
                for v in 0..<2 {
                    let rounded = RoundedActivations(Array(x[(v * cols)..<((v + 1) * cols)]), block: m.matrix.int8ActivationBlock!)
                    for r in 0..<rows {
                        let (_, magnitude) = exactDot(m.referenceRow(r), rounded.dequantized)
                        XCTAssertLessThanOrEqual(abs(Double(y[v * rows + r]) - Double(reference[v * rows + r])),
                                                 Self.relativeTolerance * magnitude, "\(type.name) \(variant) vector \(v) row \(r)")
                    }
                }
            }
        }
    }

    /// The int8 GEMM (prefill's many-vector product), for every type, with partial groups of lane-blocks, partial
    /// tiles of rows and vectors, and an all-zero block:
    /// - 32-block types: the portable row products (the same rounded activations; only float order differs);
    /// - 256-block types (K-quants, IQ4_XS): the dot of the exactly dequantized rows with the activations rounded in
    ///   blocks of 16 (`gemmRounded`: the Q8_K recipe per 16 values, finer than the row kernels' 256).
    func testTheInt8GEMMGivesTheProductsOfItsRoundedActivationsForEveryType() throws {
        var rng = SplitMix(seed: 16)
        let variants = KernelVariant.supportedHere.filter { longlm_int8_gemm_available($0.cVariant) != 0 }
        XCTAssertTrue(variants.contains(.portable))
        if KernelVariant.supportedHere.contains(.avx512vnni) { XCTAssertTrue(variants.contains(.avx512vnni)) }
        XCTAssertFalse(QuantizedMatrix.hasTiledInt8(.portable), "the portable GEMM is a reference, not chosen for speed")
        for type in QuantizedMatrix.int8Types {
            let block = Int(longlm_int8_activation_block(Int32(type.rawValue)))
            for (rows, cols, count) in [(37, 1536, 9), (21, block == 32 ? 640 : 768, 4), (5, block == 32 ? 96 : 256, 1)] {
                let m = try TestMatrix(type: type, rows: rows, cols: cols, byteOffset: 3, rng: &rng)
                var x = (0..<count * cols).map { _ in rng.nextFloat(-4, 4) }
                for i in 0..<block where i < x.count { x[i] = 0 }  // vector 0's first block is all zero: scale 0
                x[cols - 1] = 60  // one large value in a block of the last lane
                let rowProducts = product(m.matrix, x, count: count, variant: .portable)
                for variant in variants {
                    var y = [Float](repeating: .nan, count: count * rows)
                    x.withUnsafeBufferPointer { x in
                        y.withUnsafeMutableBufferPointer {
                            XCTAssertTrue(m.matrix.multiplyInt8GEMM(x.baseAddress!, count: count, into: $0.baseAddress!, variant: variant))
                        }
                    }
                    for v in 0..<count {
                        let xv = Array(x[(v * cols)..<((v + 1) * cols)])
                        let rounded = RoundedActivations(xv, block: block)
                        let lanes16 = block == 256 ? gemmRounded(xv, lane: 16) : []
                        for r in 0..<rows {
                            let label = "\(type.name) GEMM \(variant) [\(rows)x\(cols)] vector \(v) row \(r)"
                            if block == 32 {
                                var (_, magnitude) = exactDot(m.referenceRow(r), rounded.dequantized)
                                for b in 0..<(cols / 32) where type == .q4_1 || type == .q5_1 {
                                    magnitude += abs(Double(m.minOfBlock(row: r, block: b)) * Double(rounded.scaledSums[b]))
                                }
                                XCTAssertLessThanOrEqual(abs(Double(y[v * rows + r]) - Double(rowProducts[v * rows + r])),
                                                         Self.relativeTolerance * magnitude, label)
                            } else {
                                let (dot, magnitude) = exactDot(m.referenceRow(r), lanes16)
                                XCTAssertLessThanOrEqual(abs(Double(y[v * rows + r]) - dot), Self.relativeTolerance * magnitude, label)
                            }
                        }
                    }
                }
            }
        }
    }

    /// The GEMM's activations for the 256-block types, as floats: each `lane` values rounded on their own,
    /// q = round(x · m) with m = 127 / max |x|, read back as d · q with d = 1 / m (the Q8_K recipe).
    private func gemmRounded(_ x: [Float], lane: Int) -> [Float] {
        var out = [Float](repeating: 0, count: x.count)
        for b in 0..<(x.count / lane) {
            let slice = x[(lane * b)..<(lane * b + lane)]
            let amax = slice.map(abs).max()!
            let m: Float = amax > 0 ? 127 / amax : 0
            let d: Float = m > 0 ? 1 / m : 0
            for i in (lane * b)..<(lane * b + lane) {
                out[i] = d * max(-127, min(127, (x[i] * m).rounded(.toNearestOrEven)))
            }
        }
        return out
    }

    func testFastPrecisionRoutesBatchedMultiplyThroughInt8() throws {
        var rng = SplitMix(seed: 15)
        let m = try TestMatrix(type: .q4_K, rows: 16, cols: 512, byteOffset: 0, rng: &rng)
        let x = (0..<2 * 512).map { _ in rng.nextFloat(-1, 1) }
        let saved = Compute.precision
        defer { Compute.precision = saved }
        Compute.precision = .fast
        var viaSetting = [Float](repeating: .nan, count: 32)
        x.withUnsafeBufferPointer { x in
            viaSetting.withUnsafeMutableBufferPointer { m.matrix.multiply(x.baseAddress!, count: 2, into: $0.baseAddress!) }
        }
        XCTAssertEqual(viaSetting, product(m.matrix, x, count: 2, variant: Compute.kernels))
        Compute.precision = .exact
        var exact = [Float](repeating: .nan, count: 32)
        x.withUnsafeBufferPointer { x in
            exact.withUnsafeMutableBufferPointer { m.matrix.multiply(x.baseAddress!, count: 2, into: $0.baseAddress!) }
        }
        XCTAssertNotEqual(exact, viaSetting, "exact precision does not round the activations")
    }

    func testDefaultModelTensorsStayWithinTheRoundingBound() throws {
        for (path, names) in [(ModelTensors.gemma3, ["blk.0.attn_q.weight", "blk.0.attn_v.weight", "blk.0.ffn_down.weight", "blk.2.ffn_down.weight"]),
                              (ModelTensors.smolLM2, ["blk.0.attn_q.weight", "blk.0.ffn_down.weight"])] {
            guard FileManager.default.fileExists(atPath: path) else { throw XCTSkip("model absent (\(path)); run scripts/setup.sh") }
            let model = try ModelTensors(path: path)
            var rng = SplitMix(seed: 16)
            for name in names {
                let full = try model.matrix(name)
                let matrix = try QuantizedMatrix(type: full.type, rows: min(full.rows, 256), cols: full.cols, data: full.data)
                let x = (0..<matrix.cols).map { _ in rng.nextFloat(-1, 1) }
                let block = matrix.int8ActivationBlock!
                let rounded = RoundedActivations(x, block: block)
                for variant in KernelVariant.supportedHere {
                    let y = product(matrix, x, count: 1, variant: variant)
                    var w = [Float](repeating: 0, count: matrix.cols)
                    for r in 0..<matrix.rows {
                        w.withUnsafeMutableBufferPointer { matrix.dequantizeRow(r, into: $0.baseAddress!) }
                        let (exact, magnitude) = exactDot(w, x)
                        var bound = 0.0
                        for c in 0..<matrix.cols { bound += rounded.stepBound(c) * abs(Double(w[c])) }
                        XCTAssertLessThanOrEqual(abs(Double(y[r]) - exact), bound + 2 * Self.relativeTolerance * magnitude,
                                                 "\(name) (\(matrix.type.name)) \(variant) row \(r)")
                    }
                }
            }
        }
    }

    // MARK: helpers

    private func product(_ matrix: QuantizedMatrix, _ x: [Float], count: Int, variant: KernelVariant) -> [Float] {
        var y = [Float](repeating: .nan, count: count * matrix.rows)
        x.withUnsafeBufferPointer { x in
            y.withUnsafeMutableBufferPointer {
                XCTAssertTrue(matrix.multiplyInt8(x.baseAddress!, count: count, into: $0.baseAddress!, variant: variant))
            }
        }
        return y
    }

    /// The Double dot product and sum |w x|.
    private func exactDot(_ w: [Float], _ x: [Float]) -> (dot: Double, magnitude: Double) {
        var dot = 0.0, magnitude = 0.0
        for i in 0..<w.count {
            let p = Double(w[i]) * Double(x[i])
            dot += p
            magnitude += abs(p)
        }
        return (dot, magnitude)
    }
}

/// The kernels' own rounding of a vector, read back: per-block scales, values, sums, and d · q.
struct RoundedActivations {
    var scales: [Float] = []
    var values: [Int8] = []
    var blockSums: [Int] = []
    var scaledSums: [Float] = []
    var groupSums: [Int] = []
    var dequantized: [Float] = []

    init(_ x: [Float], block: Int) {
        let blocks = x.count / block
        if block == 32 {
            var out = [longlm_q8_32](repeating: longlm_q8_32(), count: blocks)
            longlm_quantize_q8_32(LONGLM_KERNELS_PORTABLE, x, Int64(x.count), &out)
            for b in out {
                scales.append(b.d)
                blockSums.append(Int(b.sum))
                scaledSums.append(b.d_sum)
                withUnsafeBytes(of: b.qs) { values += $0.map { Int8(bitPattern: $0) } }
            }
        } else {
            var out = [longlm_q8_256](repeating: longlm_q8_256(), count: blocks)
            longlm_quantize_q8_256(LONGLM_KERNELS_PORTABLE, x, Int64(x.count), &out)
            for b in out {
                scales.append(b.d)
                withUnsafeBytes(of: b.bsums) { groupSums += $0.bindMemory(to: Int16.self).map(Int.init) }
                withUnsafeBytes(of: b.qs) { values += $0.map { Int8(bitPattern: $0) } }
            }
        }
        dequantized = values.indices.map { scales[$0 / block] * Float(values[$0]) }
        self.block = block
    }

    var block = 32

    /// How far activation `c` can be from its rounded value d q: half a step of the unrounded scale s, plus, for
    /// 32-blocks, |q| <= 127 times the rounding of s to f16 (|s - d| <= 2^-11 d, s <= (1 + 2^-10) d).
    func stepBound(_ c: Int) -> Double {
        let d = Double(scales[c / block])
        return block == 32 ? d * (1 + 0x1p-10) / 2 + 127 * 0x1p-11 * d : d / 2
    }
}

/// The exact path on every variant this node runs: rows rebuilt bit for bit as the reference dequantizer,
/// products equal to the portable variant's within f32 summation rounding.
final class ExactKernelVariantTests: XCTestCase {
    func testEveryVariantRebuildsRowsBitIdenticalToDequantizeRow() throws {
        var rng = SplitMix(seed: 21)
        for variant in KernelVariant.supportedHere {
            for type in QuantizedMatrixTests.quantizedTypes + QuantizedMatrixTests.plainTypes {
                let cols = type.blockSize == 1 ? 16 * 5 + 7 : 5 * type.blockSize
                let m = try TestMatrix(type: type, rows: 3, cols: cols, byteOffset: 3, rng: &rng)
                for r in 0..<3 {
                    var row = [Float](repeating: .nan, count: cols)
                    row.withUnsafeMutableBufferPointer { m.matrix.dequantizeRow(r, into: $0.baseAddress!, variant: variant) }
                    assertBitIdentical(row, m.referenceRow(r), "\(type.name) \(variant) row \(r)")
                }
            }
        }
    }

    func testEveryVariantMultipliesLikePortable() throws {
        var rng = SplitMix(seed: 22)
        for type in QuantizedMatrixTests.quantizedTypes + QuantizedMatrixTests.plainTypes {
            let cols = type.blockSize == 1 ? 16 * 40 + 9 : 6 * max(32, type.blockSize)
            let m = try TestMatrix(type: type, rows: 19, cols: cols, byteOffset: 1, rng: &rng)
            for count in [1, 3, 6] {
                let x = (0..<count * cols).map { _ in rng.nextFloat(-2, 2) }
                func product(_ variant: KernelVariant) -> [Float] {
                    var y = [Float](repeating: .nan, count: count * 19)
                    x.withUnsafeBufferPointer { x in
                        y.withUnsafeMutableBufferPointer { m.matrix.multiplyExact(x.baseAddress!, count: count, into: $0.baseAddress!, variant: variant) }
                    }
                    return y
                }
                let reference = product(.portable)
                for v in 0..<count {
                    m.assertProducts(Array(reference[(v * 19)..<((v + 1) * 19)]), x: Array(x[(v * cols)..<((v + 1) * cols)]),
                                     vector: v, "\(type.name) portable batch \(count)")
                }
                for variant in KernelVariant.supportedHere where variant != .portable {
                    let y = product(variant)
                    for v in 0..<count {
                        m.assertProducts(Array(y[(v * 19)..<((v + 1) * 19)]), x: Array(x[(v * cols)..<((v + 1) * cols)]),
                                         vector: v, "\(type.name) \(variant) batch \(count)")
                    }
                }
            }
        }
    }
}
