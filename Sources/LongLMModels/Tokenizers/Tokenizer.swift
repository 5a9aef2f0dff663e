// The tokenizer protocol, its errors, and the pieces both algorithms share: token attributes, a byte-keyed
// vocabulary table, llama.cpp's special-token partition, and a binary heap for the merge loops.
// Rules follow llama.cpp src/llama-vocab.cpp (llama_vocab::impl::load, tokenizer_st_partition, token_to_piece).

/// Text to token ids and back, with ids identical to llama.cpp's `llama_tokenize(..., parse_special: false)`.
public protocol Tokenizer: Sendable {
    var vocabularySize: Int { get }
    var bosToken: Int32? { get }
    var eosToken: Int32? { get }
    /// Tokens that end generation: EOS plus the end-of-turn tokens llama.cpp recognises by name
    /// (`<end_of_turn>`, `<|eot_id|>`, `<|im_end|>` ...).
    var endOfGenerationTokens: Set<Int32> { get }
    /// Whether `encode(_, addSpecial: true)` prepends BOS (the model's `add_bos_token`).
    var addsBOS: Bool { get }
    /// `addSpecial`: prepend BOS (and append EOS) as the model's metadata says. User-defined tokens are split out
    /// first, as llama.cpp does; `parseSpecial` (llama.cpp's `parse_special`) also turns control tokens written in
    /// the text into their ids, which a rendered chat template needs (`<start_of_turn>` is one token, not text).
    /// Throws only when text cannot be encoded at all (an unknown pre-tokenizer); the vocabulary-only operations
    /// never need it.
    func encode(_ text: String, addSpecial: Bool, parseSpecial: Bool) throws -> [Int32]
    /// The text of `ids`, as llama.cpp's `llama_detokenize(remove_special: false, unparse_special: false)`:
    /// control tokens render as nothing; invalid UTF-8 becomes U+FFFD. It equals the concatenated `pieceBytes`
    /// except where llama.cpp tidies the joined text: the first space of a SentencePiece model with a space prefix,
    /// and the `clean_spaces` rules of most byte-level BPE pre-tokenizers.
    func decode(_ ids: [Int32]) -> String
    /// Raw bytes of one token as llama.cpp's `token_to_piece(special: false)` renders it (a byte-fallback token gives
    /// its byte, a control token nothing), for streaming; the bytes of a multi-byte character may span tokens.
    func pieceBytes(_ id: Int32) -> [UInt8]
}

public enum TokenizerError: Error, CustomStringConvertible {
    case missingMetadata(key: String)
    case wrongMetadataType(key: String, expected: String)
    case unsupportedModel(String)
    case unsupportedPreTokenizer(name: String, supported: [String])
    case malformed(String)
    case unreadable(path: String, detail: String)

    public var description: String {
        switch self {
        case .missingMetadata(let key):
            return "tokenizer metadata '\(key)' is missing from the model file; re-convert the model with a current convert_hf_to_gguf.py"
        case .wrongMetadataType(let key, let expected):
            return "tokenizer metadata '\(key)' is not \(expected)"
        case .unsupportedModel(let detail):
            return "unsupported tokenizer: \(detail)"
        case .unsupportedPreTokenizer(let name, let supported):
            return "unsupported pre-tokenizer '\(name)' (tokenizer.ggml.pre), so this model cannot encode text; pass "
                + "token ids instead (--tokens), or re-convert the model naming one of the \(supported.count) known "
                + "pre-tokenizers: \(supported.joined(separator: ", "))"
        case .malformed(let detail):
            return "malformed tokenizer: \(detail)"
        case .unreadable(let path, let detail):
            return "cannot read tokenizer file \(path): \(detail)"
        }
    }
}

/// GGUF `tokenizer.ggml.token_type` values (llama.h `llama_token_type`).
public enum TokenType: Int, Sendable {
    case undefined = 0, normal = 1, unknown = 2, control = 3, userDefined = 4, unused = 5, byte = 6
}

/// llama.cpp's `llama_token_attr` bits. A set, not a type: llama.cpp adds CONTROL to end-of-generation tokens named
/// like `</s>` even when the file says USER_DEFINED, and that changes both encoding and decoding.
struct TokenAttributes: OptionSet, Sendable {
    let rawValue: UInt16
    static let unknown = TokenAttributes(rawValue: 1 << 0)
    static let unused = TokenAttributes(rawValue: 1 << 1)
    static let normal = TokenAttributes(rawValue: 1 << 2)
    static let control = TokenAttributes(rawValue: 1 << 3)
    static let userDefined = TokenAttributes(rawValue: 1 << 4)
    static let byte = TokenAttributes(rawValue: 1 << 5)
    static let lstrip = TokenAttributes(rawValue: 1 << 7)
    static let rstrip = TokenAttributes(rawValue: 1 << 8)

