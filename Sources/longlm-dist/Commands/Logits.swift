import ArgumentParser
import Foundation
import LongLMCore
import LongLMModels
import LongLMDistributed
import LongLMEval

struct Logits: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a prompt and write its logits as a float32 .npy file of shape [positions, vocab].")

    @OptionGroup var modelOptions: ModelOptions
    @OptionGroup var promptOptions: PromptOptions
    @OptionGroup(title: "Context extension") var contextOptions: ContextOptions
    @Flag(help: "Write logits for every prompt position (default: the last position only).")
    var allPositions = false
    @Option(help: ArgumentHelp("Output .npy file.", valueName: "file")) var output: String
    @Option(help: "Prompt tokens per forward call.") var batchSize = 1024
    @Flag(help: "No progress lines on stderr.") var quiet = false
    @OptionGroup(title: "Distributed runs (under mpirun)") var parallelOptions: ParallelOptions

    func validate() throws { try OptionRange.check(batchSize, 1...65536, "--batch-size") }

    func run() throws {
        if MPIEnvironment.isUnderMPI { runDistributed(); return }
        let loaded = modelOptions.load()
        let tokens = promptOptions.promptTokens(loaded)
        let model = loaded.model
        let vocab = model.config.vocabularySize
        reportingErrors {
            let writer = try NPY.FloatWriter(path: output, shape: [allPositions ? tokens.count : 1, vocab])
            var generator = Generator(model: model, prefillChunk: batchSize)
            generator.method = contextOptions.resolved(for: model.config, tokens: tokens.count)
            generator.onPrefillProgress = prefillProgress(total: tokens.count, quiet: quiet)
            let cache = try generator.makeCache(promptLength: tokens.count, reserve: tokens.count)
            let last = try generator.prefill(tokens, cache: cache) { hidden, _ in
                if allPositions {
                    let logits = model.logits(hidden: hidden, rows: 0..<hidden.rows)
                    try writer.write(UnsafeBufferPointer(start: logits.pointer, count: logits.count))
                }
            }
            if !allPositions {
                let logits = model.logits(hidden: last, rows: (last.rows - 1)..<last.rows)
                try writer.write(UnsafeBufferPointer(start: logits.pointer, count: logits.count))
            }
            try writer.close()
        }
    }
}

/// Prefill progress on stderr for prompts long enough to wait for (nil: none).
func prefillProgress(total: Int, quiet: Bool) -> ((Int, Int) -> Void)? {
    guard total >= 4096 && !quiet else { return nil }
    let reporter = ProgressReporter(label: "prefill", quiet: false)
    return { done, total in reporter.update(done: done, total: total) }
}
