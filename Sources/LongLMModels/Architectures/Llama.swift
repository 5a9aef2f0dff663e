import Foundation
import LongLMCore
import LongLMAttention

/// Llama 1/2/3/3.1/3.2/3.3, Mistral 7B and Nemo, SmolLM2 (GGUF `llama`; HF `llama`, `mistral`, `qwen2`): RMSNorm,
/// SwiGLU MLP, RoPE. In GGUF files the converter has permuted the Q and K rows of every head so that llama.cpp's
/// "normal" rope rotates adjacent pairs (2m, 2m+1) where transformers rotates halves (m, m + d/2); the pairing
/// follows the file (RotaryPairing), the weights are used as stored. Llama 3.1 and later carry their RoPE scaling
/// as the `rope_freqs` tensor (LlamaFamilyGGUF, RopeFrequencyFactors). Mistral Nemo sets `attention.key_length`
/// (128) apart from hidden / heads (160).
/// Rules: docs/architectures.md.
enum Llama: Architecture {
    static func config(gguf m: GGUFMetadata) throws -> ModelConfig { try LlamaFamilyGGUF.config(m, pairing: .adjacent) }

    static func config(hf c: HFConfigReader) throws -> ModelConfig {
        let modelType = c.string("model_type") ?? "llama"
        let hidden = try c.int("hidden_size")
        let heads = try c.int("num_attention_heads")
        // transformers' documented defaults: num_key_value_heads = num_attention_heads,
        // head_dim = hidden_size / num_attention_heads, rope_theta = 10000.
        let kvHeads = try c.optionalInt("num_key_value_heads") ?? heads
        let headDim = try c.optionalInt("head_dim") ?? hidden / max(1, heads)
        // transformers < 5 writes `rope_theta` and `rope_scaling` ({"type"|"rope_type": ...});
        // transformers 5 writes one `rope_parameters` object holding both.
        let ropeParameters = c.json["rope_parameters"] as? [String: Any]
        let ropeScaling = try huggingFaceRopeScaling(c)
        let ropeTheta = try c.optionalDouble("rope_theta") ?? (ropeParameters?["rope_theta"] as? NSNumber)?.doubleValue
        if let partial = try c.optionalDouble("partial_rotary_factor"), partial != 1 {
            throw WeightError.unsupportedModel("partial_rotary_factor \(partial)")
        }
        let layers = try c.int("num_hidden_layers")
        // Mistral applies `sliding_window` when set; Qwen2 only when `use_sliding_window` is true.
        var window: Int? = nil
        if modelType == "mistral" { window = try c.optionalInt("sliding_window") }
        if modelType == "qwen2", try c.bool("use_sliding_window", default: false) {
            throw WeightError.unsupportedModel("Qwen2 with use_sliding_window=true (per-layer max_window_layers) is not implemented")
        }
        let qkvBias = modelType == "qwen2" ? true : try c.bool("attention_bias", default: false)
        if try c.bool("mlp_bias", default: false) { throw WeightError.unsupportedModel("mlp_bias=true") }
        if let act = c.string("hidden_act"), act != "silu" { throw WeightError.unsupportedModel("hidden_act '\(act)'") }
        var config = ModelConfig(
            architecture: modelType, vocabularySize: try c.int("vocab_size"), hiddenSize: hidden, layerCount: layers,
            heads: heads, kvHeads: kvHeads, headDim: headDim, ffnSize: try c.int("intermediate_size"),
            trainedContext: try c.int("max_position_embeddings"),
            rmsEpsilon: Float(try c.double("rms_norm_eps")),
            ropeBase: ropeTheta ?? 10000,
            rotaryPairing: .halves,
            slidingWindow: window, slidingLayers: Array(repeating: window != nil, count: layers),
            slidingRopeBase: nil, embeddingScale: nil, attentionScale: 1 / Float(headDim).squareRoot(),
            activation: .silu, hasQKNorm: false, hasPostNorms: false, hasQKVBias: qkvBias,
            // transformers' PretrainedConfig default for tie_word_embeddings is true, but LlamaConfig,
            // MistralConfig and Qwen2Config all default it to false.
            tiedEmbeddings: try c.bool("tie_word_embeddings", default: false))
        config.ropeScaling = ropeScaling
        return config
    }
}
