import Foundation
import HTTPTypes
import Hummingbird
import LongLMModels
import NIOCore

/// A request's context with its connection, so that a handler can notice a client that went away while it waits.
struct ConnectionContext: RequestContext {
    var coreContext: CoreRequestContextStorage
    let channel: any Channel

    init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        channel = source.channel
    }
}

/// The HTTP endpoints: OpenAI's completions and chat completions, llama.cpp's native `/completion`, tokenize and
/// detokenize, health, models and metrics. Parsing and response shapes live here; the work is `CompletionService`'s.
struct CompletionRoutes: Sendable {
    let state: ServerState
    let maxBodyBytes: Int

    func register(on router: Router<ConnectionContext>) {
        router.get("health") { _, _ in state.service == nil ? errorResponse(.loading) : json(200, ["status": "ok"]) }
        router.get("v1/models") { _, _ in try withService { models($0) } }
        router.get("metrics") { _, _ in
            Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4"],
                     body: ResponseBody(byteBuffer: ByteBuffer(string: state.metrics.text())))
        }
        router.post("v1/completions") { request, context in
            try await handle(request) { try await openAICompletion($0, $1, chat: false, channel: context.channel) }
        }
        router.post("v1/chat/completions") { request, context in
            try await handle(request) { try await openAICompletion($0, $1, chat: true, channel: context.channel) }
        }
        router.post("completion") { request, context in
            try await handle(request) { try await nativeCompletion($0, $1, channel: context.channel) }
        }
        router.post("tokenize") { request, _ in try await handle(request) { try tokenize($0, $1) } }
        router.post("detokenize") { request, _ in try await handle(request) { try detokenize($0, $1) } }
    }

    // MARK: plumbing

    private func withService(_ body: (CompletionService) throws -> Response) throws -> Response {
        guard let service = state.service else { return errorResponse(.loading) }
        do { return try body(service) } catch let error as APIError { return errorResponse(error) }
    }

    /// Reads the body (413 past the limit), parses it as a JSON object and runs `body`; an `APIError` anywhere
    /// becomes its response.
    private func handle(_ request: Request, _ body: (CompletionService, RequestFields) async throws -> Response) async throws -> Response {
        guard let service = state.service else { return errorResponse(.loading) }
        do {
            let buffer: ByteBuffer
            do {
                buffer = try await request.body.collect(upTo: maxBodyBytes)
            } catch let error as HTTPResponseError where error.status == .contentTooLarge {
                throw APIError.tooLarge(limit: maxBodyBytes)
            }
            let fields = try RequestFields(JSONValue.parse(Array(buffer.readableBytesView)))
            return try await body(service, fields)
        } catch let error as APIError {
            return errorResponse(error)
        }
    }

    // MARK: OpenAI

    private static let samplingFields: Set<String> = [
        "model", "max_tokens", "temperature", "top_p", "top_k", "seed", "stop", "stream", "stream_options", "n", "user",
        "presence_penalty", "frequency_penalty", "logprobs", "logit_bias", "longlm",
    ]

    private func openAICompletion(_ service: CompletionService, _ fields: RequestFields, chat: Bool, channel: any Channel) async throws -> Response {
        let known = Self.samplingFields.union(chat ? ["messages", "max_completion_tokens", "top_logprobs"] : ["prompt", "echo", "suffix", "best_of"])
        try fields.rejectUnknown(known)
        try refuseUnsupported(fields, chat: chat)
        let prompt: [Int32] = chat ? try service.chatTokens(messages(fields)) : try service.promptTokens(fields.value("prompt"), field: "prompt")
        let maxTokens = try fields.int(chat && fields.value("max_completion_tokens") != nil ? "max_completion_tokens" : "max_tokens",
                                       in: 1...1_000_000) ?? (chat ? 512 : 16)
        let parameters = CompletionParameters(
            prompt: prompt, maxTokens: maxTokens,
            temperature: try fields.double("temperature", in: 0...2) ?? 1,
            topK: try fields.int("top_k", in: 0...1_000_000) ?? 0,
            topP: try fields.double("top_p", in: 0...1).map { $0 == 0 ? 1e-9 : $0 } ?? 1,
            seed: UInt64(truncatingIfNeeded: try fields.int("seed", in: Int(Int64.min / 2)...Int(Int64.max / 2)) ?? 0),
            stops: try stops(fields), method: try service.defaults.applying(fields.object("longlm")))
        let stream = try fields.bool("stream") ?? false
        let includeUsage = try fields.object("stream_options").map { options -> Bool in
            try options.rejectUnknown(["include_usage"])
            return try options.bool("include_usage") ?? false
        } ?? false
        let (job, events) = try service.start(parameters)
        let id = (chat ? "chatcmpl-" : "cmpl-") + UUID().uuidString.lowercased()
        let created = JSONValue(Int(Date().timeIntervalSince1970))
        let model = JSONValue.string(state.modelName)
        let object: JSONValue = chat ? "chat.completion" : "text_completion"

        @Sendable func usage(_ s: CompletionSummary) -> JSONValue {
            ["prompt_tokens": JSONValue(s.promptTokens), "completion_tokens": JSONValue(s.completionTokens),
             "total_tokens": JSONValue(s.promptTokens + s.completionTokens),
             "prompt_tokens_details": ["cached_tokens": JSONValue(s.reusedPromptTokens)]]
        }
        @Sendable func choice(text: String, finish: String?, streaming: Bool) -> JSONValue {
            let finishValue = JSONValue(finish)
            if !chat { return ["index": 0, "text": .string(text), "finish_reason": finishValue, "logprobs": nil] }
            let content: JSONValue = ["role": "assistant", "content": .string(text)]
            return streaming ? ["index": 0, "delta": content, "finish_reason": finishValue, "logprobs": nil]
                             : ["index": 0, "message": content, "finish_reason": finishValue, "logprobs": nil]
        }
        @Sendable func envelope(_ choices: [JSONValue], streaming: Bool) -> [String: JSONValue] {
            ["id": .string(id), "object": streaming && chat ? "chat.completion.chunk" : object, "created": created, "model": model,
             "choices": .array(choices)]
        }

        guard stream else {
            switch await finalEvent(events, job: job, channel: channel) {
            case .failed(let error): return errorResponse(error)
            case .finished(let s):
                var body = envelope([choice(text: s.text, finish: s.finishReason, streaming: false)], streaming: false)
                body["usage"] = usage(s)
                body["longlm"] = details(s)
                return json(200, .object(body))
            default: return errorResponse(.server("the request ended without a result"))
            }
        }
        // OpenAI's first chat chunk carries the role.
        let prologue: [JSONValue] = chat ? [.object(envelope([["index": 0, "delta": ["role": "assistant", "content": ""],
                                                               "finish_reason": nil, "logprobs": nil]], streaming: true))] : []
        return eventStream(job: job, events: events, prologue: prologue.map(Self.data), epilogue: ["data: [DONE]"]) { event in
            switch event {
            case .progress(let done, let total):
                return [": prefill \(done)/\(total)"]
            case .text(let piece):
                let delta: JSONValue = chat ? ["index": 0, "delta": ["content": .string(piece)], "finish_reason": nil, "logprobs": nil]
                                            : choice(text: piece, finish: nil, streaming: true)
                return [Self.data(.object(envelope([delta], streaming: true)))]
            case .finished(let s):
                let last: JSONValue = chat ? ["index": 0, "delta": [:], "finish_reason": .string(s.finishReason), "logprobs": nil]
                                           : choice(text: "", finish: s.finishReason, streaming: true)
                var chunk = envelope([last], streaming: true)
                chunk["longlm"] = details(s)
                var lines = [Self.data(.object(chunk))]
                if includeUsage {
                    var usageChunk = envelope([], streaming: true)
                    usageChunk["usage"] = usage(s)
                    lines.append(Self.data(.object(usageChunk)))
                }
                return lines
            case .failed(let error):
                return [Self.data(error.body)]
            }
        }
    }

    private func refuseUnsupported(_ fields: RequestFields, chat: Bool) throws {
        func refuse(_ field: String, _ why: String) -> APIError { .badRequest("'\(field)' \(why) is not supported", param: field) }
        if let n = try fields.int("n", in: 1...1_000_000), n != 1 { throw refuse("n", "other than 1") }
        if try fields.int("best_of", in: 1...1_000_000).map({ $0 != 1 }) == true { throw refuse("best_of", "other than 1") }
        if try fields.bool("echo") == true { throw refuse("echo", "true") }
        if try fields.string("suffix") != nil { throw refuse("suffix", "(insertion)") }
        if let logprobs = fields.value("logprobs"), logprobs != .bool(false) { throw refuse("logprobs", "(token log-probabilities)") }
        if fields.value("top_logprobs") != nil { throw refuse("top_logprobs", "(token log-probabilities)") }
        for penalty in ["presence_penalty", "frequency_penalty"] where try fields.double(penalty, in: -2...2).map({ $0 != 0 }) == true {
            throw refuse(penalty, "other than 0")
        }
        if let bias = try fields.object("logit_bias"), !bias.fields.isEmpty { throw refuse("logit_bias", "(a non-empty bias)") }
        _ = try fields.string("model")   // any model name is accepted: the server has one
        _ = try fields.string("user")
    }

    private func stops(_ fields: RequestFields) throws -> [String] {
        guard let value = fields.value("stop") else { return [] }
        switch value {
        case .string(let s): return [s]
        case .array(let items):
            guard items.count <= 16 else { throw APIError.badRequest("'stop' has \(items.count) strings: at most 16", param: "stop") }
            return try items.enumerated().map { i, item in
                guard case .string(let s) = item else {
                    throw APIError.badRequest("'stop[\(i)]' must be a string, not \(item.kindName)", param: "stop")
                }
                return s
            }
        default: throw APIError.badRequest("'stop' must be a string or an array of strings, not \(value.kindName)", param: "stop")
        }
    }

    private func messages(_ fields: RequestFields) throws -> [ChatMessage] {
        guard let items = try fields.array("messages"), !items.isEmpty else {
            throw APIError.badRequest("'messages' must be a non-empty array", param: "messages")
        }
        return try items.enumerated().map { i, item in
            let message = try RequestFields(item, path: "messages[\(i)].")
            try message.rejectUnknown(["role", "content", "name"])
            guard let roleName = try message.string("role") else { throw APIError.badRequest("'messages[\(i)].role' is required", param: "messages") }
            guard let role = ChatRole(rawValue: roleName == "developer" ? "system" : roleName) else {
                throw APIError.badRequest("'messages[\(i)].role' is '\(roleName)': use system, user or assistant", param: "messages")
            }
            return ChatMessage(role, try content(message, index: i))
        }
    }

    /// A message's content: a string, or an array of text parts (`{"type": "text", "text": ...}`).
    private func content(_ message: RequestFields, index i: Int) throws -> String {
        guard let value = message.value("content") else { throw APIError.badRequest("'messages[\(i)].content' is required", param: "messages") }
        switch value {
        case .string(let s): return s
        case .array(let parts):
            return try parts.enumerated().map { j, part in
                let fields = try RequestFields(part, path: "messages[\(i)].content[\(j)].")
                try fields.rejectUnknown(["type", "text"])
                guard try fields.string("type") == "text", let text = try fields.string("text") else {
                    throw APIError.badRequest("'messages[\(i)].content[\(j)]' must be a text part ({\"type\": \"text\", \"text\": ...})",
                                              param: "messages")
                }
                return text
            }.joined()
        default:
            throw APIError.badRequest("'messages[\(i)].content' must be a string or an array of text parts, not \(value.kindName)",
                                      param: "messages")
        }
    }

    // MARK: llama.cpp's native endpoints

    private func nativeCompletion(_ service: CompletionService, _ fields: RequestFields, channel: any Channel) async throws -> Response {
        try fields.rejectUnknown(["prompt", "n_predict", "temperature", "top_k", "top_p", "seed", "stop", "stream", "return_progress",
                                  "cache_prompt", "longlm", "model"])
        _ = try fields.bool("cache_prompt")   // the prefix is always reused when it can be
        let prompt = try service.promptTokens(fields.value("prompt"), field: "prompt")
        let predict = try fields.int("n_predict", in: -1...1_000_000) ?? -1
        let seed = try fields.int("seed", in: -1...Int(Int64.max / 2)) ?? -1
        let parameters = CompletionParameters(
            prompt: prompt, maxTokens: predict <= 0 ? 512 : predict,
            temperature: try fields.double("temperature", in: 0...2) ?? 0.8,
            topK: try fields.int("top_k", in: 0...1_000_000) ?? 40,
            topP: try fields.double("top_p", in: 0...1).map { $0 == 0 ? 1e-9 : $0 } ?? 0.95,
            seed: seed < 0 ? UInt64.random(in: 0...UInt64.max) : UInt64(seed),
            stops: try stops(fields), method: try service.defaults.applying(fields.object("longlm")))
        let stream = try fields.bool("stream") ?? false
        let progress = try fields.bool("return_progress") ?? false
        let (job, events) = try service.start(parameters)
        let started = Date()

        @Sendable func final(_ s: CompletionSummary) -> [String: JSONValue] {
            let prefilled = s.promptTokens - s.reusedPromptTokens
            return ["content": .string(s.text), "stop": true, "model": .string(state.modelName),
                    "tokens_predicted": JSONValue(s.completionTokens), "tokens_evaluated": JSONValue(s.promptTokens),
                    "tokens_cached": JSONValue(s.reusedPromptTokens),
                    "stop_type": s.finishReason == "length" ? "limit" : "eos", "truncated": false,
                    "timings": ["prompt_n": JSONValue(prefilled), "prompt_ms": JSONValue(s.prefillSeconds * 1000),
                                "prompt_per_second": JSONValue(Double(prefilled) / max(s.prefillSeconds, 1e-9)),
                                "predicted_n": JSONValue(s.completionTokens), "predicted_ms": JSONValue(s.decodeSeconds * 1000),
                                "predicted_per_second": JSONValue(Double(s.completionTokens) / max(s.decodeSeconds, 1e-9))],
                    "longlm": details(s)]
        }
        guard stream else {
            switch await finalEvent(events, job: job, channel: channel) {
            case .failed(let error): return errorResponse(error)
            case .finished(let s): return json(200, .object(final(s)))
            default: return errorResponse(.server("the request ended without a result"))
            }
        }
        return eventStream(job: job, events: events) { event in
            switch event {
            case .progress(let done, let total):
                guard progress else { return [": prefill \(done)/\(total)"] }
                return [Self.data(["content": "", "stop": false,
                                   "prompt_progress": ["total": JSONValue(prompt.count), "processed": JSONValue(done),
                                                       "prefill_total": JSONValue(total),
                                                       "time_ms": JSONValue(Date().timeIntervalSince(started) * 1000)]])]
            case .text(let piece): return [Self.data(["content": .string(piece), "stop": false])]
            case .finished(let s):
                var last = final(s)
                last["content"] = ""
                return [Self.data(.object(last))]
            case .failed(let error): return [Self.data(error.body)]
            }
        }
    }

    private func tokenize(_ service: CompletionService, _ fields: RequestFields) throws -> Response {
        try fields.rejectUnknown(["content", "add_special", "parse_special", "with_pieces"])
        guard let content = try fields.string("content") else { throw APIError.badRequest("'content' is required", param: "content") }
        let ids: [Int32]
        do {
            ids = try service.tokenizer.encode(content, addSpecial: try fields.bool("add_special") ?? false,
                                               parseSpecial: try fields.bool("parse_special") ?? true)
        } catch { throw APIError.server("\(error)") }
        guard try fields.bool("with_pieces") == true else { return json(200, ["tokens": .array(ids.map { JSONValue(Int($0)) })]) }
        return json(200, ["tokens": .array(ids.map { id in
            ["id": JSONValue(Int(id)), "piece": .string(String(decoding: service.tokenizer.pieceBytes(id), as: UTF8.self))]
        })])
    }

    private func detokenize(_ service: CompletionService, _ fields: RequestFields) throws -> Response {
        try fields.rejectUnknown(["tokens"])
        let ids = try service.promptTokens(fields.value("tokens") ?? .array([]), field: "tokens")
        return json(200, ["content": .string(service.tokenizer.decode(ids))])
    }

    private func models(_ service: CompletionService) -> Response {
        let config = service.config
        return json(200, ["object": "list", "data": [[
            "id": .string(state.modelName), "object": "model", "created": JSONValue(Int(state.started.timeIntervalSince1970)),
            "owned_by": "longlm-dist",
            "meta": ["n_ctx_train": JSONValue(config.trainedContext), "n_vocab": JSONValue(config.vocabularySize),
                     "n_layer": JSONValue(config.layerCount), "method": .string(service.defaults.name)],
        ]]])
    }

    // MARK: responses

    private func details(_ s: CompletionSummary) -> JSONValue {
        ["method": .string(s.method), "reused_prompt_tokens": JSONValue(s.reusedPromptTokens),
         "prefill_seconds": JSONValue(s.prefillSeconds), "decode_seconds": JSONValue(s.decodeSeconds)]
    }

    /// Waits for the end of a non-streaming request. The connection is looked at every quarter second meanwhile, and
    /// one the system reports closed (a reset) cancels the job: the HTTP layer does not cancel the handler itself, and
    /// it keeps a connection the client half-closed open, so a normal close is noticed only when the answer is written.
    private func finalEvent(_ events: AsyncStream<CompletionEvent>, job: InferenceJob, channel: any Channel) async -> CompletionEvent? {
        let watcher = Task {
            while !Task.isCancelled {
                try? await Task.sleep(nanoseconds: 250_000_000)
                if !channel.isActive { job.cancel(); return }
            }
        }
        defer { watcher.cancel() }
        var last: CompletionEvent?
        for await event in events {
            switch event {
            case .finished, .failed: last = event
            default: continue
            }
        }
        if case .failed = last { state.metrics.failed.increment() }
        return last
    }

    static func data(_ value: JSONValue) -> String { "data: " + value.text }

    /// A server-sent-events response: `prologue`, then the lines `format` makes of each event (`data: ...` events
    /// and `: ...` comments, which keep the connection checked while a long prompt is prefilled), then `epilogue`.
    /// A failed write (the client went away) cancels the job.
    private func eventStream(job: InferenceJob, events: AsyncStream<CompletionEvent>, prologue: [String] = [], epilogue: [String] = [],
                             format: @escaping @Sendable (CompletionEvent) -> [String]) -> Response {
        let metrics = state.metrics
        return Response(status: .ok, headers: [.contentType: "text/event-stream", .cacheControl: "no-cache"],
                        body: ResponseBody { writer in
            do {
                for line in prologue { try await writer.write(ByteBuffer(string: line + "\n\n")) }
                for await event in events {
                    if case .failed = event { metrics.failed.increment() }
                    for line in format(event) { try await writer.write(ByteBuffer(string: line + "\n\n")) }
                }
                for line in epilogue { try await writer.write(ByteBuffer(string: line + "\n\n")) }
                try await writer.finish(nil)
            } catch {
                job.cancel()
                metrics.failed.increment()
                throw error
            }
        })
    }
}

extension CompletionRoutes {
    fileprivate func json(_ status: Int, _ value: JSONValue, headers: HTTPFields = [:]) -> Response {
        var headers = headers
        headers[.contentType] = "application/json"
        return Response(status: HTTPResponse.Status(code: status), headers: headers,
                        body: ResponseBody(byteBuffer: ByteBuffer(string: value.text)))
    }

    fileprivate func errorResponse(_ error: APIError) -> Response {
        var headers: HTTPFields = [:]
        if let retry = error.retryAfter { headers[HTTPField.Name("Retry-After")!] = String(retry) }
        return json(error.status, error.body, headers: headers)
    }
}
