import Foundation

/// LogN attention scaling (Qwen-1 `use_logn_attn`, SelfExtend's `scale_base`), docs/methods.md §A.8 and §C.5:
/// the query at position i is multiplied by max(1, ln(i + 1) / ln(L)). Composes with any scheme.
public struct LogNScaling: PositionScheme {
    public let base: any PositionScheme
    public let trainedContext: Int
    public var name: String { base.name + "+logn" }

    public init(_ base: any PositionScheme, trainedContext: Int) {
        self.base = base
        self.trainedContext = trainedContext
    }

    public static func factor(position i: Int, trainedContext L: Int) -> Float {
        Float(max(1, log(Double(i + 1)) / log(Double(L))))
    }

    public func queryScale(_ i: Int) -> Float { base.queryScale(i) * Self.factor(position: i, trainedContext: trainedContext) }
    public func variant(query i: Int, key j: Int) -> Int { base.variant(query: i, key: j) }
    public func variants(queries: ClosedRange<Int>, keys: ClosedRange<Int>) -> [Int] { base.variants(queries: queries, keys: keys) }
    public func keyClass(of variant: Int) -> Int { base.keyClass(of: variant) }
    public func rotateQuery(_ q: UnsafePointer<Float>, position i: Int, variant v: Int, scale: Float,
                            into out: UnsafeMutablePointer<Float>) {
        base.rotateQuery(q, position: i, variant: v, scale: scale, into: out)
    }
    public func transformKey(_ k: UnsafePointer<Float>, position j: Int, keyClass: Int, into out: UnsafeMutablePointer<Float>) {
        base.transformKey(k, position: j, keyClass: keyClass, into: out)
    }
    public func prepare(maxPosition: Int) { base.prepare(maxPosition: maxPosition) }
    public var fixedKeyClasses: [Int]? { base.fixedKeyClasses }
    public var addsLogitNoise: Bool { base.addsLogitNoise }
    public func addLogitNoise(_ scores: UnsafeMutablePointer<Float>, rowPositions: [Int], rowHeads: [Int],
                              keyPositions: UnsafeBufferPointer<Int32>, layer: Int) {
        base.addLogitNoise(scores, rowPositions: rowPositions, rowHeads: rowHeads, keyPositions: keyPositions, layer: layer)
    }
}
