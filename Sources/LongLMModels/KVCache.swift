import LongLMCore
import LongLMAttention

/// Keys *before* RoPE and values, per layer, with the absolute position of every cached token, stored as `type`
/// (f32, or narrower: `KVType`). Re-rotating keys at attention time is what lets position schemes (and the ring)
/// reuse one cache.
public final class KVCache {
    public let layerCount: Int
    public let rowWidth: Int      // kvHeads * headDim
    public let type: KVType
    /// Bytes of one cached row of keys (or of values).
    public let rowBytes: Int
    public private(set) var positions: [Int32] = []
    /// How this sequence's global layers place queries and keys (nil: the model's own RoPE). Fixed for the
    /// life of the sequence, because schemes such as GALI and dynamic NTK depend on the prompt length.
    public var globalScheme: (any PositionScheme)? { didSet { transformedKeys = Array(repeating: nil, count: layerCount) } }
    /// Per layer, `count` rows of `rowBytes` each.
    var keys: [[UInt8]]
    var values: [[UInt8]]
    /// Decode only: when true, the global layers also keep their keys transformed by `globalScheme` (if its key
    /// transform is fixed, `PositionScheme.fixedKeyClasses`), so a decode step transforms its one new key
    /// instead of the whole cache. Costs one more copy of those layers' keys per key class; prefill-only runs
    /// (perplexity, logits) leave it off.
    public var keepsTransformedKeys = false
    /// Per layer, the transformed keys kept for decode (nil: none).
    var transformedKeys: [TransformedKeyRows?]

    /// `type` must suit the model's head dim (`KVType.unsupportedReason`); callers check it first with a clear error.
    public init(config: ModelConfig, reserve: Int = 0, type: KVType = Compute.kvType) {
        precondition(type.unsupportedReason(headDim: config.headDim) == nil, "\(type) KV rows need whole blocks per head")
        layerCount = config.layerCount
        rowWidth = config.kvHeads * config.headDim
        self.type = type
        rowBytes = type.bytes(rowWidth)
        keys = Array(repeating: [], count: layerCount)
        values = Array(repeating: [], count: layerCount)
        transformedKeys = Array(repeating: nil, count: layerCount)
        if reserve > 0 {
            for l in 0..<layerCount {
                keys[l].reserveCapacity(reserve * rowBytes)
                values[l].reserveCapacity(reserve * rowBytes)
            }
            positions.reserveCapacity(reserve)
        }
    }

    public var count: Int { positions.count }
    /// The position the next token gets by default.
    public var nextPosition: Int32 { positions.last.map { $0 + 1 } ?? 0 }

    func appendPositions(_ p: [Int32]) { positions.append(contentsOf: p) }

    /// Replaces everything cached with these rows (a cache read back from disk): positions in cache order, and per
    /// layer `positions.count * rowBytes` bytes of keys and as many of values, stored as this cache's type.
    public func replaceContents(positions: [Int32], keys: [[UInt8]], values: [[UInt8]]) {
        precondition(keys.count == layerCount && values.count == layerCount)
        precondition(keys.allSatisfy { $0.count == positions.count * rowBytes } && values.allSatisfy { $0.count == positions.count * rowBytes })
        self.positions = positions
        self.keys = keys
        self.values = values
        transformedKeys = Array(repeating: nil, count: layerCount)
    }

    /// Keeps the cached tokens whose positions are below `limit`, in their order (a rank's share of a prefix that a
    /// new request reuses; its rows need not come first).
    public func truncate(keepingPositionsBelow limit: Int32) {
        let kept = positions.indices.filter { positions[$0] < limit }
        if kept.count == kept.last.map({ $0 + 1 }) ?? 0 { truncate(to: kept.count); return }   // a prefix of the rows
        let width = rowBytes
        for l in 0..<layerCount {
            keys[l] = kept.flatMap { keys[l][($0 * width)..<(($0 + 1) * width)] }
            values[l] = kept.flatMap { values[l][($0 * width)..<(($0 + 1) * width)] }
        }
        positions = kept.map { positions[$0] }
        transformedKeys = Array(repeating: nil, count: layerCount)
    }

    /// Keeps the first `rows` cached tokens and drops the rest (a prefix reused by the next request). The kept
    /// transformed keys are dropped too; decode rebuilds them from the remaining rows.
    public func truncate(to rows: Int) {
        precondition(rows >= 0 && rows <= count, "truncate(to: \(rows)) outside 0...\(count)")
        positions.removeSubrange(rows...)
        for l in 0..<layerCount {
            keys[l].removeSubrange((rows * rowBytes)...)
            values[l].removeSubrange((rows * rowBytes)...)
        }
        transformedKeys = Array(repeating: nil, count: layerCount)
    }

    /// Stores `rows` rows of f32 keys and values in the cache's type.
    func append(layer: Int, keys k: UnsafePointer<Float>, values v: UnsafePointer<Float>, rows: Int) {
        let old = keys[layer].count, added = rows * rowBytes, type = self.type, width = rowWidth
        func store(_ source: UnsafePointer<Float>, _ array: inout [UInt8]) {
            array.append(contentsOf: repeatElement(0, count: added))
            array.withUnsafeMutableBytes { bytes in
                type.encode(source, count: rows * width, into: bytes.baseAddress! + old)
            }
        }
        store(k, &keys[layer])
        store(v, &values[layer])
    }

