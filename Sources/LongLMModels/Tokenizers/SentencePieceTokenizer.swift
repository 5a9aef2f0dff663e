// llama.cpp's SPM tokenizer (GGUF `tokenizer.ggml.model = "llama"`): Llama 1/2, Mistral v1, Gemma 1-3.
// Port of the rules in llama.cpp src/llama-vocab.cpp: `llm_tokenizer_spm_session` and the
// LLAMA_VOCAB_TYPE_SPM branch of `llama_vocab::impl::tokenize` (encoding), `token_to_piece` and `detokenize`.

/// SentencePiece-style tokenizer with scores: spaces become U+2581, then adjacent pieces merge, highest-scoring
/// vocabulary entry first, and characters no token covers fall back to `<0xXX>` byte tokens.
public struct SentencePieceTokenizer: Tokenizer {
    public let bosToken: Int32?
    public let eosToken: Int32?
    public let unknownToken: Int32?
    public let endOfGenerationTokens: Set<Int32>
    public let addsBOS: Bool
    public let addsEOS: Bool
    /// Prefix each text fragment that follows BOS, a user-defined token or the start with a space
    /// (`tokenizer.ggml.add_space_prefix`; true for Llama 2, false for Gemma).
    public let addsSpacePrefix: Bool

    let vocabulary: Vocabulary
    private let scores: [Float]
    private let partitioner: SpecialTokenPartitioner
    private let byteTokens: [Int32?]

    public var vocabularySize: Int { vocabulary.count }

    /// `vocabulary` carries the final attributes (the loader applies llama.cpp's load-time rules).
    init(vocabulary: Vocabulary, scores: [Float], bos: Int32?, eos: Int32?, unknown: Int32?,
         endOfGeneration: Set<Int32>, addsBOS: Bool, addsEOS: Bool, addsSpacePrefix: Bool) throws {
        guard scores.count == vocabulary.count else {
            throw TokenizerError.malformed("\(scores.count) scores for \(vocabulary.count) tokens")
        }
        if addsBOS && bos == nil { throw TokenizerError.malformed("add_bos_token is true but there is no BOS token") }
        if addsEOS && eos == nil { throw TokenizerError.malformed("add_eos_token is true but there is no EOS token") }
        self.vocabulary = vocabulary
        self.scores = scores
        self.bosToken = bos
        self.eosToken = eos
        self.unknownToken = unknown
        self.endOfGenerationTokens = endOfGeneration
        self.addsBOS = addsBOS
        self.addsEOS = addsEOS
        self.addsSpacePrefix = addsSpacePrefix
        self.partitioner = SpecialTokenPartitioner(vocabulary: vocabulary)
        self.byteTokens = vocabulary.byteFallbackTokens()
    }


    public func encode(_ text: String, addSpecial: Bool, parseSpecial: Bool) -> [Int32] {
        let input = Array(text.utf8)
        var output: [Int32] = []
        output.reserveCapacity(input.count / 3 + 2)
        if addSpecial && addsBOS, let bos = bosToken { output.append(bos) }
        var session = Session()
        var isPreviousSpecial = true  // the first fragment gets the space prefix too
        var escaped: [UInt8] = []
        for fragment in partitioner.partition(input, parseSpecial: parseSpecial) {
            switch fragment {
            case .token(let id):
                output.append(id)
                isPreviousSpecial = true
            case .text(let range):
                escaped.removeAll(keepingCapacity: true)
                if addsSpacePrefix && isPreviousSpecial { escaped.append(contentsOf: EscapedSpace.bytes) }
                for b in input[range] {
                    if b == 0x20 { escaped.append(contentsOf: EscapedSpace.bytes) } else { escaped.append(b) }
                }
                session.tokenize(escaped, tokenizer: self, into: &output)
                isPreviousSpecial = false
            }
        }
        if addSpecial && addsEOS, let eos = eosToken { output.append(eos) }
        return output
    }

