import Foundation

// Builds a tokenizer from GGUF `tokenizer.ggml.*` metadata (llama.cpp `llama_vocab::impl::load`) or from a Hugging
// Face tokenizer.json. Load-time rules that change token attributes (end-of-generation names become CONTROL, ...)
// are applied here, so the tokenizers only run algorithms.

public enum TokenizerLoader {
    private enum Key {
        static let model = "tokenizer.ggml.model"
        static let pre = "tokenizer.ggml.pre"
        static let tokens = "tokenizer.ggml.tokens"
        static let scores = "tokenizer.ggml.scores"
        static let tokenType = "tokenizer.ggml.token_type"
        static let merges = "tokenizer.ggml.merges"
        static let bos = "tokenizer.ggml.bos_token_id"
        static let eos = "tokenizer.ggml.eos_token_id"
        static let unknown = "tokenizer.ggml.unknown_token_id"
        static let eot = "tokenizer.ggml.eot_token_id"
        static let eom = "tokenizer.ggml.eom_token_id"
        static let addBOS = "tokenizer.ggml.add_bos_token"
        static let addEOS = "tokenizer.ggml.add_eos_token"
        static let addSpacePrefix = "tokenizer.ggml.add_space_prefix"
        static let lowercase = "tokenizer.ggml.normalizer.lowercase"
    }

    public static func load(gguf: GGUFFile) throws -> any Tokenizer {
        try load(metadata: gguf.metadata)
    }

    /// The GGUF path without a file, so tests can hand in hand-made metadata.
    static func load(metadata: [String: GGUFValue]) throws -> any Tokenizer {
        guard let modelValue = metadata[Key.model] else { throw TokenizerError.missingMetadata(key: Key.model) }
        guard let model = modelValue.string else { throw TokenizerError.wrongMetadataType(key: Key.model, expected: "a string") }
        switch model {
        case "llama": return try loadSentencePiece(metadata)
        case "gpt2": return try loadBPE(metadata, dropsWhitespace: false)
        case "whitespace": return try loadBPE(metadata, dropsWhitespace: true)
        default:
            throw TokenizerError.unsupportedModel(
                "\(Key.model) = '\(model)'; supported: 'llama' (SentencePiece with scores), 'gpt2' (byte-level BPE), "
                + "'whitespace' (BPE over white-space separated words)")
        }
    }

    // MARK: GGUF

    private static func loadSentencePiece(_ metadata: [String: GGUFValue]) throws -> SentencePieceTokenizer {
        let tokens = try tokenTexts(metadata)
        let scores = try floatArray(metadata, Key.scores, count: tokens.count)
        var vocabulary = Vocabulary(tokens: tokens, attributes: try attributes(metadata, count: tokens.count))
        // llama.cpp's SPM defaults, replaced by the file's ids when those are in range.
        let bos = try specialId(metadata, Key.bos, default: 1, count: tokens.count)
        let eos = try specialId(metadata, Key.eos, default: 2, count: tokens.count)
        let unknown = try specialId(metadata, Key.unknown, default: 0, count: tokens.count)
        let eog = applyLoadTimeRules(&vocabulary, metadata: metadata, eos: eos)
        return try SentencePieceTokenizer(
            vocabulary: vocabulary, scores: scores, bos: bos, eos: eos, unknown: unknown, endOfGeneration: eog,
            addsBOS: try bool(metadata, Key.addBOS) ?? true,
            addsEOS: try bool(metadata, Key.addEOS) ?? false,
            addsSpacePrefix: try bool(metadata, Key.addSpacePrefix) ?? true)
    }

