import Foundation

// One step of a BPE pre-tokenizer, and the three ways llama.cpp's `unicode_regex_split` runs a step.
// llama.cpp does not hand its expressions to a Unicode-aware regex engine: for a few exact strings it runs a
// hand-written splitter, and everything else goes to C++ std::regex, which knows no Unicode categories, on a
// rewritten copy of the text. The ids depend on which path a string takes, so this file takes the same path for the
// same string (docs/tokenizers.md lists the consequences).

/// What an expression's regex is run on.
enum TextView: Sendable {
    /// The text itself, with Unicode categories and White_Space (Hugging Face's regexes, and the expressions llama.cpp
    /// splits by hand, whose splitters follow Unicode categories).
    case unicode
    /// llama.cpp's collapsed text, used when an expression names a category (`\p{L}` ...): ASCII stays, any other
    /// white space becomes U+000B, and every other character becomes the stand-in of its category; the expression's
    /// `\p{..}` become sets of the stand-in plus the ASCII members. `\p{Lu}` and `\p{Ll}` both mean "any letter".
    case categoryStandIns
    /// llama.cpp's std::wregex text, for expressions without categories: the code points, with non-ASCII white
    /// space as U+000B; `\s`, `\d`, `\w` are ASCII-only (the "C" locale).
    case codePoints

    /// The character the regex sees in place of `scalar`.
    func shown(_ scalar: Unicode.Scalar) -> Unicode.Scalar {
        switch self {
        case .unicode: return scalar
        case .codePoints: return scalar.value >= 0x80 && scalar.properties.isWhitespace ? "\u{0B}" : scalar
        case .categoryStandIns:
            if scalar.value < 0x80 { return scalar }
            if scalar.properties.isWhitespace { return "\u{0B}" }
            return LlamaCategory(scalar).standIn
        }
    }
}

/// The character classes llama.cpp's collapsed text distinguishes (its `k_ucat_cpt`, plus "other").
enum LlamaCategory: CaseIterable, Sendable {
    case number, letter, punctuation, mark, symbol, other

    init(_ scalar: Unicode.Scalar) {
        switch scalar.properties.generalCategory {
        case .decimalNumber, .letterNumber, .otherNumber: self = .number
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter: self = .letter
        case .connectorPunctuation, .dashPunctuation, .openPunctuation, .closePunctuation, .initialPunctuation,
             .finalPunctuation, .otherPunctuation: self = .punctuation
        case .nonspacingMark, .spacingMark, .enclosingMark: self = .mark
        case .mathSymbol, .currencySymbol, .modifierSymbol, .otherSymbol: self = .symbol
        default: self = .other
        }
    }

    /// A private-use character per class; the collapsed text holds only ASCII, U+000B and these.
    var standIn: Unicode.Scalar {
        switch self {
        case .other: return "\u{E000}"
        case .number: return "\u{E001}"
        case .letter: return "\u{E002}"
        case .punctuation: return "\u{E003}"
        case .mark: return "\u{E004}"
        case .symbol: return "\u{E005}"
        }
    }

    /// The class a `\p{..}` name selects in llama.cpp's rewrite (every letter subcategory means "letter").
    init?(propertyName: String) {
        switch propertyName {
        case "N": self = .number
        case "L", "Lu", "Ll", "Lt", "Lm", "Lo": self = .letter
        case "P": self = .punctuation
        case "M": self = .mark
        case "S": self = .symbol
        default: return nil
        }
    }

    /// The `\p{..}` spellings whose presence makes llama.cpp use the collapsed text.
    static let propertySpellings = ["N", "L", "P", "M", "S", "Lu", "Ll", "Lt", "Lm", "Lo"].map { #"\p{"# + $0 + "}" }
}

/// One step of a pre-tokenizer: every piece is cut into the matches of the step and the text between them (llama.cpp
/// `unicode_regex_split`; Hugging Face `Split` with behavior `Isolated`).
struct SplitExpression: Sendable {
    private enum Engine: Sendable {
        case regex(RegexBox, TextView)
        /// llama.cpp's hand-written digit grouping (AFMoE, Tiny Aya): see `splitDigitGroups`.
        case digitGroups
    }

    /// The expression as the table or tokenizer.json wrote it.
    let source: String
    private let engine: Engine

    /// A Hugging Face tokenizer.json expression, with the `tokenizers` library's Unicode semantics.
    init(huggingFace pattern: String) throws {
        source = pattern
        engine = .regex(try Self.compile(Self.unicodePattern(pattern), source: pattern), .unicode)
    }

    /// A llama.cpp table expression, run the way llama.cpp runs that exact string.
    init(llamaCpp pattern: String) throws {
        source = pattern
        switch pattern {
        case PreTokenizerRule.gpt2Split, PreTokenizerRule.llama3Split, PreTokenizerRule.qwen2Split,
             PreTokenizerRule.qwen35Split:
            // llama.cpp's hand-written splitters for these follow the regex over Unicode categories. (For GPT-2 the
            // splitter also takes a lone white-space character the regex leaves unmatched; the text between matches
            // becomes a word anyway, so the words agree.)
            engine = .regex(try Self.compile(Self.unicodePattern(pattern), source: pattern), .unicode)
        case PreTokenizerRule.kimiK2Trigger:
            engine = .regex(try Self.compile(Self.kimiK2Pattern, source: pattern), .unicode)
        case Self.afmoeDigitsTrigger, Self.tinyAyaDigits:
            engine = .digitGroups
        default:
            let view: TextView = LlamaCategory.propertySpellings.contains { pattern.contains($0) }
                ? .categoryStandIns : .codePoints
            let translated: String
            do { translated = try StdRegexTranslation.icuPattern(pattern, view: view) } catch let reason as StdRegexTranslation.Unsupported {
                throw TokenizerError.malformed("pre-tokenizer expression \(pattern): \(reason.detail)")
            }
            engine = .regex(try Self.compile(translated, source: pattern), view)
        }
    }

