/// Why a run of GGML blocks could not be dequantized.
public enum DequantizeError: Error, CustomStringConvertible {
    case unsupportedType(GGMLType)
    case countNotWholeBlocks(type: GGMLType, count: Int)

    public var description: String {
        switch self {
        case .unsupportedType(let type):
            let supported = GGMLType.allCases.filter(\.isDequantizable).map(\.name).joined(separator: ", ")
            return "tensors of type \(type.name) cannot be dequantized (supported: \(supported)); "
                + "convert the model to one of these types, e.g. with llama-quantize"
        case .countNotWholeBlocks(let type, let count):
            return "\(count) elements of \(type.name) are not a whole number of \(type.blockSize)-element blocks; "
                + "pass a row length that is a multiple of \(type.blockSize)"
        }
    }
}

/// Dequantizes `count` consecutive elements (a whole number of blocks) starting at `source`.
///
/// `source` needs no alignment (GGUF aligns tensors to 32 bytes only, and a row may start mid-tensor) and must
/// hold `type.rowBytes(count:)` bytes; `destination` must have room for `count` floats. Results are bit-identical
/// to ggml's scalar `dequantize_row_*` (ggml-quants.c), which each kernel reproduces operation for operation.
/// (For these formats every product is exact in binary32 — an f16 scale has 11 significant bits, a sub-block
/// scale and a quant (or IQ4 level) together at most 12 — so the only rounding is the final `+ m` / `- m1`, and
/// a fused multiply-add would give the same bits.)
public func dequantizeRow(type: GGMLType, source: UnsafeRawPointer, count: Int,
                          into destination: UnsafeMutablePointer<Float>) throws {
    guard type.isDequantizable else { throw DequantizeError.unsupportedType(type) }
    guard count >= 0, count % type.blockSize == 0 else {
        throw DequantizeError.countNotWholeBlocks(type: type, count: count)
    }
    let blocks = count / type.blockSize
    switch type {
    case .f32: F32.dequantize(blockCount: blocks, source: source, into: destination)
    case .f16: F16.dequantize(blockCount: blocks, source: source, into: destination)
    case .bf16: BF16.dequantize(blockCount: blocks, source: source, into: destination)
    case .q8_0: Q8_0.dequantize(blockCount: blocks, source: source, into: destination)
    case .q4_0: Q4_0.dequantize(blockCount: blocks, source: source, into: destination)
    case .q4_1: Q4_1.dequantize(blockCount: blocks, source: source, into: destination)
    case .q5_0: Q5_0.dequantize(blockCount: blocks, source: source, into: destination)
    case .q5_1: Q5_1.dequantize(blockCount: blocks, source: source, into: destination)
    case .q4_K: Q4_K.dequantize(blockCount: blocks, source: source, into: destination)
    case .q5_K: Q5_K.dequantize(blockCount: blocks, source: source, into: destination)
    case .q6_K: Q6_K.dequantize(blockCount: blocks, source: source, into: destination)
    case .q2_K: Q2_K.dequantize(blockCount: blocks, source: source, into: destination)
    case .q3_K: Q3_K.dequantize(blockCount: blocks, source: source, into: destination)
    case .iq4_nl: IQ4_NL.dequantize(blockCount: blocks, source: source, into: destination)
    case .iq4_xs: IQ4_XS.dequantize(blockCount: blocks, source: source, into: destination)
    default: throw DequantizeError.unsupportedType(type)  // kept in step with `isDequantizable` by a test
    }
}
