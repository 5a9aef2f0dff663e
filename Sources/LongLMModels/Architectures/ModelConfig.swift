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
    /// The file's own per-pair divisors of the RoPE frequencies (GGUF `rope_freqs`, Phi-3's short/long factors);
    /// part of the model's RoPE, so every method sees them (RopeFrequencyFactors).
    public var ropeFrequencyFactors: RopeFrequencyFactors? = nil
    /// Llama 4-style query temperature by position (GGUF `attention.temperature_scale`, Ministral 3).
    public var queryTemperature: AttentionTemperature? = nil

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
        try check(ropeBase > 1 && ropeBase.isFinite, "rope base", "\(ropeBase)")
        try check(slidingRopeBase.map { $0 > 1 && $0.isFinite } ?? true, "sliding-window rope base", "\(slidingRopeBase ?? 0)")
        try check(rmsEpsilon > 0 && rmsEpsilon.isFinite, "RMS norm epsilon", "\(rmsEpsilon)")
        try check(attentionScale > 0 && attentionScale.isFinite, "attention scale", "\(attentionScale)")
        try check(slidingWindow.map { $0 > 0 } ?? true, "sliding window", "\(slidingWindow ?? 0)")
        try check(slidingLayers.count == layerCount, "sliding layers", "\(slidingLayers.count) flags for \(layerCount) layers")
        if let problem = ropeFrequencyFactors?.validate(pairs: headDim / 2) {
            throw WeightError.invalidConfig(key: "RoPE frequency factors", detail: problem)
        }
        if let t = queryTemperature {
            try check(t.beta.isFinite && t.floorScale > 0, "attention temperature", "beta \(t.beta), floor scale \(t.floorScale)")
        }
    }

    /// The RoPE frequency divisors a sequence of `n` tokens rotates with (nil: none).
    public func frequencyFactors(sequenceLength n: Int) -> [Double]? { ropeFrequencyFactors?.factors(sequenceLength: n) }

    /// Checks the sizes against the tensors the file holds, so a config that disagrees with its weights fails
    /// with the config key named, before any weight is dequantized.
    func check(against source: TensorSource, naming: TensorNaming) throws {
        let gguf = naming == .gguf
        func key(_ hf: String, _ suffix: String) -> String { gguf ? "\(architecture).\(suffix)" : hf }
        let embeddingName = naming.name(.tokenEmbedding)
        guard let embedding = source.tensor(named: embeddingName) else { throw WeightError.missingTensor(embeddingName) }
        guard embedding.cols == hiddenSize else {
            throw WeightError.invalidConfig(key: key("hidden_size", "embedding_length"),
                                            detail: "\(hiddenSize), but \(embeddingName) has \(embedding.cols) columns")
        }
        guard embedding.rows == vocabularySize else {
            throw WeightError.invalidConfig(key: gguf ? "tokenizer.ggml.tokens" : "vocab_size",
                                            detail: "\(vocabularySize), but \(embeddingName) has \(embedding.rows) rows")
        }
        let layerKey = key("num_hidden_layers", "block_count")
        for layer in 0..<layerCount {
            let name = naming.name(.query, layer: layer)
            guard let query = source.tensor(named: name) else {
                throw WeightError.invalidConfig(key: layerKey, detail: "\(layerCount) layers, but the file has no \(name)")
            }
            guard query.rows == heads * headDim else {
                throw WeightError.invalidConfig(
                    key: "\(key("num_attention_heads", "attention.head_count")) x \(key("head_dim", "attention.key_length"))",
                    detail: "\(heads) x \(headDim), but \(name) has \(query.rows) rows")
            }
        }
        if source.tensor(named: naming.name(.query, layer: layerCount)) != nil {
            throw WeightError.invalidConfig(key: layerKey, detail: "\(layerCount) layers, but the file has tensors for more")
        }
    }
}