    /// A BPE vocabulary (`gpt2`, or `whitespace`, whose words are the white-space separated runs). The pre-tokenizer
    /// name selects the split rule and flags from `PreTokenizerTable`; an unknown name leaves a tokenizer that decodes
    /// but throws when asked to encode, so token ids still work with the model.
    private static func loadBPE(_ metadata: [String: GGUFValue], dropsWhitespace: Bool) throws -> ByteLevelBPETokenizer {
        let tokens = try tokenTexts(metadata)
        // llama.cpp treats a missing pre-tokenizer as "default" (and warns that quality will suffer).
        let preName = try string(metadata, Key.pre) ?? "default"
        let spec = PreTokenizerTable.spec(named: preName)
        let flags = spec?.flags ?? []
        let preTokenizer: Result<BPEPreTokenizer, TokenizerError>
        if let spec {
            preTokenizer = .success(try BPEPreTokenizer(name: preName, rule: spec.rule))
        } else {
            preTokenizer = .failure(.unsupportedPreTokenizer(name: preName, supported: PreTokenizerTable.names))
        }
        // llama.cpp lets a Kimi K2 vocabulary come without merges (every word is then looked up as bytes).
        let mergesValue = metadata[Key.merges] ?? (preName == "kimi-k2" ? .array(.string, []) : nil)
        guard let mergesValue else { throw TokenizerError.missingMetadata(key: Key.merges) }
        guard let mergeStrings = mergesValue.array else {
            throw TokenizerError.wrongMetadataType(key: Key.merges, expected: "an array of strings")
        }
        var merges: [([UInt8], [UInt8])] = []
        merges.reserveCapacity(mergeStrings.count)
        for value in mergeStrings {
            guard let text = value.string else {
                throw TokenizerError.wrongMetadataType(key: Key.merges, expected: "an array of strings")
            }
            // "left right", split at the first space after the first byte (llama.cpp `word.find(' ', 1)`).
            let bytes = Array(text.utf8)
            guard bytes.count > 2, let space = bytes[1...].firstIndex(of: 0x20) else { continue }
            merges.append((Array(bytes[..<space]), Array(bytes[(space + 1)...])))
        }
        var vocabulary = Vocabulary(tokens: tokens, attributes: try attributes(metadata, count: tokens.count),
                                    extraStrings: merges.count / 8)
        let bos = try specialId(metadata, Key.bos, default: flags.contains(.noDefaultBOS) ? nil : 11, count: tokens.count)
        let eos = try specialId(metadata, Key.eos, default: 11, count: tokens.count)
        let eog = applyLoadTimeRules(&vocabulary, metadata: metadata, eos: eos)
        let fileAddsBOS = try bool(metadata, Key.addBOS)
        let addsBOS = flags.contains(.forcesBOS) || (fileAddsBOS ?? flags.contains(.addsBOS))
        let addsEOS = try bool(metadata, Key.addEOS) ?? false
        if addsBOS && bos == nil { throw TokenizerError.malformed("add_bos_token is true but there is no BOS token") }
        if addsEOS && eos == nil { throw TokenizerError.malformed("add_eos_token is true but there is no EOS token") }
        let spellsBytes = spec?.rule.encodesBytes ?? true
        let rules = ByteLevelBPETokenizer.WordRules(
            spellsBytes: spellsBytes, ignoresMerges: flags.contains(.ignoresMerges),
            escapesSpaces: flags.contains(.escapesSpaces), wholeNewlineRuns: flags.contains(.wholeNewlineRuns),
            dropsWhitespace: dropsWhitespace,
            // llama.cpp's normalizer lowercases unless the pre-tokenizer or the file says otherwise.
            lowercases: try bool(metadata, Key.lowercase) ?? !flags.contains(.keepsCase))
        return try ByteLevelBPETokenizer(
            vocabulary: vocabulary, merges: merges, preTokenizer: preTokenizer,
            bos: bos, eos: eos, endOfGeneration: eog,
            prefixTokens: addsBOS ? [bos!] : [], suffixTokens: addsEOS ? [eos!] : [],
            rules: rules, spaceCleanup: flags.contains(.keepsSpaces) ? .none : .llamaCpp,
            unknownSymbol: spellsBytes ? .singleByteTokens : .hexByteTokens)
    }

