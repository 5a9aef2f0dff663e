import Foundation
import LongLMCore

/// Causal attention over keys given *before* RoPE, with absolute positions, computed tile by tile
/// (query block x key block) with sgemm and an online softmax per query row (running max m, sum l,
/// accumulator acc). A position scheme says how queries and keys are rotated; a tile computes one sgemm
/// per variant it needs (most need one) and picks per element where it needs several.
/// Memory is O(tile) per thread plus the transformed keys of the variants in use; never O(n^2).
///
/// A query at position i sees a key at position j iff j <= i and (no window, or i - j < window).
/// Masking is by position, not by index, so any subset or order of keys gives the same answer.
///
/// The work: `TilePlan` says which tiles are visible and which variants each needs; `TransformedKeys`
/// holds the keys of each key class once; `TileKernel` runs the tiles of one (kv head, query block) item with
/// scratch that each worker thread reuses across its items. Background: docs/design.md §2-§3.
public enum TiledAttention {
    public static let defaultQueryBlock = 32
    public static let defaultKeyBlock = 256

    /// Attention output [queries, heads * headDim] of `call`.
    public static func attend(_ call: AttentionCall, output: UnsafeMutablePointer<Float>,
                              queryBlock: Int = defaultQueryBlock, keyBlock: Int = defaultKeyBlock,
                              tiles: AttentionTiles = Compute.attentionTiles) {
        var partial = AttentionPartial(tokens: call.queryPositions.count, heads: call.shape.heads, headDim: call.shape.headDim)
        accumulate(call, into: &partial, queryBlock: queryBlock, keyBlock: keyBlock, tiles: tiles)
        partial.finish(into: output)
    }

    /// Adds the call's keys to `partial` (the queries' running state): the step of a ring, or one shard of a cache.
    ///
    /// Work items are (kv head, query block) pairs. When there are too few of them to keep every worker thread
    /// busy (decode: one query token, so one pair per kv head), the key blocks are split as well and each split
    /// fills its own partial, merged at the end in split order (so the result does not depend on thread timing).
    ///
    /// With `tiles` BF16, a call whose query blocks have more rows than the few-row kernels take runs every tile
    /// in BF16 (`BF16Panels`); calls of a few rows (decode) stay in f32.
    public static func accumulate(_ call: AttentionCall, into partial: inout AttentionPartial,
                                  queryBlock: Int = defaultQueryBlock, keyBlock: Int = defaultKeyBlock,
                                  tiles: AttentionTiles = Compute.attentionTiles) {
        let shape = call.shape
        precondition(partial.tokens == call.queryPositions.count && partial.heads == shape.heads && partial.headDim == shape.headDim)
        if call.queryPositions.isEmpty || call.keys.count == 0 { return }
        call.scheme.prepare(maxPosition: Int(max(call.queryPositions.max()!, call.keys.positions.max()!)))
        let plan = TilePlan(call, queryBlock: queryBlock, keyBlock: keyBlock)
        let keys = TransformedKeys(call, plan: plan)
        let panels = BF16Panels.wanted(call, plan: plan, tiles: tiles).map { BF16Panels(call, plan: plan, keys: keys, variant: $0) }
        // The BF16 tiles read only the panels: the f32 keys go as soon as the panels are built.
        if panels != nil { keys.deallocate() }
        defer {
            if panels == nil { keys.deallocate() }
            panels?.deallocate()
        }
        let pairs = shape.kvHeads * plan.queryBlocks
        let wanted = min(plan.keyBlocks, Self.keySplits(pairs: pairs, threads: Parallel.threads))
        let perSplit = (plan.keyBlocks + wanted - 1) / wanted
        let splits = (plan.keyBlocks + perSplit - 1) / perSplit      // none of them empty
        let boxes = [PartialBox(partial)] + (1..<max(1, splits)).map { _ in
            PartialBox(AttentionPartial(tokens: partial.tokens, heads: partial.heads, headDim: partial.headDim))
        }
        PartialBox.withRows(of: boxes[...]) { rows in
            Parallel.forEachWorker(pairs * splits) { nextItem in
                let kernel = TileKernel(call, plan: plan, keys: keys, panels: panels)
                defer { kernel.deallocate() }
                while let item = nextItem() {
                    let split = item / pairs, pair = item % pairs
                    let blocks = (split * perSplit)..<min(plan.keyBlocks, (split + 1) * perSplit)
                    kernel.run(kvHead: pair / plan.queryBlocks, queryBlock: pair % plan.queryBlocks, keyBlocks: blocks,
                               rows: rows[split])
                }
            }
        }
        partial = boxes[0].partial
        for other in boxes.dropFirst() { partial.merge(other.partial) }
    }

