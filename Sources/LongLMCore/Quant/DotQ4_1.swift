/// Q4_1 in `QuantizedMatrix`: weight j = Float(low nibble of qs[j]) * d + m, weight j + 16 the same from the
/// high nibble, the product rounded before the sum, as `Q4_1.dequantize`.
extension Q4_1: DotKernel {
    @inline(__always)
    static func forEachChunk(_ block: UnsafeRawPointer, _ body: (Int, SIMD16<Float>) -> Void) {
        let d = SIMD16<Float>(repeating: loadHalf(block, 0))
        let m = SIMD16<Float>(repeating: loadHalf(block, 2))
        let qs = block.loadUnaligned(fromByteOffset: 4, as: SIMD16<UInt8>.self)
        body(0, floats(qs & 0x0F) * d + m)
        body(16, floats(qs &>> 4) * d + m)
    }
}
