import Foundation
import LongLMCore
import LongLMAttention

/// The weights of one transformer block, dequantized to f32, matrices stored [out, in].
struct LayerWeights {
    let attentionNorm: FloatBuffer
    let query: WeightMatrix, key: WeightMatrix, value: WeightMatrix, attentionOutput: WeightMatrix
    let queryBias: FloatBuffer?, keyBias: FloatBuffer?, valueBias: FloatBuffer?
    let queryNorm: FloatBuffer?, keyNorm: FloatBuffer?
    let postAttentionNorm: FloatBuffer?
    let ffnNorm: FloatBuffer
    let ffnGate: WeightMatrix, ffnUp: WeightMatrix, ffnDown: WeightMatrix
    let postFFNNorm: FloatBuffer?
}

/// A loaded model: configuration, f32 weights, RoPE tables. `forward` runs a block of tokens.
public final class TransformerModel: @unchecked Sendable {
    public let config: ModelConfig
    let layers: [LayerWeights]
    let outputNorm: FloatBuffer
    /// [vocab, hidden]; also the embedding table when the model ties them.
    let output: WeightMatrix
    let embedding: WeightMatrix
    /// The file(s) the encoded weights point into; kept mapped for the model's lifetime.
    let storage: TensorSource
    /// Plain RoPE tables from the file's configuration, with the file's frequency factors (for sequences up to the
    /// original context when it has Phi-3's short and long ones).
    public let globalRotary: RotaryTable
    /// Phi-3's long factors, for longer sequences (RopeFrequencyFactors).
    let longRotary: RotaryTable?
    public let slidingRotary: RotaryTable
    /// Sliding-window layers always use plain RoPE (their window is inside the trained range); global
    /// layers use the sequence's scheme (`KVCache.globalScheme`).
    let slidingScheme: any PositionScheme

    init(config: ModelConfig, source: TensorSource, naming: TensorNaming) throws {
        try config.validate()
        self.config = config
        storage = source
        let c = config
        let q = c.heads * c.headDim, kv = c.kvHeads * c.headDim
        func name(_ r: WeightRole, _ l: Int = 0) -> String { naming.name(r, layer: l) }
        var layers: [LayerWeights] = []
        for l in 0..<c.layerCount {
            layers.append(LayerWeights(
                attentionNorm: try source.loadVector(name(.attentionNorm, l), count: c.hiddenSize),
                query: try source.loadWeight(name(.query, l), rows: q, cols: c.hiddenSize),
                key: try source.loadWeight(name(.key, l), rows: kv, cols: c.hiddenSize),
                value: try source.loadWeight(name(.value, l), rows: kv, cols: c.hiddenSize),
                attentionOutput: try source.loadWeight(name(.attentionOutput, l), rows: c.hiddenSize, cols: q),
                queryBias: c.hasQKVBias ? try source.loadVector(name(.queryBias, l), count: q) : nil,
                keyBias: c.hasQKVBias ? try source.loadVector(name(.keyBias, l), count: kv) : nil,
                valueBias: c.hasQKVBias ? try source.loadVector(name(.valueBias, l), count: kv) : nil,
                queryNorm: c.hasQKNorm ? try source.loadVector(name(.queryNorm, l), count: c.headDim) : nil,
                keyNorm: c.hasQKNorm ? try source.loadVector(name(.keyNorm, l), count: c.headDim) : nil,
                postAttentionNorm: c.hasPostNorms ? try source.loadVector(name(.postAttentionNorm, l), count: c.hiddenSize) : nil,
                ffnNorm: try source.loadVector(name(.ffnNorm, l), count: c.hiddenSize),
                ffnGate: try source.loadWeight(name(.ffnGate, l), rows: c.ffnSize, cols: c.hiddenSize),
                ffnUp: try source.loadWeight(name(.ffnUp, l), rows: c.ffnSize, cols: c.hiddenSize),
                ffnDown: try source.loadWeight(name(.ffnDown, l), rows: c.hiddenSize, cols: c.ffnSize),
                postFFNNorm: c.hasPostNorms ? try source.loadVector(name(.postFFNNorm, l), count: c.hiddenSize) : nil))
        }
        self.layers = layers
        outputNorm = try source.loadVector(name(.outputNorm), count: c.hiddenSize)
        embedding = try source.loadWeight(name(.tokenEmbedding), rows: c.vocabularySize, cols: c.hiddenSize)
        output = c.tiedEmbeddings ? embedding : try source.loadWeight(name(.output), rows: c.vocabularySize, cols: c.hiddenSize)
        func ownTable(_ factors: [Double]?) -> RotaryTable {
            RotaryTable(dimensions: c.headDim, pairing: c.rotaryPairing, inverseFrequencies: RopeFrequencyFactors.divide(
                RotaryTable.standardFrequencies(base: c.ropeBase, dimensions: c.headDim), by: factors))
        }
        globalRotary = ownTable(c.ropeFrequencyFactors?.short)
        longRotary = c.ropeFrequencyFactors?.long.map(ownTable)
        slidingRotary = c.slidingRopeBase.map {
            RotaryTable(dimensions: c.headDim, pairing: c.rotaryPairing,
                        inverseFrequencies: RotaryTable.standardFrequencies(base: $0, dimensions: c.headDim))
        } ?? globalRotary
        slidingScheme = RotaryScheme(table: slidingRotary)
    }

