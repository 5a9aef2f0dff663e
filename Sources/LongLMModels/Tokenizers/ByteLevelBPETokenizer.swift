import Foundation

// Byte-level BPE (GGUF `tokenizer.ggml.model = "gpt2"`; Hugging Face tokenizer.json with a ByteLevel decoder):
// GPT-2, Llama 3, Qwen 2. Port of the rules in llama.cpp src/llama-vocab.cpp (`llm_tokenizer_bpe`,
// `llm_tokenizer_bpe_session`, the BPE branches of `token_to_piece` and `detokenize`) and src/unicode.cpp
// (`unicode_regex_split`, `unicode_byte_to_utf8_map`).

/// Splits text into the words BPE merges within. Each expression splits every piece the previous one produced;
/// both the matches and the text between them become pieces (llama.cpp `unicode_regex_split`, HF `Split` with
/// behavior `Isolated`).
public struct BPEPreTokenizer: Sendable {
    public let name: String
    public let patterns: [String]
    /// Hugging Face ByteLevel `add_prefix_space`: a text fragment that does not start with a space gets one.
    public let addsPrefixSpace: Bool
    private let expressions: [RegexBox]

    /// `patterns` use Rust/PCRE syntax; `\s` and `\S` are rewritten to the Unicode White_Space property, which is
    /// what llama.cpp and the `tokenizers` library match (ICU's own `\s` leaves out U+000B and U+0085).
    public init(name: String, patterns: [String], addsPrefixSpace: Bool = false) throws {
        self.name = name
        self.patterns = patterns
        self.addsPrefixSpace = addsPrefixSpace
        self.expressions = try patterns.map { pattern in
            do {
                return RegexBox(try NSRegularExpression(pattern: Self.icuPattern(pattern)))
            } catch {
                throw TokenizerError.malformed("pre-tokenizer '\(name)': cannot compile regex \(pattern): \(error)")
            }
        }
    }

    static let gpt2Pattern = #"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)"#
    static let llama3Pattern =
        #"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#
    static let qwen2Pattern =
        #"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#
    /// llama.cpp's LLAMA_VOCAB_PRE_TYPE_DEFAULT, used when a file names no pre-tokenizer.
    static let defaultPatterns = [#"[\p{P}\$\+<=>\^~\|]+"#, gpt2Pattern, #"\p{N}+"#, "[0-9][0-9][0-9]"]

    /// Rewrites `\s` / `\S` (outside escapes such as `\\s`) to `\p{White_Space}` / `\P{White_Space}`.
    static func icuPattern(_ pattern: String) -> String {
        var out = ""
        var escaped = false
        for c in pattern {
            if escaped {
                switch c {
                case "s": out += #"\p{White_Space}"#
                case "S": out += #"\P{White_Space}"#
                default: out.append("\\"); out.append(c)
                }
                escaped = false
            } else if c == "\\" {
                escaped = true
            } else {
                out.append(c)
            }
        }
        if escaped { out.append("\\") }
        return out
    }

    /// Byte ranges (into `bytes`' indices) of the words of one text fragment, in order, none empty.
    func words(_ bytes: ArraySlice<UInt8>) -> [Range<Int>] {
        var pieces = [bytes.indices]
        for expression in expressions {
            var next: [Range<Int>] = []
            next.reserveCapacity(pieces.count)
            for piece in pieces { Self.split(bytes[piece], with: expression.regex, into: &next) }
            pieces = next
        }
        return pieces
    }

    /// Matches and gaps of one piece, each piece searched on its own (as llama.cpp does: lookahead stops at the
    /// piece's end), which also keeps the work linear in the text length.
    private static func split(_ bytes: ArraySlice<UInt8>, with regex: NSRegularExpression, into out: inout [Range<Int>]) {
        guard !bytes.isEmpty else { return }
        let string = String(decoding: bytes, as: UTF8.self)
        // UTF-16 offset (what NSRegularExpression reports) to byte index.
        var byteIndex: [Int] = []
        byteIndex.reserveCapacity(bytes.count + 1)
        var position = bytes.startIndex
        for scalar in string.unicodeScalars {
            byteIndex.append(position)
            if scalar.value > 0xFFFF { byteIndex.append(position) }
            position += UTF8.width(scalar)
        }
        byteIndex.append(position)
        var last = 0
        let whole = NSRange(location: 0, length: byteIndex.count - 1)
        for match in regex.matches(in: string, options: [], range: whole) where match.range.length > 0 {
            let range = match.range
            if range.location > last { out.append(byteIndex[last]..<byteIndex[range.location]) }
            out.append(byteIndex[range.location]..<byteIndex[range.location + range.length])
            last = range.location + range.length
        }
        if last < whole.length { out.append(byteIndex[last]..<byteIndex[whole.length]) }
    }
}

/// NSRegularExpression is immutable and documented as safe to share between threads.
final class RegexBox: @unchecked Sendable {
    let regex: NSRegularExpression
    init(_ regex: NSRegularExpression) { self.regex = regex }
}

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
/// symbols merge in `merges` rank order (lowest rank first, leftmost on ties).
public struct ByteLevelBPETokenizer: Tokenizer {
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
        /// Hugging Face BPE: `<0xXX>` tokens with `byte_fallback`, else the unknown token, else nothing.
        case huggingFace(byteFallback: Bool, unknown: Int32?)
    }

