import Foundation

// Byte-level BPE (GGUF `tokenizer.ggml.model = "gpt2"`; Hugging Face tokenizer.json with a ByteLevel decoder):
// GPT-2, Llama 3, Qwen 2 and every other pre-tokenizer in `PreTokenizerTable`, plus the SentencePiece-style BPE
// that llama.cpp runs on raw UTF-8 (Gemma 4, Sarvam) and the "whitespace" tokenizer model. The rules of llama.cpp's
// vocabulary code (`llm_tokenizer_bpe_session`, the BPE branches of `token_to_piece` and `detokenize`,
// `unicode_byte_to_utf8_map`); the pre-tokenizers are in `BPEPreTokenizer` and `PreTokenizerTable`.

/// GPT-2's byte-to-character map: printable Latin-1 bytes map to themselves, the other 68 bytes to U+0100 onwards,
/// so every byte string is a string of visible characters (llama.cpp `unicode_byte_to_utf8_map`).
enum ByteLevelAlphabet {
    static let characterOfByte: [Unicode.Scalar] = {
        var map = [Unicode.Scalar?](repeating: nil, count: 256)
        for b in 0x21...0x7E { map[b] = Unicode.Scalar(UInt32(b)) }
        for b in 0xA1...0xAC { map[b] = Unicode.Scalar(UInt32(b)) }
        for b in 0xAE...0xFF { map[b] = Unicode.Scalar(UInt32(b)) }
        var n: UInt32 = 0
        for b in 0..<256 where map[b] == nil {
            map[b] = Unicode.Scalar(256 + n)
            n += 1
        }
        return map.map { $0! }
    }()

    static let utf8OfByte: [[UInt8]] = characterOfByte.map { Array(String($0).utf8) }

    /// Inverse map, indexed by scalar value (all below U+0144).
    static let byteOfCharacter: [UInt8?] = {
        var inverse = [UInt8?](repeating: nil, count: 0x144)
        for (b, c) in characterOfByte.enumerated() { inverse[Int(c.value)] = UInt8(b) }
        return inverse
    }()
}

/// Byte-level BPE: the text is split into words, each word's bytes become GPT-2 alphabet characters, and adjacent
/// symbols merge in `merges` rank order (lowest rank first, leftmost on ties). With `WordRules.spellsBytes` off, the
/// symbols are the word's UTF-8 characters instead.
public struct ByteLevelBPETokenizer: Tokenizer {
    /// How text becomes the words and symbols BPE merges: llama.cpp's per-name flags.
    struct WordRules: Sendable {
        /// Symbols are GPT-2 byte characters; otherwise the raw UTF-8 characters, with `<0xXX>` byte tokens for a
        /// symbol that is not a token (llama.cpp `byte_encode = false`).
        var spellsBytes = true
        /// A word that is itself a token is that token (llama.cpp `ignore_merges`).
        var ignoresMerges = false
        /// Spaces become U+2581 before splitting and decode back to spaces (llama.cpp `escape_whitespaces`).
        var escapesSpaces = false
        /// A word made only of newlines that is itself a token is that token (llama.cpp's Gemma 4 rule).
        var wholeNewlineRuns = false
        /// The "whitespace" tokenizer model: white space separates words and is dropped.
        var dropsWhitespace = false
        /// With `dropsWhitespace`: each character lowercased first (its simple lowercase mapping).
        var lowercases = false
    }

    /// How `decode` tidies spaces after joining pieces.
    public enum SpaceCleanup: Sendable {
        case none
        /// llama.cpp `clean_spaces` (on for most BPE pre-tokenizers): " ?", " !", " .", " ," lose the space,
        /// " ' " becomes "'", and " 's", " 'm", " 're", " 've" lose the space.
        case llamaCpp
        /// transformers `clean_up_tokenization` (tokenizer_config.json `clean_up_tokenization_spaces`).
        case huggingFace
    }

