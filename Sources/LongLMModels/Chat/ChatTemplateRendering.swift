extension ChatTemplate {
    /// The conversation as the family writes it, byte for byte what llama.cpp's `llama_chat_apply_template` gives
    /// for the same messages (Tests/Fixtures/chat-templates). `addGenerationPrompt` appends the opening of the
    /// assistant's turn; families whose llama.cpp renderer has none (Orion, MiniCPM, Mistral, Hunyuan, ...)
    /// ignore it, and RWKV World opens the assistant's turn after a final user message either way.
    /// Families without a system role fold it in as llama.cpp does (docs/chat-templates.md lists the rules).
    public func render(_ messages: [ChatMessage], addGenerationPrompt: Bool) -> String {
        let (body, generationPrompt) = parts(messages)
        return addGenerationPrompt ? body + generationPrompt : body
    }

    /// The rendered messages, and the text that opens the assistant's turn ("" for families without one).
    private func parts(_ messages: [ChatMessage]) -> (String, String) {
        /// Each message in its own wrapper, joined.
        func turns(_ turn: (ChatMessage) -> String) -> String { messages.map(turn).joined() }
        /// Each message with its index (a few families treat the first or last message apart).
        func indexedTurns(_ turn: (Int, ChatMessage) -> String) -> String { messages.enumerated().map(turn).joined() }

        switch self {
        case .chatml:
            return (turns { "<|im_start|>\($0.role.rawValue)\n\($0.content)<|im_end|>\n" }, "<|im_start|>assistant\n")
        case .phi3:
            return (turns { "<|\($0.role.rawValue)|>\n\($0.content)<|end|>\n" }, "<|assistant|>\n")
        case .phi4:
            return (turns { "<|im_start|>\($0.role.rawValue)<|im_sep|>\($0.content)<|im_end|>" }, "<|im_start|>assistant<|im_sep|>")
        case .falcon3:
            return (turns { "<|\($0.role.rawValue)|>\n\($0.content)\n" }, "<|assistant|>\n")
        case .zephyr:
            return (turns { "<|\($0.role.rawValue)|>\n\($0.content)<|endoftext|>\n" }, "<|assistant|>\n")
        case .llama3:
            return (turns { "<|start_header_id|>\($0.role.rawValue)<|end_header_id|>\n\n\(trim($0.content))<|eot_id|>" },
                    "<|start_header_id|>assistant<|end_header_id|>\n\n")
        case .llama4:
            return (turns { "<|header_start|>\($0.role.rawValue)<|header_end|>\n\n\(trim($0.content))<|eot|>" },
                    "<|header_start|>assistant<|header_end|>\n\n")
        case .granite, .granite40, .granite41:
            // The three differ only for tool-call turns, which these messages never are.
            return (turns { "<|start_of_role|>\($0.role.rawValue)<|end_of_role|>\($0.content)<|end_of_text|>\n" },
                    "<|start_of_role|>assistant<|end_of_role|>")
        case .megrez:
            return (turns { "<|role_start|>\($0.role.rawValue)<|role_end|>\($0.content)<|turn_end|>" }, "<|role_start|>assistant<|role_end|>")
        case .gptOSS:
            return (turns { "<|start|>\($0.role.rawValue)<|message|>\($0.content)" + ($0.role == .assistant ? "<|return|>" : "<|end|>") },
                    "<|start|>assistant")
        case .seedOSS:
            return (turns { "<seed:bos>\($0.role.rawValue)\n" + ($0.role == .assistant ? trim($0.content) : $0.content) + "<seed:eos>" },
                    "<seed:bos>assistant\n")
        case .solarOpen:
            return (turns { "<|begin|>\($0.role.rawValue)<|content|>\($0.content)<|end|>" }, "<|begin|>assistant")
        case .chatglm3:
            return ("[gMASK]sop" + turns { "<|\($0.role.rawValue)|>\n \($0.content)" }, "<|assistant|>")
        case .chatglm4:
            return ("[gMASK]<sop>" + turns { "<|\($0.role.rawValue)|>\n\($0.content)" }, "<|assistant|>\n")
        case .glmedge:
            return (turns { "<|\($0.role.rawValue)|>\n\($0.content)" }, "<|assistant|>")
        case .commandR:
            let token: [ChatRole: String] = [.system: "SYSTEM", .user: "USER", .assistant: "CHATBOT"]
            return (turns { "<|START_OF_TURN_TOKEN|><|\(token[$0.role]!)_TOKEN|>\(trim($0.content))<|END_OF_TURN_TOKEN|>" },
                    "<|START_OF_TURN_TOKEN|><|CHATBOT_TOKEN|>")
        case .exaone3, .exaone4:
            // A user turn has no end-of-turn marker in EXAONE's format; the two differ only for tool turns.
            return (turns {
                switch $0.role {
                case .system: return "[|system|]\(trim($0.content))[|endofturn|]\n"
                case .user: return "[|user|]\(trim($0.content))\n"
                case .assistant: return "[|assistant|]\(trim($0.content))[|endofturn|]\n"
                }
            }, "[|assistant|]")
        case .exaoneMoE:
            return (turns { "<|\($0.role.rawValue)|>\n\(trim($0.content))<|endofturn|>\n" }, "<|assistant|>\n")
        case .kimiK2:
            return (turns { "<|im_\($0.role.rawValue)|>\($0.role.rawValue)<|im_middle|>\($0.content)<|im_end|>" },
                    "<|im_assistant|>assistant<|im_middle|>")
        case .dots1:
            return (turns {
                switch $0.role {
                case .system: return "<|system|>\($0.content)<|endofsystem|>"
                case .user: return "<|userprompt|>\($0.content)<|endofuserprompt|>"
                case .assistant: return "<|response|>\($0.content)<|endofresponse|>"
                }
            }, "<|response|>")
        case .deepseek:
            return (turns {
                switch $0.role {
                case .system: return $0.content
                case .user: return "### Instruction:\n\($0.content)\n"
                case .assistant: return "### Response:\n\($0.content)\n<|EOT|>\n"
                }
            }, "### Response:\n")
        case .deepseek2:
            return (turns {
                switch $0.role {
                case .system: return "\($0.content)\n\n"
                case .user: return "User: \($0.content)\n\n"
                case .assistant: return "Assistant: \($0.content)<｜end▁of▁sentence｜>"
                }
            }, "Assistant:")
        case .deepseek3:
            return (turns {
                switch $0.role {
                case .system: return "\($0.content)\n\n"
                case .user: return "<｜User｜>\($0.content)"
                case .assistant: return "<｜Assistant｜>\($0.content)<｜end▁of▁sentence｜>"
                }
            }, "<｜Assistant｜>")
        case .deepseekOCR:
            return (turns { $0.content }, "")
        case .vicuna, .vicunaOrca:
            return (turns {
                switch $0.role {
                case .system: return self == .vicunaOrca ? "SYSTEM: \($0.content)\n" : "\($0.content)\n\n"
                case .user: return "USER: \($0.content)\n"
                case .assistant: return "ASSISTANT: \($0.content)</s>\n"
                }
            }, "ASSISTANT:")
        case .openchat:
            return (turns {
                $0.role == .system ? "\($0.content)<|end_of_turn|>"
                    : "GPT4 Correct \($0.role.rawValue.prefix(1).uppercased() + $0.role.rawValue.dropFirst()): \($0.content)<|end_of_turn|>"
            }, "GPT4 Correct Assistant:")
        case .grok2:
            return (turns {
                switch $0.role {
                case .system: return "System: \(trim($0.content))<|separator|>\n\n"
                case .user: return "Human: \(trim($0.content))<|separator|>\n\n"
                case .assistant: return "Assistant: \($0.content)<|separator|>\n\n"
                }
            }, "Assistant:")
        case .bailing, .bailingThink:
            return (turns { "<role>\(bailingRole($0.role))</role>\($0.content)" },
                    "<role>ASSISTANT</role>" + (self == .bailingThink ? "<think>" : ""))
        case .bailing2:
            // Without a system turn first, Ling 2.0's format opens with one that turns thinking off.
            let opening = messages.first?.role == .system ? "" : "<role>SYSTEM</role>detailed thinking off<|role_end|>"
            return (opening + turns { "<role>\(bailingRole($0.role))</role>\($0.content)<|role_end|>" }, "<role>ASSISTANT</role>")
        case .smolvlm:
            // SmolVLM's BOS is <|im_start|>, written once; the turns are not ChatML.
            return ("<|im_start|>" + turns {
                switch $0.role {
                case .system: return "\($0.content)\n\n"
                case .user: return "User: \($0.content)<end_of_utterance>\n"
                case .assistant: return "Assistant: \($0.content)<end_of_utterance>\n"
                }
            }, "Assistant:")
        case .monarch:
            // BOS opens every turn but the first: the tokenizer adds the first one.
            return (indexedTurns { ($0 == 0 ? "" : "<s>") + "\($1.role.rawValue)\n\($1.content)</s>\n" }, "<s>assistant\n")
        case .minicpm:
            return (turns { $0.role == .user ? "<用户>\(trim($0.content))<AI>" : trim($0.content) }, "")
        case .rwkvWorld:
            // "\n\n" ends a turn for RWKV World; the assistant's turn opens after the last message when it is the user's.
            return (indexedTurns { index, message in
                switch message.role {
                case .system: return "System: \(trim(message.content))\n\n"
                case .user: return "User: \(trim(message.content))\n\n" + (index == messages.count - 1 ? "Assistant:" : "")
                case .assistant: return "Assistant: \(trim(message.content))\n\n"
                }
            }, "")
        case .yandex:
            // No system role: a system message is left out.
            return (turns {
                switch $0.role {
                case .system: return ""
                case .user: return " Пользователь: \($0.content)\n\n"
                case .assistant: return " Ассистент: \($0.content)\n\n"
                }
            }, " Ассистент:[SEP]")
        case .gigachat:
            // Only a first system message is kept, right after BOS.
            let hasSystem = messages.first?.role == .system
            let opening = "<s>" + (hasSystem ? messages[0].content + "<|message_sep|>" : "")
            return (opening + turns {
                switch $0.role {
                case .system: return ""
                case .user: return "user<|role_sep|>\($0.content)<|message_sep|>available functions<|role_sep|>[]<|message_sep|>"
                case .assistant: return "assistant<|role_sep|>\($0.content)<|message_sep|>"
                }
            }, "assistant<|role_sep|>")
        case .hunyuanMoE:
            return (turns {
                switch $0.role {
                case .system: return "<|startoftext|>\($0.content)<|extra_4|>"
                case .assistant: return "\($0.content)<|eos|>"
                case .user: return "<|startoftext|>\($0.content)<|extra_0|>"
                }
            }, "")
        case .hunyuanDense:
            // Only a first system message is kept; a user turn ends by opening the assistant's.
            return (indexedTurns { index, message in
                switch message.role {
                case .system: return index == 0 ? "\(message.content)<｜hy_place▁holder▁no▁3｜>" : ""
                case .assistant: return "<｜hy_Assistant｜>\(message.content)<｜hy_place▁holder▁no▁2｜>"
                case .user: return "<｜hy_User｜>\(message.content)<｜hy_Assistant｜>"
                }
            }, "")
        case .hunyuanVL:
            return ("<｜hy_begin▁of▁sentence｜>" + indexedTurns { index, message in
                switch message.role {
                case .system: return index == 0 ? "\(message.content)<｜hy_place▁holder▁no▁3｜>" : ""
                case .user: return "\(message.content)<｜hy_User｜>"
                case .assistant: return "\(message.content)<｜hy_Assistant｜>"
                }
            }, "")
        case .panguEmbedded:
            // An empty system turn opens a conversation that has none.
            let opening = messages.first.map { $0.role == .system ? "" : "[unused9]系统：[unused10]" } ?? ""
            let label: [ChatRole: String] = [.system: "系统", .user: "用户", .assistant: "助手"]
            return (opening + turns { "[unused9]\(label[$0.role]!)：\($0.content)[unused10]" }, "[unused9]助手：")
        case .gemma:
            return (gemmaBody(messages), "<start_of_turn>model\n")
        case .orion:
            return (orionBody(messages), "")
        case .mistralV7, .mistralV7Tekken:
            let space = self == .mistralV7 ? " " : ""
            return (turns {
                switch $0.role {
                case .system: return "[SYSTEM_PROMPT]\(space)\($0.content)[/SYSTEM_PROMPT]"
                case .user: return "[INST]\(space)\($0.content)[/INST]"
                case .assistant: return "\(space)\($0.content)</s>"
                }
            }, "")
        case .mistralV1, .mistralV3, .mistralV3Tekken:
            return (mistralBody(messages), "")
        case .llama2, .llama2Sys, .llama2SysBOS, .llama2SysStrip:
            return (llama2Body(messages), "")
        }
    }

    /// Gemma has no system role: system text (trimmed, concatenated) opens the next user turn, followed by a
    /// blank line. The assistant is called "model".
    private func gemmaBody(_ messages: [ChatMessage]) -> String {
        var out = "", system = ""
        for message in messages {
            if message.role == .system { system += trim(message.content); continue }
            let role = message.role == .assistant ? "model" : message.role.rawValue
            out += "<start_of_turn>\(role)\n"
            if !system.isEmpty && message.role != .assistant {
                out += system + "\n\n"
                system = ""
            }
            out += trim(message.content) + "<end_of_turn>\n"
        }
        return out
    }

    /// Orion has no system role: system text opens the next user turn, followed by a blank line; every user
    /// turn already opens the assistant's ("Assistant: </s>").
    private func orionBody(_ messages: [ChatMessage]) -> String {
        var out = "", system = ""
        for message in messages {
            switch message.role {
            case .system:
                system += message.content
            case .user:
                out += "Human: "
                if !system.isEmpty { out += system + "\n\n"; system = "" }
                out += message.content + "\n\nAssistant: </s>"
            case .assistant:
                out += message.content + "</s>"
            }
        }
        return out
    }

    /// Mistral's official v1, v3 and v3-tekken formats: one [INST] block per exchange, the system text inside
    /// the block before the user's, an answer closes the block. They differ in the spaces around [INST] and
    /// whether the answer is trimmed (v3).
    private func mistralBody(_ messages: [ChatMessage]) -> String {
        let leading = self == .mistralV1 ? " " : ""
        let trailing = self == .mistralV3Tekken ? "" : " "
        var out = "", insideTurn = false
        for message in messages {
            if !insideTurn {
                out += leading + "[INST]" + trailing
                insideTurn = true
            }
            switch message.role {
            case .system: out += message.content + "\n\n"
            case .user: out += message.content + leading + "[/INST]"
            case .assistant:
                out += trailing + (self == .mistralV3 ? trim(message.content) : message.content) + "</s>"
                insideTurn = false
            }
        }
        return out
    }

    /// Llama 2: "[INST] " opens the first block without BOS (the tokenizer adds it); plain `llama2` has no
    /// <<SYS>> block, so its system text is the first line of the block. `-sys-bos` writes BOS before every later
    /// block, `-sys-strip` trims every message.
    private func llama2Body(_ messages: [ChatMessage]) -> String {
        var out = "[INST] ", insideTurn = true
        for message in messages {
            let content = self == .llama2SysStrip ? trim(message.content) : message.content
            if !insideTurn {
                insideTurn = true
                out += self == .llama2SysBOS ? "<s>[INST] " : "[INST] "
            }
            switch message.role {
            case .system: out += self == .llama2 ? content + "\n" : "<<SYS>>\n" + content + "\n<</SYS>>\n\n"
            case .user: out += content + " [/INST]"
            case .assistant:
                out += content + "</s>"
                insideTurn = false
            }
        }
        return out
    }

    private func bailingRole(_ role: ChatRole) -> String { role == .user ? "HUMAN" : role.rawValue.uppercased() }
}

/// `text` without leading and trailing ASCII white space (C's `isspace`: space, \t, \n, \v, \f, \r), as llama.cpp's
/// renderers trim; Unicode spaces stay.
fileprivate func trim(_ text: String) -> String {
    let bytes = Array(text.utf8)
    func isSpace(_ b: UInt8) -> Bool { b == 0x20 || (0x09...0x0D).contains(b) }
    guard let start = bytes.firstIndex(where: { !isSpace($0) }), let end = bytes.lastIndex(where: { !isSpace($0) }) else { return "" }
    return String(decoding: bytes[start...end], as: UTF8.self)
}
