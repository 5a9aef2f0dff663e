import Foundation

/// How well a generated answer recalls the expected one: the fraction of the expected answer's words
/// (lower-cased letters and digits) that occur among the answer's words. 1 means every word came back.
public func recallScore(answer: String, expected: String) -> Double {
    let expectedWords = words(expected)
    guard !expectedWords.isEmpty else { return 0 }
    let found = Set(words(answer))
    return Double(expectedWords.filter { found.contains($0) }.count) / Double(expectedWords.count)
}

/// Lower-cased runs of letters and digits.
public func words(_ text: String) -> [String] {
    text.lowercased().split { !($0.isLetter || $0.isNumber) }.map(String.init)
}

/// The first run of ASCII digits in `text`, if any: a passkey answer is right when this is the key.
public func firstNumber(in text: String) -> String? {
    guard let start = text.firstIndex(where: { $0.isASCII && $0.isNumber }) else { return nil }
    return String(text[start...].prefix(while: { $0.isASCII && $0.isNumber }))
}