    /// The layer's cached rows as an attention block (valid inside `body`); `transformed` as `transformedKeys` gives.
    func withBlock<R>(layer: Int, transformed: PretransformedKeys?, _ body: (KeyValueBlock) throws -> R) rethrows -> R {
        // An empty cache still needs valid pointers (a rank without tokens joins the exchange).
        var placeholder = [UInt8](repeating: 0, count: max(rowBytes, 1))
        return try keys[layer].withUnsafeBytes { k in
            try values[layer].withUnsafeBytes { v in
                try placeholder.withUnsafeMutableBytes { empty in
                    let block = KeyValueBlock(keys: KVRows(base: k.baseAddress ?? UnsafeRawPointer(empty.baseAddress!), type: type, width: rowWidth),
                                              values: KVRows(base: v.baseAddress ?? UnsafeRawPointer(empty.baseAddress!), type: type, width: rowWidth),
                                              positions: positions, transformed: transformed)
                    return try body(block)
                }
            }
        }
    }

    /// The layer's keys transformed by `scheme` for every cached row, kept up to date, or nil when this cache
    /// does not keep them (`keepsTransformedKeys`) or the scheme's key transform is not fixed.
    func transformedKeys(layer: Int, scheme: any PositionScheme, shape: AttentionShape) -> PretransformedKeys? {
        guard keepsTransformedKeys, let classes = scheme.fixedKeyClasses else { return nil }
        let kept = transformedKeys[layer] ?? TransformedKeyRows(classes: classes, kvHeads: shape.kvHeads, headDim: shape.headDim,
                                                                type: type.transformedKeyType)
        transformedKeys[layer] = kept
        if kept.count < count {
            scheme.prepare(maxPosition: Int(positions[kept.count...].max()!))   // earlier rows were prepared when kept
            keys[layer].withUnsafeBytes {
                kept.extend(keys: KVRows(base: $0.baseAddress!, type: type, width: rowWidth), positions: positions, scheme: scheme, shape: shape)
            }
        }
        return kept.view
    }
}

/// Keys after a fixed key transform, one growing array per key class, stored as `type` (the cache type's
/// `transformedKeyType`: 16 bits for f16 and bf16 caches) head-major: each kv head's keys contiguous, `capacity`
/// keys apart from the next head's, so a decode step streams one head's keys instead of every third slice of the
/// rows (measured: the scores of 3 kv heads over 8,000 f16 keys run 1.5x faster from head-major keys).
final class TransformedKeyRows {
    let classes: [Int]
    let kvHeads: Int, headDim: Int
    let type: KVType
    private(set) var count = 0
    private var capacity = 0
    private var storage: [UnsafeMutableRawPointer]

    init(classes: [Int], kvHeads: Int, headDim: Int, type: KVType) {
        self.classes = classes
        self.kvHeads = kvHeads
        self.headDim = headDim
        self.type = type
        storage = classes.map { _ in .allocate(byteCount: 16, alignment: 16) }
    }

    deinit { storage.forEach { $0.deallocate() } }

    var view: PretransformedKeys {
        PretransformedKeys(classes: Dictionary(uniqueKeysWithValues: zip(classes, storage.map { UnsafeRawPointer($0) })),
                           type: type, layout: .headMajor(headDim: headDim, headStride: capacity * headDim))
    }

    /// Transforms raw rows count..<positions.count and appends them.
    func extend(keys: KVRows, positions: [Int32], scheme: any PositionScheme, shape: AttentionShape) {
        precondition(shape.kvHeads == kvHeads && shape.headDim == headDim)
        let total = positions.count, first = count, d = headDim, width = kvHeads * d, type = type, heads = kvHeads
        let keyBytes = type.bytes(d)
        if total > capacity {
            let grown = max(total, capacity * 2, 64), old = capacity
            storage = storage.map { previous in
                let new = UnsafeMutableRawPointer.allocate(byteCount: heads * grown * keyBytes, alignment: 64)
                for g in 0..<heads {
                    new.advanced(by: g * grown * keyBytes).copyMemory(from: previous + g * old * keyBytes, byteCount: first * keyBytes)
                }
                previous.deallocate()
                return new
            }
            capacity = grown
        }
        let targets = zip(classes, storage).map { ($0, $1) }, headBytes = capacity * keyBytes
        Parallel.forRanges(total - first, minimumPerChunk: 256) { range in
            let decoded = UnsafeMutablePointer<Float>.allocate(capacity: width)
            let transformed = UnsafeMutablePointer<Float>.allocate(capacity: d)
            defer { decoded.deallocate(); transformed.deallocate() }
            for j in (first + range.lowerBound)..<(first + range.upperBound) {
                keys.decode(row: j, columns: 0..<width, into: decoded)
                for (cls, out) in targets {
                    for g in 0..<heads {
                        scheme.transformKey(decoded + g * d, position: Int(positions[j]), keyClass: cls, into: transformed)
                        type.encode(transformed, count: d, into: out + g * headBytes + j * keyBytes)
                    }
                }
            }
        }
        count = total
    }

}
