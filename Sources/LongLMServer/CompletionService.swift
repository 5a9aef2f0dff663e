import Foundation
import LongLMCore
import LongLMModels

/// How requests place positions unless they say otherwise: the server's `--method` and its parameters.
public struct MethodSettings: Sendable {
    public var name: String
    public var given: MethodArguments
    public var logN: Bool
    /// Refuse sequences longer than the method allows (`--no-window-check` turns it off).
    public var checksLength: Bool

    public init(name: String, given: MethodArguments, logN: Bool, checksLength: Bool) {
        self.name = name
        self.given = given
        self.logN = logN
        self.checksLength = checksLength
    }

    /// The parameters a request's `longlm` object may carry, beside `method`, `logn` and `check_window`: the
    /// command-line names with underscores (`group_size` for `--group-size`).
    static var parameterFields: Set<String> {
        Set(ContextMethod.registry.flatMap { $0.parameterNames }.map { $0.replacingOccurrences(of: "-", with: "_") })
    }

    /// These settings with a request's `longlm` object applied: naming a method replaces the server's method and
    /// its parameters; parameters alone are added to the server's method.
    func applying(_ fields: RequestFields?) throws -> MethodSettings {
        guard let fields else { return self }
        try fields.rejectUnknown(Self.parameterFields.union(["method", "logn", "check_window"]))
        var settings = self
        if let name = try fields.string("method") {
            guard ContextMethod.type(named: name) != nil else {
                throw APIError.badRequest("'longlm.method' is '\(name)': use one of \(ContextMethod.names.joined(separator: ", "))",
                                          param: "longlm.method")
            }
            settings.name = name
            settings.given = MethodArguments()
        }
        settings.logN = try fields.bool("logn") ?? settings.logN
        settings.checksLength = try fields.bool("check_window") ?? settings.checksLength
        for key in fields.fields.keys.sorted() where Self.parameterFields.contains(key) {
            guard let value = fields.value(key) else { continue }
            switch value {
            case .string(let s): settings.given.values[key.replacingOccurrences(of: "_", with: "-")] = s
            case .number(let d):
                settings.given.values[key.replacingOccurrences(of: "_", with: "-")] = d == d.rounded() && abs(d) < 9e15 ? String(Int64(d)) : String(d)
            default: throw fields.wrongType(key, "a number or a string", value)
            }
        }
        return settings
    }
}

/// One completion as the HTTP layer asks for it: prompt ids, sampling, stops, and positions.
struct CompletionParameters {
    var prompt: [Int32]
    var maxTokens: Int
    var temperature: Double
    var topK: Int
    var topP: Double
    var seed: UInt64
    var stops: [String]
    var method: MethodSettings
}

/// What a running completion reports, in order: progress while the prompt is prefilled, text as it is generated,
/// then exactly one of `finished` or `failed`.
enum CompletionEvent: Sendable {
    case progress(done: Int, total: Int)
    case text(String)
    case finished(CompletionSummary)
    case failed(APIError)
}

struct CompletionSummary: Sendable {
    var text: String
    var promptTokens: Int
    var completionTokens: Int
    var reusedPromptTokens: Int
    /// "stop" (a stop token or string) or "length" (max_tokens reached).
    var finishReason: String
    var prefillSeconds: Double
    var decodeSeconds: Double
    var method: String
    /// Under mpirun, each rank's seconds blocked on the ring in the prefill.
    var ringBlockedSeconds: [Double]?
}

/// Turns requests into jobs for the inference thread and their events into an async stream for the HTTP layer.
public final class CompletionService: @unchecked Sendable {
    let runner: any SequenceRunner
    let loaded: LoadedModel
    let tokenizer: any Tokenizer
    let queue: InferenceQueue
    let defaults: MethodSettings
    let metrics: ServerMetrics
    /// The chat template family (`--chat-template`, else the one detected in the model file); nil: chat requests are
    /// refused with the reason.
    let chatTemplate: Result<ChatTemplate, Error>
    /// Called on the inference thread when the runner fails in a way that leaves it unusable (under mpirun: a
    /// rank is gone); it is expected not to return.
    let onRunnerFailure: (Error) -> Void
    /// Checked before a request is queued: throws when its sequence does not fit in memory.
    let memoryCheck: (Int, ContextMethod) throws -> Void