    public func pieceBytes(_ id: Int32) -> [UInt8] {
        guard id >= 0, Int(id) < vocabulary.count else { return [] }
        let attributes = vocabulary.attributes[Int(id)]
        if !attributes.isDisjoint(with: [.unknown, .control]) { return [] }
        if attributes.contains(.userDefined) { return Array(vocabulary.text(id)) }
        if attributes.contains(.normal) { return EscapedSpace.unescape(vocabulary.text(id)) }
        if attributes.contains(.byte) { return vocabulary.byteValue(id).map { [$0] } ?? Array(vocabulary.text(id)) }
        return []  // UNUSED and UNDEFINED render as nothing, as in llama.cpp
    }

    public func decode(_ ids: [Int32]) -> String {
        var bytes: [UInt8] = []
        // llama_detokenize(remove_special: false) strips one leading space from the first piece when the model adds
        // a space prefix, whatever that first token is.
        var removeSpace = addsSpacePrefix
        for id in ids {
            var piece = pieceBytes(id)[...]
            if removeSpace, piece.first == 0x20 { piece = piece.dropFirst() }
            removeSpace = false
            bytes.append(contentsOf: piece)
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Per-call scratch (llama.cpp's `llm_tokenizer_spm_session`), reused across the fragments of one call.
    private struct Session {
        var symbols = SymbolChain()

        struct Bigram {
            let left: Int32
            let right: Int32
            let score: Float
            let size: Int32
        }
        // Highest score first; ties go to the leftmost pair (llm_bigram_spm::comparator).
        var queue = BinaryHeap<Bigram> { a, b in a.score > b.score || (a.score == b.score && a.left < b.left) }

        mutating func tokenize(_ text: [UInt8], tokenizer: SentencePieceTokenizer, into output: inout [Int32]) {
            guard !text.isEmpty else { return }
            symbols.reset()
            queue.removeAll()
            text.withUnsafeBufferPointer { buffer in
                let base = buffer.baseAddress!
                // One symbol per UTF-8 character (a truncated sequence at the end is cut to what is there).
                var offset = 0
                while offset < buffer.count {
                    let n = min(utf8SequenceLength(buffer[offset]), buffer.count - offset)
                    symbols.append(offset: offset, count: n, isLast: offset + n == buffer.count)
                    offset += n
                }
                for i in 1..<symbols.count { addBigram(Int32(i - 1), Int32(i), base, tokenizer) }

                while let bigram = queue.pop() {
                    let l = Int(bigram.left), r = Int(bigram.right)
                    let left = symbols.length[l], right = symbols.length[r]
                    if left == 0 || right == 0 || left + right != bigram.size { continue }  // stale
                    symbols.merge(bigram.left, bigram.right)
                    addBigram(symbols.previous[l], bigram.left, base, tokenizer)
                    addBigram(bigram.left, symbols.next[l], base, tokenizer)
                }

                // Every merged symbol is a vocabulary entry (pairs are queued only if they are), so llama.cpp's
                // `resegment` reduces to: the symbol's token, or one byte token per byte.
                var i: Int32 = 0
                while i != -1 {
                    let s = Int(symbols.start[Int(i)]), n = Int(symbols.length[Int(i)])
                    if let id = tokenizer.vocabulary.table.lookup(base + s, n) {
                        output.append(id)
                    } else {
                        for k in s..<(s + n) {
                            // llama.cpp aborts when a byte has no token; the unknown token is the safer stand-in.
                            if let id = tokenizer.byteTokens[Int(buffer[k])] ?? tokenizer.unknownToken { output.append(id) }
                        }
                    }
                    i = symbols.next[Int(i)]
                }
            }
        }

        private mutating func addBigram(_ left: Int32, _ right: Int32, _ base: UnsafePointer<UInt8>,
                                        _ tokenizer: SentencePieceTokenizer) {
            guard left >= 0, right >= 0 else { return }
            let size = symbols.length[Int(left)] + symbols.length[Int(right)]
            guard let id = tokenizer.vocabulary.table.lookup(base + Int(symbols.start[Int(left)]), Int(size)) else { return }
            queue.push(Bigram(left: left, right: right, score: tokenizer.scores[Int(id)], size: size))
        }
    }
}