    /// Token attribute changes llama.cpp makes at load time, and the end-of-generation set:
    /// - tokens named like end-of-turn markers (`endOfGenerationTokenTexts`) join the set and become CONTROL, so
    ///   e.g. Gemma 3's USER_DEFINED `</s>` is neither split out of text nor printed;
    /// - the first FIM marker of each kind found by name becomes CONTROL; FIM pad/repo/separator end generation;
    /// - gpt-oss's `<|channel|>`, `<|message|>`, `<|start|>`, `<|constrain|>` become USER_DEFINED;
    /// - with `<|return|>` and `<|call|>` (or `<|calls|>` and `<|flush|>`), `<|end|>` stops being an end token.
    static func applyLoadTimeRules(_ vocabulary: inout Vocabulary, metadata: [String: GGUFValue],
                                   eos: Int32?) -> Set<Int32> {
        func id(_ text: String) -> Int32? { vocabulary.id(of: Array(text.utf8)) }
        func inRange(_ key: String) -> Int32? {
            guard let v = metadata[key]?.int, v >= 0, v < vocabulary.count else { return nil }
            return Int32(v)
        }
        var eog = vocabulary.markEndOfGeneration(extraIds: [eos, inRange(Key.eot), inRange(Key.eom)])
        let fimKinds: [(keys: [String], names: [String], endsGeneration: Bool)] = [
            (["tokenizer.ggml.fim_pre_token_id", "tokenizer.ggml.prefix_token_id"],
             ["<|fim_prefix|>", "<fim-prefix>", "<fim_prefix>", "<｜fim▁begin｜>", "<PRE>", "▁<PRE>", "<|code_prefix|>", "<|prefix|>"], false),
            (["tokenizer.ggml.fim_suf_token_id", "tokenizer.ggml.suffix_token_id"],
             ["<|fim_suffix|>", "<fim-suffix>", "<fim_suffix>", "<｜fim▁hole｜>", "<SUF>", "▁<SUF>", "<|code_suffix|>", "<|suffix|>"], false),
            (["tokenizer.ggml.fim_mid_token_id", "tokenizer.ggml.middle_token_id"],
             ["<|fim_middle|>", "<fim-middle>", "<fim_middle>", "<｜fim▁end｜>", "<MID>", "▁<MID>", "<|code_middle|>", "<|middle|>"], false),
            (["tokenizer.ggml.fim_pad_token_id"], ["<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>", "[PAD]"], true),
            (["tokenizer.ggml.fim_rep_token_id"], ["<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>", "<reponame>"], true),
            (["tokenizer.ggml.fim_sep_token_id"], ["<|file_sep|>"], true),
        ]
        for kind in fimKinds {
            var found = kind.keys.compactMap(inRange).first
            if found == nil, let named = kind.names.compactMap(id).first {
                vocabulary.addAttributes(.control, to: named)
                found = named
            }
            if kind.endsGeneration, let found { eog.insert(found) }
        }
        for name in ["<|channel|>", "<|message|>", "<|start|>", "<|constrain|>"] {
            if let t = id(name) { vocabulary.setAttributes(.userDefined, of: t) }
        }
        let eogTexts = Set(eog.map { String(decoding: vocabulary.text($0), as: UTF8.self) })
        if eogTexts.contains("<|end|>"), let end = id("<|end|>"),
           (eogTexts.contains("<|return|>") && eogTexts.contains("<|call|>"))
            || (eogTexts.contains("<|calls|>") && eogTexts.contains("<|flush|>")) {
            eog.remove(end)
            vocabulary.setAttributes(.userDefined, of: end)
        }
        return eog
    }

    // MARK: GGUF value helpers

    private static func tokenTexts(_ metadata: [String: GGUFValue]) throws -> [[UInt8]] {
        guard let value = metadata[Key.tokens] else { throw TokenizerError.missingMetadata(key: Key.tokens) }
        guard let array = value.array else { throw TokenizerError.wrongMetadataType(key: Key.tokens, expected: "an array of strings") }
        guard !array.isEmpty else { throw TokenizerError.malformed("\(Key.tokens) is empty") }
        guard array.count <= Int(Int32.max) else { throw TokenizerError.malformed("\(Key.tokens) has \(array.count) entries") }
        return try array.map { v in
            guard let s = v.string else { throw TokenizerError.wrongMetadataType(key: Key.tokens, expected: "an array of strings") }
            return Array(s.utf8)
        }
    }

