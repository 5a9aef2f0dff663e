import CLongLMSIMD

/// IQ4_NL in `QuantizedMatrix`: weight j = d · levels[low nibble of qs[j]], weight j + 16 the same from the high
/// nibble, as `IQ4_NL.dequantize`.
extension IQ4_NL: DotKernel {
    @inline(__always)
    static func forEachChunk(_ block: UnsafeRawPointer, _ body: (Int, SIMD16<Float>) -> Void) {
        let d = SIMD16<Float>(repeating: loadHalf(block, 0))
        let qs = block.loadUnaligned(fromByteOffset: 2, as: SIMD16<UInt8>.self)
        body(0, d * floats(iq4Levels(qs & 0x0F)))
        body(16, d * floats(iq4Levels(qs &>> 4)))
    }
}

/// `IQ4_NL.levels[i]` for 16 indices below 16 at once (one byte shuffle, see `longlm_lookup16`).
@inline(__always)
func iq4Levels(_ indices: SIMD16<UInt8>) -> SIMD16<Int8> {
    longlm_lookup16(IQ4_NL.levels, indices)
}
