/// Q4_K: 256 weights per 144-byte super-block of eight 32-weight sub-blocks, 4-bit with a 6-bit scale and a
/// 6-bit min per sub-block (ggml-common.h `block_q4_K`).
///
///     offset  bytes  field
///          0      2  d       f16 super-scale of the sub-block scales
///          2      2  dmin    f16 super-scale of the sub-block mins
///          4     12  scales  eight 6-bit scales and eight 6-bit mins, packed (see `scaleAndMin`)
///         16    128  qs      4 chunks of 32 bytes; chunk c holds sub-block 2c in the low nibbles and
///                            sub-block 2c + 1 in the high nibbles, weight l of each at byte l
///
/// weight = (d · scale) · q - (dmin · min), with both products rounded first
/// (ggml-quants.c `dequantize_row_q4_K`: `d1 = d * sc; m1 = min * m; y = d1 * q - m1`)
public enum Q4_K {
    @inline(__always) public static var blockSize: Int { 256 }
    @inline(__always) public static var bytesPerBlock: Int { 144 }

    /// Scale and min of sub-block `j` (0..<8) from the 12 packed bytes (ggml's `get_scale_min_k4`):
    /// sub-blocks 0–3 use the low 6 bits of bytes j (scale) and j + 4 (min); sub-blocks 4–7 take their low
    /// 4 bits from the nibbles of byte j + 4 and their top 2 bits from the spare high bits of bytes j - 4
    /// (scale) and j (min).
    @inline(__always)
    static func scaleAndMin(_ scales: UnsafeRawPointer, _ j: Int) -> (scale: Float, min: Float) {
        @inline(__always) func byte(_ i: Int) -> UInt8 { scales.load(fromByteOffset: i, as: UInt8.self) }
        if j < 4 {
            return (Float(byte(j) & 63), Float(byte(j + 4) & 63))
        }
        let scale = (byte(j + 4) & 0x0F) | (byte(j - 4) >> 6) << 4
        let min = (byte(j + 4) >> 4) | (byte(j) >> 6) << 4
        return (Float(scale), Float(min))
    }

    /// Multipliers and offsets of the two sub-blocks in 64-weight chunk `c`, rounded as ggml rounds them
    /// (`d1 = d * sc; m1 = min * m`) before any weight is touched.
    @inline(__always)
    static func chunkScales(_ scales: UnsafeRawPointer, d: Float, dmin: Float, chunk c: Int)
        -> (d1: Float, m1: Float, d2: Float, m2: Float) {
        let (sc1, min1) = scaleAndMin(scales, 2 * c)
        let (sc2, min2) = scaleAndMin(scales, 2 * c + 1)
        return (d * sc1, dmin * min1, d * sc2, dmin * min2)
    }

    public static func dequantize(blockCount: Int, source: UnsafeRawPointer, into destination: UnsafeMutablePointer<Float>) {
        for b in 0..<blockCount {
            let block = source + b * bytesPerBlock
            let d = loadHalf(block, 0)
            let dmin = loadHalf(block, 2)
            let scales = block + 4
            for c in 0..<4 {
                let qs = block + 16 + 32 * c
                let y = destination + b * blockSize + 64 * c
                let (d1, min1, d2, min2) = chunkScales(scales, d: d, dmin: dmin, chunk: c)
                for l in 0..<32 {
                    let q = qs.load(fromByteOffset: l, as: UInt8.self)
                    y[l] = d1 * Float(q & 0x0F) - min1
                    y[l + 32] = d2 * Float(q >> 4) - min2
                }
            }
        }
    }
}
