import Foundation

/// A comma-separated option value (`--lengths 512,2048`), parsed the same way by every command: items are
/// trimmed, none may be empty, and each must parse and lie in the allowed range.
public enum CommaList {
    public enum Failure: Error, CustomStringConvertible, Equatable {
        case empty(option: String)
        case emptyItem(option: String, text: String)
        case invalid(option: String, item: String, expected: String)

        public var description: String {
            switch self {
            case .empty(let o): return "\(o) is empty; give values separated by commas"
            case .emptyItem(let o, let t): return "\(o) '\(t)' has an empty item; give values separated by single commas"
            case .invalid(let o, let item, let expected): return "\(o): '\(item)' is not \(expected)"
            }
        }
    }

    public static func parse<T: LosslessStringConvertible & Comparable>(_ text: String, option: String,
                                                                        in range: ClosedRange<T>? = nil) throws -> [T] {
        let items = text.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
        guard items != [""] else { throw Failure.empty(option: option) }
        guard !items.contains("") else { throw Failure.emptyItem(option: option, text: text) }
        let kind = T.self == Int.self ? "an integer" : T.self == Double.self ? "a number" : "a value"
        let expected = kind + (range.map { " in \($0.lowerBound)...\($0.upperBound)" } ?? "")
        return try items.map { item in
            guard let value = T(item), range?.contains(value) ?? true else { throw Failure.invalid(option: option, item: item, expected: expected) }
            return value
        }
    }
}
