import Foundation
import XCTest
@testable import LongLMModels

/// Pins chat-template detection, rendering and chat-prompt tokenization to llama.cpp. Fixtures:
/// Tests/Fixtures/chat-templates, made by scripts/make_chat_template_fixtures.py (SOURCE.json names the
/// llama-cpp-python version and the models' sha256).
final class ChatTemplateTests: XCTestCase {
    private struct Conversation: Decodable {
        struct Message: Decodable { let role: String; let content: String }
        let name: String
        let add_generation_prompt: Bool
        let messages: [Message]

        var chatMessages: [ChatMessage] { messages.map { ChatMessage(ChatRole(rawValue: $0.role)!, $0.content) } }
    }
    private struct Templates: Decodable {
        struct Entry: Decodable { let source: String; let kind: String; let text: String; let family: String? }
        let representatives: [String: String]
        let by_name_only: [String]
        let templates: [Entry]
    }
    private struct ModelTokens: Decodable {
        let family: String
        let ids: [String: [Int32]]
    }

    private static func decode<T: Decodable>(_ type: T.Type, _ name: String) throws -> T {
        try JSONDecoder().decode(type, from: Data(contentsOf: URL(fileURLWithPath: Fixtures.path("chat-templates/" + name))))
    }
    private static let conversations = Result { try decode([Conversation].self, "conversations.json") }
    private static let renderings = Result { try decode([String: [String: String]].self, "renderings.json") }

    /// Compares UTF-8 bytes: `String` equality is canonical equivalence.
    private func assertSameBytes(_ a: String, _ b: String, _ message: @autoclosure () -> String, line: UInt = #line) {
        XCTAssertEqual(Array(a.utf8), Array(b.utf8), message(), line: line)
    }

    // MARK: Rendering

    func testEveryFamilyRendersEveryConversationByteForByteAsLlamaCpp() throws {
        let renderings = try Self.renderings.get()
        let conversations = try Self.conversations.get()
        // The families are exactly llama.cpp's: a family it gains is a fixture change and a new case here.
        XCTAssertEqual(Set(renderings.keys), Set(ChatTemplate.names))
        XCTAssertGreaterThanOrEqual(conversations.count, 10)
        for (name, expected) in renderings {
            let family = try ChatTemplate(named: name)
            for conversation in conversations {
                let got = family.render(conversation.chatMessages, addGenerationPrompt: conversation.add_generation_prompt)
                assertSameBytes(got, try XCTUnwrap(expected[conversation.name]), "\(name), \(conversation.name)")
            }
        }
    }

    func testGenerationPromptOpensTheAssistantTurnOnlyWhenAsked() throws {
        let user = [ChatMessage(.user, "Hi")]
        XCTAssertEqual(ChatTemplate.chatml.render(user, addGenerationPrompt: true), "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n")
        XCTAssertEqual(ChatTemplate.chatml.render(user, addGenerationPrompt: false), "<|im_start|>user\nHi<|im_end|>\n")
        XCTAssertEqual(ChatTemplate.gemma.render(user, addGenerationPrompt: true),
                       "<start_of_turn>user\nHi<end_of_turn>\n<start_of_turn>model\n")
    }

    /// Gemma has no system role: the system text opens the user's turn, followed by a blank line.
    func testGemmaFoldsTheSystemPromptIntoTheFirstUserTurn() {
        let turn = ChatTurn(template: .gemma, system: " Be brief. ")
        XCTAssertEqual(turn.text(user: "Hello"), "<start_of_turn>user\nBe brief.\n\nHello<end_of_turn>\n<start_of_turn>model\n")
    }

    // MARK: Detection

    func testEveryTemplateIsDetectedAsLlamaCppDetectsIt() throws {
        let fixture = try Self.decode(Templates.self, "templates.json")
        XCTAssertGreaterThan(fixture.templates.count, 100)
        for entry in fixture.templates {
            XCTAssertEqual(ChatTemplate.detect(in: entry.text)?.name, entry.family, entry.source)
        }
        // Some real templates belong to no family (llama.cpp then needs --jinja); the detection says so too.
        XCTAssertTrue(fixture.templates.contains { $0.family == nil })
    }

