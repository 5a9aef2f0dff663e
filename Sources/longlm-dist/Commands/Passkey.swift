import ArgumentParser
import Foundation
import LongLMCore
import LongLMEval
import LongLMModels

struct Passkey: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Passkey retrieval: hide a 5-digit key in filler text of a given length, ask for it, check the answer.",
        discussion: """
        Each trial builds the standard prompt (an instruction, the filler sentences repeated, "The pass key is NNNNN. \
        Remember it. NNNNN is the pass key." at the trial's depth, the question, and "The pass key is"), decodes a few \
        tokens greedily and counts a success when the first number in the answer is the key. With --chat the whole \
        prompt is one user turn of the model's chat template. Trials already in --output with the same model, method, \
        seed, depth, --max-new-tokens and chat settings are skipped (a rerun resumes); --output is locked while the run \
        writes it.
        """)

    @OptionGroup var modelOptions: ModelOptions
    @OptionGroup(title: "Context extension") var contextOptions: ContextOptions
    @OptionGroup(title: "Distributed runs (under mpirun)") var parallelOptions: ParallelOptions
    @OptionGroup(title: "Chat (instruct models)") var chatOptions: ChatOptions
    @Option(help: ArgumentHelp("Prompt lengths in tokens, comma separated.", valueName: "tokens"))
    var length: String
    @Option(help: "Trials per length.") var trials = PasskeyRun.defaultTrials
    @Option(help: ArgumentHelp("Depths of the key (0 = start, 1 = end), comma separated, cycled over the trials (default: spread evenly, (t + 0.5) / trials).", valueName: "fractions"))
    var depths: String?
    @Option(help: "Tokens to generate for the answer.") var maxNewTokens = PasskeyRun.defaultMaxNewTokens
    @Option(help: ArgumentHelp("Append one JSON line per trial here.", valueName: "file")) var output: String?
    @Flag(help: "No progress lines on stderr.") var quiet = false

    var lengths: [Int] { get throws { try CommaList.parse(length, option: "--length", in: 1...EvaluationLimits.promptTokens) } }
    var depthList: [Double]? { get throws { try depths.map { try CommaList.parse($0, option: "--depths", in: 0.0...1.0) } } }

    func validate() throws {
        do { _ = try lengths; _ = try depthList } catch { throw ValidationError("\(error)") }
        try chatOptions.checkChatIsOn()
        if trials < 1 { throw ValidationError("--trials must be at least 1") }
        if !(1...EvaluationLimits.newTokens).contains(maxNewTokens) {
            throw ValidationError("--max-new-tokens must be in 1...\(EvaluationLimits.newTokens)")
        }
    }

    func run() throws {
        let lengths = try self.lengths
        let depthList = try self.depthList
        withRunner(modelOptions: modelOptions, parallelOptions: parallelOptions) { runner, loaded, ranks in
            guard let tokenizer = loaded.tokenizer else { throw ValidationError("\(loaded.path) has no tokenizer") }
            let method = try contextOptions.method(for: runner.model.config)
            try method.validate(config: runner.model.config)
            if !contextOptions.noWindowCheck {
                try EvaluationLimits.checkLengths(lengths, maxNewTokens: maxNewTokens, option: "--length", method: method, config: runner.model.config)
            }
            let label = method.description + (contextOptions.noWindowCheck ? " (no window check)" : "")
            let chat = try chatOptions.turn(for: loaded)
            let frame = try chat?.frame(tokenizer: tokenizer)
            let writer = try output.map { try JSONLinesWriter(path: $0) }
            let previous = writer?.existing.objects ?? []
            let evaluation = PasskeyRun(model: loaded.path, method: label, seed: contextOptions.seed, maxNewTokens: maxNewTokens,
                                        trials: trials, depths: depthList, chat: chat)
            var results: [(length: Int, success: Bool)] = []
            for length in lengths {
                for trial in evaluation.trials(length: length) {
                    if let old = evaluation.previous(trial, in: previous) {
                        results.append((length, old["success"] as? Bool ?? false))
                        continue
                    }
                    let prompt = try HaystackPrompt.build(.passkey(key: trial.key), tokenizer: tokenizer, length: length, depth: trial.depth,
                                                          chat: frame)
                    let progress = ProgressReporter(label: "passkey \(length) tokens, trial \(trial.index + 1)/\(trials)", quiet: quiet)
                    let started = Date()
                    let (answer, outcome) = try askGreedily(runner, tokenizer, prompt.tokens, maxNewTokens: maxNewTokens, method: method,
                                                            checksLength: !contextOptions.noWindowCheck, progress: progress)
                    let success = firstNumber(in: answer) == trial.key
                    results.append((length, success))
                    let seconds = Date().timeIntervalSince(started)
                    if !quiet {
                        progress.message(String(format: "passkey %d tokens, depth %.2f: key %@, answer %@ -> %@ (%.1f s)", prompt.tokens.count,
                                                prompt.depth, trial.key, answer.debugDescription, success ? "found" : "missed", seconds))
                    }
                    try writer?.append(evaluation.key(of: trial).object.merging([
                        "tokens": prompt.tokens.count, "depth_built": prompt.depth, "needle_token": prompt.needle.lowerBound,
                        "answer": answer, "success": success, "seconds": seconds, "prefill_seconds": outcome.prefillSeconds,
                        "ranks": ranks,
                    ]) { key, _ in key })
                }
            }
            print("passkey retrieval, \(label)" + (chat.map { ", asked as a \($0.template.name) chat turn" } ?? ""))
            print("length (tokens)  accuracy")
            for length in lengths {
                let trialsAtLength = results.filter { $0.length == length }
                let found = trialsAtLength.filter(\.success).count
                print(String(format: "%15d  %d/%d (%.0f%%)", length, found, trialsAtLength.count, 100 * Double(found) / Double(trialsAtLength.count)))
            }
        }
    }
}

/// Generates the greedy answer to a prompt (end-of-generation tokens dropped from its text).
func askGreedily(_ runner: any SequenceRunner, _ tokenizer: any Tokenizer, _ prompt: [Int32], maxNewTokens: Int,
                 method: ContextMethod, checksLength: Bool, progress: ProgressReporter) throws -> (String, GenerationOutcome) {
    let stops = tokenizer.endOfGenerationTokens
    let outcome = try runner.generate(GenerationRequest(prompt: prompt, maxNewTokens: maxNewTokens, method: method,
                                                        checksLength: checksLength, stopTokens: Array(stops)),
                                      progress: progress.update)
    progress.end()
    return (tokenizer.decode(outcome.ids.filter { !stops.contains($0) }), outcome)
}
