import Foundation

/// Consistent dynamic NTK (NormXU/Consistent-DynamicNTKRoPE), docs/methods.md §C.4: keys are cached before RoPE,
/// and the forward call that computes query row i rotates the query and *every* key with one base,
/// base'(kv_len) (RopeScaling.dynamicNTKBase), kv_len = max(P, i + 1): the prompt (length P) is one call, then one
/// call per decoded token. So within a row the logit depends on i - j only, and decoding token n after a
/// prompt of n equals a prefill of n + 1.
///
/// Variant of a pair = kv_len of its query row. Variants whose kv_len is <= L0 share the plain base, so the
/// key class is max(kv_len, L0). Each decode step needs a new base: all keys are re-rotated, O(kv_len * d) per
/// step (the method's cost), with one table per base shared by every layer.
public struct ConsistentNTK: PositionScheme {
    public let base: Double
    public let dimensions: Int
    public let pairing: RotaryPairing
    public let factor: Double
    public let originalContext: Int
    public let promptLength: Int
    let tables: BaseTables
    public var name: String { "consistent-ntk(f=\(factor), L0=\(originalContext), P=\(promptLength))" }

    /// `frequencyFactors`: the model file's per-pair divisors (RopeFrequencyFactors), applied to every base's table.
    public init(base: Double, dimensions: Int, pairing: RotaryPairing, factor: Double, originalContext: Int, promptLength: Int,
                frequencyFactors: [Double]? = nil) {
        self.base = base
        self.dimensions = dimensions
        self.pairing = pairing
        self.factor = factor
        self.originalContext = originalContext
        self.promptLength = promptLength
        tables = BaseTables(dimensions: dimensions, pairing: pairing, frequencyFactors: frequencyFactors) { length in
            RopeScaling.dynamicNTKBase(base: base, dimensions: dimensions, factor: factor, originalContext: originalContext,
                                       sequenceLength: length)
        }
    }

    /// kv_len of the forward call that computes query row i.
    public func keyValueLength(query i: Int) -> Int { max(promptLength, i + 1) }

    public func variant(query i: Int, key j: Int) -> Int { keyValueLength(query: i) }

    /// Only queries at or after the first key have causal pairs in the tile.
    public func variants(queries: ClosedRange<Int>, keys: ClosedRange<Int>) -> [Int] {
        let first = keyValueLength(query: max(queries.lowerBound, keys.lowerBound))
        return Array(first...keyValueLength(query: queries.upperBound))
    }

    public func keyClass(of variant: Int) -> Int { max(variant, originalContext) }

    public func rotateQuery(_ q: UnsafePointer<Float>, position i: Int, variant v: Int, scale: Float,
                            into out: UnsafeMutablePointer<Float>) {
        tables.table(sequenceLength: keyClass(of: v)).rotate(q, position: i, scale: scale, into: out)
    }
    public func transformKey(_ k: UnsafePointer<Float>, position j: Int, keyClass: Int, into out: UnsafeMutablePointer<Float>) {
        tables.table(sequenceLength: keyClass).rotate(k, position: j, into: out)
    }
    public func prepare(maxPosition: Int) { tables.reserve(positions: maxPosition + 1) }
}

/// RotaryTables for base'(n), made on first use, keeping the few most recently used (a decode step needs one;
/// each spans every position, so keeping one per step would grow without bound).
final class BaseTables: @unchecked Sendable {
    static let capacity = 4
    let dimensions: Int
    let pairing: RotaryPairing
    let base: @Sendable (Int) -> Double
    let frequencyFactors: [Double]?
    private var tables: [Int: (table: RotaryTable, lastUse: Int)] = [:]
    private var clock = 0
    private var positions = 0
    private let lock = NSLock()

    init(dimensions: Int, pairing: RotaryPairing, frequencyFactors: [Double]?, base: @escaping @Sendable (Int) -> Double) {
        self.dimensions = dimensions
        self.pairing = pairing
        self.frequencyFactors = frequencyFactors
        self.base = base
    }

    /// Positions 0 ..< count are tabulated in every table, present and future.
    func reserve(positions count: Int) {
        lock.lock(); defer { lock.unlock() }
        positions = max(positions, count)
        for entry in tables.values { entry.table.reserve(positions: positions) }
    }

    func table(sequenceLength n: Int) -> RotaryTable {
        lock.lock(); defer { lock.unlock() }
        clock += 1
        if let entry = tables[n] {
            tables[n]!.lastUse = clock
            return entry.table
        }
        let frequencies = RopeFrequencyFactors.divide(RotaryTable.standardFrequencies(base: base(n), dimensions: dimensions),
                                                      by: frequencyFactors)
        let table = RotaryTable(dimensions: dimensions, pairing: pairing, inverseFrequencies: frequencies)
        table.reserve(positions: positions)
        if tables.count >= Self.capacity, let oldest = tables.min(by: { $0.value.lastUse < $1.value.lastUse })?.key {
            tables[oldest] = nil
        }
        tables[n] = (table, clock)
        return table
    }
}
