import ArgumentParser
import Foundation
import LongLMEval
import LongLMModels

struct Needle: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Needle in a haystack: a grid of prompt lengths x needle depths, scored per cell, with an SVG heatmap.",
        discussion: """
        Each cell hides --needle at its depth in a haystack of --haystack-file's sentences (default: the passkey \
        filler), asks --question (which ends with the first words of the answer), decodes greedily and scores the \
        fraction of --answer's words that come back. Cells already in --output for the same method are skipped, so \
        a rerun resumes; --csv and --svg are rewritten from every finished cell.
        """)

    @OptionGroup var modelOptions: ModelOptions
    @OptionGroup(title: "Context extension") var contextOptions: ContextOptions
    @OptionGroup(title: "Distributed runs (under mpirun)") var parallelOptions: ParallelOptions
    @Option(help: ArgumentHelp("Prompt lengths in tokens, comma separated (x axis).", valueName: "tokens")) var lengths: String
    @Option(help: ArgumentHelp("Needle depths (0 = start, 1 = end), comma separated (y axis).", valueName: "fractions"))
    var depths = "0,0.25,0.5,0.75,1"
    @Option(help: "The sentence hidden in the haystack.")
    var needle = "The best thing to do in San Francisco is eat a sandwich and sit in Dolores Park on a sunny day."
    @Option(help: "The closing question, ending with the first words of the answer.")
    var question = "What is the best thing to do in San Francisco? Answer: The best thing to do in San Francisco is"
    @Option(help: "The expected answer; a cell scores the fraction of its words found in the generated text.")
    var answer = "eat a sandwich and sit in Dolores Park on a sunny day"
    @Option(help: ArgumentHelp("A text whose sentences make the haystack (cycled as needed).", valueName: "file"))
    var haystackFile: String?
    @Option(help: "Tokens to generate per cell.") var maxNewTokens = 24
    @Option(help: ArgumentHelp("Cells as JSON lines (appended; a rerun skips cells already there).", valueName: "file"))
    var output: String
    @Option(help: ArgumentHelp("Also write the grid as CSV.", valueName: "file")) var csv: String?
    @Option(help: ArgumentHelp("Also draw the grid as an SVG heatmap.", valueName: "file")) var svg: String?
    @Flag(help: "No progress lines on stderr.") var quiet = false

    func validate() throws {
        guard let ls = try? parseList(lengths, as: Int.self), ls.allSatisfy({ $0 > 0 }) else {
            throw ValidationError("--lengths must be positive integers, comma separated (got '\(lengths)')")
        }
        guard let ds = try? parseList(depths, as: Double.self), ds.allSatisfy({ (0...1).contains($0) }) else {
            throw ValidationError("--depths must be fractions in 0...1, comma separated (got '\(depths)')")
        }
        if maxNewTokens < 1 { throw ValidationError("--max-new-tokens must be at least 1") }
        if words(answer).isEmpty { throw ValidationError("--answer has no words") }
    }

    func run() throws {
        let lengthList = try parseList(lengths, as: Int.self), depthList = try parseList(depths, as: Double.self)
        withRunner(modelOptions: modelOptions, parallelOptions: parallelOptions) { runner, loaded, ranks in
            guard let tokenizer = loaded.tokenizer else { throw ValidationError("\(loaded.path) has no tokenizer") }
            let method = try contextOptions.method(for: runner.model.config)
            try method.validate(config: runner.model.config)
            let label = method.description + (contextOptions.noWindowCheck ? " (no window check)" : "")
            var sentences = HaystackRecipe.passkey(key: "").sentences
            if let haystackFile {
                sentences = HaystackRecipe.sentences(of: try String(contentsOfFile: haystackFile, encoding: .utf8))
            }
            let recipe = HaystackRecipe(introduction: "Read the following text and answer the question at its end.",
                                        sentences: sentences, needle: needle, question: question)
            let writer = try JSONLinesWriter(path: output)
            var cells = try JSONLinesWriter.read(path: output).filter { ($0["kind"] as? String) == "needle" && ($0["method"] as? String) == label }
            func score(_ length: Int, _ depth: Double) -> Double? {
                cells.last { ($0["length"] as? Int) == length && ($0["depth"] as? Double).map { abs($0 - depth) < 1e-9 } == true }?["score"] as? Double
            }
            let todo = lengthList.flatMap { l in depthList.map { (l, $0) } }.filter { score($0.0, $0.1) == nil }
            if !quiet && todo.count < lengthList.count * depthList.count {
                log("needle: \(lengthList.count * depthList.count - todo.count) cells already in \(output), \(todo.count) to run")
            }
            for (index, (length, depth)) in todo.enumerated() {
                let prompt = try HaystackPrompt.build(recipe, tokenizer: tokenizer, length: length, depth: depth)
                let progress = ProgressReporter(label: "needle cell \(index + 1)/\(todo.count) (\(length) tokens, depth \(depth))", quiet: quiet)
                let started = Date()
                let (text, _) = try askGreedily(runner, tokenizer, prompt.tokens, maxNewTokens: maxNewTokens, method: method,
                                                checksLength: !contextOptions.noWindowCheck, progress: progress)
                let cellScore = recallScore(answer: text, expected: answer)
                let cell: [String: Any] = [
                    "kind": "needle", "method": label, "length": length, "tokens": prompt.tokens.count, "depth": depth,
                    "depth_built": prompt.depth, "needle_token": prompt.needle.lowerBound, "answer": text, "score": cellScore,
                    "seconds": Date().timeIntervalSince(started), "ranks": ranks,
                ]
                try writer.append(cell)
                cells.append(cell)
                if !quiet { progress.message(String(format: "needle %d tokens, depth %.2f: score %.2f, %@", prompt.tokens.count, depth, cellScore, text.debugDescription)) }
            }
            let grid = depthList.map { d in lengthList.map { l in score(l, d) } }
            if let csv {
                var text = "depth," + lengthList.map(String.init).joined(separator: ",") + "\n"
                for (d, depth) in depthList.enumerated() {
                    text += "\(depth)," + grid[d].map { $0.map { String(format: "%.4f", $0) } ?? "" }.joined(separator: ",") + "\n"
                }
                try text.write(toFile: csv, atomically: true, encoding: .utf8)
            }
            if let svg {
                try Heatmap(title: "needle in a haystack: \(label)", lengths: lengthList, depths: depthList, scores: grid)
                    .svg().write(toFile: svg, atomically: true, encoding: .utf8)
            }
            print("needle in a haystack, \(label) (score: fraction of the answer's words recalled)")
            print("depth  " + lengthList.map { String(format: "%8d", $0) }.joined())
            for (d, depth) in depthList.enumerated() {
                print(String(format: "%4.0f%%  ", depth * 100) + grid[d].map { $0.map { String(format: "%8.2f", $0) } ?? "       -" }.joined())
            }
        }
    }
}
