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
    @Option(help: ArgumentHelp("Tile arithmetic, comma separated: f32 (sgemm), bf16 (vdpbf16ps; needs AVX-512 BF16).", valueName: "t,t")) var tiles = "f32,bf16"

    @Flag(help: "Print one JSON object per measurement.") var json = false

    var lengthList: [Int] { get throws { try CommaList.parse(lengths, option: "--lengths", in: 1...(1 << 20)) } }
    var methodList: [String] { get throws { try CommaList.parse(methods, option: "--methods") } }
    var tileList: [AttentionTiles] {
        get throws {
            try (CommaList.parse(tiles, option: "--tiles") as [String]).map { (name: String) -> AttentionTiles in
                switch name {
                case "f32": return .f32
                case "bf16":
                    guard BF16Variant.avx512bf16.isSupported(by: .current) else {
                        throw ValidationError("--tiles bf16: this CPU has no AVX-512 BF16")
                    }
                    return .bf16(.avx512bf16)
                default: throw ValidationError("--tiles: unknown '\(name.prefix(20))' (known: f32, bf16)")
                }
            }
        }
    }

    func validate() throws {
        _ = try lengthList
        _ = try tileList
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
        let bf16Peak = try tileList.contains(.bf16(.avx512bf16)) ? BF16TileBench.peakGFLOPS(threads: Parallel.threads) : nil
        if let bf16Peak, !json {
            print(String(format: "bf16 peak (vdpbf16ps on registers, %d threads): %.1f GFLOP/s", Parallel.threads, bf16Peak))
            for (rows, keys) in [(128, 256), (96, 256)] {
                let (scores, values) = BF16TileBench.tileGFLOPS(rows: rows, keys: keys, headDim: headDim)
                let onePeak = BF16TileBench.peakGFLOPS(threads: 1)
                print(String(format: "bf16 tiles alone, 1 thread, %d rows x %d keys x %d dims: scores %.1f GFLOP/s (%.0f%% of the 1-thread peak %.1f), values %.1f (%.0f%%)",
                             rows, keys, headDim, scores, 100 * scores / onePeak, onePeak, values, 100 * values / onePeak))
            }
        }
        let table = RotaryTable(dimensions: headDim, pairing: .halves,
                                inverseFrequencies: RotaryTable.standardFrequencies(base: 1e6, dimensions: headDim))
        let shape = AttentionShape(heads: heads, kvHeads: kvHeads, headDim: headDim)
        for n in try lengthList {
            var random = SplitMix64(seed: 3)
            func randoms(_ count: Int) -> [Float] { (0..<count).map { _ in Float(random.next() >> 40) / Float(1 << 24) - 0.5 } }
            let q = randoms(n * heads * headDim), k = randoms(n * kvHeads * headDim), v = randoms(n * kvHeads * headDim)
            let positions = (0..<Int32(n)).map { $0 }
            var out = [Float](repeating: 0, count: n * heads * headDim)
            for (name, tiles) in try methodList.flatMap({ m in try tileList.map { (m, $0) } }) {
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
                                      shape: shape, scheme: scheme, scale: 1 / Float(headDim).squareRoot(), window: nil, output: &out,
                                      tiles: tiles)
                let seconds = Date().timeIntervalSince(start)
                // Causal attention: QK^T and PV over n^2/2 pairs per head, 2 flops per multiply-add.
                let gflops = 2.0 * 2.0 * Double(heads) * Double(headDim) * Double(n) * Double(n) / 2 / seconds / 1e9
                if json {
                    var object: [String: Any] = ["length": n, "method": name, "tiles": tiles.description, "seconds": seconds,
                                                 "gflops": gflops, "sgemm_peak_gflops": peak]
                    if let bf16Peak { object["bf16_peak_gflops"] = bf16Peak }
                    print(String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self))
                } else {
                    let ofBF16 = tiles == .f32 ? "" : String(format: "  %4.0f%% of bf16 peak", 100 * gflops / (bf16Peak ?? .nan))
                    print(String(format: "n=%6d %-11@ %-17@ %7.2f s  %6.1f GFLOP/s  %4.0f%% of sgemm peak%@", n, name,
                                 tiles.description, seconds, gflops, 100 * gflops / peak, ofBF16))
                }
            }
        }
    }
}

/// Measurements of the BF16 tiles for `bench-attention`.
enum BF16TileBench {
    /// GFLOP/s (2 per multiply-add) of the `vdpbf16ps` peak probe on `threads` threads at once.
    static func peakGFLOPS(threads: Int) -> Double {
        let iterations = 20_000_000
        var best = Double.infinity
        for _ in 0..<3 {
            let start = Date()
            Parallel.forEach(threads) { _ in _ = BF16Variant.avx512bf16.peakProbe(iterations: iterations) }
            best = min(best, Date().timeIntervalSince(start))
        }
        return 2 * Double(BF16Variant.avx512bf16.peakProbe(iterations: 1)! * iterations * threads) / best / 1e9
    }

    /// GFLOP/s of the score and value products alone on one tile (random operands), one thread, best of 5.
    static func tileGFLOPS(rows: Int, keys: Int, headDim d: Int) -> (scores: Double, values: Double) {
        var rng = SplitMix64(seed: 8)
        func randoms(_ n: Int) -> [Float] { (0..<n).map { _ in Float(rng.next() >> 40) / Float(1 << 24) - 0.5 } }
        var queryPairs = [UInt32](repeating: 0, count: rows * d / 2), probabilityPairs = [UInt32](repeating: 0, count: rows * keys / 2)
        BF16Tiles.roundPairs(randoms(rows * d), count: rows * d, into: &queryPairs, variant: .avx512bf16)
        BF16Tiles.roundPairs(randoms(rows * keys), count: rows * keys, into: &probabilityPairs, variant: .avx512bf16)
        var keyPanel = [UInt32](repeating: 0, count: BF16Tiles.keyPanelWords(count: keys, headDim: d))
        var valuePanel = [UInt32](repeating: 0, count: BF16Tiles.valuePanelWords(count: keys, headDim: d))
        let k = randoms(keys * d), v = randoms(keys * d)
        k.withUnsafeBytes { BF16Tiles.keyPanel(keys: $0.baseAddress!, type: .f32, stride: d, count: keys, headDim: d, into: &keyPanel) }
        v.withUnsafeBytes { BF16Tiles.valuePanel(values: $0.baseAddress!, type: .f32, stride: d, count: keys, headDim: d, into: &valuePanel) }
        var scores = [Float](repeating: 0, count: rows * keys), acc = [Float](repeating: 0, count: rows * d)
        let repeats = max(1, (1 << 27) / (rows * keys * d))
        func best(_ body: () -> Void) -> Double {
            var best = Double.infinity
            for _ in 0..<5 {
                let start = Date()
                for _ in 0..<repeats { body() }
                best = min(best, Date().timeIntervalSince(start))
            }
            return 2 * Double(rows * keys * d * repeats) / best / 1e9
        }
        let scoreRate = best {
            BF16Tiles.scores(queryPairs: queryPairs, rows: rows, headDim: d, keyPanel: keyPanel, count: keys, into: &scores,
                             ldc: keys, variant: .avx512bf16)
        }
        let valueRate = best {
            BF16Tiles.accumulate(probabilityPairs: probabilityPairs, rows: rows, count: keys, pairStride: keys / 2,
                                 valuePanel: valuePanel, headDim: d, into: &acc, variant: .avx512bf16)
        }
        return (scoreRate, valueRate)
    }
}
