/// Q4_0: 32 weights per 18-byte block, symmetric 4-bit (ggml-common.h `block_q4_0`).
///
///     offset  bytes  field
///          0      2  d      f16 scale
///          2     16  qs     qs[j] low nibble = weight j, high nibble = weight j + 16
///
/// weight = (nibble - 8) · d   (ggml-quants.c `dequantize_row_q4_0`: `x0*d`)
public enum Q4_0 {
    @inline(__always) public static var blockSize: Int { 32 }
    @inline(__always) public static var bytesPerBlock: Int { 18 }

    public static func dequantize(blockCount: Int, source: UnsafeRawPointer, into destination: UnsafeMutablePointer<Float>) {
        for b in 0..<blockCount {
            let block = source + b * bytesPerBlock
            let y = destination + b * blockSize
            let d = loadHalf(block, 0)
            for j in 0..<16 {
                let q = Int32(block.load(fromByteOffset: 2 + j, as: UInt8.self))
                y[j] = Float((q & 0x0F) - 8) * d
                y[j + 16] = Float((q >> 4) - 8) * d
            }
        }
    }
}
