import LongLMAttention

/// Position interpolation: positions divided by the factor (replaces the checkpoint's own scaling).
public struct LinearScalingMethod: ContextExtension {
    public static let name = "linear"
    public static let parameterNames = ["factor"]
    public var factor: Double

    public init(factor: Double) { self.factor = factor }
    public init(_ given: MethodArguments, config: ModelConfig) throws { factor = try RopeScalingArguments.factor(given) }

    var scaling: RopeScaling { .linear(factor: factor) }
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
