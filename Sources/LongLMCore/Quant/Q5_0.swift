/// Q5_0: 32 weights per 22-byte block, symmetric 5-bit (ggml-common.h `block_q5_0`).
///
///     offset  bytes  field
///          0      2  d      f16 scale
///          2      4  qh     little-endian u32; bit j = fifth (high) bit of weight j
///          6     16  qs     qs[j] low nibble = low bits of weight j, high nibble = of weight j + 16
///
/// weight = ((nibble | high bit << 4) - 16) · d   (ggml-quants.c `dequantize_row_q5_0`: `x0*d`)
public enum Q5_0 {
    @inline(__always) public static var blockSize: Int { 32 }
    @inline(__always) public static var bytesPerBlock: Int { 22 }

    public static func dequantize(blockCount: Int, source: UnsafeRawPointer, into destination: UnsafeMutablePointer<Float>) {
        for b in 0..<blockCount {
            let block = source + b * bytesPerBlock
            let y = destination + b * blockSize
            let d = loadHalf(block, 0)
            let qh = UInt32(littleEndian: block.loadUnaligned(fromByteOffset: 2, as: UInt32.self))
            for j in 0..<16 {
                let q = UInt32(block.load(fromByteOffset: 6 + j, as: UInt8.self))
                let x0 = Int32(bitPattern: (q & 0x0F) | ((qh >> UInt32(j)) << 4 & 0x10)) - 16
                let x1 = Int32(bitPattern: (q >> 4) | ((qh >> UInt32(j + 12)) & 0x10)) - 16
                y[j] = Float(x0) * d
                y[j + 16] = Float(x1) * d
            }
        }
    }
}
