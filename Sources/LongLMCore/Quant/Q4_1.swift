/// Q4_1: 32 weights per 20-byte block, 4-bit with scale and offset (ggml-common.h `block_q4_1`).
///
///     offset  bytes  field
///          0      2  d      f16 scale
///          2      2  m      f16 offset (the block minimum)
///          4     16  qs     qs[j] low nibble = weight j, high nibble = weight j + 16
///
/// weight = nibble · d + m, rounded after the product and after the sum
/// (ggml-quants.c `dequantize_row_q4_1`: `x0*d + m`)
public enum Q4_1 {
    @inline(__always) public static var blockSize: Int { 32 }
    @inline(__always) public static var bytesPerBlock: Int { 20 }

    public static func dequantize(blockCount: Int, source: UnsafeRawPointer, into destination: UnsafeMutablePointer<Float>) {
        for b in 0..<blockCount {
            let block = source + b * bytesPerBlock
            let y = destination + b * blockSize
            let d = loadHalf(block, 0)
            let m = loadHalf(block, 2)
            for j in 0..<16 {
                let q = block.load(fromByteOffset: 4 + j, as: UInt8.self)
                y[j] = Float(q & 0x0F) * d + m
                y[j + 16] = Float(q >> 4) * d + m
            }
        }
    }
}
