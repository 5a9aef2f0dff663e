import ArgumentParser
import Foundation
import LongLMCore
import LongLMEval
import LongLMModels

struct RulerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ruler",
        abstract: "RULER-style synthetic tasks: needles, multi-key/value/query needles, variable tracking, frequent words.",
        discussion: """
        Every sample is generated here from --seed (no downloads): needles "One of the special magic numbers for KEY \
        is: VALUE." with 7-digit numbers or UUIDs in a haystack of repeated filler sentences (noise) or of a real text \
        (--text-file, the KJV by default); a chain of five variable assignments; coded words with Zipf frequencies. The \
        answer is generated greedily and scored by string match (the share of expected answers found in it). Prints \
        the score per task and length, the average per length, and the effective length: the longest length up to \
        which every tested length averages at least --threshold. Samples already in --output with the same settings \
        are skipped (a rerun resumes). docs/ruler.md describes each task.
        """)

    @OptionGroup var modelOptions: ModelOptions
    @OptionGroup(title: "Context extension") var contextOptions: ContextOptions
    @OptionGroup(title: "Distributed runs (under mpirun)") var parallelOptions: ParallelOptions
    @OptionGroup(title: "Chat (instruct models)") var chatOptions: ChatOptions
    @Option(help: ArgumentHelp("Tasks, comma separated: \(RulerTask.allCases.map(\.rawValue).joined(separator: ", ")) (default: all).",
                               valueName: "names"))
    var tasks: String = RulerTask.allCases.map(\.rawValue).joined(separator: ",")
    @Option(help: ArgumentHelp("Sequence lengths in tokens (prompt and answer), comma separated.", valueName: "tokens")) var lengths: String
    @Option(help: "Samples per task and length.") var samples = Ruler.defaultSamples
    @Option(help: ArgumentHelp("Haystacks of the needle tasks, comma separated: noise (repeated filler sentences), text (--text-file's sentences).",
                               valueName: "names"))
    var haystacks = "text"
    @Option(help: ArgumentHelp("What the needles hide: numbers (7 digits) or uuids.", valueName: "kind")) var values = "numbers"
    @Option(help: ArgumentHelp("The natural text of the text haystack.", valueName: "file")) var textFile = "data/kjv.txt"
    @Option(help: "Tokens to generate per answer (default: per task, 24 to 64).") var maxNewTokens: Int?
    @Option(help: "The average score (0...1) a length must reach to count toward the effective length.") var threshold = Ruler.defaultThreshold
    @Option(help: ArgumentHelp("Append one JSON line per sample here.", valueName: "file")) var output: String?
    @Flag(help: "No progress lines on stderr.") var quiet = false

    var taskList: [RulerTask] {
        get throws {
            try tasks.split(separator: ",").map { name in
                guard let task = RulerTask(rawValue: name.trimmingCharacters(in: .whitespaces)) else {
                    throw ValidationError("--tasks: unknown task '\(name)' (known: \(RulerTask.allCases.map(\.rawValue).joined(separator: ", ")))")
                }
                return task
            }
        }
    }
    var haystackList: [RulerHaystack] {
        get throws {
            try haystacks.split(separator: ",").map { name in
                guard let h = RulerHaystack(rawValue: name.trimmingCharacters(in: .whitespaces)) else {
                    throw ValidationError("--haystacks: unknown haystack '\(name)' (known: noise, text)")
                }
                return h
            }
        }
    }
    var lengthList: [Int] { get throws { try CommaList.parse(lengths, option: "--lengths", in: 1...EvaluationLimits.promptTokens) } }

    func validate() throws {
        do { _ = try lengthList } catch { throw ValidationError("\(error)") }
        if try taskList.isEmpty { throw ValidationError("--tasks: give at least one task") }
        if try haystackList.isEmpty { throw ValidationError("--haystacks: give at least one haystack") }
        guard RulerValues(rawValue: values) != nil else { throw ValidationError("--values must be numbers or uuids") }
        try chatOptions.checkChatIsOn()
        try OptionRange.check(samples, 1...100_000, "--samples")
        try OptionRange.check(maxNewTokens, 1...EvaluationLimits.newTokens, "--max-new-tokens")
        guard (0...1).contains(threshold) else { throw ValidationError("--threshold must be in 0...1") }
    }

    /// One cell of the summary: a task (with its haystack when it has one) at a length.
    struct Cell: Hashable { let row: String; let length: Int }

    func run() throws {
        let tasks = try taskList, lengths = try lengthList, haystacks = try haystackList
        let valueKind = RulerValues(rawValue: values)!
        let textSentences: [String]
        if tasks.contains(where: \.usesHaystackChoice) && haystacks.contains(.text) {
            textSentences = HaystackRecipe.sentences(of: try readText(textFile, option: "--text-file"))
            if textSentences.isEmpty { throw ValidationError("--text-file \(textFile): no sentences in it") }
        } else {
            textSentences = []
        }
        withRunner(modelOptions: modelOptions, parallelOptions: parallelOptions) { runner, loaded, ranks in
            guard let tokenizer = loaded.tokenizer else { throw ValidationError("\(loaded.path) has no tokenizer") }
            let config = runner.model.config
            let method = try contextOptions.method(for: config)
            try method.validate(config: config)
            if !contextOptions.noWindowCheck {
                // A length is the whole sequence, prompt and answer (as RULER counts it): the prompt is built to the
                // length less the answer tokens, so the sequence never holds more than `length` tokens.
                try EvaluationLimits.checkLengths(lengths, maxNewTokens: 1, option: "--lengths", method: method, config: config)
            }
            let label = method.description + (contextOptions.noWindowCheck ? " (no window check)" : "")
            let chat = try chatOptions.turn(for: loaded)
            let frame = try chat?.frame(tokenizer: tokenizer)
            let writer = try output.map { try JSONLinesWriter(path: $0) }
            let previous = writer?.existing.objects ?? []
            var scores: [Cell: [Double]] = [:]
            var rows: [String] = []
            for task in tasks {
                for haystack in task.usesHaystackChoice ? haystacks : [.noise] {
                    let row = task.usesHaystackChoice && haystacks.count > 1 ? "\(task.rawValue) (\(haystack.rawValue))" : task.rawValue
                    if !rows.contains(row) { rows.append(row) }
                    let answerTokens = maxNewTokens ?? task.defaultMaxNewTokens
                    for length in lengths {
                        for index in 0..<samples {
                            let key = ResultKey(["kind": .text("ruler"), "model": .text(loaded.path), "method": .text(label),
                                                 "seed": .text(String(contextOptions.seed)), "task": .text(task.rawValue),
                                                 "haystack": .text(task.usesHaystackChoice ? haystack.rawValue : "noise"),
                                                 "values": .text(task.rawValue.hasPrefix("niah") ? valueKind.rawValue : "numbers"),
                                                 "text_file": .text(task.usesHaystackChoice && haystack == .text ? textFile : ""),
                                                 "max_new_tokens": .integer(answerTokens), "length": .integer(length),
                                                 "sample": .integer(index)]).appendingChat(chat)
                            if let old = previous.last(where: { key.matches($0) }) {
                                scores[Cell(row: row, length: length), default: []].append(old["score"] as? Double ?? 0)
                                continue
                            }
                            let sample = Ruler.sample(task, length: length, index: index, seed: contextOptions.seed, values: valueKind,
                                                      haystack: haystack, text: textSentences)
                            guard length > answerTokens else {
                                throw ValidationError("--lengths \(length): shorter than the \(answerTokens) answer tokens of \(task.rawValue)")
                            }
                            let (prompt, expected) = try Ruler.prompt(sample, tokenizer: tokenizer, length: length - answerTokens, chat: frame)
                            let progress = ProgressReporter(label: "ruler \(row) \(length) tokens, sample \(index + 1)/\(samples)", quiet: quiet)
                            let started = Date()
                            let (answer, outcome) = try askGreedily(runner, tokenizer, prompt.tokens, maxNewTokens: answerTokens, method: method,
                                                                    checksLength: !contextOptions.noWindowCheck, progress: progress)
                            let score = Ruler.score(answer: answer, expected: expected)
                            scores[Cell(row: row, length: length), default: []].append(score)
                            let seconds = Date().timeIntervalSince(started)
                            if !quiet {
                                progress.message(String(format: "ruler %@ %d tokens, sample %d: expected %@, answer %@ -> %.2f (%.1f s)", row,
                                                        prompt.tokens.count, index + 1, expected.joined(separator: " "), answer.debugDescription,
                                                        score, seconds))
                            }
                            try writer?.append(key.object.merging([
                                "tokens": prompt.tokens.count, "expected": expected, "answer": answer, "score": score,
                                "needle_tokens": prompt.needles.map(\.lowerBound), "seconds": seconds,
                                "prefill_seconds": outcome.prefillSeconds, "ranks": ranks, "kv_type": Compute.kvType.rawValue,
                                "precision": Compute.precision.rawValue, "attention_tiles": Compute.attentionTiles.description,
                            ]) { key, _ in key })
                        }
                    }
                }
            }
            printSummary(label: label, rows: rows, lengths: lengths, scores: scores, chat: chat)
        }
    }

    func printSummary(label: String, rows: [String], lengths: [Int], scores: [Cell: [Double]], chat: ChatTurn?) {
        func mean(_ xs: [Double]) -> Double { xs.isEmpty ? 0 : xs.reduce(0, +) / Double(xs.count) }
        print("RULER-style tasks, \(label), \(samples) sample\(samples == 1 ? "" : "s") per cell, score in %"
              + (chat.map { ", asked as a \($0.template.name) chat turn" } ?? ""))
        let width = max(24, (rows.map(\.count).max() ?? 0) + 2)
        print("task".padding(toLength: width, withPad: " ", startingAt: 0) + lengths.map { String(format: "%9d", $0) }.joined())
        for row in rows {
            print(row.padding(toLength: width, withPad: " ", startingAt: 0)
                  + lengths.map { String(format: "%9.1f", 100 * mean(scores[Cell(row: row, length: $0)] ?? [])) }.joined())
        }
        let averages = lengths.map { length in (length: length, score: mean(rows.map { mean(scores[Cell(row: $0, length: length)] ?? []) })) }
        print("average".padding(toLength: width, withPad: " ", startingAt: 0) + averages.map { String(format: "%9.1f", 100 * $0.score) }.joined())
        let effective = Ruler.effectiveLength(averages: averages, threshold: threshold)
        print(String(format: "effective length (average >= %.1f%%): ", 100 * threshold)
              + (effective.map { "\($0) tokens" } ?? "none (below the threshold at \(lengths.min()!) tokens)"))
    }
}
