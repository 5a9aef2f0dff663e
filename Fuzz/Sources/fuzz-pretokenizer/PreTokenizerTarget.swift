import FuzzSupport
@testable import LongLMModels

// The text-splitting steps in front of BPE and SentencePiece: every known pre-tokenizer's words (which must
// tile the text exactly), the user-defined-token partition, and a whole encode/decode with small tokenizers of
// both kinds. The input is text, as `encode` receives it (a String, so valid UTF-8).

let preTokenizers: [BPEPreTokenizer] = PreTokenizerRule.allCases.map { try! BPEPreTokenizer(name: $0.rawValue, rule: $0) }

/// A byte-level vocabulary (the 256 byte characters, a few merges) with two user-defined tokens.
let byteLevel: any Tokenizer = {
    let alphabet = ByteLevelAlphabet.characterOfByte.map { String($0) }
    let merged = ["Ġt", "he", "Ġthe", "in", "Ġa", "er", "on", "Ġw", "re", "Ġo"]
    let special = ["<b>", " <lstrip>"]
    let tokens = alphabet + merged + special
    let merges = ["Ġ t", "h e", "Ġt he", "i n", "Ġ a", "e r", "o n", "Ġ w", "r e", "Ġ o"]
    let types = Array(repeating: Int32(1), count: alphabet.count + merged.count) + [4, 4]
    return try! TokenizerLoader.load(metadata: [
        "tokenizer.ggml.model": .string("gpt2"), "tokenizer.ggml.pre": .string("llama-bpe"),
        "tokenizer.ggml.tokens": .array(.string, tokens.map { .string($0) }),
        "tokenizer.ggml.merges": .array(.string, merges.map { .string($0) }),
        "tokenizer.ggml.token_type": .array(.int32, types.map { .int32($0) }),
        "tokenizer.ggml.bos_token_id": .uint32(0),
    ])
}()

/// A SentencePiece vocabulary with byte-fallback tokens and a user-defined token.
let sentencePiece: any Tokenizer = {
    let pieces = ["\u{2581}", "\u{2581}a", "a", "b", "ab", "\u{2581}the", "e", "<b>"]
    let bytes = (0..<256).map { "<0x" + String($0, radix: 16, uppercase: true).leftPadded(to: 2) + ">" }
    let tokens = ["<unk>", "<s>", "</s>"] + pieces + bytes
    let types: [Int32] = [2, 3, 3] + Array(repeating: 1, count: pieces.count - 1) + [4] + Array(repeating: 6, count: 256)
    return try! TokenizerLoader.load(metadata: [
        "tokenizer.ggml.model": .string("llama"),
        "tokenizer.ggml.tokens": .array(.string, tokens.map { .string($0) }),
        "tokenizer.ggml.scores": .array(.float32, tokens.indices.map { .float32(-Float($0)) }),
        "tokenizer.ggml.token_type": .array(.int32, types.map { .int32($0) }),
    ])
}()

extension String {
    func leftPadded(to n: Int) -> String { String(repeating: "0", count: max(0, n - count)) + self }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzPreTokenizer(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let text = String(decoding: input(data, size), as: UTF8.self)
    let bytes = Array(text.utf8)
    for p in preTokenizers {
        var next = 0
        for word in p.words(bytes[...]) {
            // A gap, an overlap or an empty word would lose or duplicate text.
            guard word.lowerBound == next, word.upperBound > word.lowerBound else {
                fatalError("pre-tokenizer \(p.name): word \(word) does not continue at \(next)")
            }
            next = word.upperBound
        }
        guard next == bytes.count else { fatalError("pre-tokenizer \(p.name): words end at \(next) of \(bytes.count)") }
    }
    for tokenizer in [byteLevel, sentencePiece] {
        let ids = try! tokenizer.encode(text, addSpecial: true)
        _ = tokenizer.decode(ids)
        for id in ids { _ = tokenizer.pieceBytes(id) }
    }
    return 0
}
