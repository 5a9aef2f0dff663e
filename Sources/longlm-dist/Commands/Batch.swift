import ArgumentParser
import Foundation
import LongLMEval
import LongLMModels

struct Batch: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Continue many documents: one job per line of a JSON Lines file, results appended as they finish.",
        discussion: """
        A job line: {"id": "a1", "document": "..." or "document_path": "doc.txt" (relative to the jobs file), \
        "prompt": "Summarise: {document}" (optional template), "max_new_tokens": 64 (optional), \
        "options": {"method": "selfextend", "group_size": 8} or "--method selfextend --group-size 8" (optional; \
        replaces the command line's method options for this job)}. Each finished job appends one line to --output \
        with its id, the generated text, token counts and timings, or an "error" (a bad job never stops the batch). \
        A line is written whole with one append and fsync, so killing the process at any moment loses no finished \
        result; a rerun skips every id already in --output. Under mpirun rank 0 reads and writes the files.
        """)

    @OptionGroup var modelOptions: ModelOptions
    @OptionGroup(title: "Context extension (defaults for jobs without options)") var contextOptions: ContextOptions
    @OptionGroup(title: "Distributed runs (under mpirun)") var parallelOptions: ParallelOptions
    @Option(help: ArgumentHelp("Jobs, one JSON object per line.", valueName: "file")) var jobs: String
    @Option(help: ArgumentHelp("Results, one JSON object per line (appended).", valueName: "file")) var output: String
    @Option(help: "Tokens to generate for jobs that do not say.") var maxNewTokens = 64
    @Flag(help: "No progress lines on stderr.") var quiet = false

    func validate() throws {
        if maxNewTokens < 1 { throw ValidationError("--max-new-tokens must be at least 1") }
    }

    func run() throws {
        withRunner(modelOptions: modelOptions, parallelOptions: parallelOptions) { runner, loaded, ranks in
            guard let tokenizer = loaded.tokenizer else { throw ValidationError("\(loaded.path) has no tokenizer") }
            guard let data = FileManager.default.contents(atPath: jobs) else { throw ValidationError("cannot read --jobs \(jobs)") }
            let directory = (jobs as NSString).deletingLastPathComponent
            let lines = String(decoding: data, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false)
                .map { $0.trimmingCharacters(in: .whitespaces) }
            let writer = try JSONLinesWriter(path: output)
            var finished = Set(try JSONLinesWriter.read(path: output).compactMap { $0["id"] as? String })
            let jobLines = lines.enumerated().filter { !$0.element.isEmpty }
            let todo = jobLines.count
            if !quiet && !finished.isEmpty { log("batch: \(finished.count) job(s) already in \(output)") }
            let stops = Array(tokenizer.endOfGenerationTokens)
            var counts = (done: 0, failed: 0, skipped: 0)
            let batchProgress = ProgressReporter(label: "batch", unit: "jobs", quiet: quiet)
            for (position, (index, line)) in jobLines.enumerated() {
                defer { batchProgress.update(done: position + 1, total: todo) }
                let started = Date()
                func record(_ object: [String: Any]) throws {
                    var object = object
                    object["seconds"] = Date().timeIntervalSince(started)
                    object["finished_at"] = ISO8601DateFormatter().string(from: Date())
                    try writer.append(object)
                    finished.insert(object["id"] as! String)
                }
                let job: BatchJob
                do { job = try BatchJob.parse(line: line, directory: directory) } catch let failure as BatchJob.Failure {
                    let id = failure.id ?? "line \(index + 1)"
                    if finished.contains(id) { counts.skipped += 1; continue }
                    try record(["id": id, "error": "jobs line \(index + 1): \(failure.message)"])
                    counts.failed += 1
                    continue
                }
                if finished.contains(job.id) { counts.skipped += 1; continue }
                // Everything that can be wrong with a job is found here, before any rank does work for it.
                let request: GenerationRequest
                let method: ContextMethod
                do {
                    var options = contextOptions
                    if let arguments = job.options {
                        do { options = try ContextOptions.parse(arguments) } catch {
                            throw ValidationError("options: " + ContextOptions.message(for: error).replacingOccurrences(of: "\n", with: " "))
                        }
                    }
                    method = try options.method(for: runner.model.config)
                    let ids = tokenizer.encode(job.text, addSpecial: true)
                    request = GenerationRequest(prompt: ids, maxNewTokens: job.maxNewTokens ?? maxNewTokens, method: method,
                                                checksLength: !options.noWindowCheck, stopTokens: stops)
                    try request.check(config: runner.model.config)
                } catch {
                    try record(["id": job.id, "error": "\(error)"])
                    counts.failed += 1
                    continue
                }
                let progress = ProgressReporter(label: "job \(job.id)", quiet: quiet || request.prompt.count < 4096)
                let outcome = try runner.generate(request, progress: progress.update)
                progress.end()
                let text = tokenizer.decode(outcome.ids.filter { !tokenizer.endOfGenerationTokens.contains($0) })
                try record(["id": job.id, "text": text, "prompt_tokens": outcome.promptTokens, "generated_tokens": outcome.ids.count,
                            "prefill_seconds": outcome.prefillSeconds, "decode_seconds": outcome.decodeSeconds,
                            "method": method.description, "ranks": ranks])
                counts.done += 1
            }
            batchProgress.end()
            print("batch: \(counts.done) done, \(counts.failed) failed, \(counts.skipped) already in \(output)")
        }
    }
}
