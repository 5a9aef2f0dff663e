/// Q6_K in `QuantizedMatrix`: weight = (d · scale) · (6-bit q - 32), the product d · scale rounded first, as
/// `Q6_K.dequantize`; the bit layout is documented there.
extension Q6_K: DotKernel {
    @inline(__always)
    static func forEachChunk(_ block: UnsafeRawPointer, _ body: (Int, SIMD16<Float>) -> Void) {
        let d = loadHalf(block, 208)
        for half in 0..<2 {
            for g in 0..<2 {
                // l in 16g ..< 16g + 16 of this half; the four quarters' weights l, l + 32, l + 64, l + 96 use
                // scales sc[g], sc[g + 2], sc[g + 4], sc[g + 6] of the half.
                let low = block.loadUnaligned(fromByteOffset: 64 * half + 16 * g, as: SIMD16<UInt8>.self)
                let high = block.loadUnaligned(fromByteOffset: 64 * half + 32 + 16 * g, as: SIMD16<UInt8>.self)
                let h = block.loadUnaligned(fromByteOffset: 128 + 32 * half + 16 * g, as: SIMD16<UInt8>.self)
                @inline(__always) func scale(_ k: Int) -> SIMD16<Float> {
                    SIMD16<Float>(repeating: d * Float(block.load(fromByteOffset: 192 + 8 * half + g + 2 * k,
                                                                  as: Int8.self)))
                }
                let column = 128 * half + 16 * g
                body(column, scale(0) * floats(signed(low & 0x0F | (h & 0x03) &<< 4, minus: 32)))
                body(column + 32, scale(1) * floats(signed(high & 0x0F | (h & 0x0C) &<< 2, minus: 32)))
                body(column + 64, scale(2) * floats(signed(low &>> 4 | h & 0x30, minus: 32)))
                body(column + 96, scale(3) * floats(signed(high &>> 4 | (h & 0xC0) &>> 2, minus: 32)))
            }
        }
    }
}
