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
        tokens greedily and counts a success when the first number in the answer is the key. Trials already in \
        --output for the same method are skipped (a rerun resumes).
        """)

    @OptionGroup var modelOptions: ModelOptions
    @OptionGroup(title: "Context extension") var contextOptions: ContextOptions
    @OptionGroup(title: "Distributed runs (under mpirun)") var parallelOptions: ParallelOptions
    @Option(help: ArgumentHelp("Prompt lengths in tokens, comma separated.", valueName: "tokens"))
    var length: String
    @Option(help: "Trials per length.") var trials = 3
    @Option(help: ArgumentHelp("Depths of the key (0 = start, 1 = end), comma separated, cycled over the trials (default: spread evenly, (t + 0.5) / trials).", valueName: "fractions"))
    var depths: String?
    @Option(help: "Tokens to generate for the answer.") var maxNewTokens = 8
    @Option(help: ArgumentHelp("Append one JSON line per trial here.", valueName: "file")) var output: String?
    @Flag(help: "No progress lines on stderr.") var quiet = false

    func validate() throws {
        if (try? parseList(length, as: Int.self)) == nil || (try! parseList(length, as: Int.self)).contains(where: { $0 < 1 }) {
            throw ValidationError("--length must be positive integers, comma separated (got '\(length)')")
        }
        if trials < 1 { throw ValidationError("--trials must be at least 1") }
        if let depths {
            guard let values = try? parseList(depths, as: Double.self), values.allSatisfy({ (0...1).contains($0) }) else {
                throw ValidationError("--depths must be fractions in 0...1, comma separated (got '\(depths)')")
            }
        }
        if maxNewTokens < 1 { throw ValidationError("--max-new-tokens must be at least 1") }
    }

    func run() throws {
        let lengths = try parseList(length, as: Int.self)
        let depthList = try depths.map { try parseList($0, as: Double.self) }
        withRunner(modelOptions: modelOptions, parallelOptions: parallelOptions) { runner, loaded, ranks in
            guard let tokenizer = loaded.tokenizer else { throw ValidationError("\(loaded.path) has no tokenizer") }
            let method = try contextOptions.method(for: runner.model.config)
            try method.validate(config: runner.model.config)
            let label = method.description + (contextOptions.noWindowCheck ? " (no window check)" : "")
            let writer = try output.map { try JSONLinesWriter(path: $0) }
            let previous = try output.map { try JSONLinesWriter.read(path: $0) } ?? []
            func done(_ length: Int, _ trial: Int) -> [String: Any]? {
                previous.first { ($0["length"] as? Int) == length && ($0["trial"] as? Int) == trial && ($0["method"] as? String) == label }
            }
            var results: [(length: Int, success: Bool)] = []
            for length in lengths {
                for trial in 0..<trials {
                    let depth = depthList.map { $0[trial % $0.count] } ?? (Double(trial) + 0.5) / Double(trials)
                    if let old = done(length, trial) {
                        results.append((length, old["success"] as? Bool ?? false))
                        continue
                    }
                    var random = SplitMix64(seed: contextOptions.seed &+ UInt64(length) &* 1_000_003 &+ UInt64(trial))
                    let key = String(10_000 + Int(random.next() % 90_000))
                    let prompt = try HaystackPrompt.build(.passkey(key: key), tokenizer: tokenizer, length: length, depth: depth)
                    let progress = ProgressReporter(label: "passkey \(length) tokens, trial \(trial + 1)/\(trials)", quiet: quiet)
                    let started = Date()
                    let (answer, outcome) = try askGreedily(runner, tokenizer, prompt.tokens, maxNewTokens: maxNewTokens, method: method,
                                                            checksLength: !contextOptions.noWindowCheck, progress: progress)
                    let found = firstNumber(in: answer)
                    let success = found == key
                    results.append((length, success))
                    let seconds = Date().timeIntervalSince(started)
                    if !quiet {
                        progress.message(String(format: "passkey %d tokens, depth %.2f: key %@, answer %@ -> %@ (%.1f s)", prompt.tokens.count,
                                                prompt.depth, key, answer.debugDescription, success ? "found" : "missed", seconds))
                    }
                    try writer?.append([
                        "kind": "passkey", "method": label, "length": length, "tokens": prompt.tokens.count, "trial": trial,
                        "depth": depth, "depth_built": prompt.depth, "needle_token": prompt.needle.lowerBound, "key": key,
                        "answer": answer, "success": success, "seconds": seconds, "prefill_seconds": outcome.prefillSeconds,
                        "ranks": ranks,
                    ])
                }
            }
            print("passkey retrieval, \(label)")
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

/// Comma-separated values.
func parseList<T: LosslessStringConvertible>(_ text: String, as: T.Type) throws -> [T] {
    let parts = text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
    guard !parts.isEmpty else { throw ValidationError("empty list") }
    return try parts.map { part in
        guard let value = T(part) else { throw ValidationError("'\(part)' is not a valid value") }
        return value
    }
}

/// The first run of digits in `text`, if any.
func firstNumber(in text: String) -> String? {
    guard let start = text.firstIndex(where: \.isASCIIDigit) else { return nil }
    return String(text[start...].prefix(while: \.isASCIIDigit))
}

extension Character {
    var isASCIIDigit: Bool { isASCII && isNumber }
}