    /// The model's own RoPE table for a sequence whose prompt has `n` tokens: what the none, SelfExtend, DCA and
    /// GALI schemes rotate with (Phi-3: the long factors past the original context).
    public func rotary(sequenceLength n: Int) -> RotaryTable {
        guard let longRotary, let factors = config.ropeFrequencyFactors, n > factors.originalContext else { return globalRotary }
        return longRotary
    }

    public enum ForwardError: Error, CustomStringConvertible {
        case tokenOutOfRange(token: Int32, index: Int, vocabularySize: Int)
        case emptyInput
        public var description: String {
            switch self {
            case .tokenOutOfRange(let t, let i, let v): return "token id \(t) at index \(i) is outside the vocabulary (0..<\(v))"
            case .emptyInput: return "no tokens to process"
            }
        }
    }

    /// Tabulates the rotary angles of positions 0...maxPosition once, for the global layers' `scheme` and the
    /// sliding-window layers, so a sequence whose length is known never regrows (and copies) its tables.
    public func preparePositions(upTo maxPosition: Int, scheme: any PositionScheme) {
        scheme.prepare(maxPosition: maxPosition)
        if config.slidingLayers.contains(true) { slidingScheme.prepare(maxPosition: maxPosition) }
    }

    /// Runs `tokens` (at `positions`, by default following the cache) through every layer, appending their
    /// pre-RoPE keys and values to `cache`. Returns the final-normed hidden states [T, hidden].
    ///
    /// Distributed runs pass an attention backend that reaches the other ranks' keys; a rank may then hold
    /// no tokens of a prompt (it still takes part in every layer's exchange), and in decode only the rank
    /// that stores the new token appends it (`appendToCache`).
    /// Rows per batch of the per-row work (norms, projections, feed-forward): the prefill chunk of one process is
    /// at most this by default; a ring's shard is longer and runs in batches of this many rows.
    public static let batchRows = 1024

