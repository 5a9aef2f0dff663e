import ArgumentParser
import Foundation
import LongLMCore
import LongLMEval
import LongLMModels

struct Needle: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Needle in a haystack: a grid of prompt lengths x needle depths, scored per cell, with an SVG heatmap.",
        discussion: """
        Each cell hides --needle at its depth in a haystack of --haystack-file's sentences (default: the passkey \
        filler), asks --question (which ends with the first words of the answer), decodes greedily and scores the \
        fraction of --answer's words that come back. With --chat the whole prompt (haystack and question) is one user \
        turn of the model's chat template. Cells already in --output with the same model, method, seed, \
        --max-new-tokens, needle, question, answer, haystack contents and chat settings are skipped, so a rerun \
        resumes; --output is locked while the run writes it; --csv and --svg are rewritten from every finished cell.
        """)

    @OptionGroup var modelOptions: ModelOptions
    @OptionGroup(title: "Context extension") var contextOptions: ContextOptions
    @OptionGroup(title: "Distributed runs (under mpirun)") var parallelOptions: ParallelOptions
    @OptionGroup(title: "Chat (instruct models)") var chatOptions: ChatOptions
    @Option(help: ArgumentHelp("Prompt lengths in tokens, comma separated (x axis).", valueName: "tokens")) var lengths: String
    @Option(help: ArgumentHelp("Needle depths (0 = start, 1 = end), comma separated (y axis).", valueName: "fractions"))
    var depths = NeedleSetup.defaultDepths
    @Option(help: "The sentence hidden in the haystack.") var needle = NeedleSetup.defaultNeedle
    @Option(help: "The closing question, ending with the first words of the answer.") var question = NeedleSetup.defaultQuestion
    @Option(help: "The expected answer; a cell scores the fraction of its words found in the generated text.")
    var answer = NeedleSetup.defaultAnswer
    @Option(help: ArgumentHelp("A text whose sentences make the haystack (cycled as needed).", valueName: "file"))
    var haystackFile: String?
    @Option(help: "Tokens to generate per cell.") var maxNewTokens = NeedleSetup.defaultMaxNewTokens
    @Option(help: ArgumentHelp("Cells as JSON lines (appended; a rerun skips cells already there).", valueName: "file"))
    var output: String
    @Option(help: ArgumentHelp("Also write the grid as CSV.", valueName: "file")) var csv: String?
    @Option(help: ArgumentHelp("Also draw the grid as an SVG heatmap.", valueName: "file")) var svg: String?
    @Flag(help: "No progress lines on stderr.") var quiet = false

    var lengthList: [Int] { get throws { try CommaList.parse(lengths, option: "--lengths", in: 1...EvaluationLimits.promptTokens) } }
    var depthList: [Double] { get throws { try CommaList.parse(depths, option: "--depths", in: 0.0...1.0) } }

    func validate() throws {
        do { _ = try lengthList; _ = try depthList } catch { throw ValidationError("\(error)") }
        try chatOptions.checkChatIsOn()
        if !(1...EvaluationLimits.newTokens).contains(maxNewTokens) {
            throw ValidationError("--max-new-tokens must be in 1...\(EvaluationLimits.newTokens)")
        }
        if words(answer).isEmpty { throw ValidationError("--answer has no words") }
    }

    func run() throws {
        let lengthList = try self.lengthList, depthList = try self.depthList
        withRunner(modelOptions: modelOptions, parallelOptions: parallelOptions) { runner, loaded, ranks in
            guard let tokenizer = loaded.tokenizer else { throw ValidationError("\(loaded.path) has no tokenizer") }
            let method = try contextOptions.method(for: runner.model.config)
            try method.validate(config: runner.model.config)
            if !contextOptions.noWindowCheck {
                try EvaluationLimits.checkLengths(lengthList, maxNewTokens: maxNewTokens, option: "--lengths", method: method, config: runner.model.config)
            }
            let label = method.description + (contextOptions.noWindowCheck ? " (no window check)" : "")
            var sentences = HaystackRecipe.passkey(key: "").sentences
            if let haystackFile {
                sentences = HaystackRecipe.sentences(of: try String(contentsOfFile: haystackFile, encoding: .utf8))
            }
            let chat = try chatOptions.turn(for: loaded)
            let frame = try chat?.frame(tokenizer: tokenizer)
            // Every output is looked at before the first cell runs: a read-only --svg must not cost the grid.
            let writer = try JSONLinesWriter(path: output)
            let csvFile = try csv.map { try OutputFile($0) }, svgFile = try svg.map { try OutputFile($0) }
            let setup = NeedleSetup(model: loaded.path, method: label, needle: needle, question: question, answer: answer,
                                    haystackName: haystackFile ?? "passkey filler", sentences: sentences,
                                    maxNewTokens: maxNewTokens, seed: contextOptions.seed, chat: chat)
            var grid = NeedleGrid(setup: setup, lengths: lengthList, depths: depthList, records: writer.existing.objects)
            let todo = grid.todo
            if !quiet && todo.count < grid.cellCount {
                log("needle: \(grid.cellCount - todo.count) cells already in \(output), \(todo.count) to run")
            }
            for (index, (length, depth)) in todo.enumerated() {
                let prompt = try HaystackPrompt.build(setup.recipe, tokenizer: tokenizer, length: length, depth: depth, chat: frame)
                let progress = ProgressReporter(label: "needle cell \(index + 1)/\(todo.count) (\(length) tokens, depth \(depth))", quiet: quiet)
                let started = Date()
                let (text, _) = try askGreedily(runner, tokenizer, prompt.tokens, maxNewTokens: maxNewTokens, method: method,
                                                checksLength: !contextOptions.noWindowCheck, progress: progress)
                let cellScore = recallScore(answer: text, expected: answer)
                try writer.append(setup.key(length: length, depth: depth).object.merging([
                    "tokens": prompt.tokens.count, "depth_built": prompt.depth, "needle_token": prompt.needle.lowerBound,
                    "haystack": setup.haystackName, "answer": text, "score": cellScore, "seconds": Date().timeIntervalSince(started), "ranks": ranks,
                ]) { key, _ in key })
                grid.record(length: length, depth: depth, score: cellScore)
                if !quiet { progress.message(String(format: "needle %d tokens, depth %.2f: score %.2f, %@", prompt.tokens.count, depth, cellScore, text.debugDescription)) }
            }
            try csvFile?.write(Data(grid.csv().utf8))
            try svgFile?.write(Data(Heatmap(title: "needle in a haystack: \(label)", lengths: lengthList, depths: depthList,
                                            scores: grid.scores).svg().utf8))
            print("needle in a haystack, \(label)" + (chat.map { ", asked as a \($0.template.name) chat turn" } ?? "")
                  + " (score: fraction of the answer's words recalled)")
            print("depth  " + lengthList.map { String(format: "%8d", $0) }.joined())
            for (d, depth) in depthList.enumerated() {
                print(String(format: "%4.0f%%  ", depth * 100) + grid.scores[d].map { $0.map { String(format: "%8.2f", $0) } ?? "       -" }.joined())
            }
        }
    }
}
