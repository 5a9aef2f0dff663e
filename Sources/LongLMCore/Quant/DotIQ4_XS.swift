/// IQ4_XS in `QuantizedMatrix`: weight = (d · (scale - 32)) · levels[index], the first product rounded first,
/// as `IQ4_XS.dequantize` (same `subBlockScale`).
extension IQ4_XS: DotKernel {
    @inline(__always)
    static func forEachChunk(_ block: UnsafeRawPointer, _ body: (Int, SIMD16<Float>) -> Void) {
        let d = loadHalf(block, 0)
        for s in 0..<8 {
            let dl = SIMD16<Float>(repeating: subBlockScale(block, d: d, s))
            let qs = block.loadUnaligned(fromByteOffset: 8 + 16 * s, as: SIMD16<UInt8>.self)
            body(32 * s, dl * floats(iq4Levels(qs & 0x0F)))
            body(32 * s + 16, dl * floats(iq4Levels(qs &>> 4)))
        }
    }
}
