/// Q2_K: 256 weights per 84-byte super-block of sixteen 16-weight sub-blocks, 2-bit with a 4-bit scale and a
/// 4-bit min per sub-block (ggml-common.h `block_q2_K`).
///
///     offset  bytes  field
///          0     16  scales  byte s: scale of sub-block s in the low nibble, its min in the high nibble
///         16     64  qs      2 halves of 32 bytes; see below
///         80      2  d       f16 super-scale of the sub-block scales
///         82      2  dmin    f16 super-scale of the sub-block mins
///
/// In half h (weights 128h..<128h + 128), byte l of the half's 32 holds four 2-bit quants, bits 2j..2j + 1 for
/// j in 0..<4: weight 128h + 32j + l. So each 32-weight group j is sub-blocks 8h + 2j (l < 16) and 8h + 2j + 1.
///
/// weight = (d · scale) · q - (dmin · min), both products rounded first
/// (ggml-quants.c `dequantize_row_q2_K`: `dl = d * (sc & 0xF); ml = min * (sc >> 4); y = dl * q - ml`).
/// d · scale · q is exact (11 + 4 + 2 significant bits), so the subtraction is the only rounding.
public enum Q2_K {
    @inline(__always) public static var blockSize: Int { 256 }
    @inline(__always) public static var bytesPerBlock: Int { 84 }

    /// Multiplier and offset of sub-block `s`, rounded as ggml rounds them before any weight is touched.
    @inline(__always)
    static func subBlockScales(_ block: UnsafeRawPointer, d: Float, dmin: Float, _ s: Int) -> (dl: Float, ml: Float) {
        let packed = block.load(fromByteOffset: s, as: UInt8.self)
        return (d * Float(packed & 0x0F), dmin * Float(packed >> 4))
    }

    public static func dequantize(blockCount: Int, source: UnsafeRawPointer, into destination: UnsafeMutablePointer<Float>) {
        for b in 0..<blockCount {
            let block = source + b * bytesPerBlock
            let d = loadHalf(block, 80)
            let dmin = loadHalf(block, 82)
            for h in 0..<2 {
                let qs = block + 16 + 32 * h
                for j in 0..<4 {
                    let shift = UInt8(2 * j)
                    for k in 0..<2 {
                        let (dl, ml) = subBlockScales(block, d: d, dmin: dmin, 8 * h + 2 * j + k)
                        let y = destination + b * blockSize + 128 * h + 32 * j + 16 * k
                        for l in 0..<16 {
                            let q = qs.load(fromByteOffset: 16 * k + l, as: UInt8.self) >> shift & 3
                            y[l] = dl * Float(q) - ml
                        }
                    }
                }
            }
        }
    }
}
