import ArgumentParser

/// Every numeric option has a stated range; a value outside it is a one-line error naming the option,
/// found before any work (and before any allocation sized by it).
enum OptionRange {
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
}
