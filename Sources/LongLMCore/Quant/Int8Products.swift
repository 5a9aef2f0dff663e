import CLongLMKernels

/// The fast path of `QuantizedMatrix`: each activation vector is rounded once to 8-bit blocks (32 weights for
/// the 32-weight block types, 256 with 16-weight partial sums for the K-quants and IQ4_XS) and every row's dot
/// product is summed in integers per block, then scaled (CLongLMKernels; formulas in docs/kernels.md).
extension QuantizedMatrix {
    /// Weight types with an int8 kernel.
    public static let int8Types: [GGMLType] = supportedTypes.filter { longlm_int8_activation_block(Int32($0.rawValue)) != 0 }

    /// The activation block the type multiplies with (32 or 256), nil without an int8 kernel.
    public var int8ActivationBlock: Int? {
        let block = Int(longlm_int8_activation_block(Int32(type.rawValue)))
        return block == 0 ? nil : block
    }

    /// y[v * rows + r] = dot(row r, x_v) for `count` vectors x_v = x[v * cols ..< (v + 1) * cols], with the
    /// activations rounded to 8 bits and `variant`'s kernels. Nil when the type has no int8 kernel.
    @discardableResult
    public func multiplyInt8(_ x: UnsafePointer<Float>, count: Int, into y: UnsafeMutablePointer<Float>,
                             variant: KernelVariant = Compute.kernels) -> Bool {
        guard let block = int8ActivationBlock, count > 0 else { return false }
        let blocks = cols / block
        let stride = block == 32 ? MemoryLayout<longlm_q8_32>.stride * blocks : MemoryLayout<longlm_q8_256>.stride * blocks
        let activations = UnsafeMutableRawPointer.allocate(byteCount: max(1, stride * count), alignment: 64)
        defer { activations.deallocate() }
        for v in 0..<count {
            if block == 32 {
                longlm_quantize_q8_32(variant.cVariant, x + v * cols, Int64(cols), (activations + v * stride).assumingMemoryBound(to: longlm_q8_32.self))
            } else {
                longlm_quantize_q8_256(variant.cVariant, x + v * cols, Int64(cols), (activations + v * stride).assumingMemoryBound(to: longlm_q8_256.self))
            }
        }
        let type = Int32(self.type.rawValue), rowBytes = self.rowBytes, cols = Int64(self.cols), rows = self.rows
        let data = self.data
        Parallel.forRanges(rows, minimumPerChunk: minimumRowsPerThread) { range in
            let status = longlm_int8_dot_rows(variant.cVariant, type, data, rowBytes, Int64(range.lowerBound),
                                              Int64(range.upperBound), cols, activations, stride, Int32(count),
                                              y, Int64(rows))
            precondition(status == 0, "int8 kernel missing for \(self.type.name) (\(variant))")
        }
        return true
    }

    /// Whether `variant` has the int8 GEMM's register tile for many vectors at once (AVX-512 VNNI; the portable
    /// GEMM exists as its reference but is slower than the row products, so it is not chosen for speed).
    public static func hasTiledInt8(_ variant: KernelVariant) -> Bool {
        variant == .avx512vnni && longlm_int8_gemm_available(variant.cVariant) != 0
    }

    /// `count` vectors through the int8 GEMM: activations rewritten once as panels, weights 16 rows at a time,
    /// register tiles of 4 rows by 4 vectors (docs/kernels.md, "The int8 GEMM"). For the 32-block types these are
    /// `multiplyInt8`'s products (the same rounded activations and integers; only the order of the float sums
    /// differs); the K-quants and IQ4_XS round their activations per 16 values instead of per 256. False when the
    /// type or the variant has no GEMM.
    @discardableResult
    public func multiplyInt8GEMM(_ x: UnsafePointer<Float>, count: Int, into y: UnsafeMutablePointer<Float>,
                                 variant: KernelVariant = Compute.kernels) -> Bool {
        let type = Int32(self.type.rawValue), cols = self.cols, rows = self.rows
        let bytes = longlm_int8_gemm_panel_bytes(type, Int64(cols))
        guard bytes > 0, count > 0, longlm_int8_gemm_available(variant.cVariant) != 0 else { return false }
        let panels = UnsafeMutableRawPointer.allocate(byteCount: bytes * count, alignment: 64)
        defer { panels.deallocate() }
        Parallel.forRanges(count, minimumPerChunk: 8) { range in
            let status = longlm_int8_gemm_activations(variant.cVariant, type, x + range.lowerBound * cols, Int64(cols), Int32(range.count),
                                                      panels + range.lowerBound * bytes)
            precondition(status == 0, "int8 GEMM activations failed for \(self.type.name)")
        }
        let rowBytes = self.rowBytes, data = self.data
        let rowsPerItem = Self.gemmRowsPerItem
        Parallel.forEach((rows + rowsPerItem - 1) / rowsPerItem) { item in
            let lo = item * rowsPerItem, hi = min(rows, lo + rowsPerItem)
            let status = longlm_int8_gemm(variant.cVariant, type, data, rowBytes, Int64(lo), Int64(hi), Int64(cols),
                                          panels, Int32(count), y, Int64(rows))
            precondition(status == 0, "int8 GEMM failed for \(self.type.name) (\(variant))")
        }
        return true
    }

    /// Output rows per work item of the GEMM: a multiple of its 16-row weight panels, small enough that two
    /// threads share a 256-row matrix evenly.
    static let gemmRowsPerItem = 64

    /// `rows` vectors of `cols` floats rounded as `multiplyInt8` rounds them, written back as floats (d · q). A
    /// product of these with the exactly dequantized weights equals `multiplyInt8`'s up to f32 summation
    /// rounding: the fast precision's prefill (sgemm on weight tiles) gives what its decode gives, up to that rounding.
    public func roundActivations(_ x: UnsafePointer<Float>, rows: Int, into out: UnsafeMutablePointer<Float>) {
        guard let block = int8ActivationBlock else { out.update(from: x, count: rows * cols); return }
        let cols = self.cols
        Parallel.forRanges(rows, minimumPerChunk: max(1, (1 << 14) / max(cols, 1))) { range in
            for r in range { longlm_round_activations(x + r * cols, Int64(cols), Int32(block), out + r * cols) }
        }
    }
}

extension KernelVariant {
    /// Runs the int8 multiply-add peak probe (register-only `vpdpbusd`, CLongLMKernels) for `iterations` rounds on
    /// the calling thread and returns the multiply-adds done; nil when this variant has no probe.
    public func int8PeakProbe(iterations: Int) -> Int? {
        var checksum: UInt64 = 0
        guard longlm_int8_peak_probe(cVariant, Int64(iterations), &checksum) == 0 else { return nil }
        withExtendedLifetime(checksum) {}
        return iterations * Int(longlm_int8_peak_multiply_adds_per_iteration())
    }
}
