import Foundation

/// One line of a batch jobs file: `{"id": "...", "document": "..." | "document_path": "...", "prompt": "...{document}...",
/// "max_new_tokens": N, "options": {...} | "...", "chat": true, "system": "..."}`. `options` are the command's method
/// options for this job (`{"method": "selfextend", "group_size": 8}` or `"--method selfextend --group-size 8"`); when
/// given they replace the command line's method options. `chat` asks the prompt as one user turn in the model's chat
/// template, after `system` if given; both default to the command line's `--chat` and `--system`.
public struct BatchJob: Equatable {
    /// Tokens to generate for a job that does not say (the command's default).
    public static let defaultMaxNewTokens = 64
    public var id: String
    /// The prompt text: the template with the document substituted (or the document itself).
    public var text: String
    public var maxNewTokens: Int?
    /// Method options as command-line arguments, nil when the job has none.
    public var options: [String]?
    /// Whether to ask the prompt as a chat turn, and the system prompt; nil when the job does not say.
    public var chat: Bool?
    public var system: String?

    public struct Failure: Error, CustomStringConvertible {
        /// The job's id when the line has one.
        public var id: String?
        public var message: String
        public var description: String { message }
    }

    /// The id of a line, when it is a JSON object with a non-empty "id" string (whatever else is wrong with it).
    public static func id(ofLine line: String) -> String? {
        guard let object = (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any],
              let id = object["id"] as? String, !id.isEmpty else { return nil }
        return id
    }

    /// What identifies a line's document without reading it: its `document_path` as written, or its `document` text;
    /// nil for a line that is not a job object or names neither.
    public static func documentKey(ofLine line: String) -> String? {
        guard let object = (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any] else { return nil }
        if let path = object["document_path"] as? String { return "path:" + path }
        if let text = object["document"] as? String { return "text:" + text }
        return nil
    }

    /// Parses one line; `directory` resolves a relative `document_path`.
    public static func parse(line: String, directory: String) throws -> BatchJob {
        guard let object = (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any] else {
            throw Failure(id: nil, message: "not a JSON object")
        }
        guard let id = object["id"] as? String, !id.isEmpty else {
            throw Failure(id: nil, message: "the job has no \"id\" string")
        }
        func failure(_ message: String) -> Failure { Failure(id: id, message: message) }
        let known: Set<String> = ["id", "document", "document_path", "prompt", "max_new_tokens", "options", "chat", "system"]
        if let unknown = object.keys.filter({ !known.contains($0) }).sorted().first {
            throw failure("unknown field \"\(unknown)\" (known: \(known.sorted().joined(separator: ", ")))")
        }
        let document: String
        switch (object["document"], object["document_path"]) {
        case (let text as String, nil): document = text
        case (nil, let path as String):
            let full = path.hasPrefix("/") ? path : (directory as NSString).appendingPathComponent(path)
            guard let data = FileManager.default.contents(atPath: full) else { throw failure("cannot read document_path \(full)") }
            guard let text = String(data: data, encoding: .utf8) else { throw failure("document_path \(full) is not UTF-8 text") }
            document = text
        case (nil, nil): throw failure("the job needs \"document\" or \"document_path\"")
        case (.some, .some): throw failure("give \"document\" or \"document_path\", not both")
        default: throw failure("\"document\" and \"document_path\" must be strings")
        }
        var text = document
        if let value = object["prompt"] {
            guard let template = value as? String else { throw failure("\"prompt\" must be a string") }
            guard template.contains("{document}") else { throw failure("\"prompt\" must contain {document}") }
            text = template.replacingOccurrences(of: "{document}", with: document)
        }
        var maxNewTokens: Int?
        if let value = object["max_new_tokens"] {
            guard let n = value as? Int, !isJSONBoolean(value), (1...EvaluationLimits.newTokens).contains(n) else {
                throw failure("\"max_new_tokens\" must be an integer in 1...\(EvaluationLimits.newTokens)")
            }
            maxNewTokens = n
        }
        var options: [String]?
        switch object["options"] {
        case nil: break
        case let line as String: options = line.split(whereSeparator: \.isWhitespace).map(String.init)
        case let dictionary as [String: Any]:
            options = []
            for key in dictionary.keys.sorted() {
                let flag = "--" + key.replacingOccurrences(of: "_", with: "-")
                let value = dictionary[key]
                if isJSONBoolean(value) {
                    if value as? Bool == true { options!.append(flag) }
                    continue
                }
                switch value {
                // "--flag=value": a value starting with "-" (a negative number) would otherwise read as a flag.
                case let s as String: options!.append(flag + "=" + s)
                case let n as NSNumber: options!.append(flag + "=" + n.stringValue)
                default: throw failure("option \"\(key)\" must be a string, number or boolean")
                }
            }
        default: throw failure("\"options\" must be an object or a string")
        }
        var chat: Bool?
        if let value = object["chat"] {
            guard isJSONBoolean(value), let flag = value as? Bool else { throw failure("\"chat\" must be true or false") }
            chat = flag
        }
        var system: String?
        if let value = object["system"] {
            // "" would be a system turn with nothing in it; leaving the field out is how to ask for none.
            guard let text = value as? String, !text.isEmpty else { throw failure("\"system\" must be a non-empty string") }
            system = text
        }
        return BatchJob(id: id, text: text, maxNewTokens: maxNewTokens, options: options, chat: chat, system: system)
    }
}
