import LongLMAttention

/// No extension: the model's own RoPE, including any RoPE scaling its configuration asks for.
public struct PlainMethod: ContextExtension {
    public static let name = "none"
    public static let parameterNames: [String] = []

    public init() {}
    public init(_ given: MethodArguments, config: ModelConfig) throws {}

    public var description: String { "none" }

    public func validate(config: ModelConfig) throws {}

    public func maximumLength(config: ModelConfig) -> Int? {
        // A checkpoint's own scaling may reach past its max_position_embeddings (HF usually states the
        // extended length there already).
        guard let r = config.ropeScaling else { return config.trainedContext }
        let L = config.trainedContext
        switch r {
        case .linear(let f), .ntk(let f): return max(L, RopeScalingArguments.scaledLength(f, L))
        case .yarn(let f, let original, _, _, _), .llama3(let f, _, _, let original):
            return max(L, RopeScalingArguments.scaledLength(f, original))
        case .dynamicNTK, .consistentNTK: return nil   // the base grows with the sequence
        }
    }

    public func hint(forTooLong tokens: Int, config: ModelConfig) -> String {
        let L = config.trainedContext
        if let group = SelfExtendMethod.smallestGroupSize(tokens: tokens, trainedContext: L, window: min(L / 2, 4096)) {
            return "the trained context is \(L); use a context-extension method, e.g. --method selfextend --group-size \(group.size) --window \(group.window), or --method dca"
        }
        return "the trained context is \(L); use a context-extension method without a limit, e.g. --method dca or --method gali"
    }

    /// The model's own scaling (dynamic NTK in its config) may.
    public func positionsDependOnPromptLength(config: ModelConfig) -> Bool { config.ropeScaling?.dependsOnPromptLength ?? false }
    public func scheme(for model: TransformerModel, promptLength: Int) throws -> any PositionScheme {
        let config = model.config
        return config.ropeScaling.map { $0.scheme(for: config, promptLength: promptLength) } ?? RotaryScheme(table: model.rotary(sequenceLength: promptLength))
    }
}