    init(rawValue: UInt16) { self.rawValue = rawValue }

    init(_ type: TokenType) {
        switch type {
        case .undefined: self = []
        case .normal: self = .normal
        case .unknown: self = .unknown
        case .control: self = .control
        case .userDefined: self = .userDefined
        case .unused: self = .unused
        case .byte: self = .byte
        }
    }
}

/// SentencePiece's spelling of a space, U+2581 "▁" (SentencePiece vocabularies, and the BPE names that escape spaces).
enum EscapedSpace {
    static let bytes: [UInt8] = [0xE2, 0x96, 0x81]

    /// Spaces (U+0020 only) written as U+2581.
    static func escape(_ text: ArraySlice<UInt8>) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(text.count + text.count / 4)
        for b in text {
            if b == 0x20 { out.append(contentsOf: bytes) } else { out.append(b) }
        }
        return out
    }

    /// U+2581 back to spaces.
    static func unescape(_ text: ArraySlice<UInt8>) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(text.count)
        var i = text.startIndex
        while i < text.endIndex {
            if text[i] == 0xE2, i + 2 < text.endIndex, text[i + 1] == 0x96, text[i + 2] == 0x81 {
                out.append(0x20)
                i += 3
            } else {
                out.append(text[i])
                i += 1
            }
        }
        return out
    }
}

/// Token texts that end generation in llama.cpp (`special_eog_ids` in `llama_vocab::impl::load`); llama.cpp also marks
/// each as CONTROL.
let endOfGenerationTokenTexts: Set<String> = [
    "<|eot_id|>", "<|im_end|>", "<|end|>", "<|return|>", "<|call|>", "<|flush|>", "<|calls|>", "<end_of_turn>",
    "<|endoftext|>", "</s>", "<|eom_id|>", "<EOT>", "_<EOT>", "[EOT]", "[EOS]", "<|end_of_text|>",
    "<end_of_utterance>", "<eos>", "<turn|>", "<|tool_response>", "<｜end▁of▁sentence｜>", "[e~[",
]

extension Tokenizer {
    /// Control tokens written in the text stay text (llama.cpp `parse_special = false`): what a user's document needs.
    public func encode(_ text: String, addSpecial: Bool) throws -> [Int32] { try encode(text, addSpecial: addSpecial, parseSpecial: false) }
}

/// The vocabulary shared by both tokenizers: token bytes in one arena, attributes, and a byte-keyed lookup.
/// Keys are bytes, not `String`s: Swift's `String` equality is canonical equivalence, and Gemma 3's vocabulary has
/// hundreds of tokens that differ only in Unicode normalisation.
struct Vocabulary: Sendable {
    private(set) var attributes: [TokenAttributes]
    /// Token texts, plus any extra strings a tokenizer interns after the tokens (BPE merge parts).
    private(set) var table: ByteStringTable
    private let entryOfToken: [Int32]
    private let distinctTokenTexts: Int
    var count: Int { attributes.count }

    /// Empty token texts become `[EMPTY_<id>]` and duplicates resolve to the last id, as in llama.cpp.
    /// `extraStrings` reserves room for `intern(_:)`.
    init(tokens: [[UInt8]], attributes: [TokenAttributes], extraStrings: Int = 0) {
        precondition(tokens.count == attributes.count)
        var table = ByteStringTable(expectedCount: tokens.count + extraStrings)
        var entries = [Int32](repeating: 0, count: tokens.count)
        for (id, text) in tokens.enumerated() {
            entries[id] = Int32(table.insert(text.isEmpty ? Array("[EMPTY_\(id)]".utf8) : text, value: Int32(id)))
        }
        self.distinctTokenTexts = table.entryCount
        self.table = table
        self.entryOfToken = entries
        self.attributes = attributes
    }

    /// The text of a token.
    func text(_ id: Int32) -> ArraySlice<UInt8> { table.key(ofEntry: Int(entryOfToken[Int(id)])) }

    /// The id of `text`: its token id, or for a non-token a new id at or above `count`.
    mutating func intern(_ text: [UInt8]) -> Int32 {
        if let id = table.lookup(text) { return id }
        let id = Int32(count + (table.entryCount - distinctTokenTexts))
        table.insert(text, value: id)
        return id
    }

