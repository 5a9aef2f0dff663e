import ArgumentParser
import Foundation
import LongLMEval
import LongLMModels

struct Perplexity: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Perplexity of a long text, per 1k-token bucket of context and cumulatively.",
        discussion: """
        The text is tokenized once (BOS first) and its first --limit tokens kept; \
        windows of --max-tokens start every --stride tokens and each scores the tokens no earlier window scored \
        (the Hugging Face sliding-window recipe; the default stride equals the window, so windows do not overlap). \
        Scores are grouped by each token's index in its window, i.e. by how much context it had: the table shows \
        how a method holds up as the context grows past the trained window. Default text: data/kjv.txt \
        (scripts/fetch_text.sh writes it from Debian's bible-kjv package).
        """)

    @OptionGroup var modelOptions: ModelOptions
    @OptionGroup(title: "Context extension") var contextOptions: ContextOptions
    @OptionGroup(title: "Distributed runs (under mpirun)") var parallelOptions: ParallelOptions
    @Option(help: ArgumentHelp("The text to score.", valueName: "file")) var textFile = "data/kjv.txt"
    @Option(help: "Tokens per window (the context length evaluated).") var maxTokens = PerplexityWindow.defaultMaxTokens
    @Option(help: "Tokens between window starts (default: --max-tokens).") var stride: Int?
    @Option(help: "Use only the first N tokens of the text (default: all).") var limit: Int?
    @Option(help: "Bucket width in tokens of context.") var bucket = PerplexityReport.defaultBucketSize
    @Option(help: ArgumentHelp("Append the result (buckets included) as one JSON line.", valueName: "file")) var output: String?
    @Flag(help: "No progress lines on stderr.") var quiet = false

    func validate() throws {
        if maxTokens < 2 { throw ValidationError("--max-tokens must be at least 2") }
        if let stride, !(1...maxTokens).contains(stride) { throw ValidationError("--stride must be in 1...--max-tokens") }
        if let limit, limit < 2 { throw ValidationError("--limit must be at least 2") }
        if bucket < 1 { throw ValidationError("--bucket must be at least 1") }
    }

    func run() throws {
        withRunner(modelOptions: modelOptions, parallelOptions: parallelOptions) { runner, loaded, ranks in
            guard let tokenizer = loaded.tokenizer else { throw ValidationError("\(loaded.path) has no tokenizer") }
            guard FileManager.default.fileExists(atPath: textFile) else {
                throw ValidationError("\(textFile) does not exist" + (textFile == "data/kjv.txt" ? " (run scripts/fetch_text.sh)" : ""))
            }
            let method = try contextOptions.method(for: runner.model.config)
            // Opened (and locked) before the scoring, so that an unwritable output costs nothing.
            let writer = try output.map { try JSONLinesWriter(path: $0) }
            var tokens = try tokenizer.encode(String(contentsOfFile: textFile, encoding: .utf8), addSpecial: true)
            if let limit { tokens = Array(tokens.prefix(limit)) }
            guard tokens.count >= 2 else { throw ValidationError("\(textFile) has fewer than 2 tokens") }
            let windows = PerplexityWindow.plan(tokens: tokens.count, maxTokens: maxTokens, stride: stride ?? maxTokens)
            let label = method.description + (contextOptions.noWindowCheck ? " (no window check)" : "")
            var report = PerplexityReport(bucketSize: bucket)
            let total = windows.reduce(0) { $0 + $1.range.count }
            var finished = 0
            let progress = ProgressReporter(label: "perplexity", quiet: quiet)
            let started = Date()
            for window in windows {
                let nll = try runner.score(
                    ScoringRequest(tokens: Array(tokens[window.range]), scoredFrom: window.scoredFrom, method: method,
                                   checksLength: !contextOptions.noWindowCheck),
                    progress: { done, _ in progress.update(done: finished + done, total: total) })
                finished += window.range.count
                report.add(nll, firstIndex: window.scoredFrom)
            }
            progress.end()
            let seconds = Date().timeIntervalSince(started)
            print("perplexity of \(textFile), \(report.tokens) tokens scored in \(windows.count) window(s) of up to \(maxTokens), \(label)")
            print("context (tokens)     tokens   mean NLL   perplexity   cumulative")
            for b in report.buckets {
                print(String(format: "%7d-%-9d %9d %10.4f %12.3f %12.3f", b.range.lowerBound, b.range.upperBound, b.count, b.meanNLL, b.perplexity, b.cumulativePerplexity))
            }
            print(String(format: "all: perplexity %.3f (mean NLL %.4f), %.1f s", report.perplexity, report.meanNLL, seconds))
            if let writer {
                try writer.append([
                    "kind": "perplexity", "method": label, "text_file": textFile, "tokens": report.tokens, "max_tokens": maxTokens,
                    "stride": stride ?? maxTokens, "windows": windows.count, "perplexity": report.perplexity, "mean_nll": report.meanNLL,
                    "seconds": seconds, "ranks": ranks,
                    "buckets": report.buckets.map { ["from": $0.range.lowerBound, "to": $0.range.upperBound, "tokens": $0.count,
                                                     "mean_nll": $0.meanNLL, "perplexity": $0.perplexity, "cumulative": $0.cumulativePerplexity] },
                ])
            }
        }
    }
}
