import Foundation
import LongLMCore
import LongLMAttention

/// Everything the forward pass needs to know about a model, decoded once from the file.
public struct ModelConfig: Sendable {
    /// GGUF `general.architecture` or HF `model_type` ("llama", "mistral", "qwen2", "gemma3").
    public var architecture: String
    public var vocabularySize: Int
    public var hiddenSize: Int
    public var layerCount: Int
    public var heads: Int
    public var kvHeads: Int
    public var headDim: Int
    public var ffnSize: Int
    /// The trained context length (`context_length`, `max_position_embeddings`).
    public var trainedContext: Int
    public var rmsEpsilon: Float
    public var ropeBase: Double
    public var rotaryPairing: RotaryPairing
    /// Sliding window (a query at i sees keys j with i - j < window) and which layers use it.
    public var slidingWindow: Int?
    public var slidingLayers: [Bool]
    /// RoPE base of the sliding-window layers when it differs from `ropeBase` (Gemma 3: 10000).
    public var slidingRopeBase: Double?
    /// Multiplies the token embeddings (Gemma: sqrt(hidden)).
    public var embeddingScale: Float?
    /// Multiplies every attention logit.
    public var attentionScale: Float
    public var activation: Activation
    public var hasQKNorm: Bool
    public var hasPostNorms: Bool
    public var hasQKVBias: Bool
    public var tiedEmbeddings: Bool
    /// RoPE scaling the checkpoint asks for (HF `rope_scaling` / `rope_parameters`, GGUF `rope.scaling.*`);
    /// applied by the `none` method to the global layers, as transformers does.
    public var ropeScaling: RopeScaling? = nil

    public var attentionShape: AttentionShape { AttentionShape(heads: heads, kvHeads: kvHeads, headDim: headDim) }

    func validate() throws {
        func check(_ ok: Bool, _ key: String, _ detail: String) throws {
            if !ok { throw WeightError.invalidConfig(key: key, detail: detail) }
        }
        try check(hiddenSize > 0, "hidden size", "\(hiddenSize)")
        try check(layerCount > 0, "layer count", "\(layerCount)")
        try check(heads > 0 && kvHeads > 0 && heads % kvHeads == 0, "head counts", "\(heads) query heads, \(kvHeads) key/value heads")
        try check(headDim > 0 && headDim % 2 == 0, "head dimension", "\(headDim)")
        try check(ffnSize > 0, "feed-forward size", "\(ffnSize)")
        try check(vocabularySize > 0, "vocabulary size", "\(vocabularySize)")
        try check(trainedContext > 0, "context length", "\(trainedContext)")
        try check(ropeBase > 1, "rope base", "\(ropeBase)")
        try check(slidingLayers.count == layerCount, "sliding layers", "\(slidingLayers.count) flags for \(layerCount) layers")
    }
}

/// Reads typed keys from a GGUF file's metadata, with errors that name the key.
struct GGUFMetadata {
    let file: GGUFFile
    let architecture: String

    func int(_ suffix: String) throws -> Int {
        let key = "\(architecture).\(suffix)"
        guard let v = file[key] else { throw WeightError.missingConfig(key: key, source: "the GGUF metadata") }
        guard let i = v.int else { throw WeightError.invalidConfig(key: key, detail: "\(v) is not an integer") }
        return i
    }
    func optionalInt(_ suffix: String) throws -> Int? {
        file["\(architecture).\(suffix)"] == nil ? nil : try int(suffix)
    }
    func double(_ suffix: String) throws -> Double {
        let key = "\(architecture).\(suffix)"
        guard let v = file[key] else { throw WeightError.missingConfig(key: key, source: "the GGUF metadata") }
        guard let d = v.double else { throw WeightError.invalidConfig(key: key, detail: "\(v) is not a number") }
        return d
    }
    func optionalDouble(_ suffix: String) throws -> Double? {
        file["\(architecture).\(suffix)"] == nil ? nil : try double(suffix)
    }
    func string(_ key: String) -> String? { file[key]?.string }
}

/// Reads typed keys from a Hugging Face config.json.
struct HFConfigReader {
    let json: [String: Any]
    let path: String

    func int(_ key: String) throws -> Int {
        guard let v = json[key], !(v is NSNull) else { throw WeightError.missingConfig(key: key, source: path) }
        guard let n = v as? NSNumber, Double(n.intValue) == n.doubleValue else {
            throw WeightError.invalidConfig(key: key, detail: "\(v) is not an integer")
        }
        return n.intValue
    }
    func optionalInt(_ key: String) throws -> Int? {
        guard let v = json[key], !(v is NSNull) else { return nil }
        return try int(key)
    }
    func double(_ key: String) throws -> Double {
        guard let v = json[key], !(v is NSNull) else { throw WeightError.missingConfig(key: key, source: path) }
        guard let n = v as? NSNumber else { throw WeightError.invalidConfig(key: key, detail: "\(v) is not a number") }
        return n.doubleValue
    }
    func optionalDouble(_ key: String) throws -> Double? {
        guard let v = json[key], !(v is NSNull) else { return nil }
        return try double(key)
    }
    func bool(_ key: String, default value: Bool) throws -> Bool {
        guard let v = json[key], !(v is NSNull) else { return value }
        guard let b = v as? Bool else { throw WeightError.invalidConfig(key: key, detail: "\(v) is not a boolean") }
        return b
    }
    func string(_ key: String) -> String? { json[key] as? String }
}
