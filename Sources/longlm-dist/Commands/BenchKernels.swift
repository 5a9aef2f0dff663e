import ArgumentParser
import CLongLMKernels
import Dispatch
import Foundation
import LongLMCore

/// Matrix-vector speed per weight type, precision and kernel variant on random blocks, against this node's
/// measured read bandwidth (a decode step reads every weight once, so bandwidth is its ceiling).
struct BenchKernels: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-kernels",
        abstract: "Measure the matrix-vector kernels (decode) per weight type, precision and variant against this node's read bandwidth.")

    @Option(help: "Worker threads.") var threads = 1
    @Option(help: "Matrix rows (output features).") var rows = 8192
    @Option(help: "Matrix columns (input features; a multiple of 32; types with 256-weight blocks need a multiple of 256).") var cols = 4096
    @Option(help: ArgumentHelp("Weight types, comma separated (default: every type with an int8 kernel).", valueName: "t,t,..."))
    var types: String?
    @Option(help: "Best of this many timed runs per cell.") var repeats = 5
    @Flag(help: "Print one JSON object per cell.") var json = false

    func validate() throws {
        try OptionRange.check(threads, 1...OptionRange.maximumThreads, "--threads")
        try OptionRange.check(rows, 1...1_000_000, "--rows")
        try OptionRange.check(cols, 32...1_000_000, "--cols")
        if cols % 32 != 0 { throw ValidationError("--cols must be a multiple of 32 (got \(cols))") }
        try OptionRange.check(repeats, 1...1000, "--repeats")
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
