import LongLMCore
import LongLMAttention

/// Phi-3 and Phi-3.5 (GGUF `phi3`): the Llama graph with fused tensors and LongRoPE.
///  - `blk.N.attn_qkv` holds Q, K and V rows; `blk.N.ffn_up` holds the gate rows then the up rows (there is no
///    `ffn_gate`). GGUFTensorView splits both.
///  - NeoX (halves) RoPE. The 128k models store `rope_factors_short` and `rope_factors_long` (one divisor per rotary
///    pair) with `rope.scaling.original_context_length` (4096): llama.cpp rotates with the long factors when its
///    context size exceeds that length; here, when the prompt does (RopeFrequencyFactors.factors).
///  - `rope.scaling.attn_factor` = sqrt(1 + ln(context / original) / ln(original)) scales cos and sin, so every
///    logit by its square, whichever factors are in use (as in llama.cpp and transformers' longrope).
///  - `attention.sliding_window` is written (0 for Phi-4, 2047 or 262144 for Phi-3) but llama.cpp disables
///    sliding-window attention for phi3, so it is ignored.
/// Rules: docs/architectures.md.
enum Phi3: Architecture {
    static func config(gguf m: GGUFMetadata) throws -> ModelConfig { try LlamaFamilyGGUF.config(m, pairing: .halves) }
    static func config(hf c: HFConfigReader) throws -> ModelConfig {
        throw WeightError.unsupportedModel("Phi-3 from safetensors (use the GGUF file)")
    }
}
