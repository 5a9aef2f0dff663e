import Foundation
import LongLMCore
import LongLMAttention

/// Gemma 3 (text): embedding scale sqrt(hidden), QK-norm, RMSNorms before and after attention and MLP,
/// GELU-tanh gated MLP, five sliding-window layers (RoPE base 10000) per global layer (the file's base),
/// tied output. GGUF's converter already folds Gemma's `1 + weight` into the stored norm weights.
/// References: llama.cpp `src/models/gemma3.cpp` and `llama-model.cpp` (hparams); transformers `modeling_gemma3.py`.
enum Gemma3: Architecture {
    static func config(gguf m: GGUFMetadata) throws -> ModelConfig {
        let hidden = try m.int("embedding_length")
        let heads = try m.int("attention.head_count")
        let headDim = try m.int("attention.key_length")
        let layers = try m.int("block_count")
        let ropeScaling = try ggufRopeScaling(m)
        guard let embedding = m.file.tensor(named: "token_embd.weight") else { throw WeightError.missingTensor("token_embd.weight") }
        // llama.cpp hard-codes these two for gemma3: every 6th layer is global, the rest slide with base 10000.
        let pattern = try m.optionalInt("attention.sliding_window_pattern") ?? 6
        let slidingBase = try m.optionalDouble("rope.freq_base_swa") ?? 10000
        // llama.cpp: f_attention_scale = 1/sqrt(hidden/heads) for the 27B model (62 layers), else 1/sqrt(head_dim)
        // (query_pre_attn_scalar in the HF config).
        let queryScalar = layers == 62 ? Float(hidden / heads) : Float(headDim)
        var config = ModelConfig(
            architecture: "gemma3", vocabularySize: embedding.rows, hiddenSize: hidden, layerCount: layers,
            heads: heads, kvHeads: try m.int("attention.head_count_kv"), headDim: headDim,
            ffnSize: try m.int("feed_forward_length"), trainedContext: try m.int("context_length"),
            rmsEpsilon: Float(try m.double("attention.layer_norm_rms_epsilon")),
            ropeBase: try m.double("rope.freq_base"), rotaryPairing: .halves,
            slidingWindow: try m.int("attention.sliding_window"),
            slidingLayers: (0..<layers).map { $0 % pattern < pattern - 1 },
            slidingRopeBase: slidingBase, embeddingScale: Float(hidden).squareRoot(),
            attentionScale: 1 / queryScalar.squareRoot(),
            activation: .geluTanh, hasQKNorm: true, hasPostNorms: true, hasQKVBias: false,
            tiedEmbeddings: m.file.tensorsByName["output.weight"] == nil)
        config.ropeScaling = ropeScaling   // Gemma 3 4B and up: linear 8 on the global layers
        return config
    }

    static func config(hf c: HFConfigReader) throws -> ModelConfig {
        // HF Gemma 3 stores norm weights without the +1 and needs them folded at load; not wired yet.
        throw WeightError.unsupportedModel("Gemma 3 from safetensors (use the GGUF file)")
    }
}