    func testEveryFamilyIsDetectedFromItsRepresentativeTemplateOrIsReachedByNameOnly() throws {
        let fixture = try Self.decode(Templates.self, "templates.json")
        XCTAssertEqual(Set(fixture.representatives.keys).union(fixture.by_name_only), Set(ChatTemplate.names))
        XCTAssertEqual(Set(fixture.by_name_only), ["deepseek-ocr", "mistral-v7-tekken"])
        for (name, source) in fixture.representatives {
            let entry = try XCTUnwrap(fixture.templates.first { $0.source == source })
            XCTAssertEqual(ChatTemplate.detect(in: entry.text)?.name, name, source)
        }
    }

    func testATemplateThatIsAFamilyNameIsThatFamily() {
        for family in ChatTemplate.allCases { XCTAssertEqual(ChatTemplate.detect(in: family.name), family) }
        XCTAssertNil(ChatTemplate.detect(in: "{{ messages }}"))
    }

    func testUnknownNameIsAnErrorListingEveryKnownName() {
        XCTAssertThrowsError(try ChatTemplate(named: "chatml2")) { error in
            let message = String(describing: error)
            XCTAssertTrue(message.contains("'chatml2'"), message)
            for name in ChatTemplate.names { XCTAssertTrue(message.contains(name), "\(name) missing from: \(message)") }
        }
    }

    func testModelWithoutARecognisedTemplateIsAnErrorAskingForChatTemplate() {
        XCTAssertThrowsError(try ChatTemplate.resolve(override: nil, templateText: nil, model: "m.gguf")) { error in
            XCTAssertEqual(error as? ChatTemplateError, .noTemplate(model: "m.gguf"))
            XCTAssertTrue(String(describing: error).contains("--chat-template"))
        }
        XCTAssertThrowsError(try ChatTemplate.resolve(override: nil, templateText: "{{ messages }}", model: "m.gguf")) { error in
            XCTAssertEqual(error as? ChatTemplateError, .unrecognised(model: "m.gguf", opening: "{{ messages }}"))
            XCTAssertTrue(String(describing: error).contains("gemma, gigachat, glmedge"), "lists the known names")
        }
        // A name given by the user wins over the file's template, and the file's template is used otherwise.
        XCTAssertEqual(try ChatTemplate.resolve(override: "gemma", templateText: "<|im_start|>", model: "m.gguf"), .gemma)
        XCTAssertEqual(try ChatTemplate.resolve(override: nil, templateText: "<|im_start|>", model: "m.gguf"), .chatml)
    }

    // MARK: Chat prompts as llama.cpp tokenizes them

    private static let smolLM2Path = Fixtures.repository + "/models/SmolLM2-135M-Instruct.Q4_1.gguf"

    private func tokenizer(_ path: String) throws -> any Tokenizer {
        guard FileManager.default.fileExists(atPath: path) else { throw XCTSkip("run scripts/setup.sh: \(path) is missing") }
        do { return try TokenizerLoader.load(gguf: GGUFFile(path: path)) } catch TokenizerError.unsupportedPreTokenizer(let name, _) {
            throw XCTSkip("the pre-tokenizer '\(name)' of \(path) is not supported yet")
        }
    }

    /// Every conversation rendered in the model's family and tokenized with the chat rule gives llama.cpp's ids
    /// (BOS as the model says, the template's markers as control tokens).
    private func checkChatTokens(model path: String, fixture: String, line: UInt = #line) throws {
        let tokenizer = try tokenizer(path)
        let expected = try XCTUnwrap(try Self.decode([String: ModelTokens].self, "tokens.json")[fixture])
        let family = try ChatTemplate(named: expected.family)
        for conversation in try Self.conversations.get() {
            let text = family.render(conversation.chatMessages, addGenerationPrompt: conversation.add_generation_prompt)
            XCTAssertEqual(try ChatTurn.tokens(rendered: text, tokenizer: tokenizer), expected.ids[conversation.name],
                           conversation.name, line: line)
        }
    }

    func testGemmaChatPromptTokensMatchLlamaCpp() throws {
        try checkChatTokens(model: Fixtures.gemmaModel, fixture: "gemma-3-270m-q4_k_m.gguf")
    }

    /// SmolLM2's BOS is <|im_start|> and it adds none itself: the rendered text's first marker is the only one.
    func testSmolLM2ChatPromptTokensMatchLlamaCpp() throws {
        try checkChatTokens(model: Self.smolLM2Path, fixture: "SmolLM2-135M-Instruct.Q4_1.gguf")
    }

