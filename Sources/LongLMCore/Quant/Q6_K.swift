/// Q6_K: 256 weights per 210-byte super-block of sixteen 16-weight sub-blocks, symmetric 6-bit with an int8
/// scale per sub-block (ggml-common.h `block_q6_K`).
///
///     offset  bytes  field
///          0    128  ql      low 4 bits: 2 halves of 64 bytes
///        128     64  qh      high 2 bits: 2 halves of 32 bytes
///        192     16  scales  int8 scale per 16 weights
///        208      2  d       f16 super-scale
///
/// In half h (weights 128h..<128h + 128), for l in 0..<32, with L = ql[64h...], H = qh[32h...]:
///     weight l      = L[l]      low nibble | (H[l] >> 0 & 3) << 4
///     weight l + 32 = L[l + 32] low nibble | (H[l] >> 2 & 3) << 4
///     weight l + 64 = L[l]      high nibble | (H[l] >> 4 & 3) << 4
///     weight l + 96 = L[l + 32] high nibble | (H[l] >> 6 & 3) << 4
/// each minus 32, and weight = (d · scale) · q with the product d · scale rounded first
/// (ggml-quants.c `dequantize_row_q6_K`: `d * sc[is] * q1`, evaluated left to right).
public enum Q6_K {
    @inline(__always) public static var blockSize: Int { 256 }
    @inline(__always) public static var bytesPerBlock: Int { 210 }

    public static func dequantize(blockCount: Int, source: UnsafeRawPointer, into destination: UnsafeMutablePointer<Float>) {
        for b in 0..<blockCount {
            let block = source + b * bytesPerBlock
            let d = loadHalf(block, 208)
            for half in 0..<2 {
                let ql = block + 64 * half
                let qh = block + 128 + 32 * half
                let sc = block + 192 + 8 * half
                let y = destination + b * blockSize + 128 * half
                // Weights l..<l+16 of each quarter share one scale; ggml indexes it as sc[l/16 + 2k].
                for g in 0..<2 {
                    @inline(__always) func scale(_ k: Int) -> Float {
                        d * Float(sc.load(fromByteOffset: g + 2 * k, as: Int8.self))
                    }
                    let s0 = scale(0), s1 = scale(1), s2 = scale(2), s3 = scale(3)
                    for l in (16 * g)..<(16 * g + 16) {
                        let lo = ql.load(fromByteOffset: l, as: UInt8.self)
                        let hi = ql.load(fromByteOffset: l + 32, as: UInt8.self)
                        let h = qh.load(fromByteOffset: l, as: UInt8.self)
                        y[l] = s0 * Float(Int32((lo & 0x0F) | (h & 0x03) << 4) - 32)
                        y[l + 32] = s1 * Float(Int32((hi & 0x0F) | (h >> 2 & 0x03) << 4) - 32)
                        y[l + 64] = s2 * Float(Int32((lo >> 4) | (h >> 4 & 0x03) << 4) - 32)
                        y[l + 96] = s3 * Float(Int32((hi >> 4) | (h >> 6) << 4) - 32)
                    }
                }
            }
        }
    }
}
