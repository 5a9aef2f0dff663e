/// Every context-extension method is a rule for which rotated query meets which rotated key
/// (docs/design.md §1, "The one idea"):
///
///     score(i, j) = scale * queryScale(i) * < Rq[v](i) q_i , Kv[v](j) k_j >     with v = variant(i, j)
///
/// A scheme has one or more *variants* (SelfExtend: neighbour and grouped; DCA: intra, successive, inter;
/// GALI: one per context length). Each variant rotates queries one way and transforms keys one way; the
/// key transform may depend on the key's position arbitrarily (GALI mixes two rotations, dynamic NTK
/// uses the base a key was written with). Because a score depends only on (i, j, q_i, k_j) and constants
/// fixed before the pass, any split of the keys merges exactly: the same kernel serves one process and
/// the ring.
public protocol PositionScheme: Sendable {
    /// Short name for logs and errors.
    var name: String { get }
    /// The variant used by the pair (query position i, key position j), j <= i.
    func variant(query i: Int, key j: Int) -> Int
    /// The variants that causal pairs with i in `queries` and j in `keys` can use, so a tile computes only
    /// those (most tiles need one).
    func variants(queries: ClosedRange<Int>, keys: ClosedRange<Int>) -> [Int]
    /// Variants whose keys are transformed identically share a key class (DCA: all three share one).
    func keyClass(of variant: Int) -> Int
    /// Writes `scale * Rq[v](i) q` into `out`.
    func rotateQuery(_ q: UnsafePointer<Float>, position i: Int, variant v: Int, scale: Float,
                     into out: UnsafeMutablePointer<Float>)
    /// Writes the key transform of key class `keyClass` at key position j into `out`.
    func transformKey(_ k: UnsafePointer<Float>, position j: Int, keyClass: Int, into out: UnsafeMutablePointer<Float>)
    /// Per-query multiplier of the logits (LogN; YaRN's attention factor squared). 1 for most schemes.
    func queryScale(_ i: Int) -> Float
    /// Called once before a pass over positions up to `maxPosition` (to grow tables); not concurrently.
    func prepare(maxPosition: Int)
    /// The key classes of a scheme whose key transform depends only on the key, its position and the class
    /// (never on the queries, the pass or `prepare`), so a cache may keep transformed keys (decode); nil otherwise
    /// (GALI, consistent dynamic NTK: their key transform depends on the query's context length).
    var fixedKeyClasses: [Int]? { get }
    /// Whether `addLogitNoise` does anything (GALI); the kernel skips the call otherwise.
    var addsLogitNoise: Bool { get }
    /// Adds noise to a tile of logits [rows, keys] (row-major, `keys` columns) before masking. Row r is
    /// query head `rowHeads[r]` at position `rowPositions[r]`; column c is the key at `keyPositions[c]`.
    /// Must depend only on (layer, head, i, j) and constants, so any split of the work draws the same numbers.
    func addLogitNoise(_ scores: UnsafeMutablePointer<Float>, rowPositions: [Int], rowHeads: [Int],
                       keyPositions: UnsafeBufferPointer<Int32>, layer: Int)
}

extension PositionScheme {
    public func keyClass(of variant: Int) -> Int { variant }
    public func queryScale(_ i: Int) -> Float { 1 }
    public var fixedKeyClasses: [Int]? { nil }
    public var addsLogitNoise: Bool { false }
    public func addLogitNoise(_ scores: UnsafeMutablePointer<Float>, rowPositions: [Int], rowHeads: [Int],
                              keyPositions: UnsafeBufferPointer<Int32>, layer: Int) {}
}

/// Plain RoPE and every method that only changes the frequencies or scales the logits (PI, NTK, YaRN,
/// Llama 3): one variant, query at i, key at j.
public struct RotaryScheme: PositionScheme {
    public let name: String
    public let table: RotaryTable
    /// Multiplies every logit (YaRN: attention_factor^2, since HF scales both cos and sin).
    public let logitMultiplier: Float

    public init(name: String = "rope", table: RotaryTable, logitMultiplier: Float = 1) {
        self.name = name
        self.table = table
        self.logitMultiplier = logitMultiplier
    }

    public func variant(query i: Int, key j: Int) -> Int { 0 }
    public func variants(queries: ClosedRange<Int>, keys: ClosedRange<Int>) -> [Int] { [0] }
    public func rotateQuery(_ q: UnsafePointer<Float>, position i: Int, variant v: Int, scale: Float,
                            into out: UnsafeMutablePointer<Float>) {
        table.rotate(q, position: i, scale: scale, into: out)
    }
    public func transformKey(_ k: UnsafePointer<Float>, position j: Int, keyClass: Int, into out: UnsafeMutablePointer<Float>) {
        table.rotate(k, position: j, into: out)
    }
    public func queryScale(_ i: Int) -> Float { logitMultiplier }
    public var fixedKeyClasses: [Int]? { [0] }
    public func prepare(maxPosition: Int) { table.reserve(positions: maxPosition + 1) }
}
