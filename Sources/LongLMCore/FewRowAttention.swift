import CLongLMKernels

/// The attention's two products for a few query rows (decode: the query heads that share one kv head), in C
/// (CLongLMKernels, the process's kernel variant). They read keys and values where they lie; sgemm would pack
/// each tile first, which for a few rows costs more than the multiplication. Every variant gives the same bits.
public enum FewRowAttention {
    /// The most rows these products take; more go to sgemm.
    public static let maxRows = Int(LONGLM_FEW_ROWS_MAX)

    /// scores[r * count + c] = dot(queries[r], key c) over `headDim` floats; queries are `headDim` apart, keys
    /// `keyStride` apart.
    @inline(__always)
    public static func scores(queries: UnsafePointer<Float>, rows: Int, headDim: Int, keys: UnsafePointer<Float>,
                              keyStride: Int, count: Int, into scores: UnsafeMutablePointer<Float>,
                              variant: KernelVariant = Compute.kernels) {
        let status = longlm_few_row_scores(variant.cVariant, queries, Int32(rows), Int32(headDim), keys, Int64(keyStride),
                                           Int64(count), scores)
        precondition(status == 0, "few-row scores: \(rows) rows with \(variant)")
    }

    /// accumulator[r * headDim + i] += sum over c of probabilities[r * count + c] * value c [i], in key order;
    /// values are `valueStride` apart.
    @inline(__always)
    public static func accumulateValues(probabilities: UnsafePointer<Float>, rows: Int, count: Int,
                                        values: UnsafePointer<Float>, valueStride: Int, headDim: Int,
                                        into accumulator: UnsafeMutablePointer<Float>,
                                        variant: KernelVariant = Compute.kernels) {
        let status = longlm_few_row_values(variant.cVariant, probabilities, Int32(rows), Int64(count), values,
                                           Int64(valueStride), Int32(headDim), accumulator)
        precondition(status == 0, "few-row values: \(rows) rows with \(variant)")
    }

    /// Whether `scoresOfStoredKeys` and `accumulateStoredValues` read this storage type (q8_0 is decoded to f32
    /// first).
    public static func readsStored(_ type: KVType) -> Bool { type == .f32 || type == .f16 || type == .bf16 }

    /// `scores` with the keys stored as `type` (`readsStored(type)`), `keyStride` values apart: each key value is
    /// converted to f32 exactly, so the scores have the bits of decoding the keys first.
    @inline(__always)
    public static func scoresOfStoredKeys(queries: UnsafePointer<Float>, rows: Int, headDim: Int, keys: UnsafeRawPointer,
                                          type: KVType, keyStride: Int, count: Int, into scores: UnsafeMutablePointer<Float>,
                                          variant: KernelVariant = Compute.kernels) {
        let status = longlm_few_row_scores_stored(variant.cVariant, queries, Int32(rows), Int32(headDim), type.cType, keys,
                                                  Int64(keyStride), Int64(count), scores)
        precondition(status == 0, "few-row scores: \(rows) rows of \(type) keys with \(variant)")
    }

    /// `accumulateValues` with the values as the KV cache stores them (`readsStored(type)`), `valueStride` values
    /// apart: each value is converted to f32 exactly, so the result has the bits of decoding them first.
    @inline(__always)
    public static func accumulateStoredValues(probabilities: UnsafePointer<Float>, rows: Int, count: Int,
                                              values: UnsafeRawPointer, type: KVType, valueStride: Int, headDim: Int,
                                              into accumulator: UnsafeMutablePointer<Float>,
                                              variant: KernelVariant = Compute.kernels) {
        let status = longlm_few_row_values_stored(variant.cVariant, probabilities, Int32(rows), Int64(count), type.cType,
                                                  values, Int64(valueStride), Int32(headDim), accumulator)
        precondition(status == 0, "few-row values: \(rows) rows of \(type) with \(variant)")
    }
}
