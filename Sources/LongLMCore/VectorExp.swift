import CLongLMKernels

/// Softmax pieces on rows of scores, in C (CLongLMKernels, the process's kernel variant): a polynomial exp
/// (exp(x) = 2^n * exp(r), n = round(x / ln 2), r Cody-Waite reduced, exp(r) by its Taylor series to r^7/7!,
/// relative error below 2e-7) and the row maximum. Inputs below -87.3 (masked -inf included) give exactly 0.
/// Every variant returns the same bits: each operation is rounded separately.
public enum VectorExp {
    /// row[c] = exp(row[c] - shift) for c in 0..<count; returns the sum of the results.
    @inline(__always)
    public static func expShiftedInPlace(_ row: UnsafeMutablePointer<Float>, count: Int, shift: Float,
                                         variant: KernelVariant = Compute.kernels) -> Float {
        longlm_exp_shifted_in_place(variant.cVariant, row, Int64(count), shift)
    }

    /// The largest of row[0..<count] (-inf for an empty or all -inf row).
    @inline(__always)
    public static func maximum(_ row: UnsafePointer<Float>, count: Int, variant: KernelVariant = Compute.kernels) -> Float {
        longlm_row_maximum(variant.cVariant, row, Int64(count))
    }
}
