// Rewrites an expression llama.cpp gives to C++ std::regex (ECMAScript grammar, "C" locale) as an ICU pattern with the
// same meaning on the text llama.cpp shows it (`TextView.categoryStandIns` or `.codePoints`). Only the constructs of
// llama.cpp's table are accepted; anything else is an error rather than a guess.
//
// Where the two grammars differ:
// - `\s`, `\d`, `\w`, `\b` are ASCII in std::regex ("C" locale), Unicode-aware in ICU: they become explicit ASCII sets
//   (on both views every non-ASCII white space is already U+000B, which `\s` includes);
// - `\p{X}` does not exist in std::regex: llama.cpp rewrites it to "the category's stand-in plus its ASCII members",
//   and so does this;
// - `$` is the end of the input, `.` excludes only line terminators;
// - inside `[...]`, ICU gives `&&`, `--`, `[`, `{` and `$` meanings ECMAScript does not, so every literal member
//   is written as `\x{..}`.

enum StdRegexTranslation {
    struct Unsupported: Error {
        let detail: String
    }

    static func icuPattern(_ pattern: String, view: TextView) throws -> String {
        var translator = Translator(scalars: Array(pattern.unicodeScalars), view: view)
        return try translator.run()
    }

    /// Members (inside a set) of what std::regex's `\s`, `\d`, `\w` match.
    private static let spaceMembers = #"\x{09}-\x{0D}\x{20}"#
    private static let digitMembers = "0-9"
    private static let wordMembers = "0-9A-Za-z_"

    private struct Translator {
        let scalars: [Unicode.Scalar]
        let view: TextView
        var i = 0
        var out = ""

        init(scalars: [Unicode.Scalar], view: TextView) {
            self.scalars = scalars
            self.view = view
        }

        mutating func run() throws -> String {
            while i < scalars.count {
                let c = scalars[i]
                switch c {
                case "\\":
                    out += try escapeOutsideSet()
                case "[":
                    out += try set()
                case "(":
                    // Groups: plain, (?: ...), and the lookaheads (?= ...), (?! ...). std::regex has no lookbehind.
                    if next(1) == "?" {
                        guard let kind = next(2), ":=!".unicodeScalars.contains(kind) else {
                            throw Unsupported(detail: "group '(?\(next(2).map(String.init) ?? "")' at \(i)")
                        }
                        out += "(?" + String(kind)
                        i += 3
                    } else {
                        out += "("
                        i += 1
                    }
                case "{":
                    // A bounded repeat such as {1,3}; its digits and comma are copied as they are.
                    guard let close = scalars[i...].firstIndex(of: "}") else { throw Unsupported(detail: "unclosed '{' at \(i)") }
                    out.unicodeScalars.append(contentsOf: scalars[i...close])
                    i = close + 1
                case ")", "|", "?", "*", "+":
                    out.unicodeScalars.append(c)
                    i += 1
                case "$":
                    out += #"\z"#
                    i += 1
                case "^":
                    out += #"\A"#
                    i += 1
                case ".":
                    out += #"[^\x{0A}\x{0D}\x{2028}\x{2029}]"#
                    i += 1
                default:
                    out += literal(c)
                    i += 1
                }
            }
            return out
        }

        private func next(_ k: Int) -> Unicode.Scalar? { i + k < scalars.count ? scalars[i + k] : nil }

        /// An escape outside brackets; `i` is at the backslash.
        private mutating func escapeOutsideSet() throws -> String {
            guard let e = next(1) else { throw Unsupported(detail: "trailing backslash") }
            i += 2
            switch e {
            case "p": return "[" + (try categoryMembers()) + "]"
            case "s": return "[" + StdRegexTranslation.spaceMembers + "]"
            case "S": return "[^" + StdRegexTranslation.spaceMembers + "]"
            case "d": return "[" + StdRegexTranslation.digitMembers + "]"
            case "D": return "[^" + StdRegexTranslation.digitMembers + "]"
            case "w": return "[" + StdRegexTranslation.wordMembers + "]"
            case "W": return "[^" + StdRegexTranslation.wordMembers + "]"
            case "b", "B":
                let w = "[" + StdRegexTranslation.wordMembers + "]"
                return e == "b" ? "(?:(?<=\(w))(?!\(w))|(?<!\(w))(?=\(w)))" : "(?:(?<=\(w))(?=\(w))|(?<!\(w))(?!\(w)))"
            default: return literal(try escapedScalar(e))
            }
        }