    /// The token id of `text` (never an interned non-token).
    func id(of text: [UInt8]) -> Int32? { table.lookup(text).flatMap { Int($0) < count ? $0 : nil } }

    /// The id of `text` if it is a token or was interned, else nil.
    func symbolId(of text: [UInt8]) -> Int32? { table.lookup(text) }

    mutating func addAttributes(_ extra: TokenAttributes, to id: Int32) { attributes[Int(id)].formUnion(extra) }
    mutating func setAttributes(_ value: TokenAttributes, of id: Int32) { attributes[Int(id)] = value }

    /// `<0xXX>` tokens for every byte (or the one-byte string), as llama.cpp's `byte_to_token` looks them up.
    func byteFallbackTokens() -> [Int32?] {
        zip(hexByteTokens(), 0..<256).map { hexToken, b in hexToken ?? id(of: [UInt8(b)]) }
    }

    /// The `<0xXX>` token of every byte, where the vocabulary has one.
    func hexByteTokens() -> [Int32?] {
        let hex = Array("0123456789ABCDEF".utf8)
        return (0..<256).map { b in id(of: Array("<0x".utf8) + [hex[b >> 4], hex[b & 15]] + Array(">".utf8)) }
    }

    /// The byte of a byte-fallback token `<0xXX>` (llama.cpp `token_to_byte` reads text[3..<5] as hex).
    func byteValue(_ id: Int32) -> UInt8? {
        let t = text(id)
        guard t.count == 6, let v = UInt8(String(decoding: t.dropFirst(3).prefix(2), as: UTF8.self), radix: 16) else {
            return nil
        }
        return v
    }

    /// End-of-generation ids and the CONTROL promotion llama.cpp applies to tokens with those names.
    mutating func markEndOfGeneration(extraIds: [Int32?]) -> Set<Int32> {
        var ids = Set<Int32>()
        for text in endOfGenerationTokenTexts {
            if let id = id(of: Array(text.utf8)) {
                ids.insert(id)
                addAttributes(.control, to: id)
            }
        }
        for case let id? in extraIds where Int(id) < count { ids.insert(id) }
        return ids
    }
}

/// Open-addressing hash table from byte strings to Int32, with every key stored once in a contiguous arena.
/// Lookups take a pointer and a length, so the merge loops never allocate.
struct ByteStringTable: Sendable {
    private var arena: [UInt8] = []
    private var keyStart: [Int32] = []
    private var keyLength: [Int32] = []
    private var values: [Int32] = []
    private var slots: [Int32]  // entry index, or -1
    private var mask: Int

    init(expectedCount: Int) {
        var capacity = 16
        while capacity < expectedCount * 2 { capacity <<= 1 }
        slots = [Int32](repeating: -1, count: capacity)
        mask = capacity - 1
        keyStart.reserveCapacity(expectedCount)
        keyLength.reserveCapacity(expectedCount)
        values.reserveCapacity(expectedCount)
    }

    var entryCount: Int { values.count }

    private static func hash(_ p: UnsafePointer<UInt8>, _ n: Int) -> Int {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325  // FNV-1a
        for i in 0..<n { h = (h ^ UInt64(p[i])) &* 0x0000_0100_0000_01b3 }
        return Int(truncatingIfNeeded: h ^ (h >> 29))
    }

    func key(ofEntry entry: Int) -> ArraySlice<UInt8> {
        let start = Int(keyStart[entry])
        return arena[start..<(start + Int(keyLength[entry]))]
    }

    /// Inserts `key`, or overwrites its value if present (last insert wins, like llama.cpp's `token_to_id[word] = i`).
    /// Returns the entry index.
    @discardableResult
    mutating func insert(_ key: [UInt8], value: Int32) -> Int {
        if (values.count + 1) * 2 > slots.count { grow() }
        let found: (slot: Int, entry: Int?) = key.withUnsafeBufferPointer { k in
            findSlot(k.baseAddress ?? UnsafePointer(bitPattern: 1)!, k.count)
        }
        if let entry = found.entry {
            values[entry] = value
            return entry
        }
        let entry = values.count
        keyStart.append(Int32(arena.count))
        keyLength.append(Int32(key.count))
        arena.append(contentsOf: key)
        values.append(value)
        slots[found.slot] = Int32(entry)
        return entry
    }

