import LongLMAttention

/// How a layer's attention reaches the sequence's keys: all in this process (`LocalAttention`), or spread
/// over ranks (LongLMDistributed's ring for prefill and sharded decode), which plug in here.
public protocol AttentionBackend {
    /// Attention of this process's query tokens over the sequence's keys, of which this process holds
    /// `call.keys` (pre-RoPE). Output [queries, heads * headDim].
    func attend(_ call: AttentionCall, output: UnsafeMutablePointer<Float>) throws
}

public struct LocalAttention: AttentionBackend {
    public init() {}
    public func attend(_ call: AttentionCall, output: UnsafeMutablePointer<Float>) throws {
        TiledAttention.attend(call, output: output)
    }
}
