extension ChatTemplate {
    /// The family of a chat template's text, by the markers llama.cpp looks for (`llm_chat_detect_template`), in
    /// its order: the first rule that matches wins, so a rule only needs to tell its family from those after it
    /// (Phi-4 and SmolVLM are ChatML-like templates with one extra marker, so they come before ChatML). A text
    /// that is itself a family name is that family. nil: no family matches. `mistral-v7-tekken` and
    /// `deepseek-ocr` have no markers and are reached by name only.
    public static func detect(in text: String) -> ChatTemplate? {
        if let named = ChatTemplate(rawValue: text) { return named }
        let markers = TemplateMarkers(text)
        return detectionRules.first { $0.matches(markers) }?.family
    }

    private struct Rule {
        let family: ChatTemplate
        let matches: (TemplateMarkers) -> Bool
    }

    /// Mistral-style `[INST]` templates: llama.cpp's test is "starts with 'mistral' or contains [INST]".
    private static func isInstStyle(_ t: TemplateMarkers) -> Bool { t.startsWith("mistral") || t.has("[INST]") }

    /// The official Mistral v1/v3/v3-tekken templates, told from Llama 2 ones by their system-message or tool markers.
    private static func isOfficialMistral(_ t: TemplateMarkers) -> Bool {
        isInstStyle(t) && !t.has("[SYSTEM_PROMPT]") && (t.has("' [INST] ' + system_message") || t.has("[AVAILABLE_TOOLS]"))
    }

    /// Llama 2 templates: `[INST]` without the official Mistral markers.
    private static func isLlama2Style(_ t: TemplateMarkers) -> Bool {
        isInstStyle(t) && !t.has("[SYSTEM_PROMPT]") && !isOfficialMistral(t)
    }