    private mutating func grow() {
        slots = [Int32](repeating: -1, count: slots.count * 2)
        mask = slots.count - 1
        arena.withUnsafeBufferPointer { a in
            for entry in 0..<values.count {
                let p = (a.baseAddress ?? UnsafePointer(bitPattern: 1)!) + Int(keyStart[entry])
                var slot = Self.hash(p, Int(keyLength[entry])) & mask
                while slots[slot] >= 0 { slot = (slot + 1) & mask }
                slots[slot] = Int32(entry)
            }
        }
    }

    private func findSlot(_ p: UnsafePointer<UInt8>, _ n: Int) -> (slot: Int, entry: Int?) {
        var slot = Self.hash(p, n) & mask
        return arena.withUnsafeBufferPointer { a in
            while true {
                let e = Int(slots[slot])
                if e < 0 { return (slot, nil) }
                if Int(keyLength[e]) == n {
                    let s = Int(keyStart[e])
                    var equal = true
                    for i in 0..<n where a[s + i] != p[i] { equal = false; break }
                    if equal { return (slot, e) }
                }
                slot = (slot + 1) & mask
            }
        }
    }

    func lookup(_ p: UnsafePointer<UInt8>, _ n: Int) -> Int32? {
        let found = findSlot(p, n)
        return found.entry.map { values[$0] }
    }

    func lookup(_ key: [UInt8]) -> Int32? {
        key.withUnsafeBufferPointer { k in lookup(k.baseAddress ?? UnsafePointer(bitPattern: 1)!, k.count) }
    }
}

/// A piece of input after special-token partitioning: raw text (a byte range of the input) or a token id.
enum TextFragment: Equatable {
    case text(Range<Int>)
    case token(Int32)
}

/// llama.cpp's `tokenizer_st_partition`: USER_DEFINED tokens written in the text are cut out before the main
/// algorithm runs; CONTROL and UNKNOWN tokens too with `parse_special`, else they are left as text. Tokens are tried longest first,
/// each one over every remaining text fragment, left to right, non-overlapping (so a longer token wins over a
/// shorter one anywhere in the text, not only at the same position). Matching is on bytes.
struct SpecialTokenPartitioner: Sendable {
    private struct Candidate: Sendable {
        let id: Int32
        let text: [UInt8]
        let lstrip: Bool
        let rstrip: Bool
        /// CONTROL or UNKNOWN: split out only with `parse_special`.
        let isSpecialOnly: Bool
    }
    private let candidates: [Candidate]

    init(vocabulary: Vocabulary) {
        var list: [Candidate] = []
        for id in 0..<vocabulary.count {
            let a = vocabulary.attributes[id]
            // llama.cpp caches CONTROL | USER_DEFINED | UNKNOWN tokens, then skips CONTROL and UNKNOWN when
            // parse_special is false.
            guard !a.isDisjoint(with: [.userDefined, .control, .unknown]) else { continue }
            let text = Array(vocabulary.text(Int32(id)))
            guard !text.isEmpty else { continue }
            list.append(Candidate(id: Int32(id), text: text, lstrip: a.contains(.lstrip), rstrip: a.contains(.rstrip),
                                  isSpecialOnly: !a.isDisjoint(with: [.control, .unknown])))
        }
        // llama.cpp sorts by length only (std::sort, unstable); ties are broken here by id so the order is defined.
        list.sort { $0.text.count != $1.text.count ? $0.text.count > $1.text.count : $0.id < $1.id }
        candidates = list
    }

    func partition(_ bytes: [UInt8], parseSpecial: Bool) -> [TextFragment] {
        guard !bytes.isEmpty else { return [] }
        var fragments: [TextFragment] = [.text(0..<bytes.count)]
        guard !candidates.isEmpty else { return fragments }
        bytes.withUnsafeBufferPointer { input in
            // Which bytes occur at all: most candidates can be skipped without a scan. With control tokens, which
            // byte pairs too (Gemma has 6,000 of them, nearly all starting "<u").
            var present = [Bool](repeating: false, count: 256)
            for b in input { present[Int(b)] = true }
            var presentPairs = [Bool](repeating: false, count: parseSpecial ? 1 << 16 : 0)
            if parseSpecial { for i in 1..<input.count { presentPairs[Int(input[i - 1]) << 8 | Int(input[i])] = true } }
            for candidate in candidates where present[Int(candidate.text[0])] && (parseSpecial || !candidate.isSpecialOnly) {
                if parseSpecial, candidate.text.count > 1, !presentPairs[Int(candidate.text[0]) << 8 | Int(candidate.text[1])] { continue }
                var next: [TextFragment] = []
                next.reserveCapacity(fragments.count)
                var changed = false
                for fragment in fragments {
                    guard case .text(let range) = fragment else { next.append(fragment); continue }
                    if Self.split(range, input, candidate, into: &next) { changed = true }
                }
                if changed { fragments = next }
            }
        }
        return fragments
    }

