/// Q2_K in `QuantizedMatrix`: weight = (d · scale) · q - (dmin · min), the two products rounded first, as
/// `Q2_K.dequantize`; the bit layout is documented there.
extension Q2_K: DotKernel {
    @inline(__always)
    static func forEachChunk(_ block: UnsafeRawPointer, _ body: (Int, SIMD16<Float>) -> Void) {
        // The 16 sub-blocks' multipliers and offsets at once (the products of `subBlockScales`, lane by lane).
        let packed = block.loadUnaligned(as: SIMD16<UInt8>.self)
        let dl = SIMD16<Float>(repeating: loadHalf(block, 80)) * floats(packed & 0x0F)
        let ml = SIMD16<Float>(repeating: loadHalf(block, 82)) * floats(packed &>> 4)
        // j by explicit calls, so its byte shifts are immediates (x86 has no per-lane byte shift by a variable);
        // h and k stay a loop: fully unrolled, LLVM split the 16 chunks lane by lane and ran 2x slower (measured).
        @inline(__always) func chunks(_ h: Int, _ k: Int) {
            // 16 bytes feed four chunks: bits 2j..2j + 1 are weights 128h + 32j + 16k ..< +16, sub-block 8h + 2j + k.
            let qs = block.loadUnaligned(fromByteOffset: 16 + 32 * h + 16 * k, as: SIMD16<UInt8>.self)
            @inline(__always) func chunk(_ j: Int) {
                let s = 8 * h + 2 * j + k
                let q = floats(qs &>> UInt8(2 * j) & 3)
                body(128 * h + 32 * j + 16 * k, SIMD16<Float>(repeating: dl[s]) * q - SIMD16<Float>(repeating: ml[s]))
            }
            chunk(0); chunk(1); chunk(2); chunk(3)
        }
        for h in 0..<2 { for k in 0..<2 { chunks(h, k) } }
    }
}