    /// What a final symbol that is not a token becomes.
    enum UnknownSymbol: Sendable {
        /// llama.cpp: each byte of the symbol's text looked up as a one-byte token; bytes without one are dropped.
        case singleByteTokens
        /// llama.cpp without byte encoding: each byte of the symbol as its `<0xXX>` token; bytes without one are dropped.
        case hexByteTokens
        /// Hugging Face BPE: `<0xXX>` tokens with `byte_fallback`, else the unknown token, else nothing.
        case huggingFace(byteFallback: Bool, unknown: Int32?)
    }

    public let bosToken: Int32?
    public let eosToken: Int32?
    public let endOfGenerationTokens: Set<Int32>
    /// The pre-tokenizer, or why there is none: then `encode` throws, and everything that needs only the vocabulary
    /// (decoding, token pieces, special tokens) still works.
    let preTokenization: Result<BPEPreTokenizer, TokenizerError>
    public let spaceCleanup: SpaceCleanup
    /// Tokens `encode(_, addSpecial: true)` puts before and after the text.
    public let prefixTokens: [Int32]
    public let suffixTokens: [Int32]

    let vocabulary: Vocabulary
    private let vocabularyCount: Int
    /// (left symbol id, right symbol id) -> (rank, merged symbol id); symbol ids are token ids, or ids at or above
    /// the vocabulary size for merge parts that are not tokens.
    private let merges: [UInt64: Merge]
    private let symbolOfByte: [Int32]
    private let rules: WordRules
    private let normalizesNFC: Bool
    private let unknownSymbol: UnknownSymbol
    private let partitioner: SpecialTokenPartitioner
    private let byteTokens: [Int32?]
    /// `<0xXX>` tokens only (`byteTokens` falls back to one-byte tokens).
    private let hexByteTokens: [Int32?]

    struct Merge: Sendable {
        let rank: Int32
        let result: Int32
    }

    public var vocabularySize: Int { vocabularyCount }
    public var addsBOS: Bool { bosToken != nil && prefixTokens.first == bosToken }

    /// `merges` in rank order, each as (left, right) in the GPT-2 alphabet; a repeated pair keeps its first rank.
    init(vocabulary: Vocabulary, merges mergeList: [([UInt8], [UInt8])],
         preTokenizer: Result<BPEPreTokenizer, TokenizerError>,
         bos: Int32?, eos: Int32?, endOfGeneration: Set<Int32>, prefixTokens: [Int32], suffixTokens: [Int32],
         rules: WordRules, spaceCleanup: SpaceCleanup, normalizesNFC: Bool = false,
         unknownSymbol: UnknownSymbol) throws {
        var vocabulary = vocabulary
        vocabularyCount = vocabulary.count
        var table: [UInt64: Merge] = [:]
        table.reserveCapacity(mergeList.count)
        for (rank, (left, right)) in mergeList.enumerated() {
            guard !left.isEmpty, !right.isEmpty else {
                throw TokenizerError.malformed("merge #\(rank) has an empty side")
            }
            let l = vocabulary.intern(left), r = vocabulary.intern(right)
            let key = UInt64(UInt32(l)) << 32 | UInt64(UInt32(r))
            if table[key] == nil { table[key] = Merge(rank: Int32(rank), result: vocabulary.intern(left + right)) }
        }
        for case let id? in [bos, eos] + prefixTokens.map(Optional.some) + suffixTokens.map(Optional.some)
            where id < 0 || Int(id) >= vocabularyCount {
            throw TokenizerError.malformed("special token id \(id) is outside the vocabulary of \(vocabularyCount)")
        }
        self.merges = table
        self.symbolOfByte = ByteLevelAlphabet.utf8OfByte.map { vocabulary.symbolId(of: $0) ?? -1 }
        self.vocabulary = vocabulary
        self.preTokenization = preTokenizer
        self.bosToken = bos
        self.eosToken = eos
        self.endOfGenerationTokens = endOfGeneration
        self.prefixTokens = prefixTokens
        self.suffixTokens = suffixTokens
        self.rules = rules
        self.spaceCleanup = spaceCleanup
        self.normalizesNFC = normalizesNFC
        self.unknownSymbol = unknownSymbol
        self.partitioner = SpecialTokenPartitioner(vocabulary: vocabulary)
        self.byteTokens = vocabulary.byteFallbackTokens()
        self.hexByteTokens = vocabulary.hexByteTokens()
    }

