import LongLMCore

/// A GGUF file's tensors as the forward pass loads them: fused projections are presented as the separate
/// tensors, and every tensor the model reads is recorded so that one it never reads is an error rather than
/// silently ignored.
///
/// Fused layouts (llama.cpp's loader; the converters write them for Phi-3):
///  - `blk.N.attn_qkv.weight` [q + 2 kv rows]: rows 0..<q are Q, then K, then V (and `attn_qkv.bias` alike).
///    llama.cpp accepts it for every Llama-like architecture, so it is split wherever it appears.
///  - Phi-3's `blk.N.ffn_up.weight` [2 ff rows] with no `ffn_gate`: rows 0..<ff are the gate, ff..<2ff the up
///    projection (transformers `gate_up_proj(x).chunk(2)`; llama.cpp's fused SwiGLU takes the first half as gate).
/// A row of any GGML type is whole blocks, so a quantized tensor is split by pointer offsets, without decoding.
final class GGUFTensorView: TensorSource {
    let file: GGUFFile
    /// Name the forward pass asks for -> (stored tensor, its rows).
    private var parts: [String: (stored: String, rows: Range<Int>, vector: Bool)] = [:]
    /// Tensors read through the metadata (RoPE factors), counted as used.
    private var usedByConfig: Set<String> = []
    private(set) var requested: Set<String> = []

    init(file: GGUFFile, config: ModelConfig) throws {
        self.file = file
        let c = config
        let q = c.heads * c.headDim, kv = c.kvHeads * c.headDim
        for layer in 0..<c.layerCount {
            let b = "blk.\(layer)."
            for suffix in ["weight", "bias"] where file.tensorsByName[b + "attn_qkv." + suffix] != nil {
                try split(b + "attn_qkv." + suffix, into: [(b + "attn_q." + suffix, q), (b + "attn_k." + suffix, kv),
                                                           (b + "attn_v." + suffix, kv)], cols: suffix == "bias" ? 1 : c.hiddenSize)
            }
            if file.tensorsByName[b + "ffn_gate.weight"] == nil, let up = file.tensorsByName[b + "ffn_up.weight"],
               up.shape.dropFirst().reduce(1, *) == 2 * c.ffnSize {
                try split(b + "ffn_up.weight", into: [(b + "ffn_gate.weight", c.ffnSize), (b + "ffn_up.weight", c.ffnSize)],
                          cols: c.hiddenSize)
            }
        }
        for name in ["rope_freqs.weight", "rope_factors_long.weight", "rope_factors_short.weight"] { usedByConfig.insert(name) }
    }

    /// Records that `stored` is presented as `pieces` (name, rows), in order, after checking its shape.
    private func split(_ stored: String, into pieces: [(name: String, rows: Int)], cols: Int) throws {
        guard let t = file.tensor(named: stored) else { throw WeightError.missingTensor(stored) }
        let total = pieces.reduce(0) { $0 + $1.rows }
        // A bias is a vector: its one "row" of GGUF ne[0] elements is split by element instead.
        let found = cols == 1 ? [t.cols] : [t.rows, t.cols]
        let expected = cols == 1 ? [total] : [total, cols]
        guard found == expected else { throw WeightError.wrongShape(name: stored, found: found, expected: expected) }
        var start = 0
        for piece in pieces {
            parts[piece.name] = (stored, start..<(start + piece.rows), cols == 1)
            start += piece.rows
        }
    }

    func tensor(named name: String) -> StoredTensor? {
        requested.insert(name)
        guard let part = parts[name] else { return file.tensor(named: name) }
        requested.insert(part.stored)
        guard let t = file.tensor(named: part.stored) else { return nil }
        let vector = part.vector
        let (rows, cols) = vector ? (1, part.rows.count) : (part.rows.count, t.cols)
        // Elements of a vector, rows of a matrix: both start at a whole block (sizes are multiples of the block).
        let unitBytes = vector ? t.type.rowBytes(count: part.rows.lowerBound) : t.type.rowBytes(count: t.cols)
        guard let unit = unitBytes else { return nil }
        let offset = vector ? unit : unit * part.rows.lowerBound
        let byteCount = vector ? (t.type.rowBytes(count: cols) ?? 0) : unit * rows
        return StoredTensor(name: "\(part.stored) rows \(part.rows.lowerBound)..<\(part.rows.upperBound)", type: t.type,
                            rows: rows, cols: cols, data: t.data + offset, byteCount: byteCount)
    }

    /// Tensors in the file that neither the forward pass nor the configuration read.
    var unused: [String] {
        file.tensors.map(\.name).filter { !requested.contains($0) && !usedByConfig.contains($0) }.sorted()
    }
}