    public let bosToken: Int32?
    public let eosToken: Int32?
    public let endOfGenerationTokens: Set<Int32>
    public let preTokenizer: BPEPreTokenizer
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
    private let ignoresMerges: Bool
    private let normalizesNFC: Bool
    private let unknownSymbol: UnknownSymbol
    private let partitioner: SpecialTokenPartitioner
    private let byteTokens: [Int32?]

    struct Merge: Sendable {
        let rank: Int32
        let result: Int32
    }

    public var vocabularySize: Int { vocabularyCount }
    public var addsBOS: Bool { bosToken != nil && prefixTokens.first == bosToken }

    /// `merges` in rank order, each as (left, right) in the GPT-2 alphabet; a repeated pair keeps its first rank.
    init(vocabulary: Vocabulary, merges mergeList: [([UInt8], [UInt8])], preTokenizer: BPEPreTokenizer,
         bos: Int32?, eos: Int32?, endOfGeneration: Set<Int32>, prefixTokens: [Int32], suffixTokens: [Int32],
         ignoresMerges: Bool, spaceCleanup: SpaceCleanup, normalizesNFC: Bool = false,
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
        self.preTokenizer = preTokenizer
        self.bosToken = bos
        self.eosToken = eos
        self.endOfGenerationTokens = endOfGeneration
        self.prefixTokens = prefixTokens
        self.suffixTokens = suffixTokens
        self.ignoresMerges = ignoresMerges
        self.spaceCleanup = spaceCleanup
        self.normalizesNFC = normalizesNFC
        self.unknownSymbol = unknownSymbol
        self.partitioner = SpecialTokenPartitioner(vocabulary: vocabulary)
        self.byteTokens = vocabulary.byteFallbackTokens()
    }

    public func encode(_ text: String, addSpecial: Bool, parseSpecial: Bool) -> [Int32] {
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
                for word in preTokenizer.words(bytes) { session.tokenize(bytes[word], tokenizer: self, into: &output) }
            }
        }
        if addSpecial { output.append(contentsOf: suffixTokens) }
        return output
    }

    public func pieceBytes(_ id: Int32) -> [UInt8] {
        guard id >= 0, Int(id) < vocabularyCount else { return [] }
        let attributes = vocabulary.attributes[Int(id)]
        if !attributes.isDisjoint(with: [.unknown, .control]) { return [] }
        if attributes.contains(.userDefined) { return Array(vocabulary.text(id)) }
        if attributes.contains(.normal) {
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
            // One symbol per byte of the word (one GPT-2 alphabet character each).
            for (k, b) in word.enumerated() {
                let utf8 = ByteLevelAlphabet.utf8OfByte[Int(b)]
                symbols.append(offset: encoded.count, count: utf8.count, isLast: k + 1 == word.count)
                encoded.append(contentsOf: utf8)
                symbol.append(t.symbolOfByte[Int(b)])
            }
            if t.ignoresMerges, let id = t.vocabulary.id(of: encoded) {
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