    /// Throws `TokenizerError.unsupportedPreTokenizer` when the file names a pre-tokenizer this build does not know.
    public func encode(_ text: String, addSpecial: Bool, parseSpecial: Bool) throws -> [Int32] {
        let preTokenizer = try preTokenization.get()
        let input = Array((normalizesNFC ? text.precomposedStringWithCanonicalMapping : text).utf8)
        var output: [Int32] = addSpecial ? prefixTokens : []
        output.reserveCapacity(input.count / 3 + 2)
        var session = Session()
        for fragment in partitioner.partition(input, parseSpecial: parseSpecial) {
            switch fragment {
            case .token(let id):
                output.append(id)
            case .text(let range):
                var bytes = input[range]
                if preTokenizer.addsPrefixSpace && bytes.first != 0x20 { bytes = ArraySlice([0x20] + bytes) }
                if rules.escapesSpaces { bytes = ArraySlice(EscapedSpace.escape(bytes)) }
                let segments = rules.dropsWhitespace ? Self.nonWhitespaceRuns(bytes, lowercased: rules.lowercases) : [bytes]
                for segment in segments {
                    for word in preTokenizer.words(segment) { session.tokenize(segment[word], tokenizer: self, into: &output) }
                }
            }
        }
        if addSpecial { output.append(contentsOf: suffixTokens) }
        return output
    }

    /// The "whitespace" tokenizer's words: maximal runs without White_Space characters, optionally lowercased.
    static func nonWhitespaceRuns(_ bytes: ArraySlice<UInt8>, lowercased: Bool) -> [ArraySlice<UInt8>] {
        var runs: [ArraySlice<UInt8>] = []
        var current: [UInt8] = []
        for scalar in String(decoding: bytes, as: UTF8.self).unicodeScalars {
            if scalar.properties.isWhitespace {
                if !current.isEmpty { runs.append(current[...]) }
                current = []
            } else {
                // The simple (one-character) mapping, as llama.cpp's lowercase table has it.
                let mapped = lowercased ? scalar.properties.lowercaseMapping.unicodeScalars.first ?? scalar : scalar
                current.append(contentsOf: String(mapped).utf8)
            }
        }
        if !current.isEmpty { runs.append(current[...]) }
        return runs
    }

    public func pieceBytes(_ id: Int32) -> [UInt8] {
        guard id >= 0, Int(id) < vocabularyCount else { return [] }
        let attributes = vocabulary.attributes[Int(id)]
        if !attributes.isDisjoint(with: [.unknown, .control]) { return [] }
        if attributes.contains(.userDefined) { return Array(vocabulary.text(id)) }
        if attributes.contains(.normal) {
            if rules.escapesSpaces { return EscapedSpace.unescape(vocabulary.text(id)) }
            // Without byte encoding a token is its own text. (llama.cpp still reads it as GPT-2 characters, which
            // garbles the "whitespace" tokenizer's non-ASCII text; that is not copied.)
            if !rules.spellsBytes { return Array(vocabulary.text(id)) }
            // Characters outside the GPT-2 alphabet pass through as their UTF-8 (llama.cpp writes an
            // "[UNK_BYTE_0x..]" marker instead; converted vocabularies do not contain any).
            var out: [UInt8] = []
            for scalar in String(decoding: vocabulary.text(id), as: UTF8.self).unicodeScalars {
                if Int(scalar.value) < ByteLevelAlphabet.byteOfCharacter.count,
                   let b = ByteLevelAlphabet.byteOfCharacter[Int(scalar.value)] {
                    out.append(b)
                } else {
                    out.append(contentsOf: String(scalar).utf8)
                }
            }
            return out
        }
        if attributes.contains(.byte) { return vocabulary.byteValue(id).map { [$0] } ?? Array(vocabulary.text(id)) }
        return []
    }

