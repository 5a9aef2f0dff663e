// llama.cpp's table of byte-level BPE pre-tokenizers: every `tokenizer.ggml.pre` name its vocabulary loader accepts
// (llama-cpp-python 0.3.36's copy), the split expressions of each pre-tokenizer type, and the flags the loader sets
// per name. The expressions are llama.cpp's strings, character for character: `SplitExpression` decides from the
// string how llama.cpp runs it, exactly as llama.cpp does (docs/tokenizers.md). Tests/Fixtures/pretokenizers pins
// every name to llama.cpp's ids.

/// One pre-tokenizer type: the expressions that split text into words, each applied to every piece the previous one
/// produced, and how words are spelled before BPE.
enum PreTokenizerRule: String, CaseIterable, Sendable {
    case `default`, llama3, jais2, deepseekLLM, deepseek3, spark25, youtu, deepseekCoder, falcon, starcoder, gpt2
    case qwen2, qwen35, bloom, viking, tekken, chameleon, gpt4o, graniteEmbedMulti, tinyAya, kimiK2, superBPE
    case bailingMoE, seedCoder, ufakzeka, afmoe, laguna, exaoneMoE, minicpm5, newlines, whitespace

    /// The expressions, in order (llama.cpp `llm_tokenizer_bpe::regex_exprs`).
    var expressions: [String] {
        switch self {
        case .default: return [#"[\p{P}\$\+<=>\^~\|]+"#, Self.gpt2Split, #"\p{N}+"#, #"[0-9][0-9][0-9]"#]
        case .llama3: return [Self.llama3Split]
        case .jais2:
            // Llama 3's expression with whitespace runs cut into power-of-two lengths.
            return [#"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s{512}(?!\S)|\s{256}(?!\S)|\s{128}(?!\S)|\s{64}(?!\S)|\s{32}(?!\S)|\s{16}(?!\S)|\s{8}(?!\S)|\s{4}(?!\S)|\s{1,2}(?!\S)|\s{1}"#]
        case .deepseekLLM:
            return [
                #"[\r\n]"#,
                #"\s?[A-Za-zµÀ-ÖØ-öø-ƺƼ-ƿǄ-ʓʕ-ʯͰ-ͳͶͷͻ-ͽͿΆΈ-ΊΌΎ-ΡΣ-ϵϷ-ҁҊ-ԯԱ-ՖႠ-ჅᎠ-Ᏽᏸ-ᏽᲐ-ᲺᲽ-Ჿᴀ-ᴫᵫ-ᵷᵹ-ᶚḀ-ἕἘ-Ἕἠ-ὅὈ-Ὅὐ-ὗὙὛὝὟ-\u1F7Dᾀ-ᾴᾶ-ᾼ\u1FBEῂ-ῄῆ-ῌῐ-\u1FD3ῖ-\u1FDBῠ-Ῥῲ-ῴῶ-ῼℂℇℊ-ℓℕℙ-ℝℤ\u2126ℨ\u212A-ℭℯ-ℴℹℼ-ℿⅅ-ⅉⅎↃↄⰀ-ⱻⱾ-ⳤⳫ-ⳮⳲⳳꙀ-ꙭꚀ-ꚛꜢ-ꝯꝱ-ꞇꞋ-ꞎꭰ-ꮿﬀ-ﬆﬓ-ﬗＡ-Ｚａ-ｚ𐐀-𐑏𐒰-𐓓𐓘-𐓻𐲀-𐲲𐳀-𐳲𑢠-𑣟𞤀-𞥃]+"#,
                #"\s?[!-/:-~！-／：-～‘-‟\u3000-。]+"#,
                #"\s+$"#,
                #"[一-龥ࠀ-一가-\uD7FF]+"#,
                #"\p{N}+"#,
            ]
        case .deepseek3:
            return [
                #"\p{N}{1,3}"#,
                #"[一-龥\u3040-ゟ゠-ヿ]+"#,
                ##"[!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~][A-Za-z]+|[^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+| ?[\p{P}\p{S}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"##,
            ]
        case .spark25:
            return [
                #"\p{N}{1,3}"#,
                #"[一-龥\u3040-ゟ゠-ヿ]+"#,
                ##"[!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~][A-Za-z]+|[^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+| ?[\p{P}\p{S}]+|[\r\n]|\s+(?!\S)|\s+"##,
                #"\p{N}"#,
            ]
        case .youtu:
            return [
                #"[가-힣ㄱ-ㆎ]+|[！…“”‘’—：；，、-〿︰-﹏]+|[ㄅ-ㄯ]+|[一-龥\u3040-ゟ゠-ヿ]+"#,
                #"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+"#,
            ]
        case .deepseekCoder:
            return [
                #"[\r\n]"#,
                #"\s?\p{L}+"#,
                #"\s?\p{P}+"#,
                #"[一-龥ࠀ-一가-\uD7FF]+"#,
                #"\p{N}"#,
            ]
        case .falcon: return [#"[\p{P}\$\+<=>\^~\|`]+"#, Self.gpt2Split, #"[0-9][0-9][0-9]"#]
        case .starcoder: return [#"\p{N}"#, Self.gpt2Split]
        case .gpt2: return [Self.gpt2Split]
        case .qwen2: return [Self.qwen2Split]
        case .qwen35: return [Self.qwen35Split]
        case .bloom: return [Self.bloomSplit]
        case .viking: return [Self.bloomSplit, #"\p{N}"#]
        case .tekken:
            return [#"[^\r\n\p{L}\p{N}]?((?=[\p{L}])([^a-z]))*((?=[\p{L}])([^A-Z]))+|[^\r\n\p{L}\p{N}]?((?=[\p{L}])([^a-z]))+((?=[\p{L}])([^A-Z]))*|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+"#]
        case .chameleon:
            return [
                #"<sentinel:[0-9]+>"#,
                #"(IMGIMG)((A|B|C|D|E|F|G|H|I){1,4})Z"#,
                #"([\t\n]|    |  )"#,
                #"\p{N}"#,
                #"[\p{P}!-/:-@\[-`{-~]"#,
                #"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)"#,
            ]
        case .gpt4o:
            return [#"[^\r\n\p{L}\p{N}]?((?=[\p{L}])([^a-z]))*((?=[\p{L}])([^A-Z]))+(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|[^\r\n\p{L}\p{N}]?((?=[\p{L}])([^a-z]))+((?=[\p{L}])([^A-Z]))*(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+"#]
        case .graniteEmbedMulti:
            return [#"[^\r\n\p{L}\p{N}]?((?=[\p{L}\p{M}])([^a-z]))*((?=[\p{L}\p{M}])([^A-Z]))+(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|[^\r\n\p{L}\p{N}]?((?=[\p{L}\p{M}])([^a-z]))+((?=[\p{L}\p{M}])([^A-Z]))*(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+"#]
        case .tinyAya:
            return [
                #"\d{1,3}(?=(?:\d{3})*\b)"#,
                #"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+"#,
            ]
        case .kimiK2: return [Self.kimiK2Trigger]
        case .superBPE: return [#"\p{N}+"#, #"(?=(\d{3})+(?!\d))"#]
        case .bailingMoE:
            return [#"'(?:[sSdDmMtT]|[lL][lL]|[vV][eE]|[rR][eE])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]|\s+(?!\S)|\s+"#]
        case .seedCoder:
            return [#"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1}| ?[^\s\p{L}\p{N}\r\n]+|\s*[\r\n]+|\s+(?!\S)|\s+"#]
        case .ufakzeka:
            // Qwen 2's expression without the contractions, so that Turkish suffixes after an apostrophe stay attached.
            return [#"[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#]
        case .afmoe:
            return [
                #"\p{AFMoE_digits}"#,
                #"[一-鿿㐀-䶿豈-\uFAFF\u3040-ゟ゠-ヿ･-ﾟ⼀-\u2FDFเ-\u0E7F\u0E80-\u0EFFក-\u17FFက-႟ꩠ-ꩿꧠ-\uA9FF가-\uD7AFᄀ-ᇿ]+"#,
                ##"[!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~][A-Za-z]+|[^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+| ?[\p{P}\p{S}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"##,
            ]
        case .laguna: return [Self.newlineRuns, Self.qwen2Split]
        case .exaoneMoE:
            return [#"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?(?:\p{L}\p{M}*(?: \p{L}\p{M}*)*)+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]?|\s*[\r\n]|\s+(?!\S)|\s+"#]
        case .minicpm5:
            return [
                #"\p{N}{1,3}"#,
                #"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}+| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#,
            ]
        case .newlines: return [Self.newlineRuns]
        case .whitespace: return [#"\S+"#]
        }
    }

    /// Words are spelled in GPT-2's byte alphabet, except for the SentencePiece-style types that run BPE on raw
    /// UTF-8 (llama.cpp `byte_encode = false`).
    var encodesBytes: Bool { self != .newlines && self != .whitespace }

    // The expressions several types share. The first four are the strings for which llama.cpp runs a hand-written
    // splitter instead of std::regex (`SplitExpression` lists them).
    static let gpt2Split = #"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)"#
    static let llama3Split =
        #"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#
    static let qwen2Split =
        #"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#
    static let qwen35Split =
        #"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?[\p{L}\p{M}]+|\p{N}| ?[^\s\p{L}\p{M}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#
    static let bloomSplit = #" ?[^(\s|.,!?…。，、।۔،)]+"#
    static let newlineRuns = #"[^\n]+|[\n]+"#
    /// Kimi K2's entry in llama.cpp's table; llama.cpp runs its own splitter for the whole K2 expression on seeing it.
    static let kimiK2Trigger = #"\p{Han}+"#
}

/// What llama.cpp's vocabulary loader sets for a name, beyond the rule (`llama_vocab::impl::load`). The defaults are
/// those of every BPE vocabulary.
struct PreTokenizerFlags: OptionSet, Sendable {
    let rawValue: UInt16
    /// `clean_spaces = false`: decoding keeps " ," and " 's" as they are.
    static let keepsSpaces = PreTokenizerFlags(rawValue: 1 << 0)
    /// `ignore_merges`: a word that is itself a token is that token, without running the merges.
    static let ignoresMerges = PreTokenizerFlags(rawValue: 1 << 1)
    /// `add_bos = true` unless the file says otherwise.
    static let addsBOS = PreTokenizerFlags(rawValue: 1 << 2)
    /// BOS is added even when the file says `add_bos_token = false` (llama.cpp's Gemma 4 workaround).
    static let forcesBOS = PreTokenizerFlags(rawValue: 1 << 3)
    /// No default BOS id (llama.cpp's default for BPE is 11); only the file's `bos_token_id` gives one.
    static let noDefaultBOS = PreTokenizerFlags(rawValue: 1 << 4)
    /// `escape_whitespaces`: spaces become U+2581 before splitting and decode back to spaces.
    static let escapesSpaces = PreTokenizerFlags(rawValue: 1 << 5)
    /// The "whitespace" tokenizer's normalizer does not lowercase unless the file asks.
    static let keepsCase = PreTokenizerFlags(rawValue: 1 << 6)
    /// A word made only of newlines that is itself a token is that token (llama.cpp's Gemma 4 fix).
    static let wholeNewlineRuns = PreTokenizerFlags(rawValue: 1 << 7)
}

/// A name's rule and flags.
struct PreTokenizerSpec: Sendable {
    let rule: PreTokenizerRule
    let flags: PreTokenizerFlags
}

enum PreTokenizerTable {
    private struct Row {
        let names: [String]
        let spec: PreTokenizerSpec
        init(_ names: [String], _ rule: PreTokenizerRule, _ flags: PreTokenizerFlags = []) {
            self.names = names
            self.spec = PreTokenizerSpec(rule: rule, flags: flags)
        }
    }

    /// In the order llama.cpp's loader tests the names. `add_sep` (set for jina-v1-en, jina-v2-code, roberta-bpe)
    /// is left out: llama.cpp's tokenize never appends a separator.
    private static let rows: [Row] = [
        Row(["default"], .default),
        Row(["minicpm5"], .minicpm5, [.ignoresMerges]),
        Row(["llama3", "llama-v3", "llama-bpe", "falcon3", "falcon-h1", "pixtral", "midm-2.0", "lfm2", "jina-v5-nano"],
            .llama3, [.ignoresMerges, .addsBOS]),
        Row(["deepseek-llm"], .deepseekLLM, [.keepsSpaces]),
        Row(["deepseek-coder"], .deepseekCoder, [.keepsSpaces]),
        Row(["deepseek-v3"], .deepseek3, [.keepsSpaces]),
        Row(["spark2_5"], .spark25, [.keepsSpaces]),
        Row(["youtu"], .youtu, [.keepsSpaces, .ignoresMerges]),
        Row(["falcon"], .falcon),
        Row(["mpt"], .gpt2),
        Row(["starcoder"], .starcoder),
        Row(["gpt-2", "phi-2", "jina-es", "jina-de", "gigachat", "jina-v2-es", "jina-v2-de", "a.x-4.0", "mellum",
             "modern-bert"], .gpt2),
        Row(["jais-2"], .jais2),
        Row(["gemma4", "granite-embed-multi-311m"], .newlines, [.escapesSpaces, .forcesBOS, .wholeNewlineRuns]),
        Row(["sarvam-moe"], .newlines, [.escapesSpaces, .keepsSpaces]),
        Row(["jina-v1-en", "jina-v2-code", "roberta-bpe"], .gpt2),
        Row(["whitespace"], .whitespace, [.keepsCase]),
        Row(["refact"], .starcoder),
        Row(["command-r"], .starcoder, [.keepsSpaces]),
        Row(["qwen2", "deepseek-r1-qwen", "kormo", "f2llmv2"], .qwen2, [.keepsSpaces]),
        Row(["qwen35"], .qwen35, [.keepsSpaces]),
        Row(["stablelm2"], .qwen2),
        Row(["olmo"], .gpt2),
        Row(["dbrx", "smaug-bpe"], .llama3),
        Row(["poro-chat"], .bloom, [.keepsSpaces]),
        Row(["chatglm-bpe"], .llama3, [.noDefaultBOS]),
        Row(["glm4", "glm5"], .llama3, [.noDefaultBOS, .ignoresMerges]),
        Row(["viking"], .viking, [.keepsSpaces]),
        Row(["jais"], .gpt2),
        Row(["tekken"], .tekken, [.keepsSpaces, .ignoresMerges, .addsBOS]),
        Row(["smollm"], .starcoder, [.keepsSpaces]),
        Row(["codeshell"], .starcoder),
        Row(["bloom", "gpt3-finnish"], .bloom),
        Row(["exaone"], .starcoder),
        Row(["exaone4"], .gpt2),
        Row(["exaone-moe"], .exaoneMoE),
        Row(["chameleon"], .chameleon, [.addsBOS, .keepsSpaces]),
        Row(["minerva-7b"], .starcoder),
        Row(["megrez"], .qwen2),
        Row(["gpt-4o", "llama4", "kanana2", "talkie"], .gpt4o, [.keepsSpaces]),
        Row(["granite-embed-multi-97m"], .graniteEmbedMulti, [.keepsSpaces, .ignoresMerges]),
        Row(["tiny_aya", "cohere2moe"], .tinyAya, [.keepsSpaces]),
        Row(["superbpe"], .superBPE, [.keepsSpaces]),
        Row(["trillion", "granite-docling"], .gpt2, [.keepsSpaces]),
        Row(["bailingmoe", "bailingmoe2", "llada-moe"], .bailingMoE, [.keepsSpaces]),
        Row(["seed-coder"], .seedCoder, [.keepsSpaces]),
        Row(["hunyuan"], .qwen2, [.keepsSpaces]),
        Row(["hunyuan-dense", "hy_v4", "joyai-llm"], .deepseek3, [.keepsSpaces]),
        Row(["kimi-k2"], .kimiK2, [.keepsSpaces]),
        Row(["ufakzeka"], .ufakzeka, [.keepsSpaces]),
        Row(["grok-2"], .qwen2, [.keepsSpaces]),
        Row(["afmoe"], .afmoe, [.keepsSpaces]),
        Row(["laguna"], .laguna, [.keepsSpaces]),
        Row(["minimax-m2"], .gpt4o, [.keepsSpaces]),
        Row(["solar-open"], .qwen2, [.keepsSpaces]),
        Row(["mellum2"], .starcoder),
    ]

    /// Every known name, in table order.
    static let names: [String] = rows.flatMap(\.names)

    private static let specs: [String: PreTokenizerSpec] = {
        var specs: [String: PreTokenizerSpec] = [:]
        for row in rows {
            for name in row.names {
                precondition(specs[name] == nil, "pre-tokenizer \(name) is listed twice")
                specs[name] = row.spec
            }
        }
        return specs
    }()

    static func spec(named name: String) -> PreTokenizerSpec? { specs[name] }
}
