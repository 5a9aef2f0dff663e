import LongLMAttention

/// How a layer's attention reaches the sequence's keys: all in this process (`LocalAttention`), or spread
/// over ranks (LongLMDistributed's ring for prefill and sharded decode), which plug in here.
public protocol AttentionBackend {
    /// Attention of this process's query tokens over the sequence's keys, of which this process holds
    /// `keys`/`values`/`keyPositions` (pre-RoPE). Output [queries, heads * headDim].
    func attend(layer: Int, queries: UnsafePointer<Float>, queryPositions: [Int32],
                keys: UnsafePointer<Float>, values: UnsafePointer<Float>, keyPositions: [Int32],
                shape: AttentionShape, scheme: any PositionScheme, scale: Float, window: Int?,
                output: UnsafeMutablePointer<Float>) throws
}

public struct LocalAttention: AttentionBackend {
    public init() {}
    public func attend(layer: Int, queries: UnsafePointer<Float>, queryPositions: [Int32],
                       keys: UnsafePointer<Float>, values: UnsafePointer<Float>, keyPositions: [Int32],
                       shape: AttentionShape, scheme: any PositionScheme, scale: Float, window: Int?,
                       output: UnsafeMutablePointer<Float>) throws {
        TiledAttention.attend(queries: queries, queryPositions: queryPositions, keys: keys, values: values,
                              keyPositions: keyPositions, shape: shape, scheme: scheme, scale: scale, window: window,
                              output: output, layer: layer)
    }
}