    /// llama.cpp's table entries for its digit-grouping splitter.
    static let afmoeDigitsTrigger = #"\p{AFMoE_digits}"#
    static let tinyAyaDigits = #"\d{1,3}(?=(?:\d{3})*\b)"#

    /// What llama.cpp's Kimi K2 splitter does, as one regex over Unicode categories: Han runs (llama.cpp's own Han
    /// ranges), then letter runs without Han and with an optional contraction (upper and lower case are not told
    /// apart, unlike Kimi's original expression), numbers in threes, and Llama 3's punctuation and white-space rules.
    static let kimiK2Pattern = {
        let han = #"\x{3400}-\x{4DBF}\x{4E00}-\x{9FFF}\x{F900}-\x{FAFF}\x{20000}-\x{2A6DF}\x{2A700}-\x{2EBEF}\x{2F800}-\x{2FA1F}"#
        let contraction = #"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])"#
        return "[\(han)]+" + #"|[^\r\n\p{L}\p{N}]?[\p{L}--["# + han + "]]+" + contraction + "?"
            + #"|\p{N}{1,3}| ?[^\p{White_Space}\p{L}\p{N}]+[\r\n]*|\p{White_Space}*[\r\n]+"#
            + #"|\p{White_Space}+(?!\P{White_Space})|\p{White_Space}+"#
    }()

    /// Appends the words of `piece` (byte ranges into its indices, in order, none empty).
    func split(_ piece: ArraySlice<UInt8>, into out: inout [Range<Int>]) {
        guard !piece.isEmpty else { return }
        switch engine {
        case .regex(let box, let view): Self.splitMatches(piece, box.regex, view, into: &out)
        case .digitGroups: Self.splitDigitGroups(piece, into: &out)
        }
    }

    /// Matches and the text between them. Each piece is searched on its own, as llama.cpp does (a lookahead stops
    /// at the piece's end). An empty match still cuts the text there (SuperBPE's digit grouping is all lookahead).
    private static func splitMatches(_ piece: ArraySlice<UInt8>, _ regex: NSRegularExpression, _ view: TextView,
                                     into out: inout [Range<Int>]) {
        var shown = String.UnicodeScalarView()
        // UTF-16 offset (what NSRegularExpression reports) to byte index in the piece.
        var byteIndex: [Int] = []
        byteIndex.reserveCapacity(piece.count + 1)
        var position = piece.startIndex
        for scalar in String(decoding: piece, as: UTF8.self).unicodeScalars {
            let s = view.shown(scalar)
            shown.append(s)
            byteIndex.append(position)
            if s.value > 0xFFFF { byteIndex.append(position) }
            position += UTF8.width(scalar)
        }
        byteIndex.append(position)
        let text = String(shown)
        let whole = NSRange(location: 0, length: byteIndex.count - 1)
        var last = 0
        for match in regex.matches(in: text, options: [], range: whole) {
            let range = match.range
            if range.location > last { out.append(byteIndex[last]..<byteIndex[range.location]) }
            if range.length > 0 { out.append(byteIndex[range.location]..<byteIndex[range.location + range.length]) }
            last = range.location + range.length
        }
        if last < whole.length { out.append(byteIndex[last]..<byteIndex[whole.length]) }
    }

    /// llama.cpp's digit grouping: a run of n numbers (`\p{N}`) is cut after its first n mod 3 and then every three,
    /// so groups of three line up from the right. The text before a run is not cut off from it: it joins the run's
    /// first group, as in llama.cpp ("ab1234" gives "ab1", "234"); text after the last run is one word.
    private static func splitDigitGroups(_ piece: ArraySlice<UInt8>, into out: inout [Range<Int>]) {
        var starts: [Int] = []
        var isNumber: [Bool] = []
        var position = piece.startIndex
        for scalar in String(decoding: piece, as: UTF8.self).unicodeScalars {
            starts.append(position)
            isNumber.append(LlamaCategory(scalar) == .number)
            position += UTF8.width(scalar)
        }
        starts.append(position)
        var wordStart = piece.startIndex
        var i = 0
        while i < isNumber.count {
            guard isNumber[i] else { i += 1; continue }
            var end = i
            while end < isNumber.count && isNumber[end] { end += 1 }
            var cut = i + (end - i) % 3
            if cut == i { cut += 3 }
            while cut <= end {
                out.append(wordStart..<starts[cut])
                wordStart = starts[cut]
                cut += 3
            }
            i = end
        }
        if wordStart < piece.endIndex { out.append(wordStart..<piece.endIndex) }
    }

    private static func compile(_ pattern: String, source: String) throws -> RegexBox {
        do {
            return RegexBox(try NSRegularExpression(pattern: pattern))
        } catch {
            throw TokenizerError.malformed("pre-tokenizer expression \(source): cannot compile \(pattern): \(error)")
        }
    }

    /// Rewrites `\s` / `\S` (outside escapes such as `\\s`) to `\p{White_Space}` / `\P{White_Space}`, which is what
    /// llama.cpp and the `tokenizers` library match (ICU's own `\s` leaves out U+000B and U+0085).
    static func unicodePattern(_ pattern: String) -> String {
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
}

/// NSRegularExpression is immutable and documented as safe to share between threads.
final class RegexBox: @unchecked Sendable {
    let regex: NSRegularExpression
    init(_ regex: NSRegularExpression) { self.regex = regex }
}
