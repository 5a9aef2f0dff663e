/// Q4_K in `QuantizedMatrix`: weight = (d · scale) · nibble - (dmin · min), the two products rounded first,
/// as `Q4_K.dequantize` (same `chunkScales`, and no fused multiply-add).
extension Q4_K: DotKernel {
    @inline(__always)
    static func forEachChunk(_ block: UnsafeRawPointer, _ body: (Int, SIMD16<Float>) -> Void) {
        let d = loadHalf(block, 0)
        let dmin = loadHalf(block, 2)
        // Chunks c by explicit calls, not a loop: with c constant, `scaleAndMin` loses its branch and the byte
        // offsets fold.
        @inline(__always) func chunk(_ c: Int) {
            let (d1, m1, d2, m2) = chunkScales(block + 4, d: d, dmin: dmin, chunk: c)
            let scaleLow = SIMD16<Float>(repeating: d1), minLow = SIMD16<Float>(repeating: m1)
            let scaleHigh = SIMD16<Float>(repeating: d2), minHigh = SIMD16<Float>(repeating: m2)
            for half in 0..<2 {
                // Bytes l ..< l + 16 of 32-byte chunk c: low nibbles are weights 64c + l..., high nibbles
                // 64c + 32 + l...
                let qs = block.loadUnaligned(fromByteOffset: 16 + 32 * c + 16 * half, as: SIMD16<UInt8>.self)
                body(64 * c + 16 * half, scaleLow * floats(qs & 0x0F) - minLow)
                body(64 * c + 32 + 16 * half, scaleHigh * floats(qs &>> 4) - minHigh)
            }
        }
        chunk(0); chunk(1); chunk(2); chunk(3)
    }
}
