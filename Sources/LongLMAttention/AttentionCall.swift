import LongLMCore

/// Head geometry of one attention layer. Query head h uses key/value head h / (heads / kvHeads).
public struct AttentionShape: Sendable {
    public let heads: Int
    public let kvHeads: Int
    public let headDim: Int
    public init(heads: Int, kvHeads: Int, headDim: Int) {
        precondition(heads % kvHeads == 0)
        self.heads = heads; self.kvHeads = kvHeads; self.headDim = headDim
    }
    public var groupSize: Int { heads / kvHeads }
}

/// Rows of keys or values as the KV cache stores them (`KVType`): borrowed, `width` values per row.
public struct KVRows {
    public var base: UnsafeRawPointer
    public var type: KVType
    /// Values per row (kvHeads * headDim).
    public var width: Int

    public init(base: UnsafeRawPointer, type: KVType, width: Int) {
        precondition(width % type.blockSize == 0, "rows of \(width) values are not whole \(type) blocks")
        self.base = base
        self.type = type
        self.width = width
    }

    /// f32 rows.
    public init(floats: UnsafePointer<Float>, width: Int) {
        self.init(base: UnsafeRawPointer(floats), type: .f32, width: width)
    }

    public var rowBytes: Int { type.bytes(width) }

    /// The rows themselves when they are f32 (no decoding needed).
    public var floats: UnsafePointer<Float>? { type == .f32 ? base.assumingMemoryBound(to: Float.self) : nil }

    /// The same storage from row `first` on.
    public func rows(from first: Int) -> KVRows { KVRows(base: base + first * rowBytes, type: type, width: width) }

    /// Values `columns` of row `row` as f32 (`columns` starts and ends on whole blocks: a head's slice).
    @inline(__always)
    public func decode(row: Int, columns: Range<Int>, into out: UnsafeMutablePointer<Float>) {
        type.decode(base + row * rowBytes + type.bytes(columns.lowerBound), count: columns.count, into: out)
    }
}

/// Keys and values of some tokens, before RoPE, with their absolute positions: a whole cache, one ring
/// step's block, or one shard. Borrowed pointers, valid for the call that uses them.
public struct KeyValueBlock {
    /// [count, kvHeads * headDim], un-rotated.
    public var keys: KVRows
    /// [count, kvHeads * headDim].
    public var values: KVRows
    public var positions: [Int32]
    /// The same keys already transformed by the call's scheme, when a cache keeps them (decode); nil: the
    /// kernel transforms the keys it needs.
    public var transformed: PretransformedKeys?
    /// The type every transformed key is rounded through before the scores use it: by default the stored type's
    /// `transformedKeyType` (16 bits for f16 and bf16 rows, as a cache keeps them; f32, no rounding, otherwise).
    /// Kept keys (`transformed`) must be stored in this type.
    public var transformedKeyType: KVType

    public init(keys: KVRows, values: KVRows, positions: [Int32], transformed: PretransformedKeys? = nil) {
        precondition(keys.width == values.width && keys.type == values.type)
        self.keys = keys
        self.values = values
        self.positions = positions
        self.transformed = transformed
        transformedKeyType = keys.type.transformedKeyType
    }

    /// f32 keys and values of `width` values per row.
    public init(keys: UnsafePointer<Float>, values: UnsafePointer<Float>, width: Int, positions: [Int32],
                transformed: PretransformedKeys? = nil) {
        self.init(keys: KVRows(floats: keys, width: width), values: KVRows(floats: values, width: width),
                  positions: positions, transformed: transformed)
    }

    public var count: Int { positions.count }

    /// Rows `range` of this block.
    public func rows(_ range: Range<Int>) -> KeyValueBlock {
        var block = KeyValueBlock(keys: keys.rows(from: range.lowerBound), values: values.rows(from: range.lowerBound),
                                  positions: Array(positions[range]),
                                  transformed: transformed?.rows(from: range.lowerBound, width: keys.width))
        block.transformedKeyType = transformedKeyType
        return block
    }
}

/// Keys after a scheme's key transform, one array per key class. Only for schemes whose transform is fixed
/// (`PositionScheme.fixedKeyClasses`), so rows written when a token was cached stay valid for every later query.
public struct PretransformedKeys {
    /// Where key j of kv head g lies in a class's array.
    public enum Layout: Equatable, Sendable {
        /// Like the raw keys: [count, kvHeads * headDim], row j is the block's key j.
        case rows
        /// Head-major: kv head g's keys start `headStride` values after head g - 1's, each key `headDim` values
        /// after the previous (so one head's keys are contiguous: a decode step streams them).
        case headMajor(headDim: Int, headStride: Int)
    }

