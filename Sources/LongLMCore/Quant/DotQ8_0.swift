/// Q8_0 in `QuantizedMatrix`: weight j = Float(qs[j]) * d, as `Q8_0.dequantize`.
extension Q8_0: DotKernel {
    @inline(__always)
    static func forEachChunk(_ block: UnsafeRawPointer, _ body: (Int, SIMD16<Float>) -> Void) {
        let d = SIMD16<Float>(repeating: loadHalf(block, 0))
        body(0, floats(block.loadUnaligned(fromByteOffset: 2, as: SIMD16<Int8>.self)) * d)
        body(16, floats(block.loadUnaligned(fromByteOffset: 18, as: SIMD16<Int8>.self)) * d)
    }
}