        /// The character an escape stands for (control escapes, `\xHH`, `\uHHHH`, or a quoted punctuation mark).
        private mutating func escapedScalar(_ e: Unicode.Scalar) throws -> Unicode.Scalar {
            switch e {
            case "t": return "\u{09}"
            case "n": return "\u{0A}"
            case "v": return "\u{0B}"
            case "f": return "\u{0C}"
            case "r": return "\u{0D}"
            case "0": return "\u{00}"
            case "x", "u":
                let digits = e == "x" ? 2 : 4
                guard i + digits <= scalars.count,
                      let value = UInt32(String(String.UnicodeScalarView(scalars[i..<(i + digits)])), radix: 16),
                      let scalar = Unicode.Scalar(value) else {
                    throw Unsupported(detail: "bad \\\(e) escape at \(i)")
                }
                i += digits
                return scalar
            default:
                if e.properties.isAlphabetic || ("0"..."9").contains(e) {
                    throw Unsupported(detail: "escape \\\(e)")
                }
                return e
            }
        }

        /// `\p{Name}` after the `p`: the members of llama.cpp's rewrite (stand-in plus ASCII members).
        private mutating func categoryMembers() throws -> String {
            guard next(0) == "{", let close = scalars[i...].firstIndex(of: "}") else {
                throw Unsupported(detail: "\\p without {name}")
            }
            let name = String(String.UnicodeScalarView(scalars[(i + 1)..<close]))
            i = close + 1
            guard view == .categoryStandIns, let category = LlamaCategory(propertyName: name) else {
                throw Unsupported(detail: "\\p{\(name)} (llama.cpp's std::regex path knows N, L, Lu, Ll, Lt, Lm, Lo, P, M, S)")
            }
            var members = hex(category.standIn)
            for value in 0..<UInt32(0x80) {
                let scalar = Unicode.Scalar(value)!
                if LlamaCategory(scalar) == category { members += hex(scalar) }
            }
            return members
        }

        /// A bracket expression; `i` is at the `[`.
        private mutating func set() throws -> String {
            i += 1
            var result = "["
            if next(0) == "^" {
                result += "^"
                i += 1
            }
            var empty = true
            while true {
                guard let c = next(0) else { throw Unsupported(detail: "unclosed '['") }
                if c == "]" {
                    i += 1
                    break
                }
                empty = false
                switch try setAtom() {
                case .members(let members):
                    result += members
                case .scalar(let low):
                    if next(0) == "-", let after = next(1), after != "]" {
                        i += 1
                        guard case .scalar(let high) = try setAtom() else { throw Unsupported(detail: "range ending in a class at \(i)") }
                        result += hex(low) + "-" + hex(high)
                    } else {
                        result += hex(low)
                    }
                }
            }
            if empty { throw Unsupported(detail: "empty set '[]'") }
            return result + "]"
        }

        private enum SetAtom {
            case scalar(Unicode.Scalar)
            case members(String)
        }

        private mutating func setAtom() throws -> SetAtom {
            let c = scalars[i]
            guard c == "\\" else {
                i += 1
                return .scalar(c)
            }
            guard let e = next(1) else { throw Unsupported(detail: "trailing backslash") }
            i += 2
            switch e {
            case "p": return .members(try categoryMembers())
            case "s": return .members(StdRegexTranslation.spaceMembers)
            case "S": return .members("[^" + StdRegexTranslation.spaceMembers + "]")
            case "d": return .members(StdRegexTranslation.digitMembers)
            case "D": return .members("[^" + StdRegexTranslation.digitMembers + "]")
            case "w": return .members(StdRegexTranslation.wordMembers)
            case "W": return .members("[^" + StdRegexTranslation.wordMembers + "]")
            case "b": return .scalar("\u{08}")  // backspace inside brackets
            default: return .scalar(try escapedScalar(e))
            }
        }

        /// A literal outside brackets: letters and digits as they are, anything else quoted.
        private func literal(_ c: Unicode.Scalar) -> String {
            if c.isASCII && (c.properties.isAlphabetic || ("0"..."9").contains(c)) { return String(c) }
            return hex(c)
        }

        private func hex(_ c: Unicode.Scalar) -> String { #"\x{"# + String(c.value, radix: 16) + "}" }
    }
}