    func testSmolLM2TemplateIsDetectedAsChatML() throws {
        guard FileManager.default.fileExists(atPath: Self.smolLM2Path) else { throw XCTSkip("run scripts/setup.sh") }
        let text = try ChatTemplate.text(modelAt: Self.smolLM2Path)
        XCTAssertEqual(try ChatTemplate.resolve(override: nil, templateText: text, model: Self.smolLM2Path), .chatml)
        XCTAssertNil(try ChatTemplate.text(modelAt: Fixtures.gemmaModel), "the Gemma 3 270M file carries no template")
    }

    func testControlTokensInTheTextBecomeTheirIdsOnlyWithParseSpecial() throws {
        let tokenizer = try tokenizer(Fixtures.gemmaModel)
        let parsed = try tokenizer.encode("<start_of_turn>user", addSpecial: false, parseSpecial: true)
        XCTAssertEqual(parsed.count, 2)
        XCTAssertEqual(tokenizer.decode([parsed[0]]), "", "a control token renders as nothing")
        let plain = try tokenizer.encode("<start_of_turn>user", addSpecial: false)
        XCTAssertGreaterThan(plain.count, 2, "without parse_special the marker is text")
        XCTAssertFalse(plain.contains(parsed[0]))
    }

    /// A rendered text that already starts with BOS gets no second one; the model's rule applies otherwise.
    func testBOSIsAddedOnceAsTheModelSays() {
        struct MarkerTokenizer: Tokenizer {
            var vocabularySize: Int { 100 }
            var bosToken: Int32? { 1 }
            var eosToken: Int32? { 2 }
            var endOfGenerationTokens: Set<Int32> { [2] }
            var addsBOS: Bool { true }
            /// "<s>" is BOS when special tokens are parsed; every other character is one token.
            func encode(_ text: String, addSpecial: Bool, parseSpecial: Bool) -> [Int32] {
                let body = parseSpecial && text.hasPrefix("<s>") ? [1] + encode(String(text.dropFirst(3)), addSpecial: false, parseSpecial: true)
                    : text.unicodeScalars.map { Int32(10 + $0.value % 80) }
                return (addSpecial ? [1] : []) + body
            }
            func decode(_ ids: [Int32]) -> String { "" }
            func pieceBytes(_ id: Int32) -> [UInt8] { [] }
        }
        let tokenizer = MarkerTokenizer()
        let gigachat = ChatTurn(template: .gigachat).text(user: "a")
        XCTAssertTrue(gigachat.hasPrefix("<s>"))
        XCTAssertEqual(Array(try ChatTurn.tokens(rendered: gigachat, tokenizer: tokenizer).prefix(2)), [1, try tokenizer.encode("u", addSpecial: false)[0]])
        XCTAssertEqual(try ChatTurn.tokens(rendered: "ab", tokenizer: tokenizer), [1] + (try tokenizer.encode("ab", addSpecial: false)))
    }

    // MARK: One user turn

    func testEveryFamilyWritesTheUserContentOnceSoTheFrameRebuildsTheTurn() {
        for family in ChatTemplate.allCases {
            for system in [nil, "Be brief."] {
                let turn = ChatTurn(template: family, system: system)
                let (before, after) = turn.textAround()
                assertSameBytes(before + "Question?" + after, turn.text(user: "Question?"), "\(family.name) system \(system ?? "none")")
            }
        }
    }

    func testGemmaFrameIsBOSAndTheTurnMarkersAroundTheContent() throws {
        let tokenizer = try tokenizer(Fixtures.gemmaModel)
        let frame = try ChatTurn(template: .gemma).frame(tokenizer: tokenizer)
        XCTAssertEqual(frame.prefix, try ChatTurn.tokens(rendered: "<start_of_turn>user\n", tokenizer: tokenizer))
        XCTAssertEqual(frame.prefix.first, tokenizer.bosToken)
        XCTAssertEqual(frame.suffix, try tokenizer.encode("<end_of_turn>\n<start_of_turn>model\n", addSpecial: false, parseSpecial: true))
        // With the content tokenized apart the ids equal the whole turn's here (the content starts a new word).
        let content = try tokenizer.encode("What is the pass key?", addSpecial: false)
        XCTAssertEqual(frame.prefix + content + frame.suffix, try ChatTurn(template: .gemma).tokens(user: "What is the pass key?", tokenizer: tokenizer))
    }
}