    private static func floatArray(_ metadata: [String: GGUFValue], _ key: String, count: Int) throws -> [Float] {
        guard let value = metadata[key] else { throw TokenizerError.missingMetadata(key: key) }
        guard let array = value.array else { throw TokenizerError.wrongMetadataType(key: key, expected: "an array of numbers") }
        guard array.count >= count else { throw TokenizerError.malformed("\(key) has \(array.count) entries for \(count) tokens") }
        return try array.prefix(count).map { v in
            guard let d = v.double else { throw TokenizerError.wrongMetadataType(key: key, expected: "an array of numbers") }
            return Float(d)
        }
    }

    /// Token types are optional (llama.cpp then treats every token as NORMAL); unknown values become UNDEFINED.
    private static func attributes(_ metadata: [String: GGUFValue], count: Int) throws -> [TokenAttributes] {
        guard let value = metadata[Key.tokenType] else { return Array(repeating: .normal, count: count) }
        guard let array = value.array else { throw TokenizerError.wrongMetadataType(key: Key.tokenType, expected: "an array of integers") }
        guard array.count >= count else {
            throw TokenizerError.malformed("\(Key.tokenType) has \(array.count) entries for \(count) tokens")
        }
        return try array.prefix(count).map { v in
            guard let raw = v.int else { throw TokenizerError.wrongMetadataType(key: Key.tokenType, expected: "an array of integers") }
            return TokenAttributes(TokenType(rawValue: raw) ?? .undefined)
        }
    }

    /// The file's id if in range, else llama.cpp's default for the tokenizer type if in range, else none.
    private static func specialId(_ metadata: [String: GGUFValue], _ key: String, default fallback: Int32?,
                                  count: Int) throws -> Int32? {
        if let value = metadata[key] {
            guard let v = value.int else { throw TokenizerError.wrongMetadataType(key: key, expected: "an integer") }
            if v >= 0 && v < count { return Int32(v) }
        }
        guard let fallback, fallback < count else { return nil }
        return fallback
    }

    private static func bool(_ metadata: [String: GGUFValue], _ key: String) throws -> Bool? {
        guard let value = metadata[key] else { return nil }
        guard let b = value.bool else { throw TokenizerError.wrongMetadataType(key: key, expected: "a boolean") }
        return b
    }

    private static func string(_ metadata: [String: GGUFValue], _ key: String) throws -> String? {
        guard let value = metadata[key] else { return nil }
        guard let s = value.string else { throw TokenizerError.wrongMetadataType(key: key, expected: "a string") }
        return s
    }

    // MARK: Hugging Face tokenizer.json

