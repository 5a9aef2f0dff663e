import ArgumentParser
import Foundation
import LongLMAttention
import LongLMCore
import LongLMEval
import LongLMModels

struct BenchAttention: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-attention",
        abstract: "Time one causal attention layer (random inputs) per method and compare with the sgemm peak measured in the same run.")

    @Option(help: ArgumentHelp("Sequence lengths, comma separated.", valueName: "n,n,...")) var lengths = "8192,32768"
    @Option(help: ArgumentHelp("Methods, comma separated (none, selfextend, dca, gali).", valueName: "m,m,...")) var methods = "none,selfextend,dca"
    @Option(help: "Query heads (default: Gemma 3 270M).") var heads = 4
    @Option(help: "Key/value heads.") var kvHeads = 1
    @Option(help: "Head dimension.") var headDim = 256
    @Option(help: "Trained context the methods are configured for.") var trainedContext = 32768
    @Option(help: "SelfExtend group size.") var groupSize = SelfExtendMethod.defaultGroupSize
    @Option(help: "SelfExtend window (default: trained context / 4).") var window: Int?
    @Option(help: "Worker threads (default: all cores).") var threads: Int?
    @Flag(help: "Print one JSON object per measurement.") var json = false

    var lengthList: [Int] { get throws { try CommaList.parse(lengths, option: "--lengths", in: 1...(1 << 20)) } }
    var methodList: [String] { get throws { try CommaList.parse(methods, option: "--methods") } }

    func validate() throws {
        _ = try lengthList
        try OptionRange.check(heads, 1...1024, "--heads")
        try OptionRange.check(kvHeads, 1...1024, "--kv-heads")
        if heads % kvHeads != 0 { throw ValidationError("--heads (\(heads)) must be a multiple of --kv-heads (\(kvHeads))") }
        try OptionRange.check(headDim, 4...1024, "--head-dim")
        if headDim % 2 != 0 { throw ValidationError("--head-dim must be even (got \(headDim))") }
        try OptionRange.check(trainedContext, 16...(1 << 24), "--trained-context")
        try OptionRange.check(groupSize, 1...(trainedContext - 1), "--group-size")
        try OptionRange.check(window, 1...(trainedContext - 1), "--window")
        try OptionRange.check(threads, 1...OptionRange.maximumThreads, "--threads")
        let known = ["none", "selfextend", "dca", "gali"]
        if let unknown = try methodList.first(where: { !known.contains($0) }) {
            throw ValidationError("--methods: unknown method '\(unknown.prefix(40))' (known: \(known.joined(separator: ", ")))")
        }
    }

    func run() throws {
        ModelOptions.applyThreads(threads)   // our workers split the tiles; OpenBLAS runs one thread per call
        let peak = BLAS.measureSgemmGFLOPS(size: 2048, threads: Parallel.threads)
        if !json { print(String(format: "sgemm peak (2048^3, %d threads): %.1f GFLOP/s", Parallel.threads, peak)) }
        let table = RotaryTable(dimensions: headDim, pairing: .halves,
                                inverseFrequencies: RotaryTable.standardFrequencies(base: 1e6, dimensions: headDim))
        let shape = AttentionShape(heads: heads, kvHeads: kvHeads, headDim: headDim)
        for n in try lengthList {
            var random = SplitMix64(seed: 3)
            func randoms(_ count: Int) -> [Float] { (0..<count).map { _ in Float(random.next() >> 40) / Float(1 << 24) - 0.5 } }
            let q = randoms(n * heads * headDim), k = randoms(n * kvHeads * headDim), v = randoms(n * kvHeads * headDim)
            let positions = (0..<Int32(n)).map { $0 }
            var out = [Float](repeating: 0, count: n * heads * headDim)
            for name in try methodList {
                // The methods' own defaults, for a model with this trained context.
                let w = window ?? SelfExtendMethod.defaultWindow(trainedContext: trainedContext, groupSize: groupSize)
                let scheme: any PositionScheme
                switch name {
                case "none": scheme = RotaryScheme(table: table)
                case "selfextend": scheme = SelfExtend(groupSize: groupSize, window: w, table: table)
                case "dca": scheme = DualChunk(chunkSize: DualChunkMethod.defaultChunkSize(trainedContext: trainedContext),
                                               localWindow: DualChunkMethod.defaultLocalWindow(trainedContext: trainedContext), table: table)
                // GALI positions a prompt longer than its window; scaled so the benchmark length is past it.
                case "gali": scheme = try GALI(trainedContext: max(256, min(trainedContext, n / 2)), localWindow: GALIMethod.defaultLocalWindow,
                                               chunk: GALIChunk(GALIMethod.defaultChunk)!,
                                               promptLength: n, mode: .interpolated, noise: .gaussian, seed: 0, table: table)
                default: throw ValidationError("unknown method '\(name)'")
                }
                let start = Date()
                TiledAttention.attend(queries: q, queryPositions: positions, keys: k, values: v, keyPositions: positions,
                                      shape: shape, scheme: scheme, scale: 1 / Float(headDim).squareRoot(), window: nil, output: &out)
                let seconds = Date().timeIntervalSince(start)
                // Causal attention: QK^T and PV over n^2/2 pairs per head, 2 flops per multiply-add.
                let gflops = 2.0 * 2.0 * Double(heads) * Double(headDim) * Double(n) * Double(n) / 2 / seconds / 1e9
                if json {
                    let object: [String: Any] = ["length": n, "method": name, "seconds": seconds, "gflops": gflops, "sgemm_peak_gflops": peak]
                    print(String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self))
                } else {
                    print(String(format: "n=%6d %-11@ %7.2f s  %6.1f GFLOP/s  %4.0f%% of sgemm peak", n, name, seconds, gflops, 100 * gflops / peak))
                }
            }
        }
    }
}