    /// How many parts to split the keys into so that `pairs` items of equal work keep `threads` threads busy:
    /// 1 when the pairs divide evenly over the threads or are many (prefill); otherwise the fewest splits that
    /// give a multiple of the thread count (3 kv heads on 2 threads: 2 splits, 6 items, instead of one thread
    /// taking two heads while the other waits), and at least 4 items per thread when there are fewer pairs
    /// than threads.
    static func keySplits(pairs: Int, threads: Int) -> Int {
        if threads <= 1 || pairs % threads == 0 || pairs >= 8 * threads { return 1 }
        let least = pairs >= threads ? 2 : (4 * threads + pairs - 1) / pairs
        for s in least...(least + threads) where (pairs * s) % threads == 0 { return s }
        return least
    }

    /// Arrays in, array out: for tests and benchmarks.
    public static func attend(queries: [Float], queryPositions: [Int32], keys: [Float], values: [Float], keyPositions: [Int32],
                              shape: AttentionShape, scheme: any PositionScheme, scale: Float, window: Int?,
                              output: inout [Float], layer: Int = 0,
                              queryBlock: Int = defaultQueryBlock, keyBlock: Int = defaultKeyBlock,
                              tiles: AttentionTiles = Compute.attentionTiles) {
        precondition(output.count >= queryPositions.count * shape.heads * shape.headDim)
        AttentionCall.withArrays(queries: queries, queryPositions: queryPositions, keys: keys, values: values, keyPositions: keyPositions,
                                 shape: shape, scheme: scheme, scale: scale, window: window, layer: layer) { call in
            output.withUnsafeMutableBufferPointer {
                attend(call, output: $0.baseAddress!, queryBlock: queryBlock, keyBlock: keyBlock, tiles: tiles)
            }
        }
    }
}

/// One key split's partial, a reference so that every split's rows can be borrowed at once.
private final class PartialBox {
    var partial: AttentionPartial
    init(_ partial: AttentionPartial) { self.partial = partial }

    /// Raw rows of every box (valid only inside `body`).
    static func withRows(of boxes: ArraySlice<PartialBox>, collected: [AttentionPartial.Rows] = [],
                         _ body: ([AttentionPartial.Rows]) -> Void) {
        guard let first = boxes.first else { body(collected); return }
        first.partial.withRows { rows in withRows(of: boxes.dropFirst(), collected: collected + [rows], body) }
    }
}

/// Which tiles of a call are visible at all, and the variants each needs (most tiles need one).
struct TilePlan {
    let queryBlock: Int, keyBlock: Int
    let queryBlocks: Int, keyBlocks: Int
    /// Lowest and highest position in each block.
    let queryBounds: [ClosedRange<Int>], keyBounds: [ClosedRange<Int>]
    /// Variants of tile (qb, kb) at qb * keyBlocks + kb; nil when no query of the block sees a key of it.
    let variants: [[Int]?]
    /// Key classes each key block is needed in.
    let keyClasses: [Set<Int>]