    /// A byte-level BPE tokenizer.json (GPT-2, Llama 3, Qwen 2 checkpoints). `configDirectory` may hold
    /// tokenizer_config.json (bos/eos names, `clean_up_tokenization_spaces`) and generation_config.json
    /// (`eos_token_id`, which joins the end-of-generation set). Added tokens marked `special` are treated as CONTROL
    /// (never matched in text), the others as USER_DEFINED, as llama.cpp's converter marks them.
    public static func load(tokenizerJSON path: String, configDirectory: String?) throws -> any Tokenizer {
        let root = try readJSONObject(path)
        guard let model = root["model"] as? [String: Any] else { throw TokenizerError.malformed("\(path): no \"model\" object") }
        let modelType = model["type"] as? String ?? "BPE"
        guard modelType == "BPE" else {
            throw TokenizerError.unsupportedModel("\(path): model.type '\(modelType)'; only byte-level BPE tokenizer.json is supported (use the GGUF for SentencePiece/Unigram models)")
        }
        for key in ["continuing_subword_prefix", "end_of_word_suffix"] {
            if let affix = model[key] as? String, !affix.isEmpty {
                throw TokenizerError.unsupportedModel("\(path): BPE with \(key) '\(affix)'")
            }
        }
        guard let vocab = model["vocab"] as? [String: Any] else { throw TokenizerError.malformed("\(path): no model.vocab") }
        // A present value of the wrong type is an error, never a silent default.
        func flag(_ object: [String: Any], _ key: String, at prefix: String, in file: String? = nil) throws -> Bool {
            guard let value = object[key], !(value is NSNull) else { return false }
            guard let b = JSONFile.boolean(value) else {
                throw TokenizerError.malformed("\(file ?? path): \(prefix)\(key) is \(JSONFile.describe(value)), not true or false")
            }
            return b
        }
        let added: [[String: Any]]
        switch root["added_tokens"] {
        case nil, is NSNull: added = []
        case let list as [[String: Any]]: added = list
        case let other?: throw TokenizerError.malformed("\(path): added_tokens is \(JSONFile.describe(other)), not a list of objects")
        }

        // Token ids index arrays sized by the largest id, so an id is checked before it sizes anything: below
        // `InputLimits.vocabularySize`, and with at most `idGapLimit` ids that no entry defines.
        let definedCount = vocab.count + added.count
        let idLimit = min(InputLimits.vocabularySize, definedCount + Self.idGapLimit)
        func checkedId(_ value: Any?, of text: String, in where_: String) throws -> Int {
            guard let id = JSONFile.integer(value), id >= 0 else {
                throw TokenizerError.malformed("\(path): \(where_) id of \(quoted(text)) is \(value.map(JSONFile.describe) ?? "missing"), not a non-negative integer")
            }
            guard id < idLimit else {
                throw TokenizerError.malformed("\(path): \(where_) id \(id) of \(quoted(text)) is out of range: \(definedCount) tokens are defined, so ids must be below \(idLimit)")
            }
            return id
        }
        var texts: [Int: [UInt8]] = [:]
        for (text, idValue) in vocab {
            texts[try checkedId(idValue, of: text, in: "model.vocab")] = Array(text.utf8)
        }
        var addedAttributes: [Int: TokenAttributes] = [:]
        for (index, token) in added.enumerated() {
            guard let content = token["content"] as? String else {
                throw TokenizerError.malformed("\(path): added_tokens[\(index)] has no \"content\" string")
            }
            let id = try checkedId(token["id"], of: content, in: "added_tokens[\(index)]")
            texts[id] = Array(content.utf8)
            var a: TokenAttributes = try flag(token, "special", at: "added_tokens[\(index)].") ? .control : .userDefined
            if try flag(token, "lstrip", at: "added_tokens[\(index)].") { a.insert(.lstrip) }
            if try flag(token, "rstrip", at: "added_tokens[\(index)].") { a.insert(.rstrip) }
            addedAttributes[id] = a
        }
        let count = (texts.keys.max() ?? -1) + 1
        guard count > 0 else { throw TokenizerError.malformed("\(path): empty vocabulary") }
        var tokens = [[UInt8]](repeating: [], count: count)
        var attributes = [TokenAttributes](repeating: [], count: count)  // ids nobody defines stay UNDEFINED
        for (id, text) in texts {
            tokens[id] = text
            attributes[id] = addedAttributes[id] ?? .normal
        }

        var merges: [([UInt8], [UInt8])] = []
        let mergeList: [Any]
        switch model["merges"] {
        case nil, is NSNull: mergeList = []
        case let list as [Any]: mergeList = list
        case let other?: throw TokenizerError.malformed("\(path): model.merges is \(JSONFile.describe(other)), not a list")
        }
        for (index, entry) in mergeList.enumerated() {
            if let line = entry as? String {
                let parts = line.split(separator: " ", omittingEmptySubsequences: false)
                guard parts.count == 2 else { throw TokenizerError.malformed("\(path): merge #\(index) \(quoted(line)) is not two parts") }
                merges.append((Array(parts[0].utf8), Array(parts[1].utf8)))
            } else if let pair = entry as? [String], pair.count == 2 {
                merges.append((Array(pair[0].utf8), Array(pair[1].utf8)))
            } else {
                throw TokenizerError.malformed("\(path): merge #\(index) is neither \"a b\" nor [a, b]")
            }
        }

        var normalizesNFC = false
        if let normalizer = root["normalizer"] as? [String: Any] {
            switch normalizer["type"] as? String {
            case "NFC": normalizesNFC = true
            case "Sequence" where (normalizer["normalizers"] as? [Any])?.isEmpty ?? false: break
            default: throw TokenizerError.unsupportedModel("\(path): normalizer \(normalizer["type"] ?? "?")")
            }
        }
        let (patterns, addsPrefixSpace, byteLevelSplit) = try preTokenizerPatterns(root["pre_tokenizer"], path: path)
        guard byteLevelSplit || isByteLevel(root["decoder"]) else {
            throw TokenizerError.unsupportedModel("\(path): not a byte-level BPE (no ByteLevel pre-tokenizer or decoder)")
        }

        var vocabulary = Vocabulary(tokens: tokens, attributes: attributes, extraStrings: merges.count / 8)
        func tokenId(_ content: String?) -> Int32? { content.flatMap { vocabulary.id(of: Array($0.utf8)) } }
        let (prefix, suffix) = try postProcessorTokens(root["post_processor"], path: path, lookup: tokenId)
        for id in prefix + suffix where id < 0 || Int(id) >= count {
            throw TokenizerError.malformed("\(path): post_processor adds token id \(id), outside the vocabulary of \(count)")
        }

        let config = try configDirectory.map { try readJSONObject(($0 as NSString).appendingPathComponent("tokenizer_config.json"), optional: true) } ?? [:]
        let configPath = configDirectory.map { ($0 as NSString).appendingPathComponent("tokenizer_config.json") } ?? "tokenizer_config.json"
        func tokenName(_ key: String) throws -> String? {
            switch config[key] {
            case nil, is NSNull: return nil
            case let name as String: return name
            case let object as [String: Any] where object["content"] is String: return object["content"] as? String
            case let other?:
                throw TokenizerError.malformed("\(configPath): \(key) is \(JSONFile.describe(other)), not a token string or {\"content\": ...}")
            }
        }
        let bos = tokenId(try tokenName("bos_token")) ?? prefix.first
        let eos = tokenId(try tokenName("eos_token")) ?? suffix.last
        var generationEOS: [Int] = []
        if let directory = configDirectory {
            let generationPath = (directory as NSString).appendingPathComponent("generation_config.json")
            let generation = try readJSONObject(generationPath, optional: true)
            switch generation["eos_token_id"] {
            case nil, is NSNull: break
            case let value?:
                // Ids outside the vocabulary are ignored (a model may list ids its tokenizer does not have).
                guard let ids = JSONFile.integer(value).map({ [$0] }) ?? JSONFile.integers(value) else {
                    throw TokenizerError.malformed("\(generationPath): eos_token_id is \(JSONFile.describe(value)), not an integer or a list of integers")
                }
                generationEOS = ids
            }
        }
        var eog = applyLoadTimeRules(&vocabulary, metadata: [:], eos: eos)
        for id in generationEOS where id >= 0 && id < count { eog.insert(Int32(id)) }

        let cleanUp = try flag(config, "clean_up_tokenization_spaces", at: "", in: configPath)
        let byteFallback = try flag(model, "byte_fallback", at: "model.")
        return try ByteLevelBPETokenizer(
            vocabulary: vocabulary, merges: merges,
            preTokenizer: .success(try BPEPreTokenizer(name: "tokenizer.json", huggingFacePatterns: patterns,
                                                       addsPrefixSpace: addsPrefixSpace)),
            bos: bos, eos: eos, endOfGeneration: eog, prefixTokens: prefix, suffixTokens: suffix,
            rules: .init(ignoresMerges: try flag(model, "ignore_merges", at: "model.")),
            spaceCleanup: cleanUp ? .huggingFace : .none, normalizesNFC: normalizesNFC,
            unknownSymbol: .huggingFace(byteFallback: byteFallback, unknown: tokenId(model["unk_token"] as? String)))
    }

