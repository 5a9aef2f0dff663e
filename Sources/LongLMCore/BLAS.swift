import COpenBLAS
import Dispatch

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
        _ = oneThreadPerCall
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
        _ = oneThreadPerCall
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(m), Int32(n), Int32(k),
                    alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }

    /// OpenBLAS runs one thread per call unless asked for more (`setThreads`): every product here is already split
    /// across `Parallel.threads` workers, and OpenBLAS's own threads inside them oversubscribe the cores and
    /// spin-wait. Set on first use, so a library user (or a test process) gets it without the CLI's start-up: a test
    /// process without it spent two thirds of its time in OpenBLAS's thread hand-off (`exec_blas_async`).
    private static let oneThreadPerCall: Void = { openblas_set_num_threads(1) }()

    /// Sets OpenBLAS's own thread count (it has its own pool).
    public static func setThreads(_ n: Int) {
        _ = oneThreadPerCall
        openblas_set_num_threads(Int32(max(1, n)))
    }
    public static var threads: Int {
        _ = oneThreadPerCall
        return Int(openblas_get_num_threads())
    }
}

#if canImport(Glibc)
import Glibc
#endif

/// What BLAS this process runs: the library, its build, the kernel set ("core") it uses, and who chose it.
public struct BLASLibraryReport: Sendable {
    public var name: String          // "OpenBLAS"
    public var version: String       // "0.3.21"
    public var config: String        // openblas_get_config(): build options and the running core
    public var core: String          // openblas_get_corename()
    public var chosenBy: String      // "the library", "OPENBLAS_CORETYPE=...", or longlm-dist's replacement note
    public var threadsPerCall: Int   // OpenBLAS's own threads inside one call

    /// One line for `info`, logs and `--stats`.
    public var line: String {
        "\(name) \(version), core \(core) (\(chosenBy)), \(threadsPerCall) BLAS thread\(threadsPerCall == 1 ? "" : "s") per call; config: \(config)"
    }

    public var jsonObject: [String: Any] {
        ["library": name, "version": version, "config": config, "core": core, "chosen_by": chosenBy,
         "threads_per_call": threadsPerCall]
    }
}

extension BLAS {
    /// The core OpenBLAS runs now.
    public static var coreName: String { String(cString: openblas_get_corename()) }
    /// openblas_get_config(), e.g. "OpenBLAS 0.3.21 NO_LAPACKE DYNAMIC_ARCH NO_AFFINITY Zen MAX_THREADS=64".
    public static var config: String { String(cString: openblas_get_config()) }

    /// Core names this OpenBLAS build carries kernels for. A DYNAMIC_ARCH build exports one parameter table
    /// per core (`gotoblas_HASWELL`, ...); a build without DYNAMIC_ARCH carries one core and ignores
    /// OPENBLAS_CORETYPE, so it reports none.
    public static var availableCores: Set<String> {
        guard config.contains("DYNAMIC_ARCH") else { return [] }
        let names = ["SapphireRapids", "Cooperlake", "SkylakeX", "Haswell", "Zen", "Sandybridge", "Bulldozer",
                     "Piledriver", "Steamroller", "Excavator", "Nehalem", "Core2", "Prescott"]
        guard let handle = dlopen(nil, RTLD_NOW) else { return [] }
        return Set(names.filter { dlsym(handle, "gotoblas_" + $0.uppercased()) != nil })
    }

    /// GFLOP/s of one square sgemm (size^3) on OpenBLAS's own `threads`, best of three: the BLAS peak that
    /// benchmarks quote their kernels against.
    public static func measureSgemmGFLOPS(size n: Int, threads: Int) -> Double {
        let a = FloatBuffer(rows: n, cols: n), b = FloatBuffer(rows: n, cols: n), c = FloatBuffer(rows: n, cols: n)
        for i in 0..<(n * n) { a.pointer[i] = Float(i % 7) * 0.1; b.pointer[i] = Float(i % 5) * 0.1 }
        let previous = BLAS.threads
        setThreads(threads)
        defer { setThreads(previous) }
        var best = 0.0
        for _ in 0..<3 {
            let start = DispatchTime.now().uptimeNanoseconds
            matmul(m: n, n: n, k: n, a: a.pointer, lda: n, b: b.pointer, ldb: n, c: c.pointer, ldc: n)
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            best = max(best, 2.0 * Double(n * n * n) / seconds / 1e9)
        }
        return best
    }

    /// Who chose the running core; set once at start-up by the process that applied the choice.
    nonisolated(unsafe) public static var coreChosenBy = "chosen by the library"

    public static var report: BLASLibraryReport {
        let parts = config.split(separator: " ")
        let version = parts.count > 1 && parts[0] == "OpenBLAS" ? String(parts[1]) : "unknown"
        return BLASLibraryReport(name: "OpenBLAS", version: version, config: config, core: coreName,
                                 chosenBy: coreChosenBy, threadsPerCall: threads)
    }
}
