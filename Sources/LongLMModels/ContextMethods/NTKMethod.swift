import LongLMAttention

/// Static NTK-aware scaling: a larger RoPE base, the same for every length.
public struct NTKMethod: ContextExtension {
    public static let name = "ntk"
    public static let parameterNames = ["factor"]
    public var factor: Double

    public init(factor: Double) { self.factor = factor }
    public init(_ given: MethodArguments, config: ModelConfig) throws { factor = try RopeScalingArguments.factor(given) }

    var scaling: RopeScaling { .ntk(factor: factor) }
    public var description: String { scaling.name }
    public func validate(config: ModelConfig) throws { try scaling.validateAsMethod() }
    public func maximumLength(config: ModelConfig) -> Int? { RopeScalingArguments.scaledLength(factor, config.trainedContext) }
    public func hint(forTooLong tokens: Int, config: ModelConfig) -> String {
        RopeScalingArguments.factorHint(tokens: tokens, original: config.trainedContext)
    }
    public func scheme(for model: TransformerModel, promptLength: Int) throws -> any PositionScheme {
        scaling.scheme(for: model.config, promptLength: promptLength)
    }
}
