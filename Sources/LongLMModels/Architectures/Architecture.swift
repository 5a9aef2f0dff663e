import Foundation
import LongLMCore
import LongLMAttention

/// Builds a `ModelConfig` from a file's metadata. One entry per supported architecture; a new
/// architecture is one file plus one line in a registry.
protocol Architecture {
    static func config(gguf: GGUFMetadata) throws -> ModelConfig
    static func config(hf: HFConfigReader) throws -> ModelConfig
}

public enum ArchitectureRegistry {
    /// Keyed by GGUF `general.architecture`. Mistral's own GGUFs say "llama"; Mistral Nemo / Small 3 say
    /// "llama" or "mistral3" depending on the converter.
    static let gguf: [String: any Architecture.Type] = [
        "llama": Llama.self, "qwen2": Qwen2.self, "qwen3": Qwen3.self, "phi3": Phi3.self,
        "mistral3": Mistral3.self, "gemma3": Gemma3.self,
    ]
    /// Keyed by Hugging Face `model_type` (config.json).
    static let huggingFace: [String: any Architecture.Type] = [
        "llama": Llama.self, "mistral": Llama.self, "qwen2": Llama.self,
    ]

    /// The architectures each format loads, sorted (for `info` and error messages).
    public static var ggufArchitectures: [String] { gguf.keys.sorted() }
    public static var huggingFaceModelTypes: [String] { huggingFace.keys.sorted() }

    static func lookup(gguf name: String) throws -> any Architecture.Type {
        guard let a = gguf[name] else {
            throw WeightError.unsupportedModel("GGUF architecture '\(name)' (supported: \(ggufArchitectures.joined(separator: ", ")))")
        }
        return a
    }

    static func lookup(huggingFace name: String) throws -> any Architecture.Type {
        guard let a = huggingFace[name] else {
            let ggufOnly = gguf[name] != nil ? "; it is supported from GGUF files" : ""
            throw WeightError.unsupportedModel(
                "model_type '\(name)' from safetensors (supported: \(huggingFaceModelTypes.joined(separator: ", "))\(ggufOnly))")
        }
        return a
    }
}

/// Which tensor a weight is, independent of the file's naming.
enum WeightRole {
    case tokenEmbedding, outputNorm, output
    case attentionNorm, query, key, value, attentionOutput, queryBias, keyBias, valueBias
    case queryNorm, keyNorm, postAttentionNorm
    case ffnNorm, ffnGate, ffnUp, ffnDown, postFFNNorm
}

/// Tensor names by file format (the names differ by format, not by architecture, for the models we load).
enum TensorNaming {
    case gguf, huggingFace

    func name(_ role: WeightRole, layer: Int = 0) -> String {
        switch self {
        case .gguf:
            let b = "blk.\(layer)."
            switch role {
            case .tokenEmbedding: return "token_embd.weight"
            case .outputNorm: return "output_norm.weight"
            case .output: return "output.weight"
            case .attentionNorm: return b + "attn_norm.weight"
            case .query: return b + "attn_q.weight"
            case .key: return b + "attn_k.weight"
            case .value: return b + "attn_v.weight"
            case .attentionOutput: return b + "attn_output.weight"
            case .queryBias: return b + "attn_q.bias"
            case .keyBias: return b + "attn_k.bias"
            case .valueBias: return b + "attn_v.bias"
            case .queryNorm: return b + "attn_q_norm.weight"
            case .keyNorm: return b + "attn_k_norm.weight"
            case .postAttentionNorm: return b + "post_attention_norm.weight"
            case .ffnNorm: return b + "ffn_norm.weight"
            case .ffnGate: return b + "ffn_gate.weight"
            case .ffnUp: return b + "ffn_up.weight"
            case .ffnDown: return b + "ffn_down.weight"
            case .postFFNNorm: return b + "post_ffw_norm.weight"
            }
        case .huggingFace:
            let b = "model.layers.\(layer)."
            switch role {
            case .tokenEmbedding: return "model.embed_tokens.weight"
            case .outputNorm: return "model.norm.weight"
            case .output: return "lm_head.weight"
            case .attentionNorm: return b + "input_layernorm.weight"
            case .query: return b + "self_attn.q_proj.weight"
            case .key: return b + "self_attn.k_proj.weight"
            case .value: return b + "self_attn.v_proj.weight"
            case .attentionOutput: return b + "self_attn.o_proj.weight"
            case .queryBias: return b + "self_attn.q_proj.bias"
            case .keyBias: return b + "self_attn.k_proj.bias"
            case .valueBias: return b + "self_attn.v_proj.bias"
            case .queryNorm: return b + "self_attn.q_norm.weight"
            case .keyNorm: return b + "self_attn.k_norm.weight"
            // In HF Llama, `post_attention_layernorm` is the norm *before* the MLP.
            case .ffnNorm: return b + "post_attention_layernorm.weight"
            case .postAttentionNorm: return b + "post_attention_norm.weight"   // no Llama-family HF model has it
            case .ffnGate: return b + "mlp.gate_proj.weight"
            case .ffnUp: return b + "mlp.up_proj.weight"
            case .ffnDown: return b + "mlp.down_proj.weight"
            case .postFFNNorm: return b + "post_feedforward_layernorm.weight"
            }
        }
    }
}