    public func forward(tokens: [Int32], positions: [Int32]? = nil, cache: KVCache,
                        attention backend: any AttentionBackend = LocalAttention(), appendToCache: Bool = true) throws -> FloatBuffer {
        let c = config
        let T = tokens.count
        guard T > 0 || !(backend is LocalAttention) else { throw ForwardError.emptyInput }
        for (i, t) in tokens.enumerated() where t < 0 || Int(t) >= c.vocabularySize {
            throw ForwardError.tokenOutOfRange(token: t, index: i, vocabularySize: c.vocabularySize)
        }
        let start = cache.nextPosition
        let positions = positions ?? (0..<Int32(T)).map { start + $0 }
        precondition(positions.count == T)
        let H = c.hiddenSize, qWidth = c.heads * c.headDim, kvWidth = c.kvHeads * c.headDim

        // x = embed(tokens) (* sqrt(hidden) for Gemma)                                [T, H]
        let x = FloatBuffer(rows: T, cols: H, zeroed: false)
        let embeddingScale = c.embeddingScale ?? 1
        for (t, token) in tokens.enumerated() {
            let dst = x.row(t)
            embedding.row(Int(token), into: dst)
            if embeddingScale != 1 { for i in 0..<H { dst[i] *= embeddingScale } }
        }
        // Only the residual x, the queries and the attention output span all T rows (a ring attends every query of
        // its shard to each travelling block); everything else runs `batchRows` rows at a time, so the other
        // buffers (h, k, v, the feed-forward's gate and up, the largest per row) are bounded by the batch, not by T.
        let q = FloatBuffer(rows: T, cols: qWidth, zeroed: false)
        let attention = FloatBuffer(rows: T, cols: qWidth, zeroed: false)
        let batch = min(T, Self.batchRows)
        let h = FloatBuffer(rows: batch, cols: H, zeroed: false)
        let k = FloatBuffer(rows: batch, cols: kvWidth, zeroed: false)
        let v = FloatBuffer(rows: batch, cols: kvWidth, zeroed: false)
        let gate = FloatBuffer(rows: batch, cols: c.ffnSize, zeroed: false)
        let up = FloatBuffer(rows: batch, cols: c.ffnSize, zeroed: false)
        let batches = stride(from: 0, to: T, by: max(batch, 1)).map { $0..<min(T, $0 + batch) }
        if appendToCache { cache.appendPositions(positions) }
        // A sequence started without a scheme gets the model's own RoPE configuration, with this call as its prompt.
        if cache.globalScheme == nil { cache.globalScheme = try ContextMethod.plain.scheme(for: self, promptLength: cache.count) }
        let globalScheme = cache.globalScheme!
        for (l, w) in layers.enumerated() {
            for rows in batches {
                let n = rows.count, xs = x.row(rows.lowerBound), qs = q.row(rows.lowerBound)
                // h = rmsnorm(x) * attn_norm
                Kernels.rmsNormRows(xs, rows: n, count: H, weight: w.attentionNorm.pointer, eps: c.rmsEpsilon, into: h.pointer)
                // q, k, v = h Wq^T (+ bq), h Wk^T (+ bk), h Wv^T (+ bv)               [n, heads*d], [n, kvHeads*d]
                Linear.apply(rows: n, input: h.pointer, inputWidth: H, weight: w.query, bias: w.queryBias, into: qs)
                Linear.apply(rows: n, input: h.pointer, inputWidth: H, weight: w.key, bias: w.keyBias, into: k.pointer)
                Linear.apply(rows: n, input: h.pointer, inputWidth: H, weight: w.value, bias: w.valueBias, into: v.pointer)
                // Gemma 3: per-head RMSNorm of q and k (before RoPE)
                if let qn = w.queryNorm, let kn = w.keyNorm {
                    Kernels.rmsNormRows(qs, rows: n * c.heads, count: c.headDim, weight: qn.pointer, eps: c.rmsEpsilon, into: qs)
                    Kernels.rmsNormRows(k.pointer, rows: n * c.kvHeads, count: c.headDim, weight: kn.pointer, eps: c.rmsEpsilon, into: k.pointer)
                }
                // Ministral 3: q *= 1 + beta ln(1 + floor(position / L0)), before any position scheme sees it.
                if let temperature = c.queryTemperature {
                    for t in rows {
                        let factor = temperature.factor(position: Int(positions[t]))
                        if factor != 1 { for i in 0..<qWidth { q.row(t)[i] *= factor } }
                    }
                }
                // Cache k (pre-RoPE) and v; attention below reads them from the cache (RoPE applied inside the kernel).
                if appendToCache { cache.append(layer: l, keys: k.pointer, values: v.pointer, rows: n) }
            }
            let sliding = c.slidingLayers[l]
            // Decode keeps the global layers' keys transformed (sliding layers transform only their window).
            let transformed = sliding || cache.count == 0 ? nil
                : cache.transformedKeys(layer: l, scheme: globalScheme, shape: c.attentionShape)
            try cache.withBlock(layer: l, transformed: transformed) { block in
                try backend.attend(AttentionCall(queries: q.pointer, queryPositions: positions, keys: block,
                                                 shape: c.attentionShape, scheme: sliding ? slidingScheme : globalScheme,
                                                 scale: c.attentionScale, window: sliding ? c.slidingWindow : nil, layer: l),
                                   output: attention.pointer)
            }
            for rows in batches {
                let n = rows.count, xs = x.row(rows.lowerBound)
                // x += post_attn_norm(attention Wo^T)
                Linear.apply(rows: n, input: attention.row(rows.lowerBound), inputWidth: qWidth, weight: w.attentionOutput, bias: nil,
                             into: h.pointer)
                if let pn = w.postAttentionNorm {
                    Kernels.rmsNormRows(h.pointer, rows: n, count: H, weight: pn.pointer, eps: c.rmsEpsilon, into: h.pointer)
                }
                Kernels.add(h.pointer, into: xs, count: n * H)
                // x += post_ffn_norm(down(act(gate(h)) * up(h))), h = rmsnorm(x) * ffn_norm
                Kernels.rmsNormRows(xs, rows: n, count: H, weight: w.ffnNorm.pointer, eps: c.rmsEpsilon, into: h.pointer)
                Linear.apply(rows: n, input: h.pointer, inputWidth: H, weight: w.ffnGate, bias: nil, into: gate.pointer)
                Linear.apply(rows: n, input: h.pointer, inputWidth: H, weight: w.ffnUp, bias: nil, into: up.pointer)
                Kernels.gatedActivation(gate: gate.pointer, up: up.pointer, count: n * c.ffnSize, activation: c.activation)
                Linear.apply(rows: n, input: gate.pointer, inputWidth: c.ffnSize, weight: w.ffnDown, bias: nil, into: h.pointer)
                if let pn = w.postFFNNorm {
                    Kernels.rmsNormRows(h.pointer, rows: n, count: H, weight: pn.pointer, eps: c.rmsEpsilon, into: h.pointer)
                }
                Kernels.add(h.pointer, into: xs, count: n * H)
            }
        }
        // out = rmsnorm(x) * output_norm
        Kernels.rmsNormRows(x.pointer, rows: T, count: H, weight: outputNorm.pointer, eps: c.rmsEpsilon, into: x.pointer)
        return x
    }

