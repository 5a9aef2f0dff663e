import ArgumentParser

/// Every numeric option has a stated range; a value outside it is a one-line error naming the option,
/// found before any work (and before any allocation sized by it).
enum OptionRange {
    /// The most tokens any command prefills or generates: far past what a node holds in KV cache.
    static let maximumTokens = 1 << 24
    static let maximumThreads = 4096

    static func check<T: Comparable>(_ value: T?, _ range: ClosedRange<T>, _ flag: String) throws {
        guard let value else { return }
        guard range.contains(value) else {
            throw ValidationError("\(flag) must be from \(range.lowerBound) to \(range.upperBound) (got \(value))")
        }
    }

    /// A finite floating-point value in `range` (NaN and infinities are refused).
    static func checkFinite<T: BinaryFloatingPoint>(_ value: T?, _ range: ClosedRange<T>, _ flag: String) throws {
        guard let value else { return }
        guard value.isFinite, range.contains(value) else {
            throw ValidationError("\(flag) must be a finite number from \(range.lowerBound) to \(range.upperBound) (got \(value))")
        }
    }

    /// A comma-separated list of whole numbers, each in `range`.
    static func integers(_ text: String, _ range: ClosedRange<Int>, _ flag: String) throws -> [Int] {
        let parts = text.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
        guard !parts.isEmpty else { throw ValidationError("\(flag) needs at least one value") }
        return try parts.map { part in
            guard let value = Int(part) else { throw ValidationError("\(flag): '\(part.prefix(40))' is not a whole number") }
            try check(value, range, flag)
            return value
        }
    }
}