/// Refuses a RoPE scaling type this engine does not implement (never ignored silently).
func rejectRopeScaling(type: String?, source: String) throws {
    guard let type, !["none", "default"].contains(type) else { return }
    throw WeightError.unsupportedModel(
        "\(source) asks for RoPE scaling '\(type)', which this engine does not implement; refusing to run it without")
}

/// Reads HF RoPE scaling: transformers < 5 writes `rope_scaling` ({"type" | "rope_type": ...}), transformers 5
/// one `rope_parameters` object that also holds rope_theta. Keys and defaults follow `modeling_rope_utils`.
func huggingFaceRopeScaling(_ c: HFConfigReader) throws -> RopeScaling? {
    let parameters = (c.json["rope_scaling"] as? [String: Any]) ?? (c.json["rope_parameters"] as? [String: Any])
    guard let p = parameters, let type = (p["rope_type"] ?? p["type"]) as? String, type != "default" else { return nil }
    let maxPositions = try c.int("max_position_embeddings")
    func number(_ key: String) -> Double? { (p[key] as? NSNumber)?.doubleValue }
    func required(_ key: String) throws -> Double {
        guard let v = number(key) else { throw WeightError.missingConfig(key: "rope_scaling.\(key)", source: c.path) }
        return v
    }
    let scaling: RopeScaling
    switch type {
    case "linear": scaling = .linear(factor: try required("factor"))
    // transformers' dynamic NTK measures against max_position_embeddings.
    case "dynamic": scaling = .dynamicNTK(factor: try required("factor"), originalContext: maxPositions)
    case "yarn":
        let topLevelOriginal = try c.optionalInt("original_max_position_embeddings")
        let original = number("original_max_position_embeddings").map(Int.init) ?? topLevelOriginal ?? maxPositions
        let factor = number("factor") ?? Double(maxPositions) / Double(original)
        var attentionFactor = number("attention_factor")
        if attentionFactor == nil, let m = number("mscale"), let all = number("mscale_all_dim") {
            func mscale(_ m: Double) -> Double { factor <= 1 ? 1 : 0.1 * m * log(factor) + 1 }
            attentionFactor = mscale(m) / mscale(all)
        }
        scaling = .yarn(factor: factor, originalContext: original, betaFast: number("beta_fast") ?? 32,
                        betaSlow: number("beta_slow") ?? 1, attentionFactor: attentionFactor)
    case "llama3":
        scaling = .llama3(factor: try required("factor"), lowFrequencyFactor: try required("low_freq_factor"),
                          highFrequencyFactor: try required("high_freq_factor"),
                          originalContext: Int(try required("original_max_position_embeddings")))
    default:
        try rejectRopeScaling(type: type, source: c.path)
        return nil
    }
    do { try scaling.validate() } catch { throw WeightError.invalidConfig(key: "rope_scaling", detail: "\(error)") }
    return scaling
}

/// Reads GGUF RoPE scaling (`{arch}.rope.scaling.type`, `.factor`, `.original_context_length`) as llama.cpp does:
/// a factor without a type is linear scaling (llama.cpp's default type, also under the old key `rope.scale_linear`);
/// "longrope" is carried by the `rope_factors_*` tensors (RopeFrequencyFactors), not here.
func ggufRopeScaling(_ m: GGUFMetadata) throws -> RopeScaling? {
    let type = m.string("\(m.architecture).rope.scaling.type") ?? "linear"
    guard type != "none", type != "longrope" else { return nil }
    let given = try m.optionalDouble("rope.scaling.factor") ?? m.optionalDouble("rope.scale_linear")
    // llama.cpp: a factor of 0 (or none) means no scaling.
    guard let factor = given, factor != 0 else {
        if type == "linear" { return nil }
        throw WeightError.missingConfig(key: "\(m.architecture).rope.scaling.factor", source: "the GGUF metadata of \(m.file.file.path)")
    }
    let scaling: RopeScaling
    switch type {
    case "linear":
        if factor == 1 { return nil }
        scaling = .linear(factor: factor)
    case "yarn":
        // llama.cpp's YaRN magnitude: get_mscale(s, 1) = 0.1 ln s + 1 on q and k alike, divided by
        // get_mscale(s, log_mul) when the file gives `yarn_log_multiplier` (transformers' mscale_all_dim).
        func mscale(_ m: Double) -> Double { factor <= 1 ? 1 : 0.1 * m * log(factor) + 1 }
        let logMultiplier = try m.optionalDouble("rope.scaling.yarn_log_multiplier") ?? 0
        scaling = .yarn(factor: factor,
                        originalContext: try m.optionalInt("rope.scaling.original_context_length") ?? m.int("context_length"),
                        betaFast: try m.optionalDouble("rope.scaling.yarn_beta_fast") ?? 32,
                        betaSlow: try m.optionalDouble("rope.scaling.yarn_beta_slow") ?? 1,
                        attentionFactor: logMultiplier != 0 ? mscale(1) / mscale(logMultiplier) : nil)
    default:
        try rejectRopeScaling(type: type, source: "the GGUF metadata")
        return nil
    }
    do { try scaling.validate() } catch { throw WeightError.invalidConfig(key: "rope.scaling", detail: "\(error)") }
    return scaling
}
