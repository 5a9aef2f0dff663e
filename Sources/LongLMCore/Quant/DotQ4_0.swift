/// Q4_0 in `QuantizedMatrix`: weight j = Float(low nibble of qs[j] - 8) * d, weight j + 16 the same from the
/// high nibble, as `Q4_0.dequantize`.
extension Q4_0: DotKernel {
    @inline(__always)
    static func forEachChunk(_ block: UnsafeRawPointer, _ body: (Int, SIMD16<Float>) -> Void) {
        let d = SIMD16<Float>(repeating: loadHalf(block, 0))
        let qs = block.loadUnaligned(fromByteOffset: 2, as: SIMD16<UInt8>.self)
        body(0, floats(signed(qs & 0x0F, minus: 8)) * d)
        body(16, floats(signed(qs &>> 4, minus: 8)) * d)
    }
}
