import LongLMCore
import LongLMAttention

/// Keys *before* RoPE and values, per layer, with the absolute position of every cached token.
/// Re-rotating keys at attention time is what lets position schemes (and the ring) reuse one cache.
public final class KVCache {
    public let layerCount: Int
    public let rowWidth: Int      // kvHeads * headDim
    public private(set) var positions: [Int32] = []
    /// How this sequence's global layers place queries and keys (nil: the model's own RoPE). Fixed for the
    /// life of the sequence, because schemes such as GALI and dynamic NTK depend on the prompt length.
    public var globalScheme: (any PositionScheme)?
    var keys: [[Float]]
    var values: [[Float]]

    public init(config: ModelConfig, reserve: Int = 0) {
        layerCount = config.layerCount
        rowWidth = config.kvHeads * config.headDim
        keys = Array(repeating: [], count: layerCount)
        values = Array(repeating: [], count: layerCount)
        if reserve > 0 {
            for l in 0..<layerCount {
                keys[l].reserveCapacity(reserve * rowWidth)
                values[l].reserveCapacity(reserve * rowWidth)
            }
            positions.reserveCapacity(reserve)
        }
    }

    public var count: Int { positions.count }
    /// The position the next token gets by default.
    public var nextPosition: Int32 { positions.last.map { $0 + 1 } ?? 0 }

    func appendPositions(_ p: [Int32]) { positions.append(contentsOf: p) }

    func append(layer: Int, keys k: UnsafePointer<Float>, values v: UnsafePointer<Float>, rows: Int) {
        keys[layer].append(contentsOf: UnsafeBufferPointer(start: k, count: rows * rowWidth))
        values[layer].append(contentsOf: UnsafeBufferPointer(start: v, count: rows * rowWidth))
    }

}