    public func decode(_ ids: [Int32]) -> String {
        var bytes: [UInt8] = []
        for id in ids { bytes.append(contentsOf: pieceBytes(id)) }
        switch spaceCleanup {
        case .none: break
        case .llamaCpp: bytes = Self.llamaCppCleanSpaces(bytes)
        case .huggingFace: return Self.huggingFaceCleanUp(String(decoding: bytes, as: UTF8.self))
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// The three passes of llama.cpp `detokenize` when `clean_spaces` is set.
    static func llamaCppCleanSpaces(_ text: [UInt8]) -> [UInt8] {
        let space = UInt8(ascii: " "), quote = UInt8(ascii: "'")
        guard text.count > 1 else { return text }
        // " ?", " !", " .", " ," lose the space.
        var a: [UInt8] = [text[0]]
        for i in 1..<text.count {
            let x = text[i]
            if text[i - 1] == space, "?!.,".utf8.contains(x) { a.removeLast() }
            a.append(x)
        }
        // " ' " becomes "'"; like llama.cpp, the swallowed space is zeroed in place, so it no longer counts as the
        // space before a following quote.
        var b: [UInt8] = [a[0]]
        var i = 1
        while i < a.count {
            let x = a[i]
            if x == quote, i + 1 < a.count, a[i - 1] == space, a[i + 1] == space {
                b.removeLast()
                b.append(x)
                a[i + 1] = 0
                i += 2
                continue
            }
            b.append(x)
            i += 1
        }
        // " 's", " 'm", " 're", " 've" lose the space (" 't", " 'd", " 'll" keep it).
        var c: [UInt8] = [b[0]]
        for i in 1..<b.count {
            let x = b[i]
            if b[i - 1] == space, x == quote, i + 1 < b.count {
                let x1 = b[i + 1]
                if x1 == UInt8(ascii: "s") || x1 == UInt8(ascii: "m") {
                    c.removeLast()
                } else if i + 2 < b.count {
                    let x2 = b[i + 2]
                    if (x1 == UInt8(ascii: "r") && x2 == UInt8(ascii: "e")) || (x1 == UInt8(ascii: "v") && x2 == UInt8(ascii: "e")) {
                        c.removeLast()
                    }
                }
            }
            c.append(x)
        }
        return c
    }

    /// transformers `PreTrainedTokenizerBase.clean_up_tokenization`.
    static func huggingFaceCleanUp(_ text: String) -> String {
        var s = text
        for (from, to) in [(" .", "."), (" ?", "?"), (" !", "!"), (" ,", ","), (" ' ", "'"), (" n't", "n't"),
                           (" 'm", "'m"), (" 's", "'s"), (" 've", "'ve"), (" 're", "'re")] {
            s = s.replacingOccurrences(of: from, with: to)
        }
        return s
    }

    /// Per-call scratch (llama.cpp's `llm_tokenizer_bpe_session`), reused across words.
    private struct Session {
        var encoded: [UInt8] = []  // the word in the GPT-2 alphabet
        var symbols = SymbolChain()
        var symbol: [Int32] = []  // each symbol's id (token id, or an id for a non-token merge part, or -1)

        struct Bigram {
            let rank: Int32
            let left: Int32
            let right: Int32
            let leftSymbol: Int32
            let rightSymbol: Int32
        }
        // Lowest rank first; ties go to the leftmost pair (llm_bigram_bpe::comparator).
        var queue = BinaryHeap<Bigram> { a, b in a.rank < b.rank || (a.rank == b.rank && a.left < b.left) }

        mutating func tokenize(_ word: ArraySlice<UInt8>, tokenizer t: ByteLevelBPETokenizer, into output: inout [Int32]) {
            guard !word.isEmpty else { return }
            encoded.removeAll(keepingCapacity: true)
            symbol.removeAll(keepingCapacity: true)
            symbols.reset()
            queue.removeAll()
            if t.rules.spellsBytes {
                // One symbol per byte of the word (one GPT-2 alphabet character each).
                for (k, b) in word.enumerated() {
                    let utf8 = ByteLevelAlphabet.utf8OfByte[Int(b)]
                    symbols.append(offset: encoded.count, count: utf8.count, isLast: k + 1 == word.count)
                    encoded.append(contentsOf: utf8)
                    symbol.append(t.symbolOfByte[Int(b)])
                }
            } else {
                // One symbol per UTF-8 character of the word (llama.cpp `unicode_len_utf8`).
                var k = word.startIndex
                while k < word.endIndex {
                    let n = min(utf8SequenceLength(word[k]), word.endIndex - k)
                    let character = Array(word[k..<(k + n)])
                    symbols.append(offset: encoded.count, count: n, isLast: k + n == word.endIndex)
                    encoded.append(contentsOf: character)
                    symbol.append(t.vocabulary.symbolId(of: character) ?? -1)
                    k += n
                }
            }
            let wholeWordCounts = t.rules.ignoresMerges || (t.rules.wholeNewlineRuns && word.allSatisfy { $0 == 0x0A })
            if wholeWordCounts, let id = t.vocabulary.id(of: encoded) {
                output.append(id)
                return
            }
            for i in 1..<symbols.count { addBigram(Int32(i - 1), Int32(i), t) }

            while let bigram = queue.pop() {
                let l = Int(bigram.left), r = Int(bigram.right)
                // Stale if either side changed since the pair was queued (llama.cpp compares the texts).
                if symbols.length[l] == 0 || symbols.length[r] == 0
                    || symbol[l] != bigram.leftSymbol || symbol[r] != bigram.rightSymbol {
                    continue
                }
                symbol[l] = t.merges[Self.key(bigram.leftSymbol, bigram.rightSymbol)]!.result
                symbols.merge(bigram.left, bigram.right)
                addBigram(symbols.previous[l], bigram.left, t)
                addBigram(bigram.left, symbols.next[l], t)
            }

            var i: Int32 = 0
            while i != -1 {
                let s = symbol[Int(i)]
                if s >= 0 && Int(s) < t.vocabularyCount {
                    output.append(s)
                } else {
                    appendUnknown(Int(symbols.start[Int(i)]), Int(symbols.length[Int(i)]), t, &output)
                }
                i = symbols.next[Int(i)]
            }
        }

        private func appendUnknown(_ s: Int, _ n: Int, _ t: ByteLevelBPETokenizer, _ output: inout [Int32]) {
            switch t.unknownSymbol {
            case .singleByteTokens:
                for k in s..<(s + n) {
                    if let id = t.vocabulary.id(of: [encoded[k]]) { output.append(id) }
                }
            case .hexByteTokens:
                for k in s..<(s + n) {
                    if let id = t.hexByteTokens[Int(encoded[k])] { output.append(id) }
                }
            case .huggingFace(let byteFallback, let unknown):
                if byteFallback {
                    // The symbol's original bytes, back from the GPT-2 alphabet.
                    for scalar in String(decoding: encoded[s..<(s + n)], as: UTF8.self).unicodeScalars {
                        if Int(scalar.value) < ByteLevelAlphabet.byteOfCharacter.count,
                           let b = ByteLevelAlphabet.byteOfCharacter[Int(scalar.value)], let id = t.byteTokens[Int(b)] {
                            output.append(id)
                        } else if let unknown {
                            output.append(unknown)
                        }
                    }
                } else if let unknown {
                    output.append(unknown)
                }
            }
        }

        private static func key(_ l: Int32, _ r: Int32) -> UInt64 { UInt64(UInt32(l)) << 32 | UInt64(UInt32(r)) }

        private mutating func addBigram(_ left: Int32, _ right: Int32, _ t: ByteLevelBPETokenizer) {
            guard left >= 0, right >= 0 else { return }
            let l = symbol[Int(left)], r = symbol[Int(right)]
            guard l >= 0, r >= 0, let merge = t.merges[Self.key(l, r)] else { return }
            queue.push(Bigram(rank: merge.rank, left: left, right: right, leftSymbol: l, rightSymbol: r))
        }
    }
}
