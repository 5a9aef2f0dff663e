import XCTest
import Foundation

/// `--chat` end to end: the prompt the model sees is the turn llama.cpp renders and tokenizes (fixtures:
/// Tests/Fixtures/chat-templates, made by scripts/make_chat_template_fixtures.py), and chat runs are recorded and
/// resumed apart from plain ones.
extension CLITests {
    static let smolLM2 = repository + "/models/SmolLM2-135M-Instruct.Q4_1.gguf"

    /// llama.cpp's chat ids for the Gemma model, per fixture conversation.
    func gemmaChatIds() throws -> [String: [Int]] {
        let url = URL(fileURLWithPath: Self.repository + "/Tests/Fixtures/chat-templates/tokens.json")
        let fixture = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: [String: Any]])
        let gemma = try XCTUnwrap(fixture["gemma-3-270m-q4_k_m.gguf"])
        XCTAssertEqual(gemma["family"] as? String, "gemma")
        return try XCTUnwrap(gemma["ids"] as? [String: [Int]])
    }

    /// The ids `--show-prompt` printed.
    func shownPromptIds(_ r: Result) throws -> [Int] {
        let line = try XCTUnwrap(r.stderr.split(separator: "\n").first { $0.hasPrefix("prompt ids (") }, r.stderr)
        return try XCTUnwrap(line.split(separator: " ").last).split(separator: ",").map { try XCTUnwrap(Int($0)) }
    }

    func testGenerateChatFeedsTheGemmaTurnAsLlamaCppTokenizesIt() throws {
        guard FileManager.default.fileExists(atPath: Self.gemma) else { throw XCTSkip("run scripts/setup.sh") }
        let expected = try gemmaChatIds()
        // The fixture conversations "user-only" and "system-and-user", asked through the command line.
        let cases: [(String, [String])] = [
            ("user-only", ["--prompt", "What is the capital of France?"]),
            ("system-and-user", ["--prompt", "Hello", "--system", "You are a helpful assistant."]),
        ]
        for (conversation, arguments) in cases {
            let r = try run(["generate", "--model", Self.gemma, "--chat", "--chat-template", "gemma", "--show-prompt",
                             "--max-new-tokens", "2", "--greedy", "--json"] + arguments)
            XCTAssertEqual(r.status, 0, r.stderr)
            XCTAssertEqual(try shownPromptIds(r), expected[conversation], conversation)
            XCTAssertTrue(r.stderr.contains("prompt text (gemma): \"<start_of_turn>user\\n"), r.stderr)
            let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
            XCTAssertEqual(object["prompt_tokens"] as? Int, expected[conversation]?.count)
            XCTAssertEqual(object["chat"] as? Bool, true)
            XCTAssertEqual(object["chat_template"] as? String, "gemma")
        }
        // Without --chat the same text is a plain prompt: BOS and the text, no turn markers.
        let plain = try run(["generate", "--model", Self.gemma, "--prompt", "Hello", "--show-prompt", "--max-new-tokens", "1", "--json"])
        XCTAssertEqual(plain.status, 0, plain.stderr)
        XCTAssertEqual(try shownPromptIds(plain).count, 2)
        XCTAssertFalse(plain.stderr.contains("prompt text"))
    }

    func testChatWithoutAUsableTemplateIsAOneLineErrorListingTheNames() throws {
        guard FileManager.default.fileExists(atPath: Self.gemma) else { throw XCTSkip("run scripts/setup.sh") }
        // The Gemma 3 270M file carries no template: --chat asks for a family instead of guessing one.
        let none = try run(["generate", "--model", Self.gemma, "--chat", "--prompt", "Hi", "--max-new-tokens", "1"])
        assertOneLineError(none, mentions: "--chat-template")
        XCTAssertTrue(none.stderr.contains("gemma, gigachat, glmedge"), none.stderr)
        let unknown = try run(["generate", "--model", Self.gemma, "--chat", "--chat-template", "gemma4", "--prompt", "Hi"])
        assertOneLineError(unknown, mentions: "unknown chat template 'gemma4'")
        XCTAssertTrue(unknown.stderr.contains("chatml"), unknown.stderr)
        assertOneLineError(try run(["generate", "--model", Self.gemma, "--chat", "--tokens", "2,3"]), mentions: "--chat needs a text prompt")
        assertOneLineError(try run(["generate", "--model", Self.gemma, "--system", "Be brief.", "--prompt", "Hi"]), mentions: "need --chat")
        assertOneLineError(try run(["passkey", "--model", Self.tools, "--length", "180", "--chat-template", "chatml"]), mentions: "need --chat")
    }

    func testInfoNamesTheChatTemplateOrSaysItNeedsOne() throws {
        guard FileManager.default.fileExists(atPath: Self.gemma), FileManager.default.fileExists(atPath: Self.smolLM2) else {
            throw XCTSkip("run scripts/setup.sh")
        }
        let gemma = try run(["info", "--model", Self.gemma])
        XCTAssertEqual(gemma.status, 0, gemma.stderr)
        XCTAssertTrue(gemma.stdout.contains("chat template:    none in the file (--chat needs --chat-template NAME)"), gemma.stdout)
        let smol = try run(["info", "--model", Self.smolLM2])
        XCTAssertEqual(smol.status, 0, smol.stderr)
        XCTAssertTrue(smol.stdout.contains("chat template:    chatml (detected in the file's template)"), smol.stdout)
    }

    func testChatPasskeyAndNeedleRunsAreRecordedAndResumedApartFromPlainOnes() throws {
        let passkeyOutput = temporaryPath(".jsonl"), needleOutput = temporaryPath(".jsonl")
        let chat = ["--chat", "--chat-template", "chatml", "--system", "Answer with the number."]
        let passkey = ["passkey", "--model", Self.tools, "--length", "300", "--trials", "1", "--quiet", "--output", passkeyOutput] + Self.selfExtend
        let needle = ["needle", "--model", Self.tools, "--lengths", "300", "--depths", "0.5", "--max-new-tokens", "4", "--quiet",
                      "--output", needleOutput] + Self.selfExtend
        for arguments in [passkey, needle] {
            XCTAssertEqual(try run(arguments).status, 0)
            let r = try run(arguments + chat)
            XCTAssertEqual(r.status, 0, r.stderr)
            XCTAssertTrue(r.stdout.contains("asked as a chatml chat turn"), r.stdout)
            // A rerun of either finds its own record.
            XCTAssertEqual(try run(arguments + chat).status, 0)
            XCTAssertEqual(try run(arguments).status, 0)
        }
        for output in [passkeyOutput, needleOutput] {
            let records = try jsonLines(output)
            XCTAssertEqual(records.map { $0["chat"] as? Bool }, [false, true], output)
            guard records.count == 2 else { continue }
            XCTAssertEqual(records[1]["chat_template"] as? String, "chatml")
            XCTAssertEqual(records[1]["system"] as? String, "Answer with the number.")
            XCTAssertNil(records[0]["chat_template"])
        }
    }

    func testBatchJobsAskAsAChatTurnWhenTheySaySo() throws {
        let jobs = temporaryPath(".jsonl"), output = temporaryPath(".jsonl")
        let lines = [
            #"{"id": "plain", "document": "Tell me a story about a cat."}"#,
            #"{"id": "chat", "document": "Tell me a story about a cat.", "chat": true, "system": "Be brief."}"#,
            #"{"id": "system-without-chat", "document": "Hi", "system": "Be brief."}"#,
            #"{"id": "bad-chat", "document": "Hi", "chat": "yes"}"#,
        ]
        try (lines.joined(separator: "\n") + "\n").write(toFile: jobs, atomically: true, encoding: .utf8)
        let r = try run(["batch", "--model", Self.tools, "--jobs", jobs, "--output", output, "--max-new-tokens", "3",
                         "--chat-template", "chatml", "--quiet"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let results = Dictionary(uniqueKeysWithValues: try jsonLines(output).map { ($0["id"] as! String, $0) })
        XCTAssertEqual(results["plain"]?["chat"] as? Bool, false)
        XCTAssertEqual(results["chat"]?["chat"] as? Bool, true)
        XCTAssertEqual(results["chat"]?["chat_template"] as? String, "chatml")
        // The turn adds its markers and the system prompt around the same document.
        XCTAssertGreaterThan(try XCTUnwrap(results["chat"]?["prompt_tokens"] as? Int), try XCTUnwrap(results["plain"]?["prompt_tokens"] as? Int) + 5)
        XCTAssertTrue((results["system-without-chat"]?["error"] as? String)?.contains("\"chat\": true") == true, "\(results)")
        XCTAssertTrue((results["bad-chat"]?["error"] as? String)?.contains("\"chat\" must be true or false") == true, "\(results)")
        // --chat on the command line makes chat the default of jobs that do not say.
        let defaulted = temporaryPath(".jsonl")
        XCTAssertEqual(try run(["batch", "--model", Self.tools, "--jobs", jobs, "--output", defaulted, "--max-new-tokens", "3",
                                "--chat", "--chat-template", "chatml", "--quiet"]).status, 0)
        let second = Dictionary(uniqueKeysWithValues: try jsonLines(defaulted).map { ($0["id"] as! String, $0) })
        XCTAssertEqual(second["plain"]?["chat"] as? Bool, true)
        XCTAssertEqual(second["system-without-chat"]?["chat"] as? Bool, true)
    }
}
