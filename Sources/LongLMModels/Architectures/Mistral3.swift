import LongLMCore
import LongLMAttention

/// Ministral 3 and Mistral Small 3.x text models (GGUF `mistral3`): the Llama graph (adjacent-pair RoPE on
/// Q/K rows the converter permuted) with a head dimension of its own (`attention.key_length`, 128 where
/// hidden / heads is smaller), YaRN whose magnitude is divided by get_mscale(s, `rope.scaling.yarn_log_multiplier`)
/// (ggufRopeScaling), and, when `attention.temperature_scale` is set, Llama 4's query temperature with the floor
/// scale `rope.scaling.original_context_length` (AttentionTemperature).
/// Rules: docs/architectures.md.
enum Mistral3: Architecture {
    static func config(gguf m: GGUFMetadata) throws -> ModelConfig {
        var config = try LlamaFamilyGGUF.config(m, pairing: .adjacent)
        if let beta = try m.optionalDouble("attention.temperature_scale"), beta != 0 {
            // llama.cpp refuses a temperature without the original context it floors by.
            guard let floorScale = try m.optionalInt("rope.scaling.original_context_length") else {
                throw WeightError.missingConfig(key: "mistral3.rope.scaling.original_context_length",
                                                source: "the GGUF metadata of \(m.file.file.path) (needed by attention.temperature_scale)")
            }
            config.queryTemperature = AttentionTemperature(beta: beta, floorScale: floorScale)
        }
        return config
    }
    static func config(hf c: HFConfigReader) throws -> ModelConfig {
        throw WeightError.unsupportedModel("Ministral 3 from safetensors (use the GGUF file)")
    }
}
