import Foundation
import LongLMCore

/// A model ready to run: configuration, weights and the tokenizer from the same checkpoint.
public struct LoadedModel {
    public let path: String
    public let format: String
    public let model: TransformerModel
    public let tokenizer: (any Tokenizer)?
    /// The chat template text the file carries, nil when it has none (`ChatTemplate.text(gguf:)`).
    public let chatTemplateText: String?
}

public enum ModelLoader {
    public enum LoadError: Error, CustomStringConvertible {
        case notFound(String)
        case unrecognised(String)
        public var description: String {
            switch self {
            case .notFound(let p): return "model path \(p) does not exist"
            case .unrecognised(let p):
                return "\(p) is neither a .gguf file nor a directory with config.json and *.safetensors"
            }
        }
    }

    /// Reads the configuration only (fast; for `info` and window checks).
    public static func config(path: String) throws -> ModelConfig {
        switch try kind(of: path) {
        case .gguf: return try ggufConfig(GGUFFile(path: path))
        case .huggingFace: return try hfConfig(directory: path)
        }
    }

    /// Bytes of the weight files (the GGUF file, or every safetensors shard): what the weights occupy once a run
    /// has touched them all (mapped, or copied to f32 from files of that size).
    public static func weightFileBytes(path: String) throws -> Int {
        switch try kind(of: path) {
        case .gguf: return try GGUFFile(path: path).file.size
        case .huggingFace:
            return try FileManager.default.contentsOfDirectory(atPath: path).filter { $0.hasSuffix(".safetensors") }
                .reduce(0) { total, name in
                    let size = try FileManager.default.attributesOfItem(atPath: (path as NSString).appendingPathComponent(name))[.size]
                    return total + ((size as? NSNumber)?.intValue ?? 0)
                }
        }
    }

    public static func load(path: String) throws -> LoadedModel {
        switch try kind(of: path) {
        case .gguf:
            let file = try GGUFFile(path: path)
            let config = try ggufConfig(file)
            let tokenizer = try TokenizerLoader.load(gguf: file)
            let model = try ggufModel(file, config: config)
            return LoadedModel(path: path, format: "GGUF v\(file.version)", model: model, tokenizer: tokenizer,
                               chatTemplateText: ChatTemplate.text(gguf: file))
        case .huggingFace:
            let config = try hfConfig(directory: path)
            let shards = try FileManager.default.contentsOfDirectory(atPath: path)
                .filter { $0.hasSuffix(".safetensors") }.sorted().map { (path as NSString).appendingPathComponent($0) }
            let checkpoint = try SafetensorsCheckpoint(paths: shards)
            try naming(file: (path as NSString).appendingPathComponent("config.json")) {
                try config.check(against: checkpoint, naming: .huggingFace)
            }
            let tokenizerPath = (path as NSString).appendingPathComponent("tokenizer.json")
            let tokenizer = FileManager.default.fileExists(atPath: tokenizerPath)
                ? try TokenizerLoader.load(tokenizerJSON: tokenizerPath, configDirectory: path) : nil
            let model = try TransformerModel(config: config, source: checkpoint, naming: .huggingFace)
            return LoadedModel(path: path, format: "safetensors (\(shards.count) file\(shards.count == 1 ? "" : "s"))",
                               model: model, tokenizer: tokenizer, chatTemplateText: try ChatTemplate.text(huggingFaceDirectory: path))
        }
    }

    /// The weights of a GGUF file, without its tokenizer (tests that feed token ids).
    static func ggufModel(path: String) throws -> TransformerModel {
        let file = try GGUFFile(path: path)
        return try ggufModel(file, config: try ggufConfig(file))
    }

    /// Loads through a GGUFTensorView (fused tensors split), then refuses a file with tensors the model never read:
    /// an extra bias or norm the graph here has no place for would otherwise be dropped without a word.
    static func ggufModel(_ file: GGUFFile, config: ModelConfig) throws -> TransformerModel {
        let path = file.file.path
        let view = try naming(file: path) { try GGUFTensorView(file: file, config: config) }
        try naming(file: path) { try config.check(against: view, naming: .gguf) }
        let model = try TransformerModel(config: config, source: view, naming: .gguf)
        let unused = view.unused
        if !unused.isEmpty {
            let shown = unused.prefix(6).joined(separator: ", ") + (unused.count > 6 ? " and \(unused.count - 6) more" : "")
            throw WeightError.unsupportedModel(
                "\(path) has tensors the \(config.architecture) graph here does not use (\(shown)); "
                + "running without them would give wrong results")
        }
        return model
    }

    enum Kind { case gguf, huggingFace }

    static func kind(of path: String) throws -> Kind {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else { throw LoadError.notFound(path) }
        if isDirectory.boolValue {
            let config = (path as NSString).appendingPathComponent("config.json")
            let hasShards = ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []).contains { $0.hasSuffix(".safetensors") }
            guard FileManager.default.fileExists(atPath: config), hasShards else { throw LoadError.unrecognised(path) }
            return .huggingFace
        }
        return .gguf
    }

    static func ggufConfig(_ file: GGUFFile) throws -> ModelConfig {
        guard let arch = file["general.architecture"]?.string else {
            throw WeightError.missingConfig(key: "general.architecture", source: "the GGUF metadata of \(file.file.path)")
        }
        return try naming(file: file.file.path) {
            let config = try ArchitectureRegistry.lookup(gguf: arch).config(gguf: GGUFMetadata(file: file, architecture: arch))
            try config.validate()
            return config
        }
    }

    static func hfConfig(directory: String) throws -> ModelConfig {
        let path = (directory as NSString).appendingPathComponent("config.json")
        let json = try JSONFile.object(at: path)
        let reader = try HFConfigReader(json: json, path: path)
        guard let modelType = json["model_type"] as? String else { throw WeightError.missingConfig(key: "model_type", source: path) }
        return try naming(file: path) {
            let config = try ArchitectureRegistry.lookup(huggingFace: modelType).config(hf: reader)
            try config.validate()
            return config
        }
    }

    /// Runs `body`, adding `file` to a config error that does not name its file yet.
    static func naming<T>(file: String, _ body: () throws -> T) throws -> T {
        do { return try body() } catch WeightError.invalidConfig(let key, let detail) {
            throw WeightError.invalidConfigValue(file: file, key: key, detail: detail)
        }
    }
}

extension TokenizerLoader {
    /// The tokenizer of a .gguf file or a Hugging Face directory, without loading the weights.
    public static func load(modelPath path: String) throws -> any Tokenizer {
        switch try ModelLoader.kind(of: path) {
        case .gguf: return try load(gguf: GGUFFile(path: path))
        case .huggingFace:
            let json = (path as NSString).appendingPathComponent("tokenizer.json")
            guard FileManager.default.fileExists(atPath: json) else {
                throw ModelLoader.LoadError.unrecognised("\(path) has no tokenizer.json;")
            }
            return try load(tokenizerJSON: json, configDirectory: path)
        }
    }
}
