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

    /// One process: logits stream to the file chunk by chunk. Under mpirun every rank runs its shard through
    /// the ring; rank 0 gets the last position's logits, or (--all-positions) every rank's final hidden states,
    /// and projects and writes them in position order. Only rank 0 writes the file.
    func run() throws {
        let run = PromptRun(modelOptions: modelOptions, promptOptions: promptOptions, contextOptions: contextOptions,
                            parallelOptions: parallelOptions, batchSize: batchSize, quiet: quiet, generatedTokens: 0)
        let model = run.loaded.model, ids = run.ids
        let vocab = model.config.vocabularySize
        let writer = run.isCoordinator ? run.orFail { try NPY.FloatWriter(path: output, shape: [allPositions ? ids.count : 1, vocab]) } : nil
        func write(_ hidden: FloatBuffer, rows: Range<Int>) throws {
            var start = rows.lowerBound
            while start < rows.upperBound {   // a few rows at a time: vocabulary-wide rows are large
                let end = min(rows.upperBound, start + 64)
                let logits = model.logits(hidden: hidden, rows: start..<end)
                try writer!.write(UnsafeBufferPointer(start: logits.pointer, count: logits.count))
                start = end
            }
        }
        if let local = run.sequence as? LocalSequence {
            run.orFail {
                let last = try local.generator.prefill(ids, cache: local.cache) { hidden, _ in
                    if allPositions { try write(hidden, rows: 0..<hidden.rows) }
                }
                if !allPositions { try write(last, rows: (last.rows - 1)..<last.rows) }
                try writer!.close()
            }
            return
        }
        let sequence = run.sequence as! DistributedSequence
        if allPositions {
            let (hidden, _) = run.orFail { try sequence.prefillHidden(ids) }
            let gathered = run.orFail { try sequence.gatherByPosition(hidden.array, width: model.config.hiddenSize) }
            run.printStatistics(parallelOptions)
            guard run.isCoordinator, let gathered else { return }
            let all = FloatBuffer(rows: ids.count, cols: model.config.hiddenSize, zeroed: false)
            gathered.withUnsafeBufferPointer { all.pointer.update(from: $0.baseAddress!, count: $0.count) }
            run.orFail { try write(all, rows: 0..<ids.count); try writer!.close() }
        } else {
            let logits = run.orFail { try sequence.prefill(ids) }
            run.printStatistics(parallelOptions)
            guard run.isCoordinator, let logits else { return }
            run.orFail { try logits.withUnsafeBufferPointer { try writer!.write($0) }; try writer!.close() }
        }
    }
}
