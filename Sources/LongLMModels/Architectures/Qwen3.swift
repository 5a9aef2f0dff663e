import LongLMCore
import LongLMAttention

/// Qwen3 (GGUF `qwen3`): the Llama graph with an RMSNorm over each query and key head before RoPE
/// (`blk.N.attn_q_norm` / `attn_k_norm`, head_dim weights), NeoX (halves) RoPE, and a head dimension of its own
/// (`attention.key_length`, 128 where hidden / heads is 64 for the 0.6B model). No biases.
/// Rules: docs/architectures.md.
enum Qwen3: Architecture {
    static func config(gguf m: GGUFMetadata) throws -> ModelConfig {
        try LlamaFamilyGGUF.config(m, pairing: .halves, qkNorm: true)
    }
    static func config(hf c: HFConfigReader) throws -> ModelConfig {
        throw WeightError.unsupportedModel("Qwen3 from safetensors (use the GGUF file)")
    }
}
