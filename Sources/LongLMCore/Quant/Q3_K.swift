/// Q3_K: 256 weights per 110-byte super-block of sixteen 16-weight sub-blocks, symmetric 3-bit with a 6-bit
/// scale per sub-block (ggml-common.h `block_q3_K`).
///
///     offset  bytes  field
///          0     32  hmask   byte l, bit m = high bit of weight 32m + l
///         32     64  qs      low 2 bits, laid out as Q2_K's qs (2 halves, four 2-bit fields per byte)
///         96     12  scales  sixteen 6-bit scales, packed (see `scale`)
///        108      2  d       f16 super-scale
///
/// Weight 128h + 32j + l (h in 0..<2, j in 0..<4, l in 0..<32) has low bits `qs[32h + l] >> 2j & 3`, high bit
/// `hmask[l] >> (4h + j) & 1`, and sub-block 8h + 2j + l / 16. The 3-bit value is low - 4 when the high bit is
/// clear and low when it is set, so it lies in -4...3.
///
/// weight = (d · (scale - 32)) · q   (ggml-quants.c `dequantize_row_q3_K`: `dl = d_all * (scales[is] - 32);
/// y = dl * q`). Every product is exact (11 + 6 + 3 significant bits at most).
public enum Q3_K {
    @inline(__always) public static var blockSize: Int { 256 }
    @inline(__always) public static var bytesPerBlock: Int { 110 }

    /// Scale of sub-block `s` (0..<16), minus 32, from the 12 packed bytes b: its low 4 bits are the low nibble
    /// of b[s] for s < 8 and the high nibble of b[s - 8] after; its top 2 bits are bits 2(s / 4)...2(s / 4) + 1
    /// of b[8 + s % 4].
    @inline(__always)
    static func scale(_ scales: UnsafeRawPointer, _ s: Int) -> Int32 {
        @inline(__always) func byte(_ i: Int) -> UInt8 { scales.load(fromByteOffset: i, as: UInt8.self) }
        let low = s < 8 ? byte(s) & 0x0F : byte(s - 8) >> 4
        let high = byte(8 + s % 4) >> UInt8(2 * (s / 4)) & 3
        return Int32(low | high << 4) - 32
    }

    public static func dequantize(blockCount: Int, source: UnsafeRawPointer, into destination: UnsafeMutablePointer<Float>) {
        for b in 0..<blockCount {
            let block = source + b * bytesPerBlock
            let d = loadHalf(block, 108)
            for h in 0..<2 {
                for j in 0..<4 {
                    let shift = UInt8(2 * j), bit = UInt8(4 * h + j)
                    for k in 0..<2 {
                        let dl = d * Float(scale(block + 96, 8 * h + 2 * j + k))
                        let y = destination + b * blockSize + 128 * h + 32 * j + 16 * k
                        for l in 0..<16 {
                            let low = Int32(block.load(fromByteOffset: 32 + 32 * h + 16 * k + l, as: UInt8.self) >> shift & 3)
                            let high = block.load(fromByteOffset: 16 * k + l, as: UInt8.self) >> bit & 1
                            y[l] = dl * Float(high == 1 ? low : low - 4)
                        }
                    }
                }
            }
        }
    }
}
