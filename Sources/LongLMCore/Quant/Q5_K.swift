/// Q5_K: 256 weights per 176-byte super-block of eight 32-weight sub-blocks, 5-bit with a 6-bit scale and a
/// 6-bit min per sub-block (ggml-common.h `block_q5_K`). Q4_K plus one high bit per weight.
///
///     offset  bytes  field
///          0      2  d       f16 super-scale of the sub-block scales
///          2      2  dmin    f16 super-scale of the sub-block mins
///          4     12  scales  packed as in Q4_K (`Q4_K.scaleAndMin`)
///         16     32  qh      byte l, bit s = high bit of weight l of sub-block s
///         48    128  qs      low 4 bits, laid out as Q4_K's qs
///
/// weight = (d · scale) · (nibble + 16 · high bit) - (dmin · min), both products rounded first
/// (ggml-quants.c `dequantize_row_q5_K`)
public enum Q5_K {
    @inline(__always) public static var blockSize: Int { 256 }
    @inline(__always) public static var bytesPerBlock: Int { 176 }

    public static func dequantize(blockCount: Int, source: UnsafeRawPointer, into destination: UnsafeMutablePointer<Float>) {
        for b in 0..<blockCount {
            let block = source + b * bytesPerBlock
            let d = loadHalf(block, 0)
            let dmin = loadHalf(block, 2)
            let scales = block + 4
            let qh = block + 16
            for c in 0..<4 {
                let qs = block + 48 + 32 * c
                let y = destination + b * blockSize + 64 * c
                let (d1, min1, d2, min2) = Q4_K.chunkScales(scales, d: d, dmin: dmin, chunk: c)
                let shift = UInt8(2 * c)
                for l in 0..<32 {
                    let q = qs.load(fromByteOffset: l, as: UInt8.self)
                    let h = qh.load(fromByteOffset: l, as: UInt8.self) >> shift
                    y[l] = d1 * Float((q & 0x0F) | (h & 1) << 4) - min1
                    y[l + 32] = d2 * Float((q >> 4) | (h & 2) << 3) - min2
                }
            }
        }
    }
}
