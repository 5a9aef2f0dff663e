import COpenBLAS

/// The only place that calls cblas. Row-major throughout.
public enum BLAS {
    /// C[m x n] = alpha * A[m x k] * B^T + beta * C, where B is stored as [n x k] (a weight matrix whose
    /// rows are output features, as GGUF and safetensors store them).
    @inline(__always)
    public static func matmulTransposedB(m: Int, n: Int, k: Int,
                                         a: UnsafePointer<Float>, lda: Int,
                                         b: UnsafePointer<Float>, ldb: Int,
                                         c: UnsafeMutablePointer<Float>, ldc: Int,
                                         alpha: Float = 1, beta: Float = 0) {
        if m == 0 || n == 0 { return }
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(m), Int32(n), Int32(k),
                    alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }

    /// C[m x n] = alpha * A[m x k] * B[k x n] + beta * C.
    @inline(__always)
    public static func matmul(m: Int, n: Int, k: Int,
                              a: UnsafePointer<Float>, lda: Int,
                              b: UnsafePointer<Float>, ldb: Int,
                              c: UnsafeMutablePointer<Float>, ldc: Int,
                              alpha: Float = 1, beta: Float = 0) {
        if m == 0 || n == 0 { return }
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(m), Int32(n), Int32(k),
                    alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }

    /// Sets OpenBLAS's own thread count (it has its own pool).
    public static func setThreads(_ n: Int) { openblas_set_num_threads(Int32(max(1, n))) }
    public static var threads: Int { Int(openblas_get_num_threads()) }
}
