import Foundation

/// Splits text into the words BPE merges within. Each expression splits every piece the previous one produced;
/// both the matches and the text between them become pieces (llama.cpp's `unicode_regex_split`, Hugging Face `Split`
/// with behavior `Isolated`).
public struct BPEPreTokenizer: Sendable {
    public let name: String
    /// Hugging Face ByteLevel `add_prefix_space`: a text fragment that does not start with a space gets one.
    public let addsPrefixSpace: Bool
    let expressions: [SplitExpression]

    public var patterns: [String] { expressions.map(\.source) }

    /// One of llama.cpp's pre-tokenizer types, each expression run the way llama.cpp runs it.
    init(name: String, rule: PreTokenizerRule) throws {
        self.name = name
        self.addsPrefixSpace = false
        self.expressions = try rule.expressions.map { try SplitExpression(llamaCpp: $0) }
    }

    /// The `Split` / ByteLevel expressions of a Hugging Face tokenizer.json (Rust regex syntax, Unicode semantics).
    init(name: String, huggingFacePatterns: [String], addsPrefixSpace: Bool = false) throws {
        self.name = name
        self.addsPrefixSpace = addsPrefixSpace
        self.expressions = try huggingFacePatterns.map { try SplitExpression(huggingFace: $0) }
    }

    /// Byte ranges (into `bytes`' indices) of the words of one text fragment, in order, none empty.
    func words(_ bytes: ArraySlice<UInt8>) -> [Range<Int>] {
        var pieces = [bytes.indices]
        for expression in expressions {
            var next: [Range<Int>] = []
            next.reserveCapacity(pieces.count)
            for piece in pieces { expression.split(bytes[piece], into: &next) }
            pieces = next
        }
        return pieces.filter { !$0.isEmpty }
    }
}