    /// Base of each class's keys, by key class.
    public var classes: [Int: UnsafeRawPointer]
    /// How the keys are stored: the raw keys' `KVType.transformedKeyType`.
    public var type: KVType
    public var layout: Layout

    public init(classes: [Int: UnsafeRawPointer], type: KVType, layout: Layout = .rows) {
        precondition(FewRowAttention.readsStored(type), "transformed keys are f32, f16 or bf16, not \(type)")
        self.classes = classes
        self.type = type
        self.layout = layout
    }

    /// f32 rows.
    public init(classes: [Int: UnsafePointer<Float>]) {
        self.init(classes: classes.mapValues { UnsafeRawPointer($0) }, type: .f32)
    }

    /// The same classes from key `first` on (`width`: values per raw row, kvHeads * headDim).
    public func rows(from first: Int, width: Int) -> PretransformedKeys {
        let step: Int
        switch layout {
        case .rows: step = width
        case .headMajor(let headDim, _): step = headDim
        }
        return PretransformedKeys(classes: classes.mapValues { $0 + first * type.bytes(step) }, type: type, layout: layout)
    }

    /// Values from key j to key j + 1, and from head g to head g + 1, for rows of `headDim` values and `kvHeads` heads.
    public func strides(headDim: Int, kvHeads: Int) -> (key: Int, head: Int) {
        switch layout {
        case .rows: return (kvHeads * headDim, headDim)
        case .headMajor(let d, let headStride):
            precondition(d == headDim, "kept keys of head dim \(d), the call's is \(headDim)")
            return (d, headStride)
        }
    }
}

/// One attention call: this process's queries over a block of keys, under a position scheme. Every backend
/// (one process, the ring, sharded decode) takes this one value.
public struct AttentionCall {
    /// [queryPositions.count, heads * headDim], un-rotated.
    public var queries: UnsafePointer<Float>
    public var queryPositions: [Int32]
    public var keys: KeyValueBlock
    public var shape: AttentionShape
    public var scheme: any PositionScheme
    /// Multiplies every logit (1/sqrt(d), or a model's query pre-attention scalar).
    public var scale: Float
    /// A sliding window: a query at i sees keys j with i - j < window (nil: all earlier keys).
    public var window: Int?
    /// The layer, which keys the scheme's logit noise (GALI) and names ring messages.
    public var layer: Int

    public init(queries: UnsafePointer<Float>, queryPositions: [Int32], keys: KeyValueBlock, shape: AttentionShape,
                scheme: any PositionScheme, scale: Float, window: Int?, layer: Int = 0) {
        self.queries = queries
        self.queryPositions = queryPositions
        self.keys = keys
        self.shape = shape
        self.scheme = scheme
        self.scale = scale
        self.window = window
        self.layer = layer
    }

    /// The same queries over another block of keys (a ring step, a shard).
    public func over(_ keys: KeyValueBlock) -> AttentionCall {
        var call = self
        call.keys = keys
        return call
    }

    /// Whether a query at i sees a key at j.
    @inline(__always)
    func sees(query i: Int, key j: Int) -> Bool { j <= i && (window.map { i - j < $0 } ?? true) }
}

extension AttentionCall {
    /// A call over arrays, valid inside `body` (tests, benchmarks).
    public static func withArrays<R>(queries: [Float], queryPositions: [Int32], keys: [Float], values: [Float],
                                     keyPositions: [Int32], shape: AttentionShape, scheme: any PositionScheme, scale: Float,
                                     window: Int?, layer: Int = 0, _ body: (AttentionCall) throws -> R) rethrows -> R {
        try queries.withUnsafeBufferPointer { q in
            try keys.withUnsafeBufferPointer { k in
                try values.withUnsafeBufferPointer { v in
                    try body(AttentionCall(queries: q.baseAddress!, queryPositions: queryPositions,
                                           keys: KeyValueBlock(keys: k.baseAddress!, values: v.baseAddress!,
                                                               width: shape.kvHeads * shape.headDim, positions: keyPositions),
                                           shape: shape, scheme: scheme, scale: scale, window: window, layer: layer))
                }
            }
        }
    }
}