    /// Ids no vocabulary entry defines that a tokenizer.json may leave between its defined ids.
    static let idGapLimit = 1 << 16

    /// GPT-2's regex as the `tokenizers` ByteLevel pre-tokenizer writes it (with a final `|\s+`).
    static let huggingFaceByteLevelPattern = #"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"#

    /// Regexes of a pre_tokenizer (Sequence, Split with behavior Isolated, ByteLevel), ByteLevel's
    /// add_prefix_space, and whether a ByteLevel step is present.
    private static func preTokenizerPatterns(_ value: Any?, path: String) throws -> ([String], Bool, Bool) {
        guard let config = value as? [String: Any] else { return ([], false, false) }
        switch config["type"] as? String {
        case "Sequence":
            var patterns: [String] = []
            var prefix = false, byteLevel = false
            for item in config["pretokenizers"] as? [Any] ?? [] {
                let (p, a, b) = try preTokenizerPatterns(item, path: path)
                patterns += p
                prefix = prefix || a
                byteLevel = byteLevel || b
            }
            return (patterns, prefix, byteLevel)
        case "ByteLevel":
            let useRegex = config["use_regex"] as? Bool ?? true
            return (useRegex ? [huggingFaceByteLevelPattern] : [], config["add_prefix_space"] as? Bool ?? false, true)
        case "Split":
            let behavior = config["behavior"] as? String ?? "?"
            guard behavior == "Isolated", !(config["invert"] as? Bool ?? false) else {
                throw TokenizerError.unsupportedModel("\(path): Split pre-tokenizer with behavior \(behavior) (only Isolated is supported)")
            }
            let pattern = config["pattern"] as? [String: Any]
            if let regex = pattern?["Regex"] as? String { return ([regex], false, false) }
            if let literal = pattern?["String"] as? String { return ([NSRegularExpression.escapedPattern(for: literal)], false, false) }
            throw TokenizerError.malformed("\(path): Split pre-tokenizer without a pattern")
        case let other:
            throw TokenizerError.unsupportedModel("\(path): pre_tokenizer \(other ?? "?") (supported: Sequence, Split, ByteLevel)")
        }
    }