    /// Splits one text range at every occurrence of the candidate; returns whether anything matched.
    private static func split(_ range: Range<Int>, _ input: UnsafeBufferPointer<UInt8>, _ candidate: Candidate,
                              into out: inout [TextFragment]) -> Bool {
        let key = candidate.text
        let n = key.count
        var start = range.lowerBound
        var i = range.lowerBound
        var matched = false
        let first = key[0]
        while i + n <= range.upperBound {
            if input[i] == first {
                var equal = true
                for k in 1..<n where input[i + k] != key[k] { equal = false; break }
                if equal {
                    var leftEnd = i
                    if candidate.lstrip { while leftEnd > start, isCSpace(input[leftEnd - 1]) { leftEnd -= 1 } }
                    if leftEnd > start { out.append(.text(start..<leftEnd)) }
                    out.append(.token(candidate.id))
                    i += n
                    if candidate.rstrip { while i < range.upperBound, isCSpace(input[i]) { i += 1 } }
                    start = i
                    matched = true
                    continue
                }
            }
            i += 1
        }
        if start < range.upperBound { out.append(.text(start..<range.upperBound)) }
        return matched
    }

    /// C `isspace` in the "C" locale, as llama.cpp's lstrip/rstrip use.
    private static func isCSpace(_ b: UInt8) -> Bool { b == 0x20 || (b >= 0x09 && b <= 0x0D) }
}

/// llama.cpp's `llm_symbol` list: byte spans of a buffer, linked in text order. A merge grows the left symbol by its
/// right neighbour and empties that neighbour, so a queued pair is stale once either side's length has changed.
struct SymbolChain {
    var start: [Int32] = []
    var length: [Int32] = []
    var previous: [Int32] = []
    var next: [Int32] = []

    mutating func reset() {
        start.removeAll(keepingCapacity: true)
        length.removeAll(keepingCapacity: true)
        previous.removeAll(keepingCapacity: true)
        next.removeAll(keepingCapacity: true)
    }

    var count: Int { start.count }

    mutating func append(offset: Int, count n: Int, isLast: Bool) {
        let index = Int32(start.count)
        start.append(Int32(offset))
        length.append(Int32(n))
        previous.append(index - 1)
        next.append(isLast ? -1 : index + 1)
    }

    /// Merges `right`, the next symbol of `left`, into `left`.
    mutating func merge(_ left: Int32, _ right: Int32) {
        let l = Int(left), r = Int(right)
        length[l] += length[r]
        length[r] = 0
        next[l] = next[r]
        if next[r] >= 0 { previous[Int(next[r])] = left }
    }
}

/// Binary heap; `before(a, b)` is true when `a` must come out first.
struct BinaryHeap<Element> {
    private var items: [Element] = []
    private let before: (Element, Element) -> Bool

    init(before: @escaping (Element, Element) -> Bool) { self.before = before }

    var isEmpty: Bool { items.isEmpty }

    mutating func removeAll() { items.removeAll(keepingCapacity: true) }

    mutating func push(_ x: Element) {
        items.append(x)
        var i = items.count - 1
        while i > 0 {
            let parent = (i - 1) / 2
            guard before(items[i], items[parent]) else { break }
            items.swapAt(i, parent)
            i = parent
        }
    }

    mutating func pop() -> Element? {
        guard !items.isEmpty else { return nil }
        let top = items[0]
        let last = items.removeLast()
        if !items.isEmpty {
            items[0] = last
            var i = 0
            let n = items.count
            while true {
                let l = 2 * i + 1, r = l + 1
                var best = i
                if l < n, before(items[l], items[best]) { best = l }
                if r < n, before(items[r], items[best]) { best = r }
                if best == i { break }
                items.swapAt(i, best)
                i = best
            }
        }
        return top
    }
}

/// Bytes of the UTF-8 sequence that starts with `b` (llama.cpp `unicode_len_utf8`: a stray continuation byte counts 1).
@inline(__always)
func utf8SequenceLength(_ b: UInt8) -> Int {
    switch b >> 4 {
    case 0xC, 0xD: return 2
    case 0xE: return 3
    case 0xF: return 4
    default: return 1
    }
}