    init(_ call: AttentionCall, queryBlock: Int, keyBlock: Int) {
        let T = call.queryPositions.count, S = call.keys.count
        self.queryBlock = queryBlock
        self.keyBlock = keyBlock
        queryBlocks = (T + queryBlock - 1) / queryBlock
        keyBlocks = (S + keyBlock - 1) / keyBlock
        func bounds(_ p: ArraySlice<Int32>) -> ClosedRange<Int> { Int(p.min()!)...Int(p.max()!) }
        queryBounds = (0..<queryBlocks).map { bounds(call.queryPositions[($0 * queryBlock)..<min(T, ($0 + 1) * queryBlock)]) }
        keyBounds = (0..<keyBlocks).map { bounds(call.keys.positions[($0 * keyBlock)..<min(S, ($0 + 1) * keyBlock)]) }
        var variants = [[Int]?](repeating: nil, count: queryBlocks * keyBlocks)
        var keyClasses = [Set<Int>](repeating: [], count: keyBlocks)
        for qb in 0..<queryBlocks {
            let q = queryBounds[qb]
            for kb in 0..<keyBlocks {
                let k = keyBounds[kb]
                if k.lowerBound > q.upperBound { continue }                                        // all in the future
                if let w = call.window, q.lowerBound - k.upperBound >= w { continue }              // all out of the window
                let v = call.scheme.variants(queries: q, keys: k.lowerBound...min(k.upperBound, q.upperBound))
                variants[qb * keyBlocks + kb] = v
                for variant in v { keyClasses[kb].insert(call.scheme.keyClass(of: variant)) }
            }
        }
        self.variants = variants
        self.keyClasses = keyClasses
    }

    func keyRange(_ kb: Int, count S: Int) -> Range<Int> { (kb * keyBlock)..<min(S, (kb + 1) * keyBlock) }

    /// Every query of block qb sees every key of block kb (no masking needed).
    func fullyVisible(queryBlock qb: Int, keyBlock kb: Int, window: Int?) -> Bool {
        let (q, k) = (queryBounds[qb], keyBounds[kb])
        return k.upperBound <= q.lowerBound && (window.map { q.upperBound - k.lowerBound < $0 } ?? true)
    }
}

/// The call's keys transformed once per key class (only in the key blocks that need that class), each class
/// laid out like the raw keys [key, kv head, headDim]. When the block carries the classes already transformed
/// (a decode cache), they are used as they are.
struct TransformedKeys {
    /// Base of each class's rows, by slot, stored as `type`; owned (f32) when computed here.
    let bases: [UnsafeRawPointer]
    let type: KVType
    let owned: UnsafeMutablePointer<Float>?
    /// Slot of each key class in `bases` (classes are small integers).
    let slots: [Int]
    /// Values from key j to key j + 1, and from kv head g to g + 1.
    let keyStride: Int, headStride: Int
    let headDim: Int

    init(_ call: AttentionCall, plan: TilePlan) {
        let shape = call.shape, d = shape.headDim, S = call.keys.count
        let classes = Array(Set(plan.keyClasses.flatMap { $0 })).sorted()
        var slots = [Int](repeating: -1, count: (classes.last ?? 0) + 1)
        for (slot, cls) in classes.enumerated() { slots[cls] = slot }
        self.slots = slots
        headDim = d
        let rowStride = shape.kvHeads * d
        // Transformed keys are rounded through the block's `transformedKeyType` (16 bits for f16 and bf16 caches),
        // as a cache that keeps them stores them, so kept and per-call keys give the same bits.
        let rounding = call.keys.transformedKeyType
        if let given = call.keys.transformed, classes.allSatisfy({ given.classes[$0] != nil }) {
            precondition(given.type == rounding, "kept keys are \(given.type), the call rounds them to \(rounding)")
            (keyStride, headStride) = given.strides(headDim: d, kvHeads: shape.kvHeads)
            bases = classes.map { given.classes[$0]! }
            type = given.type
            owned = nil
            return
        }
        (keyStride, headStride) = (rowStride, d)
        let storage = UnsafeMutablePointer<Float>.allocate(capacity: max(1, classes.count * S * rowStride))
        owned = storage
        type = .f32
        bases = classes.indices.map { UnsafeRawPointer(storage + $0 * S * shape.kvHeads * d) }
        let stride = rowStride, raw = call.keys.keys
        Parallel.forEach(plan.keyBlocks) { kb in
            if plan.keyClasses[kb].isEmpty { return }
            // Keys stored in a narrower type are decoded one row at a time, then transformed per class.
            let decoded: UnsafeMutablePointer<Float>? = raw.floats == nil ? .allocate(capacity: stride) : nil
            let rounded: UnsafeMutableRawPointer? = rounding == .f32 ? nil
                : .allocate(byteCount: rounding.bytes(d), alignment: 16)
            defer { decoded?.deallocate(); rounded?.deallocate() }
            for j in plan.keyRange(kb, count: S) {
                let key: UnsafePointer<Float>
                if let floats = raw.floats {
                    key = floats + j * stride
                } else {
                    raw.decode(row: j, columns: 0..<stride, into: decoded!)
                    key = UnsafePointer(decoded!)
                }
                for cls in plan.keyClasses[kb] {
                    let out = storage + slots[cls] * S * stride
                    for g in 0..<shape.kvHeads {
                        let transformed = out + j * stride + g * d
                        call.scheme.transformKey(key + g * d, position: Int(call.keys.positions[j]), keyClass: cls,
                                                 into: transformed)
                        if let rounded {
                            rounding.encode(transformed, count: d, into: rounded)
                            rounding.decode(rounded, count: d, into: transformed)
                        }
                    }
                }
            }
        }
    }