/// Sane ranges for the integer sizes a config declares, far above any real model and far below what would
/// overflow a product of two of them or make an allocation fail. Read by both file formats, so a hostile value
/// fails with its key named before it sizes anything (a layer list, a RoPE table, a weight matrix).
enum ConfigLimits {
    /// (Hugging Face key, GGUF key after `{architecture}.`, allowed range)
    static let sizes: [(hf: String, gguf: String, range: ClosedRange<Int>)] = [
        ("num_hidden_layers", "block_count", 1...1024),
        ("hidden_size", "embedding_length", 1...(1 << 16)),
        ("num_attention_heads", "attention.head_count", 1...1024),
        ("num_key_value_heads", "attention.head_count_kv", 1...1024),
        ("head_dim", "attention.key_length", 1...4096),
        ("head_dim", "attention.value_length", 1...4096),
        ("head_dim", "rope.dimension_count", 1...4096),
        ("intermediate_size", "feed_forward_length", 1...(1 << 20)),
        ("vocab_size", "vocab_size", 1...InputLimits.vocabularySize),
        ("max_position_embeddings", "context_length", 1...(1 << 26)),
        ("original_max_position_embeddings", "rope.scaling.original_context_length", 1...(1 << 26)),
        ("sliding_window", "attention.sliding_window", 1...(1 << 26)),
        ("sliding_window_pattern", "attention.sliding_window_pattern", 1...1024),
    ]
    static let byHFKey: [String: ClosedRange<Int>] = Dictionary(sizes.map { ($0.hf, $0.range) }, uniquingKeysWith: { a, _ in a })
    static let byGGUFSuffix: [String: ClosedRange<Int>] = Dictionary(sizes.map { ($0.gguf, $0.range) }, uniquingKeysWith: { a, _ in a })

    static func check(_ value: Int, range: ClosedRange<Int>?, file: String, key: String) throws {
        guard let range, !range.contains(value) else { return }
        throw WeightError.invalidConfigValue(file: file, key: key,
                                             detail: "\(value) is outside the supported range \(range.lowerBound)...\(range.upperBound)")
    }
}

/// Reads typed keys from a GGUF file's metadata, with errors that name the key and the file.
struct GGUFMetadata {
    let file: GGUFFile
    let architecture: String

    func int(_ suffix: String) throws -> Int {
        let key = "\(architecture).\(suffix)"
        guard let v = file[key] else { throw WeightError.missingConfig(key: key, source: "the GGUF metadata of \(file.file.path)") }
        guard let i = v.int else {
            throw WeightError.invalidConfigValue(file: file.file.path, key: key, detail: "\(v) is not an integer")
        }
        try ConfigLimits.check(i, range: ConfigLimits.byGGUFSuffix[suffix], file: file.file.path, key: key)
        return i
    }
    func optionalInt(_ suffix: String) throws -> Int? {
        file["\(architecture).\(suffix)"] == nil ? nil : try int(suffix)
    }
    func double(_ suffix: String) throws -> Double {
        let key = "\(architecture).\(suffix)"
        guard let v = file[key] else { throw WeightError.missingConfig(key: key, source: "the GGUF metadata of \(file.file.path)") }
        guard let d = v.double, d.isFinite else {
            throw WeightError.invalidConfigValue(file: file.file.path, key: key, detail: "\(v) is not a finite number")
        }
        return d
    }
    func optionalDouble(_ suffix: String) throws -> Double? {
        file["\(architecture).\(suffix)"] == nil ? nil : try double(suffix)
    }
    func string(_ key: String) -> String? { file[key]?.string }
}

/// Reads typed keys from a Hugging Face config.json, with errors that name the key and the file.
struct HFConfigReader {
    let json: [String: Any]
    let path: String