    private static func isByteLevel(_ value: Any?) -> Bool {
        guard let config = value as? [String: Any] else { return false }
        if config["type"] as? String == "ByteLevel" { return true }
        return (config["decoders"] as? [Any] ?? []).contains(where: isByteLevel)
    }

    /// Tokens the post_processor puts around a single sequence (TemplateProcessing, RobertaProcessing, BertProcessing).
    private static func postProcessorTokens(_ value: Any?, path: String,
                                            lookup: (String?) -> Int32?) throws -> ([Int32], [Int32]) {
        guard let config = value as? [String: Any] else { return ([], []) }
        switch config["type"] as? String {
        case "Sequence":
            for item in config["processors"] as? [Any] ?? [] {
                let (p, s) = try postProcessorTokens(item, path: path, lookup: lookup)
                if !p.isEmpty || !s.isEmpty { return (p, s) }
            }
            return ([], [])
        case "TemplateProcessing":
            let specials = config["special_tokens"] as? [String: Any] ?? [:]
            var prefix: [Int32] = [], suffix: [Int32] = []
            var seenSequence = false
            for item in config["single"] as? [[String: Any]] ?? [] {
                if item["Sequence"] != nil { seenSequence = true; continue }
                guard let special = item["SpecialToken"] as? [String: Any], let name = special["id"] as? String else { continue }
                // An id that does not fit Int32 becomes -1, which the caller rejects as outside the vocabulary.
                let ids = JSONFile.integers((specials[name] as? [String: Any])?["ids"])?.map { Int32(exactly: $0) ?? -1 }
                guard let resolved = ids ?? lookup(name).map({ [$0] }) else {
                    throw TokenizerError.malformed("\(path): post_processor token '\(name)' is not in the vocabulary")
                }
                if seenSequence { suffix += resolved } else { prefix += resolved }
            }
            return (prefix, suffix)
        case "RobertaProcessing", "BertProcessing":
            func id(_ key: String) -> Int32? {
                JSONFile.integer((config[key] as? [Any])?.last).map { Int32(exactly: $0) ?? -1 }
            }
            return (id("cls").map { [$0] } ?? [], id("sep").map { [$0] } ?? [])
        default:
            return ([], [])  // ByteLevel (offsets only) and others add no tokens
        }
    }

    private static func readJSONObject(_ path: String, optional: Bool = false) throws -> [String: Any] {
        guard FileManager.default.fileExists(atPath: path) else {
            if optional { return [:] }
            throw TokenizerError.unreadable(path: path, detail: "no such file")
        }
        do { return try JSONFile.object(at: path) } catch let failure as JSONFile.Failure {
            throw TokenizerError.unreadable(path: path, detail: failure.detail)
        }
    }
}