    /// Key j of kv head g, `headDim` values of `type`; the next key is `keyStride` values on.
    func row(keyClass: Int, kvHead g: Int, key j: Int) -> UnsafeRawPointer {
        bases[slots[keyClass]] + type.bytes(j * keyStride + g * headStride)
    }

    func deallocate() { owned?.deallocate() }
}

/// The call's transformed keys and its values as BF16 panels (`BF16Tiles`), built once per call: a key panel per
/// (key class, kv head, key block) and a value panel per (kv head, key block), for the blocks some tile sees.
public struct BF16Panels {
    let variant: BF16Variant
    let keyWords: Int, valueWords: Int
    let kvHeads: Int, keyBlocks: Int
    /// Slot of each key class, as in `TransformedKeys`.
    let slots: [Int]
    let keyPanels: UnsafeMutablePointer<UInt32>
    let valuePanels: UnsafeMutablePointer<UInt32>

    /// The BF16 variant to run the call's tiles with, or nil when they stay f32: tiles set to f32, a head dim the
    /// value tiles do not take, or query blocks of no more rows than the few-row kernels take (decode).
    static func wanted(_ call: AttentionCall, plan: TilePlan, tiles: AttentionTiles) -> BF16Variant? {
        guard case .bf16(let variant) = tiles, BF16Tiles.takes(headDim: call.shape.headDim) else { return nil }
        let rows = min(call.queryPositions.count, plan.queryBlock) * call.shape.groupSize
        return rows > FewRowAttention.maxRows ? variant : nil
    }

    /// Bytes the panels of `keys` keys take, for `keyClasses` key classes (the memory plan's figure).
    public static func bytes(keys: Int, kvHeads: Int, headDim: Int, keyClasses: Int,
                             keyBlock: Int = TiledAttention.defaultKeyBlock) -> Int {
        let blocks = (keys + keyBlock - 1) / keyBlock
        let perBlock = BF16Tiles.keyPanelWords(count: keyBlock, headDim: headDim) * keyClasses
            + BF16Tiles.valuePanelWords(count: keyBlock, headDim: headDim)
        return 4 * blocks * kvHeads * perBlock
    }

