/// A conversation format: the family a model's `tokenizer.chat_template` belongs to, rendered natively (no Jinja).
/// The families and their names are llama.cpp's built-in ones (`llama_chat_apply_template`), so a name that works
/// with `--chat-template` there works here, and a conversation renders to the same bytes (docs/chat-templates.md).
/// Detection from a template's text is in ChatTemplateDetection.swift, rendering in ChatTemplateRendering.swift.
public enum ChatTemplate: String, CaseIterable, Sendable {
    case chatml
    case llama2
    case llama2Sys = "llama2-sys"
    case llama2SysBOS = "llama2-sys-bos"
    case llama2SysStrip = "llama2-sys-strip"
    case mistralV1 = "mistral-v1"
    case mistralV3 = "mistral-v3"
    case mistralV3Tekken = "mistral-v3-tekken"
    case mistralV7 = "mistral-v7"
    case mistralV7Tekken = "mistral-v7-tekken"
    case phi3
    case phi4
    case falcon3
    case zephyr
    case monarch
    case gemma
    case orion
    case openchat
    case vicuna
    case vicunaOrca = "vicuna-orca"
    case deepseek
    case deepseek2
    case deepseek3
    case deepseekOCR = "deepseek-ocr"
    case commandR = "command-r"
    case llama3
    case chatglm3
    case chatglm4
    case glmedge
    case minicpm
    case exaone3
    case exaone4
    case exaoneMoE = "exaone-moe"
    case rwkvWorld = "rwkv-world"
    case granite
    case granite40 = "granite-4.0"
    case granite41 = "granite-4.1"
    case gigachat
    case megrez
    case yandex
    case bailing
    case bailingThink = "bailing-think"
    case bailing2
    case llama4
    case smolvlm
    case dots1
    case hunyuanMoE = "hunyuan-moe"
    case gptOSS = "gpt-oss"
    case hunyuanDense = "hunyuan-dense"
    case hunyuanVL = "hunyuan-vl"
    case kimiK2 = "kimi-k2"
    case seedOSS = "seed_oss"
    case grok2 = "grok-2"
    case panguEmbedded = "pangu-embedded"
    case solarOpen = "solar-open"

    /// Every name `--chat-template` accepts, sorted.
    public static var names: [String] { allCases.map(\.rawValue).sorted() }

    public var name: String { rawValue }

    /// The family called `name` (llama.cpp's name for it).
    public init(named name: String) throws {
        guard let family = ChatTemplate(rawValue: name) else { throw ChatTemplateError.unknownName(name) }
        self = family
    }

    /// The family to use for a model: `override` (a name) when given, else the family detected in the model's
    /// own template text. A model without a template, or with one no family matches, is an error rather than
    /// llama.cpp's silent ChatML fallback: ChatML markers on a model that never saw them make a prompt the
    /// model cannot follow, and nothing would say so.
    public static func resolve(override: String?, templateText: String?, model: String) throws -> ChatTemplate {
        if let override { return try ChatTemplate(named: override) }
        guard let templateText, !templateText.isEmpty else { throw ChatTemplateError.noTemplate(model: model) }
        guard let family = detect(in: templateText) else {
            throw ChatTemplateError.unrecognised(model: model, opening: String(templateText.prefix(80)))
        }
        return family
    }
}

public enum ChatTemplateError: Error, CustomStringConvertible, Equatable {
    case unknownName(String)
    case noTemplate(model: String)
    case unrecognised(model: String, opening: String)

    public var description: String {
        let known = "known templates: " + ChatTemplate.names.joined(separator: ", ")
        switch self {
        case .unknownName(let name):
            return "unknown chat template '\(name)'; \(known)"
        case .noTemplate(let model):
            return "\(model) has no chat template (no tokenizer.chat_template); name its family with --chat-template NAME (\(known))"
        case .unrecognised(let model, let opening):
            return "the chat template of \(model) matches no known family (it begins \(opening.debugDescription)); "
                + "name its family with --chat-template NAME (\(known))"
        }
    }
}
