/// IQ4_NL: 32 weights per 18-byte block, 4-bit indices into a fixed non-uniform table of 16 levels
/// (ggml-common.h `block_iq4_nl`). The levels are denser near zero, where most weights lie.
///
///     offset  bytes  field
///          0      2  d      f16 scale
///          2     16  qs     qs[j] low nibble = index of weight j, high nibble = of weight j + 16
///
/// weight = d · levels[index]   (ggml-quants.c `dequantize_row_iq4_nl`: `d * kvalues_iq4nl[q]`; exact, 11 + 7
/// significant bits)
public enum IQ4_NL {
    @inline(__always) public static var blockSize: Int { 32 }
    @inline(__always) public static var bytesPerBlock: Int { 18 }

    /// The 16 levels, ggml-common.h `kvalues_iq4nl` (shared with IQ4_XS); a vector, so a kernel can keep the
    /// whole table in one register.
    @inline(__always)
    static var levels: SIMD16<Int8> { SIMD16(-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113) }

    public static func dequantize(blockCount: Int, source: UnsafeRawPointer, into destination: UnsafeMutablePointer<Float>) {
        for b in 0..<blockCount {
            let block = source + b * bytesPerBlock
            let y = destination + b * blockSize
            let d = loadHalf(block, 0)
            for j in 0..<16 {
                let q = block.load(fromByteOffset: 2 + j, as: UInt8.self)
                y[j] = d * Float(levels[Int(q & 0x0F)])
                y[j + 16] = d * Float(levels[Int(q >> 4)])
            }
        }
    }
}