    public init(runner: any SequenceRunner, loaded: LoadedModel, queue: InferenceQueue, defaults: MethodSettings,
                chatTemplateOverride: String?, metrics: ServerMetrics,
                memoryCheck: @escaping (Int, ContextMethod) throws -> Void = { _, _ in },
                onRunnerFailure: @escaping (Error) -> Void) throws {
        guard let tokenizer = loaded.tokenizer else {
            throw APIError.server("the model file carries no tokenizer; the server needs one")
        }
        self.runner = runner
        self.loaded = loaded
        self.tokenizer = tokenizer
        self.queue = queue
        self.defaults = defaults
        self.metrics = metrics
        self.memoryCheck = memoryCheck
        self.onRunnerFailure = onRunnerFailure
        chatTemplate = Result {
            try ChatTemplate.resolve(override: chatTemplateOverride, templateText: loaded.chatTemplateText, model: loaded.path)
        }
    }

    var config: ModelConfig { loaded.model.config }

    /// The method for a request of `tokens` tokens (prompt plus generated), parameters chosen for the length
    /// where the settings leave them out.
    func method(_ settings: MethodSettings, tokens: Int) throws -> ContextMethod {
        do {
            return try ContextMethod.fitted(name: settings.name, given: settings.given, logN: settings.logN, config: config,
                                            tokens: tokens).method
        } catch {
            throw APIError.badRequest("longlm: \(error)", param: "longlm")
        }
    }

    /// Checks a request and queues it. The stream ends after `finished` or `failed`; `job` cancels it.
    func start(_ parameters: CompletionParameters) throws -> (job: InferenceJob, events: AsyncStream<CompletionEvent>) {
        guard !parameters.prompt.isEmpty else { throw APIError.badRequest("the prompt is empty", param: "prompt") }
        let total = parameters.prompt.count + parameters.maxTokens - 1
        let method = try self.method(parameters.method, tokens: total)
        let request = GenerationRequest(prompt: parameters.prompt, maxNewTokens: parameters.maxTokens, method: method,
                                        checksLength: parameters.method.checksLength,
                                        stopTokens: Array(tokenizer.endOfGenerationTokens).sorted())
        do {
            try request.check(config: config)
        } catch ContextMethod.Failure.promptTooLong(let tokens, let maximum, let hint) {
            // The check counts the answer's positions too: say so, in the request's own terms.
            throw APIError.badRequest("the prompt (\(parameters.prompt.count) tokens) and max_tokens (\(parameters.maxTokens)) need \(tokens) "
                                      + "positions, but this method allows at most \(maximum)" + (hint.isEmpty ? "" : "; \(hint)"), param: "prompt")
        } catch let failure as ContextMethod.Failure {
            throw APIError.badRequest("\(failure)", param: "prompt")
        }
        do { try memoryCheck(total, method) } catch { throw APIError.badRequest("\(error)", param: "prompt") }
        let (events, continuation) = AsyncStream<CompletionEvent>.makeStream()
        let job = InferenceJob(work: { [self] job in run(request, parameters, job: job, events: continuation) },
                               drop: { continuation.yield(.failed(.shuttingDown)); continuation.finish() })
        guard queue.submit(job) else {
            metrics.rejected.increment()
            throw queue.isClosed ? APIError.shuttingDown : APIError.queueFull(capacity: queue.capacity)
        }
        metrics.queueDepth.set(Double(queue.depth))
        return (job, events)
    }

