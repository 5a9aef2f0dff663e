import ArgumentParser
import Foundation
import LongLMCore
import LongLMModels
import LongLMDistributed

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
    @Option(help: "Prompt tokens per forward call.") var batchSize = 1024
    @Flag(help: "No progress lines on stderr.") var quiet = false

    func validate() throws {
        try OptionRange.check(maxNewTokens, 1...OptionRange.maximumTokens, "--max-new-tokens")
        if greedy && temperature != nil { throw ValidationError("--greedy and --temperature exclude each other") }
        try OptionRange.checkFinite(temperature, 0...1000, "--temperature")
        try OptionRange.check(topK, 0...(1 << 24), "--top-k")
        if !(topP > 0 && topP <= 1) { throw ValidationError("--top-p must be in (0, 1] (got \(topP))") }
        try OptionRange.check(batchSize, 1...65536, "--batch-size")
    }

    func run() throws {
        if MPIEnvironment.isUnderMPI { runDistributed(); return }
        let loaded = modelOptions.load()
        let tokens = promptOptions.promptTokens(loaded)
        let model = loaded.model
        let sampler = greedy || temperature == nil || temperature == 0
            ? Sampler.greedy : Sampler(temperature: temperature!, topK: topK, topP: topP, seed: contextOptions.seed)
        var generator = Generator(model: model, prefillChunk: batchSize)
        generator.method = contextOptions.resolved(for: model.config, tokens: tokens.count + maxNewTokens - 1)
        generator.enforcesMaximumLength = !contextOptions.noWindowCheck
        generator.onPrefillProgress = prefillProgress(total: tokens.count, quiet: quiet)
        let stops = loaded.tokenizer?.endOfGenerationTokens ?? []
        var stepLogits: [Float] = []
        var pending: [UInt8] = []   // bytes of an incomplete UTF-8 character, held until it completes
        let (ids, timings) = reportingErrors {
            try generator.generate(prompt: tokens, maxNewTokens: maxNewTokens, sampler: sampler, stopTokens: stops) { token, logits in
                if outputLogits != nil { stepLogits.append(contentsOf: logits) }
                if !json, let tokenizer = loaded.tokenizer, !stops.contains(token) {
                    pending += tokenizer.pieceBytes(token)
                    let complete = completeUTF8Prefix(pending)
                    if complete > 0 {
                        FileHandle.standardOutput.write(Data(pending[..<complete]))
                        pending.removeFirst(complete)
                    }
                }
                return true
            }
        }
        if !pending.isEmpty && !json { FileHandle.standardOutput.write(Data(pending)) }
        if let path = outputLogits {
            reportingErrors { try NPY.writeFloat32(path: path, shape: [ids.count, model.config.vocabularySize], values: stepLogits) }
        }
        let text = loaded.tokenizer?.decode(ids.filter { !stops.contains($0) }) ?? ""
        if json {
            let object: [String: Any] = [
                "prompt_tokens": timings.promptTokens, "ids": ids.map(Int.init), "text": text,
                "prefill_seconds": timings.prefillSeconds, "decode_seconds": timings.decodeSeconds,
            ]
            let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
            print(String(decoding: data, as: UTF8.self))
        } else {
            print("")
            log(String(format: "prompt %d tokens in %.2f s (%.1f tokens/s); generated %d tokens in %.2f s (%.1f tokens/s)",
                       timings.promptTokens, timings.prefillSeconds, Double(timings.promptTokens) / max(timings.prefillSeconds, 1e-9),
                       timings.generatedTokens, timings.decodeSeconds, Double(timings.generatedTokens) / max(timings.decodeSeconds, 1e-9)))
        }
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
