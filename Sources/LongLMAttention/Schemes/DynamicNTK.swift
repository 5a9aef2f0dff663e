import Foundation

/// Dynamic NTK with transformers' semantics (`rope_type: dynamic`, docs/methods.md §C.3) on a cache of keys
/// *before* RoPE. transformers caches keys after RoPE, so a key keeps the base of the forward call that wrote it, and
/// `dynamic_rope_update` sets that base from seq_len = max(position_ids) + 1 of the call. With the prompt
/// (length P) as one call and then one call per decoded token, position p was rotated with the sequence
/// length epoch(p) = max(P, p + 1), as a key and as a query alike:
///
///     score(i, j) = < R_{b(i)}(i) q_i , R_{b(j)}(j) k_j >,   b(p) = base'(epoch(p))    (RopeScaling.dynamicNTKBase)
///
/// For b(i) != b(j) this is not a function of i - j: that is transformers' inconsistency (docs/methods.md
/// §C.3, §C.4), kept on purpose. Still a pure function of (i, j, q_i, k_j), so tiles and ring shards merge exactly
/// (docs/methods.md §D).
/// Not emulated: transformers' module state across generate calls (a later, shorter prompt keeps the grown
/// base unless it is shorter than L0); each sequence starts fresh here.
public struct DynamicNTK: PositionScheme {
    public let factor: Double
    public let originalContext: Int
    public let promptLength: Int
    /// Row p is rotated with the frequencies of base'(epoch(p)).
    let rows: RotaryTable
    let baseAt: @Sendable (Int) -> Double
    public var name: String { "dynamic-ntk(f=\(factor), L0=\(originalContext), P=\(promptLength))" }

    /// `frequencyFactors`: the model file's per-pair divisors (RopeFrequencyFactors), applied to every base's table.
    public init(base: Double, dimensions: Int, pairing: RotaryPairing, factor: Double, originalContext: Int, promptLength: Int,
                frequencyFactors: [Double]? = nil) {
        self.factor = factor
        self.originalContext = originalContext
        self.promptLength = promptLength
        let P = promptLength
        let baseAt: @Sendable (Int) -> Double = { p in
            RopeScaling.dynamicNTKBase(base: base, dimensions: dimensions, factor: factor, originalContext: originalContext,
                                       sequenceLength: max(P, p + 1))
        }
        self.baseAt = baseAt
        rows = RotaryTable(dimensions: dimensions, pairing: pairing) { p in
            RopeFrequencyFactors.divide(RotaryTable.standardFrequencies(base: baseAt(p), dimensions: dimensions), by: frequencyFactors)
        }
    }

    /// The base position p is rotated with.
    public func base(at p: Int) -> Double { baseAt(p) }

    public func variant(query i: Int, key j: Int) -> Int { 0 }
    public func variants(queries: ClosedRange<Int>, keys: ClosedRange<Int>) -> [Int] { [0] }
    public func rotateQuery(_ q: UnsafePointer<Float>, position i: Int, variant v: Int, scale: Float,
                            into out: UnsafeMutablePointer<Float>) {
        rows.rotate(q, position: i, scale: scale, into: out)
    }
    public func transformKey(_ k: UnsafePointer<Float>, position j: Int, keyClass: Int, into out: UnsafeMutablePointer<Float>) {
        rows.rotate(k, position: j, into: out)
    }
    /// A key keeps the base of its own epoch (fixed once the prompt length is).
    public var fixedKeyClasses: [Int]? { [0] }
    public func prepare(maxPosition: Int) { rows.reserve(positions: maxPosition + 1) }
}