    private static let detectionRules: [Rule] = [
        Rule(family: .phi4) { $0.has("<|im_start|>") && $0.has("<|im_sep|>") },
        Rule(family: .smolvlm) { $0.has("<|im_start|>") && $0.has("<end_of_utterance>") },
        Rule(family: .chatml) { $0.has("<|im_start|>") },
        Rule(family: .mistralV7) { isInstStyle($0) && $0.has("[SYSTEM_PROMPT]") },
        Rule(family: .mistralV1) { isOfficialMistral($0) && $0.has(" [INST]") },
        Rule(family: .mistralV3Tekken) { isOfficialMistral($0) && $0.has("\"[INST]\"") },
        Rule(family: .mistralV3) { isOfficialMistral($0) },
        Rule(family: .llama2SysStrip) { isLlama2Style($0) && $0.has("content.strip()") },
        Rule(family: .llama2SysBOS) { isLlama2Style($0) && $0.has("bos_token + '[INST]") },
        Rule(family: .llama2Sys) { isLlama2Style($0) && $0.has("<<SYS>>") },
        Rule(family: .llama2) { isLlama2Style($0) },
        Rule(family: .phi3) { $0.has("<|assistant|>") && $0.has("<|end|>") },
        Rule(family: .chatglm4) { $0.has("[gMASK]<sop>") },
        Rule(family: .exaoneMoE) { $0.has("<|assistant|>") && $0.has("<|user|>") && $0.has("<|tool_declare|>") },
        Rule(family: .falcon3) { $0.has("<|assistant|>") && $0.has("<|user|>") && $0.has("</s>") },
        Rule(family: .glmedge) { $0.has("<|assistant|>") && $0.has("<|user|>") },
        Rule(family: .glmedge) { $0.has("<|{{ item['role'] }}|>") && $0.has("<|begin_of_image|>") },
        Rule(family: .zephyr) { $0.has("<|user|>") && $0.has("<|endoftext|>") },
        Rule(family: .monarch) { $0.has("bos_token + message['role']") },
        Rule(family: .gemma) { $0.has("<start_of_turn>") },
        Rule(family: .orion) { $0.has(#"'\n\nAssistant: ' + eos_token"#) },
        Rule(family: .openchat) { $0.has("GPT4 Correct ") },
        Rule(family: .vicunaOrca) { $0.has("USER: ") && $0.has("ASSISTANT: ") && $0.has("SYSTEM: ") },
        Rule(family: .vicuna) { $0.has("USER: ") && $0.has("ASSISTANT: ") },
        Rule(family: .deepseek) { $0.has("### Instruction:") && $0.has("<|EOT|>") },
        Rule(family: .commandR) { $0.has("<|START_OF_TURN_TOKEN|>") && $0.has("<|USER_TOKEN|>") },
        Rule(family: .llama3) { $0.has("<|start_header_id|>") && $0.has("<|end_header_id|>") },
        Rule(family: .chatglm3) { $0.has("[gMASK]sop") },
        Rule(family: .minicpm) { $0.has("<用户>") },
        Rule(family: .deepseek2) { $0.has("'Assistant: ' + message['content'] + eos_token") },
        Rule(family: .deepseek3) { $0.has("<｜Assistant｜>") && $0.has("<｜User｜>") && $0.has("<｜end▁of▁sentence｜>") },
        Rule(family: .exaone4) { $0.has("[|system|]") && $0.has("[|assistant|]") && $0.has("[|endofturn|]") && $0.has("[|tool|]") },
        Rule(family: .exaone3) { $0.has("[|system|]") && $0.has("[|assistant|]") && $0.has("[|endofturn|]") },
        Rule(family: .rwkvWorld) { $0.has("rwkv-world") || $0.has(#"{{- 'User: ' + message['content']|trim + '\n\n' -}}"#) },
        Rule(family: .granite40) { $0.has("<|start_of_role|>") && ($0.has("<tool_call>") || $0.has("<tools>")) && $0.has("g4_default_system_message") },
        Rule(family: .granite41) { $0.has("<|start_of_role|>") && ($0.has("<tool_call>") || $0.has("<tools>")) },
        Rule(family: .granite) { $0.has("<|start_of_role|>") },
        Rule(family: .gigachat) {
            $0.has("message['role'] + additional_special_tokens[0] + message['content'] + additional_special_tokens[1]")
        },
        Rule(family: .megrez) { $0.has("<|role_start|>") },
        Rule(family: .yandex) { $0.has(" Ассистент:") },
        Rule(family: .bailing) { $0.has("<role>ASSISTANT</role>") && $0.has("'HUMAN'") },
        Rule(family: .bailingThink) { $0.has("<role>ASSISTANT</role>") && $0.has("\"HUMAN\"") && $0.has("<think>") },
        Rule(family: .bailing2) { $0.has("<role>ASSISTANT</role>") && $0.has("<role>HUMAN</role>") && $0.has("<|role_end|>") },
        Rule(family: .llama4) { $0.has("<|header_start|>") && $0.has("<|header_end|>") },
        Rule(family: .dots1) { $0.has("<|endofuserprompt|>") },
        Rule(family: .hunyuanMoE) { $0.has("<|extra_0|>") && $0.has("<|extra_4|>") },
        Rule(family: .gptOSS) { $0.has("<|start|>") && $0.has("<|channel|>") },
        Rule(family: .hunyuanVL) { $0.has("<｜hy_Assistant｜>") && $0.has("<｜hy_begin▁of▁sentence｜>") },
        Rule(family: .hunyuanDense) { $0.has("<｜hy_Assistant｜>") && $0.has("<｜hy_place▁holder▁no▁3｜>") },
        Rule(family: .kimiK2) { $0.has("<|im_assistant|>assistant<|im_middle|>") },
        Rule(family: .seedOSS) { $0.has("<seed:bos>") },
        Rule(family: .grok2) { $0.has("'Assistant: '  + message['content'] + '<|separator|>") },
        Rule(family: .panguEmbedded) { $0.has("[unused9]系统：[unused10]") },
        Rule(family: .solarOpen) { $0.has("<|begin|>") && $0.has("<|end|>") && $0.has("<|content|>") },
    ]
}

/// A template's text as UTF-8 bytes: markers are matched byte for byte, as llama.cpp's `std::string::find` does
/// (Swift's String comparison would treat canonically equivalent characters as equal).
private struct TemplateMarkers {
    let bytes: [UInt8]

    init(_ text: String) { bytes = Array(text.utf8) }

    func startsWith(_ marker: String) -> Bool { bytes.starts(with: marker.utf8) }

    func has(_ marker: String) -> Bool {
        let needle = Array(marker.utf8)
        guard !needle.isEmpty, needle.count <= bytes.count else { return needle.isEmpty }
        let first = needle[0]
        var i = 0
        while i + needle.count <= bytes.count {
            if bytes[i] == first && bytes[i..<(i + needle.count)].elementsEqual(needle) { return true }
            i += 1
        }
        return false
    }
}
