/// Q8_0: 32 weights per 34-byte block, symmetric 8-bit (ggml-common.h `block_q8_0`).
///
///     offset  bytes  field
///          0      2  d      f16 scale
///          2     32  qs     int8 weights, in order
///
/// weight[j] = qs[j] · d   (ggml-quants.c `dequantize_row_q8_0`: `x[i].qs[j]*d`)
public enum Q8_0 {
    @inline(__always) public static var blockSize: Int { 32 }
    @inline(__always) public static var bytesPerBlock: Int { 34 }

    public static func dequantize(blockCount: Int, source: UnsafeRawPointer, into destination: UnsafeMutablePointer<Float>) {
        for b in 0..<blockCount {
            let block = source + b * bytesPerBlock
            let y = destination + b * blockSize
            let d = loadHalf(block, 0)
            for j in 0..<32 {
                y[j] = Float(block.load(fromByteOffset: 2 + j, as: Int8.self)) * d
            }
        }
    }
}
