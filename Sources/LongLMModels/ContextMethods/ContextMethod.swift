import Foundation
import LongLMAttention

/// The user's choice of context-extension method for the global (full-attention) layers, with its
/// parameters resolved (defaults filled in for the model). Each method is one `ContextExtension` type;
/// this value wraps one of them, adds LogN query scaling (which combines with any method), and is what
/// requests carry between ranks (Codable by method name).
/// Sliding-window layers always keep the model's own RoPE (their window is inside the trained range;
/// llama.cpp's group attention regroups them too and breaks Gemma 3 even at 4k).
public struct ContextMethod: Sendable, CustomStringConvertible {
    /// Every method, in the order `--help` lists them. Adding a method is one file and one line here.
    public static let registry: [any ContextExtension.Type] = [
        PlainMethod.self, LinearScalingMethod.self, NTKMethod.self, DynamicNTKMethod.self, ConsistentNTKMethod.self,
        YaRNMethod.self, Llama3Method.self, SelfExtendMethod.self, DualChunkMethod.self, GALIMethod.self,
    ]

    public static var names: [String] { registry.map { $0.name } }

    public static func type(named name: String) -> (any ContextExtension.Type)? { registry.first { $0.name == name } }

    /// The method itself.
    public let method: any ContextExtension
    /// LogN query scaling on top of the method.
    public let logN: Bool

    public init(_ method: any ContextExtension, logN: Bool = false) {
        self.method = method
        self.logN = logN
    }

    /// The method called `name` from the user's values, checked against the model; a value for a parameter
    /// the method does not read is an error (it would be silently ignored otherwise).
    public init(name: String, given: MethodArguments, logN: Bool = false, config: ModelConfig) throws {
        guard let type = Self.type(named: name) else {
            throw Failure.invalidParameter(name: "method", value: name, allowed: "one of " + Self.names.joined(separator: ", "))
        }
        if let unused = given.values.keys.sorted().first(where: { !type.parameterNames.contains($0) }) {
            let users = Self.registry.filter { $0.parameterNames.contains(unused) }.map { $0.name }
            throw Failure.notAParameter(name: unused, method: name, usedBy: users)
        }
        let method = try type.init(given, config: config)
        try method.validate(config: config)
        self.init(method, logN: logN)
    }

    /// The method for a sequence of `tokens`: parameters the user left out that the length decides are chosen
    /// (`ContextExtension.automaticArguments`) and returned with the method, so a caller can say what it chose.
    public static func fitted(name: String, given: MethodArguments, logN: Bool = false, config: ModelConfig,
                              tokens: Int) throws -> (method: ContextMethod, chosen: [String: String]) {
        guard let type = type(named: name) else { return (try ContextMethod(name: name, given: given, logN: logN, config: config), [:]) }
        let chosen = type.automaticArguments(given, tokens: tokens, config: config)
        let merged = MethodArguments(given.values.merging(chosen) { user, _ in user })
        return (try ContextMethod(name: name, given: merged, logN: logN, config: config), chosen)
    }

    public static let plain = ContextMethod(PlainMethod())

    public var name: String { Swift.type(of: method).name }

    public var description: String { method.description + (logN ? " + logn" : "") }

    public enum Failure: Error, CustomStringConvertible, Equatable {
        case invalid(String)
        /// A value out of range; `name` is the flag without dashes.
        case invalidParameter(name: String, value: String, allowed: String)
        case missingParameter(name: String, allowed: String)
        case notAParameter(name: String, method: String, usedBy: [String])
        case promptTooLong(tokens: Int, maximum: Int, hint: String)

        public var description: String {
            switch self {
            case .invalid(let s): return s
            case .invalidParameter(let name, let value, let allowed):
                return "--\(name) \(Self.quoted(value)) is out of range: use \(allowed)"
            case .missingParameter(let name, let allowed): return "--\(name) is required for this method: \(allowed)"
            case .notAParameter(let name, let method, let users):
                return "--\(name) does not apply to --method \(method)"
                    + (users.isEmpty ? "" : " (it applies to \(users.joined(separator: ", ")))")
            case .promptTooLong(let n, let max, let hint):
                return "the prompt has \(n) tokens but this method and its parameters allow at most \(max)"
                    + (hint.isEmpty ? "" : "; \(hint)")
            }
        }

        /// A user's value in a message: at most 40 characters, so a pasted document cannot flood the terminal.
        static func quoted(_ value: String) -> String {
            value.count <= 40 ? value : String(value.prefix(40)) + "... (\(value.utf8.count) bytes)"
        }
    }

    /// Key classes the global layers' keys are transformed into (SelfExtend's neighbour and grouped keys; GALI's
    /// mix of two rotations needs about as much): what a call's transformed keys and a decode cache hold.
    public var keyClassesEstimate: Int { name == SelfExtendMethod.name || name == GALIMethod.name ? 2 : 1 }

    /// Checks the parameters against the model.
    public func validate(config: ModelConfig) throws { try method.validate(config: config) }

    /// The longest sequence the method keeps inside the trained positions, or nil if it has no limit.
    public func maximumLength(config: ModelConfig) -> Int? { method.maximumLength(config: config) }

    /// Refuses a sequence longer than `maximumLength`, naming what would fit.
    public func checkLength(_ tokens: Int, config: ModelConfig) throws {
        guard let maximum = maximumLength(config: config), tokens > maximum else { return }
        throw Failure.promptTooLong(tokens: tokens, maximum: maximum, hint: method.hint(forTooLong: tokens, config: config))
    }

    /// The position scheme of the global layers for one sequence whose prompt has `promptLength` tokens.
    public func scheme(for model: TransformerModel, promptLength: Int) throws -> any PositionScheme {
        let scheme = try method.scheme(for: model, promptLength: promptLength)
        return logN ? LogNScaling(scheme, trainedContext: model.config.trainedContext) : scheme
    }
}

extension ContextMethod {
    /// Whether a sequence prefilled for a prompt of `cachedLength` tokens places every position as a fresh one for
    /// `promptLength` tokens would: the condition for reusing its KV cache (the prefix cache) exactly. True for
    /// equal lengths; otherwise the method must not depend on the length, nor the model's RoPE frequency
    /// factors (Phi-3's short and long factors switch at the original context).
    public func placesPositionsAlike(config: ModelConfig, cachedLength: Int, promptLength: Int) -> Bool {
        if cachedLength == promptLength { return true }
        if method.positionsDependOnPromptLength(config: config) { return false }
        return config.frequencyFactors(sequenceLength: cachedLength) == config.frequencyFactors(sequenceLength: promptLength)
    }
}

extension ContextMethod: Codable {
    enum CodingKeys: String, CodingKey { case name, parameters, logN }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(name, forKey: .name)
        try container.encode(logN, forKey: .logN)
        try method.encode(to: container.superEncoder(forKey: .parameters))
    }

    public init(from decoder: Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let name = try container.decode(String.self, forKey: .name)
        guard let type = Self.type(named: name) else {
            throw DecodingError.dataCorruptedError(forKey: .name, in: container, debugDescription: "unknown method '\(name)'")
        }
        self.init(try type.init(from: container.superDecoder(forKey: .parameters)), logN: try container.decode(Bool.self, forKey: .logN))
    }
}