    /// Runs on the inference thread.
    private func run(_ request: GenerationRequest, _ parameters: CompletionParameters, job: InferenceJob,
                     events: AsyncStream<CompletionEvent>.Continuation) {
        defer { events.finish() }
        metrics.queueDepth.set(Double(queue.depth))
        guard !job.isCancelled else { events.yield(.failed(.shuttingDown)); return }
        var text = GeneratedText(stops: parameters.stops)
        let stopTokens = Set(request.stopTokens)
        let sampler = parameters.temperature <= 0 ? Sampler.greedy
            : Sampler(temperature: Float(parameters.temperature), topK: parameters.topK, topP: Float(parameters.topP), seed: parameters.seed)
        let callbacks = CompletionCallbacks(
            progress: { done, total in events.yield(.progress(done: done, total: total)) },
            isCancelled: { job.isCancelled },
            onToken: { [tokenizer] token, _ in
                if stopTokens.contains(token) { return false }
                let released = text.add(tokenizer.pieceBytes(token))
                if !released.isEmpty { events.yield(.text(released)) }
                return !text.stopped && !job.isCancelled
            })
        let outcome: GenerationOutcome
        do {
            outcome = try runner.complete(request, sampler: sampler, callbacks: callbacks)
        } catch is GenerationCancelled {
            events.yield(.failed(whyCancelled))
            return
        } catch let failure as ContextMethod.Failure {
            events.yield(.failed(.badRequest("\(failure)", param: "prompt")))
            return
        } catch {
            events.yield(.failed(.server("\(error)")))
            onRunnerFailure(error)
            return
        }
        if job.isCancelled {
            events.yield(.failed(whyCancelled))
            return
        }
        let rest = text.finish()
        if !rest.isEmpty { events.yield(.text(rest)) }
        let stoppedByToken = outcome.ids.last.map(stopTokens.contains) ?? false
        let summary = CompletionSummary(
            text: text.text, promptTokens: outcome.promptTokens, completionTokens: outcome.ids.count,
            reusedPromptTokens: outcome.reusedPromptTokens,
            finishReason: stoppedByToken || text.stopped ? "stop" : "length",
            prefillSeconds: outcome.prefillSeconds, decodeSeconds: outcome.decodeSeconds, method: request.method.description,
            ringBlockedSeconds: outcome.ringBlockedSeconds)
        metrics.record(summary)
        events.yield(.finished(summary))
    }

    /// The error a cancelled request ends with: the server is stopping, or its client went away.
    private var whyCancelled: APIError {
        queue.isClosed ? .shuttingDown : APIError(status: 499, message: "cancelled", type: "cancelled")
    }

    // MARK: prompts

    /// A completion prompt: a string (tokenized as llama.cpp's server does, with BOS and control tokens parsed),
    /// an array of token ids, or an array holding one string.
    func promptTokens(_ value: JSONValue?, field: String) throws -> [Int32] {
        guard let value else { throw APIError.badRequest("'\(field)' is required", param: field) }
        switch value {
        case .string(let text):
            return try encode(text)
        case .array(let items):
            if items.count == 1, case .string(let text) = items[0] { return try encode(text) }
            var ids: [Int32] = []
            for (i, item) in items.enumerated() {
                guard case .number(let d) = item, d == d.rounded(), d >= 0, d < Double(config.vocabularySize) else {
                    throw APIError.badRequest("'\(field)[\(i)]' must be a token id from 0 to \(config.vocabularySize - 1) "
                                              + "(an array prompt is one list of ids, or one string)", param: field)
                }
                ids.append(Int32(d))
            }
            return ids
        default:
            throw APIError.badRequest("'\(field)' must be a string or an array of token ids, not \(value.kindName)", param: field)
        }
    }

    func encode(_ text: String) throws -> [Int32] {
        do { return try tokenizer.encode(text, addSpecial: true, parseSpecial: true) } catch {
            throw APIError.server("\(error)")
        }
    }

    /// A chat conversation rendered by the model's template and tokenized as llama.cpp does.
    func chatTokens(_ messages: [ChatMessage]) throws -> [Int32] {
        let template: ChatTemplate
        switch chatTemplate {
        case .success(let t): template = t
        case .failure(let error): throw APIError.badRequest("chat is unavailable for this model: \(error)", param: "messages")
        }
        do {
            return try ChatTurn.tokens(rendered: template.render(messages, addGenerationPrompt: true), tokenizer: tokenizer)
        } catch {
            throw APIError.server("\(error)")
        }
    }
}
