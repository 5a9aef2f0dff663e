/// Q5_0 in `QuantizedMatrix`: weight j = Float((nibble | high bit << 4) - 16) * d, as `Q5_0.dequantize`.
extension Q5_0: DotKernel {
    @inline(__always)
    static func forEachChunk(_ block: UnsafeRawPointer, _ body: (Int, SIMD16<Float>) -> Void) {
        let d = SIMD16<Float>(repeating: loadHalf(block, 0))
        let (low, high) = fiveBitQuantsMinus16(block, qh: 2, qs: 6)
        body(0, floats(low) * d)
        body(16, floats(high) * d)
    }
}

/// The 5-bit quants of a Q5_0/Q5_1 block minus 16, as signed bytes: weights 0..<16 and 16..<32. `qh` is the
/// offset of the four bytes of fifth bits (bit j of the little-endian u32 for weight j), `qs` that of the 16
/// nibble bytes.
@inline(__always)
func fiveBitQuantsMinus16(_ block: UnsafeRawPointer, qh: Int, qs: Int) -> (SIMD16<Int8>, SIMD16<Int8>) {
    let nibbles = block.loadUnaligned(fromByteOffset: qs, as: SIMD16<UInt8>.self)
    let masks = minus16Masks
    @inline(__always) func mask(_ k: Int) -> UInt64 {
        masks[Int(block.load(fromByteOffset: qh + k, as: UInt8.self))]  // qh byte k: weights 8k ..< 8k + 8
    }
    let low = unsafeBitCast(SIMD2<UInt64>(mask(0), mask(1)), to: SIMD16<Int8>.self)
    let high = unsafeBitCast(SIMD2<UInt64>(mask(2), mask(3)), to: SIMD16<Int8>.self)
    return (unsafeBitCast(nibbles & 0x0F, to: SIMD16<Int8>.self) | low,
            unsafeBitCast(nibbles &>> 4, to: SIMD16<Int8>.self) | high)
}

/// As a signed byte, (nibble | h << 4) - 16 is the nibble itself when h = 1 and nibble - 16 = nibble | 0xF0
/// when h = 0, so the fifth bits act as an or-mask. Entry b: byte j = 0 if bit j of b is set, else 0xF0; one
/// qh byte covers 8 weights. (A 2 KiB table: cheaper than building the mask, and needs no per-lane variable
/// shift, which SSE2 lacks.)
private let minus16Masks: UnsafePointer<UInt64> = {
    let table = UnsafeMutablePointer<UInt64>.allocate(capacity: 256)
    for b in 0..<256 {
        var mask: UInt64 = 0
        for j in 0..<8 where b >> j & 1 == 0 { mask |= 0xF0 << (8 * j) }
        table[b] = mask.littleEndian
    }
    return UnsafePointer(table)
}()
