/// The plain types in `QuantizedMatrix`, in 16-element "blocks" so they share the quantized kernels' loop; a
/// row's last `cols % 16` elements go through `element`.

/// F32: the weights as stored.
enum F32Kernel: DotKernel {
    static var blockSize: Int { 16 }
    static var bytesPerBlock: Int { 64 }

    @inline(__always)
    static func forEachChunk(_ block: UnsafeRawPointer, _ body: (Int, SIMD16<Float>) -> Void) {
        body(0, block.loadUnaligned(as: SIMD16<Float>.self))
    }

    static func element(_ row: UnsafeRawPointer, _ column: Int) -> Float {
        row.loadUnaligned(fromByteOffset: 4 * column, as: Float.self)
    }
}

/// F16: `halfToFloat` on 16 lanes at once, with the same result for every bit pattern (NaN payloads kept).
enum F16Kernel: DotKernel {
    static var blockSize: Int { 16 }
    static var bytesPerBlock: Int { 32 }

    @inline(__always)
    static func forEachChunk(_ block: UnsafeRawPointer, _ body: (Int, SIMD16<Float>) -> Void) {
        let halves = block.loadUnaligned(as: SIMD16<UInt16>.self)
        var h = SIMD16<UInt32>()
        for i in 0..<16 { h[i] = UInt32(halves[i]) }
        body(0, floats(halves: h))
    }

    static func element(_ row: UnsafeRawPointer, _ column: Int) -> Float { loadHalf(row, 2 * column) }

    /// Normal halves: shift exponent and mantissa into place and rebias the exponent by 127 - 15 = 112.
    /// Infinities and NaNs (exponent 31): rebias twice, so the exponent becomes 255 and the mantissa (payload)
    /// is kept. Zeros and subnormals (exponent 0): mantissa · 2⁻²⁴, an exact integer conversion and an exact
    /// product, as in `halfToFloat`. The sign is or-ed in last.
    @inline(__always)
    static func floats(halves h: SIMD16<UInt32>) -> SIMD16<Float> {
        let exponent = h & 0x7C00
        let rebias = SIMD16<UInt32>(repeating: 112 << 23)
        let special = unsafeBitCast(exponent .== 0x7C00, to: SIMD16<UInt32>.self)
        let normal = ((h & 0x7FFF) &<< 13) &+ rebias &+ (special & rebias)
        var mantissa = SIMD16<Float>()
        let m = h & 0x03FF
        for i in 0..<16 { mantissa[i] = Float(Int32(bitPattern: m[i])) }
        let subnormal = unsafeBitCast(mantissa * 0x1p-24, to: SIMD16<UInt32>.self)
        let isSubnormal = unsafeBitCast(exponent .== 0, to: SIMD16<UInt32>.self)
        let magnitude = (subnormal & isSubnormal) | (normal & ~isSubnormal)
        return unsafeBitCast(magnitude | (h & 0x8000) &<< 16, to: SIMD16<Float>.self)
    }
}

/// BF16: the upper half of a float.
enum BF16Kernel: DotKernel {
    static var blockSize: Int { 16 }
    static var bytesPerBlock: Int { 32 }

    @inline(__always)
    static func forEachChunk(_ block: UnsafeRawPointer, _ body: (Int, SIMD16<Float>) -> Void) {
        let halves = block.loadUnaligned(as: SIMD16<UInt16>.self)
        var bits = SIMD16<UInt32>()
        for i in 0..<16 { bits[i] = UInt32(halves[i]) }
        body(0, unsafeBitCast(bits &<< 16, to: SIMD16<Float>.self))
    }

    static func element(_ row: UnsafeRawPointer, _ column: Int) -> Float {
        bfloat16ToFloat(UInt16(littleEndian: row.loadUnaligned(fromByteOffset: 2 * column, as: UInt16.self)))
    }
}
