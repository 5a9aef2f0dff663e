/// SelfExtend (Jin et al. 2024, arXiv 2401.01325; datamllab/LongLM @ cdbbb06, non-flash path),
/// docs/methods.md §A.2:
/// pairs closer than W use ordinary positions (neighbour); farther pairs use grouped positions
///   Pq = i / G + W - W / G,   Pk = j / G        (integer division; the shift W - W/G needs G | W).
/// One softmax over both kinds; no second copy of the KV cache (keys are transformed per tile).
public struct SelfExtend: PositionScheme {
    public let groupSize: Int
    public let window: Int
    public let table: RotaryTable
    public var name: String { "selfextend(G=\(groupSize), W=\(window))" }

    static let neighbour = 0, grouped = 1

    public init(groupSize: Int, window: Int, table: RotaryTable) {
        precondition(groupSize >= 1 && window >= 1 && window % groupSize == 0)
        self.groupSize = groupSize
        self.window = window
        self.table = table
    }

    /// The largest sequence whose largest relative position stays below the trained context L (docs/methods.md §A.3).
    public static func maximumLength(trainedContext L: Int, groupSize G: Int, window W: Int) -> Int { (L - W) * G + W }

    public var shift: Int { window - window / groupSize }
    public func groupedQueryPosition(_ i: Int) -> Int { i / groupSize + shift }
    public func groupedKeyPosition(_ j: Int) -> Int { j / groupSize }

    public func variant(query i: Int, key j: Int) -> Int { i - j < window ? Self.neighbour : Self.grouped }

    public func variants(queries: ClosedRange<Int>, keys: ClosedRange<Int>) -> [Int] {
        let smallest = queries.lowerBound - keys.upperBound, largest = queries.upperBound - keys.lowerBound
        if largest < window { return [Self.neighbour] }
        if smallest >= window { return [Self.grouped] }
        return [Self.neighbour, Self.grouped]
    }

    public func rotateQuery(_ q: UnsafePointer<Float>, position i: Int, variant v: Int, scale: Float,
                            into out: UnsafeMutablePointer<Float>) {
        table.rotate(q, position: v == Self.neighbour ? i : groupedQueryPosition(i), scale: scale, into: out)
    }

    public func transformKey(_ k: UnsafePointer<Float>, position j: Int, keyClass: Int, into out: UnsafeMutablePointer<Float>) {
        table.rotate(k, position: keyClass == Self.neighbour ? j : groupedKeyPosition(j), into: out)
    }

    public var fixedKeyClasses: [Int]? { [Self.neighbour, Self.grouped] }
    public func prepare(maxPosition: Int) { table.reserve(positions: maxPosition + 1) }
}
