/// IQ4_XS: 256 weights per 136-byte super-block of eight 32-weight sub-blocks, IQ4_NL's 16 levels with a
/// 6-bit scale per sub-block (ggml-common.h `block_iq4_xs`).
///
///     offset  bytes  field
///          0      2  d         f16 super-scale
///          2      2  scales_h  little-endian u16; bits 2s..2s + 1 = top 2 bits of sub-block s's scale
///          4      4  scales_l  byte s / 2, nibble s % 2 (low first) = low 4 bits of sub-block s's scale
///          8    128  qs        16 bytes per sub-block; byte j: low nibble = index of weight j, high = of j + 16
///
/// weight = (d · (scale - 32)) · levels[index]   (ggml-quants.c `dequantize_row_iq4_xs`: `dl = d * (ls - 32);
/// y = dl * kvalues_iq4nl[q]`). Every product is exact (11 + 6 + 7 significant bits at most).
public enum IQ4_XS {
    @inline(__always) public static var blockSize: Int { 256 }
    @inline(__always) public static var bytesPerBlock: Int { 136 }

    /// d · (scale - 32) of sub-block `s` (0..<8).
    @inline(__always)
    static func subBlockScale(_ block: UnsafeRawPointer, d: Float, _ s: Int) -> Float {
        let high = UInt16(littleEndian: block.loadUnaligned(fromByteOffset: 2, as: UInt16.self)) >> UInt16(2 * s) & 3
        let low = block.load(fromByteOffset: 4 + s / 2, as: UInt8.self) >> UInt8(4 * (s % 2)) & 0x0F
        return d * Float(Int32(UInt16(low) | high << 4) - 32)
    }

    public static func dequantize(blockCount: Int, source: UnsafeRawPointer, into destination: UnsafeMutablePointer<Float>) {
        for b in 0..<blockCount {
            let block = source + b * bytesPerBlock
            let d = loadHalf(block, 0)
            for s in 0..<8 {
                let dl = subBlockScale(block, d: d, s)
                let y = destination + b * blockSize + 32 * s
                for j in 0..<16 {
                    let q = block.load(fromByteOffset: 8 + 16 * s + j, as: UInt8.self)
                    y[j] = dl * Float(IQ4_NL.levels[Int(q & 0x0F)])
                    y[j + 16] = dl * Float(IQ4_NL.levels[Int(q >> 4)])
                }
            }
        }
    }
}
