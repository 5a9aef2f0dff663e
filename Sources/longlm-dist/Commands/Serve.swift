import ArgumentParser
import Foundation
import LongLMCore
import LongLMDistributed
import LongLMModels
import LongLMServer

struct Serve: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "An OpenAI-compatible HTTP server (also llama.cpp's /completion), alone or over every rank under mpirun.",
        discussion: """
            Endpoints: GET /health, /v1/models, /metrics; POST /v1/completions, /v1/chat/completions, /completion, \
            /tokenize, /detokenize. Requests run one at a time in arrival order; at most --queue-size wait. A request \
            may choose its own context extension with an extra object, e.g. \
            "longlm": {"method": "selfextend", "group_size": 8, "window": 4096}; without it the server's options apply. \
            The KV cache of the last request is kept (under mpirun each rank keeps its shard) and a request that \
            shares its prefix prefills only the rest. Under mpirun rank 0 listens and every rank runs each request. SIGTERM or SIGINT stops \
            accepting, cancels the request in flight, and every rank exits 0.
            """)

    @OptionGroup var modelOptions: ModelOptions
    @OptionGroup(title: "Context extension (the default of every request)") var contextOptions: ContextOptions
    @OptionGroup(title: "Distributed runs (under mpirun)") var parallelOptions: ParallelOptions
    @Option(help: "Address to listen on.") var host = "127.0.0.1"
    @Option(help: "Port to listen on (0: any free port, printed at start-up).") var port = 8080
    @Option(help: "Requests that may wait behind the running one; more are answered 503 with Retry-After.") var queueSize = 16
    @Option(help: "Largest request body in bytes; larger ones are answered 413.") var maxBodyBytes = 32 << 20
    @Option(help: "Name reported by /v1/models (default: the model file's name).") var modelName: String?
    @Option(help: ArgumentHelp("The chat template family for /v1/chat/completions instead of the one detected in the model file.",
                               valueName: "name"))
    var chatTemplate: String?
    @Flag(help: "Do not keep the last request's KV cache for reuse (frees its memory between requests).") var noPrefixCache = false
    @Option(help: "Prompt tokens per forward call.") var batchSize = 1024
    @Flag(help: "Run requests even if the memory plan says they do not fit in this node's available memory.") var noMemoryCheck = false

    func validate() throws {
        try OptionRange.check(port, 0...65535, "--port")
        try OptionRange.check(queueSize, 1...100_000, "--queue-size")
        try OptionRange.check(maxBodyBytes, 1024...(1 << 34), "--max-body-bytes")
        try OptionRange.check(batchSize, 1...65536, "--batch-size")
        if let chatTemplate { do { _ = try ChatTemplate(named: chatTemplate) } catch { throw ValidationError("--chat-template: \(error)") } }
        if host.isEmpty { throw ValidationError("--host is empty") }
    }

    func run() throws {
        let underMPI = MPIEnvironment.isUnderMPI
        let job = underMPI ? joinJob(modelOptions: modelOptions, parallelOptions: parallelOptions) : nil
        // Only rank 0 listens; SIGTERM reaches every rank from mpirun, and the others wait for rank 0's stop.
        if let job, job.rank != 0 {
            signal(SIGTERM, SIG_IGN)
            signal(SIGINT, SIG_IGN)
            let loaded = modelOptions.load(in: job)
            let runner = DistributedRunner(model: loaded.model, communicator: job.communicator, layout: parallelOptions.layout,
                                           timeout: parallelOptions.stepTimeout)
            runner.reusesPrefix = !noPrefixCache
            job.orAbort { try runner.serve() }
            log("stopped")
            return
        }
        let name = modelName ?? URL(fileURLWithPath: modelOptions.model).lastPathComponent
        let state = ServerState(modelName: name, metrics: ServerMetrics(ranks: job?.size ?? 1))
        let server = HTTPServer(host: host, port: port, maxBodyBytes: maxBodyBytes, state: state) { [host] port in
            log("listening on http://\(host):\(port)")
        }
        server.start()
        let queue = InferenceQueue(capacity: queueSize)
        let stop = { queue.close(); server.stop() }
        StopSignals.watch([SIGTERM, SIGINT]) { number in
            log("stopping (signal \(number))")
            stop()
        }

        // The model loads while /health answers 503.
        let loaded: LoadedModel
        let runner: any SequenceRunner
        if let job {
            loaded = modelOptions.load(in: job)
            let distributed = DistributedRunner(model: loaded.model, communicator: job.communicator, layout: parallelOptions.layout,
                                                timeout: parallelOptions.stepTimeout)
            distributed.reusesPrefix = !noPrefixCache
            runner = distributed
        } else {
            loaded = modelOptions.load()
            let local = LocalRunner(model: loaded.model, prefillChunk: batchSize)
            local.reusesPrefix = !noPrefixCache
            runner = local
        }
        if server.hasStopped, let error = server.wait() { finish(job, runner, failure: "the HTTP server stopped: \(error)") }
        let config = loaded.model.config
        _ = reportingErrors { try contextOptions.method(for: config, tokens: 1) }   // the server's own options are valid
        let ranks = job?.size ?? 1
        let localRanks = ProcessInfo.processInfo.environment["OMPI_COMM_WORLD_LOCAL_SIZE"].flatMap(Int.init) ?? 1
        let service = reportingErrors {
            try CompletionService(
                runner: runner, loaded: loaded, queue: queue,
                defaults: MethodSettings(name: contextOptions.method, given: contextOptions.given, logN: contextOptions.logn,
                                         checksLength: !contextOptions.noWindowCheck),
                chatTemplateOverride: chatTemplate, metrics: state.metrics,
                memoryCheck: { [modelOptions, batchSize, noMemoryCheck] tokens, method in
                    try memoryCheck(path: modelOptions.model, config: config, tokens: tokens, ranks: ranks, ranksOnThisNode: localRanks,
                                    batchSize: batchSize, method: method, skip: noMemoryCheck)
                },
                onRunnerFailure: { error in
                    // Under mpirun a failed step leaves the ranks out of step: end the job (a bad-logits stop is
                    // agreed by every rank first and is not such a failure).
                    if job != nil && !(error is DecodeLoop.Failure) { fail("a request failed on every rank: \(error)") }
                })
        }
        state.service = service
        log("ready: \(name), \(ranks) rank\(ranks == 1 ? "" : "s"), method \(contextOptions.method)")
        // Idle ranks hear from rank 0 well within their step timeout.
        let idleInterval = min(30, parallelOptions.stepTimeout / 4)
        do {
            try queue.run(idleInterval: idleInterval) {
                if let distributed = runner as? DistributedRunner { try distributed.keepAlive() }
                if server.hasStopped { queue.close() }
            }
        } catch {
            finish(job, runner, failure: "\(error)")
        }
        let failure = server.wait()
        finish(job, runner, failure: failure.map { "the HTTP server stopped: \($0)" })
    }

    /// Releases the other ranks and ends the process: exit 0 after a clean stop, 1 with the message otherwise.
    private func finish(_ job: MPIJob?, _ runner: (any SequenceRunner)?, failure: String?) -> Never {
        if let failure { fail(failure) }
        if let job, let distributed = runner as? DistributedRunner { job.orAbort { try distributed.finish() } }
        log("stopped")
        Foundation.exit(0)
    }
}
