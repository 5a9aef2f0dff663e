import CLongLMKernels

/// How the KV cache stores keys and values (`--kv-type`). Keys and values are computed in f32, stored in this
/// type, and decoded back to f32 one tile at a time inside the attention kernel; the ring and the sliding-window
/// exchange send the stored bytes. Formats and rounding: docs/kernels.md ("KV cache storage").
public enum KVType: String, CaseIterable, Sendable, CustomStringConvertible {
    /// 4 bytes per value: the reference.
    case f32
    /// IEEE binary16, 2 bytes per value, rounded to nearest even.
    case f16
    /// bfloat16, 2 bytes per value: f32's exponent range, 8 bits of precision.
    case bf16
    /// Blocks of 32 values {f16 scale, 32 int8}: 34 bytes per 32 values.
    case q8_0

    public var description: String { rawValue }

    /// Values per block: a row's slices (one per head) must be whole blocks.
    public var blockSize: Int { self == .q8_0 ? 32 : 1 }

    /// Bytes of `count` values (a multiple of `blockSize`).
    public func bytes(_ count: Int) -> Int { longlm_kv_bytes(cType, Int64(count)) }

    /// How keys after a scheme's rotation are held for a cache storing rows in this type: in the same 16 bits
    /// for f16 and bf16 (half the bytes that decode reads per cached key), f32 otherwise. The attention rounds
    /// every transformed key through this type, whether it keeps them or transforms them per call, so both give
    /// the same bits (docs/kernels.md, "Attention products for a few query rows").
    public var transformedKeyType: KVType { self == .f16 || self == .bf16 ? self : .f32 }

    /// Why rows of heads of `headDim` values cannot be stored in this type, or nil when they can.
    public func unsupportedReason(headDim: Int) -> String? {
        headDim % blockSize == 0 ? nil
            : "--kv-type \(rawValue) stores blocks of \(blockSize) values per head, and this model's head dim is \(headDim)"
    }

    /// Stores `count` floats (a multiple of `blockSize`) at `out`.
    public func encode(_ x: UnsafePointer<Float>, count: Int, into out: UnsafeMutableRawPointer,
                       variant: KernelVariant = Compute.kernels) {
        longlm_kv_encode(variant.cVariant, cType, x, Int64(count), out)
    }

    /// Reads `count` stored values (a multiple of `blockSize`) back as floats.
    public func decode(_ stored: UnsafeRawPointer, count: Int, into out: UnsafeMutablePointer<Float>,
                       variant: KernelVariant = Compute.kernels) {
        longlm_kv_decode(variant.cVariant, cType, stored, Int64(count), out)
    }

    var cType: longlm_kv_type {
        switch self {
        case .f32: return LONGLM_KV_F32
        case .f16: return LONGLM_KV_F16
        case .bf16: return LONGLM_KV_BF16
        case .q8_0: return LONGLM_KV_Q8_0
        }
    }
}
