/// Dual Chunk Attention (An et al. 2024, arXiv 2402.17171; HKUNLP/ChunkLlama @ 2add4d7,
/// chunkllama_attn_replace.py), docs/methods.md §B.2, with the reference code's parameters: chunkSize S (the
/// largest query position used) and localWindow w; chunks are c = S - w tokens long. Keys sit at j mod c;
/// queries at i mod c (same chunk), min(i mod c + c, S) (previous chunk), min(2c - 1, S) (older chunks).
/// No mscale (the paper's results did not use it, docs/methods.md §B.5).
public struct DualChunk: PositionScheme {
    public let chunkSize: Int
    public let localWindow: Int
    public let table: RotaryTable
    public var name: String { "dca(S=\(chunkSize), w=\(localWindow))" }

    static let intra = 0, successive = 1, inter = 2

    public init(chunkSize: Int, localWindow: Int, table: RotaryTable) {
        precondition(chunkSize > localWindow && localWindow >= 0)
        self.chunkSize = chunkSize
        self.localWindow = localWindow
        self.table = table
    }

    /// Reference defaults: S = 3L/4, w = L/8 (integer division).
    public static func defaults(trainedContext L: Int) -> (chunkSize: Int, localWindow: Int) { (3 * L / 4, L / 8) }

    public var chunkLength: Int { chunkSize - localWindow }

    public func queryPosition(_ i: Int, variant v: Int) -> Int {
        let c = chunkLength
        switch v {
        case Self.intra: return i % c
        case Self.successive: return min(i % c + c, chunkSize)
        default: return min(2 * c - 1, chunkSize)
        }
    }

    public func variant(query i: Int, key j: Int) -> Int { min(i / chunkLength - j / chunkLength, 2) }

    public func variants(queries: ClosedRange<Int>, keys: ClosedRange<Int>) -> [Int] {
        let c = chunkLength
        // Causal pairs only: the smallest chunk distance is reached by the latest key a query can see.
        let smallest = max(0, queries.lowerBound / c - min(keys.upperBound, queries.upperBound) / c)
        let largest = queries.upperBound / c - keys.lowerBound / c
        return Array(min(smallest, 2)...min(largest, 2))
    }

    /// All three query variants meet keys rotated the same way.
    public func keyClass(of variant: Int) -> Int { 0 }

    public func rotateQuery(_ q: UnsafePointer<Float>, position i: Int, variant v: Int, scale: Float,
                            into out: UnsafeMutablePointer<Float>) {
        table.rotate(q, position: queryPosition(i, variant: v), scale: scale, into: out)
    }

    public func transformKey(_ k: UnsafePointer<Float>, position j: Int, keyClass: Int, into out: UnsafeMutablePointer<Float>) {
        table.rotate(k, position: j % chunkLength, into: out)
    }

    public var fixedKeyClasses: [Int]? { [0] }
    public func prepare(maxPosition: Int) { table.reserve(positions: chunkSize + 1) }
}