    /// Keys the architectures read, with the JSON type each must have when present (null counts as absent).
    /// Checked up front so that no reader can fall back to a default for a value of the wrong type.
    private enum Expected { case integer, number, boolean, string, integerOrList, object }
    private static let expectedTypes: [String: Expected] = [
        "num_hidden_layers": .integer, "hidden_size": .integer, "num_attention_heads": .integer,
        "num_key_value_heads": .integer, "head_dim": .integer, "intermediate_size": .integer, "vocab_size": .integer,
        "max_position_embeddings": .integer, "original_max_position_embeddings": .integer, "sliding_window": .integer,
        "sliding_window_pattern": .integer, "rope_theta": .number, "rms_norm_eps": .number,
        "partial_rotary_factor": .number, "rope_local_base_freq": .number, "query_pre_attn_scalar": .number,
        "tie_word_embeddings": .boolean, "attention_bias": .boolean, "mlp_bias": .boolean, "use_sliding_window": .boolean,
        "model_type": .string, "hidden_act": .string,
        "bos_token_id": .integerOrList, "eos_token_id": .integerOrList, "pad_token_id": .integerOrList,
        "rope_scaling": .object, "rope_parameters": .object,
    ]
    private static let expectedRopeTypes: [String: Expected] = [
        "rope_type": .string, "type": .string, "rope_theta": .number, "factor": .number, "low_freq_factor": .number,
        "high_freq_factor": .number, "beta_fast": .number, "beta_slow": .number, "attention_factor": .number,
        "mscale": .number, "mscale_all_dim": .number, "original_max_position_embeddings": .integer,
    ]

    init(json: [String: Any], path: String) throws {
        self.json = json
        self.path = path
        try Self.checkTypes(json, expected: Self.expectedTypes, prefix: "", path: path)
        for key in ["rope_scaling", "rope_parameters"] {
            if let nested = json[key] as? [String: Any] {
                try Self.checkTypes(nested, expected: Self.expectedRopeTypes, prefix: "\(key).", path: path)
            }
        }
    }

    private static func checkTypes(_ json: [String: Any], expected: [String: Expected], prefix: String, path: String) throws {
        for (key, want) in expected.sorted(by: { $0.key < $1.key }) {
            guard let value = json[key], !(value is NSNull) else { continue }
            let ok: Bool
            let what: String
            switch want {
            case .integer: ok = JSONFile.integer(value) != nil; what = "an integer"
            case .number: ok = JSONFile.number(value) != nil; what = "a finite number"
            case .boolean: ok = JSONFile.isBoolean(value); what = "true or false"
            case .string: ok = value is String; what = "a string"
            case .integerOrList: ok = JSONFile.integer(value) != nil || JSONFile.integers(value) != nil; what = "an integer or a list of integers"
            case .object: ok = value is [String: Any]; what = "an object"
            }
            if !ok {
                throw WeightError.invalidConfigValue(file: path, key: prefix + key, detail: "\(JSONFile.describe(value)) is not \(what)")
            }
            if want == .integer, let n = JSONFile.integer(value) {
                try ConfigLimits.check(n, range: ConfigLimits.byHFKey[key], file: path, key: prefix + key)
            }
        }
    }

    func int(_ key: String) throws -> Int {
        guard let v = json[key], !(v is NSNull) else { throw WeightError.missingConfig(key: key, source: path) }
        guard let n = JSONFile.integer(v) else {
            throw WeightError.invalidConfigValue(file: path, key: key, detail: "\(JSONFile.describe(v)) is not an integer")
        }
        try ConfigLimits.check(n, range: ConfigLimits.byHFKey[key], file: path, key: key)
        return n
    }
    func optionalInt(_ key: String) throws -> Int? {
        guard let v = json[key], !(v is NSNull) else { return nil }
        return try int(key)
    }
    func double(_ key: String) throws -> Double {
        guard let v = json[key], !(v is NSNull) else { throw WeightError.missingConfig(key: key, source: path) }
        guard let d = JSONFile.number(v) else {
            throw WeightError.invalidConfigValue(file: path, key: key, detail: "\(JSONFile.describe(v)) is not a finite number")
        }
        return d
    }
    func optionalDouble(_ key: String) throws -> Double? {
        guard let v = json[key], !(v is NSNull) else { return nil }
        return try double(key)
    }
    func bool(_ key: String, default value: Bool) throws -> Bool {
        guard let v = json[key], !(v is NSNull) else { return value }
        guard let b = JSONFile.boolean(v) else {
            throw WeightError.invalidConfigValue(file: path, key: key, detail: "\(JSONFile.describe(v)) is not true or false")
        }
        return b
    }
    func string(_ key: String) -> String? { json[key] as? String }
}
