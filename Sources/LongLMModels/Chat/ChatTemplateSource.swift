import Foundation

extension ChatTemplate {
    /// The GGUF key of a model's default chat template (a Jinja text, or a family name).
    static let ggufKey = "tokenizer.chat_template"

    /// The chat template text a model file carries: `tokenizer.chat_template` of a GGUF file, or in a Hugging Face
    /// directory `chat_template` of tokenizer_config.json (a text, or a list of named texts of which "default"
    /// is the one llama.cpp's converter keeps) or the chat_template.jinja file newer checkpoints ship instead.
    /// nil: the model has none (base models).
    public static func text(gguf file: GGUFFile) -> String? { file[ggufKey]?.string }

    public static func text(huggingFaceDirectory directory: String) throws -> String? {
        let jinja = (directory as NSString).appendingPathComponent("chat_template.jinja")
        if let data = FileManager.default.contents(atPath: jinja) { return String(decoding: data, as: UTF8.self) }
        let path = (directory as NSString).appendingPathComponent("tokenizer_config.json")
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        switch try JSONFile.object(at: path)["chat_template"] {
        case let text as String: return text
        case let named as [[String: Any]]:
            return named.first { $0["name"] as? String == "default" }?["template"] as? String
        default: return nil
        }
    }

    /// The chat template text of the model at `path` (a .gguf file or a Hugging Face directory), without loading
    /// the weights.
    public static func text(modelAt path: String) throws -> String? {
        switch try ModelLoader.kind(of: path) {
        case .gguf: return text(gguf: try GGUFFile(path: path))
        case .huggingFace: return try text(huggingFaceDirectory: path)
        }
    }
}
