import ArgumentParser
import Foundation
import LongLMCore
import LongLMModels
import LongLMDistributed
import LongLMEval

struct Generate: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Continue a prompt, streaming the text to stdout.")

    @OptionGroup var modelOptions: ModelOptions
    @OptionGroup var promptOptions: PromptOptions
    @OptionGroup(title: "Context extension") var contextOptions: ContextOptions
    @OptionGroup(title: "Distributed runs (under mpirun)") var parallelOptions: ParallelOptions
    @Option(name: [.customShort("n"), .long], help: "Tokens to generate at most.") var maxNewTokens = 64
    @Flag(help: "Always pick the most likely token (the default unless --temperature is given).") var greedy = false
    @Option(help: "Sampling temperature; 0 is greedy.") var temperature: Float?
    @Option(help: "Sample only from the K most likely tokens (0: no limit).") var topK = 40
    @Option(help: "Sample from the smallest set of tokens whose probability reaches P.") var topP: Float = 0.95
    @Option(help: ArgumentHelp("Write the logits used at each generated step, float32 [steps, vocab].", valueName: "file"))
    var outputLogits: String?
    @Flag(help: "Print a JSON object (ids, text, timings) instead of streaming text.") var json = false
    @Option(help: ArgumentHelp("Read the KV cache saved by --save-kv (each rank its own file) and prefill only the part of the prompt after the prefix it shares with the saved sequence; the model, method, layout and rank count must be the ones it was saved with.", valueName: "dir"))
    var loadKv: String?
    @Option(help: ArgumentHelp("After generating, write the KV cache (prompt and generated tokens; each rank its own file) for a later --load-kv.", valueName: "dir"))
    var saveKv: String?
    @Option(help: "Prompt tokens per forward call.") var batchSize = 1024
    @Flag(help: "No progress lines on stderr.") var quiet = false

    func validate() throws {
        try OptionRange.check(maxNewTokens, 1...EvaluationLimits.newTokens, "--max-new-tokens")
        if greedy && temperature != nil { throw ValidationError("--greedy and --temperature exclude each other") }
        try OptionRange.checkFinite(temperature, 0...1000, "--temperature")
        try OptionRange.check(topK, 0...(1 << 24), "--top-k")
        if !(topP > 0 && topP <= 1) { throw ValidationError("--top-p must be in (0, 1] (got \(topP))") }
        try OptionRange.check(batchSize, 1...65536, "--batch-size")
    }

    func run() throws {
        let run = PromptRun(modelOptions: modelOptions, promptOptions: promptOptions, contextOptions: contextOptions,
                            parallelOptions: parallelOptions, batchSize: batchSize, quiet: quiet, generatedTokens: maxNewTokens - 1)
        let vocab = run.loaded.model.config.vocabularySize
        // A logits path that cannot be written fails before any work (the file is written at the end, when the
        // number of steps is known).
        if run.isCoordinator, let path = outputLogits { _ = run.orFail { try OutputFile(path) } }
        var stepLogits: [Float] = []
        let sampler = greedy || temperature == nil || temperature == 0
            ? Sampler.greedy : Sampler(temperature: temperature!, topK: topK, topP: topP, seed: contextOptions.seed)
        let tokenizer = run.loaded.tokenizer
        let stops = tokenizer?.endOfGenerationTokens ?? []
        var stream = TextStream(tokenizer: json ? nil : tokenizer, hidden: stops)
        let loop = DecodeLoop(maxNewTokens: maxNewTokens, sampler: sampler, stopTokens: stops)
        let reused = loadKv.map { directory in
            run.orFail { try KVCacheTransfer.load(directory: directory, run: run, modelPath: modelOptions.model, layout: parallelOptions.layout) }
        } ?? 0
        if reused > 0 && run.isCoordinator && !quiet { log("--load-kv: \(reused) of \(run.ids.count) prompt tokens come from \(loadKv!)") }
        var outcome = run.orFail {
            try loop.run(run.sequence, prompt: Array(run.ids[reused...]), firstPosition: reused) { token, logits in
                if outputLogits != nil { stepLogits += logits }
                stream.add(token)
                return true
            }
        }
        outcome.promptTokens = run.ids.count
        if let directory = saveKv {
            run.orFail {
                try KVCacheTransfer.save(directory: directory, run: run, generated: outcome.ids, modelPath: modelOptions.model,
                                         layout: parallelOptions.layout, timeout: parallelOptions.stepTimeout)
            }
        }
        run.printStatistics(parallelOptions)
        guard run.isCoordinator else { return }
        stream.finish()
        if let path = outputLogits {
            run.orFail { try NPY.writeFloat32(path: path, shape: [outcome.ids.count, vocab], values: stepLogits) }
        }
        let text = tokenizer?.decode(outcome.ids.filter { !stops.contains($0) }) ?? ""
        let ranks = run.job?.size ?? 1
        if json {
            var object: [String: Any] = [
                "prompt_tokens": outcome.promptTokens, "ids": outcome.ids.map(Int.init), "text": text,
                "prefill_seconds": outcome.prefillSeconds, "decode_seconds": outcome.decodeSeconds,
            ]
            if run.job != nil { object["ranks"] = ranks }
            object["reused_prompt_tokens"] = reused
            object["method"] = run.method.description   // with any parameters chosen for the length
            object["chat"] = promptOptions.chatOptions.chat
            if let turn = try promptOptions.chatOptions.turn(for: run.loaded) { object["chat_template"] = turn.template.name }
            let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
            print(String(decoding: data, as: UTF8.self))
        } else {
            print("")
            let placement = run.job == nil ? "" : "\(ranks) ranks (\(parallelOptions.layout.rawValue)): "
            log(placement + String(format: "prompt %d tokens in %.2f s (%.1f tokens/s); generated %d tokens in %.2f s (%.1f tokens/s)",
                       outcome.promptTokens, outcome.prefillSeconds, Double(outcome.promptTokens) / max(outcome.prefillSeconds, 1e-9),
                       outcome.ids.count, outcome.decodeSeconds, Double(outcome.ids.count) / max(outcome.decodeSeconds, 1e-9)))
        }
    }
}