    init(_ call: AttentionCall, plan: TilePlan, keys: TransformedKeys, variant: BF16Variant) {
        let shape = call.shape, d = shape.headDim, S = call.keys.count
        self.variant = variant
        kvHeads = shape.kvHeads
        keyBlocks = plan.keyBlocks
        slots = keys.slots
        keyWords = BF16Tiles.keyPanelWords(count: plan.keyBlock, headDim: d)
        valueWords = BF16Tiles.valuePanelWords(count: plan.keyBlock, headDim: d)
        keyPanels = .allocate(capacity: max(1, keys.bases.count * kvHeads * keyBlocks * keyWords))
        valuePanels = .allocate(capacity: max(1, kvHeads * keyBlocks * valueWords))
        let panels = self, values = call.keys.values
        Parallel.forEach(plan.keyBlocks) { kb in
            if plan.keyClasses[kb].isEmpty { return }
            let range = plan.keyRange(kb, count: S)
            for cls in plan.keyClasses[kb] {
                for g in 0..<shape.kvHeads {
                    BF16Tiles.keyPanel(keys: keys.row(keyClass: cls, kvHead: g, key: range.lowerBound), type: keys.type,
                                       stride: keys.keyStride, count: range.count, headDim: d,
                                       into: panels.keyPanel(keyClass: cls, kvHead: g, keyBlock: kb))
                }
            }
            for g in 0..<shape.kvHeads {
                let out = panels.valuePanel(kvHead: g, keyBlock: kb)
                if values.type == .q8_0 {
                    // Blocks of 32 are decoded to f32 first.
                    let decoded = UnsafeMutablePointer<Float>.allocate(capacity: range.count * d)
                    defer { decoded.deallocate() }
                    for (i, j) in range.enumerated() { values.decode(row: j, columns: (g * d)..<((g + 1) * d), into: decoded + i * d) }
                    BF16Tiles.valuePanel(values: decoded, type: .f32, stride: d, count: range.count, headDim: d, into: out)
                } else {
                    BF16Tiles.valuePanel(values: values.base + range.lowerBound * values.rowBytes + values.type.bytes(g * d),
                                         type: values.type, stride: values.width, count: range.count, headDim: d, into: out)
                }
            }
        }
    }

    func keyPanel(keyClass: Int, kvHead g: Int, keyBlock kb: Int) -> UnsafeMutablePointer<UInt32> {
        keyPanels + ((slots[keyClass] * kvHeads + g) * keyBlocks + kb) * keyWords
    }

    func valuePanel(kvHead g: Int, keyBlock kb: Int) -> UnsafeMutablePointer<UInt32> {
        valuePanels + (g * keyBlocks + kb) * valueWords
    }

    func deallocate() {
        keyPanels.deallocate()
        valuePanels.deallocate()
    }
}

/// Runs the tiles of one (kv head, query block) item: its query rows against every visible key block.
/// One kernel per worker thread; its scratch (rotated queries and scores per variant, the rows' softmax state)
/// is reused across the worker's items.
final class TileKernel {
    let call: AttentionCall
    let plan: TilePlan
    let keys: TransformedKeys
    /// When set, every tile runs in BF16 on these panels (and `keys` is not read).
    let panels: BF16Panels?
    let maxRows: Int
    /// Scores of the tile being computed [rows, keyBlock].
    let scores: UnsafeMutablePointer<Float>
    /// The tile's values of one kv head decoded to f32 [keyBlock, headDim], when the cache stores another type.
    let decodedValues: UnsafeMutablePointer<Float>?
    /// The tile's transformed keys of one kv head as f32 [keyBlock, headDim], when they are kept in 16 bits and
    /// the tile has more rows than the few-row kernels take.
    let decodedKeys: UnsafeMutablePointer<Float>?
    /// Per variant (indexed by variant): rotated queries [rows, headDim] and that variant's scores.
    var rotatedQueries: [UnsafeMutablePointer<Float>?] = []
    var rotatedFor: [Bool] = []
    var variantScores: [UnsafeMutablePointer<Float>?] = []
    /// BF16 tiles: per variant, the rotated queries as bfloat16 pairs [rows, headDim / 2]; the tile's
    /// probabilities as pairs [rows, keyBlock / 2].
    var queryPairs: [UnsafeMutablePointer<UInt32>?] = []
    var queryPairsFor: [Bool] = []
    let probabilityPairs: UnsafeMutablePointer<UInt32>?
    var state: SoftmaxState

    init(_ call: AttentionCall, plan: TilePlan, keys: TransformedKeys, panels: BF16Panels?) {
        self.call = call
        self.plan = plan
        self.keys = keys
        self.panels = panels
        maxRows = plan.queryBlock * call.shape.groupSize
        scores = .allocate(capacity: maxRows * plan.keyBlock)
        let d = call.shape.headDim
        decodedValues = call.keys.values.floats == nil && panels == nil ? .allocate(capacity: plan.keyBlock * d) : nil
        decodedKeys = keys.type != .f32 && maxRows > FewRowAttention.maxRows && panels == nil
            ? .allocate(capacity: plan.keyBlock * d) : nil
        probabilityPairs = panels == nil ? nil : .allocate(capacity: maxRows * ((plan.keyBlock + 1) / 2))
        state = SoftmaxState(rows: maxRows, headDim: d)
    }

