import Foundation

/// A prompt asked the way an instruct model expects: one user turn in the model's conversation format, after an
/// optional system prompt, with the assistant's turn opened for the answer.
public struct ChatTurn: Sendable, Equatable {
    public var template: ChatTemplate
    public var system: String?

    public init(template: ChatTemplate, system: String? = nil) {
        self.template = template
        self.system = system
    }

    public func messages(user: String) -> [ChatMessage] {
        (system.map { [ChatMessage(.system, $0)] } ?? []) + [ChatMessage(.user, user)]
    }

    /// The conversation as text, the generation prompt appended.
    public func text(user: String) -> String {
        template.render(messages(user: user), addGenerationPrompt: true)
    }

    /// The turn's token ids, as llama.cpp tokenizes a rendered chat prompt (`ChatTurn.tokens(rendered:tokenizer:)`).
    public func tokens(user: String, tokenizer: any Tokenizer) throws -> [Int32] {
        try Self.tokens(rendered: text(user: user), tokenizer: tokenizer)
    }

    /// The ids of a rendered conversation. llama.cpp tokenizes a chat prompt with `add_special` (BOS when the
    /// model's `add_bos_token` says so) and `parse_special` (the template's markers become their control tokens).
    /// Two refinements, both what llama.cpp's own Jinja chat path does to the rendered text: no BOS is added when
    /// the text already starts with it (GigaChat's renderer writes `<s>` itself; plain tokenizing would give two
    /// BOS), and no EOS is appended even for a model whose metadata asks for one (the answer has yet to come).
    public static func tokens(rendered: String, tokenizer: any Tokenizer) throws -> [Int32] {
        let body = try tokenizer.encode(rendered, addSpecial: false, parseSpecial: true)
        guard tokenizer.addsBOS, let bos = tokenizer.bosToken, body.first != bos else { return body }
        return [bos] + body
    }

    /// The turn's ids around its user content, for a prompt whose content is built from separately tokenized
    /// pieces (the haystack prompts, which must know the needle's token position): `prefix + content + suffix`
    /// is the turn, with the content tokenized as plain text (`addSpecial: false`). Content with leading or
    /// trailing white space would be trimmed by some families' renderers; the pieces are taken as they are.
    public func frame(tokenizer: any Tokenizer) throws -> ChatFrame {
        let (before, after) = textAround()
        return ChatFrame(prefix: try Self.tokens(rendered: before, tokenizer: tokenizer),
                         suffix: try tokenizer.encode(after, addSpecial: false, parseSpecial: true))
    }

    /// The rendered text before and after the user's content.
    func textAround() -> (before: String, after: String) {
        // Every family writes the user's content exactly once and changes nothing inside it except trimming
        // white space at its ends, which this marker has none of.
        let marker = "\u{1}user content\u{1}"
        let parts = text(user: marker).components(separatedBy: marker)
        precondition(parts.count == 2, "\(template.name) must render the user's content exactly once")
        return (parts[0], parts[1])
    }
}

/// The token ids of a chat turn before and after its user content.
public struct ChatFrame: Sendable, Equatable {
    public let prefix: [Int32]
    public let suffix: [Int32]

    public init(prefix: [Int32], suffix: [Int32]) {
        self.prefix = prefix
        self.suffix = suffix
    }
}
