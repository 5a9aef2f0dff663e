import Foundation
import LongLMCore
import LongLMAttention

/// The hyperparameters every Llama-like GGUF graph of llama.cpp shares (llama, qwen2, qwen3, phi3, mistral3):
/// RMSNorm, SwiGLU MLP, RoPE on the whole head, optional Q/K/V biases, optional output matrix (tied otherwise).
/// Keys are `{arch}.` + the suffixes below, read with llama.cpp's defaults:
///  - `attention.head_count_kv` defaults to `attention.head_count`; `attention.key_length` to
///    `embedding_length / head_count` (Mistral Nemo, Qwen3 and Ministral set it to something else);
///    `attention.value_length` must equal it; `rope.dimension_count` must cover the whole head.
///  - `rope.freq_base` defaults to 10000; `rope.scaling.*` as in `ggufRopeScaling`.
///  - RoPE frequency factors: the `rope_freqs` tensor (Llama 3.1+) or the `rope_factors_short`/`_long` pair
///    (Phi-3 LongRoPE, switched at `rope.scaling.original_context_length`), as llama.cpp picks them.
///  - `rope.scaling.attn_factor` multiplies cos and sin of q and k in llama.cpp's rope, so every logit by its square.
/// None of these graphs applies `attention.sliding_window` in llama.cpp (Phi-3 writes 0; Mistral's converter
/// writes none), so it is not read here either.
/// The caller says how the rotary pairs are laid out: llama.cpp's "normal" rope (adjacent pairs) for llama and
/// mistral3, whose converter permutes the Q/K rows, and NeoX (halves) for qwen2, qwen3 and phi3.
enum LlamaFamilyGGUF {
    static func config(_ m: GGUFMetadata, pairing: RotaryPairing, qkNorm: Bool = false) throws -> ModelConfig {
        let hidden = try m.int("embedding_length")
        let heads = try m.int("attention.head_count")
        let kvHeads = try m.optionalInt("attention.head_count_kv") ?? heads
        let headDim = try m.optionalInt("attention.key_length") ?? hidden / max(1, heads)
        if let valueDim = try m.optionalInt("attention.value_length"), valueDim != headDim {
            throw WeightError.unsupportedModel("value heads of \(valueDim) dims with key heads of \(headDim)")
        }
        if let rotary = try m.optionalInt("rope.dimension_count"), rotary != headDim {
            throw WeightError.unsupportedModel("partial rotary embeddings (\(rotary) of \(headDim) dims)")
        }
        guard let embedding = m.file.tensor(named: "token_embd.weight") else { throw WeightError.missingTensor("token_embd.weight") }
        let layers = try m.int("block_count")
        let trainedContext = try m.int("context_length")
        let attentionFactor = try m.optionalDouble("rope.scaling.attn_factor") ?? 1
        guard attentionFactor.isFinite, attentionFactor > 0 else {
            throw WeightError.invalidConfigValue(file: m.file.file.path, key: "\(m.architecture).rope.scaling.attn_factor",
                                                 detail: "\(attentionFactor) is not a finite number > 0")
        }
        let file = m.file
        var config = ModelConfig(
            architecture: m.architecture, vocabularySize: embedding.rows, hiddenSize: hidden, layerCount: layers,
            heads: heads, kvHeads: kvHeads, headDim: headDim, ffnSize: try m.int("feed_forward_length"),
            trainedContext: trainedContext,
            rmsEpsilon: Float(try m.double("attention.layer_norm_rms_epsilon")),
            ropeBase: try m.optionalDouble("rope.freq_base") ?? 10000, rotaryPairing: pairing,
            slidingWindow: nil, slidingLayers: Array(repeating: false, count: layers),
            slidingRopeBase: nil, embeddingScale: nil,
            attentionScale: Float(attentionFactor * attentionFactor) / Float(headDim).squareRoot(),
            activation: .silu, hasQKNorm: qkNorm, hasPostNorms: false,
            hasQKVBias: file.tensorsByName["blk.0.attn_q.bias"] != nil || file.tensorsByName["blk.0.attn_qkv.bias"] != nil,
            tiedEmbeddings: file.tensorsByName["output.weight"] == nil)
        config.ropeScaling = try ggufRopeScaling(m)
        config.ropeFrequencyFactors = try frequencyFactors(m, pairs: headDim / 2,
                                                           originalContext: try m.optionalInt("rope.scaling.original_context_length") ?? trainedContext)
        return config
    }

    /// `rope_freqs` if present (llama.cpp prefers it), else the short/long pair.
    static func frequencyFactors(_ m: GGUFMetadata, pairs: Int, originalContext: Int) throws -> RopeFrequencyFactors? {
        func read(_ name: String) throws -> [Double]? {
            guard m.file.tensorsByName[name] != nil else { return nil }
            let vector = try m.file.loadVector(name, count: pairs)
            return (0..<pairs).map { Double(vector.pointer[$0]) }
        }
        if let factors = try read("rope_freqs.weight") { return RopeFrequencyFactors(short: factors, originalContext: originalContext) }
        let short = try read("rope_factors_short.weight"), long = try read("rope_factors_long.weight")
        if short == nil && long == nil { return nil }
        guard let short, let long else {
            throw WeightError.missingTensor(short == nil ? "rope_factors_short.weight" : "rope_factors_long.weight")
        }
        return RopeFrequencyFactors(short: short, long: long, originalContext: originalContext)
    }
}