    func deallocate() {
        scores.deallocate()
        decodedValues?.deallocate()
        decodedKeys?.deallocate()
        probabilityPairs?.deallocate()
        rotatedQueries.forEach { $0?.deallocate() }
        variantScores.forEach { $0?.deallocate() }
        queryPairs.forEach { $0?.deallocate() }
    }

    /// A per-variant buffer of `size` elements, made on first use.
    private func buffer<T>(_ list: inout [UnsafeMutablePointer<T>?], _ v: Int, size: Int) -> UnsafeMutablePointer<T> {
        if v >= list.count { list += [UnsafeMutablePointer<T>?](repeating: nil, count: v + 1 - list.count) }
        if let b = list[v] { return b }
        let b = UnsafeMutablePointer<T>.allocate(capacity: size)
        list[v] = b
        return b
    }

    /// Key blocks `keyBlocks` only (a split of the keys; all of them unless the call is split).
    func run(kvHead g: Int, queryBlock qb: Int, keyBlocks: Range<Int>, rows: AttentionPartial.Rows) {
        let shape = call.shape, d = shape.headDim, group = shape.groupSize
        let T = call.queryPositions.count, S = call.keys.count
        let t0 = qb * plan.queryBlock, t1 = min(T, t0 + plan.queryBlock)
        let rowCount = (t1 - t0) * group
        // Kernel row r = (t - t0) * group + hh holds query head g * group + hh of token t.
        let rowPositions = (0..<rowCount).map { Int(call.queryPositions[t0 + $0 / group]) }
        let rowHeads = (0..<rowCount).map { g * group + $0 % group }
        func partialRow(_ r: Int) -> Int { (t0 + r / group) * shape.heads + g * group + r % group }
        rows.load(into: &state, count: rowCount, from: partialRow)
        rotatedFor = [Bool](repeating: false, count: rotatedFor.count)
        queryPairsFor = [Bool](repeating: false, count: queryPairsFor.count)

        func queries(_ v: Int) -> UnsafeMutablePointer<Float> {
            let q = buffer(&rotatedQueries, v, size: maxRows * d)
            if v >= rotatedFor.count { rotatedFor += [Bool](repeating: false, count: v + 1 - rotatedFor.count) }
            if rotatedFor[v] { return q }
            let qStride = shape.heads * d
            for r in 0..<rowCount {
                let i = rowPositions[r]
                call.scheme.rotateQuery(call.queries + (t0 + r / group) * qStride + rowHeads[r] * d, position: i, variant: v,
                                        scale: call.scale * call.scheme.queryScale(i), into: q + r * d)
            }
            rotatedFor[v] = true
            return q
        }

        // The rotated queries of variant v as bfloat16 pairs.
        func pairs(_ v: Int) -> UnsafeMutablePointer<UInt32> {
            let p = buffer(&queryPairs, v, size: maxRows * d / 2)
            if v >= queryPairsFor.count { queryPairsFor += [Bool](repeating: false, count: v + 1 - queryPairsFor.count) }
            if queryPairsFor[v] { return p }
            BF16Tiles.roundPairs(queries(v), count: rowCount * d, into: p, variant: panels!.variant)
            queryPairsFor[v] = true
            return p
        }

        // scores [rowCount, n] of variant v against key block kb.
        func scoresOf(variant v: Int, keyBlock kb: Int, n: Int, into out: UnsafeMutablePointer<Float>) {
            let keyClass = call.scheme.keyClass(of: v)
            if let panels {
                BF16Tiles.scores(queryPairs: pairs(v), rows: rowCount, headDim: d,
                                 keyPanel: panels.keyPanel(keyClass: keyClass, kvHead: g, keyBlock: kb), count: n,
                                 into: out, ldc: n, variant: panels.variant)
            } else {
                multiply(queries(v), keys.row(keyClass: keyClass, kvHead: g, key: kb * plan.keyBlock), n: n, into: out)
            }
        }

        // scores [rowCount, n] = rotated queries x keys^T; a few rows (decode) without sgemm's packing.
        func multiply(_ q: UnsafePointer<Float>, _ k: UnsafeRawPointer, n: Int, into out: UnsafeMutablePointer<Float>) {
            if rowCount <= FewRowAttention.maxRows {
                FewRowAttention.scoresOfStoredKeys(queries: q, rows: rowCount, headDim: d, keys: k, type: keys.type,
                                                   keyStride: keys.keyStride, count: n, into: out)
            } else if keys.type == .f32 {
                BLAS.matmulTransposedB(m: rowCount, n: n, k: d, a: q, lda: d, b: k.assumingMemoryBound(to: Float.self),
                                       ldb: keys.keyStride, c: out, ldc: n)
            } else {
                let tile = decodedKeys!
                for c in 0..<n { keys.type.decode(k + keys.type.bytes(c * keys.keyStride), count: d, into: tile + c * d) }
                BLAS.matmulTransposedB(m: rowCount, n: n, k: d, a: q, lda: d, b: tile, ldb: d, c: out, ldc: n)
            }
        }

        for kb in keyBlocks {
            guard let variants = plan.variants[qb * plan.keyBlocks + kb] else { continue }
            let j0 = kb * plan.keyBlock, n = min(S, j0 + plan.keyBlock) - j0
            if variants.count == 1 {
                scoresOf(variant: variants[0], keyBlock: kb, n: n, into: scores)
            } else {
                for v in variants {
                    scoresOf(variant: v, keyBlock: kb, n: n, into: buffer(&variantScores, v, size: maxRows * plan.keyBlock))
                }
                for r in 0..<rowCount {
                    let i = rowPositions[r]
                    for c in 0..<n {
                        let j = Int(call.keys.positions[j0 + c])
                        // Future keys are masked below; any variant's value will do for them.
                        let v = j <= i ? call.scheme.variant(query: i, key: j) : variants[0]
                        scores[r * n + c] = variantScores[v]![r * n + c]
                    }
                }
            }
            if call.scheme.addsLogitNoise {
                call.keys.positions.withUnsafeBufferPointer { kp in
                    call.scheme.addLogitNoise(scores, rowPositions: rowPositions, rowHeads: rowHeads,
                                              keyPositions: UnsafeBufferPointer(rebasing: kp[j0..<(j0 + n)]), layer: call.layer)
                }
            }
            if !plan.fullyVisible(queryBlock: qb, keyBlock: kb, window: call.window) {
                for r in 0..<rowCount {
                    let i = rowPositions[r], row = scores + r * n
                    for c in 0..<n where !call.sees(query: i, key: Int(call.keys.positions[j0 + c])) { row[c] = -Float.infinity }
                }
            }
            let kvStride = shape.kvHeads * d
            if let panels {
                state.absorb(scores: scores, keyCount: n, valuePanel: panels.valuePanel(kvHead: g, keyBlock: kb),
                             pairScratch: probabilityPairs!, variant: panels.variant, rows: rowCount)
            } else if let values = call.keys.values.floats {
                state.absorb(scores: scores, keyCount: n, values: values + j0 * kvStride + g * d, valueStride: kvStride,
                             rows: rowCount)
            } else if rowCount <= FewRowAttention.maxRows && FewRowAttention.readsStored(call.keys.values.type) {
                // A few rows read f16/bf16 values where they lie, converting each once for all rows.
                let values = call.keys.values
                state.absorb(scores: scores, keyCount: n,
                             storedValues: values.base + j0 * values.rowBytes + values.type.bytes(g * d),
                             type: values.type, valueStride: values.width, rows: rowCount)
            } else {
                let tile = decodedValues!
                for c in 0..<n { call.keys.values.decode(row: j0 + c, columns: (g * d)..<((g + 1) * d), into: tile + c * d) }
                state.absorb(scores: scores, keyCount: n, values: tile, valueStride: d, rows: rowCount)
            }
        }
        rows.store(from: state, count: rowCount, to: partialRow)
    }
}
