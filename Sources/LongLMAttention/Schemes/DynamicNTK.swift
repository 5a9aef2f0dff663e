import Foundation

/// Dynamic NTK with transformers' semantics (`rope_type: dynamic`, spec §C.3) on a cache of keys *before*
/// RoPE. transformers caches keys after RoPE, so a key keeps the base of the forward call that wrote it, and
/// `dynamic_rope_update` sets that base from seq_len = max(position_ids) + 1 of the call. With the prompt
/// (length P) as one call and then one call per decoded token, position p was rotated with the sequence
/// length epoch(p) = max(P, p + 1), as a key and as a query alike:
///
///     score(i, j) = < R_{b(i)}(i) q_i , R_{b(j)}(j) k_j >,   b(p) = base'(epoch(p))    (RopeScaling.dynamicNTKBase)
///
/// For b(i) != b(j) this is not a function of i - j: that is transformers' inconsistency (§C.4), kept on
/// purpose. Still a pure function of (i, j, q_i, k_j), so tiles and ring shards merge exactly (§D).
/// Not emulated: transformers' module state across generate calls (a later, shorter prompt keeps the grown
/// base unless it is shorter than L0); each sequence starts fresh here.
public struct DynamicNTK: PositionScheme {
    public let factor: Double
    public let originalContext: Int
    public let promptLength: Int
    let rows: EpochRotations
    public var name: String { "dynamic-ntk(f=\(factor), L0=\(originalContext), P=\(promptLength))" }

    public init(base: Double, dimensions: Int, pairing: RotaryPairing, factor: Double, originalContext: Int, promptLength: Int) {
        self.factor = factor
        self.originalContext = originalContext
        self.promptLength = promptLength
        let P = promptLength
        rows = EpochRotations(dimensions: dimensions, pairing: pairing) { p in
            RopeScaling.dynamicNTKBase(base: base, dimensions: dimensions, factor: factor, originalContext: originalContext,
                                       sequenceLength: max(P, p + 1))
        }
    }

    /// The sequence length transformers computed inv_freq for when it rotated position p.
    public func epoch(_ p: Int) -> Int { max(promptLength, p + 1) }
    /// The base position p is rotated with.
    public func base(at p: Int) -> Double { rows.base(p) }

    public func variant(query i: Int, key j: Int) -> Int { 0 }
    public func variants(queries: ClosedRange<Int>, keys: ClosedRange<Int>) -> [Int] { [0] }
    public func rotateQuery(_ q: UnsafePointer<Float>, position i: Int, variant v: Int, scale: Float,
                            into out: UnsafeMutablePointer<Float>) {
        rows.rotate(q, position: i, scale: scale, into: out)
    }
    public func transformKey(_ k: UnsafePointer<Float>, position j: Int, keyClass: Int, into out: UnsafeMutablePointer<Float>) {
        rows.rotate(k, position: j, into: out)
    }
    public func prepare(maxPosition: Int) { rows.reserve(positions: maxPosition + 1) }
}

/// cos/sin of p * theta_m(base(p)) per integer position p: like RotaryTable, but each row may have its own
/// base. The base is constant over the prompt and below L0, so frequencies are recomputed only when it changes.
/// A row depends on p alone, so rows are computed once and reused by every layer and decode step.
final class EpochRotations: @unchecked Sendable {
    let dimensions: Int
    let pairing: RotaryPairing
    let base: @Sendable (Int) -> Double
    private var cosines: [Float] = []
    private var sines: [Float] = []
    private var positionCount = 0
    private let lock = NSLock()

    init(dimensions: Int, pairing: RotaryPairing, base: @escaping @Sendable (Int) -> Double) {
        precondition(dimensions % 2 == 0)
        self.dimensions = dimensions
        self.pairing = pairing
        self.base = base
    }

    /// Tabulates positions 0 ..< count (at least). Thread-safe; not concurrent with `rotate`.
    func reserve(positions count: Int) {
        lock.lock(); defer { lock.unlock() }
        guard count > positionCount else { return }
        let newCount = max(count, positionCount * 2, 1024)
        let half = dimensions / 2
        var cos = cosines, sin = sines
        cos.reserveCapacity(newCount * half); sin.reserveCapacity(newCount * half)
        var currentBase = Double.nan, frequencies: [Double] = []
        for p in positionCount..<newCount {
            let b = base(p)
            if b != currentBase { currentBase = b; frequencies = RotaryTable.standardFrequencies(base: b, dimensions: dimensions) }
            for m in 0..<half {
                let angle = (Double(p) * frequencies[m]).truncatingRemainder(dividingBy: 2 * Double.pi)
                cos.append(Float(Foundation.cos(angle)))
                sin.append(Float(Foundation.sin(angle)))
            }
        }
        cosines = cos; sines = sin
        positionCount = newCount
    }

    /// Writes `scale * R_{base(p)}(p) x` into `out` (same pairing rules as RotaryTable.rotate).
    @inline(__always)
    func rotate(_ x: UnsafePointer<Float>, position p: Int, scale: Float = 1, into out: UnsafeMutablePointer<Float>) {
        let half = dimensions / 2
        cosines.withUnsafeBufferPointer { cb in
            sines.withUnsafeBufferPointer { sb in
                let c = cb.baseAddress! + p * half, s = sb.baseAddress! + p * half
                for m in 0..<half {
                    let (ia, ib) = pairing == .halves ? (m, m + half) : (2 * m, 2 * m + 1)
                    let a = x[ia], b = x[ib]
                    out[ia] = scale * (a * c[m] - b * s[m])
                    out[ib] = scale * (a * s[m] + b * c[m])
                }
            }
        }
    }
}
