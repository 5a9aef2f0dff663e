import ArgumentParser
import Foundation
import LongLMCore
import LongLMEval
import LongLMModels

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure prefill and decode speed on synthetic prompts of the given lengths.")

    @OptionGroup var modelOptions: ModelOptions
    @Option(help: ArgumentHelp("Prompt lengths in tokens, comma separated.", valueName: "n,n,..."))
    var lengths = "512,2048,8192"
    @Option(help: "Tokens decoded after each prefill.") var decodeTokens = 32
    @Option(help: "Prompt tokens per forward call.") var batchSize = 1024
    @Option(help: "Random seed for the synthetic token ids.") var seed: UInt64 = 1
    @Flag(help: "Print one JSON object per length.") var json = false

    func validate() throws {
        _ = try parsedLengths
        try OptionRange.check(decodeTokens, 1...EvaluationLimits.newTokens, "--decode-tokens")
        try OptionRange.check(batchSize, 1...65536, "--batch-size")
    }

    var parsedLengths: [Int] { get throws { try CommaList.parse(lengths, option: "--lengths", in: 1...EvaluationLimits.promptTokens) } }

    func run() throws {
        guard isRankZeroOrAlone() else { return }
        let loaded = modelOptions.load()
        let model = loaded.model
        let vocab = model.config.vocabularySize
        // Warm-up: touch every mapped weight page and the RoPE tables once, so the first length is not charged for it.
        _ = try Generator(model: model, prefillChunk: batchSize).generate(
            prompt: [loaded.tokenizer?.bosToken ?? 0] + [Int32](repeating: 1, count: 31), maxNewTokens: 2, sampler: .greedy, stopTokens: []) { _, _ in true }
        let sgemm = BLAS.measureSgemmGFLOPS(size: 1024, threads: Parallel.threads)
        if !json {
            print("cpu: \(CPUFeatures.current.summary)\nblas: \(BLAS.report.line)")
            print(String(format: "sgemm 1024^3 on %d threads: %.1f GFLOP/s", Parallel.threads, sgemm))
            print("precision: \(Compute.precision), kernels: \(Compute.kernels), attention tiles: \(Compute.attentionTiles)")
            print("length  prefill tok/s  decode tok/s  (threads \(Parallel.threads), batch \(batchSize))")
        }
        let lengthList = try parsedLengths
        // Bench runs plain attention: every length must fit the trained context (checked before any prompt is made).
        for n in lengthList {
            reportingErrors { try ContextMethod.plain.checkLength(n + decodeTokens - 1, config: model.config) }
        }
        for n in lengthList {
            var random = SplitMix64(seed: seed)
            // Ids from the lower part of the vocabulary (ordinary text pieces), BOS first when the model has one.
            var tokens = (0..<n).map { _ in Int32(truncatingIfNeeded: random.next() % UInt64(min(vocab, 32000))) }
            if let bos = loaded.tokenizer?.bosToken { tokens[0] = bos }
            let generator = Generator(model: model, prefillChunk: batchSize)
            let (_, timings) = try generator.generate(prompt: tokens, maxNewTokens: decodeTokens, sampler: .greedy, stopTokens: []) { _, _ in true }
            let prefillRate = Double(n) / timings.prefillSeconds
            // The first generated token comes from the prefill's logits; the rest each took one decode step.
            let decodeRate = Double(max(1, timings.generatedTokens - 1)) / timings.decodeSeconds
            if json {
                let object: [String: Any] = ["length": n, "prefill_tokens_per_second": prefillRate,
                                             "decode_tokens_per_second": decodeRate, "threads": Parallel.threads,
                                             "blas": BLAS.report.jsonObject, "sgemm_1024_gflops": sgemm, "cpu_features": CPUFeatures.current.summary,
                                             "precision": Compute.precision.rawValue, "kernels": Compute.kernels.rawValue,
                                             "attention_tiles": Compute.attentionTiles.description]
                print(String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self))
            } else {
                print(String(format: "%6d  %13.1f  %12.1f", n, prefillRate, decodeRate))
            }
        }
    }
}
