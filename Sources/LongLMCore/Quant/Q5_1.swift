/// Q5_1: 32 weights per 24-byte block, 5-bit with scale and offset (ggml-common.h `block_q5_1`).
///
///     offset  bytes  field
///          0      2  d      f16 scale
///          2      2  m      f16 offset (the block minimum)
///          4      4  qh     little-endian u32; bit j = fifth (high) bit of weight j
///          8     16  qs     qs[j] low nibble = low bits of weight j, high nibble = of weight j + 16
///
/// weight = (nibble | high bit << 4) · d + m, rounded after the product and after the sum
/// (ggml-quants.c `dequantize_row_q5_1`: `x0*d + m`)
public enum Q5_1 {
    @inline(__always) public static var blockSize: Int { 32 }
    @inline(__always) public static var bytesPerBlock: Int { 24 }

    public static func dequantize(blockCount: Int, source: UnsafeRawPointer, into destination: UnsafeMutablePointer<Float>) {
        for b in 0..<blockCount {
            let block = source + b * bytesPerBlock
            let y = destination + b * blockSize
            let d = loadHalf(block, 0)
            let m = loadHalf(block, 2)
            let qh = UInt32(littleEndian: block.loadUnaligned(fromByteOffset: 4, as: UInt32.self))
            for j in 0..<16 {
                let q = UInt32(block.load(fromByteOffset: 8 + j, as: UInt8.self))
                let x0 = (q & 0x0F) | ((qh >> UInt32(j)) << 4 & 0x10)
                let x1 = (q >> 4) | ((qh >> UInt32(j + 12)) & 0x10)
                y[j] = Float(x0) * d + m
                y[j + 16] = Float(x1) * d + m
            }
        }
    }
}
