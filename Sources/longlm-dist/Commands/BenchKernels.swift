import ArgumentParser
import CLongLMKernels
import Dispatch
import Foundation
import LongLMCore

/// Matrix-vector speed per weight type, precision and kernel variant on random blocks, against this node's
/// measured read bandwidth (a decode step reads every weight once, so bandwidth is its ceiling). With
/// `--vectors N` (N > 1): the int8 GEMM of prefill on N vectors, against the node's measured int8 multiply-add
/// peak and sgemm on the same shape in f32 (the ceiling of a prefill that multiplies dequantized weights).
struct BenchKernels: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-kernels",
        abstract: "Measure the matrix-vector kernels (decode) per weight type, precision and variant against this node's read bandwidth.")

    @Option(help: "Worker threads.") var threads = 1
    @Option(help: "Matrix rows (output features).") var rows = 8192
    @Option(help: "Matrix columns (input features; a multiple of 32; types with 256-weight blocks need a multiple of 256).") var cols = 4096
    @Option(help: ArgumentHelp("Weight types, comma separated (default: every type with an int8 kernel).", valueName: "t,t,..."))
    var types: String?
    @Option(help: "Activation vectors per product: 1 measures the decode kernels; more measures the int8 GEMM of prefill.")
    var vectors = 1
    @Option(help: "Best of this many timed runs per cell.") var repeats = 5
    @Flag(help: "Print one JSON object per cell.") var json = false

    func validate() throws {
        try OptionRange.check(threads, 1...OptionRange.maximumThreads, "--threads")
        try OptionRange.check(rows, 1...1_000_000, "--rows")
        try OptionRange.check(cols, 32...1_000_000, "--cols")
        if cols % 32 != 0 { throw ValidationError("--cols must be a multiple of 32 (got \(cols))") }
        try OptionRange.check(repeats, 1...1000, "--repeats")
        try OptionRange.check(vectors, 1...65_536, "--vectors")
        _ = try selectedTypes()
    }

    func selectedTypes() throws -> [GGMLType] {
        guard let list = types else { return QuantizedMatrix.int8Types }
        return try list.split(separator: ",").map { name in
            guard let type = GGMLType.allCases.first(where: { $0.name.lowercased() == name.lowercased() }),
                  QuantizedMatrix.hasKernel(type) else {
                throw ValidationError("--types: unknown or unsupported weight type '\(name)' (supported: "
                    + QuantizedMatrix.supportedTypes.map(\.name).joined(separator: ", ") + ")")
            }
            return type
        }
    }

    func run() throws {
        guard isRankZeroOrAlone() else { return }
        ModelOptions.applyThreads(threads)
        if vectors > 1 { try runGEMM(); return }
        let bandwidth = measureReadBandwidth()
        if !json {
            print("cpu: \(CPUFeatures.current.summary)")
            print("kernel variants this node runs: \(KernelVariant.supportedHere.map(\.rawValue).joined(separator: ", "))")
            print(String(format: "read bandwidth on %d threads: %.1f GB/s (512 MiB buffer)", threads, bandwidth))
            print("matrix [\(rows), \(cols)], one vector, best of \(repeats)")
            print("type    precision variant    MB     us/call  GB/s  of-bandwidth  GOP/s")
        }
        for type in try selectedTypes() {
            guard type.rowBytes(count: cols) != nil else {
                if !json { print("\(type.name): skipped (a row of \(cols) is not whole \(type.blockSize)-weight blocks)") }
                continue
            }
            let blocks = try RandomBlocks(type: type, rows: rows, cols: cols, seed: 7)
            let matrix = blocks.matrix
            let megabytes = Double(rows * matrix.rowBytes) / 1e6
            var x = [Float](repeating: 0, count: cols)
            var rng = SplitMix64(seed: 3)
            for i in 0..<cols { x[i] = Float(Int(rng.next() % 2001) - 1000) / 1000 }
            var y = [Float](repeating: 0, count: rows)
            for precision in Precision.allCases {
                if precision == .fast && matrix.int8ActivationBlock == nil { continue }
                for variant in KernelVariant.supportedHere {
                    let seconds = best(of: repeats) {
                        x.withUnsafeBufferPointer { x in
                            y.withUnsafeMutableBufferPointer { y in
                                if precision == .fast {
                                    matrix.multiplyInt8(x.baseAddress!, count: 1, into: y.baseAddress!, variant: variant)
                                } else {
                                    matrix.multiplyExact(x.baseAddress!, count: 1, into: y.baseAddress!, variant: variant)
                                }
                            }
                        }
                    }
                    let gigabytesPerSecond = megabytes / 1e3 / seconds
                    let gops = 2 * Double(rows) * Double(cols) / seconds / 1e9
                    if json {
                        let object: [String: Any] = [
                            "type": type.name, "precision": precision.rawValue, "variant": variant.rawValue,
                            "rows": rows, "cols": cols, "threads": threads, "seconds_per_call": seconds,
                            "weights_gb_per_second": gigabytesPerSecond, "read_bandwidth_gb_per_second": bandwidth,
                            "gops": gops, "cpu_features": CPUFeatures.current.summary,
                        ]
                        print(String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self))
                    } else {
                        print(String(format: "%-7@ %-9@ %-8@ %6.1f %10.1f %5.1f %12.0f%% %6.1f", type.name as NSString,
                                     precision.rawValue as NSString, variant.rawValue as NSString, megabytes,
                                     seconds * 1e6, gigabytesPerSecond, 100 * gigabytesPerSecond / bandwidth, gops))
                    }
                }
            }
        }
    }

    /// The int8 GEMM on `vectors` vectors per type and variant with a tiled GEMM, against the int8 peak probe and
    /// f32 sgemm of the same shape, all on `threads` threads.
    func runGEMM() throws {
        let peak = measureInt8Peak()
        let sgemm = measureSgemm()
        if !json {
            print("cpu: \(CPUFeatures.current.summary)")
            print(String(format: "int8 multiply-add peak on %d threads (vpdpbusd on registers): %@", threads,
                         peak.map { String(format: "%.0f GOP/s", $0) } ?? "no probe for this node's variants"))
            print(String(format: "sgemm f32 [%d x %d] x [%d x %d]^T on %d threads: %.0f GFLOP/s (%@)", vectors, cols, rows, cols,
                         threads, sgemm, ("OpenBLAS core " + BLAS.coreName) as NSString))
            print("matrix [\(rows), \(cols)] times \(vectors) vectors, best of \(repeats)")
            print("type    variant     ms/call   GOP/s  of-int8-peak  vs-sgemm")
        }
        var rng = SplitMix64(seed: 3)
        let x = (0..<(vectors * cols)).map { _ in Float(Int(rng.next() % 2001) - 1000) / 1000 }
        var y = [Float](repeating: 0, count: vectors * rows)
        for type in try selectedTypes() where QuantizedMatrix.int8Types.contains(type) {
            guard type.rowBytes(count: cols) != nil else {
                if !json { print("\(type.name): skipped (a row of \(cols) is not whole \(type.blockSize)-weight blocks)") }
                continue
            }
            let matrix = try RandomBlocks(type: type, rows: rows, cols: cols, seed: 7).matrix
            for variant in KernelVariant.supportedHere where QuantizedMatrix.hasTiledInt8(variant) {
                let seconds = best(of: repeats) {
                    x.withUnsafeBufferPointer { x in
                        y.withUnsafeMutableBufferPointer { y in
                            _ = matrix.multiplyInt8GEMM(x.baseAddress!, count: vectors, into: y.baseAddress!, variant: variant)
                        }
                    }
                }
                let gops = 2 * Double(rows) * Double(cols) * Double(vectors) / seconds / 1e9
                if json {
                    var object: [String: Any] = [
                        "type": type.name, "variant": variant.rawValue, "rows": rows, "cols": cols, "vectors": vectors,
                        "threads": threads, "seconds_per_call": seconds, "gops": gops, "sgemm_gflops": sgemm,
                        "cpu_features": CPUFeatures.current.summary,
                    ]
                    if let peak { object["int8_peak_gops"] = peak }
                    print(String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self))
                } else {
                    print(String(format: "%-7@ %-10@ %8.2f %7.1f %12@ %9.2fx", type.name as NSString, variant.rawValue as NSString,
                                 seconds * 1e3, gops, (peak.map { String(format: "%.0f%%", 100 * gops / $0) } ?? "-") as NSString,
                                 gops / sgemm))
                }
            }
        }
    }

    /// GOP/s (2 per multiply-add) of the int8 peak probe on every thread at once, or nil without a probe.
    private func measureInt8Peak() -> Double? {
        guard let variant = KernelVariant.supportedHere.first(where: { $0.int8PeakProbe(iterations: 1) != nil }) else { return nil }
        let iterations = 20_000_000
        let seconds = best(of: 3) {
            Parallel.forEach(threads) { _ in _ = variant.int8PeakProbe(iterations: iterations) }
        }
        let multiplyAdds = Double(variant.int8PeakProbe(iterations: iterations) ?? 0) * Double(threads)
        return 2 * multiplyAdds / seconds / 1e9
    }

    /// GFLOP/s of f32 sgemm on [vectors, cols] x [rows, cols]^T, output features split across the threads.
    private func measureSgemm() -> Double {
        var rng = SplitMix64(seed: 5)
        let a = (0..<(vectors * cols)).map { _ in Float(Int(rng.next() % 2001) - 1000) / 1000 }
        let b = (0..<(rows * cols)).map { _ in Float(Int(rng.next() % 2001) - 1000) / 1000 }
        var c = [Float](repeating: 0, count: vectors * rows)
        let (m, n, k) = (vectors, rows, cols)
        let seconds = best(of: repeats) {
            a.withUnsafeBufferPointer { a in
                b.withUnsafeBufferPointer { b in
                    c.withUnsafeMutableBufferPointer { c in
                        let (pa, pb, pc) = (a.baseAddress!, b.baseAddress!, c.baseAddress!)
                        Parallel.forRanges((n + 63) / 64) { blocks in
                            let n0 = blocks.lowerBound * 64, n1 = min(n, blocks.upperBound * 64)
                            BLAS.matmulTransposedB(m: m, n: n1 - n0, k: k, a: pa, lda: k, b: pb + n0 * k, ldb: k, c: pc + n0, ldc: n)
                        }
                    }
                }
            }
        }
        return 2 * Double(m) * Double(n) * Double(k) / seconds / 1e9
    }

    /// The best time of `count` runs, each repeating `body` for at least 0.2 s.
    private func best(of count: Int, _ body: () -> Void) -> Double {
        body()
        var bestTime = Double.infinity
        for _ in 0..<count {
            var calls = 0
            let start = DispatchTime.now().uptimeNanoseconds
            var elapsed = 0.0
            repeat {
                body()
                calls += 1
                elapsed = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            } while elapsed < 0.2
            bestTime = min(bestTime, elapsed / Double(calls))
        }
        return bestTime
    }

    /// GB/s reading a 512 MiB buffer once per pass on `threads` threads, best of 5 passes.
    private func measureReadBandwidth() -> Double {
        let bytes = 512 << 20
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64)
        defer { buffer.deallocate() }
        memset(buffer, 1, bytes)
        var sink: UInt64 = 0
        let seconds = best(of: 5) {
            Parallel.forRanges(bytes / 4096) { pages in
                let value = longlm_read_bytes(buffer + pages.lowerBound * 4096, pages.count * 4096)
                if value == 42 { sink &+= 1 }
            }
        }
        if sink == UInt64.max { print("") }
        return Double(bytes) / 1e9 / seconds
    }
}
