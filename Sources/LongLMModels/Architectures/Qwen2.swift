import LongLMAttention

/// Qwen2 and Qwen2.5 (GGUF `qwen2`): the Llama graph with Q/K/V biases and NeoX (halves) RoPE. Qwen2.5's long
/// variants carry YaRN in `rope.scaling.type/factor/original_context_length`, applied as llama.cpp does
/// (static: every position, magnitude 0.1 ln s + 1). llama.cpp's qwen2 graph ignores `use_sliding_window`.
/// Rules: docs/architectures.md.
enum Qwen2: Architecture {
    static func config(gguf m: GGUFMetadata) throws -> ModelConfig { try LlamaFamilyGGUF.config(m, pairing: .halves) }
    static func config(hf c: HFConfigReader) throws -> ModelConfig { try Llama.config(hf: c) }
}
