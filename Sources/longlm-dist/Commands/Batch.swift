import ArgumentParser
import Foundation
import LongLMDistributed
import LongLMEval
import LongLMModels

struct Batch: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Continue many documents: one job per line of a JSON Lines file, results appended as they finish.",
        discussion: """
        A job line: {"id": "a1", "document": "..." or "document_path": "doc.txt" (relative to the jobs file), \
        "prompt": "Summarise: {document}" (optional template), "max_new_tokens": 64 (optional), \
        "options": {"method": "selfextend", "group_size": 8} or "--method selfextend --group-size 8" (optional; \
        replaces the command line's method options for this job), "chat": true and "system": "..." (optional; the \
        prompt as one user turn of the model's chat template; default --chat and --system)}. Each finished job appends \
        one line to --output with its id, the generated text, token counts, timings and whether it was asked as a chat \
        turn, or an "error" (a bad job never stops the batch). \
        A line is written whole with one append and fsync, so killing the process at any moment loses no finished \
        result; a rerun skips every id already in --output (a line without an id is known by its line number; a \
        repeated id runs once and is reported; an output line that is not a whole result is reported and its job runs \
        again). --output is locked while the batch runs: a second batch on it stops at once, naming the first. \
        max_new_tokens is 1...1000000. Under mpirun rank 0 reads and writes the files. Jobs over the same document \
        ("document_path" as written, or the same "document" text) run back to back in file order, and each reuses the \
        KV cache of the prompt before it as far as the two share a prefix (put {document} first in "prompt" and the \
        question after it): only the question is prefilled again. Each result says how many prompt tokens it reused.
        """)

    @OptionGroup var modelOptions: ModelOptions
    @OptionGroup(title: "Context extension (defaults for jobs without options)") var contextOptions: ContextOptions
    @OptionGroup(title: "Distributed runs (under mpirun)") var parallelOptions: ParallelOptions
    @OptionGroup(title: "Chat (defaults for jobs that do not say)") var chatOptions: ChatOptions
    @Option(help: ArgumentHelp("Jobs, one JSON object per line.", valueName: "file")) var jobs: String
    @Option(help: ArgumentHelp("Results, one JSON object per line (appended).", valueName: "file")) var output: String
    @Option(help: "Tokens to generate for jobs that do not say.") var maxNewTokens = BatchJob.defaultMaxNewTokens
    @Flag(help: "No progress lines on stderr.") var quiet = false

    func validate() throws {
        if !(1...EvaluationLimits.newTokens).contains(maxNewTokens) {
            throw ValidationError("--max-new-tokens must be in 1...\(EvaluationLimits.newTokens)")
        }
    }

    func run() throws {
        withRunner(modelOptions: modelOptions, parallelOptions: parallelOptions, reusesPrefix: true) { runner, loaded, ranks in
            guard let tokenizer = loaded.tokenizer else { throw ValidationError("\(loaded.path) has no tokenizer") }
            guard let data = FileManager.default.contents(atPath: jobs) else { throw ValidationError("cannot read --jobs \(jobs)") }
            let directory = (jobs as NSString).deletingLastPathComponent
            let writer = try JSONLinesWriter(path: output)
            let plan = BatchPlan(jobs: String(decoding: data, as: UTF8.self), output: writer.existing, outputName: output)
            for problem in plan.outputProblems { log("batch: warning: " + problem) }
            for duplicate in plan.duplicates { log("batch: warning: " + duplicate.description) }
            if !quiet && plan.finished > 0 { log("batch: \(plan.finished) job(s) already in \(output)") }
            let stops = Array(tokenizer.endOfGenerationTokens)
            var counts = (done: 0, failed: 0)
            let batchProgress = ProgressReporter(label: "batch", unit: "jobs", quiet: quiet)
            // Jobs over one document run back to back: the second and later reuse its prefill (docs/server.md).
            for (position, line) in BatchPlan.groupedByDocument(plan.pending).enumerated() {
                defer { batchProgress.update(done: position + 1, total: plan.pending.count) }
                let started = Date()
                func record(_ fields: [String: Any]) throws {
                    var object = BatchPlan.identity(of: line).merging(fields) { _, new in new }
                    object["seconds"] = Date().timeIntervalSince(started)
                    object["finished_at"] = ISO8601DateFormatter().string(from: Date())
                    try writer.append(object)
                }
                // Whatever goes wrong with one job (its line, its options, its run) is that job's error line;
                // only the output itself failing ends the batch.
                do {
                    let (text, outcome, method, chat) = try runJob(line, directory: directory, runner: runner, loaded: loaded,
                                                                   tokenizer: tokenizer, stops: stops)
                    var fields: [String: Any] = [
                        "text": text, "prompt_tokens": outcome.promptTokens, "generated_tokens": outcome.ids.count,
                        "prefill_seconds": outcome.prefillSeconds, "decode_seconds": outcome.decodeSeconds,
                        "reused_prompt_tokens": outcome.reusedPromptTokens,
                        "method": method.description, "ranks": ranks, "chat": chat != nil,
                    ]
                    if let chat { fields["chat_template"] = chat.template.name }
                    try record(fields)
                    counts.done += 1
                } catch let failure as JobFailure {
                    try record(["error": failure.message])
                    counts.failed += 1
                }
            }
            batchProgress.end()
            var summary = "batch: \(counts.done) done, \(counts.failed) failed, \(plan.finished) already in \(output)"
            if !plan.duplicates.isEmpty { summary += ", \(plan.duplicates.count) skipped as duplicate ids in \(jobs)" }
            print(summary)
        }
    }

    /// The job's chat turn: its own "chat" and "system", else the command line's; nil for a plain prompt.
    func chatTurn(for job: BatchJob, loaded: LoadedModel) throws -> ChatTurn? {
        guard job.chat ?? chatOptions.chat else {
            if job.system != nil { throw ValidationError("\"system\" needs \"chat\": true (or --chat)") }
            return nil
        }
        return try chatOptions.turn(for: loaded, system: job.system ?? chatOptions.system)
    }

    /// An error of one job, as its result line says it.
    struct JobFailure: Error { var message: String }

    /// Parses, checks and runs one job line. Every error becomes a `JobFailure`.
    func runJob(_ line: BatchPlan.Line, directory: String, runner: any SequenceRunner, loaded: LoadedModel, tokenizer: any Tokenizer,
                stops: [Int32]) throws -> (String, GenerationOutcome, ContextMethod, ChatTurn?) {
        let job: BatchJob
        do { job = try BatchJob.parse(line: line.text, directory: directory) } catch {
            throw JobFailure(message: "jobs line \(line.number): \(error)")
        }
        do {
            // Everything that can be wrong with a job is looked for here, before any rank does work for it.
            var options = contextOptions
            if let arguments = job.options {
                do { options = try ContextOptions.parse(arguments) } catch {
                    throw ValidationError("options: " + ContextOptions.message(for: error).replacingOccurrences(of: "\n", with: " "))
                }
            }
            let method = try options.method(for: runner.model.config)
            let chat = try chatTurn(for: job, loaded: loaded)
            let prompt = try chat?.tokens(user: job.text, tokenizer: tokenizer) ?? tokenizer.encode(job.text, addSpecial: true)
            let request = GenerationRequest(prompt: prompt, maxNewTokens: job.maxNewTokens ?? maxNewTokens,
                                            method: method, checksLength: !options.noWindowCheck, stopTokens: stops)
            try request.check(config: runner.model.config)
            let progress = ProgressReporter(label: "job \(job.id)", quiet: quiet || request.prompt.count < 4096)
            defer { progress.end() }
            let outcome = try runner.generate(request, progress: progress.update)
            let text = tokenizer.decode(outcome.ids.filter { !tokenizer.endOfGenerationTokens.contains($0) })
            return (text, outcome, method, chat)
        } catch let error as CommunicationError {
            throw error   // a lost peer is not this job's fault: the batch stops and a rerun resumes here
        } catch {
            throw JobFailure(message: "\(error)")
        }
    }
}