    /// Logits [rows.count, vocab] for the given rows of final hidden states.
    public func logits(hidden: FloatBuffer, rows: Range<Int>) -> FloatBuffer {
        let out = FloatBuffer(rows: rows.count, cols: config.vocabularySize, zeroed: false)
        Linear.apply(rows: rows.count, input: hidden.row(rows.lowerBound), inputWidth: config.hiddenSize,
                     weight: output, bias: nil, into: out.pointer)
        return out
    }

    /// The logits of tokens `vocabulary` only, for hidden row `row`: a share of the output head (distributed
    /// decode splits the head's rows across ranks). Each logit has the bits it has in `logits(hidden:rows:)` when
    /// the head is encoded (every output row is its own dot product); a dense head goes through sgemm, whose
    /// last bits may depend on the slice.
    public func logits(hidden: FloatBuffer, row: Int, vocabulary: Range<Int>) -> [Float] {
        var out = [Float](repeating: 0, count: vocabulary.count)
        if vocabulary.isEmpty { return out }
        out.withUnsafeMutableBufferPointer { o in
            Linear.apply(rows: 1, input: hidden.row(row), inputWidth: config.hiddenSize, weight: output.rows(vocabulary),
                         bias: nil, into: o.baseAddress!)
        }
        return out
    }
}

/// y = x W^T + b with W stored [out, in]. Dense weights: the output features are split across threads, each
/// calling a single-threaded sgemm on its slice of W. Encoded weights: a few rows (decode) go through the
/// quantized matrix-vector kernel; more rows go through the int8 GEMM (fast precision, AVX-512 VNNI nodes) or
/// dequantize W one tile of output features at a time per thread and run sgemm on the tile, so the f32 copy of
/// W never exists whole. In the fast precision the sgemm tiles multiply activations rounded to 8 bits per block.
enum Linear {
    static let encodedTileRows = 256
    static let vectorRows = 4

    static func apply(rows T: Int, input: UnsafePointer<Float>, inputWidth: Int, weight: WeightMatrix,
                      bias: FloatBuffer?, into y: UnsafeMutablePointer<Float>) {
        let N = weight.rows, K = inputWidth
        if T == 0 { return }
        switch weight {
        case .dense(let w):
            let step = 64
            Parallel.forRanges((N + step - 1) / step) { blocks in
                let n0 = blocks.lowerBound * step, n1 = min(N, blocks.upperBound * step)
                BLAS.matmulTransposedB(m: T, n: n1 - n0, k: K, a: input, lda: K, b: w.pointer + n0 * K, ldb: K, c: y + n0, ldc: N)
            }
        case .encoded(let q) where T <= vectorRows:
            q.multiply(input, count: T, into: y)
        case .encoded(let q):
            // Where the node has the int8 GEMM's tile, the fast precision multiplies the batch in integers as
            // decode does: the 32-block types with decode's rounded activations and integer block sums, the
            // K-quants with activations rounded per 16 values (finer than decode's 256; docs/kernels.md).
            if Compute.precision == .fast && QuantizedMatrix.hasTiledInt8(Compute.kernels)
                && q.multiplyInt8GEMM(input, count: T, into: y) {
                break
            }
            // The fast precision rounds the activations of every product with a quantized matrix, as decode's
            // int8 kernels do, so a token's result depends on the size of its batch only through the order of
            // f32 sums (running the int8 kernel on every row instead measured 2.3x slower prefill).
            var rounded: UnsafeMutablePointer<Float>? = nil
            if Compute.precision == .fast && q.int8ActivationBlock != nil {
                rounded = .allocate(capacity: T * K)
                q.roundActivations(input, rows: T, into: rounded!)
            }
            defer { rounded?.deallocate() }
            let input = UnsafePointer(rounded) ?? input
            let tile = encodedTileRows
            Parallel.forRanges((N + tile - 1) / tile) { tiles in
                let scratch = UnsafeMutablePointer<Float>.allocate(capacity: tile * K)
                defer { scratch.deallocate() }
                for t in tiles {
                    let n0 = t * tile, n1 = min(N, n0 + tile)
                    for r in n0..<n1 { q.dequantizeRow(r, into: scratch + (r - n0) * K) }
                    BLAS.matmulTransposedB(m: T, n: n1 - n0, k: K, a: input, lda: K, b: scratch, ldb: K, c: y + n0, ldc: N)
                }
            }
        }
        if let b = bias {
            for t in 0..<T { Kernels.add(b.pointer, into: y + t * N, count: N) }
        }
    }
}
