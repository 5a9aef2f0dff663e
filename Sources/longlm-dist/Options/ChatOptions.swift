import ArgumentParser
import LongLMModels

/// Asking an instruct model the way it was trained: the prompt becomes one user turn of the model's chat template
/// (docs/chat-templates.md). Shared by every command that builds a prompt.
struct ChatOptions: ParsableArguments {
    @Flag(help: "Ask the prompt as one user turn in the model's chat template, with the assistant's turn opened (for instruct models).")
    var chat = false

    @Option(help: ArgumentHelp("A system prompt before the user turn (with --chat). Families without a system role fold it into the user turn, as llama.cpp does.", valueName: "text"))
    var system: String?

    @Option(help: ArgumentHelp("The chat template family to use instead of the one detected in the model file, by llama.cpp's names (chatml, gemma, llama3, mistral-v7, phi3, ...; an unknown name lists them all).", valueName: "name"))
    var chatTemplate: String?

    func validate() throws {
        if let chatTemplate { do { _ = try ChatTemplate(named: chatTemplate) } catch { throw ValidationError("--chat-template: \(error)") } }
        // An empty system turn is still a turn in most families; leaving --system out is how to ask for none.
        if system == "" { throw ValidationError("--system is empty; leave it out for no system prompt") }
    }

    /// For commands with one prompt, where --system and --chat-template mean nothing without --chat (batch jobs
    /// may turn chat on themselves).
    func checkChatIsOn() throws {
        if !chat, system != nil || chatTemplate != nil { throw ValidationError("--system and --chat-template need --chat") }
    }

    /// The chat turn for this model, nil without --chat.
    func turn(for loaded: LoadedModel) throws -> ChatTurn? {
        chat ? try turn(for: loaded, system: system) : nil
    }

    /// A chat turn for this model with the given system prompt: --chat-template's family, or the one detected in
    /// the model's own template (an error naming --chat-template when it has none or an unknown one).
    func turn(for loaded: LoadedModel, system: String?) throws -> ChatTurn {
        let template = try ChatTemplate.resolve(override: chatTemplate, templateText: loaded.chatTemplateText, model: loaded.path)
        return ChatTurn(template: template, system: system)
    }
}
