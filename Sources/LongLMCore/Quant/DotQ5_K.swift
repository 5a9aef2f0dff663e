/// Q5_K in `QuantizedMatrix`: weight = (d · scale) · (nibble + 16 · high bit) - (dmin · min), the two products
/// rounded first, as `Q5_K.dequantize`; Q4_K's kernel plus the high bits.
extension Q5_K: DotKernel {
    @inline(__always)
    static func forEachChunk(_ block: UnsafeRawPointer, _ body: (Int, SIMD16<Float>) -> Void) {
        let d = loadHalf(block, 0)
        let dmin = loadHalf(block, 2)
        // Explicit calls, not a loop, as in Q4_K: with c constant the shifts and offsets fold.
        @inline(__always) func chunk(_ c: Int) {
            let (d1, m1, d2, m2) = Q4_K.chunkScales(block + 4, d: d, dmin: dmin, chunk: c)
            let scaleLow = SIMD16<Float>(repeating: d1), minLow = SIMD16<Float>(repeating: m1)
            let scaleHigh = SIMD16<Float>(repeating: d2), minHigh = SIMD16<Float>(repeating: m2)
            for half in 0..<2 {
                // Weights l of sub-blocks 2c (low nibbles) and 2c + 1 (high nibbles), l in 16·half ..< +16; their
                // high bits are bits 2c and 2c + 1 of qh byte l.
                let qs = block.loadUnaligned(fromByteOffset: 48 + 32 * c + 16 * half, as: SIMD16<UInt8>.self)
                let qh = block.loadUnaligned(fromByteOffset: 16 + 16 * half, as: SIMD16<UInt8>.self) &>> UInt8(2 * c)
                body(64 * c + 16 * half, scaleLow * floats(qs & 0x0F | (qh & 1) &<< 4) - minLow)
                body(64 * c + 32 + 16 * half, scaleHigh * floats(qs &>> 4 | (qh & 2) &<< 3) - minHigh)
            }
        }
        chunk(0); chunk(1); chunk(2); chunk(3)
    }
}
