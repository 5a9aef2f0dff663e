/// Q3_K in `QuantizedMatrix`: weight = (d · (scale - 32)) · q, the first product rounded first, as
/// `Q3_K.dequantize` (same `scale`); the bit layout is documented there.
extension Q3_K: DotKernel {
    @inline(__always)
    static func forEachChunk(_ block: UnsafeRawPointer, _ body: (Int, SIMD16<Float>) -> Void) {
        let d = loadHalf(block, 108)
        // Explicit calls, not loops, as in Q2_K: constant shifts and offsets.
        @inline(__always) func chunks(_ h: Int, _ k: Int) {
            let hmask = block.loadUnaligned(fromByteOffset: 16 * k, as: SIMD16<UInt8>.self)
            let qs = block.loadUnaligned(fromByteOffset: 32 + 32 * h + 16 * k, as: SIMD16<UInt8>.self)
            @inline(__always) func chunk(_ j: Int) {
                // low - 4 = low | 0xFC as a signed byte (low < 4), so a clear high bit ors in 0xFC:
                // (bit - 1) is 0xFF where the bit is clear and 0 where it is set.
                let low = qs &>> UInt8(2 * j) & 3
                let clear = (hmask &>> UInt8(4 * h + j) & 1) &- 1
                let q = unsafeBitCast(low | clear & 0xFC, to: SIMD16<Int8>.self)
                let dl = d * Float(scale(block + 96, 8 * h + 2 * j + k))
                body(128 * h + 32 * j + 16 * k, SIMD16<Float>(repeating: dl) * floats(q))
            }
            chunk(0); chunk(1); chunk(2); chunk(3)
        }
        chunks(0, 0); chunks(0, 1); chunks(1, 0); chunks(1, 1)
    }
}
