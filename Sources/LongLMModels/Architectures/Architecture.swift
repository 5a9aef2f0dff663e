import Foundation
import LongLMCore
import LongLMAttention

/// Builds a `ModelConfig` from a file's metadata. One entry per supported architecture; a new
/// architecture is one file plus one line in `registry`.
protocol Architecture {
    static func config(gguf: GGUFMetadata) throws -> ModelConfig
    static func config(hf: HFConfigReader) throws -> ModelConfig
}

enum ArchitectureRegistry {
    /// Keyed by GGUF `general.architecture` and HF `model_type`.
    static let registry: [String: any Architecture.Type] = [
        "llama": Llama.self,
        "mistral": Llama.self,
        "qwen2": Llama.self,
        "gemma3": Gemma3.self,
    ]

    static func lookup(_ name: String) throws -> any Architecture.Type {
        guard let a = registry[name] else {
            throw WeightError.unsupportedModel("architecture '\(name)' (supported: \(registry.keys.sorted().joined(separator: ", ")))")
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

/// Rejects RoPE scaling until the context-extension methods implement it (never ignored silently).
func rejectRopeScaling(type: String?, source: String) throws {
    guard let type, !["none", "default"].contains(type) else { return }
    throw WeightError.unsupportedModel(
        "\(source) asks for RoPE scaling '\(type)', which this engine does not implement yet; refusing to run it without")
}
