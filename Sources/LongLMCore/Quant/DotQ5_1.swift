/// Q5_1 in `QuantizedMatrix`: weight j = Float(nibble | high bit << 4) * d + m, as `Q5_1.dequantize`. The
/// quants come from Q5_0's or-mask decoding, which gives q - 16; adding 16 back as a wrapping byte is q.
extension Q5_1: DotKernel {
    @inline(__always)
    static func forEachChunk(_ block: UnsafeRawPointer, _ body: (Int, SIMD16<Float>) -> Void) {
        let d = SIMD16<Float>(repeating: loadHalf(block, 0))
        let m = SIMD16<Float>(repeating: loadHalf(block, 2))
        let (low, high) = fiveBitQuantsMinus16(block, qh: 4, qs: 8)
        body(0, floats(unsafeBitCast(low, to: SIMD16<UInt8>.self) &+ 16) * d + m)
        body(16, floats(unsafeBitCast(high, to: SIMD16<UInt8>.self) &+ 16) * d + m)
    }
}
