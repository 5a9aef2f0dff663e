import LongLMCore
import Foundation

/// Per-layer accounting of one rank's ring traffic: seconds computing, seconds blocked waiting for the
/// neighbour, bytes sent and received. Pass-KV moves every block N - 1 hops, so over all ranks a layer
/// sends (N - 1) * n * (4 + 8 * kvHeads * headDim) bytes for n tokens (positions as Int32, keys and values
/// as f32).
public final class RingStatistics {
    public struct Layer {
        public var computeSeconds = 0.0
        public var blockedSeconds = 0.0
        public var bytesSent = 0
        public var bytesReceived = 0
    }
    public private(set) var layers: [Int: Layer] = [:]
    public init() {}

    func record(layer: Int, compute: Double = 0, blocked: Double = 0, sent: Int = 0, received: Int = 0) {
        var l = layers[layer] ?? Layer()
        l.computeSeconds += compute
        l.blockedSeconds += blocked
        l.bytesSent += sent
        l.bytesReceived += received
        layers[layer] = l
    }

    /// Bytes all ranks together send per layer for `tokens` tokens of `width` values of keys (and of values), stored
    /// as `kvType`: every block travels to the other ranks - 1 ranks with its positions (4 bytes each).
    public static func expectedBytesPerLayer(tokens: Int, ranks: Int, width: Int, kvType: KVType = .f32) -> Int {
        (ranks - 1) * tokens * (4 + 2 * kvType.bytes(width))
    }

    /// One line per layer, prefixed with the rank, for `--stats`.
    public func report(rank: Int) -> String {
        layers.keys.sorted().map { key in
            let l = layers[key]!
            return String(format: "[rank %d] layer %2d: compute %.3f s, blocked %.3f s (%.0f%%), sent %d B, received %d B",
                          rank, key, l.computeSeconds, l.blockedSeconds,
                          100 * l.blockedSeconds / max(1e-12, l.computeSeconds + l.blockedSeconds), l.bytesSent, l.bytesReceived)
        }.joined(separator: "\n")
    }
}