/// Streams generated text to stdout as tokens arrive, holding back the bytes of an incomplete UTF-8
/// character until it completes. A nil tokenizer streams nothing (JSON output, or a model without one).
struct TextStream {
    let tokenizer: (any Tokenizer)?
    let hidden: Set<Int32>
    private var pending: [UInt8] = []

    init(tokenizer: (any Tokenizer)?, hidden: Set<Int32>) {
        self.tokenizer = tokenizer
        self.hidden = hidden
    }

    mutating func add(_ token: Int32) {
        guard let tokenizer, !hidden.contains(token) else { return }
        pending += tokenizer.pieceBytes(token)
        let complete = completeUTF8Prefix(pending)
        if complete > 0 {
            FileHandle.standardOutput.write(Data(pending[..<complete]))
            pending.removeFirst(complete)
        }
    }

    mutating func finish() {
        if !pending.isEmpty { FileHandle.standardOutput.write(Data(pending)) }
        pending = []
    }
}

/// Length of the longest prefix of `bytes` that ends on a UTF-8 character boundary.
func completeUTF8Prefix(_ bytes: [UInt8]) -> Int {
    var i = bytes.count
    // Look back at most 3 bytes for the start of a multi-byte character.
    var back = 0
    while i > 0 && back < 4 {
        let b = bytes[i - 1]
        if b & 0xC0 == 0x80 { i -= 1; back += 1; continue }     // continuation byte
        let needed = b < 0x80 ? 1 : b >= 0xF0 ? 4 : b >= 0xE0 ? 3 : b >= 0xC0 ? 2 : 1
        return needed == back + 1 ? bytes.count : i - 1
    }
    return bytes.count
}
